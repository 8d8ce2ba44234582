//! The statement forms of issue 15, judged by the isolated copy: a form the
//! rewrite accepts leaves the tenant's rows as the same statement leaves
//! them on D|t and every other tenant's rows as they were; a form it
//! refuses is refused before anything reaches the database.
//!
//! Accepted: MySQL's multi-table `UPDATE a LEFT JOIN b ON ... SET a.x = ...`
//! (and its RIGHT JOIN mirror), the nullable side guarded in the join's ON.
//! Refused (see `rewrite::tests_forms` for the reasons): writing the
//! nullable side, MySQL's row alias on an upsert,
//! PostgreSQL's `TABLE t` and `MERGE`, SQLite's `INSERT INTO t AS alias`.

use sea_orm::{ConnectionTrait, Statement};
use tenancy_seaorm::{Refusal, TableRegistry, TenantConnection};
use tenancy_testkit::{Backend, TestDb, backends, exec, rows, try_rows};

const T: i64 = 2;

/// Accounts and leads of three tenants. Lead 13 (tenant 2) points at
/// account 4 (tenant 3), lead 15 (tenant 3) at account 3 (tenant 2), and
/// only lead 17 (tenant 1) at account 6 (tenant 2): on D an unguarded join
/// finds partners the tenant's copy does not have.
const SEED: &[&str] = &[
    "INSERT INTO accounts (id, entity_id, name, region_id) VALUES \
     (1, 1, 'one-a', NULL), (2, 2, 'two-a', NULL), (3, 2, 'two-b', NULL), (4, 3, 'three-a', NULL), \
     (5, 2, 'two-c', NULL), (6, 2, 'two-d', NULL)",
    "INSERT INTO leads (id, entity_id, account_id, name, status, score) VALUES \
     (10, 1, 1, 'l10', 'new', 1), (11, 2, 2, 'l11', 'new', 2), (12, 2, 2, 'l12', 'hot', 3), \
     (13, 2, 4, 'l13', 'new', 4), (14, 2, NULL, 'l14', 'new', 5), (15, 3, 3, 'l15', 'new', 6), \
     (16, 2, 3, 'l16', 'lost', 7), (17, 1, 6, 'l17', 'new', 8)",
];

/// Writes the rewrite accepts, with the backends whose syntax has them.
const WRITES: &[(&[Backend], &str)] = &[
    // The guard after the caller's whole condition, the nullable side's in
    // the ON: lead 13 gets 'none' as on D|t, not tenant 3's account name.
    (
        &[Backend::MySql],
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id \
         SET l.name = COALESCE(a.name, 'none') WHERE l.status <> 'lost' OR 1 = 1",
    ),
    // An anti-join: leads without an account of their own tenant.
    (
        &[Backend::MySql],
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id \
         SET l.score = l.score + 100 WHERE a.id IS NULL",
    ),
    // The condition on the nullable side in the ON, with a subquery there.
    (
        &[Backend::MySql],
        "UPDATE leads l LEFT OUTER JOIN accounts a ON a.id = l.account_id \
         AND a.id IN (SELECT account_id FROM leads WHERE status = 'hot') \
         SET l.status = CASE WHEN a.id IS NULL THEN 'cold' ELSE 'warm' END",
    ),
    // RIGHT JOIN: the left table is the nullable side, guarded in the ON.
    // Account 6 has only another tenant's lead: 'no leads' as on D|t.
    (
        &[Backend::MySql],
        "UPDATE leads l RIGHT JOIN accounts a ON a.id = l.account_id \
         SET a.name = CASE WHEN l.id IS NULL THEN 'no leads' ELSE 'has leads' END",
    ),
];

/// Forms that stay refused, with the refusal's kind.
const REFUSED: &[(&[Backend], &str, &str)] = &[
    (
        &[Backend::MySql],
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET a.name = 'x'",
        "construct",
    ),
    (
        &[Backend::MySql],
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET name = 'x'",
        "construct",
    ),
    (
        &[Backend::MySql],
        "UPDATE leads l LEFT JOIN accounts a USING (id) SET l.name = 'x'",
        "construct",
    ),
    (
        &[Backend::MySql],
        "DELETE l FROM leads l LEFT JOIN accounts a ON a.id = l.account_id WHERE a.id IS NULL",
        "construct",
    ),
    (
        &[Backend::MySql],
        "INSERT INTO leads (id, name, status) VALUES (13, 'x', 'new') AS new \
         ON DUPLICATE KEY UPDATE name = new.name",
        "construct",
    ),
    (
        &[Backend::Postgres],
        "MERGE INTO leads l USING accounts a ON a.id = l.account_id \
         WHEN MATCHED THEN UPDATE SET name = a.name",
        "construct",
    ),
    (&[Backend::Postgres], "TABLE leads", "unparseable"),
    (
        &[Backend::Postgres],
        "SELECT * FROM accounts UNION TABLE leads",
        "construct",
    ),
    (
        &[Backend::Sqlite],
        "INSERT INTO leads AS l (id, name, status) VALUES (13, 'x', 'new') \
         ON CONFLICT (id) DO UPDATE SET name = l.name || excluded.name",
        "unparseable",
    ),
];

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("accounts")
        .scoped_table("leads")
        .build()
        .unwrap()
}

async fn database(backend: Backend, only: Option<i64>) -> TestDb {
    tenancy_testkit::fixtures::seeded(backend, only, SEED).await
}

/// Every row of both tables, ordered, with a filter on the tenant column.
async fn dump<C: ConnectionTrait>(conn: &C, filter: &str) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for table in ["accounts", "leads"] {
        let mut table_rows = rows(
            conn,
            &format!("SELECT '{table}', t.* FROM {table} t WHERE {filter} ORDER BY id"),
        )
        .await;
        all.append(&mut table_rows);
    }
    all
}

