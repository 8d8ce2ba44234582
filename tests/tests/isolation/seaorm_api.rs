//! SeaORM's own APIs through a [`TenantConnection`], end to end, on every
//! backend this run has.
//!
//! Each test seeds three tenants whose rows overlap in every way a query could
//! trip over (same names, same statuses, foreign keys that point at another
//! tenant's rows), then uses one SeaORM API through a tenant connection and
//! checks it against an oracle that does not involve the library:
//!
//! - reads are compared with the tenant's rows read on the raw connection with
//!   a hand-written `entity_id = t` filter (joins: every joined table filtered,
//!   the join then done in Rust), i.e. with the same query run on D|t;
//! - writes are checked by reading every other tenant's rows (raw, all tables)
//!   before and after, which must be identical, and the tenant's own rows,
//!   which must change exactly as expected.
//!
//! Every check is chosen so that it fails if the connection did not scope: the
//! filters match other tenants' rows, the ids belong to other tenants, the
//! foreign keys cross tenants.

use futures_util::TryStreamExt as _;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, JoinType, LoaderTrait, ModelTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, SelectExt, Set, TransactionError,
    TransactionTrait,
};
use tenancy_core::TenantContext;
use tenancy_seaorm::{Refusal, TableRegistry, TenantConnection};

use tenancy_testkit::{Backend, exec, for_each_backend, rows};

// ---------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------

mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub entity_id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::lead::Entity")]
        Leads,
    }

    impl Related<super::lead::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Leads.def()
        }
    }

    /// accounts -> leads -> calls, a two-hop relation (two joins).
    impl Related<super::call::Entity> for Entity {
        fn to() -> RelationDef {
            super::lead::Relation::Calls.def()
        }

        fn via() -> Option<RelationDef> {
            Some(super::lead::Relation::Account.def().rev())
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

mod lead {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leads")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub entity_id: i64,
        pub account_id: Option<i32>,
        pub name: String,
        pub status: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::account::Entity",
            from = "Column::AccountId",
            to = "super::account::Column::Id"
        )]
        Account,
        #[sea_orm(has_many = "super::call::Entity")]
        Calls,
    }

    impl Related<super::account::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Account.def()
        }
    }

    impl Related<super::call::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Calls.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

mod call {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calls")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub entity_id: i64,
        pub lead_id: i32,
        pub disposition: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::lead::Entity",
            from = "Column::LeadId",
            to = "super::lead::Column::Id"
        )]
        Lead,
    }

    impl Related<super::lead::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Lead.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

/// The seeded tenants. Tenant 4 exists in no row: a tenant with nothing.
const TENANTS: [i64; 4] = [1, 2, 3, 4];

const TABLES: [&str; 3] = ["accounts", "leads", "calls"];

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
                "INSERT INTO calls (id, entity_id, lead_id, disposition) \
                     VALUES ({id}, {t}, {lead}, '{disposition}')"
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
    /// Creates the three tables on the raw connection (DDL through a tenant
    /// connection is refused by design) and seeds them.
    async fn new(raw: DatabaseConnection) -> Self {
        let backend = Backend::of(&raw);
        // New rows get ids far from the seeded ones, so a test can't confuse
        // them. SQLite continues after the largest id.
        let (id, suffix) = match backend {
            Backend::Sqlite => ("id INTEGER PRIMARY KEY AUTOINCREMENT", ""),
            Backend::Postgres => (
                "id INTEGER GENERATED BY DEFAULT AS IDENTITY (START WITH 100) PRIMARY KEY",
                "",
            ),
            Backend::MySql => (
                "id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY",
                " AUTO_INCREMENT = 100",
            ),
        };
        exec(
            &raw,
            &format!(
                "CREATE TABLE accounts ({id}, entity_id BIGINT NOT NULL, \
                 name VARCHAR(100) NOT NULL){suffix}"
            ),
        )
        .await;
        exec(
            &raw,
            &format!(
                "CREATE TABLE leads ({id}, entity_id BIGINT NOT NULL, account_id INTEGER NULL, \
                 name VARCHAR(100) NOT NULL, status VARCHAR(20) NOT NULL){suffix}"
            ),
        )
        .await;
        exec(
            &raw,
            &format!(
                "CREATE TABLE calls ({id}, entity_id BIGINT NOT NULL, lead_id INTEGER NOT NULL, \
                 disposition VARCHAR(20) NOT NULL){suffix}"
            ),
        )
        .await;
        seed(&raw).await;
        let registry = TableRegistry::builder()
            .scoped::<account::Entity>()
            .scoped::<lead::Entity>()
            .scoped::<call::Entity>()
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
        for table in TABLES {
            exec(&self.raw, &format!("DELETE FROM {table}")).await;
        }
        seed(&self.raw).await;
    }

    /// A connection scoped to tenant `t`.
    fn conn(&self, t: i64) -> TenantConnection {
        TenantConnection::new(self.raw.clone(), self.registry.clone(), t)
    }

    /// The oracle: tenant `t`'s rows, read on the raw connection with a
    /// hand-written `entity_id = t` filter, by id.
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
                .filter(call::Column::EntityId.eq(t))
                .order_by_asc(call::Column::Id)
                .all(raw)
                .await
                .expect("raw calls"),
        }
    }

    /// Every row of every tenant except `t`, rendered as text, all tables.
    async fn others(&self, t: i64) -> Vec<Vec<Vec<String>>> {
        let mut all = Vec::new();
        for table in TABLES {
            all.push(
                rows(
                    &self.raw,
                    &format!("SELECT * FROM {table} WHERE entity_id <> {t} ORDER BY id"),
                )
                .await,
            );
        }
        all
    }

    /// Every row of the database, rendered as text, all tables.
    async fn everything(&self) -> Vec<Vec<Vec<String>>> {
        let mut all = Vec::new();
        for table in TABLES {
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
            .filter(|c| c.lead_id == lead)
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

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

/// `find` with filters, including ones that name other tenants' rows.
#[tokio::test]
async fn find_with_filters() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let all = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            assert_eq!(all, own.leads, "find().all(), {ctx}");

            // "Alice" and "won" exist in other tenants too.
            let alice_or_won = lead::Entity::find()
                .filter(
                    Condition::any()
                        .add(lead::Column::Name.eq("Alice"))
                        .add(lead::Column::Status.eq("won")),
                )
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .filter(|l| l.name == "Alice" || l.status == "won")
                .cloned()
                .collect();
            assert_eq!(alice_or_won, expected, "OR filter, {ctx}");

            // An OR that names another tenant outright.
            let other = Fixture::other_than(t);
            let widened = lead::Entity::find()
                .filter(
                    Condition::any()
                        .add(lead::Column::Name.eq("Alice"))
                        .add(lead::Column::EntityId.eq(other))
                        .add(lead::Column::Id.gt(0)),
                )
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            assert_eq!(widened, own.leads, "OR entity_id = {other}, {ctx}");

            let foreign_only = account::Entity::find()
                .filter(account::Column::EntityId.eq(other))
                .all(&conn)
                .await
                .unwrap();
            assert_eq!(foreign_only, vec![], "entity_id = {other}, {ctx}");

            let acme = account::Entity::find()
                .filter(account::Column::Name.eq("Acme"))
                .one(&conn)
                .await
                .unwrap();
            let expected = own.accounts.iter().find(|a| a.name == "Acme").cloned();
            assert_eq!(acme, expected, "one(), {ctx}");

            let count = call::Entity::find()
                .filter(call::Column::Disposition.ne("nothing"))
                .count(&conn)
                .await
                .unwrap();
            assert_eq!(count, own.calls.len() as u64, "count(), {ctx}");

            let names: Vec<String> = account::Entity::find()
                .select_only()
                .column(account::Column::Name)
                .order_by_asc(account::Column::Id)
                .into_tuple()
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<String> = own.accounts.iter().map(|a| a.name.clone()).collect();
            assert_eq!(names, expected, "into_tuple, {ctx}");
        }
    })
    .await;
}

