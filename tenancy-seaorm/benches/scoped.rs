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
//! index on `leads (entity_id, id)`. About four minutes on two cores.
//!
//! ```text
//! TENANCY_POSTGRES_URL=postgres://root@127.0.0.1:5432/test \
//!     cargo bench -p tenancy-seaorm --bench scoped
//! ```

use std::{
    future::Future,
    hint::black_box,
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use criterion::Criterion;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, ExecResult, QueryFilter, QueryOrder, QueryResult, QuerySelect,
    QueryTrait, Set, Statement, TransactionTrait, sea_query::Expr,
};
use sqlparser::{
    dialect::{Dialect, PostgreSqlDialect, SQLiteDialect},
    parser::Parser,
};
use tenancy_seaorm::{RowLevelSecurity, TableRegistry, TenantConnection};
use tokio::runtime::Runtime;

mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub entity_id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod lead {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leads")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub entity_id: i64,
        pub account_id: i64,
        pub name: String,
        pub status: String,
        pub amount: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::account::Entity",
            from = "Column::AccountId",
            to = "super::account::Column::Id"
        )]
        Account,
    }

    impl Related<super::account::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Account.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Hand,
    Scoped,
}

#[derive(Debug, Clone, Copy)]
enum Case {
    FindById,
    ListJoin50,
    UpdateMany,
    Insert,
}

impl Case {
    /// In run order: inserts last, since they grow the table.
    const ALL: [Case; 4] = [
        Case::FindById,
        Case::ListJoin50,
        Case::UpdateMany,
        Case::Insert,
    ];

    /// The cases the null connection can answer.
    const READS: [Case; 2] = [Case::FindById, Case::ListJoin50];

    fn name(self) -> &'static str {
        match self {
            Case::FindById => "find_by_id",
            Case::ListJoin50 => "list_join_50",
            Case::UpdateMany => "update_many",
            Case::Insert => "insert",
        }
    }
}

/// One database, seeded, with both ways of reaching it.
struct Fixture<C = DatabaseConnection> {
    backend: &'static str,
    db: C,
    scoped: TenantConnection<C>,
    registry: TableRegistry,
    /// A lead that belongs to `TENANT`.
    lead_id: i64,
    /// An account that belongs to `TENANT`, for inserts.
    account_id: i64,
    /// An id range holding a handful of `TENANT`'s leads (and others').
    update_ids: (i64, i64),
}

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped::<account::Entity>()
        .scoped::<lead::Entity>()
        .build()
        .expect("registry")
}

fn find_by_id_query(side: Side, id: i64) -> sea_orm::Select<lead::Entity> {
    let query = lead::Entity::find_by_id(id);
    match side {
        Side::Hand => query.filter(lead::Column::EntityId.eq(TENANT)),
        Side::Scoped => query,
    }
}

fn list_query(side: Side) -> sea_orm::SelectTwo<lead::Entity, account::Entity> {
    let query = lead::Entity::find();
    // By hand one filters the table listed; the scoped rewrite also filters
    // the joined accounts, which the foreign key makes redundant here.
    let query = match side {
        Side::Hand => query.filter(lead::Column::EntityId.eq(TENANT)),
        Side::Scoped => query,
    };
    query
        .find_also_related(account::Entity)
        .filter(lead::Column::Status.eq(LIST_STATUS))
        .order_by_asc(lead::Column::Id)
        .limit(LIST_LEN)
}

fn update_query(side: Side, (lo, hi): (i64, i64)) -> sea_orm::UpdateMany<lead::Entity> {
    let query = lead::Entity::update_many()
        .col_expr(lead::Column::Amount, Expr::value(7_i64))
        .filter(lead::Column::Id.between(lo, hi));
    match side {
        Side::Hand => query.filter(lead::Column::EntityId.eq(TENANT)),
        Side::Scoped => query,
    }
}

/// A lead to insert; by hand the caller sets the tenant column too.
fn new_lead(side: Side, account_id: i64) -> lead::ActiveModel {
    let mut row = lead::ActiveModel {
        account_id: Set(account_id),
        name: Set("bench".to_owned()),
        status: Set("bench".to_owned()),
        amount: Set(1),
        ..Default::default()
    };
    if side == Side::Hand {
        row.entity_id = Set(TENANT);
    }
    row
}

