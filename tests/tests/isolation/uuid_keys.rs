//! A small application keyed by UUIDs (and one keyed by text), end to end
//! on every backend, through every layer: the SeaORM directory and config
//! stores typed by the key, onboarding, the resolver (by domain, and by a
//! header parsed as the directory's kind of key), the scoped connection
//! with SeaORM entities and raw SQL, the schema audit, the cross-tenant
//! reader, export and purge; and on PostgreSQL the policies keyed by
//! `uuid`, with and without the rewrite.
//!
//! Each key type runs in the column type an application would declare:
//! PostgreSQL `uuid`; MySQL/MariaDB `CHAR(36)` and `BINARY(16)`; SQLite
//! `TEXT` and `BLOB`; and `VARCHAR(64)` for text keys.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderName, Request, StatusCode};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use tenancy_config::{ConfigRegistry, Key, Scope};
use tenancy_core::directory::{Tenant, TenantDirectory};
use tenancy_core::uuid::Uuid;
use tenancy_core::{Domain, TenantId};
use tenancy_seaorm::config_store::SeaOrmConfigStore;
use tenancy_seaorm::cross_tenant::MemoryAudit;
use tenancy_seaorm::lifecycle::{PurgeMode, export_tenant, onboard, purge_tenant};
use tenancy_seaorm::schema_audit::{SchemaFinding, audit_schema};
use tenancy_seaorm::{
    CrossTenantReader, Refusal, RowLevelSecurity, SeaOrmDirectory, TableRegistry, TenantConnection,
    TenantKeyType,
};
use tenancy_testkit::{Backend, PoliciesOnly, backends, exec, rows, rows_sorted, with_db};
use tenancy_tower::resolve::{ExactHost, HeaderKey, TenantHeader};
use tenancy_tower::{CurrentTenant, ResolveTenantLayer};
use tower::ServiceExt;

/// The leads of a UUID application whose entities hold `Uuid`s: native
/// `uuid` on PostgreSQL, 16 bytes elsewhere.
mod uuid_lead {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "u_leads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub entity_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The same table for keys stored as text: UUIDs in `CHAR(36)` / `TEXT`,
/// and text keys.
mod text_lead {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "u_leads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub entity_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the dialer", || false);

/// The key types each backend is run with.
fn key_types(backend: Backend) -> &'static [TenantKeyType] {
    match backend {
        Backend::Postgres => &[TenantKeyType::Uuid, TenantKeyType::Text],
        Backend::MySql | Backend::Sqlite => &[
            TenantKeyType::Uuid,
            TenantKeyType::UuidBinary,
            TenantKeyType::Text,
        ],
    }
}

/// The tenant column's type, as an application would declare it.
fn column_type(backend: Backend, key: TenantKeyType) -> &'static str {
    match (backend, key) {
        (Backend::Postgres, TenantKeyType::Uuid | TenantKeyType::UuidBinary) => "UUID",
        (Backend::MySql, TenantKeyType::Uuid) => "CHAR(36)",
        (Backend::MySql, TenantKeyType::UuidBinary) => "BINARY(16)",
        (Backend::Sqlite, TenantKeyType::Uuid) => "TEXT",
        (Backend::Sqlite, TenantKeyType::UuidBinary) => "BLOB",
        (_, TenantKeyType::Text) => "VARCHAR(64)",
        (_, other) => panic!("no column type for {other:?} here"),
    }
}

/// Two tenants of `key`'s kind.
fn tenants(key: TenantKeyType) -> (TenantId, TenantId) {
    match key {
        TenantKeyType::Text => (
            TenantId::text("golden-key").unwrap(),
            TenantId::text("stone.co").unwrap(),
        ),
        _ => (
            "0b5c3a0e-2f57-4c3e-9d8c-2a1f5e6d7c80".parse().unwrap(),
            "f3e2d1c0-b9a8-4765-8432-10fedcba9876".parse().unwrap(),
        ),
    }
}

/// Whether the entities hold `Uuid` (else `String`).
fn uuid_entity(backend: Backend, key: TenantKeyType) -> bool {
    matches!(
        (backend, key),
        (Backend::Postgres, TenantKeyType::Uuid) | (_, TenantKeyType::UuidBinary)
    )
}

