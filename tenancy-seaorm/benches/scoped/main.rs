//! What a [`TenantConnection`] costs next to the query you would write by hand.
//!
//! Every case runs twice, side by side in one criterion group:
//!
//! - `hand`: the SeaORM query on the plain `DatabaseConnection`, with the
//!   tenant filter (or, for inserts, the tenant column) written by hand;
//! - `scoped`: the same query without it, through a `TenantConnection` whose
//!   plan cache is warm.
//!
//! The cases are a primary-key lookup, a 50-row list joined to its accounts,
//! a one-row insert and an `update_many` touching a handful of rows, on
//! SQLite in memory and, when `TENANCY_POSTGRES_URL` is set, on PostgreSQL
//! (in a throwaway schema `bench_<pid>`). The reads also run on a null
//! connection that answers at once, which leaves only SeaORM's and the
//! wrapper's own cost. Two CPU-only groups isolate the rewrite itself: a
//! cache miss (`rewrite_uncached`, next to bare `sqlparser` parsing) and a
//! cache hit (`scope_statement`, next to cloning the statement it consumes).
//!
//! Every database case runs again with UUID tenant keys (`uuid_keys`), on
//! the same database: bench ids and summary rows `<case>_uuid/<backend>`
//! (`find_by_id_uuid`, `list_join_50_uuid`, `update_many_uuid`,
//! `insert_uuid`; the reads on the null connection too). Their tables
//! `uuid_accounts` and `uuid_leads` are seeded like the integer-keyed ones,
//! with the tenant in PostgreSQL's `uuid` (`TenantKeyType::Uuid`) and in
//! SQLite as a 16-byte `BLOB` (`TenantKeyType::UuidBinary`), so one entity
//! with a `Uuid` tenant field serves both, and the `hand` side filters by
//! that field: the tenant in the column's own form.
//!
//! After criterion, the bench times every pair again in interleaved blocks
//! (hand, scoped, scoped, hand, ...) so drift cancels, and prints one table
//! of medians and ratios, all measured in this run, with two controls: the
//! hand-written lookup against itself (the method's noise floor) and the
//! same rewritten SQL sent with and without the wrapper. It also prints the
//! rewritten SQL and both sides' query plans. Criterion's own numbers for
//! the database cases are taken minutes apart and drift with the machine's
//! load; trust the summary's ratios over them.
//!
//! On PostgreSQL the bench then compares the two modes of the scoped
//! connection, side by side in the same run: `rewrite_only` (the
//! `TenantConnection` above, on the superuser pool, which the policies
//! don't bind) against `rls` (the same connection in RLS mode as a
//! non-superuser role under the row-level-security policies, each statement
//! wrapped in a transaction that sets the tenant). The summary rows
//! `rls_<case>` give the ratio rls / rewrite-only, and
//! `rls_txn_find_update` the same for a lookup and an update in one
//! explicit transaction, where RLS mode sets the tenant once.
//!
//! Seed: 3 tenants, 200 accounts and 2,000 leads each, interleaved, with an
//! index on `leads (entity_id, id)`, in the testkit's fixture tables
//! (`tenancy_testkit::fixtures`); the UUID-keyed copies have the same rows
//! and an index on `(entity_id, id)`. About seven minutes on two cores.
//!
//! ```text
//! TENANCY_POSTGRES_URL=postgres://root@127.0.0.1:5432/test \
//!     cargo bench -p tenancy-seaorm --bench scoped
//! ```
//!
//! Without `TENANCY_POSTGRES_URL` only the SQLite and null cases run. A
//! criterion filter after `--` (say `-- _uuid`) narrows criterion's part;
//! the summary still times every pair.

mod fixture;
mod groups;
mod setup;
mod summary;
mod uuid_keys;

use std::panic::AssertUnwindSafe;

use criterion::Criterion;
use sea_orm::{ConnectionTrait, DbBackend};
use tokio::runtime::Runtime;

use fixture::{Case, Cases, registry};
use groups::{bench_database, bench_modes, bench_rewrite};
use setup::{null_fixture, postgres, postgres_rls, postgres_schema, rls_role, sqlite};
use summary::{
    Row, plans, print_summary, rewritten_sql, summarize_controls, summarize_database,
    summarize_modes, summarize_rewrite,
};