/// `find_by_id` finds the tenant's own rows and nobody else's.
#[tokio::test]
async fn find_by_id_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            for &(id, owner, ..) in LEADS {
                let found = lead::Entity::find_by_id(id).one(&conn).await.unwrap();
                assert_eq!(
                    found,
                    own.lead(id),
                    "lead {id} of tenant {owner} through tenant {t} on {}",
                    fx.backend,
                );
            }
            for &(id, owner, _) in ACCOUNTS {
                let found = account::Entity::find_by_id(id).one(&conn).await.unwrap();
                assert_eq!(
                    found,
                    own.account(Some(id)),
                    "account {id} of tenant {owner} through tenant {t} on {}",
                    fx.backend,
                );
            }
        }
    })
    .await;
}

/// `find_related` on own and on other tenants' models.
#[tokio::test]
async fn find_related_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);
            // Every account, including other tenants' (read raw): through
            // tenant t, the join sees only t's accounts and t's leads.
            let all_accounts = account::Entity::find().all(&fx.raw).await.unwrap();
            for a in &all_accounts {
                let leads = a
                    .find_related(lead::Entity)
                    .order_by_asc(lead::Column::Id)
                    .all(&conn)
                    .await
                    .unwrap();
                let expected = if own.account(Some(a.id)).is_some() {
                    own.leads_of(a.id)
                } else {
                    Vec::new()
                };
                assert_eq!(
                    lead_ids(&leads),
                    lead_ids(&expected),
                    "account {} -> leads, {ctx}",
                    a.id
                );
                assert_eq!(leads, expected);

                // Two hops: accounts -> leads -> calls.
                let calls = a
                    .find_related(call::Entity)
                    .order_by_asc(call::Column::Id)
                    .all(&conn)
                    .await
                    .unwrap();
                let mut expected: Vec<call::Model> =
                    expected.iter().flat_map(|l| own.calls_of(l.id)).collect();
                expected.sort_by_key(|c| c.id);
                assert_eq!(calls, expected, "account {} -> calls, {ctx}", a.id);
            }
            let all_leads = lead::Entity::find().all(&fx.raw).await.unwrap();
            for l in &all_leads {
                let account = l.find_related(account::Entity).one(&conn).await.unwrap();
                let expected = own.lead(l.id).and_then(|l| own.account(l.account_id));
                assert_eq!(account, expected, "lead {} -> account, {ctx}", l.id);
            }
        }
    })
    .await;
}

/// `find_also_related` and `find_with_related` (LEFT JOINs).
#[tokio::test]
async fn find_also_and_with_related_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let pairs = lead::Entity::find()
                .find_also_related(account::Entity)
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| (l.clone(), own.account(l.account_id)))
                .collect();
            assert_eq!(pairs, expected, "leads find_also_related accounts, {ctx}");

            let pairs = call::Entity::find()
                .find_also_related(lead::Entity)
                .filter(
                    Condition::any()
                        .add(lead::Column::Name.eq("Alice"))
                        .add(lead::Column::Name.is_null()),
                )
                .order_by_asc(call::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .calls
                .iter()
                .map(|c| (c.clone(), own.lead(c.lead_id)))
                .filter(|(_, l)| l.as_ref().is_none_or(|l| l.name == "Alice"))
                .collect();
            assert_eq!(pairs, expected, "calls find_also_related leads, {ctx}");

            let groups = account::Entity::find()
                .find_with_related(lead::Entity)
                .order_by_asc(account::Column::Id)
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .accounts
                .iter()
                .map(|a| (a.clone(), own.leads_of(a.id)))
                .collect();
            assert_eq!(groups, expected, "accounts find_with_related leads, {ctx}");

            let groups = lead::Entity::find()
                .find_with_related(call::Entity)
                .order_by_asc(lead::Column::Id)
                .order_by_asc(call::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| (l.clone(), own.calls_of(l.id)))
                .collect();
            assert_eq!(groups, expected, "leads find_with_related calls, {ctx}");
        }
    })
    .await;
}