impl<C: ConnectionTrait + Send + Sync> Fixture<C> {
    async fn run(&self, case: Case, side: Side) {
        match case {
            Case::FindById => {
                let query = find_by_id_query(side, self.lead_id);
                let row = match side {
                    Side::Hand => query.one(&self.db).await,
                    Side::Scoped => query.one(&self.scoped).await,
                };
                black_box(row.expect("find_by_id"));
            }
            Case::ListJoin50 => {
                let query = list_query(side);
                let rows = match side {
                    Side::Hand => query.all(&self.db).await,
                    Side::Scoped => query.all(&self.scoped).await,
                };
                black_box(rows.expect("list"));
            }
            Case::UpdateMany => {
                black_box(self.update(side).await.expect("update_many"));
            }
            Case::Insert => {
                let row = new_lead(side, self.account_id);
                let inserted = match side {
                    Side::Hand => row.insert(&self.db).await,
                    Side::Scoped => row.insert(&self.scoped).await,
                };
                black_box(inserted.expect("insert"));
            }
        }
    }

    async fn update(&self, side: Side) -> Result<sea_orm::UpdateResult, DbErr> {
        let query = update_query(side, self.update_ids);
        match side {
            Side::Hand => query.exec(&self.db).await,
            Side::Scoped => query.exec(&self.scoped).await,
        }
    }

    /// Removes the rows the insert case added, so later cases see the
    /// seeded table.
    async fn drop_inserted(&self) {
        lead::Entity::delete_many()
            .filter(lead::Column::Id.gt(SEEDED_LEADS))
            .exec(&self.db)
            .await
            .expect("delete inserted rows");
    }

    /// Both sides must do the same work, or the comparison means nothing.
    async fn check_sides_agree(&self) {
        let find = |side| find_by_id_query(side, self.lead_id);
        let hand = find(Side::Hand).one(&self.db).await.expect("find");
        let scoped = find(Side::Scoped).one(&self.scoped).await.expect("find");
        assert!(hand.is_some(), "the lead exists");
        assert_eq!(hand, scoped, "find_by_id differs");

        let hand = list_query(Side::Hand).all(&self.db).await.expect("list");
        let scoped = list_query(Side::Scoped)
            .all(&self.scoped)
            .await
            .expect("list");
        assert_eq!(hand.len() as u64, LIST_LEN);
        assert!(hand.iter().all(|(_, a)| a.is_some()), "every lead joined");
        assert_eq!(hand, scoped, "list differs");

        let (lo, hi) = self.update_ids;
        let touched = lead::Entity::find()
            .filter(lead::Column::Id.between(lo, hi))
            .filter(lead::Column::EntityId.eq(TENANT))
            .all(&self.db)
            .await
            .expect("count");
        for side in [Side::Hand, Side::Scoped] {
            assert_eq!(
                self.update(side).await.expect("update").rows_affected,
                touched.len() as u64,
                "update_many ({side:?}) touched the wrong rows"
            );
        }

        let inserted = new_lead(Side::Scoped, self.account_id)
            .insert(&self.scoped)
            .await
            .expect("insert");
        assert_eq!(inserted.entity_id, TENANT, "the insert is stamped");
        self.drop_inserted().await;
    }
}

