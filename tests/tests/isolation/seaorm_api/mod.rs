//! SeaORM's own APIs through a [`TenantConnection`], end to end, on every
//! backend this run has.
//!
//! Each test seeds three tenants whose rows overlap in every way a query could
//! trip over (same names, same statuses, foreign keys that point at another
//! tenant's rows), then uses one SeaORM API through a tenant connection and
//! checks it against an oracle that does not involve the library:
//!
//! - reads are compared with the tenant's rows read on the raw connection with
//!   a hand-written tenant filter (`entity_id = t`, or `company_id = t` on
//!   `calls`; joins: every joined table filtered, the join then done in
//!   Rust), i.e. with the same query run on D|t;
//! - writes are checked by reading every other tenant's rows (raw, all tables)
//!   before and after, which must be identical, and the tenant's own rows,
//!   which must change exactly as expected.
//!
//! Every check is chosen so that it fails if the connection did not scope: the
//! filters match other tenants' rows, the ids belong to other tenants, the
//! foreign keys cross tenants.
//!
//! The entities and their tables are the testkit's
//! [`tenancy_testkit::fixtures`]; each file here covers one part of the API.

mod from_current;
mod more;
mod reads;
mod relations;
mod streams;
mod transactions;
mod writes;

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use tenancy_seaorm::{Refusal, TableRegistry, TenantConnection};
use tenancy_testkit::fixtures::{Schema, account, call, lead};
use tenancy_testkit::{Backend, exec, rows};

/// The seeded tenants. Tenant 4 exists in no row: a tenant with nothing.
const TENANTS: [i64; 4] = [1, 2, 3, 4];

/// The scoped tables, with their tenant columns.
const TABLES: [(&str, &str); 3] = [
    ("accounts", "entity_id"),
    ("leads", "entity_id"),
    ("calls", "company_id"),
];

/// (id, tenant, name). "Acme" exists in tenants 1, 2 and 3.
const ACCOUNTS: &[(i32, i64, &str)] = &[
    (1, 1, "Acme"),
    (2, 1, "Globex"),
    (3, 2, "Acme"),
    (4, 2, "Initech"),
    (5, 3, "Umbrella"),
    (6, 3, "Acme"),
];

/// (id, tenant, account, name, status). "Alice" and "new" exist in every
/// seeded tenant; leads 5, 8 and 9 point at another tenant's account.
const LEADS: &[(i32, i64, Option<i32>, &str, &str)] = &[
    (1, 1, Some(1), "Alice", "new"),
    (2, 1, Some(2), "Bob", "won"),
    (3, 1, None, "Carol", "new"),
    (4, 2, Some(3), "Alice", "new"),
    (5, 2, Some(1), "Dave", "new"), // tenant 1's account
    (6, 2, Some(4), "Erin", "lost"),
    (7, 3, Some(5), "Alice", "won"),
    (8, 3, Some(3), "Frank", "new"), // tenant 2's account
    (9, 1, Some(6), "Grace", "new"), // tenant 3's account
];

/// (id, tenant, lead, disposition). Calls 3, 6 and 8 point at another
/// tenant's lead.
const CALLS: &[(i32, i64, i32, &str)] = &[
    (1, 1, 1, "answered"),
    (2, 1, 1, "voicemail"),
    (3, 1, 4, "answered"), // tenant 2's lead
    (4, 2, 4, "answered"),
    (5, 2, 5, "busy"),
    (6, 2, 1, "answered"), // tenant 1's lead
    (7, 3, 7, "answered"),
    (8, 3, 8, "voicemail"),
];

/// Inserts the seed rows, with their ids, on the raw connection.
async fn seed(raw: &DatabaseConnection) {
    for (id, t, name) in ACCOUNTS {
        exec(
            raw,
            &format!("INSERT INTO accounts (id, entity_id, name) VALUES ({id}, {t}, '{name}')"),
        )
        .await;
    }
    for (id, t, account, name, status) in LEADS {
        let account = account.map_or_else(|| "NULL".to_owned(), |a| a.to_string());
        exec(
            raw,
            &format!(
                "INSERT INTO leads (id, entity_id, account_id, name, status) \
                     VALUES ({id}, {t}, {account}, '{name}', '{status}')"
            ),
        )
        .await;
    }
    for (id, t, lead, disposition) in CALLS {
        exec(
            raw,
            &format!(
                "INSERT INTO calls (id, company_id, lead_id, disposition, seconds) \
                     VALUES ({id}, {t}, {lead}, '{disposition}', 60)"
            ),
        )
        .await;
    }
}

/// A seeded database, its raw connection and the registry.
struct Fixture {
    raw: DatabaseConnection,
    registry: TableRegistry,
    backend: Backend,
}