/// The loader: `load_one` and `load_many`.
#[tokio::test]
async fn loader_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let leads = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let accounts = leads.load_one(account::Entity, &conn).await.unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| own.account(l.account_id))
                .collect();
            assert_eq!(accounts, expected, "leads load_one accounts, {ctx}");

            let calls = leads.load_many(call::Entity, &conn).await.unwrap();
            let expected: Vec<_> = own.leads.iter().map(|l| own.calls_of(l.id)).collect();
            assert_eq!(calls, expected, "leads load_many calls, {ctx}");

            let accounts = account::Entity::find()
                .order_by_asc(account::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let leads = accounts.load_many(lead::Entity, &conn).await.unwrap();
            let expected: Vec<_> = own.accounts.iter().map(|a| own.leads_of(a.id)).collect();
            assert_eq!(leads, expected, "accounts load_many leads, {ctx}");

            // Models of every tenant (read raw) loaded through tenant t: the
            // related side is still only t's.
            let everyone = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .all(&fx.raw)
                .await
                .unwrap();
            let accounts = everyone.load_one(account::Entity, &conn).await.unwrap();
            let expected: Vec<_> = everyone.iter().map(|l| own.account(l.account_id)).collect();
            assert_eq!(accounts, expected, "all leads load_one accounts, {ctx}");
            let calls = everyone.load_many(call::Entity, &conn).await.unwrap();
            let expected: Vec<_> = everyone.iter().map(|l| own.calls_of(l.id)).collect();
            assert_eq!(calls, expected, "all leads load_many calls, {ctx}");
        }
    })
    .await;
}

/// Explicit `join(JoinType::..., ...)`, with cross-tenant foreign keys.
#[tokio::test]
async fn explicit_joins_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            // LEFT JOIN: a lead whose account belongs to another tenant keeps
            // its row, without the account.
            let pairs = lead::Entity::find()
                .select_also(account::Entity)
                .join(JoinType::LeftJoin, lead::Relation::Account.def())
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| (l.clone(), own.account(l.account_id)))
                .collect();
            assert_eq!(pairs, expected, "LEFT JOIN accounts, {ctx}");

            // INNER JOIN over three tables with a filter on the far one:
            // "Acme" accounts exist in tenants 1, 2 and 3.
            let calls = call::Entity::find()
                .join(JoinType::InnerJoin, call::Relation::Lead.def())
                .join(JoinType::InnerJoin, lead::Relation::Account.def())
                .filter(account::Column::Name.eq("Acme"))
                .order_by_asc(call::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .calls
                .iter()
                .filter(|c| {
                    own.lead(c.lead_id)
                        .and_then(|l| own.account(l.account_id))
                        .is_some_and(|a| a.name == "Acme")
                })
                .cloned()
                .collect();
            assert_eq!(calls, expected, "INNER JOIN leads, accounts, {ctx}");

            // select_only + column_as across the join, as tuples.
            let names: Vec<(i32, String, String)> = lead::Entity::find()
                .select_only()
                .column(lead::Column::Id)
                .column(lead::Column::Name)
                .column_as(account::Column::Name, "account_name")
                .join(JoinType::InnerJoin, lead::Relation::Account.def())
                .order_by_asc(lead::Column::Id)
                .into_tuple()
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .filter_map(|l| {
                    let a = own.account(l.account_id)?;
                    Some((l.id, l.name.clone(), a.name))
                })
                .collect();
            assert_eq!(names, expected, "INNER JOIN into_tuple, {ctx}");

            // Asking for another tenant's accounts through the join.
            let other = Fixture::other_than(t);
            let leaked = lead::Entity::find()
                .join(JoinType::InnerJoin, lead::Relation::Account.def())
                .filter(
                    Condition::any()
                        .add(account::Column::EntityId.eq(other))
                        .add(lead::Column::EntityId.eq(other)),
                )
                .all(&conn)
                .await
                .unwrap();
            assert_eq!(leaked, vec![], "join naming tenant {other}, {ctx}");

            // RIGHT-side style: accounts LEFT JOIN leads, counted per account.
            let counts: Vec<(i32, i64)> = account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .column_as(lead::Column::Id.count(), "n")
                .join(JoinType::LeftJoin, account::Relation::Leads.def())
                .group_by(account::Column::Id)
                .order_by_asc(account::Column::Id)
                .into_tuple()
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .accounts
                .iter()
                .map(|a| (a.id, own.leads_of(a.id).len() as i64))
                .collect();
            assert_eq!(counts, expected, "LEFT JOIN + GROUP BY, {ctx}");
        }

        // The cross-tenant foreign key by name: lead 5 of tenant 2 points at
        // account 1 of tenant 1, and tenant 2 must not see it.
        let conn = fx.conn(2);
        let five = lead::Entity::find_by_id(5)
            .find_also_related(account::Entity)
            .one(&conn)
            .await
            .unwrap();
        let five_raw = fx.raw_lead(5).await;
        assert_eq!(five, five_raw.map(|l| (l, None)), "on {}", fx.backend);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// `insert` of an ActiveModel: the tenant column stamped, given as the own
/// tenant, or refused when it names another tenant.
#[tokio::test]
async fn insert_active_model() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in [1, 2, 4] {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;

            // entity_id NotSet: stamped with the tenant.
            let stamped = lead::ActiveModel {
                name: Set("Stamped".into()),
                status: Set("new".into()),
                account_id: Set(None),
                ..Default::default()
            }
            .insert(&conn)
            .await
            .unwrap_or_else(|e| panic!("insert with entity_id NotSet, {ctx}: {e}"));
            assert_eq!(stamped.entity_id, t, "{ctx}");
            assert_eq!(fx.raw_lead(stamped.id).await.as_ref(), Some(&stamped));

            // entity_id Set to the own tenant: allowed.
            let explicit = account::ActiveModel {
                id: NotSet,
                entity_id: Set(t),
                name: Set("Explicit".into()),
            }
            .insert(&conn)
            .await
            .unwrap_or_else(|e| panic!("insert with entity_id = own, {ctx}: {e}"));
            assert_eq!(explicit.entity_id, t, "{ctx}");

            // Entity::insert(..).exec(..), NotSet.
            let result = call::Entity::insert(call::ActiveModel {
                lead_id: Set(stamped.id),
                disposition: Set("answered".into()),
                ..Default::default()
            })
            .exec(&conn)
            .await
            .unwrap_or_else(|e| panic!("Entity::insert, {ctx}: {e}"));
            let call = call::Entity::find_by_id(result.last_insert_id)
                .one(&fx.raw)
                .await
                .unwrap()
                .expect("inserted call");
            assert_eq!(call.entity_id, t, "{ctx}");

            let after = fx.own(t).await;
            let mut expected = before.clone();
            expected.leads.push(stamped);
            expected.accounts.push(explicit);
            expected.calls.push(call);
            assert_eq!(after, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // entity_id Set to another tenant: refused, nothing written.
            let everything = fx.everything().await;
            let other = Fixture::other_than(t);
            let err = lead::ActiveModel {
                entity_id: Set(other),
                name: Set("Planted".into()),
                status: Set("new".into()),
                account_id: Set(None),
                ..Default::default()
            }
            .insert(&conn)
            .await
            .expect_err("an insert naming another tenant must be refused");
            assert_foreign_tenant(&err, "leads");
            let err = account::Entity::insert(account::ActiveModel {
                id: NotSet,
                entity_id: Set(other),
                name: Set("Planted".into()),
            })
            .exec(&conn)
            .await
            .expect_err("an insert naming another tenant must be refused");
            assert_foreign_tenant(&err, "accounts");
            assert_eq!(fx.everything().await, everything, "after refusals, {ctx}");
        }
    })
    .await;
}

