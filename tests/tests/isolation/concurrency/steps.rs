//! Running a task's statements and transactions, each checked against the expected rows.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::TryStreamExt as _;
use sea_orm::{
    ConnectionTrait, DbErr, QueryResult, Statement, StreamTrait, TransactionError, TransactionTrait,
};
use tenancy_seaorm::TenantConnection;
use tenancy_testkit::try_rows_of;
use tokio::task::yield_now;

use super::expected::{Fail, Model};
use super::plan::{Step, TxnKind};
use super::{ALL, BUMP, COUNT, ID_BASE, READ, delete_sql, insert_sql, probe_sql};

/// Counters for the report.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) tasks: AtomicU64,
    pub(super) ops: AtomicU64,
    pub(super) statements: AtomicU64,
    pub(super) busy_retries: AtomicU64,
    /// Operations running now, and the most that ever ran at once: the
    /// evidence that tenants' operations really interleaved.
    pub(super) running: AtomicU64,
    pub(super) peak: AtomicU64,
}

/// Counts an operation as running until dropped.
pub(super) struct Running<'a>(&'a Stats);

impl<'a> Running<'a> {
    pub(super) fn start(stats: &'a Stats) -> Self {
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

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn foreign_anchor(tenant: i64, offset: usize) -> i64 {
    let own = ALL.iter().position(|t| *t == tenant).expect("known tenant");
    ALL[(own + offset) % ALL.len()] * ID_BASE
}

/// Checks rows a read returned against `expected`, naming any row of
/// another tenant first, since that is the interesting failure.
pub(super) fn check_rows(
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

pub(super) fn check_affected(what: &str, tenant: i64, got: u64, expected: u64) -> Result<(), Fail> {
    if got == expected {
        Ok(())
    } else {
        Err(Fail::Bleed(format!(
            "{what} for tenant {tenant} affected {got} rows, expected {expected}"
        )))
    }
}

/// Renders a streamed row as [`tenancy_testkit::rows`] renders a [`READ`] row.
pub(super) fn render_note(row: &QueryResult) -> Result<Vec<String>, DbErr> {
    Ok(vec![
        row.try_get_by_index::<i64>(0)?.to_string(),
        row.try_get_by_index::<i64>(1)?.to_string(),
        row.try_get_by_index::<String>(2)?,
        row.try_get_by_index::<i64>(3)?.to_string(),
    ])
}

/// Runs one step on `conn` (a scoped connection or transaction) and checks
/// it against `model`, which it updates as the step changes the rows.
pub(super) async fn run_step<C>(
    conn: &C,
    stats: &Stats,
    model: &mut Model,
    step: &Step,
) -> Result<(), Fail>
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
pub(super) async fn run_steps<C>(
    conn: &C,
    stats: &Stats,
    model: &mut Model,
    list: &[Step],
) -> Result<(), Fail>
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
pub(super) async fn transaction(
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
