//! PostgreSQL row-level security, the second wall: the policies on their
//! own, a `TenantConnection` in RLS mode, the boot check, and the
//! migration helper.
//!
//! Every test runs as a dedicated role made for it (`tenancy_app_<unique>`,
//! no superuser, no `BYPASSRLS`, dropped at the end) that owns the tables,
//! as an application that runs its own migrations would: so `FORCE ROW
//! LEVEL SECURITY` is what binds it. The seed and the oracle use the
//! superuser connection of the test helper, which sees every row.
//!
//! PostgreSQL only: the tests return at once when `TENANCY_POSTGRES_URL` is
//! not set (and fail in CI, through `tenancy_testkit::backends`).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::TryStreamExt as _;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    StreamTrait, TransactionTrait,
};
use tenancy_seaorm::{
    Refusal, RlsError, RowLevelSecurity, TableRegistry, TenantConnection, VerifiedRls,
};

use tenancy_testkit::{
    Backend, PoliciesOnly, TestDb, backends, exec, fresh_db, rows, rows_sorted, try_rows,
};

/// What a test body gets.
#[derive(Clone)]
struct Rls {
    /// The superuser pool on the test's schema: seeds and checks.
    root: DatabaseConnection,
    /// A pool on the same schema as the application role.
    app: DatabaseConnection,
    role: String,
    registry: TableRegistry,
}

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .scoped_table_by("calls", "company_id")
        .global_table("regions")
        // A function defined in the database that reads a scoped table
        // without a tenant argument: the rewrite can't see inside it, so
        // allowing it is the application's call, and RLS is what scopes it.
        .allow_function("lead_count")
        .build()
        .expect("registry")
}

fn unique_role() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("tenancy_app_{:x}_{n:x}_{nanos:x}", std::process::id())
}

/// `url` with its user replaced (trust authentication on the test server).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{rest}")
}

fn postgres_url() -> Option<String> {
    backends()
        .contains(&Backend::Postgres)
        .then(|| std::env::var(tenancy_testkit::POSTGRES_URL_VAR).expect("checked by backends()"))
}

/// Makes the role, its tables (owned by it), the policies and the seed, runs
/// `body`, then drops everything, also when `body` panics.
async fn with_rls<F, Fut>(setup: RowLevelSecurity, body: F)
where
    F: FnOnce(Rls) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = postgres_url() else { return };
    let db = fresh_db(Backend::Postgres).await;
    let role = unique_role();
    let schema = db.name().to_owned();
    let outcome = async {
        let root = db.conn.clone();
        exec(
            &root,
            &format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"),
        )
        .await;
        exec(&root, &format!("GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}")).await;
        // The application role owns its tables, as when it runs its own
        // migrations: then only FORCE makes the policies bind it.
        let txn = root.begin().await.expect("begin");
        exec(&txn, &format!("SET LOCAL ROLE {role}")).await;
        for sql in [
            "CREATE TABLE regions (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
            "CREATE TABLE leads (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, name TEXT NOT NULL, \
             PRIMARY KEY (entity_id, id))",
            "CREATE TABLE calls (company_id BIGINT NOT NULL, id BIGINT NOT NULL, lead_id BIGINT NOT NULL, \
             PRIMARY KEY (company_id, id), \
             FOREIGN KEY (company_id, lead_id) REFERENCES leads (entity_id, id))",
            // A function the rewrite can't look into: it reads every lead.
            "CREATE FUNCTION lead_count() RETURNS bigint LANGUAGE sql STABLE \
             AS 'SELECT count(*) FROM leads'",
        ] {
            exec(&txn, sql).await;
        }
        txn.commit().await.expect("commit");
        setup.apply(&root, &registry()).await.expect("apply policies");
        // Superuser: the policies don't bind it, so it seeds every tenant.
        exec(&root, "INSERT INTO regions VALUES (1, 'north'), (2, 'south')").await;
        exec(
            &root,
            "INSERT INTO leads VALUES (1, 10, 'a1'), (1, 11, 'b1'), (2, 20, 'a2'), (3, 30, 'a3')",
        )
        .await;
        exec(
            &root,
            "INSERT INTO calls VALUES (1, 100, 10), (2, 200, 20), (2, 201, 20)",
        )
        .await;
        let mut options = ConnectOptions::new(as_user(&url, &role));
        options
            .set_schema_search_path(schema.clone())
            .max_connections(2)
            .sqlx_logging(false);
        let app = Database::connect(options).await.expect("connect as the app role");
        let ctx = Rls {
            root,
            app: app.clone(),
            role: role.clone(),
            registry: registry(),
        };
        let outcome = tokio::spawn(body(ctx)).await;
        let _ = app.close().await;
        outcome
    }
    .await;
    cleanup(db, &url, &role).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn cleanup(db: TestDb, url: &str, role: &str) {
    db.cleanup().await;
    let admin = Database::connect(url).await.expect("admin connection");
    exec(&admin, &format!("DROP ROLE IF EXISTS {role}")).await;
    let _ = admin.close().await;
}

