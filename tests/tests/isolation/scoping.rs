//! Every construct the rewrite handles, on every backend whose syntax has it,
//! measured against the isolation guarantee itself:
//!
//! - a read through a `TenantConnection` for tenant t on the shared database
//!   D returns what the same SQL returns, run directly, on D|t, a database
//!   holding only t's rows;
//! - a write leaves every other tenant's rows byte-identical, and leaves t's
//!   rows as the same write, run directly, leaves D|t;
//! - a refused statement comes back as a typed `Refusal` and changes nothing.
//!
//! If the rewrite did nothing, the reads would see tenants 1 and 3 too and
//! the writes would change their rows, so every check here would fail.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenancy_seaorm::{Refusal, TableRegistry, TenantConnection};
use tenancy_testkit::{Backend, exec, fresh_db, rows_sorted, try_rows};

/// The tenant under test; tenants 1 and 3 are its neighbours.
const T: i64 = 2;
const TENANTS: [i64; 3] = [1, 2, 3];

/// Tables whose rows belong to a tenant, with their tenant column.
const SCOPED: [(&str, &str); 3] = [
    ("accounts", "entity_id"),
    ("leads", "entity_id"),
    ("calls", "company_id"),
];

/// The schema of D (no default tenant: an insert that the rewrite forgot to
/// stamp fails) or of D|t (`default` = t, so the same insert run directly
/// lands in t).
fn schema(backend: Backend, default: Option<i64>) -> Vec<String> {
    let tenant = |col: &str| match default {
        Some(t) => format!("{col} BIGINT NOT NULL DEFAULT {t}"),
        None => format!("{col} BIGINT NOT NULL"),
    };
    let email_key = match backend {
        // A key that spans tenants, as a careless schema has: upserts must
        // not use it to reach another tenant's row.
        Backend::Sqlite | Backend::Postgres | Backend::MySql => "UNIQUE (email)",
    };
    vec![
        "CREATE TABLE regions (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)".into(),
        format!(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, {}, name VARCHAR(40) NOT NULL, region_id INTEGER NULL)",
            tenant("entity_id")
        ),
        format!(
            "CREATE TABLE leads (id INTEGER PRIMARY KEY, {}, account_id INTEGER NULL, name VARCHAR(40) NOT NULL, \
             status VARCHAR(20) NOT NULL, score INTEGER NULL, email VARCHAR(60) NULL, {email_key})",
            tenant("entity_id")
        ),
        format!(
            "CREATE TABLE calls (id INTEGER PRIMARY KEY, {}, lead_id INTEGER NOT NULL, \
             disposition VARCHAR(20) NOT NULL, seconds INTEGER NOT NULL)",
            tenant("company_id")
        ),
        "CREATE TABLE secrets (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, body VARCHAR(40) NOT NULL)".into(),
        "CREATE INDEX accounts_tenant ON accounts (entity_id, id)".into(),
        "CREATE INDEX leads_tenant ON leads (entity_id, id)".into(),
        "CREATE INDEX calls_tenant ON calls (company_id, id)".into(),
    ]
}

fn tenant_of(id: i64) -> i64 {
    (id - 1) % 3 + 1
}

/// The shared dataset, as INSERT statements, keeping only the rows of
/// `only` when given. Names repeat across tenants, some foreign keys point
/// into another tenant's rows, some values are NULL.
fn data(only: Option<i64>) -> Vec<String> {
    let keep = |t: i64| only.is_none_or(|o| o == t);
    let mut sql =
        vec!["INSERT INTO regions (id, name) VALUES (1, 'north'), (2, 'south')".to_owned()];
    let accounts: Vec<String> = (1..=9_i64)
        .filter(|id| keep(tenant_of(*id)))
        .map(|id| {
            let region = if id % 3 == 0 {
                "NULL".to_owned()
            } else {
                (id % 2 + 1).to_string()
            };
            format!("({id}, {}, 'acct{}', {region})", tenant_of(id), id % 4)
        })
        .collect();
    sql.push(format!(
        "INSERT INTO accounts (id, entity_id, name, region_id) VALUES {}",
        accounts.join(", ")
    ));
    let leads: Vec<String> = (1..=30_i64)
        .filter(|id| keep(tenant_of(*id)))
        .map(|id| {
            let t = tenant_of(id);
            // Usually an account of the same tenant; every 7th crosses into
            // the next tenant's account; every 5th has none.
            let account = if id % 5 == 0 {
                "NULL".to_owned()
            } else if id % 7 == 0 {
                ((t % 3) + 1).to_string()
            } else {
                (t + 3 * (id % 3)).to_string()
            };
            let status = ["new", "hot", "lost"][((id / 3) % 3) as usize];
            let score = if id % 4 == 0 {
                "NULL".to_owned()
            } else {
                (id * 13 % 100).to_string()
            };
            format!(
                "({id}, {t}, {account}, 'lead{}', '{status}', {score}, 'l{id}@example.com')",
                id % 6
            )
        })
        .collect();
    sql.push(format!(
        "INSERT INTO leads (id, entity_id, account_id, name, status, score, email) VALUES {}",
        leads.join(", ")
    ));
    let calls: Vec<String> = (1..=40_i64)
        .filter(|id| keep(tenant_of(*id)))
        .map(|id| {
            let disposition = ["callback", "no_answer", "sale"][((id / 3) % 3) as usize];
            format!(
                "({id}, {}, {}, '{disposition}', {})",
                tenant_of(id),
                id % 30 + 1,
                id * 7 % 300
            )
        })
        .collect();
    sql.push(format!(
        "INSERT INTO calls (id, company_id, lead_id, disposition, seconds) VALUES {}",
        calls.join(", ")
    ));
    sql.push("INSERT INTO secrets (id, entity_id, body) VALUES (1, 1, 'tenant one only')".into());
    sql
}

