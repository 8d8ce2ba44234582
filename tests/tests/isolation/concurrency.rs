//! No context bleed under concurrency: many tasks over many tenants,
//! interleaved on one connection pool, each seeing and changing only its own
//! tenant's rows.
//!
//! Each proptest case is a random scenario: a seeded `notes` table with rows
//! for eight active tenants and two bystanders that no task touches, and 64
//! to 160 tasks spawned at once on a multi-thread runtime, each for a random
//! active tenant. A task runs a random list of operations:
//!
//! - single statements: a full read, a count, a streamed read, a probe for
//!   another tenant's row by id, an insert (the library stamps the tenant),
//!   `counter + 1` on every row (`WHERE counter < 0 OR 1 = 1`), a delete of
//!   one of its own rows by id, and a delete of another tenant's row by id;
//! - transactions of those statements: `begin`/`commit`, `begin`/`rollback`,
//!   the closure form committing, the closure form rolling back by
//!   returning `Err`, and a savepoint rolled back inside a committed
//!   transaction;
//! - a nested operation for a second tenant between two reads of its own.
//!
//! A task builds its connection either with `TenantConnection::new`
//! (sometimes inside the scope of a different, ambient tenant, which must not
//! matter) or with `TenantConnection::from_current` inside
//! `TenantContext::scope`, once per operation; its nested operations then
//! run in an inner scope, and a task spawned there must see no tenant at
//! all. Every statement's SQL text is the same for every tenant, so the
//! cached rewritten plans are shared across tenants and tasks, and
//! `yield_now` between statements keeps the tasks interleaved.
//!
//! Expectations are exact because tasks of one tenant take turns: each
//! tenant's expected rows sit behind a `tokio::sync::Mutex`, held for one
//! operation (a nested operation takes both tenants' locks, in index order,
//! so there is no lock cycle). Tasks of different tenants run concurrently.
//! So every read must return exactly the expected rows, all carrying the
//! task's own tenant, every write must affect exactly the expected number of
//! rows, and at the end the table read through the raw connection must hold
//! exactly the expected rows of every tenant and no row of a tenant nobody
//! used. A statement that ran for the wrong tenant (a stale task-local, a
//! plan that kept the first tenant's value, a tenant shared between
//! connections) fails one of those checks.
//!
//! # Backends and pools
//!
//! - SQLite, on the testkit's pool (one connection), and on a second pool of
//!   four connections to the same file in WAL mode. There, a deferred
//!   transaction that reads and then writes gets `SQLITE_BUSY` at once, busy
//!   timeout or not, when another connection has committed since its read;
//!   on that pool only, an operation failing with an `SQLITE_BUSY` code is
//!   retried as a whole (its transaction was rolled back), and the retries
//!   are counted in the report. Any other error, on any pool, fails.
//! - PostgreSQL and MariaDB, on the testkit's pool (up to five connections).
//!   No two transactions ever want the same row (tasks of one tenant take
//!   turns), and the primary key leads with the tenant column, so InnoDB's
//!   locks for a tenant's UPDATE and DELETE stay in its own key range and
//!   the gap up to the next tenant's first row. There are no deadlocks or
//!   serialization failures to retry, and none is retried.
//!
//! `TENANCY_PROPTEST_CASES` sets the number of cases per pool (default 3).
//! A failing scenario is saved in `proptest-regressions/concurrency.txt`;
//! replaying it replays the plan, not the timing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use sea_orm::sqlx::sqlite::{SqliteError, SqliteJournalMode};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    RuntimeErr, Statement, StreamTrait, TransactionError, TransactionTrait,
};
use tenancy_core::TenantContext;
use tenancy_seaorm::{TableRegistry, TenantConnection};
use tenancy_testkit::{Backend, exec, fresh_db, rows_sorted, try_rows_of};
use tokio::sync::Mutex;
use tokio::task::{JoinSet, yield_now};

/// The tenants tasks run for. Not contiguous, and the bystander 5 sits
/// between two of them in key order.
const ACTIVE: [i64; 8] = [3, 7, 11, 19, 23, 42, 57, 64];

/// Tenants with seeded rows that no task runs for: their rows must end the
/// run exactly as seeded.
const BYSTANDERS: [i64; 2] = [5, 1000];