/// The tenant as a SQL literal in the column's form (for the seed and the
/// checks, on the plain connection), or `None` for bytes.
fn literal(key: TenantKeyType, tenant: TenantId) -> Option<String> {
    match key {
        TenantKeyType::UuidBinary => None,
        _ => Some(format!("'{tenant}'")),
    }
}

/// The leads of `tenant`, read on the plain connection: the oracle.
async fn names_on_disk(
    conn: &DatabaseConnection,
    key: TenantKeyType,
    tenant: TenantId,
) -> Vec<String> {
    let filter = match literal(key, tenant) {
        Some(lit) => format!("entity_id = {lit}"),
        // BINARY(16) / BLOB: compare the hex text of the bytes.
        None => match Backend::of(conn) {
            Backend::MySql => format!(
                "HEX(entity_id) = '{}'",
                tenant
                    .as_uuid()
                    .unwrap()
                    .simple()
                    .to_string()
                    .to_uppercase()
            ),
            _ => format!(
                "hex(entity_id) = '{}'",
                tenant
                    .as_uuid()
                    .unwrap()
                    .simple()
                    .to_string()
                    .to_uppercase()
            ),
        },
    };
    rows_sorted(conn, &format!("SELECT name FROM u_leads WHERE {filter}"))
        .await
        .concat()
}

async fn scoped_names(
    scoped: &TenantConnection,
    backend: Backend,
    key: TenantKeyType,
) -> Vec<String> {
    let mut names: Vec<String> = if uuid_entity(backend, key) {
        uuid_lead::Entity::find()
            .all(scoped)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    } else {
        text_lead::Entity::find()
            .all(scoped)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    };
    names.sort();
    names
}