async fn verified(ctx: &Rls) -> VerifiedRls {
    RowLevelSecurity::new()
        .boot_check(&ctx.app, &ctx.registry)
        .await
        .expect("boot check")
}

fn scoped(ctx: &Rls, rls: &VerifiedRls, tenant: i64) -> TenantConnection {
    TenantConnection::new(ctx.app.clone(), ctx.registry.clone(), tenant).with_rls(rls)
}

fn pg(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

// ---------------------------------------------------------------------------
// The policies on their own
// ---------------------------------------------------------------------------

#[tokio::test]
async fn policies_alone_show_and_accept_only_the_transactions_tenant() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let app = &ctx.app;
        // No setting: nothing visible, nothing writable.
        assert!(rows(app, "SELECT id FROM leads").await.is_empty());
        assert!(
            app.execute_unprepared("INSERT INTO leads VALUES (1, 12, 'x')")
                .await
                .is_err()
        );

        let txn = app.begin().await.unwrap();
        exec(&txn, "SELECT set_config('tenancy.tenant_id', '2', true)").await;
        assert_eq!(rows(&txn, "SELECT id FROM leads").await, [["20"]]);
        assert_eq!(rows(&txn, "SELECT lead_count()").await, [["1"]]);
        // Another tenant's row can't be written, updated away or deleted.
        assert!(
            txn.execute_unprepared("SAVEPOINT s; INSERT INTO leads VALUES (1, 13, 'x')")
                .await
                .is_err()
        );
        exec(&txn, "ROLLBACK TO SAVEPOINT s").await;
        let err = txn
            .execute_unprepared("UPDATE leads SET entity_id = 1")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        exec(&txn, "ROLLBACK TO SAVEPOINT s").await;
        exec(&txn, "DELETE FROM calls").await;
        exec(&txn, "UPDATE leads SET name = 'mine'").await;
        txn.commit().await.unwrap();

        // The setting died with the transaction.
        assert!(rows(app, "SELECT id FROM leads").await.is_empty());
        assert_eq!(
            rows_sorted(&ctx.root, "SELECT entity_id, id, name FROM leads").await,
            [
                ["1", "10", "a1"],
                ["1", "11", "b1"],
                ["2", "20", "mine"],
                ["3", "30", "a3"]
            ]
        );
        assert_eq!(
            rows(&ctx.root, "SELECT company_id, id FROM calls").await,
            [["1", "100"]]
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// RLS mode of the connection
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rls_mode_scopes_what_the_rewrite_cannot_see() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let rls = verified(&ctx).await;
        // A function the rewrite passes through: without RLS mode the
        // policies see no tenant and the function counts nothing...
        let plain = TenantConnection::new(ctx.app.clone(), ctx.registry.clone(), 1);
        assert_eq!(rows(&plain, "SELECT lead_count()").await, [["0"]]);
        // ...with it, only the tenant's leads; the superuser sees all four.
        assert_eq!(
            rows(&scoped(&ctx, &rls, 1), "SELECT lead_count()").await,
            [["2"]]
        );
        assert_eq!(
            rows(&scoped(&ctx, &rls, 3), "SELECT lead_count()").await,
            [["1"]]
        );
        assert_eq!(rows(&ctx.root, "SELECT lead_count()").await, [["4"]]);

        // The rewrite is still on: it refuses what it always refuses.
        let err = scoped(&ctx, &rls, 1)
            .execute_unprepared("SELECT set_config('tenancy.tenant_id', '2', true)")
            .await
            .unwrap_err();
        assert!(matches!(
            Refusal::from_db_err(&err),
            Some(Refusal::Function(_))
        ));
        let err = scoped(&ctx, &rls, 1)
            .execute_unprepared("SET tenancy.tenant_id = '2'")
            .await
            .unwrap_err();
        assert!(Refusal::from_db_err(&err).is_some());
    })
    .await;
}