/// D and D|t on one backend, with a registry that knows both.
struct Pair {
    backend: Backend,
    /// D: every tenant's rows.
    shared: DatabaseConnection,
    /// D|t: only t's rows.
    only: DatabaseConnection,
    scoped: TenantConnection,
    /// The schema (PostgreSQL), database (MySQL) or `main` (SQLite) of each.
    shared_schema: String,
    only_schema: String,
}

impl Pair {
    async fn reset(&self) {
        for (conn, only) in [(&self.shared, None), (&self.only, Some(T))] {
            for table in ["calls", "leads", "accounts", "regions", "secrets"] {
                exec(conn, &format!("DELETE FROM {table}")).await;
            }
            for sql in data(only) {
                exec(conn, &sql).await;
            }
        }
    }

    /// `sql` with `{schema}` naming D's or D|t's own schema.
    fn for_shared(&self, sql: &str) -> String {
        sql.replace("{schema}", &self.shared_schema)
    }

    fn for_only(&self, sql: &str) -> String {
        sql.replace("{schema}", &self.only_schema)
    }

    /// Every row of every table, tenant by tenant, as the oracle sees them.
    async fn dump(&self, conn: &DatabaseConnection, tenant: Option<i64>) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for (table, column) in SCOPED {
            let filter = tenant
                .map(|t| format!(" WHERE {column} = {t}"))
                .unwrap_or_default();
            let mut rows = rows_sorted(conn, &format!("SELECT * FROM {table}{filter}")).await;
            for row in &mut rows {
                row.insert(0, table.to_owned());
            }
            all.extend(rows);
        }
        all.extend(rows_sorted(conn, "SELECT * FROM regions").await);
        all
    }

    async fn others(&self) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for t in TENANTS.into_iter().filter(|t| *t != T) {
            all.extend(self.dump(&self.shared, Some(t)).await);
        }
        all
    }
}

