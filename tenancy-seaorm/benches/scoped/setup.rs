//! Seeding, and a fixture per backend: null, SQLite, PostgreSQL, PostgreSQL in RLS mode.

use std::hint::black_box;

use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, ExecResult, QueryFilter, QueryOrder, QueryResult, QuerySelect, Set, Statement,
};
use tenancy_seaorm::{RowLevelSecurity, TenantConnection};
use tenancy_testkit::fixtures::{Schema, account, lead};

use crate::fixture::{Fixture, registry};
use crate::{ACCOUNTS_PER_TENANT, LEADS_PER_TENANT, SEEDED_LEADS, STATUSES, TENANT, TENANTS};

/// `n` as an id or score column's INTEGER.
fn id32(n: i64) -> i32 {
    i32::try_from(n).expect("fits an INTEGER column")
}

/// Creates the tables (the testkit's fixtures) and seeds `TENANTS` tenants,
/// interleaved so that each tenant's rows are spread over the table as in
/// real life.
async fn seed(db: &DatabaseConnection) {
    let schema = match db.get_database_backend() {
        // SQLite fills in a missing `INTEGER PRIMARY KEY` by itself, without
        // the extra write per insert that AUTOINCREMENT costs.
        DbBackend::Sqlite => Schema::new(),
        _ => Schema::new().generated_ids(1),
    };
    schema.create(db).await;

    // Account k belongs to tenant k % TENANTS + 1 and has id k + 1.
    let accounts: Vec<_> = (0..TENANTS * ACCOUNTS_PER_TENANT)
        .map(|k| account::ActiveModel {
            id: Set(id32(k + 1)),
            entity_id: Set(k % TENANTS + 1),
            name: Set(format!("account {k}")),
            ..Default::default()
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
                account_id: Set(Some(id32(account))),
                name: Set(format!("lead {j}")),
                status: Set(STATUSES[(j / TENANTS) as usize % STATUSES.len()].to_owned()),
                score: Set(Some(id32(j * 10))),
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
        account_id: middle.account_id.expect("every seeded lead has an account"),
        update_ids: (lo, lo + id32(TENANTS * 5 - 1)),
    };
    fixture.check_sides_agree().await;
    fixture
}

/// A connection that answers every query at once with no rows, so what is
/// left of a read's cost is SeaORM's and the wrapper's: building the
/// statement, the plan-cache lookup and bind, the span, the boxed futures.
#[derive(Debug, Clone, Copy)]
pub(super) struct NullConnection;

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

pub(super) fn null_fixture() -> Fixture<NullConnection> {
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

pub(super) async fn sqlite() -> Fixture {
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
pub(super) async fn postgres_schema(url: &str) -> (DatabaseConnection, String) {
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
pub(super) async fn postgres(url: &str, schema: &str) -> Fixture {
    let mut opt = ConnectOptions::new(url);
    opt.max_connections(2)
        .min_connections(1)
        .set_schema_search_path(schema)
        .sqlx_logging(false);
    let db = Database::connect(opt).await.expect("connect with schema");
    fixture("postgres", db).await
}

/// The application role of the RLS comparison.
pub(super) fn rls_role() -> String {
    format!("bench_app_{}", std::process::id())
}

/// Puts the policies on `pg`'s tables and returns a fixture whose scoped
/// connection is in RLS mode, as a non-superuser role; its `db` is the
/// superuser pool, so its hand side and its checks see every row.
pub(super) async fn postgres_rls(
    url: &str,
    schema: &str,
    pg: &Fixture,
) -> (Fixture, DatabaseConnection) {
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