const TENANTS: i64 = 3;
const ACCOUNTS_PER_TENANT: i64 = 200;
const LEADS_PER_TENANT: i64 = 2_000;
const SEEDED_LEADS: i64 = TENANTS * LEADS_PER_TENANT;
/// The tenant every case runs as.
const TENANT: i64 = 2;
const STATUSES: [&str; 4] = ["new", "open", "won", "lost"];
/// The list case's filter: a quarter of the rows match.
const LIST_STATUS: &str = "open";
const LIST_LEN: u64 = 50;

/// Interleaved timing for the summary: `BLOCKS` blocks of `PER_BLOCK` runs
/// per side, so 2,000 runs of each side per pair.
const BLOCKS: usize = 40;
const PER_BLOCK: usize = 50;

/// Whether criterion is measuring (`cargo bench`) rather than running each
/// benchmark once as a test (`cargo test --benches`) or listing them: only
/// then are the summary's timing loops worth their time.
fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    has("--bench") && !has("--test") && !has("--list")
}

/// Benchmarks `cases` on `f` with criterion, then, if `rows` is given,
/// again with the interleaved loop for the summary.
fn measure(
    c: &mut Criterion,
    rt: &Runtime,
    f: &impl Cases,
    cases: &[Case],
    rows: Option<&mut Vec<Row>>,
) {
    bench_database(c, rt, f, cases);
    if let Some(rows) = rows {
        rt.block_on(summarize_database(f, cases, rows));
    }
}

fn main() {
    // One thread drives the queries: on a 2-core machine, extra runtime
    // workers only compete with SQLite's own worker thread and add noise.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut c = Criterion::default().configure_from_args();
    let mut rows = measuring().then(Vec::new);

    let cpu_registry = registry();
    for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
        bench_rewrite(&mut c, &cpu_registry, backend);
        if let Some(rows) = rows.as_mut() {
            summarize_rewrite(&cpu_registry, backend, rows);
        }
    }

    measure(&mut c, &rt, &null_fixture(), &Case::READS, rows.as_mut());
    let null_uuid = uuid_keys::null_fixture();
    measure(&mut c, &rt, &null_uuid, &Case::READS, rows.as_mut());

    let lite = rt.block_on(sqlite());
    measure(&mut c, &rt, &lite, &Case::ALL, rows.as_mut());
    let lite_uuid = rt.block_on(uuid_keys::fixture("sqlite", lite.db.clone()));
    measure(&mut c, &rt, &lite_uuid, &Case::ALL, rows.as_mut());
    if let Some(rows) = rows.as_mut() {
        rt.block_on(summarize_controls(&lite, rows));
    }
    let mut notes = rewritten_sql(&lite);
    notes.extend(rt.block_on(plans(&lite)));
    notes.extend(rt.block_on(lite_uuid.plans()));

    let postgres_url = std::env::var("TENANCY_POSTGRES_URL").unwrap_or_default();
    if !postgres_url.is_empty() {
        let (admin, schema) = rt.block_on(postgres_schema(&postgres_url));
        // Drop the schema even if a benchmark panics.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let pg = rt.block_on(postgres(&postgres_url, &schema));
            measure(&mut c, &rt, &pg, &Case::ALL, rows.as_mut());
            let pg_uuid = rt.block_on(uuid_keys::fixture("postgres", pg.db.clone()));
            measure(&mut c, &rt, &pg_uuid, &Case::ALL, rows.as_mut());
            if let Some(rows) = rows.as_mut() {
                rt.block_on(summarize_controls(&pg, rows));
            }
            notes.extend(rewritten_sql(&pg));
            notes.extend(rt.block_on(plans(&pg)));
            notes.extend(rt.block_on(pg_uuid.plans()));
            drop(pg_uuid);
            let (rls, app) = rt.block_on(postgres_rls(&postgres_url, &schema, &pg));
            bench_modes(&mut c, &rt, &pg, &rls);
            if let Some(rows) = rows.as_mut() {
                rt.block_on(summarize_modes(&pg, &rls, rows));
            }
            drop(rls);
            rt.block_on(app.close()).expect("close");
            rt.block_on(pg.db.close()).expect("close");
        }));
        rt.block_on(admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
            .expect("drop schema");
        rt.block_on(admin.execute_unprepared(&format!("DROP ROLE IF EXISTS {}", rls_role())))
            .expect("drop role");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    c.final_summary();
    println!();
    for note in notes {
        println!("{note}");
    }
    if let Some(rows) = &rows {
        print_summary(rows);
    }
    if postgres_url.is_empty() {
        println!(
            "PostgreSQL benchmarks skipped: set TENANCY_POSTGRES_URL \
             (e.g. postgres://root@127.0.0.1:5432/test) to run them"
        );
    }
}
