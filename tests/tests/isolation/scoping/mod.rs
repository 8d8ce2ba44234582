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
//!
//! Each case runs once per kind of tenant key (integer, UUID, text; see
//! [`keys`]), on every backend.
//!
//! This file holds the schema, the dataset and the D / D|t pair; [`reads`],
//! [`writes`] and [`refused`] hold the cases.

pub(crate) mod keys;
mod reads;
mod refused;
mod writes;

use sea_orm::DatabaseConnection;
use tenancy_seaorm::{TableRegistry, TenantConnection};
use tenancy_testkit::{Backend, exec, fresh_db, rows_sorted};

use keys::Keys;

/// The tenant under test; tenants 1 and 3 are its neighbours.
const T: i64 = 2;
const TENANTS: [i64; 3] = [1, 2, 3];

/// Tables whose rows belong to a tenant, with their tenant column and
/// every column in order.
const SCOPED: [(&str, &str, &[&str]); 3] = [
    (
        "accounts",
        "entity_id",
        &["id", "entity_id", "name", "region_id"],
    ),
    (
        "leads",
        "entity_id",
        &[
            "id",
            "entity_id",
            "account_id",
            "name",
            "status",
            "score",
            "email",
        ],
    ),
    (
        "calls",
        "company_id",
        &["id", "company_id", "lead_id", "disposition", "seconds"],
    ),
];

/// The schema of D (no default tenant: an insert that the rewrite forgot to
/// stamp fails) or of D|t (`default` = t, so the same insert run directly
/// lands in t), with tenant columns of the `keys` kind.
fn schema(backend: Backend, keys: Keys, default: Option<i64>) -> Vec<String> {
    let key_type = keys.column_type(backend);
    let tenant = |col: &str| match default {
        Some(t) => format!("{col} {key_type} NOT NULL DEFAULT {}", keys.literal(t)),
        None => format!("{col} {key_type} NOT NULL"),
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
        format!(
            "CREATE TABLE secrets (id INTEGER PRIMARY KEY, {}, body VARCHAR(40) NOT NULL)",
            tenant("entity_id")
        ),
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
fn data(keys: Keys, only: Option<i64>) -> Vec<String> {
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
            format!(
                "({id}, {}, 'acct{}', {region})",
                keys.literal(tenant_of(id)),
                id % 4
            )
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
                "({id}, {}, {account}, 'lead{}', '{status}', {score}, 'l{id}@example.com')",
                keys.literal(t),
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
                keys.literal(tenant_of(id)),
                id % 30 + 1,
                id * 7 % 300
            )
        })
        .collect();
    sql.push(format!(
        "INSERT INTO calls (id, company_id, lead_id, disposition, seconds) VALUES {}",
        calls.join(", ")
    ));
    sql.push(format!(
        "INSERT INTO secrets (id, entity_id, body) VALUES (1, {}, 'tenant one only')",
        keys.literal(1)
    ));
    sql
}

/// D and D|t on one backend, with a registry that knows both.
struct Pair {
    backend: Backend,
    /// The kind of key of the tenant columns, and of `scoped`'s tenant.
    keys: Keys,
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
            for sql in data(self.keys, only) {
                exec(conn, &sql).await;
            }
        }
    }

    /// `sql` with `{schema}` naming D's or D|t's own schema, and the
    /// tenant placeholders (`{t2}` and the others, see [`Keys::render`])
    /// rendered for this run's kind of key.
    fn for_shared(&self, sql: &str) -> String {
        self.keys
            .render(self.backend, &sql.replace("{schema}", &self.shared_schema))
    }

    fn for_only(&self, sql: &str) -> String {
        self.keys
            .render(self.backend, &sql.replace("{schema}", &self.only_schema))
    }

    /// Every row of every table, tenant by tenant, as the oracle sees them.
    async fn dump(&self, conn: &DatabaseConnection, tenant: Option<i64>) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for (table, column, columns) in SCOPED {
            let filter = tenant
                .map(|t| format!(" WHERE {column} = {}", self.keys.literal(t)))
                .unwrap_or_default();
            let select = self.keys.all_columns(self.backend, columns, column);
            let mut rows =
                rows_sorted(conn, &format!("SELECT {select} FROM {table}{filter}")).await;
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

/// Runs `body` on D and D|t for each backend, with tenant columns of the
/// `keys` kind, cleaning both up even if it panics.
async fn with_pair<F, Fut>(keys: Keys, body: F)
where
    F: Fn(Pair) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for backend in tenancy_testkit::backends() {
        let shared = fresh_db(backend).await;
        let only = fresh_db(backend).await;
        for sql in schema(backend, keys, None) {
            exec(&shared.conn, &sql).await;
        }
        for sql in schema(backend, keys, Some(T)) {
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
            .tenant_key(keys.key_type())
            .schema(shared_schema.clone())
            .schema(only_schema.clone())
            .build()
            .expect("registry")
            // Column orders, for INSERT without a column list.
            .with_columns_from(&shared.conn)
            .await
            .expect("column orders");
        let pair = Pair {
            backend,
            keys,
            scoped: TenantConnection::new(shared.conn.clone(), registry, keys.tenant(T)),
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
            eprintln!("failed on {backend} with {keys:?} keys");
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