#[tokio::test]
async fn rls_mode_reads_and_writes_one_tenant() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let rls = verified(&ctx).await;
        let two = scoped(&ctx, &rls, 2);
        assert_eq!(
            rows_sorted(
                &two,
                "SELECT l.id, c.id FROM leads l JOIN calls c ON c.lead_id = l.id"
            )
            .await,
            [["20", "200"], ["20", "201"]]
        );
        exec(&two, "INSERT INTO leads (id, name) VALUES (21, 'new')").await;
        exec(&two, "UPDATE leads SET name = 'renamed' WHERE 1 = 1").await;
        exec(&two, "DELETE FROM calls").await;
        assert_eq!(
            rows_sorted(&ctx.root, "SELECT entity_id, id, name FROM leads").await,
            [
                ["1", "10", "a1"],
                ["1", "11", "b1"],
                ["2", "20", "renamed"],
                ["2", "21", "renamed"],
                ["3", "30", "a3"]
            ]
        );
        assert_eq!(
            rows_sorted(&ctx.root, "SELECT company_id, id FROM calls").await,
            [["1", "100"]]
        );
    })
    .await;
}

#[tokio::test]
async fn the_setting_never_outlives_the_statement_or_transaction() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let rls = verified(&ctx).await;
        // The app pool has two connections; use each several times, then
        // look at both from outside the wrapper.
        for tenant in [1, 2, 3, 1, 2, 3] {
            let conn = scoped(&ctx, &rls, tenant);
            rows(&conn, "SELECT id FROM leads").await;
            let _ = conn
                .execute_unprepared("INSERT INTO leads (id, name) VALUES (10, 'dup')")
                .await;
            let txn = conn.begin().await.unwrap();
            rows(&txn, "SELECT id FROM leads").await;
            txn.commit().await.unwrap();
        }
        // Both pooled connections at once.
        let (a, b) = (
            ctx.app.begin().await.unwrap(),
            ctx.app.begin().await.unwrap(),
        );
        for txn in [&a, &b] {
            let left = rows(
                txn,
                "SELECT coalesce(current_setting('tenancy.tenant_id', true), '<unset>')",
            )
            .await;
            assert!(
                left == [[""]] || left == [["<unset>"]],
                "a session-level tenant was left on a pooled connection: {left:?}"
            );
            assert!(rows(txn, "SELECT id FROM leads").await.is_empty());
        }
        a.commit().await.unwrap();
        b.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_transaction_sets_the_tenant_once_and_keeps_it() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let rls = verified(&ctx).await;
        let one = scoped(&ctx, &rls, 1);
        let txn = one.begin().await.unwrap();
        assert_eq!(rows(&txn, "SELECT lead_count()").await, [["2"]]);
        exec(&txn, "INSERT INTO leads (id, name) VALUES (12, 'c1')").await;
        // A savepoint inside keeps the tenant.
        let inner = txn.begin().await.unwrap();
        assert_eq!(rows(&inner, "SELECT lead_count()").await, [["3"]]);
        inner.rollback().await.unwrap();
        assert_eq!(rows(&txn, "SELECT lead_count()").await, [["3"]]);
        txn.rollback().await.unwrap();
        assert_eq!(rows(&one, "SELECT lead_count()").await, [["2"]]);

        // The closure form too.
        let counted = one
            .transaction::<_, Vec<Vec<String>>, sea_orm::DbErr>(|txn| {
                Box::pin(async move { tenancy_testkit::try_rows(txn, "SELECT lead_count()").await })
            })
            .await
            .unwrap();
        assert_eq!(counted, [["2"]]);
    })
    .await;
}