/// `insert_many`: every row stamped; one foreign row refuses the whole batch.
#[tokio::test]
async fn insert_many() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in [2, 3] {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;

            let batch = ["Ann", "Ben", "Cid"].map(|name| lead::ActiveModel {
                name: Set(name.into()),
                status: Set("batch".into()),
                account_id: Set(Some(1)),
                ..Default::default()
            });
            lead::Entity::insert_many(batch)
                .exec(&conn)
                .await
                .unwrap_or_else(|e| panic!("insert_many NotSet, {ctx}: {e}"));

            let batch = ["Dot", "Eve"].map(|name| lead::ActiveModel {
                entity_id: Set(t),
                name: Set(name.into()),
                status: Set("batch".into()),
                account_id: Set(None),
                ..Default::default()
            });
            let n = lead::Entity::insert_many(batch)
                .exec_without_returning(&conn)
                .await
                .unwrap_or_else(|e| panic!("insert_many own, {ctx}: {e}"));
            assert_eq!(n, 2, "{ctx}");

            let after = fx.own(t).await;
            let added: Vec<_> = after
                .leads
                .iter()
                .filter(|l| l.status == "batch")
                .map(|l| (l.name.as_str(), l.entity_id))
                .collect();
            assert_eq!(
                added,
                [("Ann", t), ("Ben", t), ("Cid", t), ("Dot", t), ("Eve", t)],
                "{ctx}"
            );
            assert_eq!(after.leads.len(), before.leads.len() + 5, "{ctx}");
            assert_eq!(
                (&after.accounts, &after.calls),
                (&before.accounts, &before.calls)
            );
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // One row of the batch names another tenant: nothing is written.
            let everything = fx.everything().await;
            let other = Fixture::other_than(t);
            let batch = [t, other, t].map(|owner| lead::ActiveModel {
                entity_id: Set(owner),
                name: Set("Mixed".into()),
                status: Set("batch".into()),
                account_id: Set(None),
                ..Default::default()
            });
            let err = lead::Entity::insert_many(batch)
                .exec(&conn)
                .await
                .expect_err("a batch with a foreign row must be refused");
            assert_foreign_tenant(&err, "leads");
            assert_eq!(fx.everything().await, everything, "after refusal, {ctx}");
        }
    })
    .await;
}

/// `update` of an ActiveModel: the own row changes; another tenant's row
/// can't be reached; a row can't be moved to another tenant.
#[tokio::test]
async fn update_active_model() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in [1, 2, 3] {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;

            let mine = before.leads[0].clone();
            let mut am = mine.clone().into_active_model();
            am.name = Set("Renamed".into());
            am.status = Set("won".into());
            let updated = am
                .update(&conn)
                .await
                .unwrap_or_else(|e| panic!("update own lead, {ctx}: {e}"));
            let expected = lead::Model {
                name: "Renamed".into(),
                status: "won".into(),
                ..mine.clone()
            };
            assert_eq!(updated, expected, "{ctx}");
            let mut expected_own = before.clone();
            expected_own.leads[0] = expected.clone();
            assert_eq!(fx.own(t).await, expected_own, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // Another tenant's lead, by its real primary key.
            let everything = fx.everything().await;
            let foreign = fx.foreign_lead(t).await;
            let mut am = foreign.clone().into_active_model();
            am.name = Set("Hijacked".into());
            let err = am
                .update(&conn)
                .await
                .expect_err("updating another tenant's row must fail");
            assert!(
                matches!(err, DbErr::RecordNotUpdated),
                "expected RecordNotUpdated for lead {} through tenant {t}, got {err}",
                foreign.id
            );
            assert_eq!(fx.everything().await, everything, "{ctx}");

            // Moving the own row to another tenant.
            let other = Fixture::other_than(t);
            let mut am = expected.into_active_model();
            am.entity_id = Set(other);
            let err = am
                .update(&conn)
                .await
                .expect_err("moving a row to another tenant must be refused");
            assert_foreign_tenant(&err, "leads");
            // Setting it to the own tenant is allowed (and a no-op).
            let mut am = fx.own(t).await.leads[0].clone().into_active_model();
            am.entity_id = Set(t);
            am.status = Set("lost".into());
            let same = am
                .update(&conn)
                .await
                .unwrap_or_else(|e| panic!("entity_id = own in SET, {ctx}: {e}"));
            assert_eq!(same.entity_id, t);
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
        }
    })
    .await;
}

