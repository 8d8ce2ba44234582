//! The rewritten statement uses the same index as the hand-written filter.
//!
//! The rewrite wraps each scoped table as `(SELECT * FROM t WHERE
//! t.entity_id = ?) AS t`; every backend merges that derived table into the
//! outer query. (Aliases are left out because SQLite's plan names a merged
//! table by its own name, a PostgreSQL plan by its alias.) These tests ask each database for its plan of the scoped
//! statement and of the same statement filtered by hand, and require the same
//! plan, using the index that leads with the tenant column.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};
use tenancy_seaorm::TableRegistry;
use tenancy_testkit::{Backend, exec, with_db};

const TENANT: i64 = 7;

async fn seed(conn: &DatabaseConnection) {
    exec(conn, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, name VARCHAR(40) NOT NULL)").await;
    exec(
        conn,
        "CREATE TABLE leads (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, account_id INTEGER NOT NULL, \
         status VARCHAR(20) NOT NULL, name VARCHAR(40) NOT NULL)",
    )
    .await;
    exec(
        conn,
        "CREATE INDEX accounts_tenant ON accounts (entity_id, id)",
    )
    .await;
    exec(
        conn,
        "CREATE INDEX leads_tenant ON leads (entity_id, status)",
    )
    .await;
    // 50 tenants, 40 accounts and 200 leads each: the tenant index is
    // selective enough that every planner wants it.
    for chunk in (0..10_000_i64).collect::<Vec<_>>().chunks(1_000) {
        let leads: Vec<String> = chunk
            .iter()
            .map(|i| {
                let status = ["new", "hot", "lost", "won"][(i % 4) as usize];
                format!(
                    "({}, {}, {}, '{status}', 'lead{i}')",
                    i + 1,
                    i % 50,
                    i % 2_000 + 1
                )
            })
            .collect();
        exec(
            conn,
            &format!(
                "INSERT INTO leads (id, entity_id, account_id, status, name) VALUES {}",
                leads.join(", ")
            ),
        )
        .await;
    }
    let accounts: Vec<String> = (0..2_000_i64)
        .map(|i| format!("({}, {}, 'acct{i}')", i + 1, i % 50))
        .collect();
    exec(
        conn,
        &format!(
            "INSERT INTO accounts (id, entity_id, name) VALUES {}",
            accounts.join(", ")
        ),
    )
    .await;
    match Backend::of(conn) {
        Backend::Postgres => exec(conn, "ANALYZE").await,
        Backend::MySql => exec(conn, "ANALYZE TABLE leads, accounts").await,
        Backend::Sqlite => exec(conn, "ANALYZE").await,
    }
}

/// The same query, scoped by the library and filtered by hand, with `?` or
/// `$n` placeholders for the backend.
fn queries(backend: DbBackend) -> Vec<(&'static str, String, String)> {
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    vec![
        (
            "filter",
            format!("SELECT id, name FROM leads WHERE status = {}", p(1)),
            format!(
                "SELECT id, name FROM leads WHERE status = {} AND leads.entity_id = {}",
                p(1),
                p(2)
            ),
        ),
        (
            "join",
            format!(
                "SELECT leads.id, accounts.name FROM leads JOIN accounts ON accounts.id = leads.account_id \
                 WHERE leads.status = {}",
                p(1)
            ),
            format!(
                "SELECT leads.id, accounts.name FROM leads JOIN accounts ON accounts.id = leads.account_id \
                 WHERE leads.status = {} AND leads.entity_id = {} AND accounts.entity_id = {}",
                p(1),
                p(2),
                p(3)
            ),
        ),
    ]
}

/// The plan, as comparable text rows.
async fn plan(conn: &DatabaseConnection, stmt: Statement) -> Vec<String> {
    let backend = stmt.db_backend;
    let stmt = Statement {
        sql: match backend {
            DbBackend::Postgres => format!("EXPLAIN (COSTS OFF) {}", stmt.sql),
            DbBackend::Sqlite => format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            _ => format!("EXPLAIN {}", stmt.sql),
        },
        ..stmt
    };
    let rows = conn
        .query_all_raw(stmt.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", stmt.sql));
    let text = |row: &QueryResult, col: &str| -> String {
        row.try_get::<Option<String>>("", col)
            .ok()
            .flatten()
            .unwrap_or_else(|| "NULL".into())
    };
    rows.iter()
        .map(|row| match backend {
            DbBackend::Postgres => text(row, "QUERY PLAN"),
            DbBackend::Sqlite => text(row, "detail"),
            // The row estimate may differ with the shape; the access path
            // (how each table is read, through which key) must not.
            _ => ["select_type", "table", "type", "key"]
                .map(|c| text(row, c))
                .join(" | "),
        })
        .collect()
}

#[tokio::test]
async fn scoped_queries_use_the_hand_written_plan() {
    for backend in tenancy_testkit::backends() {
        with_db(backend, |conn| async move {
            seed(&conn).await;
            let registry = TableRegistry::builder().scoped_table("leads").scoped_table("accounts").build().unwrap();
            let db = backend.db_backend();
            for (name, scoped_sql, hand_sql) in queries(db) {
                let scoped = registry
                    .scope_statement(Statement::from_sql_and_values(db, &scoped_sql, [Value::from("hot")]), TENANT.into())
                    .expect("scoped");
                let hand_values: Vec<Value> = match name {
                    "filter" => vec!["hot".into(), TENANT.into()],
                    _ => vec!["hot".into(), TENANT.into(), TENANT.into()],
                };
                let hand = Statement::from_sql_and_values(db, &hand_sql, hand_values);
                let (scoped_plan, hand_plan) = (plan(&conn, scoped.clone()).await, plan(&conn, hand).await);
                println!("{backend} {name}\n  scoped: {}\n  plan:   {scoped_plan:?}\n  hand:   {hand_plan:?}", scoped.sql);
                let uses_index = |plan: &[String]| plan.iter().any(|line| line.contains("leads_tenant"));
                assert!(uses_index(&hand_plan), "{backend} {name}: the hand-written query does not use the index: {hand_plan:?}");
                assert_eq!(scoped_plan, hand_plan, "{backend} {name}: plans differ");
            }
        })
        .await;
    }
}