#[tokio::test]
async fn streams_need_a_transaction_in_rls_mode() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let rls = verified(&ctx).await;
        let one = scoped(&ctx, &rls, 1);
        let err = match one.stream_raw(pg("SELECT id FROM leads")).await {
            Ok(_) => panic!("a stream outside a transaction ran in rls mode"),
            Err(err) => err,
        };
        assert!(matches!(
            RlsError::from_db_err(&err),
            Some(RlsError::StreamOutsideTransaction)
        ));

        let txn = one.begin().await.unwrap();
        let ids: Vec<i64> = txn
            .stream_raw(pg("SELECT lead_count() AS n FROM leads ORDER BY id"))
            .await
            .unwrap()
            .map_ok(|row| row.try_get::<i64>("", "n").unwrap())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids, [2, 2]);
        txn.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn rls_mode_on_another_backend_fails_every_statement() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let rls = verified(&ctx).await;
        let sqlite = Database::connect("sqlite::memory:").await.unwrap();
        exec(
            &sqlite,
            "CREATE TABLE leads (id INTEGER, entity_id BIGINT NOT NULL)",
        )
        .await;
        let conn = TenantConnection::new(sqlite, ctx.registry.clone(), 1).with_rls(&rls);
        let err = try_rows(&conn, "SELECT id FROM leads").await.unwrap_err();
        assert!(matches!(
            RlsError::from_db_err(&err),
            Some(RlsError::NotPostgres(_))
        ));
        let err = conn.begin().await.unwrap_err();
        assert!(matches!(
            RlsError::from_db_err(&err),
            Some(RlsError::NotPostgres(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn with_the_rewrite_off_the_policies_still_scope() {
    with_rls(
        RowLevelSecurity::new().stamp_default(true),
        |ctx| async move {
            let rls = verified(&ctx).await;
            let two = PoliciesOnly::new(ctx.app.clone(), rls.setting(), 2);
            // Sent as written (no rewrite): the tenant filter is the policy's.
            assert_eq!(
                rows(&two, "SELECT entity_id, id FROM leads ORDER BY id").await,
                [["2", "20"]]
            );
            exec(
                &two,
                "INSERT INTO leads (id, name) VALUES (22, 'stamped by default')",
            )
            .await;
            exec(&two, "DELETE FROM calls WHERE 1 = 1 OR company_id = 1").await;
            let err = two
                .execute_unprepared("UPDATE leads SET entity_id = 1")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("row-level security"), "{err}");
            assert_eq!(
                rows_sorted(&ctx.root, "SELECT entity_id, id FROM leads").await,
                [
                    ["1", "10"],
                    ["1", "11"],
                    ["2", "20"],
                    ["2", "22"],
                    ["3", "30"]
                ]
            );
            assert_eq!(
                rows_sorted(&ctx.root, "SELECT company_id, id FROM calls").await,
                [["1", "100"]]
            );
        },
    )
    .await;
}

// ---------------------------------------------------------------------------
// The boot check
// ---------------------------------------------------------------------------

async fn check(
    conn: &DatabaseConnection,
    registry: &TableRegistry,
) -> Result<VerifiedRls, RlsError> {
    RowLevelSecurity::new().boot_check(conn, registry).await
}

#[tokio::test]
async fn boot_check_refuses_roles_the_policies_do_not_bind() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let passed = check(&ctx.app, &ctx.registry).await.unwrap();
        assert_eq!(passed.setting(), "tenancy.tenant_id");

        // The helper's own role is a superuser.
        let err = check(&ctx.root, &ctx.registry).await.unwrap_err();
        assert!(matches!(err, RlsError::Superuser(_)), "{err}");

        exec(&ctx.root, &format!("ALTER ROLE {} BYPASSRLS", ctx.role)).await;
        let err = check(&ctx.app, &ctx.registry).await.unwrap_err();
        assert!(
            matches!(&err, RlsError::BypassRls(role) if *role == ctx.role),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "role `{}` has bypassrls: row-level security does not apply to it",
                ctx.role
            )
        );
        exec(&ctx.root, &format!("ALTER ROLE {} NOBYPASSRLS", ctx.role)).await;
        check(&ctx.app, &ctx.registry).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn boot_check_refuses_tables_the_policies_do_not_cover() {
    with_rls(RowLevelSecurity::new(), |ctx| async move {
        let (root, app) = (&ctx.root, &ctx.app);

        let missing = TableRegistry::builder().scoped_table("nowhere").build().unwrap();
        let err = check(app, &missing).await.unwrap_err();
        assert!(matches!(&err, RlsError::MissingTable(t) if t == "nowhere"), "{err}");

        exec(root, "ALTER TABLE leads NO FORCE ROW LEVEL SECURITY").await;
        let err = check(app, &ctx.registry).await.unwrap_err();
        assert!(
            matches!(&err, RlsError::NotForced { table, role } if table == "leads" && *role == ctx.role),
            "{err}"
        );
        // Owned by someone else, the table binds the role without FORCE.
        exec(root, &format!("ALTER TABLE leads OWNER TO {}", session_user(root).await)).await;
        exec(root, &format!("GRANT ALL ON leads TO {}", ctx.role)).await;
        check(app, &ctx.registry).await.unwrap();

        exec(root, "ALTER TABLE calls DISABLE ROW LEVEL SECURITY").await;
        let err = check(app, &ctx.registry).await.unwrap_err();
        assert!(matches!(&err, RlsError::NotEnabled(t) if t == "calls"), "{err}");
        exec(root, "ALTER TABLE calls ENABLE ROW LEVEL SECURITY").await;

        exec(root, "DROP POLICY tenancy_tenant_wall ON calls").await;
        let err = check(app, &ctx.registry).await.unwrap_err();
        assert!(
            matches!(&err, RlsError::MissingPolicy { table, policy, .. } if table == "calls" && *policy == "tenancy_tenant_wall"),
            "{err}"
        );

        // Policies on another setting than the one checked.
        RowLevelSecurity::new().apply(root, &ctx.registry).await.unwrap();
        check(app, &ctx.registry).await.unwrap();
        let other = RowLevelSecurity::new().with_setting("app.tenant").unwrap();
        let err = other.boot_check(app, &ctx.registry).await.unwrap_err();
        assert!(matches!(err, RlsError::MissingPolicy { .. }), "{err}");
    })
    .await;
}

async fn session_user(root: &DatabaseConnection) -> String {
    rows(root, "SELECT session_user::text").await[0][0].clone()
}

#[tokio::test]
async fn apply_and_revert_round_trip() {
    with_rls(
        RowLevelSecurity::new().stamp_default(true),
        |ctx| async move {
            let setup = RowLevelSecurity::new().stamp_default(true);
            // Applying twice is harmless.
            setup.apply(&ctx.root, &ctx.registry).await.unwrap();
            check(&ctx.app, &ctx.registry).await.unwrap();
            setup.revert(&ctx.root, &ctx.registry).await.unwrap();
            let err = check(&ctx.app, &ctx.registry).await.unwrap_err();
            assert!(matches!(err, RlsError::NotEnabled(_)), "{err}");
            // Reverted, the owner sees every row again: the wall is really gone.
            assert_eq!(rows(&ctx.app, "SELECT count(*) FROM leads").await, [["4"]]);
            assert_eq!(
                rows(
                    &ctx.root,
                    "SELECT count(*) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND column_default IS NOT NULL"
                )
                .await,
                [["0"]]
            );
            setup.apply(&ctx.root, &ctx.registry).await.unwrap();
            check(&ctx.app, &ctx.registry).await.unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn rls_is_postgres_only() {
    let sqlite = Database::connect("sqlite::memory:").await.unwrap();
    let registry = registry();
    let setup = RowLevelSecurity::new();
    let err = setup.apply(&sqlite, &registry).await.unwrap_err();
    assert!(
        matches!(&err, RlsError::NotPostgres(b) if b == "sqlite"),
        "{err}"
    );
    let err = setup.boot_check(&sqlite, &registry).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "row-level security needs postgresql, this connection is sqlite"
    );
    assert!(matches!(
        setup.with_setting("Tenancy.Tenant"),
        Err(RlsError::SettingName(_))
    ));
}