/// Every tenant with rows: [`ACTIVE`], then [`BYSTANDERS`].
const ALL: [i64; 10] = [3, 7, 11, 19, 23, 42, 57, 64, 5, 1000];

/// Tenant t's row ids are `t * ID_BASE + seq`; its anchor row, `seq` 0, is
/// never deleted, so every tenant always has a row another can probe for.
const ID_BASE: i64 = 1_000_000;

/// Rows seeded for each bystander, besides its anchor.
const BYSTANDER_ROWS: i64 = 2;

/// How long one case may take before it fails as hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How often one operation is retried on `SQLITE_BUSY` (multi-connection
/// SQLite pool only) before the test gives up.
const BUSY_RETRIES: u32 = 200;

/// The table: the tenant column leads the primary key, as in the reference
/// schema, and has no default, so an insert the library failed to stamp
/// fails instead of landing somewhere.
const SCHEMA: &str = "CREATE TABLE notes (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, \
     body VARCHAR(64) NOT NULL, counter BIGINT NOT NULL, PRIMARY KEY (entity_id, id))";

/// The statements tasks run. The text never depends on the tenant, so one
/// cached plan per statement serves every tenant.
const READ: &str = "SELECT id, entity_id, body, counter FROM notes ORDER BY id";
const COUNT: &str = "SELECT COUNT(*) FROM notes";
const BUMP: &str = "UPDATE notes SET counter = counter + 1 WHERE counter < 0 OR 1 = 1";

fn probe_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "SELECT id, entity_id, body, counter FROM notes WHERE id = $1",
        _ => "SELECT id, entity_id, body, counter FROM notes WHERE id = ?",
    }
}

fn insert_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "INSERT INTO notes (id, body, counter) VALUES ($1, $2, 0)",
        _ => "INSERT INTO notes (id, body, counter) VALUES (?, ?, 0)",
    }
}

fn delete_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "DELETE FROM notes WHERE id = $1",
        _ => "DELETE FROM notes WHERE id = ?",
    }
}

// ---------------------------------------------------------------------------
// The plan: what proptest generates.
// ---------------------------------------------------------------------------

/// One statement of a task, for the task's tenant.
#[derive(Debug, Clone)]
enum Step {
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
enum TxnKind {
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
enum Op {
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
enum Via {
    /// `TenantConnection::new(pool, registry, tenant)` once per task, inside
    /// the scope of the ambient tenant (an index into [`ACTIVE`]) if any.
    New { ambient: Option<usize> },
    /// `TenantConnection::from_current` for every operation, inside
    /// `TenantContext::new(tenant).scope(...)`.
    FromCurrent,
}

#[derive(Debug, Clone)]
struct TaskPlan {
    /// Index into [`ACTIVE`].
    tenant: usize,
    via: Via,
    ops: Vec<Op>,
}

#[derive(Clone)]
struct Scenario {
    /// Rows seeded for each active tenant besides its anchor.
    seeds: Vec<u8>,
    tasks: Vec<TaskPlan>,
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

fn foreign() -> impl Strategy<Value = usize> {
    1..ALL.len()
}

fn step() -> impl Strategy<Value = Step> {
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

fn txn_kind() -> impl Strategy<Value = TxnKind> {
    prop_oneof![
        Just(TxnKind::BeginCommit),
        Just(TxnKind::BeginRollback),
        Just(TxnKind::Closure),
        Just(TxnKind::ClosureRollback),
        Just(TxnKind::Savepoint),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => step().prop_map(Op::Single),
        3 => (txn_kind(), prop::collection::vec(step(), 1..=4))
            .prop_map(|(kind, steps)| Op::Txn(kind, steps)),
        1 => (1..ACTIVE.len(), prop::collection::vec(step(), 1..=3))
            .prop_map(|(other, steps)| Op::Nested(other, steps)),
    ]
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![
        Just(Via::FromCurrent),
        prop::option::of(0..ACTIVE.len()).prop_map(|ambient| Via::New { ambient }),
    ]
}

fn task() -> impl Strategy<Value = TaskPlan> {
    (0..ACTIVE.len(), via(), prop::collection::vec(op(), 1..=6))
        .prop_map(|(tenant, via, ops)| TaskPlan { tenant, via, ops })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(0_u8..4, ACTIVE.len()),
        prop::collection::vec(task(), 64..=160),
    )
        .prop_map(|(seeds, tasks)| Scenario { seeds, tasks })
}

// ---------------------------------------------------------------------------
// The expected state.
// ---------------------------------------------------------------------------

/// What one tenant's rows must be.
#[derive(Debug, Clone, Default)]
struct Model {
    tenant: i64,
    /// id to (body, counter).
    rows: BTreeMap<i64, (String, i64)>,
    next_seq: i64,
}

impl Model {
    fn seeded(tenant: i64, extra: i64) -> Self {
        let mut rows = BTreeMap::new();
        rows.insert(tenant * ID_BASE, (format!("anchor {tenant}"), 0));
        for seq in 1..=extra {
            rows.insert(tenant * ID_BASE + seq, (format!("seed {seq}"), seq));
        }
        Self {
            tenant,
            rows,
            next_seq: extra + 1,
        }
    }