#[tokio::test]
async fn accepted_forms_write_as_on_the_tenants_own_copy() {
    let mut ran = 0;
    for backend in backends() {
        for (on, sql) in WRITES {
            if !on.contains(&backend) {
                continue;
            }
            ran += 1;
            let (shared, only) = (
                database(backend, None).await,
                database(backend, Some(T)).await,
            );
            let others = format!("entity_id <> {T}");
            let before = dump(&shared.conn, &others).await;
            let scoped = TenantConnection::new(shared.conn.clone(), registry(), T);
            scoped
                .execute_raw(Statement::from_string(backend.db_backend(), *sql))
                .await
                .unwrap_or_else(|e| panic!("{backend} scoped: {sql}: {e}"));
            exec(&only.conn, sql).await;
            assert_eq!(
                dump(&shared.conn, &format!("entity_id = {T}")).await,
                dump(&only.conn, "1 = 1").await,
                "{backend}: the tenant's rows after {sql}"
            );
            assert_eq!(
                dump(&shared.conn, &others).await,
                before,
                "{backend}: other tenants' rows after {sql}"
            );
            shared.cleanup().await;
            only.cleanup().await;
        }
    }
    if backends().contains(&Backend::MySql) {
        assert_eq!(ran, WRITES.len(), "every write ran on its backends");
    }
}

/// The same writes run unscoped on D change other tenants' rows or give
/// the tenant's rows other values: what the rewrite prevents is real.
#[tokio::test]
async fn unscoped_the_same_writes_differ_from_the_copy() {
    for backend in backends() {
        for (on, sql) in WRITES {
            if !on.contains(&backend) {
                continue;
            }
            let (shared, only) = (
                database(backend, None).await,
                database(backend, Some(T)).await,
            );
            let others = format!("entity_id <> {T}");
            let before = dump(&shared.conn, &others).await;
            exec(&shared.conn, sql).await;
            exec(&only.conn, sql).await;
            let own = dump(&shared.conn, &format!("entity_id = {T}")).await;
            assert!(
                own != dump(&only.conn, "1 = 1").await
                    || dump(&shared.conn, &others).await != before,
                "{backend}: {sql} is tenant-safe even unscoped; it tests nothing"
            );
            shared.cleanup().await;
            only.cleanup().await;
        }
    }
}

#[tokio::test]
async fn refused_forms_are_refused_before_the_database() {
    for backend in backends() {
        let shared = database(backend, None).await;
        let scoped = TenantConnection::new(shared.conn.clone(), registry(), T);
        let before = dump(&shared.conn, "1 = 1").await;
        for (on, sql, kind) in REFUSED {
            if !on.contains(&backend) {
                continue;
            }
            let err = try_rows(&scoped, sql)
                .await
                .expect_err(&format!("{backend}: {sql} ran"));
            let refusal = Refusal::from_db_err(&err)
                .unwrap_or_else(|| panic!("{backend}: {sql} failed in the database: {err}"));
            assert_eq!(refusal.kind(), *kind, "{backend}: {sql}: {refusal}");
        }
        assert_eq!(dump(&shared.conn, "1 = 1").await, before, "{backend}");
        shared.cleanup().await;
    }
}

/// `LOCK IN SHARE MODE` (SeaORM's `lock_shared()` on MySQL) and a plain
/// `FOR SHARE`, which the rewrite renders the way MariaDB reads, return
/// the tenant's rows as its own copy does, raw and through SeaORM.
#[tokio::test]
async fn shared_locks_read_as_on_the_tenants_own_copy() {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    use tenancy_testkit::fixtures::lead;

    for backend in backends() {
        if backend != Backend::MySql {
            continue;
        }
        let (shared, only) = (
            database(backend, None).await,
            database(backend, Some(T)).await,
        );
        let scoped = TenantConnection::new(shared.conn.clone(), registry(), T);
        for sql in [
            "SELECT id, name FROM leads WHERE status = 'new' OR 1 = 1 ORDER BY id LOCK IN SHARE MODE",
            "SELECT l.id, a.name FROM leads l LEFT JOIN accounts a ON a.id = l.account_id ORDER BY l.id LOCK IN SHARE MODE",
            "SELECT id FROM accounts ORDER BY id FOR SHARE",
        ] {
            // FOR SHARE is not MariaDB's; the copy is asked the MySQL way.
            let on_copy = sql.replace("FOR SHARE", "LOCK IN SHARE MODE");
            let expected = try_rows(&only.conn, &on_copy)
                .await
                .unwrap_or_else(|e| panic!("{backend} on D|t: {on_copy}: {e}"));
            let got = try_rows(&scoped, sql)
                .await
                .unwrap_or_else(|e| panic!("{backend} scoped: {sql}: {e}"));
            assert_eq!(got, expected, "{backend}: {sql}");
            let everyone = try_rows(&shared.conn, &on_copy).await.unwrap();
            assert_ne!(everyone, expected, "{backend}: D differs: {sql}");
        }
        let got: Vec<i32> = lead::Entity::find()
            .order_by_asc(lead::Column::Id)
            .lock_shared()
            .all(&scoped)
            .await
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect();
        let expected: Vec<i32> = lead::Entity::find()
            .order_by_asc(lead::Column::Id)
            .lock_shared()
            .all(&only.conn)
            .await
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(got, expected, "{backend}: lock_shared()");
        shared.cleanup().await;
        only.cleanup().await;
    }
}
