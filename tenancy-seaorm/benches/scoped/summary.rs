//! After criterion: interleaved timing, controls, rewritten SQL, plans, the summary.

use std::future::Future;
use std::hint::black_box;
use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryTrait, Statement};
use sqlparser::parser::Parser;
use tenancy_core::TenantId;
use tenancy_seaorm::TableRegistry;
use tenancy_testkit::fixtures::lead;

use crate::fixture::{
    Case, Cases, Fixture, Side, find_by_id_query, list_query, new_lead, update_query,
};
use crate::groups::{backend_name, dialect, read_statements};
use crate::{BLOCKS, PER_BLOCK, TENANT};

/// Summary rows `rls_<case>`: base = rewrite-only, subject = RLS mode,
/// interleaved like the others.
pub(super) async fn summarize_modes(rewrite: &Fixture, rls: &Fixture, rows: &mut Vec<Row>) {
    for case in Case::ALL {
        let blocks = interleaved(|side| async move {
            match side {
                Side::Hand => rewrite.run(case, Side::Scoped).await,
                Side::Scoped => rls.run(case, Side::Scoped).await,
            }
        })
        .await;
        rows.push(blocks.row(format!("rls_{}", case.name()), "postgres"));
        if matches!(case, Case::Insert) {
            rewrite.drop_inserted().await;
        }
    }
    let blocks = interleaved(|side| async move {
        match side {
            Side::Hand => rewrite.transaction().await,
            Side::Scoped => rls.transaction().await,
        }
    })
    .await;
    rows.push(blocks.row("rls_txn_find_update".to_owned(), "postgres"));
}

/// One line of the summary, in microseconds.
pub(super) struct Row {
    pub(super) case: String,
    pub(super) backend: &'static str,
    pub(super) base_us: f64,
    pub(super) subject_us: f64,
    /// The interquartile range of the per-block ratios: how much of the
    /// ratio is noise.
    pub(super) ratio_iqr: (f64, f64),
}

/// The `q` quantile (0..=1) of `xs`, by linear interpolation.
fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    let at = q * (xs.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    xs[lo] + (xs[hi] - xs[lo]) * (at - lo as f64)
}

/// The order of the two sides in block `b`: ABBA, so linear drift cancels.
fn block_order(b: usize) -> [Side; 2] {
    if b.is_multiple_of(2) {
        [Side::Hand, Side::Scoped]
    } else {
        [Side::Scoped, Side::Hand]
    }
}

/// Per-block mean times (µs) of both sides; block `b` of each ran back to
/// back.
#[derive(Default)]
struct Blocks {
    hand: Vec<f64>,
    scoped: Vec<f64>,
}

impl Blocks {
    fn record(&mut self, side: Side, start: Instant) {
        let mean = start.elapsed().as_secs_f64() * 1e6 / PER_BLOCK as f64;
        match side {
            Side::Hand => self.hand.push(mean),
            Side::Scoped => self.scoped.push(mean),
        }
    }

    fn row(self, case: String, backend: &'static str) -> Row {
        let ratios: Vec<f64> = self
            .scoped
            .iter()
            .zip(&self.hand)
            .map(|(s, h)| s / h)
            .collect();
        Row {
            case,
            backend,
            base_us: quantile(&self.hand, 0.5),
            subject_us: quantile(&self.scoped, 0.5),
            ratio_iqr: (quantile(&ratios, 0.25), quantile(&ratios, 0.75)),
        }
    }
}

/// Times `run(Hand)` and `run(Scoped)` in alternating blocks.
async fn interleaved<F, Fut>(mut run: F) -> Blocks
where
    F: FnMut(Side) -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..PER_BLOCK {
        run(Side::Hand).await;
        run(Side::Scoped).await;
    }
    let mut blocks = Blocks::default();
    for b in 0..BLOCKS {
        for side in block_order(b) {
            let start = Instant::now();
            for _ in 0..PER_BLOCK {
                run(side).await;
            }
            blocks.record(side, start);
        }
    }
    blocks
}

/// The same, for CPU-only work.
fn interleaved_sync(mut run: impl FnMut(Side)) -> Blocks {
    for _ in 0..PER_BLOCK {
        run(Side::Hand);
        run(Side::Scoped);
    }
    let mut blocks = Blocks::default();
    for b in 0..BLOCKS {
        for side in block_order(b) {
            let start = Instant::now();
            for _ in 0..PER_BLOCK {
                run(side);
            }
            blocks.record(side, start);
        }
    }
    blocks
}