impl Fixture {
    /// Creates the tables on the raw connection (DDL through a tenant
    /// connection is refused by design) and seeds them.
    async fn new(raw: DatabaseConnection) -> Self {
        let backend = Backend::of(&raw);
        // New rows get ids far from the seeded ones, so a test can't confuse
        // them. SQLite continues after the largest id.
        Schema::new().generated_ids(100).create(&raw).await;
        seed(&raw).await;
        let registry = TableRegistry::builder()
            .scoped::<account::Entity>()
            .scoped::<lead::Entity>()
            .scoped_by::<call::Entity>("company_id")
            .build()
            .expect("the registry builds");
        Fixture {
            raw,
            registry,
            backend,
        }
    }

    /// Puts the database back to the seed, for a test that writes once per
    /// tenant: each tenant's writes must meet the other tenants' seed rows,
    /// or a later iteration could pass without scoping.
    async fn reseed(&self) {
        for (table, _) in TABLES {
            exec(&self.raw, &format!("DELETE FROM {table}")).await;
        }
        seed(&self.raw).await;
    }

    /// A connection scoped to tenant `t`.
    fn conn(&self, t: i64) -> TenantConnection {
        TenantConnection::new(self.raw.clone(), self.registry.clone(), t)
    }

    /// The oracle: tenant `t`'s rows, read on the raw connection with a
    /// hand-written tenant filter, by id.
    async fn own(&self, t: i64) -> Own {
        let raw = &self.raw;
        Own {
            accounts: account::Entity::find()
                .filter(account::Column::EntityId.eq(t))
                .order_by_asc(account::Column::Id)
                .all(raw)
                .await
                .expect("raw accounts"),
            leads: lead::Entity::find()
                .filter(lead::Column::EntityId.eq(t))
                .order_by_asc(lead::Column::Id)
                .all(raw)
                .await
                .expect("raw leads"),
            calls: call::Entity::find()
                .filter(call::Column::CompanyId.eq(t))
                .order_by_asc(call::Column::Id)
                .all(raw)
                .await
                .expect("raw calls"),
        }
    }

    /// Every row of every tenant except `t`, rendered as text, all tables.
    async fn others(&self, t: i64) -> Vec<Vec<Vec<String>>> {
        let mut all = Vec::new();
        for (table, column) in TABLES {
            all.push(
                rows(
                    &self.raw,
                    &format!("SELECT * FROM {table} WHERE {column} <> {t} ORDER BY id"),
                )
                .await,
            );
        }
        all
    }

    /// Every row of the database, rendered as text, all tables.
    async fn everything(&self) -> Vec<Vec<Vec<String>>> {
        let mut all = Vec::new();
        for (table, _) in TABLES {
            all.push(rows(&self.raw, &format!("SELECT * FROM {table} ORDER BY id")).await);
        }
        all
    }

    /// One lead by id, read raw (any tenant).
    async fn raw_lead(&self, id: i32) -> Option<lead::Model> {
        lead::Entity::find_by_id(id)
            .one(&self.raw)
            .await
            .expect("raw lead")
    }

    /// A seeded lead of a tenant other than `t`, read raw.
    async fn foreign_lead(&self, t: i64) -> lead::Model {
        let id = LEADS
            .iter()
            .find(|l| l.1 != t)
            .map(|l| l.0)
            .expect("a foreign lead");
        self.raw_lead(id).await.expect("seeded")
    }

    /// Some other seeded tenant than `t`.
    fn other_than(t: i64) -> i64 {
        if t == 1 { 2 } else { 1 }
    }
}

/// One tenant's rows, as the oracle read them.
#[derive(Debug, Clone, PartialEq)]
struct Own {
    accounts: Vec<account::Model>,
    leads: Vec<lead::Model>,
    calls: Vec<call::Model>,
}

impl Own {
    fn account(&self, id: Option<i32>) -> Option<account::Model> {
        let id = id?;
        self.accounts.iter().find(|a| a.id == id).cloned()
    }

    fn lead(&self, id: i32) -> Option<lead::Model> {
        self.leads.iter().find(|l| l.id == id).cloned()
    }

    fn leads_of(&self, account: i32) -> Vec<lead::Model> {
        self.leads
            .iter()
            .filter(|l| l.account_id == Some(account))
            .cloned()
            .collect()
    }

    fn calls_of(&self, lead: i32) -> Vec<call::Model> {
        self.calls
            .iter()
            .filter(|c| c.lead_id == Some(lead))
            .cloned()
            .collect()
    }
}

/// The refusal inside `err`, or a panic that shows what came back instead.
fn refusal(err: &DbErr) -> &Refusal {
    Refusal::from_db_err(err).unwrap_or_else(|| panic!("expected a refusal, got: {err}"))
}

/// Asserts `err` is a foreign-tenant refusal on `table`.`entity_id`.
fn assert_foreign_tenant(err: &DbErr, table: &str) {
    match refusal(err) {
        Refusal::ForeignTenant { table: t, column } => {
            assert_eq!((t.as_str(), column.as_str()), (table, "entity_id"));
        }
        other => panic!("expected ForeignTenant on {table}, got {other:?}"),
    }
}

/// The sorted ids of some models, for short messages.
fn lead_ids(leads: &[lead::Model]) -> Vec<i32> {
    leads.iter().map(|l| l.id).collect()
}