/// Creates the tables and seeds `TENANTS` tenants, interleaved so that each
/// tenant's rows are spread over the table as in real life.
async fn seed(db: &DatabaseConnection) {
    let ddl: &[&str] = match db.get_database_backend() {
        DbBackend::Postgres => &[
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, entity_id BIGINT NOT NULL, \
             name TEXT NOT NULL)",
            "CREATE INDEX accounts_entity_id_id ON accounts (entity_id, id)",
            "CREATE TABLE leads (id BIGSERIAL PRIMARY KEY, entity_id BIGINT NOT NULL, \
             account_id BIGINT NOT NULL REFERENCES accounts (id), name TEXT NOT NULL, \
             status TEXT NOT NULL, amount BIGINT NOT NULL)",
            "CREATE INDEX leads_entity_id_id ON leads (entity_id, id)",
        ],
        _ => &[
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, entity_id INTEGER NOT NULL, \
             name TEXT NOT NULL)",
            "CREATE INDEX accounts_entity_id_id ON accounts (entity_id, id)",
            "CREATE TABLE leads (id INTEGER PRIMARY KEY, entity_id INTEGER NOT NULL, \
             account_id INTEGER NOT NULL REFERENCES accounts (id), name TEXT NOT NULL, \
             status TEXT NOT NULL, amount INTEGER NOT NULL)",
            "CREATE INDEX leads_entity_id_id ON leads (entity_id, id)",
        ],
    };
    for sql in ddl {
        db.execute_unprepared(sql).await.expect("create table");
    }

    // Account k belongs to tenant k % TENANTS + 1 and has id k + 1.
    let accounts: Vec<_> = (0..TENANTS * ACCOUNTS_PER_TENANT)
        .map(|k| account::ActiveModel {
            id: Set(k + 1),
            entity_id: Set(k % TENANTS + 1),
            name: Set(format!("account {k}")),
        })
        .collect();
    for chunk in accounts.chunks(500) {
        account::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .expect("seed accounts");
    }

    // Lead j belongs to tenant t = j % TENANTS + 1 and to one of t's accounts.
    let leads: Vec<_> = (0..SEEDED_LEADS)
        .map(|j| {
            let tenant = j % TENANTS + 1;
            let account = (j / TENANTS) % ACCOUNTS_PER_TENANT * TENANTS + tenant;
            lead::ActiveModel {
                entity_id: Set(tenant),
                account_id: Set(account),
                name: Set(format!("lead {j}")),
                status: Set(STATUSES[(j / TENANTS) as usize % STATUSES.len()].to_owned()),
                amount: Set(j * 10),
                ..Default::default()
            }
        })
        .collect();
    for chunk in leads.chunks(500) {
        lead::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .expect("seed leads");
    }
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ANALYZE").await.expect("analyze");
    }
}

async fn fixture(backend: &'static str, db: DatabaseConnection) -> Fixture {
    seed(&db).await;
    let ours = lead::Entity::find()
        .filter(lead::Column::EntityId.eq(TENANT))
        .order_by_asc(lead::Column::Id);
    let middle = ours
        .clone()
        .offset(LEADS_PER_TENANT as u64 / 2)
        .one(&db)
        .await
        .expect("pick a lead")
        .expect("seeded");
    // 15 consecutive ids: 5 of them are ours.
    let lo = middle.id;
    let registry = registry();
    let fixture = Fixture {
        backend,
        scoped: TenantConnection::new(db.clone(), registry.clone(), TENANT),
        db,
        registry,
        lead_id: middle.id,
        account_id: middle.account_id,
        update_ids: (lo, lo + TENANTS * 5 - 1),
    };
    fixture.check_sides_agree().await;
    fixture
}

/// A connection that answers every query at once with no rows, so what is
/// left of a read's cost is SeaORM's and the wrapper's: building the
/// statement, the plan-cache lookup and bind, the span, the boxed futures.
#[derive(Debug, Clone, Copy)]
struct NullConnection;

#[async_trait::async_trait]
impl ConnectionTrait for NullConnection {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, _: Statement) -> Result<ExecResult, DbErr> {
        Err(DbErr::Custom("the null connection only reads".into()))
    }

    async fn execute_unprepared(&self, _: &str) -> Result<ExecResult, DbErr> {
        Err(DbErr::Custom("the null connection only reads".into()))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        black_box(stmt);
        Ok(None)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        black_box(stmt);
        Ok(Vec::new())
    }
}

fn null_fixture() -> Fixture<NullConnection> {
    let registry = registry();
    Fixture {
        backend: "null",
        db: NullConnection,
        scoped: TenantConnection::new(NullConnection, registry.clone(), TENANT),
        registry,
        lead_id: 1_000,
        account_id: 1,
        update_ids: (1_000, 1_014),
    }
}

async fn sqlite() -> Fixture {
    let mut opt = ConnectOptions::new("sqlite::memory:");
    // One connection, kept open: every connection to `:memory:` is its own
    // database.
    opt.max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .sqlx_logging(false);
    let db = Database::connect(opt).await.expect("open sqlite");
    fixture("sqlite", db).await
}