/// `update_many` with filters that match other tenants' rows.
#[tokio::test]
async fn update_many_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;

            let result = lead::Entity::update_many()
                .col_expr(lead::Column::Status, Expr::value("archived"))
                .filter(lead::Column::Name.eq("Alice"))
                .exec(&conn)
                .await
                .unwrap_or_else(|e| panic!("update_many, {ctx}: {e}"));
            let mut expected = before.clone();
            for l in &mut expected.leads {
                if l.name == "Alice" {
                    l.status = "archived".into();
                }
            }
            let n = before.leads.iter().filter(|l| l.name == "Alice").count() as u64;
            assert_eq!(result.rows_affected, n, "{ctx}");
            assert_eq!(fx.own(t).await, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // A filter that names another tenant, ORed with one that matches
            // everything: still only the own rows.
            let other = Fixture::other_than(t);
            let result = call::Entity::update_many()
                .col_expr(call::Column::Disposition, Expr::value("reviewed"))
                .filter(
                    Condition::any()
                        .add(call::Column::EntityId.eq(other))
                        .add(call::Column::Id.gt(0)),
                )
                .exec(&conn)
                .await
                .unwrap_or_else(|e| panic!("update_many with OR, {ctx}: {e}"));
            assert_eq!(result.rows_affected, before.calls.len() as u64, "{ctx}");
            for c in &mut expected.calls {
                c.disposition = "reviewed".into();
            }
            assert_eq!(fx.own(t).await, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // Moving rows to another tenant: refused, nothing changes.
            let everything = fx.everything().await;
            let err = lead::Entity::update_many()
                .col_expr(lead::Column::EntityId, Expr::value(other))
                .filter(lead::Column::Id.gt(0))
                .exec(&conn)
                .await
                .expect_err("update_many moving rows must be refused");
            assert_foreign_tenant(&err, "leads");
            assert_eq!(fx.everything().await, everything, "after refusal, {ctx}");
        }
    })
    .await;
}

/// `delete_many` with filters that match other tenants' rows, and
/// `delete_by_id` / `Model::delete` on other tenants' rows.
#[tokio::test]
async fn deletes_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;

            // Other tenants' rows by primary key: no effect.
            let everything = fx.everything().await;
            for &(id, owner, ..) in LEADS.iter().filter(|l| l.1 != t) {
                let result = lead::Entity::delete_by_id(id).exec(&conn).await.unwrap();
                assert_eq!(result.rows_affected, 0, "lead {id} of {owner}, {ctx}");
            }
            for &(id, owner, _) in ACCOUNTS.iter().filter(|a| a.1 != t) {
                let model = account::Entity::find_by_id(id)
                    .one(&fx.raw)
                    .await
                    .unwrap()
                    .expect("seeded");
                let result = model.delete(&conn).await.unwrap();
                assert_eq!(result.rows_affected, 0, "account {id} of {owner}, {ctx}");
            }
            assert_eq!(fx.everything().await, everything, "{ctx}");

            // "new" leads exist in every seeded tenant.
            let result = lead::Entity::delete_many()
                .filter(lead::Column::Status.eq("new"))
                .exec(&conn)
                .await
                .unwrap_or_else(|e| panic!("delete_many, {ctx}: {e}"));
            let mut expected = before.clone();
            expected.leads.retain(|l| l.status != "new");
            assert_eq!(
                result.rows_affected,
                (before.leads.len() - expected.leads.len()) as u64,
                "{ctx}"
            );
            assert_eq!(fx.own(t).await, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // Everything, or-ed with another tenant's id.
            let other = Fixture::other_than(t);
            let result = call::Entity::delete_many()
                .filter(
                    Condition::any()
                        .add(call::Column::EntityId.eq(other))
                        .add(call::Column::Id.gt(0)),
                )
                .exec(&conn)
                .await
                .unwrap_or_else(|e| panic!("delete_many with OR, {ctx}: {e}"));
            assert_eq!(result.rows_affected, before.calls.len() as u64, "{ctx}");
            expected.calls.clear();
            assert_eq!(fx.own(t).await, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

            // The own rows by primary key.
            for a in &before.accounts {
                let result = account::Entity::delete_by_id(a.id)
                    .exec(&conn)
                    .await
                    .unwrap();
                assert_eq!(result.rows_affected, 1, "own account {}, {ctx}", a.id);
            }
            assert_eq!(fx.own(t).await.accounts, vec![], "{ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
        }
    })
    .await;
}

/// Upserts (`ON CONFLICT` / `ON DUPLICATE KEY UPDATE`): a conflict with the
/// own row updates it; a conflict with another tenant's row changes nothing.
#[tokio::test]
async fn upserts_are_guarded() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in [1, 2, 3] {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;
            let on_conflict = || {
                OnConflict::column(account::Column::Id)
                    .update_column(account::Column::Name)
                    .to_owned()
            };

            // Conflict with another tenant's row: nothing changes, whatever
            // SeaORM makes of the outcome (rows affected differ by backend).
            // The proposed row is a valid row of t (tenant column given or
            // stamped), so only the upsert's guard stops the update.
            let everything = fx.everything().await;
            let foreign = ACCOUNTS.iter().filter(|a| a.1 != t);
            for (&(id, owner, _), entity_id) in foreign.flat_map(|a| [(a, Set(t)), (a, NotSet)]) {
                let outcome = account::Entity::insert(account::ActiveModel {
                    id: Set(id),
                    entity_id,
                    name: Set("Hijacked".into()),
                })
                .on_conflict(on_conflict())
                .exec_without_returning(&conn)
                .await;
                if let Err(e) = &outcome {
                    assert!(
                        Refusal::from_db_err(e).is_none(),
                        "upsert on account {id} of {owner} refused, {ctx}: {e}"
                    );
                }
                assert_eq!(
                    fx.everything().await,
                    everything,
                    "upsert on account {id} of {owner}, {ctx}"
                );
            }

            // Conflict with the own row: updated, with the tenant column
            // stamped or given.
            for (i, entity_id) in [NotSet, Set(t)].into_iter().enumerate() {
                let mine = before.accounts[i].clone();
                account::Entity::insert(account::ActiveModel {
                    id: Set(mine.id),
                    entity_id,
                    name: Set(format!("Upserted {i}")),
                })
                .on_conflict(on_conflict())
                .exec_without_returning(&conn)
                .await
                .unwrap_or_else(|e| panic!("upsert own row, {ctx}: {e}"));
            }
            let mut expected = before.clone();
            expected.accounts[0].name = "Upserted 0".into();
            expected.accounts[1].name = "Upserted 1".into();
            assert_eq!(fx.own(t).await, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
        }
    })
    .await;
}