    /// The rows as [`READ`] renders them: id, entity_id, body, counter.
    fn read(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|(id, (body, counter))| {
                vec![
                    id.to_string(),
                    self.tenant.to_string(),
                    body.clone(),
                    counter.to_string(),
                ]
            })
            .collect()
    }

    /// The rows as the final raw check renders them: entity_id, id, body,
    /// counter.
    fn raw(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|(id, (body, counter))| {
                vec![
                    self.tenant.to_string(),
                    id.to_string(),
                    body.clone(),
                    counter.to_string(),
                ]
            })
            .collect()
    }
}

/// Why an operation failed.
#[derive(Debug)]
enum Fail {
    /// The database returned an error.
    Db(DbErr),
    /// A result differed from the expectation: the failure this test is for.
    Bleed(String),
    /// The closure form returned `Err` on purpose, to roll back.
    Intended,
}

impl From<DbErr> for Fail {
    fn from(e: DbErr) -> Self {
        Fail::Db(e)
    }
}

impl<E: Into<Fail>> From<TransactionError<E>> for Fail {
    fn from(e: TransactionError<E>) -> Self {
        match e {
            TransactionError::Connection(e) => Fail::Db(e),
            TransactionError::Transaction(e) => e.into(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Db(e) => write!(f, "database error: {e}"),
            Fail::Bleed(msg) => write!(f, "CONTEXT BLEED: {msg}"),
            Fail::Intended => f.write_str("intended rollback"),
        }
    }
}

/// Whether `err` is SQLite's `SQLITE_BUSY` (any extended code: plain,
/// `BUSY_SNAPSHOT`, `BUSY_RECOVERY`, `BUSY_TIMEOUT`).
fn is_sqlite_busy(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return false;
    };
    db.try_downcast_ref::<SqliteError>().is_some()
        && db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5)
}

// ---------------------------------------------------------------------------
// Running statements and checking them.
// ---------------------------------------------------------------------------

/// Counters for the report.
#[derive(Debug, Default)]
struct Stats {
    tasks: AtomicU64,
    ops: AtomicU64,
    statements: AtomicU64,
    busy_retries: AtomicU64,
    /// Operations running now, and the most that ever ran at once: the
    /// evidence that tenants' operations really interleaved.
    running: AtomicU64,
    peak: AtomicU64,
}

/// Counts an operation as running until dropped.
struct Running<'a>(&'a Stats);