pub(super) async fn summarize_database(f: &impl Cases, cases: &[Case], rows: &mut Vec<Row>) {
    for &case in cases {
        let blocks = interleaved(|side| f.run(case, side)).await;
        rows.push(blocks.row(f.name(case), f.backend()));
        if matches!(case, Case::Insert) {
            f.drop_inserted().await;
        }
    }
}

/// Controls on the primary-key lookup:
///
/// - `a_a_find_by_id`: the hand-written statement against itself, the noise
///   floor of this method; a ratio outside its range means something.
/// - `wrapper_find_by_id`: the already rewritten statement on the plain
///   connection, against the unscoped statement through the
///   `TenantConnection`: the database runs the same SQL, so the difference
///   is the wrapper's.
/// - `no_limit_find_by_id`: the `find_by_id` case with `.all()` instead of
///   `.one()`, so without the bound `LIMIT ?` that `.one()` adds. SQLite
///   (3.51, as bundled) recompiles a statement with a bound `LIMIT` on every
///   execution, and the rewritten SQL, with its derived table, costs more to
///   compile; without the `LIMIT` the statement stays prepared and that
///   difference goes away.
pub(super) async fn summarize_controls(f: &Fixture, rows: &mut Vec<Row>) {
    let backend = f.db.get_database_backend();
    let hand = find_by_id_query(Side::Hand, f.lead_id).build(backend);
    let unscoped = find_by_id_query(Side::Scoped, f.lead_id).build(backend);
    let rewritten = f
        .registry
        .scope_statement(unscoped.clone(), TENANT.into())
        .expect("scopes");

    let blocks = interleaved(|_| {
        let stmt = hand.clone();
        async move {
            black_box(f.db.query_one_raw(stmt).await.expect("find"));
        }
    })
    .await;
    rows.push(blocks.row("a_a_find_by_id".into(), f.backend));

    let blocks = interleaved(|side| {
        let (rewritten, unscoped) = (rewritten.clone(), unscoped.clone());
        async move {
            let row = match side {
                Side::Hand => f.db.query_one_raw(rewritten).await,
                Side::Scoped => f.scoped.query_one_raw(unscoped).await,
            };
            black_box(row.expect("find"));
        }
    })
    .await;
    rows.push(blocks.row("wrapper_find_by_id".into(), f.backend));

    let blocks = interleaved(|side| async move {
        let query = find_by_id_query(side, f.lead_id);
        let found = match side {
            Side::Hand => query.all(&f.db).await,
            Side::Scoped => query.all(&f.scoped).await,
        };
        black_box(found.expect("find"));
    })
    .await;
    rows.push(blocks.row("no_limit_find_by_id".into(), f.backend));
}

pub(super) fn summarize_rewrite(registry: &TableRegistry, backend: DbBackend, rows: &mut Vec<Row>) {
    let dialect = dialect(backend);
    for (name, stmt) in read_statements(backend) {
        let sql = stmt.sql.as_str();
        let blocks = interleaved_sync(|side| match side {
            Side::Hand => {
                black_box(Parser::parse_sql(dialect, black_box(sql)).expect("parses"));
            }
            Side::Scoped => {
                black_box(
                    registry
                        .rewrite_uncached(backend, black_box(sql))
                        .expect("rewrites"),
                );
            }
        });
        rows.push(blocks.row(format!("cold_{name}"), backend_name(backend)));
        let blocks = interleaved_sync(|side| match side {
            Side::Hand => {
                black_box(black_box(&stmt).clone());
            }
            Side::Scoped => {
                black_box(
                    registry
                        .scope_statement(black_box(&stmt).clone(), TENANT.into())
                        .expect("scopes"),
                );
            }
        });
        rows.push(blocks.row(format!("warm_{name}"), backend_name(backend)));
    }
}

/// What the database actually receives for each case, for the record.
pub(super) fn rewritten_sql(f: &Fixture) -> Vec<String> {
    let backend = f.db.get_database_backend();
    let update = update_query(Side::Scoped, f.update_ids).build(backend);
    let insert = lead::Entity::insert(new_lead(Side::Scoped, f.account_id)).build(backend);
    let mut statements = read_statements(backend).to_vec();
    statements.extend([("update_many", update), ("insert", insert)]);
    statements
        .into_iter()
        .map(|(name, stmt)| {
            let stmt = f
                .registry
                .scope_statement(stmt, TENANT.into())
                .expect("scopes");
            format!("{} {name} rewritten: {}", f.backend, stmt.sql)
        })
        .collect()
}