/// A fresh schema `bench_<pid>` on the server at `url`, and the connection
/// to drop it with.
async fn postgres_schema(url: &str) -> (DatabaseConnection, String) {
    let schema = format!("bench_{}", std::process::id());
    let mut opt = ConnectOptions::new(url);
    opt.max_connections(1).sqlx_logging(false);
    let admin = Database::connect(opt)
        .await
        .expect("connect to TENANCY_POSTGRES_URL");
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        admin.execute_unprepared(&sql).await.expect("create schema");
    }
    (admin, schema)
}

/// A PostgreSQL fixture in `schema`.
async fn postgres(url: &str, schema: &str) -> Fixture {
    let mut opt = ConnectOptions::new(url);
    opt.max_connections(2)
        .min_connections(1)
        .set_schema_search_path(schema)
        .sqlx_logging(false);
    let db = Database::connect(opt).await.expect("connect with schema");
    fixture("postgres", db).await
}

/// The application role of the RLS comparison.
fn rls_role() -> String {
    format!("bench_app_{}", std::process::id())
}

/// Puts the policies on `pg`'s tables and returns a fixture whose scoped
/// connection is in RLS mode, as a non-superuser role; its `db` is the
/// superuser pool, so its hand side and its checks see every row.
async fn postgres_rls(url: &str, schema: &str, pg: &Fixture) -> (Fixture, DatabaseConnection) {
    let role = rls_role();
    for sql in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
    ] {
        pg.db
            .execute_unprepared(&sql)
            .await
            .expect("set up the role");
    }
    RowLevelSecurity::new()
        .apply(&pg.db, &pg.registry)
        .await
        .expect("apply the policies");
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let mut opt = ConnectOptions::new(format!("{scheme}://{role}@{host}"));
    opt.max_connections(2)
        .min_connections(1)
        .set_schema_search_path(schema)
        .sqlx_logging(false);
    let app = Database::connect(opt)
        .await
        .expect("connect as the app role");
    let verified = RowLevelSecurity::new()
        .boot_check(&app, &pg.registry)
        .await
        .expect("the boot check passes");
    let fixture = Fixture {
        backend: "pg-rls",
        db: pg.db.clone(),
        scoped: TenantConnection::new(app.clone(), pg.registry.clone(), TENANT).with_rls(&verified),
        registry: pg.registry.clone(),
        lead_id: pg.lead_id,
        account_id: pg.account_id,
        update_ids: pg.update_ids,
    };
    // The same answers as the hand-written queries, through the policies.
    fixture.check_sides_agree().await;
    (fixture, app)
}

impl Fixture {
    /// A short unit of work in one explicit transaction: a lookup, then an
    /// update of a handful of rows. In RLS mode the tenant is set once, at
    /// `begin`, instead of once per statement.
    async fn transaction(&self) {
        let txn = self.scoped.begin().await.expect("begin");
        let row = find_by_id_query(Side::Scoped, self.lead_id).one(&txn).await;
        black_box(row.expect("find_by_id in a transaction"));
        let updated = update_query(Side::Scoped, self.update_ids).exec(&txn).await;
        black_box(updated.expect("update_many in a transaction"));
        txn.commit().await.expect("commit");
    }
}

/// Criterion groups `<case>/postgres-modes`: `rewrite_only` and `rls`.
fn bench_modes(c: &mut Criterion, rt: &Runtime, rewrite: &Fixture, rls: &Fixture) {
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

/// Summary rows `rls_<case>`: base = rewrite-only, subject = RLS mode,
/// interleaved like the others.
async fn summarize_modes(rewrite: &Fixture, rls: &Fixture, rows: &mut Vec<Row>) {
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

/// The SQL a `TenantConnection` receives for the two read cases, and the
/// `sqlparser` dialect that backend's rewrite parses it with.
fn read_statements(backend: DbBackend) -> [(&'static str, Statement); 2] {
    [
        (
            "find_by_id",
            find_by_id_query(Side::Scoped, 1).build(backend),
        ),
        ("list_join_50", list_query(Side::Scoped).build(backend)),
    ]
}

fn dialect(backend: DbBackend) -> &'static dyn Dialect {
    match backend {
        DbBackend::Postgres => &PostgreSqlDialect {},
        _ => &SQLiteDialect {},
    }
}

fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgres",
        _ => "sqlite",
    }
}