impl<'a> Running<'a> {
    fn start(stats: &'a Stats) -> Self {
        let now = stats.running.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak.fetch_max(now, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn foreign_anchor(tenant: i64, offset: usize) -> i64 {
    let own = ALL.iter().position(|t| *t == tenant).expect("known tenant");
    ALL[(own + offset) % ALL.len()] * ID_BASE
}

/// Checks rows a read returned against `expected`, naming any row of
/// another tenant first, since that is the interesting failure.
fn check_rows(
    what: &str,
    tenant: i64,
    got: &[Vec<String>],
    expected: &[Vec<String>],
) -> Result<(), Fail> {
    let strangers: BTreeSet<&str> = got
        .iter()
        .filter_map(|row| row.get(1).map(String::as_str))
        .filter(|t| *t != tenant.to_string())
        .collect();
    if !strangers.is_empty() {
        return Err(Fail::Bleed(format!(
            "{what} for tenant {tenant} returned rows of tenant(s) {strangers:?}\n  got {got:?}\n  \
             expected {expected:?}"
        )));
    }
    if got != expected {
        return Err(Fail::Bleed(format!(
            "{what} for tenant {tenant} returned other rows than expected\n  got {got:?}\n  \
             expected {expected:?}"
        )));
    }
    Ok(())
}

fn check_affected(what: &str, tenant: i64, got: u64, expected: u64) -> Result<(), Fail> {
    if got == expected {
        Ok(())
    } else {
        Err(Fail::Bleed(format!(
            "{what} for tenant {tenant} affected {got} rows, expected {expected}"
        )))
    }
}

/// Renders a streamed row as [`tenancy_testkit::rows`] renders a [`READ`] row.
fn render_note(row: &QueryResult) -> Result<Vec<String>, DbErr> {
    Ok(vec![
        row.try_get_by_index::<i64>(0)?.to_string(),
        row.try_get_by_index::<i64>(1)?.to_string(),
        row.try_get_by_index::<String>(2)?,
        row.try_get_by_index::<i64>(3)?.to_string(),
    ])
}

/// Runs one step on `conn` (a scoped connection or transaction) and checks
/// it against `model`, which it updates as the step changes the rows.
async fn run_step<C>(conn: &C, stats: &Stats, model: &mut Model, step: &Step) -> Result<(), Fail>
where
    C: ConnectionTrait + StreamTrait,
{
    let backend = ConnectionTrait::get_database_backend(conn);
    let tenant = model.tenant;
    bump(&stats.statements);
    match step {
        Step::Read => {
            let got = try_rows_of(conn, Statement::from_string(backend, READ)).await?;
            check_rows("a read", tenant, &got, &model.read())?;
        }
        Step::Count => {
            let got = try_rows_of(conn, Statement::from_string(backend, COUNT)).await?;
            let expected = vec![vec![model.rows.len().to_string()]];
            if got != expected {
                return Err(Fail::Bleed(format!(
                    "a count for tenant {tenant} returned {got:?}, expected {expected:?}"
                )));
            }
        }
        Step::Stream => {
            // The stream holds its connection until it is dropped, at the end
            // of this block.
            let got = {
                let mut stream = std::pin::pin!(
                    conn.stream_raw(Statement::from_string(backend, READ))
                        .await?
                );
                let mut got = Vec::new();
                while let Some(row) = stream.try_next().await? {
                    got.push(render_note(&row)?);
                }
                got
            };
            check_rows("a streamed read", tenant, &got, &model.read())?;
        }
        Step::Probe(offset) => {
            let id = foreign_anchor(tenant, *offset);
            let stmt = Statement::from_sql_and_values(backend, probe_sql(backend), [id.into()]);
            let got = try_rows_of(conn, stmt).await?;
            check_rows(&format!("a probe for row {id}"), tenant, &got, &[])?;
        }
        Step::Insert(word) => {
            let id = tenant * ID_BASE + model.next_seq;
            let body = format!("{word} {}", model.next_seq);
            let stmt = Statement::from_sql_and_values(
                backend,
                insert_sql(backend),
                [id.into(), body.clone().into()],
            );
            let done = conn.execute_raw(stmt).await?;
            check_affected("an insert", tenant, done.rows_affected(), 1)?;
            model.next_seq += 1;
            model.rows.insert(id, (body, 0));
        }
        Step::Bump => {
            let done = conn.execute_unprepared(BUMP).await?;
            let expected = model.rows.len() as u64;
            check_affected("an update", tenant, done.rows_affected(), expected)?;
            for (_, counter) in model.rows.values_mut() {
                *counter += 1;
            }
        }
        Step::DeleteOwn(pick) => {
            let anchor = tenant * ID_BASE;
            let mine: Vec<i64> = model
                .rows
                .keys()
                .copied()
                .filter(|id| *id != anchor)
                .collect();
            // With only the anchor left, delete an id that was never used.
            let (id, expected) = if mine.is_empty() {
                (anchor + ID_BASE - 1, 0)
            } else {
                (mine[pick.index(mine.len())], 1)
            };
            let stmt = Statement::from_sql_and_values(backend, delete_sql(backend), [id.into()]);
            let done = conn.execute_raw(stmt).await?;
            check_affected(
                &format!("a delete of own row {id}"),
                tenant,
                done.rows_affected(),
                expected,
            )?;
            model.rows.remove(&id);
        }
        Step::DeleteForeign(offset) => {
            let id = foreign_anchor(tenant, *offset);
            let stmt = Statement::from_sql_and_values(backend, delete_sql(backend), [id.into()]);
            let done = conn.execute_raw(stmt).await?;
            check_affected(
                &format!("a delete of foreign row {id}"),
                tenant,
                done.rows_affected(),
                0,
            )?;
        }
    }
    Ok(())
}

/// Runs `steps` in order with a yield between them, so other tasks'
/// statements interleave with these.
async fn run_steps<C>(conn: &C, stats: &Stats, model: &mut Model, list: &[Step]) -> Result<(), Fail>
where
    C: ConnectionTrait + StreamTrait,
{
    for s in list {
        run_step(conn, stats, model, s).await?;
        yield_now().await;
    }
    Ok(())
}

/// Runs a transaction of `list` on `conn`; returns the model after it on
/// success (unchanged when it rolled back).
async fn transaction(
    conn: &TenantConnection,
    stats: &Arc<Stats>,
    model: &Model,
    kind: TxnKind,
    list: &[Step],
) -> Result<Model, Fail> {
    let mut scratch = model.clone();
    match kind {
        TxnKind::BeginCommit | TxnKind::BeginRollback => {
            let txn = conn.begin().await?;
            if let Err(e) = run_steps(&txn, stats, &mut scratch, list).await {
                // The error is what matters; the rollback only frees the
                // connection sooner than the drop would.
                let _ = txn.rollback().await;
                return Err(e);
            }
            if matches!(kind, TxnKind::BeginCommit) {
                txn.commit().await?;
                Ok(scratch)
            } else {
                txn.rollback().await?;
                let mut after = model.clone();
                run_step(conn, stats, &mut after, &Step::Read).await?;
                Ok(after)
            }
        }
        TxnKind::Closure | TxnKind::ClosureRollback => {
            let list = list.to_vec();
            let commit = matches!(kind, TxnKind::Closure);
            // The closure's future may borrow only the transaction: give it
            // its own handle on the counters.
            let counters = Arc::clone(stats);
            let outcome = conn
                .transaction::<_, Model, Fail>(move |txn| {
                    Box::pin(async move {
                        run_steps(txn, &counters, &mut scratch, &list).await?;
                        if commit {
                            Ok(scratch)
                        } else {
                            Err(Fail::Intended)
                        }
                    })
                })
                .await;
            match outcome {
                Ok(after) => Ok(after),
                Err(TransactionError::Transaction(Fail::Intended)) => {
                    let mut after = model.clone();
                    run_step(conn, stats, &mut after, &Step::Read).await?;
                    Ok(after)
                }
                Err(e) => Err(e.into()),
            }
        }
        TxnKind::Savepoint => {
            let (first, second) = list.split_at(list.len() / 2);
            let txn = conn.begin().await?;
            let outcome = async {
                run_steps(&txn, stats, &mut scratch, first).await?;
                let savepoint = txn.begin().await?;
                let mut discarded = scratch.clone();
                run_steps(&savepoint, stats, &mut discarded, second).await?;
                savepoint.rollback().await?;
                run_step(&txn, stats, &mut scratch, &Step::Read).await
            }
            .await;
            if let Err(e) = outcome {
                let _ = txn.rollback().await;
                return Err(e);
            }
            txn.commit().await?;
            Ok(scratch)
        }
    }
}

// ---------------------------------------------------------------------------
// Tasks.
// ---------------------------------------------------------------------------

/// Everything a case shares between its tasks.
#[derive(Debug)]
struct Env {
    backend: Backend,
    /// The one pool every task uses.
    pool: DatabaseConnection,
    /// The testkit's pool, for seeding and the final raw check.
    raw: DatabaseConnection,
    registry: TableRegistry,
    /// Expected rows per active tenant, in [`ACTIVE`] order; a task holds a
    /// tenant's lock for a whole operation.
    models: Vec<Mutex<Model>>,
    /// Whether `SQLITE_BUSY` is an expected, retried outcome (the
    /// multi-connection SQLite pool).
    retry_busy: bool,
    stats: Arc<Stats>,
}

impl Env {
    /// A scoped connection for `tenant` as the task's [`Via`] makes it.
    fn connect(&self, via: Via, tenant: i64) -> Result<TenantConnection, Fail> {
        match via {
            Via::New { .. } => Ok(TenantConnection::new(
                self.pool.clone(),
                self.registry.clone(),
                tenant,
            )),
            Via::FromCurrent => {
                TenantConnection::from_current(self.pool.clone(), self.registry.clone()).map_err(
                    |e| {
                        Fail::Bleed(format!(
                            "from_current failed where tenant {tenant} was in scope: {e}"
                        ))
                    },
                )
            }
        }
    }

    /// Runs `unit` until it succeeds or fails with anything but an expected
    /// `SQLITE_BUSY`. `unit` starts from the model each time and returns the
    /// model after it; only a success is kept.
    async fn atomically<F, Fut>(&self, model: &mut Model, mut unit: F) -> Result<(), Fail>
    where
        F: FnMut(Model) -> Fut,
        Fut: Future<Output = Result<Model, Fail>>,
    {
        let _running = Running::start(&self.stats);
        let mut attempt = 0;
        loop {
            match unit(model.clone()).await {
                Ok(after) => {
                    *model = after;
                    return Ok(());
                }
                Err(Fail::Db(e)) if self.retry_busy && is_sqlite_busy(&e) => {
                    attempt += 1;
                    if attempt > BUSY_RETRIES {
                        return Err(Fail::Db(e));
                    }
                    bump(&self.stats.busy_retries);
                    tokio::time::sleep(Duration::from_millis(1 + u64::from(attempt % 8))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One step outside a transaction, as its own atomic unit.
    async fn single(
        &self,
        conn: &TenantConnection,
        model: &mut Model,
        s: &Step,
    ) -> Result<(), Fail> {
        self.atomically(model, |mut m| async move {
            run_step(conn, &self.stats, &mut m, s).await.map(|()| m)
        })
        .await
    }

    /// Runs one operation of `task`, holding the locks of the tenants it
    /// touches. `own` is the task's connection for [`Via::New`].
    async fn op(
        &self,
        task: &TaskPlan,
        own: Option<&TenantConnection>,
        op: &Op,
    ) -> Result<(), Fail> {
        bump(&self.stats.ops);
        let tenant = ACTIVE[task.tenant];
        let connect = || match own {
            Some(conn) => Ok(conn.clone()),
            None => self.connect(task.via, tenant),
        };
        match op {
            Op::Single(s) => {
                let mut model = self.models[task.tenant].lock().await;
                let conn = connect()?;
                self.single(&conn, &mut model, s).await
            }
            Op::Txn(kind, list) => {
                let mut model = self.models[task.tenant].lock().await;
                let conn = connect()?;
                self.atomically(&mut model, |m| {
                    let conn = &conn;
                    async move { transaction(conn, &self.stats, &m, *kind, list).await }
                })
                .await
            }
            Op::Nested(offset, list) => {
                let other_index = (task.tenant + offset) % ACTIVE.len();
                let other = ACTIVE[other_index];
                // Both locks, lower index first, so two nested operations
                // can't wait on each other.
                let (mut model, mut other_model) = if task.tenant < other_index {
                    let a = self.models[task.tenant].lock().await;
                    let b = self.models[other_index].lock().await;
                    (a, b)
                } else {
                    let b = self.models[other_index].lock().await;
                    let a = self.models[task.tenant].lock().await;
                    (a, b)
                };
                match task.via {
                    Via::New { .. } => {
                        let conn = connect()?;
                        let other_conn = self.connect(task.via, other)?;
                        for s in list {
                            self.single(&other_conn, &mut other_model, s).await?;
                            yield_now().await;
                            self.single(&conn, &mut model, &Step::Read).await?;
                            yield_now().await;
                        }
                        Ok(())
                    }
                    Via::FromCurrent => {
                        let inner = async {
                            for s in list {
                                let conn = self.connect(task.via, other)?;
                                self.single(&conn, &mut other_model, s).await?;
                                yield_now().await;
                            }
                            // A spawned task does not inherit the scope.
                            let (pool, registry) = (self.pool.clone(), self.registry.clone());
                            let orphan = tokio::spawn(async move {
                                TenantConnection::from_current(pool, registry)
                                    .map(|c| c.tenant())
                                    .ok()
                            })
                            .await
                            .expect("the spawned task");
                            if let Some(seen) = orphan {
                                return Err(Fail::Bleed(format!(
                                    "a task spawned in tenant {other}'s scope got tenant {seen}"
                                )));
                            }
                            Ok(())
                        };
                        TenantContext::new(other).scope(inner).await?;
                        // Back in the task's own scope.
                        let conn = self.connect(task.via, tenant)?;
                        self.single(&conn, &mut model, &Step::Read).await
                    }
                }
            }
        }
    }

    /// Runs a whole task in its scope (if any).
    async fn task(self: Arc<Self>, index: usize, task: TaskPlan) -> Result<(), String> {
        bump(&self.stats.tasks);
        let tenant = ACTIVE[task.tenant];
        let body = async {
            let own = match task.via {
                Via::New { .. } => Some(TenantConnection::new(
                    self.pool.clone(),
                    self.registry.clone(),
                    tenant,
                )),
                Via::FromCurrent => None,
            };
            for (i, op) in task.ops.iter().enumerate() {
                self.op(&task, own.as_ref(), op).await.map_err(|e| {
                    format!(
                        "task {index} (tenant {tenant}, {:?}), operation {i} {op:?}:\n  {e}",
                        task.via
                    )
                })?;
                yield_now().await;
            }
            Ok(())
        };
        match task.via {
            Via::FromCurrent => TenantContext::new(tenant).scope(body).await,
            Via::New {
                ambient: Some(ambient),
            } => TenantContext::new(ACTIVE[ambient]).scope(body).await,
            Via::New { ambient: None } => body.await,
        }
    }

    /// Empties the table and seeds it for `scenario`.
    async fn reset(&self, scenario: &Scenario) {
        exec(&self.raw, "DELETE FROM notes").await;
        let mut models = Vec::new();
        for (i, tenant) in ACTIVE.into_iter().enumerate() {
            let model = Model::seeded(tenant, i64::from(scenario.seeds[i]));
            models.push(model.clone());
            *self.models[i].lock().await = model;
        }
        models.extend(bystanders());
        let values: Vec<String> = models
            .iter()
            .flat_map(|m| {
                m.rows.iter().map(move |(id, (body, counter))| {
                    format!("({}, {id}, '{body}', {counter})", m.tenant)
                })
            })
            .collect();
        let sql = format!(
            "INSERT INTO notes (entity_id, id, body, counter) VALUES {}",
            values.join(", ")
        );
        exec(&self.raw, &sql).await;
    }

    /// Reads the whole table through the raw connection and compares it with
    /// every tenant's expected rows.
    async fn check_final(&self) -> Result<(), String> {
        let mut models = Vec::new();
        for m in &self.models {
            models.push(m.lock().await.clone());
        }
        models.extend(bystanders());
        let got = rows_sorted(&self.raw, "SELECT entity_id, id, body, counter FROM notes").await;
        let known: BTreeSet<String> = ALL.iter().map(i64::to_string).collect();
        let unknown: BTreeSet<&String> = got
            .iter()
            .map(|row| &row[0])
            .filter(|t| !known.contains(*t))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "CONTEXT BLEED: the table holds rows of tenant(s) {unknown:?}, which no one used"
            ));
        }
        let mut problems = Vec::new();
        for model in &models {
            let tenant = model.tenant.to_string();
            let mut mine: Vec<Vec<String>> =
                got.iter().filter(|row| row[0] == tenant).cloned().collect();
            let mut expected = model.raw();
            mine.sort();
            expected.sort();
            if mine != expected {
                problems.push(format!(
                    "tenant {tenant}:\n    got      {mine:?}\n    expected {expected:?}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "CONTEXT BLEED: after the run, the raw table differs from the expected rows of \
                 {} tenant(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ))
        }
    }
}

fn bystanders() -> impl Iterator<Item = Model> {
    BYSTANDERS
        .into_iter()
        .map(|t| Model::seeded(t, BYSTANDER_ROWS))
}

/// One case: seed, run every task at once, check the table.
async fn run_case(env: &Arc<Env>, scenario: Scenario) -> Result<(), String> {
    env.reset(&scenario).await;
    let mut tasks = JoinSet::new();
    for (index, task) in scenario.tasks.into_iter().enumerate() {
        tasks.spawn(Arc::clone(env).task(index, task));
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("a task panicked: {e}")),
        }
    }
    if !failures.is_empty() {
        let shown = failures.len().min(5);
        return Err(format!(
            "{} of the tasks failed on {}; the first {shown}:\n{}",
            failures.len(),
            env.backend,
            failures[..shown].join("\n")
        ));
    }
    env.check_final().await
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

fn cases() -> u32 {
    std::env::var("TENANCY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Which pool the tasks share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// The testkit's pool.
    Support,
    /// A second pool of four connections to the testkit's SQLite
    /// file, in WAL mode.
    SqliteWide,
}

/// Four connections to the SQLite file at `path`. WAL lets readers run next
/// to the writer; the busy timeout makes a writer wait for the write lock
/// instead of failing at once (which covers statements outside
/// transactions, not a transaction's read-then-write upgrade: see the
/// module docs).
async fn sqlite_wide_pool(path: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(format!("sqlite://{path}?mode=rwc"));
    options
        .max_connections(4)
        .min_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("cannot open a second SQLite pool on {path}: {e}"))
}

/// Runs the property on `backend` with `pool`, if this run has the backend.
fn no_bleed_on(backend: Backend, pool: Pool) {
    if !tenancy_testkit::backends().contains(&backend) {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let db = rt.block_on(fresh_db(backend));
    rt.block_on(exec(&db.conn, SCHEMA));
    let (shared, retry_busy) = match pool {
        Pool::Support => (db.conn.clone(), false),
        Pool::SqliteWide => (rt.block_on(sqlite_wide_pool(db.name())), true),
    };
    let registry = TableRegistry::builder()
        .scoped_table("notes")
        .build()
        .expect("registry");
    let env = Arc::new(Env {
        backend,
        pool: shared,
        raw: db.conn.clone(),
        registry,
        models: ACTIVE.iter().map(|_| Mutex::default()).collect(),
        retry_busy,
        stats: Arc::default(),
    });

    let config = Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/concurrency.txt",
        ))),
        // A case is a whole concurrent run, seconds long, and its failure
        // depends on timing as well as on the plan: shrink only a little.
        max_shrink_iters: 8,
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&scenario(), |scenario| {
        rt.block_on(async {
            match tokio::time::timeout(CASE_TIMEOUT, run_case(&env, scenario)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!(
                    "a case did not finish within {CASE_TIMEOUT:?} on {backend} (a lock cycle?)"
                )),
            }
        })
        .map_err(TestCaseError::fail)
    });
    let elapsed = started.elapsed();

    let stats = &env.stats;
    let report = format!(
        "\n{backend} ({}): {} tasks, {} operations, {} statements in {:.2?}; at most {} \
         operations at once; {} SQLITE_BUSY retries\n",
        match pool {
            Pool::Support => "support pool",
            Pool::SqliteWide => "second pool, 4 connections, WAL",
        },
        stats.tasks.load(Ordering::Relaxed),
        stats.ops.load(Ordering::Relaxed),
        stats.statements.load(Ordering::Relaxed),
        elapsed,
        stats.peak.load(Ordering::Relaxed),
        stats.busy_retries.load(Ordering::Relaxed),
    );
    let _ = std::io::stderr().write_all(report.as_bytes());

    rt.block_on(async {
        if pool == Pool::SqliteWide {
            // Closing one handle closes the pool for every clone.
            let _ = env.pool.clone().close().await;
        }
        drop(env);
        db.cleanup().await;
    });
    if let Err(e) = result {
        panic!("tenant context bled between tasks on {backend}:\n{e}");
    }
}

#[test]
fn no_context_bleed_on_sqlite() {
    no_bleed_on(Backend::Sqlite, Pool::Support);
}

#[test]
fn no_context_bleed_on_sqlite_with_four_connections() {
    no_bleed_on(Backend::Sqlite, Pool::SqliteWide);
}

#[test]
fn no_context_bleed_on_postgres() {
    no_bleed_on(Backend::Postgres, Pool::Support);
}

#[test]
fn no_context_bleed_on_mysql() {
    no_bleed_on(Backend::MySql, Pool::Support);
}