/// Runs `body` on D and D|t for each backend, cleaning both up even if it
/// panics.
async fn with_pair<F, Fut>(body: F)
where
    F: Fn(Pair) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for backend in tenancy_testkit::backends() {
        let shared = fresh_db(backend).await;
        let only = fresh_db(backend).await;
        for sql in schema(backend, None) {
            exec(&shared.conn, &sql).await;
        }
        for sql in schema(backend, Some(T)) {
            exec(&only.conn, &sql).await;
        }
        let schema_of = |db: &tenancy_testkit::TestDb| match backend {
            Backend::Sqlite => "main".to_owned(),
            Backend::Postgres | Backend::MySql => db.name().to_owned(),
        };
        let (shared_schema, only_schema) = (schema_of(&shared), schema_of(&only));
        let registry = TableRegistry::builder()
            .scoped_table("accounts")
            .scoped_table("leads")
            .scoped_table_by("calls", "company_id")
            .global_table("regions")
            .schema(shared_schema.clone())
            .schema(only_schema.clone())
            .build()
            .expect("registry");
        let pair = Pair {
            backend,
            scoped: TenantConnection::new(shared.conn.clone(), registry, T),
            shared: shared.conn.clone(),
            only: only.conn.clone(),
            shared_schema,
            only_schema,
        };
        pair.reset().await;
        let outcome = tokio::spawn(body(pair)).await;
        shared.cleanup().await;
        only.cleanup().await;
        if let Err(e) = outcome {
            eprintln!("failed on {backend}");
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Which backends a case runs on.
#[derive(Clone, Copy)]
enum On {
    All,
    Only(&'static [Backend]),
}

impl On {
    fn has(self, backend: Backend) -> bool {
        match self {
            On::All => true,
            On::Only(list) => list.contains(&backend),
        }
    }
}

const PG: On = On::Only(&[Backend::Postgres]);
const PG_SQLITE: On = On::Only(&[Backend::Postgres, Backend::Sqlite]);
const PG_MYSQL: On = On::Only(&[Backend::Postgres, Backend::MySql]);
const MYSQL: On = On::Only(&[Backend::MySql]);
const SQLITE: On = On::Only(&[Backend::Sqlite]);
const MYSQL_SQLITE: On = On::Only(&[Backend::MySql, Backend::Sqlite]);

const READS: &[(On, &str, &str)] = &[
    (On::All, "plain", "SELECT id, name, status FROM leads"),
    (
        On::All,
        "OR cannot widen",
        "SELECT id FROM leads WHERE status = 'new' OR 1 = 1",
    ),
    (
        On::All,
        "OR with NOT",
        "SELECT id FROM leads WHERE NOT (status = 'hot') OR score IS NULL",
    ),
    (
        On::All,
        "inner join",
        "SELECT l.id, a.name FROM leads l JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "inner join keyword",
        "SELECT l.id, a.name FROM leads l INNER JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "left join keeps unmatched rows",
        "SELECT l.id, a.id, a.name FROM leads l LEFT JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "left outer join",
        "SELECT l.id, a.name FROM leads l LEFT OUTER JOIN accounts a ON a.id = l.account_id WHERE a.id IS NULL",
    ),
    (
        On::All,
        "right join",
        "SELECT l.id, a.id FROM leads l RIGHT JOIN accounts a ON a.id = l.account_id",
    ),
    (
        PG_SQLITE,
        "full join",
        "SELECT l.id, a.id FROM leads l FULL JOIN accounts a ON a.id = l.account_id",
    ),
    (
        PG_SQLITE,
        "full outer join",
        "SELECT l.id, a.id FROM leads l FULL OUTER JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "cross join",
        "SELECT l.id, a.id FROM leads l CROSS JOIN accounts a",
    ),
    (
        On::All,
        "comma join",
        "SELECT l.id, a.name FROM leads l, accounts a WHERE a.id = l.account_id OR 1 = 1",
    ),
    (
        On::All,
        "natural join",
        "SELECT id, name FROM leads NATURAL JOIN accounts",
    ),
    (
        On::All,
        "using on the tenant column",
        "SELECT l.id, a.id FROM leads l JOIN accounts a USING (entity_id)",
    ),
    (
        On::All,
        "using",
        "SELECT id, l.name FROM leads l JOIN accounts a USING (id)",
    ),
    (
        On::All,
        "left join using",
        "SELECT id, a.name FROM leads l LEFT JOIN accounts a USING (id)",
    ),
    (
        On::All,
        "three-way join with a global table",
        "SELECT l.id, a.name, r.name FROM leads l JOIN accounts a ON a.id = l.account_id LEFT JOIN regions r ON r.id = a.region_id",
    ),
    (
        On::All,
        "parenthesised join",
        "SELECT l.id, c.id FROM (leads l JOIN accounts a ON a.id = l.account_id) LEFT JOIN calls c ON c.lead_id = l.id",
    ),
    (
        PG_MYSQL,
        "nested parenthesised joins",
        "SELECT l.id, c.id FROM leads l LEFT JOIN (calls c JOIN accounts a ON a.id = c.lead_id) ON c.lead_id = l.id",
    ),
    (
        On::All,
        "subquery in FROM",
        "SELECT x.id FROM (SELECT id, status FROM leads WHERE score > 10) AS x WHERE x.status <> 'lost'",
    ),
    (
        On::All,
        "IN subquery",
        "SELECT id FROM accounts WHERE id IN (SELECT account_id FROM leads)",
    ),
    (
        On::All,
        "NOT IN subquery",
        "SELECT id FROM accounts WHERE id NOT IN (SELECT account_id FROM leads WHERE account_id IS NOT NULL)",
    ),
    (
        On::All,
        "EXISTS",
        "SELECT a.id FROM accounts a WHERE EXISTS (SELECT 1 FROM leads l WHERE l.account_id = a.id)",
    ),
    (
        On::All,
        "scalar subquery in SELECT",
        "SELECT a.id, (SELECT count(*) FROM leads l WHERE l.account_id = a.id) FROM accounts a",
    ),
    (
        On::All,
        "uncorrelated scalar subquery",
        "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM calls)",
    ),
    (
        On::All,
        "subquery in HAVING",
        "SELECT status, count(*) FROM leads GROUP BY status HAVING count(*) > (SELECT count(*) FROM accounts) / 10",
    ),
    (
        On::All,
        "subquery in ORDER BY",
        "SELECT id FROM accounts ORDER BY (SELECT count(*) FROM leads WHERE leads.account_id = accounts.id), id",
    ),
    (
        On::All,
        "subquery in JOIN ON",
        "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id AND a.id IN (SELECT account_id FROM leads)",
    ),
    (
        PG,
        "lateral",
        "SELECT a.id, x.n FROM accounts a, LATERAL (SELECT count(*) AS n FROM leads l WHERE l.account_id = a.id) x",
    ),
    (
        On::All,
        "CTE",
        "WITH hot AS (SELECT id, account_id FROM leads WHERE status = 'hot') SELECT h.id, a.name FROM hot h JOIN accounts a ON a.id = h.account_id",
    ),
    (
        On::All,
        "two CTEs, the second reading the first",
        "WITH a AS (SELECT id FROM leads), b AS (SELECT id FROM a WHERE id > 3) SELECT count(*) FROM b",
    ),
    (
        On::All,
        "recursive CTE",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n, (SELECT count(*) FROM calls) FROM r",
    ),
    (
        On::All,
        "CTE inside a subquery",
        "SELECT count(*) FROM (WITH x AS (SELECT id FROM leads) SELECT id FROM x) y",
    ),
    (
        On::All,
        "UNION",
        "SELECT name FROM leads UNION SELECT name FROM accounts",
    ),
    (
        On::All,
        "UNION ALL",
        "SELECT id FROM leads UNION ALL SELECT id FROM accounts",
    ),
    (
        On::All,
        "INTERSECT",
        "SELECT id FROM leads INTERSECT SELECT id FROM accounts",
    ),
    (
        On::All,
        "EXCEPT",
        "SELECT id FROM leads EXCEPT SELECT lead_id FROM calls",
    ),
    (
        On::All,
        "aggregates",
        "SELECT status, count(*), sum(score), min(id), max(id) FROM leads GROUP BY status",
    ),
    (
        On::All,
        "count with OR",
        "SELECT count(*) FROM calls WHERE disposition = 'sale' OR seconds >= 0",
    ),
    (
        On::All,
        "ORDER BY and LIMIT",
        "SELECT id FROM leads ORDER BY id DESC LIMIT 3",
    ),
    (
        On::All,
        "LIMIT OFFSET",
        "SELECT id FROM leads ORDER BY id LIMIT 2 OFFSET 1",
    ),
    (On::All, "DISTINCT", "SELECT DISTINCT name FROM leads"),
    (
        On::All,
        "self join",
        "SELECT a.id, b.id FROM leads a JOIN leads b ON a.name = b.name AND a.id < b.id",
    ),
    (On::All, "schema-qualified", "SELECT id FROM {schema}.leads"),
    (
        On::All,
        "schema-qualified with alias",
        "SELECT l.id FROM {schema}.leads l JOIN {schema}.accounts a ON a.id = l.account_id",
    ),
    (PG_SQLITE, "quoted", "SELECT \"id\" FROM \"leads\""),
    (MYSQL, "backquoted", "SELECT `id` FROM `leads`"),
    (
        PG_SQLITE,
        "differently cased",
        "SELECT ID FROM LEADS WHERE Status = 'new'",
    ),
    (
        On::All,
        "global table alone",
        "SELECT id, name FROM regions",
    ),
    (
        On::All,
        "global joined to scoped",
        "SELECT r.name, count(a.id) FROM regions r LEFT JOIN accounts a ON a.region_id = r.id GROUP BY r.name",
    ),
    (
        On::All,
        "CASE with subquery",
        "SELECT id, CASE WHEN EXISTS (SELECT 1 FROM calls c WHERE c.lead_id = leads.id) THEN 'called' ELSE 'fresh' END FROM leads",
    ),
    (On::All, "VALUES-free constant select", "SELECT 1"),
    (
        PG_MYSQL,
        "FOR UPDATE",
        "SELECT id FROM leads WHERE status = 'new' FOR UPDATE",
    ),
];

#[tokio::test]
async fn reads_equal_the_tenants_own_copy() {
    with_pair(|pair| async move {
        let mut failures = Vec::new();
        for (on, name, sql) in READS {
            if !on.has(pair.backend) {
                continue;
            }
            let expected = try_rows(&pair.only, &pair.for_only(sql)).await;
            let got = try_rows(&pair.scoped, &pair.for_shared(sql)).await;
            match (expected, got) {
                (Ok(mut expected), Ok(mut got)) => {
                    expected.sort();
                    got.sort();
                    if expected != got {
                        failures.push(format!(
                            "{name}: {sql}\n  expected {expected:?}\n       got {got:?}"
                        ));
                    }
                }
                (expected, got) => failures.push(format!(
                    "{name}: {sql}\n  expected {expected:?}\n       got {got:?}"
                )),
            }
        }
        assert!(
            failures.is_empty(),
            "{} on {}:\n{}",
            failures.len(),
            pair.backend,
            failures.join("\n")
        );
    })
    .await;
}

/// Writes: (backends, name, SQL). The same SQL runs through the scoped
/// connection on D and directly on D|t.
const WRITES: &[(On, &str, &str)] = &[
    (
        On::All,
        "insert one row",
        "INSERT INTO leads (id, account_id, name, status) VALUES (100, 2, 'new one', 'new')",
    ),
    (
        On::All,
        "insert many rows",
        "INSERT INTO leads (id, name, status) VALUES (101, 'a', 'new'), (102, 'b', 'hot'), (103, 'c', 'lost')",
    ),
    (
        On::All,
        "insert naming the own tenant",
        "INSERT INTO leads (id, entity_id, name, status) VALUES (104, 2, 'mine', 'new')",
    ),
    (
        On::All,
        "insert into a table with another tenant column",
        "INSERT INTO calls (id, lead_id, disposition, seconds) VALUES (100, 2, 'sale', 30)",
    ),
    (
        On::All,
        "insert select",
        "INSERT INTO leads (id, name, status) SELECT id + 500, name, 'copied' FROM accounts",
    ),
    (
        On::All,
        "insert select with join and OR",
        "INSERT INTO calls (id, lead_id, disposition, seconds) SELECT l.id + 500, l.id, 'callback', 0 FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = 'hot' OR 1 = 1",
    ),
    (
        On::All,
        "insert select union",
        "INSERT INTO leads (id, name, status) SELECT id + 600, name, 'u' FROM accounts UNION SELECT id + 700, name, 'u' FROM accounts",
    ),
    (
        PG_SQLITE,
        "insert returning",
        "INSERT INTO leads (id, name, status) VALUES (105, 'r', 'new') RETURNING id, entity_id, name",
    ),
    (
        On::All,
        "update with OR",
        "UPDATE leads SET status = 'hot' WHERE status = 'new' OR 1 = 1",
    ),
    (
        On::All,
        "update everything",
        "UPDATE calls SET seconds = seconds + 1",
    ),
    (
        On::All,
        "update with subqueries",
        "UPDATE leads SET score = (SELECT count(*) FROM calls WHERE calls.lead_id = leads.id) WHERE account_id IN (SELECT id FROM accounts WHERE name <> 'x')",
    ),
    (
        On::All,
        "update naming the own tenant",
        "UPDATE leads SET entity_id = 2, name = 'same tenant' WHERE id = 2",
    ),
    (
        PG_SQLITE,
        "update from",
        "UPDATE leads SET name = a.name FROM accounts a WHERE a.id = leads.account_id",
    ),
    (
        PG_SQLITE,
        "update returning",
        "UPDATE leads SET score = 1 WHERE status = 'hot' RETURNING id, score",
    ),
    (
        MYSQL,
        "multi-table update",
        "UPDATE leads l JOIN accounts a ON a.id = l.account_id SET l.name = a.name, a.region_id = 2",
    ),
    (
        MYSQL,
        "update with order and limit",
        "UPDATE leads SET status = 'first' ORDER BY id LIMIT 2",
    ),
    (
        On::All,
        "delete with OR",
        "DELETE FROM calls WHERE disposition = 'sale' OR 1 = 1",
    ),
    (
        On::All,
        "delete with subquery",
        "DELETE FROM calls WHERE lead_id IN (SELECT id FROM leads WHERE status = 'lost')",
    ),
    (On::All, "delete everything", "DELETE FROM calls"),
    (
        PG,
        "delete using",
        "DELETE FROM calls USING leads l WHERE l.id = calls.lead_id AND l.status = 'hot'",
    ),
    (
        PG_SQLITE,
        "delete returning",
        "DELETE FROM calls WHERE seconds > 100 RETURNING id",
    ),
    (
        MYSQL,
        "multi-table delete",
        "DELETE c FROM calls c JOIN leads l ON l.id = c.lead_id WHERE l.status = 'hot'",
    ),
    (
        MYSQL,
        "multi-table delete of both",
        "DELETE c, l FROM calls c JOIN leads l ON l.id = c.lead_id WHERE l.status = 'lost'",
    ),
    (
        MYSQL,
        "delete using (MySQL)",
        "DELETE FROM c USING calls c JOIN leads l ON l.id = c.lead_id WHERE l.status = 'new'",
    ),
    (
        PG_SQLITE,
        "upsert on own row",
        "INSERT INTO leads (id, name, status) VALUES (2, 'upserted', 'hot') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    ),
    (
        PG_SQLITE,
        "upsert do nothing",
        "INSERT INTO leads (id, name, status) VALUES (2, 'ignored', 'hot') ON CONFLICT DO NOTHING",
    ),
    (
        PG_SQLITE,
        "upsert with a WHERE of its own",
        "INSERT INTO leads (id, name, status) VALUES (5, 'w', 'hot') ON CONFLICT (id) DO UPDATE SET name = excluded.name WHERE leads.status <> 'x' OR 1 = 1",
    ),
    (
        MYSQL,
        "on duplicate key on own row",
        "INSERT INTO leads (id, name, status) VALUES (2, 'upserted', 'hot') ON DUPLICATE KEY UPDATE name = VALUES(name), status = 'dup'",
    ),
    (
        MYSQL,
        "insert ignore",
        "INSERT IGNORE INTO leads (id, name, status) VALUES (2, 'ignored', 'hot'), (106, 'fresh', 'new')",
    ),
    (
        SQLITE,
        "insert or ignore",
        "INSERT OR IGNORE INTO leads (id, name, status) VALUES (2, 'ignored', 'hot'), (106, 'fresh', 'new')",
    ),
];

#[tokio::test]
async fn writes_touch_only_the_tenants_rows() {
    with_pair(|pair| async move {
        let mut failures = Vec::new();
        for (on, name, sql) in WRITES {
            if !on.has(pair.backend) {
                continue;
            }
            pair.reset().await;
            let before = pair.others().await;
            let expected = try_rows(&pair.only, &pair.for_only(sql)).await;
            let got = try_rows(&pair.scoped, &pair.for_shared(sql)).await;
            if let Err(e) = &got {
                failures.push(format!("{name}: {sql}\n  failed through the scoped connection: {e}"));
                continue;
            }
            if let Err(e) = &expected {
                failures.push(format!("{name}: {sql}\n  the oracle failed on D|t: {e}"));
                continue;
            }
            let (mut expected, mut got) = (expected.unwrap_or_default(), got.unwrap_or_default());
            expected.sort();
            got.sort();
            if expected != got {
                failures.push(format!("{name}: returned rows differ\n  expected {expected:?}\n       got {got:?}"));
            }
            if pair.others().await != before {
                failures.push(format!("{name}: {sql}\n  CHANGED ANOTHER TENANT'S ROWS"));
            }
            let mine = pair.dump(&pair.shared, Some(T)).await;
            let oracle = pair.dump(&pair.only, None).await;
            if mine != oracle {
                failures.push(format!("{name}: {sql}\n  tenant rows differ from D|t\n  expected {oracle:?}\n       got {mine:?}"));
            }
        }
        assert!(failures.is_empty(), "{} on {}:\n{}", failures.len(), pair.backend, failures.join("\n"));
    })
    .await;
}

/// Upserts that collide with another tenant's row through a key that spans
/// tenants (`leads.email`, `leads.id`). On D|t there is no collision, so the
/// oracle can't compare t's rows; the guarantee that matters is that the
/// other tenant's row is untouched and nothing moved between tenants.
const FOREIGN_CONFLICTS: &[(On, &str, &str)] = &[
    (
        PG_SQLITE,
        "do update on another tenant's id",
        "INSERT INTO leads (id, name, status) VALUES (1, 'hijack', 'hot') ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status",
    ),
    (
        PG_SQLITE,
        "do update on another tenant's email",
        "INSERT INTO leads (id, name, status, email) VALUES (200, 'hijack', 'hot', 'l1@example.com') ON CONFLICT (email) DO UPDATE SET name = 'hijacked'",
    ),
    (
        MYSQL,
        "duplicate key on another tenant's id",
        "INSERT INTO leads (id, name, status) VALUES (1, 'hijack', 'hot') ON DUPLICATE KEY UPDATE name = VALUES(name), status = 'hijacked', score = 999",
    ),
    (
        MYSQL,
        "duplicate key on another tenant's email",
        "INSERT INTO leads (id, name, status, email) VALUES (200, 'hijack', 'hot', 'l1@example.com') ON DUPLICATE KEY UPDATE name = 'hijacked'",
    ),
    (
        MYSQL_SQLITE,
        "ignore on another tenant's id",
        "INSERT IGNORE INTO leads (id, name, status) VALUES (1, 'hijack', 'hot')",
    ),
];

#[tokio::test]
async fn upserts_never_touch_another_tenants_row() {
    with_pair(|pair| async move {
        let mut failures = Vec::new();
        for (on, name, sql) in FOREIGN_CONFLICTS {
            if !on.has(pair.backend) {
                continue;
            }
            // SQLite spells `INSERT IGNORE` as `INSERT OR IGNORE`.
            let sql = match pair.backend {
                Backend::Sqlite => sql.replace("INSERT IGNORE", "INSERT OR IGNORE"),
                _ => (*sql).to_owned(),
            };
            pair.reset().await;
            let before_others = pair.others().await;
            let before_mine = pair.dump(&pair.shared, Some(T)).await;
            if let Err(e) = try_rows(&pair.scoped, &sql).await {
                failures.push(format!("{name}: {sql}\n  failed: {e}"));
            }
            if pair.others().await != before_others {
                failures.push(format!("{name}: {sql}\n  CHANGED ANOTHER TENANT'S ROW"));
            }
            if pair.dump(&pair.shared, Some(T)).await != before_mine {
                failures.push(format!("{name}: {sql}\n  changed the tenant's rows"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} on {}:\n{}",
            failures.len(),
            pair.backend,
            failures.join("\n")
        );
    })
    .await;
}

/// Statements refused before reaching the database: (backends, SQL, the
/// refusal's kind).
const REFUSED: &[(On, &str, &str)] = &[
    (On::All, "SELECT * FROM secrets", "unregistered_table"),
    (
        On::All,
        "SELECT l.id FROM leads l JOIN secrets s ON s.entity_id = l.entity_id",
        "unregistered_table",
    ),
    (
        On::All,
        "SELECT id FROM leads WHERE id IN (SELECT id FROM secrets)",
        "unregistered_table",
    ),
    (
        On::All,
        "WITH x AS (SELECT * FROM secrets) SELECT * FROM x",
        "unregistered_table",
    ),
    (
        On::All,
        "SELECT * FROM other_schema.leads",
        "unregistered_table",
    ),
    (
        PG_MYSQL,
        "SELECT * FROM information_schema.tables",
        "unregistered_table",
    ),
    (
        PG,
        "SELECT * FROM pg_catalog.pg_class",
        "unregistered_table",
    ),
    (PG, "SELECT * FROM pg_class", "unregistered_table"),
    (SQLITE, "SELECT * FROM sqlite_master", "unregistered_table"),
    (MYSQL, "SELECT * FROM mysql.user", "unregistered_table"),
    (PG, "SELECT * FROM \"Leads\"", "unregistered_table"),
    (MYSQL, "SELECT * FROM LEADS", "unregistered_table"),
    (
        On::All,
        "UPDATE regions SET name = 'mine'",
        "global_table_write",
    ),
    (On::All, "DELETE FROM regions", "global_table_write"),
    (
        On::All,
        "INSERT INTO regions (id, name) VALUES (9, 'x')",
        "global_table_write",
    ),
    (
        On::All,
        "INSERT INTO leads (id, entity_id, name, status) VALUES (300, 1, 'theirs', 'new')",
        "foreign_tenant",
    ),
    (
        On::All,
        "INSERT INTO leads (id, entity_id, name, status) VALUES (300, 2, 'mine', 'new'), (301, 3, 'theirs', 'new')",
        "foreign_tenant",
    ),
    (
        On::All,
        "UPDATE leads SET entity_id = 1 WHERE id = 2",
        "foreign_tenant",
    ),
    (
        On::All,
        "UPDATE leads SET entity_id = entity_id - 1",
        "tenant_column",
    ),
    (
        On::All,
        "INSERT INTO leads (id, entity_id, name, status) SELECT id + 900, entity_id, name, status FROM leads",
        "tenant_column",
    ),
    (
        On::All,
        "INSERT INTO leads VALUES (300, 2, NULL, 'x', 'new', NULL, NULL)",
        "construct",
    ),
    (
        PG_SQLITE,
        "INSERT INTO leads (id, name, status) VALUES (1, 'x', 'y') ON CONFLICT (id) DO UPDATE SET entity_id = 1",
        "foreign_tenant",
    ),
    (
        MYSQL,
        "REPLACE INTO leads (id, name, status) VALUES (1, 'hijack', 'new')",
        "construct",
    ),
    (
        SQLITE,
        "INSERT OR REPLACE INTO leads (id, name, status) VALUES (1, 'hijack', 'new')",
        "construct",
    ),
    (
        SQLITE,
        "REPLACE INTO leads (id, name, status) VALUES (1, 'hijack', 'new')",
        "construct",
    ),
    (
        SQLITE,
        "UPDATE OR REPLACE leads SET id = 1 WHERE id = 2",
        "construct",
    ),
    (
        MYSQL,
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET l.name = 'x'",
        "construct",
    ),
    (On::All, "CREATE TABLE evil (id INTEGER)", "statement"),
    (On::All, "DROP TABLE leads", "statement"),
    (
        On::All,
        "ALTER TABLE leads ADD COLUMN x INTEGER",
        "statement",
    ),
    (PG_MYSQL, "TRUNCATE leads", "statement"),
    (PG_MYSQL, "TRUNCATE TABLE leads", "statement"),
    (
        On::All,
        "SELECT 1; DELETE FROM leads",
        "multiple_statements",
    ),
    (
        On::All,
        "DELETE FROM leads WHERE id = 2; DELETE FROM leads",
        "multiple_statements",
    ),
    (On::All, "SELEKT * FROM leads", "unparseable"),
    (On::All, "", "empty"),
    (
        PG,
        "SELECT query_to_xml('select * from leads', true, false, '')",
        "function",
    ),
    (
        PG,
        "SELECT set_config('app.tenant', '1', false)",
        "function",
    ),
    (PG, "SELECT * INTO leads_copy FROM leads", "construct"),
    (
        PG,
        "WITH gone AS (DELETE FROM leads RETURNING id) SELECT * FROM gone",
        "construct",
    ),
    (
        PG,
        "SELECT * FROM dblink('dbname=test', 'select * from leads') AS t(id int)",
        "construct",
    ),
    (SQLITE, "SELECT load_extension('x')", "function"),
    (MYSQL, "SELECT load_file('/etc/passwd')", "function"),
    (
        On::All,
        "WITH leads AS (SELECT * FROM leads) SELECT * FROM leads",
        "ambiguous_cte",
    ),
    (
        On::All,
        "SELECT accounts.id, accounts.name FROM leads AS accounts",
        "ambiguous_name",
    ),
    (
        On::All,
        "SELECT leads.id, accounts.id FROM accounts AS leads JOIN leads AS accounts ON accounts.account_id = leads.id",
        "ambiguous_name",
    ),
    // A CTE named like a registered table is refused whatever it reads:
    // servers disagree on which one a nested reference means.
    (
        On::All,
        "WITH leads AS (SELECT id, name FROM accounts) SELECT id, name FROM leads",
        "ambiguous_cte",
    ),
    (
        On::All,
        "WITH accounts AS (SELECT id, name FROM leads) SELECT a.id, a.name FROM accounts a",
        "ambiguous_cte",
    ),
    (
        On::All,
        "INSERT INTO leads (id, name, status) WITH leads AS (SELECT id, name FROM accounts) SELECT id + 800, name, 'cte' FROM leads",
        "ambiguous_cte",
    ),
];

#[tokio::test]
async fn refused_statements_change_nothing() {
    with_pair(|pair| async move {
        let mut failures = Vec::new();
        for (on, sql, kind) in REFUSED {
            if !on.has(pair.backend) {
                continue;
            }
            let before = pair.dump(&pair.shared, None).await;
            let result = pair
                .scoped
                .execute_raw(Statement::from_string(
                    pair.backend.db_backend(),
                    pair.for_shared(sql),
                ))
                .await;
            match result {
                Ok(_) => failures.push(format!("{sql}: ran, expected refusal `{kind}`")),
                Err(err) => match Refusal::from_db_err(&err) {
                    Some(refusal) if refusal.kind() == *kind => {}
                    Some(refusal) => failures.push(format!(
                        "{sql}: refused as `{}` ({refusal}), expected `{kind}`",
                        refusal.kind()
                    )),
                    None => {
                        failures.push(format!("{sql}: failed in the database, not refused: {err}"))
                    }
                },
            }
            if pair.dump(&pair.shared, None).await != before {
                failures.push(format!("{sql}: CHANGED ROWS"));
            }
        }
        // The unregistered table is still there and untouched.
        let secret = rows_sorted(&pair.shared, "SELECT body FROM secrets").await;
        assert_eq!(secret, vec![vec!["tenant one only".to_owned()]]);
        assert!(
            failures.is_empty(),
            "{} on {}:\n{}",
            failures.len(),
            pair.backend,
            failures.join("\n")
        );
    })
    .await;
}

/// Bound values: the tenant goes in as a parameter beside the caller's, in
/// the right order for each placeholder style.
#[tokio::test]
async fn bound_values_keep_their_order() {
    with_pair(|pair| async move {
        let (sql, only_sql) = match pair.backend.db_backend() {
            DbBackend::Postgres => (
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = $1 AND l.id > $2 AND a.name <> $3",
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = $1 AND l.id > $2 AND a.name <> $3",
            ),
            _ => (
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = ? AND l.id > ? AND a.name <> ?",
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = ? AND l.id > ? AND a.name <> ?",
            ),
        };
        for status in ["new", "hot", "lost"] {
            let values = || vec![status.into(), 3_i32.into(), "acct0".into()];
            let stmt = |sql: &str| Statement::from_sql_and_values(pair.backend.db_backend(), sql, values());
            let got = pair.scoped.query_all_raw(stmt(sql)).await.expect("scoped");
            let want = pair.only.query_all_raw(stmt(only_sql)).await.expect("oracle");
            let ids = |rows: Vec<sea_orm::QueryResult>| {
                let mut ids: Vec<i64> = rows
                    .iter()
                    .map(|r| r.try_get_by_index::<i64>(0).or_else(|_| r.try_get_by_index::<i32>(0).map(i64::from)).expect("id"))
                    .collect();
                ids.sort_unstable();
                ids
            };
            let (got, want) = (ids(got), ids(want));
            assert_eq!(got, want, "status {status} on {}", pair.backend);
        }
        // The same text for another tenant reuses the cached plan and still
        // sees only that tenant.
        let other = TenantConnection::new(pair.shared.clone(), pair.scoped.registry().clone(), 3);
        let count = rows_sorted(&other, "SELECT count(*) FROM leads WHERE 1 = 1 OR entity_id = 2").await;
        let direct = rows_sorted(&pair.shared, "SELECT count(*) FROM leads WHERE entity_id = 3").await;
        assert_eq!(count, direct);
    })
    .await;
}
