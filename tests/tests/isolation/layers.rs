//! The tower layers in a real axum application, over the SeaORM directory
//! store on every backend: the tenant reaches the handler through the
//! extractor and the task-local scope, and the scoped connection built from
//! it sees only that tenant's rows. (The span is tested in
//! `tenancy-tower/tests/tracing.rs`, alone in its binary: tracing caches
//! per-callsite interest, so tests that run beside it without a subscriber
//! can hide its events.)

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use sea_orm::DatabaseConnection;
use tenancy_core::Domain;
use tenancy_core::directory::{Tenant, TenantDirectory};
use tenancy_seaorm::{SeaOrmDirectory, TableRegistry, TenantConnection};
use tenancy_testkit::{exec, for_each_backend, rows};
use tenancy_tower::resolve::ExactHost;
use tenancy_tower::{CurrentTenant, ResolveTenantLayer};
use tower::ServiceExt;

async fn app(conn: DatabaseConnection) -> Router {
    let store = SeaOrmDirectory::new(conn.clone());
    store.migrate().await.unwrap();
    for (id, slug, domain) in [
        (1, "goldenkey", "goldenkey.localhost"),
        (2, "stone", "stone.localhost"),
    ] {
        store
            .create_tenant(
                &Tenant::new(id, slug, slug),
                &[Domain::parse(domain).unwrap()],
            )
            .await
            .unwrap();
    }
    exec(&conn, "CREATE TABLE leads (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, name VARCHAR(40) NOT NULL)").await;
    exec(
        &conn,
        "INSERT INTO leads VALUES (1, 1, 'gk-a'), (2, 2, 'stone-a'), (3, 1, 'gk-b')",
    )
    .await;
    let registry = TableRegistry::builder()
        .scoped_table("leads")
        .build()
        .unwrap();

    let leads = move |current: CurrentTenant| {
        let (tenant, ctx) = (current.record().clone(), current.context());
        let (conn, registry) = (conn.clone(), registry.clone());
        async move {
            assert_eq!(tenant.id, ctx.tenant());
            // The handler builds its scoped connection from the task-local.
            let scoped = TenantConnection::from_current(conn, registry).unwrap();
            let names = rows(&scoped, "SELECT name FROM leads ORDER BY id").await;
            tracing::info!("listed leads");
            format!("{}: {}", tenant.slug, names.concat().join(","))
        }
    };
    Router::new()
        .route("/leads", get(leads))
        .layer(ResolveTenantLayer::new(ExactHost::new(
            TenantDirectory::new(store),
        )))
}

async fn get_leads(app: &Router, host: &str) -> (StatusCode, String) {
    let req = Request::get("/leads")
        .header("host", host)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn each_domain_sees_only_its_own_rows() {
    for_each_backend(|conn| async move {
        let app = app(conn).await;
        assert_eq!(
            get_leads(&app, "goldenkey.localhost").await,
            (StatusCode::OK, "goldenkey: gk-a,gk-b".into())
        );
        assert_eq!(
            get_leads(&app, "STONE.localhost:3000").await,
            (StatusCode::OK, "stone: stone-a".into())
        );
        assert_eq!(
            get_leads(&app, "nobody.localhost").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get_leads(&app, "bad..host").await.0,
            StatusCode::BAD_REQUEST
        );
    })
    .await;
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_500() {
    let app: Router = Router::new().route(
        "/",
        get(|CurrentTenant(t): CurrentTenant| async move { t.slug.clone() }),
    );
    let res = app
        .oneshot(
            Request::get("/")
                .header("host", "goldenkey.localhost")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
