//! The criterion groups: database cases, the two RLS modes, and the bare rewrite.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use sea_orm::{DbBackend, QueryTrait, Statement};
use sqlparser::{
    dialect::{Dialect, PostgreSqlDialect, SQLiteDialect},
    parser::Parser,
};
use tenancy_seaorm::TableRegistry;
use tokio::runtime::Runtime;

use crate::TENANT;
use crate::fixture::{Case, Cases, Fixture, Side, find_by_id_query, list_query};

/// Criterion groups `<case>/postgres-modes`: `rewrite_only` and `rls`.
pub(super) fn bench_modes(c: &mut Criterion, rt: &Runtime, rewrite: &Fixture, rls: &Fixture) {
    for case in Case::ALL {
        let mut group = c.benchmark_group(format!("{}/postgres-modes", case.name()));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2));
        group.bench_function("rewrite_only", |b| {
            b.to_async(rt).iter(|| rewrite.run(case, Side::Scoped))
        });
        group.bench_function("rls", |b| {
            b.to_async(rt).iter(|| rls.run(case, Side::Scoped))
        });
        group.finish();
        if matches!(case, Case::Insert) {
            rt.block_on(rewrite.drop_inserted());
        }
    }
    let mut group = c.benchmark_group("txn_find_update/postgres-modes");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("rewrite_only", |b| {
        b.to_async(rt).iter(|| rewrite.transaction())
    });
    group.bench_function("rls", |b| b.to_async(rt).iter(|| rls.transaction()));
    group.finish();
}

/// The SQL a `TenantConnection` receives for the two read cases, and the
/// `sqlparser` dialect that backend's rewrite parses it with.
pub(super) fn read_statements(backend: DbBackend) -> [(&'static str, Statement); 2] {
    [
        (
            "find_by_id",
            find_by_id_query(Side::Scoped, 1).build(backend),
        ),
        ("list_join_50", list_query(Side::Scoped).build(backend)),
    ]
}

pub(super) fn dialect(backend: DbBackend) -> &'static dyn Dialect {
    match backend {
        DbBackend::Postgres => &PostgreSqlDialect {},
        _ => &SQLiteDialect {},
    }
}

pub(super) fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgres",
        _ => "sqlite",
    }
}

pub(super) fn bench_database(c: &mut Criterion, rt: &Runtime, f: &impl Cases, cases: &[Case]) {
    for &case in cases {
        let mut group = c.benchmark_group(format!("{}/{}", f.name(case), f.backend()));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2));
        for side in [Side::Hand, Side::Scoped] {
            let id = if side == Side::Hand { "hand" } else { "scoped" };
            group.bench_function(id, |b| b.to_async(rt).iter(|| f.run(case, side)));
        }
        group.finish();
        if matches!(case, Case::Insert) {
            rt.block_on(f.drop_inserted());
        }
    }
}

/// The largest inputs a registry accepts by default, uncached: how long one
/// cache miss can hold the executor.
fn bench_rewrite_limits(c: &mut Criterion, registry: &TableRegistry, backend: DbBackend) {
    let dialect = dialect(backend);
    let ctes: Vec<String> = (0..1000)
        .map(|i| format!("c{i} AS (SELECT id FROM leads WHERE id = {i})"))
        .collect();
    // Literal values: the same text for every dialect's parser.
    let rows = vec!["(1, 'lead name', 'new')"; 5000].join(", ");
    let inputs = [
        (
            "ctes_1000",
            format!("WITH {} SELECT * FROM c999", ctes.join(", ")),
        ),
        (
            "insert_5000_rows",
            format!("INSERT INTO leads (id, name, status) VALUES {rows}"),
        ),
    ];
    for (name, sql) in inputs {
        let mut group = c.benchmark_group(format!("cold_{name}/{}", backend_name(backend)));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        group.bench_function("parse_sql", |b| {
            b.iter(|| Parser::parse_sql(dialect, black_box(&sql)).expect("parses"));
        });
        group.bench_function("rewrite_uncached", |b| {
            b.iter(|| {
                registry
                    .rewrite_uncached(backend, black_box(&sql))
                    .expect("rewrites")
            });
        });
        group.finish();
    }
}

pub(super) fn bench_rewrite(c: &mut Criterion, registry: &TableRegistry, backend: DbBackend) {
    bench_rewrite_limits(c, registry, backend);
    let dialect = dialect(backend);
    for (name, stmt) in read_statements(backend) {
        let sql = stmt.sql.as_str();
        let mut group = c.benchmark_group(format!("cold_{name}/{}", backend_name(backend)));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(1));
        group.bench_function("parse_sql", |b| {
            b.iter(|| Parser::parse_sql(dialect, black_box(sql)).expect("parses"));
        });
        group.bench_function("rewrite_uncached", |b| {
            b.iter(|| {
                registry
                    .rewrite_uncached(backend, black_box(sql))
                    .expect("rewrites")
            });
        });
        group.finish();

        let mut group = c.benchmark_group(format!("warm_{name}/{}", backend_name(backend)));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(1));
        group.bench_function("clone_statement", |b| {
            b.iter(|| black_box(&stmt).clone());
        });
        group.bench_function("scope_statement", |b| {
            b.iter(|| {
                registry
                    .scope_statement(black_box(&stmt).clone(), TENANT.into())
                    .expect("scopes")
            });
        });
        group.finish();
    }
}