/// Inserts leads through a scoped connection with SeaORM: with `stamped`,
/// the first with the tenant left out (the rewrite stamps it); the others
/// with the tenant set (checked against the connection's).
async fn insert_leads<C: ConnectionTrait>(
    txn: &C,
    backend: Backend,
    key: TenantKeyType,
    tenant: TenantId,
    id: i64,
    names: [&str; 2],
    stamped: bool,
) -> Result<(), sea_orm::DbErr> {
    let stamp = [stamped, false];
    if uuid_entity(backend, key) {
        let uuid = tenant.as_uuid().unwrap();
        for (i, (name, stamped)) in names.iter().zip(stamp).enumerate() {
            uuid_lead::Entity::insert(uuid_lead::ActiveModel {
                entity_id: if stamped { NotSet } else { Set(uuid) },
                id: Set(id + i as i64),
                name: Set((*name).to_owned()),
            })
            .exec_without_returning(txn)
            .await?;
        }
    } else {
        for (i, (name, stamped)) in names.iter().zip(stamp).enumerate() {
            text_lead::Entity::insert(text_lead::ActiveModel {
                entity_id: if stamped {
                    NotSet
                } else {
                    Set(tenant.to_string())
                },
                id: Set(id + i as i64),
                name: Set((*name).to_owned()),
            })
            .exec_without_returning(txn)
            .await?;
        }
    }
    Ok(())
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(request).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn app(
    conn: DatabaseConnection,
    registry: TableRegistry,
    directory: TenantDirectory,
    by_header: bool,
) -> Router {
    let leads = move |current: CurrentTenant| {
        let (conn, registry) = (conn.clone(), registry.clone());
        async move {
            let scoped = TenantConnection::from_current(conn, registry).unwrap();
            let names = rows_sorted(&scoped, "SELECT name FROM u_leads").await;
            format!("{}: {}", current.record().slug, names.concat().join(","))
        }
    };
    let router = Router::new().route("/leads", get(leads));
    if by_header {
        router.layer(ResolveTenantLayer::new(TenantHeader::new(
            HeaderName::from_static("x-tenant"),
            HeaderKey::Id,
            directory,
        )))
    } else {
        router.layer(ResolveTenantLayer::new(ExactHost::new(directory)))
    }
}

fn request(header: (&str, &str)) -> Request<Body> {
    Request::get("/leads")
        .header(header.0, header.1)
        .body(Body::empty())
        .unwrap()
}

async fn end_to_end(conn: DatabaseConnection, key: TenantKeyType) {
    let backend = Backend::of(&conn);
    let (a, b) = tenants(key);
    let registry = TableRegistry::builder()
        .tenant_key(key)
        .scoped_table("u_leads")
        .build()
        .unwrap();
    exec(
        &conn,
        &format!(
            "CREATE TABLE u_leads (entity_id {} NOT NULL, id BIGINT NOT NULL, name VARCHAR(40) NOT NULL, \
             PRIMARY KEY (entity_id, id))",
            column_type(backend, key)
        ),
    )
    .await;

    // The schema audit passes for the declared type, and catches a
    // registry that declares another.
    assert_eq!(audit_schema(&conn, &registry).await.unwrap(), []);
    let as_bigint = TableRegistry::builder()
        .scoped_table("u_leads")
        .build()
        .unwrap();
    assert!(matches!(
        &audit_schema(&conn, &as_bigint).await.unwrap()[..],
        [SchemaFinding::KeyType {
            expected: TenantKeyType::BigInt,
            ..
        }]
    ));

    // Directory and config stores, typed by the key.
    let directory_store = SeaOrmDirectory::new(conn.clone()).with_key(key);
    directory_store.migrate().await.unwrap();
    let config_store = SeaOrmConfigStore::new(conn.clone()).with_key(key);
    config_store.migrate().await.unwrap();

    // Onboarding: each tenant's directory rows and first leads, in one
    // transaction scoped to it.
    for (tenant, slug, domain, id, names) in [
        (a, "golden", "golden.example", 10, ["a1", "a2"]),
        (b, "stone", "stone.example", 20, ["b1", "b2"]),
    ] {
        onboard(
            &conn,
            &registry,
            &Tenant::new(tenant, slug, slug),
            &[Domain::parse(domain).unwrap()],
            move |txn| {
                Box::pin(
                    async move { insert_leads(txn, backend, key, tenant, id, names, true).await },
                )
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{backend} {key:?}: onboarding {tenant}: {e:?}"));
    }
    assert_eq!(names_on_disk(&conn, key, a).await, ["a1", "a2"]);
    assert_eq!(names_on_disk(&conn, key, b).await, ["b1", "b2"]);
    let listed = directory_store.list_tenants().await.unwrap();
    let mut ids: Vec<TenantId> = listed.iter().map(|t| t.id).collect();
    ids.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(ids, expected);

    // The resolver: by domain, and by a header parsed as the directory's
    // kind of key.
    let directory = TenantDirectory::new(directory_store.clone());
    assert_eq!(directory.key_kind(), key.kind());
    let by_host = app(conn.clone(), registry.clone(), directory.clone(), false);
    assert_eq!(
        send(&by_host, request(("host", "golden.example"))).await,
        (StatusCode::OK, "golden: a1,a2".into())
    );
    assert_eq!(
        send(&by_host, request(("host", "stone.example"))).await,
        (StatusCode::OK, "stone: b1,b2".into())
    );
    let by_header = app(conn.clone(), registry.clone(), directory, true);
    assert_eq!(
        send(&by_header, request(("x-tenant", &b.to_string()))).await,
        (StatusCode::OK, "stone: b1,b2".into())
    );
    // An integer, a UUID in capitals, a text key where UUIDs are expected
    // (and the reverse): malformed, never looked up.
    for bad in ["7", &a.to_string().to_uppercase(), "Not A Key"] {
        assert_eq!(
            send(&by_header, request(("x-tenant", bad))).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }

    // SeaORM and raw SQL through the scoped connection.
    let scoped_a = TenantConnection::new(conn.clone(), registry.clone(), a);
    assert_eq!(scoped_names(&scoped_a, backend, key).await, ["a1", "a2"]);
    let updated = scoped_a
        .execute_unprepared("UPDATE u_leads SET name = 'renamed' WHERE id >= 0 OR 1 = 1")
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 2);
    assert_eq!(names_on_disk(&conn, key, b).await, ["b1", "b2"]);
    if uuid_entity(backend, key) {
        let mine = uuid_lead::Entity::find()
            .filter(uuid_lead::Column::Id.gte(0))
            .all(&scoped_a)
            .await
            .unwrap();
        assert!(mine.iter().all(|l| TenantId::uuid(l.entity_id) == a));
    } else {
        let mine = text_lead::Entity::find()
            .filter(text_lead::Column::Id.gte(0))
            .all(&scoped_a)
            .await
            .unwrap();
        assert!(mine.iter().all(|l| l.entity_id == a.to_string()));
    }

    // Writing another tenant's key is refused, as a parameter or a literal.
    let err = insert_leads(&scoped_a, backend, key, b, 90, ["x", "y"], false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            Refusal::from_db_err(&err),
            Some(Refusal::ForeignTenant { .. })
        ),
        "{backend} {key:?}: {err}"
    );
    if let Some(lit) = literal(key, b) {
        let err = scoped_a
            .execute_unprepared(&format!(
                "INSERT INTO u_leads (entity_id, id, name) VALUES ({lit}, 91, 'x')"
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(
                Refusal::from_db_err(&err),
                Some(Refusal::ForeignTenant { .. })
            ),
            "{backend} {key:?}: {err}"
        );
    }
    assert_eq!(names_on_disk(&conn, key, b).await, ["b1", "b2"]);

    // A tenant of another kind is refused before anything is sent.
    let other_kind = match key {
        TenantKeyType::Text => TenantId::uuid(Uuid::nil()),
        _ => TenantId::new(1),
    };
    let err = TenantConnection::new(conn.clone(), registry.clone(), other_kind)
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT name FROM u_leads",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            Refusal::from_db_err(&err),
            Some(Refusal::TenantKeyKind { .. })
        ),
        "{err}"
    );

    // Per-tenant configuration in the key-typed store.
    let config = ConfigRegistry::builder()
        .key(&DIALER)
        .load(config_store.clone())
        .await
        .unwrap();
    config
        .set("ops@platform", Scope::Tenant(a), &DIALER, true)
        .await
        .unwrap();
    let reloaded = ConfigRegistry::builder()
        .key(&DIALER)
        .load(config_store.clone())
        .await
        .unwrap();
    assert!(reloaded.get(a, &DIALER).unwrap());
    assert!(!reloaded.get(b, &DIALER).unwrap());
    // A change for a tenant of another kind never reaches the store.
    assert!(
        config
            .set("ops@platform", Scope::Tenant(other_kind), &DIALER, true)
            .await
            .is_err()
    );

    // A stored row naming a key of another kind is a malformed row, never
    // a tenant: a config override for `tenant:7` in a UUID/text store...
    exec(
        &conn,
        "INSERT INTO tenancy_config_overrides \
         (scope, config_key, tenant_id, value, revision, updated_at_ms, updated_by) \
         VALUES ('tenant:7', 'dialer.enabled', NULL, 'true', 99, 0, 'someone')",
    )
    .await;
    let err = ConfigRegistry::builder()
        .key(&DIALER)
        .load(config_store.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another key kind"), "{err}");
    exec(
        &conn,
        "DELETE FROM tenancy_config_overrides WHERE revision = 99",
    )
    .await;
    // ... and a directory row whose id is not a key of the store's type.
    if key != TenantKeyType::UuidBinary
        && !(backend == Backend::Postgres && key == TenantKeyType::Uuid)
    {
        exec(
            &conn,
            "INSERT INTO tenancy_tenants (id, slug, name, status) VALUES ('NOT-A-KEY', 'bad', 'bad', 'active')",
        )
        .await;
        assert!(directory_store.list_tenants().await.is_err());
        exec(&conn, "DELETE FROM tenancy_tenants WHERE slug = 'bad'").await;
    }

    // The cross-tenant reader sees both.
    let reader = CrossTenantReader::new(
        conn.clone(),
        registry.clone(),
        "ops@platform",
        "count",
        MemoryAudit::default(),
    );
    assert_eq!(
        rows(&reader, "SELECT COUNT(*) AS n FROM u_leads").await,
        [["4".to_owned()]]
    );

    // Export and purge one tenant; the other is untouched.
    let mut out = Vec::new();
    let counts = export_tenant(&conn, &registry, a, &mut out).await.unwrap();
    assert_eq!(counts, [("u_leads".to_owned(), 2)]);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("renamed") && !text.contains("b1"), "{text}");
    purge_tenant(&conn, &registry, a, PurgeMode::Delete)
        .await
        .unwrap();
    assert!(names_on_disk(&conn, key, a).await.is_empty());
    assert_eq!(names_on_disk(&conn, key, b).await, ["b1", "b2"]);
}

#[tokio::test]
async fn a_uuid_keyed_application_works_end_to_end_on_every_backend() {
    for backend in backends() {
        // Each key type on a database of its own.
        for &key in key_types(backend) {
            with_db(backend, move |conn| end_to_end(conn, key)).await;
        }
    }
}

/// The policies keyed by `uuid` on PostgreSQL: in RLS mode with the
/// rewrite, and with the rewrite off (statements as written, the testkit's
/// `PoliciesOnly`), as a role that owns its tables and is not a superuser.
#[tokio::test]
async fn row_level_security_with_uuid_keys_on_postgres() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let url = std::env::var(tenancy_testkit::POSTGRES_URL_VAR).expect("checked by backends()");
    with_db(Backend::Postgres, move |root| async move {
        let (a, b) = tenants(TenantKeyType::Uuid);
        let schema = rows(&root, "SELECT current_schema()").await[0][0].clone();
        let role = format!("tenancy_uuid_{schema}");
        exec(
            &root,
            &format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"),
        )
        .await;
        let outcome = tokio::spawn({
            let (root, role, url) = (root.clone(), role.clone(), url.clone());
            async move {
                exec(
                    &root,
                    &format!("GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}"),
                )
                .await;
                exec(
                    &root,
                    "CREATE TABLE u_leads (entity_id UUID NOT NULL, id BIGINT NOT NULL, \
                     name VARCHAR(40) NOT NULL, PRIMARY KEY (entity_id, id))",
                )
                .await;
                exec(&root, &format!("ALTER TABLE u_leads OWNER TO {role}")).await;
                let registry = TableRegistry::builder()
                    .tenant_key(TenantKeyType::Uuid)
                    .scoped_table("u_leads")
                    .build()
                    .unwrap();
                RowLevelSecurity::new()
                    .stamp_default(true)
                    .apply(&root, &registry)
                    .await
                    .unwrap();
                exec(
                    &root,
                    &format!("INSERT INTO u_leads VALUES ('{a}', 1, 'a1'), ('{b}', 2, 'b1')"),
                )
                .await;
                let (scheme, rest) = url.split_once("://").unwrap();
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let mut options = sea_orm::ConnectOptions::new(format!("{scheme}://{role}@{host}"));
                options
                    .set_schema_search_path(schema)
                    .max_connections(2)
                    .sqlx_logging(false);
                let app = sea_orm::Database::connect(options).await.unwrap();
                let verified = RowLevelSecurity::new()
                    .boot_check(&app, &registry)
                    .await
                    .expect("the boot check passes for uuid policies");

                // RLS mode, the rewrite on: a reads and writes its own.
                let scoped =
                    TenantConnection::new(app.clone(), registry.clone(), a).with_rls(&verified);
                assert_eq!(
                    scoped_names(&scoped, Backend::Postgres, TenantKeyType::Uuid).await,
                    ["a1"]
                );
                insert_leads(
                    &scoped,
                    Backend::Postgres,
                    TenantKeyType::Uuid,
                    a,
                    3,
                    ["a2", "a3"],
                    true,
                )
                .await
                .unwrap();

                // The policies alone: no rewrite, the statement as written.
                let alone = PoliciesOnly::new(app.clone(), verified.setting(), a);
                assert_eq!(
                    rows_sorted(&alone, "SELECT name FROM u_leads")
                        .await
                        .concat(),
                    ["a1", "a2", "a3"]
                );
                let deleted = alone
                    .execute_unprepared("DELETE FROM u_leads WHERE 1 = 1")
                    .await
                    .unwrap();
                assert_eq!(deleted.rows_affected(), 3);
                assert!(
                    alone
                        .execute_unprepared(&format!("INSERT INTO u_leads VALUES ('{b}', 9, 'x')"))
                        .await
                        .is_err(),
                    "WITH CHECK refuses another tenant's key"
                );
                // Left out, the tenant column defaults to the setting.
                alone
                    .execute_unprepared("INSERT INTO u_leads (id, name) VALUES (8, 'a8')")
                    .await
                    .unwrap();
                assert_eq!(
                    rows_sorted(&root, "SELECT entity_id::text, name FROM u_leads").await,
                    [
                        [a.to_string(), "a8".to_owned()],
                        [b.to_string(), "b1".to_owned()]
                    ]
                );
                let _ = app.close().await;
            }
        })
        .await;
        exec(&root, "DROP TABLE u_leads").await;
        exec(&root, &format!("DROP OWNED BY {role}")).await;
        exec(&root, &format!("DROP ROLE {role}")).await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    })
    .await;
}