/// More of SeaORM's surface: `exists`, cursor pagination, `save`,
/// `ActiveModel::delete`, `ON CONFLICT DO NOTHING`, and (where the backend
/// has it) `UPDATE`/`DELETE ... RETURNING`.
#[tokio::test]
async fn more_apis_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;
            let other = Fixture::other_than(t);

            // `exists`: "Frank" is a lead of tenant 3 only.
            let frank = lead::Entity::find()
                .filter(lead::Column::Name.eq("Frank"))
                .exists(&conn)
                .await
                .unwrap();
            assert_eq!(frank, t == 3, "exists, {ctx}");
            let foreign = account::Entity::find()
                .filter(account::Column::EntityId.eq(other))
                .exists(&conn)
                .await
                .unwrap();
            assert!(!foreign, "exists naming tenant {other}, {ctx}");

            // Cursor pagination.
            let mut cursor = lead::Entity::find().cursor_by(lead::Column::Id);
            let first = cursor.after(0).first(2).all(&conn).await.unwrap();
            let mut seen = first.clone();
            if let Some(last) = first.last() {
                let mut cursor = lead::Entity::find().cursor_by(lead::Column::Id);
                seen.extend(cursor.after(last.id).first(100).all(&conn).await.unwrap());
            }
            assert_eq!(seen, before.leads, "cursor pages, {ctx}");

            // `save`: insert (stamped), then update.
            let saved = lead::ActiveModel {
                name: Set("Saved".into()),
                status: Set("new".into()),
                account_id: Set(None),
                ..Default::default()
            }
            .save(&conn)
            .await
            .unwrap_or_else(|e| panic!("save (insert), {ctx}: {e}"));
            assert_eq!(saved.entity_id.as_ref(), &t, "{ctx}");
            let mut saved = saved;
            saved.status = Set("won".into());
            let saved = saved
                .save(&conn)
                .await
                .unwrap_or_else(|e| panic!("save (update), {ctx}: {e}"));
            let saved_id = *saved.id.as_ref();
            let saved_row = fx.raw_lead(saved_id).await.expect("saved");
            assert_eq!((saved_row.entity_id, saved_row.status.as_str()), (t, "won"));

            // `save` and `delete` of another tenant's row: nothing happens.
            let everything = fx.everything().await;
            let foreign = fx.foreign_lead(t).await;
            let mut am = foreign.clone().into_active_model();
            am.status = Set("hijacked".into());
            let err = am
                .save(&conn)
                .await
                .expect_err("saving another tenant's row must fail");
            assert!(matches!(err, DbErr::RecordNotUpdated), "{ctx}: {err}");
            let result = foreign.into_active_model().delete(&conn).await.unwrap();
            assert_eq!(result.rows_affected, 0, "{ctx}");
            assert_eq!(fx.everything().await, everything, "{ctx}");

            // INSERT ... ON CONFLICT DO NOTHING on another tenant's id.
            for &(id, owner, _) in ACCOUNTS.iter().filter(|a| a.1 != t) {
                let outcome = account::Entity::insert(account::ActiveModel {
                    id: Set(id),
                    entity_id: Set(t),
                    name: Set("Hijacked".into()),
                })
                .on_conflict_do_nothing_on([account::Column::Id])
                .exec(&conn)
                .await;
                if let Err(e) = &outcome {
                    assert!(
                        Refusal::from_db_err(e).is_none(),
                        "DO NOTHING on account {id} of {owner} refused, {ctx}: {e}"
                    );
                }
                assert_eq!(fx.everything().await, everything, "account {id}, {ctx}");
            }

            // RETURNING, where SeaORM uses it.
            if conn.support_returning() {
                let mut returned = lead::Entity::update_many()
                    .col_expr(lead::Column::Status, Expr::value("returned"))
                    .filter(
                        Condition::any()
                            .add(lead::Column::EntityId.eq(other))
                            .add(lead::Column::Name.eq("Alice")),
                    )
                    .exec_with_returning(&conn)
                    .await
                    .unwrap_or_else(|e| panic!("UPDATE RETURNING, {ctx}: {e}"));
                returned.sort_by_key(|l| l.id);
                let expected: Vec<_> = before
                    .leads
                    .iter()
                    .filter(|l| l.name == "Alice")
                    .map(|l| lead::Model {
                        status: "returned".into(),
                        ..l.clone()
                    })
                    .collect();
                assert_eq!(returned, expected, "UPDATE RETURNING, {ctx}");

                let mut deleted = call::Entity::delete_many()
                    .filter(
                        Condition::any()
                            .add(call::Column::EntityId.eq(other))
                            .add(call::Column::Disposition.eq("answered")),
                    )
                    .exec_with_returning(&conn)
                    .await
                    .unwrap_or_else(|e| panic!("DELETE RETURNING, {ctx}: {e}"));
                deleted.sort_by_key(|c| c.id);
                let expected: Vec<_> = before
                    .calls
                    .iter()
                    .filter(|c| c.disposition == "answered")
                    .cloned()
                    .collect();
                assert_eq!(deleted, expected, "DELETE RETURNING, {ctx}");
            }
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