/// The database's plan for both sides of the read and update cases: if they
/// differ, so may the timings, whatever the rewrite costs.
pub(super) async fn plans(f: &Fixture) -> Vec<String> {
    let backend = f.db.get_database_backend();
    let statements = |side| {
        vec![
            (
                "find_by_id",
                find_by_id_query(side, f.lead_id).build(backend),
            ),
            ("list_join_50", list_query(side).build(backend)),
            (
                "update_many",
                update_query(side, f.update_ids).build(backend),
            ),
        ]
    };
    explain(&f.db, &f.registry, f.backend, TENANT.into(), statements).await
}

/// The plan of each statement `statements(side)` builds, on either side:
/// the hand-written one as it is, the scoped one as `registry` rewrites it
/// for `tenant`. Lines start with `label`.
pub(super) async fn explain(
    db: &DatabaseConnection,
    registry: &TableRegistry,
    label: &str,
    tenant: TenantId,
    statements: impl Fn(Side) -> Vec<(&'static str, Statement)>,
) -> Vec<String> {
    let (explain, column) = match db.get_database_backend() {
        DbBackend::Postgres => ("EXPLAIN", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN", "detail"),
    };
    let mut lines = Vec::new();
    for side in [Side::Hand, Side::Scoped] {
        for (name, stmt) in statements(side) {
            let stmt = match side {
                Side::Hand => stmt,
                Side::Scoped => registry.scope_statement(stmt, tenant).expect("scopes"),
            };
            let explained = Statement {
                sql: format!("{explain} {}", stmt.sql),
                ..stmt
            };
            let plan: Vec<String> = db
                .query_all_raw(explained)
                .await
                .expect("explain")
                .iter()
                .map(|row| row.try_get::<String>("", column).expect("plan line"))
                .map(|line| line.trim().to_owned())
                .collect();
            lines.push(format!(
                "{label} {name} {side:?} plan: {}",
                plan.join(" | ")
            ));
        }
    }
    lines
}

pub(super) fn print_summary(rows: &[Row]) {
    println!();
    println!(
        "summary: medians of {BLOCKS} interleaved blocks x {PER_BLOCK} runs per side, this run"
    );
    println!(
        "  database cases: hand = plain connection + hand-written filter, scoped = TenantConnection (warm cache)"
    );
    println!(
        "  *_uuid: the same case on tables keyed by UUID (PostgreSQL uuid, SQLite 16-byte BLOB), \
         hand filtering by a Uuid field"
    );
    println!(
        "  backend null: a connection that answers at once with no rows (SeaORM + wrapper only)"
    );
    println!(
        "  cold_*: hand = sqlparser::Parser::parse_sql, scoped = rewrite_uncached (a cache miss)"
    );
    println!("  warm_*: hand = Statement::clone, scoped = scope_statement (a cache hit + bind)");
    println!("  a_a_find_by_id: hand against itself (the noise floor of this method)");
    println!("  no_limit_find_by_id: find_by_id with .all(), without the bound LIMIT of .one()");
    println!(
        "  wrapper_find_by_id: hand = rewritten SQL on the plain connection, scoped = the same via TenantConnection"
    );
    println!(
        "  rls_*: hand = TenantConnection rewrite-only (superuser pool), scoped = the same in RLS mode \
         (non-superuser role, policies, set_config in a wrapping transaction)"
    );
    println!(
        "  rls_txn_find_update: the same two modes for begin, find_by_id, update_many, commit \
         (RLS sets the tenant once per transaction)"
    );
    println!(
        "  ratio = scoped_us / hand_us; ratio_iqr = quartiles of the per-block ratios (the noise)"
    );
    println!(
        "{:<20} {:<9} {:>9} {:>10} {:>8} {:>6}  {:<13}",
        "case", "backend", "hand_us", "scoped_us", "diff_us", "ratio", "ratio_iqr"
    );
    for row in rows {
        println!(
            "{:<20} {:<9} {:>9.2} {:>10.2} {:>+8.2} {:>6.3}  {:.3}..{:.3}",
            row.case,
            row.backend,
            row.base_us,
            row.subject_us,
            row.subject_us - row.base_us,
            row.subject_us / row.base_us,
            row.ratio_iqr.0,
            row.ratio_iqr.1,
        );
    }
}
