//! The plan proptest generates: tasks, their operations and statements.

use std::fmt;

use proptest::prelude::*;
use proptest::sample::Index;

use super::{ACTIVE, ALL};

/// One statement of a task, for the task's tenant.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// Every row, ordered by id: exactly the tenant's expected rows.
    Read,
    /// `COUNT(*)`: the number of the tenant's expected rows.
    Count,
    /// [`Step::Read`] through `StreamTrait::stream_raw`.
    Stream,
    /// Another tenant's anchor row by id (an offset into [`ALL`] from the
    /// task's tenant): nothing.
    Probe(usize),
    /// A new row with this word in its body; the library stamps the tenant.
    Insert(String),
    /// `counter + 1` on every row, with `OR 1 = 1`: all the tenant's rows.
    Bump,
    /// One of the tenant's own rows (not its anchor), by id: one row, or
    /// none when it has only its anchor.
    DeleteOwn(Index),
    /// Another tenant's anchor row by id (as [`Step::Probe`]): no row.
    DeleteForeign(usize),
}

/// How a transaction ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum TxnKind {
    /// `begin`, the steps, `commit`.
    BeginCommit,
    /// `begin`, the steps, `rollback`, then a read that must see none of it.
    BeginRollback,
    /// `transaction(|txn| ...)` returning `Ok`: committed.
    Closure,
    /// `transaction(|txn| ...)` returning `Err`: rolled back, then a read.
    ClosureRollback,
    /// `begin`, the first half, a savepoint with the second half rolled
    /// back, a read that must see only the first half, `commit`.
    Savepoint,
}

/// One operation: the unit that holds its tenants' locks.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// One statement outside a transaction.
    Single(Step),
    /// Statements in one transaction.
    Txn(TxnKind, Vec<Step>),
    /// Statements for another active tenant (an offset into [`ACTIVE`] from
    /// the task's tenant), each followed by a read of the task's own rows.
    /// Under `from_current`, they run in a nested `TenantContext::scope`.
    Nested(usize, Vec<Step>),
}

/// How a task gets its connection.
#[derive(Debug, Clone, Copy)]
pub(super) enum Via {
    /// `TenantConnection::new(pool, registry, tenant)` once per task, inside
    /// the scope of the ambient tenant (an index into [`ACTIVE`]) if any.
    New { ambient: Option<usize> },
    /// `TenantConnection::from_current` for every operation, inside
    /// `TenantContext::new(tenant).scope(...)`.
    FromCurrent,
}

#[derive(Debug, Clone)]
pub(super) struct TaskPlan {
    /// Index into [`ACTIVE`].
    pub(super) tenant: usize,
    pub(super) via: Via,
    pub(super) ops: Vec<Op>,
}

#[derive(Clone)]
pub(super) struct Scenario {
    /// Rows seeded for each active tenant besides its anchor.
    pub(super) seeds: Vec<u8>,
    pub(super) tasks: Vec<TaskPlan>,
}

/// One line per task: proptest prints the failing scenario, and the derived
/// pretty form of a hundred tasks would run to thousands of lines.
impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Scenario {{ seeds: {:?}, tasks:", self.seeds)?;
        for (i, task) in self.tasks.iter().enumerate() {
            writeln!(
                f,
                "  task {i}: tenant {} {:?} {:?}",
                ACTIVE[task.tenant], task.via, task.ops
            )?;
        }
        f.write_str("}")
    }
}

pub(super) fn foreign() -> impl Strategy<Value = usize> {
    1..ALL.len()
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Read),
        1 => Just(Step::Count),
        1 => Just(Step::Stream),
        1 => foreign().prop_map(Step::Probe),
        3 => "[a-z]{1,12}".prop_map(Step::Insert),
        2 => Just(Step::Bump),
        2 => any::<Index>().prop_map(Step::DeleteOwn),
        1 => foreign().prop_map(Step::DeleteForeign),
    ]
}

pub(super) fn txn_kind() -> impl Strategy<Value = TxnKind> {
    prop_oneof![
        Just(TxnKind::BeginCommit),
        Just(TxnKind::BeginRollback),
        Just(TxnKind::Closure),
        Just(TxnKind::ClosureRollback),
        Just(TxnKind::Savepoint),
    ]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => step().prop_map(Op::Single),
        3 => (txn_kind(), prop::collection::vec(step(), 1..=4))
            .prop_map(|(kind, steps)| Op::Txn(kind, steps)),
        1 => (1..ACTIVE.len(), prop::collection::vec(step(), 1..=3))
            .prop_map(|(other, steps)| Op::Nested(other, steps)),
    ]
}

pub(super) fn via() -> impl Strategy<Value = Via> {
    prop_oneof![
        Just(Via::FromCurrent),
        prop::option::of(0..ACTIVE.len()).prop_map(|ambient| Via::New { ambient }),
    ]
}

pub(super) fn task() -> impl Strategy<Value = TaskPlan> {
    (0..ACTIVE.len(), via(), prop::collection::vec(op(), 1..=6))
        .prop_map(|(tenant, via, ops)| TaskPlan { tenant, via, ops })
}

pub(super) fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(0_u8..4, ACTIVE.len()),
        prop::collection::vec(task(), 64..=160),
    )
        .prop_map(|(seeds, tasks)| Scenario { seeds, tasks })
}