/// `begin` + commit and `begin` + rollback; statements inside are scoped.
#[tokio::test]
async fn begin_commit_and_rollback() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let t = 2;
        let conn = fx.conn(t);
        let ctx = format!("tenant {t} on {}", fx.backend);
        let others = fx.others(t).await;
        let before = fx.own(t).await;

        // Rollback: nothing of it stays.
        let everything = fx.everything().await;
        let txn = conn.begin().await.unwrap();
        assert_eq!(txn.tenant(), t.into());
        lead::ActiveModel {
            name: Set("Temp".into()),
            status: Set("new".into()),
            account_id: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        let result = lead::Entity::delete_many()
            .filter(lead::Column::Name.eq("Alice"))
            .exec(&txn)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{ctx}");
        let seen = lead::Entity::find()
            .order_by_asc(lead::Column::Id)
            .all(&txn)
            .await
            .unwrap();
        let names: Vec<_> = seen.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["Dave", "Erin", "Temp"],
            "inside the transaction, {ctx}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(fx.everything().await, everything, "after rollback, {ctx}");

        // Commit: scoped writes and reads inside, visible after.
        let txn = conn.begin().await.unwrap();
        let inserted = lead::ActiveModel {
            name: Set("Kept".into()),
            status: Set("new".into()),
            account_id: Set(Some(1)),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        assert_eq!(inserted.entity_id, t, "{ctx}");
        let result = lead::Entity::update_many()
            .col_expr(lead::Column::Status, Expr::value("touched"))
            .filter(lead::Column::Status.eq("new"))
            .exec(&txn)
            .await
            .unwrap();
        let n = before.leads.iter().filter(|l| l.status == "new").count() as u64 + 1;
        assert_eq!(result.rows_affected, n, "{ctx}");
        let mut expected = before.clone();
        for l in &mut expected.leads {
            if l.status == "new" {
                l.status = "touched".into();
            }
        }
        expected.leads.push(lead::Model {
            status: "touched".into(),
            ..inserted
        });
        // The tenant's uncommitted rows, joined inside the transaction. Lead
        // "Kept" points at tenant 1's account 1, which stays invisible.
        let pairs = lead::Entity::find()
            .find_also_related(account::Entity)
            .order_by_asc(lead::Column::Id)
            .all(&txn)
            .await
            .unwrap();
        let expected_pairs: Vec<_> = expected
            .leads
            .iter()
            .map(|l| (l.clone(), expected.account(l.account_id)))
            .collect();
        assert_eq!(pairs, expected_pairs, "inside the transaction, {ctx}");
        // A refusal inside the transaction leaves it usable.
        let err = lead::ActiveModel {
            entity_id: Set(1),
            name: Set("Planted".into()),
            status: Set("new".into()),
            account_id: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .expect_err("refused inside the transaction");
        assert_foreign_tenant(&err, "leads");
        let count = lead::Entity::find().count(&txn).await.unwrap();
        assert_eq!(count, before.leads.len() as u64 + 1, "{ctx}");
        txn.commit().await.unwrap();
        assert_eq!(fx.own(t).await, expected, "after commit, {ctx}");
        assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
    })
    .await;
}

/// The `transaction(|txn| Box::pin(async move { .. }))` closure form: Ok
/// commits, Err rolls back, a refusal inside rolls back the whole closure.
#[tokio::test]
async fn transaction_closure() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let t = 3;
        let conn = fx.conn(t);
        let ctx = format!("tenant {t} on {}", fx.backend);
        let others = fx.others(t).await;
        let before = fx.own(t).await;

        let (inserted, seen) = conn
            .transaction::<_, _, DbErr>(|txn| {
                Box::pin(async move {
                    let inserted = account::ActiveModel {
                        id: NotSet,
                        entity_id: NotSet,
                        name: Set("Closure".into()),
                    }
                    .insert(txn)
                    .await?;
                    account::Entity::update_many()
                        .col_expr(account::Column::Name, Expr::value("Acme Corp"))
                        .filter(account::Column::Name.eq("Acme"))
                        .exec(txn)
                        .await?;
                    let seen = account::Entity::find()
                        .order_by_asc(account::Column::Id)
                        .all(txn)
                        .await?;
                    Ok((inserted, seen))
                })
            })
            .await
            .unwrap_or_else(|e| panic!("transaction closure, {ctx}: {e}"));
        assert_eq!(inserted.entity_id, t, "{ctx}");
        let mut expected = before.clone();
        for a in &mut expected.accounts {
            if a.name == "Acme" {
                a.name = "Acme Corp".into();
            }
        }
        expected.accounts.push(inserted);
        assert_eq!(seen, expected.accounts, "read inside the closure, {ctx}");
        assert_eq!(fx.own(t).await, expected, "after commit, {ctx}");
        assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

        // The closure fails: rolled back.
        let everything = fx.everything().await;
        let err = conn
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    account::Entity::delete_many().exec(txn).await?;
                    Err(DbErr::Custom("changed my mind".into()))
                })
            })
            .await
            .expect_err("the closure failed");
        assert!(matches!(
            err,
            TransactionError::Transaction(DbErr::Custom(_))
        ));
        assert_eq!(fx.everything().await, everything, "after Err, {ctx}");

        // A refusal halfway: the earlier write is rolled back too.
        let err = conn
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    lead::Entity::delete_many().exec(txn).await?;
                    account::ActiveModel {
                        id: NotSet,
                        entity_id: Set(1),
                        name: Set("Planted".into()),
                    }
                    .insert(txn)
                    .await?;
                    Ok(())
                })
            })
            .await
            .expect_err("refused inside the closure");
        match &err {
            TransactionError::Transaction(e) => assert_foreign_tenant(e, "accounts"),
            other => panic!("expected the refusal, got {other}"),
        }
        assert_eq!(fx.everything().await, everything, "after refusal, {ctx}");
    })
    .await;
}

/// Nested transactions (savepoints) through `txn.begin()` and the nested
/// closure form.
#[tokio::test]
async fn nested_transactions() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let t = 1;
        let conn = fx.conn(t);
        let ctx = format!("tenant {t} on {}", fx.backend);
        let others = fx.others(t).await;
        let before = fx.own(t).await;

        let outer = conn.begin().await.unwrap();
        let kept = call::ActiveModel {
            lead_id: Set(1),
            disposition: Set("outer".into()),
            ..Default::default()
        }
        .insert(&outer)
        .await
        .unwrap();

        // A savepoint rolled back.
        let inner = outer.begin().await.unwrap();
        assert_eq!(inner.tenant(), t.into());
        call::ActiveModel {
            lead_id: Set(1),
            disposition: Set("inner-rolled-back".into()),
            ..Default::default()
        }
        .insert(&inner)
        .await
        .unwrap();
        call::Entity::delete_many().exec(&inner).await.unwrap();
        assert_eq!(call::Entity::find().count(&inner).await.unwrap(), 0);
        inner.rollback().await.unwrap();
        assert_eq!(
            call::Entity::find().count(&outer).await.unwrap(),
            before.calls.len() as u64 + 1,
            "{ctx}"
        );

        // A savepoint released, with a write whose filter matches others.
        let inner = outer.begin().await.unwrap();
        let result = call::Entity::update_many()
            .col_expr(call::Column::Disposition, Expr::value("inner"))
            .filter(call::Column::Disposition.eq("answered"))
            .exec(&inner)
            .await
            .unwrap();
        let answered = before
            .calls
            .iter()
            .filter(|c| c.disposition == "answered")
            .count() as u64;
        assert_eq!(result.rows_affected, answered, "{ctx}");
        inner.commit().await.unwrap();

        // The nested closure form, failing: its savepoint is rolled back.
        let err = outer
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    call::Entity::delete_many().exec(txn).await?;
                    Err(DbErr::Custom("nested failure".into()))
                })
            })
            .await
            .expect_err("the nested closure failed");
        assert!(matches!(err, TransactionError::Transaction(_)));
        // And succeeding.
        outer
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    account::Entity::update_many()
                        .col_expr(account::Column::Name, Expr::value("Nested"))
                        .filter(account::Column::Name.eq("Acme"))
                        .exec(txn)
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        outer.commit().await.unwrap();

        let mut expected = before.clone();
        for c in &mut expected.calls {
            if c.disposition == "answered" {
                c.disposition = "inner".into();
            }
        }
        expected.calls.push(kept);
        for a in &mut expected.accounts {
            if a.name == "Acme" {
                a.name = "Nested".into();
            }
        }
        assert_eq!(fx.own(t).await, expected, "after commit, {ctx}");
        assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Streams and pagination