fn bench_database<C: ConnectionTrait + Send + Sync>(
    c: &mut Criterion,
    rt: &Runtime,
    f: &Fixture<C>,
    cases: &[Case],
) {
    for &case in cases {
        let mut group = c.benchmark_group(format!("{}/{}", case.name(), f.backend));
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

fn bench_rewrite(c: &mut Criterion, registry: &TableRegistry, backend: DbBackend) {
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

/// One line of the summary, in microseconds.
struct Row {
    case: String,
    backend: &'static str,
    base_us: f64,
    subject_us: f64,
    /// The interquartile range of the per-block ratios: how much of the
    /// ratio is noise.
    ratio_iqr: (f64, f64),
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

async fn summarize_database<C: ConnectionTrait + Send + Sync>(
    f: &Fixture<C>,
    cases: &[Case],
    rows: &mut Vec<Row>,
) {
    for &case in cases {
        let blocks = interleaved(|side| f.run(case, side)).await;
        rows.push(blocks.row(case.name().to_owned(), f.backend));
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
async fn summarize_controls(f: &Fixture, rows: &mut Vec<Row>) {
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

fn summarize_rewrite(registry: &TableRegistry, backend: DbBackend, rows: &mut Vec<Row>) {
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
fn rewritten_sql(f: &Fixture) -> Vec<String> {
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
async fn plans(f: &Fixture) -> Vec<String> {
    let backend = f.db.get_database_backend();
    let (explain, column) = match backend {
        DbBackend::Postgres => ("EXPLAIN", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN", "detail"),
    };
    let mut lines = Vec::new();
    for side in [Side::Hand, Side::Scoped] {
        let statements = [
            (
                "find_by_id",
                find_by_id_query(side, f.lead_id).build(backend),
            ),
            ("list_join_50", list_query(side).build(backend)),
            (
                "update_many",
                update_query(side, f.update_ids).build(backend),
            ),
        ];
        for (name, stmt) in statements {
            let stmt = match side {
                Side::Hand => stmt,
                Side::Scoped => f
                    .registry
                    .scope_statement(stmt, TENANT.into())
                    .expect("scopes"),
            };
            let explained = Statement {
                sql: format!("{explain} {}", stmt.sql),
                ..stmt
            };
            let plan: Vec<String> =
                f.db.query_all_raw(explained)
                    .await
                    .expect("explain")
                    .iter()
                    .map(|row| row.try_get::<String>("", column).expect("plan line"))
                    .map(|line| line.trim().to_owned())
                    .collect();
            lines.push(format!(
                "{} {name} {side:?} plan: {}",
                f.backend,
                plan.join(" | ")
            ));
        }
    }
    lines
}

fn print_summary(rows: &[Row]) {
    println!();
    println!(
        "summary: medians of {BLOCKS} interleaved blocks x {PER_BLOCK} runs per side, this run"
    );
    println!(
        "  database cases: hand = plain connection + hand-written filter, scoped = TenantConnection (warm cache)"
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
fn measure<C: ConnectionTrait + Send + Sync>(
    c: &mut Criterion,
    rt: &Runtime,
    f: &Fixture<C>,
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

    let lite = rt.block_on(sqlite());
    measure(&mut c, &rt, &lite, &Case::ALL, rows.as_mut());
    if let Some(rows) = rows.as_mut() {
        rt.block_on(summarize_controls(&lite, rows));
    }
    let mut notes = rewritten_sql(&lite);
    notes.extend(rt.block_on(plans(&lite)));

    let postgres_url = std::env::var("TENANCY_POSTGRES_URL").unwrap_or_default();
    if !postgres_url.is_empty() {
        let (admin, schema) = rt.block_on(postgres_schema(&postgres_url));
        // Drop the schema even if a benchmark panics.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let pg = rt.block_on(postgres(&postgres_url, &schema));
            measure(&mut c, &rt, &pg, &Case::ALL, rows.as_mut());
            if let Some(rows) = rows.as_mut() {
                rt.block_on(summarize_controls(&pg, rows));
            }
            notes.extend(rewritten_sql(&pg));
            notes.extend(rt.block_on(plans(&pg)));
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
