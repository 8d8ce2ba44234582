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
//!
//! The files: [`plan`] (what proptest generates), [`expected`] (the rows
//! each tenant must have), [`steps`] (running and checking statements) and
//! [`tasks`] (a case's tasks, seeding and the final check).

mod expected;
mod plan;
mod steps;
mod tasks;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use tenancy_seaorm::TableRegistry;
use tenancy_testkit::{Backend, exec, fresh_db};
use tokio::sync::Mutex;

use plan::scenario;
use tasks::{Env, run_case};

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