// ---------------------------------------------------------------------------

/// `Entity::find().stream(&conn)`, on the connection and in a transaction.
#[tokio::test]
async fn streams_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let streamed: Vec<lead::Model> = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .stream(&conn)
                .await
                .unwrap_or_else(|e| panic!("stream, {ctx}: {e}"))
                .try_collect()
                .await
                .unwrap();
            assert_eq!(streamed, own.leads, "stream, {ctx}");

            let streamed: Vec<call::Model> = call::Entity::find()
                .filter(
                    Condition::any()
                        .add(call::Column::Disposition.eq("answered"))
                        .add(call::Column::EntityId.eq(Fixture::other_than(t))),
                )
                .order_by_asc(call::Column::Id)
                .stream(&conn)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            let expected: Vec<_> = own
                .calls
                .iter()
                .filter(|c| c.disposition == "answered")
                .cloned()
                .collect();
            assert_eq!(streamed, expected, "stream with OR, {ctx}");

            let txn = conn.begin().await.unwrap();
            let streamed: Vec<account::Model> = account::Entity::find()
                .order_by_asc(account::Column::Id)
                .stream(&txn)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            txn.commit().await.unwrap();
            assert_eq!(streamed, own.accounts, "stream in a transaction, {ctx}");
        }
    })
    .await;
}

/// The paginator: `num_items`, `num_pages`, `fetch_page`.
#[tokio::test]
async fn paginator_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let paginator = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .paginate(&conn, 2);
            let items = paginator.num_items().await.unwrap();
            assert_eq!(items, own.leads.len() as u64, "num_items, {ctx}");
            let pages = paginator.num_pages().await.unwrap();
            assert_eq!(
                pages,
                own.leads.len().div_ceil(2) as u64,
                "num_pages, {ctx}"
            );
            let mut fetched = Vec::new();
            for page in 0..pages {
                let rows = paginator.fetch_page(page).await.unwrap();
                assert!(rows.len() <= 2, "{ctx}");
                fetched.extend(rows);
            }
            assert_eq!(fetched, own.leads, "all pages, {ctx}");
            assert_eq!(paginator.fetch_page(pages).await.unwrap(), vec![], "{ctx}");

            // Paginating a join with an OR filter.
            let paginator = call::Entity::find()
                .find_also_related(lead::Entity)
                .filter(
                    Condition::any()
                        .add(lead::Column::Name.eq("Alice"))
                        .add(call::Column::EntityId.eq(Fixture::other_than(t))),
                )
                .order_by_asc(call::Column::Id)
                .paginate(&conn, 1);
            let expected: Vec<_> = own
                .calls
                .iter()
                .filter_map(|c| {
                    let l = own.lead(c.lead_id)?;
                    (l.name == "Alice").then(|| (c.clone(), Some(l)))
                })
                .collect();
            assert_eq!(
                paginator.num_items().await.unwrap(),
                expected.len() as u64,
                "num_items of a join, {ctx}"
            );
            let mut fetched = Vec::new();
            for page in 0..paginator.num_pages().await.unwrap() {
                fetched.extend(paginator.fetch_page(page).await.unwrap());
            }
            assert_eq!(fetched, expected, "pages of a join, {ctx}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// The task-local tenant
// ---------------------------------------------------------------------------

/// `from_current` needs a tenant scope, and uses the scope's tenant.
#[tokio::test]
async fn from_current_uses_the_scope() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let ctx = format!("on {}", fx.backend);

        let err = TenantConnection::from_current(fx.raw.clone(), fx.registry.clone())
            .expect_err("no tenant outside a scope");
        assert_eq!(err, tenancy_core::Error::NoTenant, "{ctx}");

        for t in [1, 2, 3] {
            let own = fx.own(t).await;
            let (tenant, leads, inserted) = TenantContext::new(t)
                .scope(async {
                    let conn = TenantConnection::from_current(fx.raw.clone(), fx.registry.clone())
                        .expect("inside a scope");
                    let leads = lead::Entity::find()
                        .order_by_asc(lead::Column::Id)
                        .all(&conn)
                        .await
                        .unwrap();
                    let inserted = account::ActiveModel {
                        id: NotSet,
                        entity_id: NotSet,
                        name: Set("Scoped".into()),
                    }
                    .insert(&conn)
                    .await
                    .unwrap();
                    (conn.tenant(), leads, inserted)
                })
                .await;
            assert_eq!(tenant, t.into(), "{ctx}");
            assert_eq!(leads, own.leads, "tenant {t} {ctx}");
            assert_eq!(inserted.entity_id, t, "tenant {t} {ctx}");
        }

        // Nested scopes: the inner one wins while it runs.
        let inner_leads = TenantContext::new(1)
            .scope(async {
                TenantContext::new(3)
                    .scope(async {
                        let conn =
                            TenantConnection::from_current(fx.raw.clone(), fx.registry.clone())
                                .unwrap();
                        lead::Entity::find()
                            .order_by_asc(lead::Column::Id)
                            .all(&conn)
                            .await
                            .unwrap()
                    })
                    .await
            })
            .await;
        assert_eq!(inner_leads, fx.own(3).await.leads, "nested scope {ctx}");

        // And after the scope, no tenant again.
        assert!(
            TenantConnection::from_current(fx.raw.clone(), fx.registry.clone()).is_err(),
            "{ctx}"
        );
    })
    .await;
}
