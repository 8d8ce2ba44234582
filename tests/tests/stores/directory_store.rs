//! The SeaORM tenant directory store on every backend: lookups by domain,
//! slug and id; all-or-nothing writes; and an outage that is reported as an
//! outage, never as "no such tenant".

use sea_orm::DatabaseConnection;
use tenancy_core::directory::{DirectoryStore, Tenant, TenantDirectory, TenantStatus};
use tenancy_core::{Domain, TenantId};
use tenancy_seaorm::{DirectoryWriteError, SeaOrmDirectory};
use tenancy_testkit::{exec, for_each_backend, rows};

fn d(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

async fn seeded(conn: DatabaseConnection) -> SeaOrmDirectory {
    let store = SeaOrmDirectory::new(conn);
    store.migrate().await.unwrap();
    // Twice: migrations are idempotent.
    store.migrate().await.unwrap();
    store
        .create_tenant(
            &Tenant::new(1, "goldenkey", "Golden Key Wholesale"),
            &[d("goldenkey.localhost"), d("gk.example")],
        )
        .await
        .unwrap();
    store
        .create_tenant(
            &Tenant::new(2, "stone", "Stone Outbound"),
            &[d("stone.localhost")],
        )
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn finds_tenants_by_domain_slug_and_id() {
    for_each_backend(|conn| async move {
        let store = seeded(conn).await;
        let by_domain = store
            .tenant_by_domain(&d("GK.example."))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (by_domain.id, by_domain.slug.as_str()),
            (TenantId::new(1), "goldenkey")
        );
        assert_eq!(by_domain.name, "Golden Key Wholesale");
        assert!(by_domain.is_active());
        assert_eq!(
            store.tenant_by_slug("stone").await.unwrap().unwrap().id,
            TenantId::new(2)
        );
        assert_eq!(
            store
                .tenant_by_id(TenantId::new(2))
                .await
                .unwrap()
                .unwrap()
                .slug,
            "stone"
        );
        assert!(
            store
                .tenant_by_domain(&d("nobody.localhost"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.tenant_by_slug("nobody").await.unwrap().is_none());
        assert!(
            store
                .tenant_by_id(TenantId::new(3))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.domains_of(TenantId::new(1)).await.unwrap(),
            [d("gk.example"), d("goldenkey.localhost")]
        );
    })
    .await;
}

#[tokio::test]
async fn refused_writes_leave_nothing_behind() {
    for_each_backend(|conn| async move {
        let store = seeded(conn.clone()).await;
        let snapshot = |conn: DatabaseConnection| async move {
            (
                rows(&conn, "SELECT id, slug, name, status FROM tenancy_tenants ORDER BY id").await,
                rows(&conn, "SELECT domain, tenant_id FROM tenancy_tenant_domains ORDER BY domain").await,
            )
        };
        let before = snapshot(conn.clone()).await;

        // A new tenant whose second domain is taken: the tenant row and its
        // first domain must not be left behind.
        let err = store
            .create_tenant(
                &Tenant::new(3, "acme", "Acme"),
                &[d("acme.localhost"), d("stone.localhost")],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryWriteError::DomainTaken(ref taken) if *taken == d("stone.localhost")), "{err}");
        let err = store
            .create_tenant(&Tenant::new(1, "other", "Other"), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryWriteError::TenantExists(..)), "{err}");
        let err = store
            .create_tenant(&Tenant::new(4, "stone", "Other"), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryWriteError::TenantExists(..)), "{err}");
        let err = store
            .create_tenant(&Tenant::new(5, "Not A Slug", "Other"), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryWriteError::InvalidSlug(_)), "{err}");
        let err = store.add_domain(TenantId::new(9), &d("x.localhost")).await.unwrap_err();
        assert!(matches!(err, DirectoryWriteError::NoSuchTenant(_)), "{err}");
        let err = store.add_domain(TenantId::new(2), &d("gk.example")).await.unwrap_err();
        assert!(matches!(err, DirectoryWriteError::DomainTaken(_)), "{err}");
        let err = store.set_status(TenantId::new(9), TenantStatus::Suspended).await.unwrap_err();
        assert!(matches!(err, DirectoryWriteError::NoSuchTenant(_)), "{err}");

        assert_eq!(snapshot(conn).await, before);
    })
    .await;
}

#[tokio::test]
async fn domain_and_status_changes_reach_the_cache_on_invalidation() {
    for_each_backend(|conn| async move {
        let store = seeded(conn).await;
        let directory = TenantDirectory::new(store.clone());
        let stone = d("stone.example");
        assert!(directory.by_domain(&stone).await.unwrap().is_none());

        store.add_domain(TenantId::new(2), &stone).await.unwrap();
        assert!(
            directory.by_domain(&stone).await.unwrap().is_none(),
            "the miss is cached"
        );
        directory.invalidate_domain(&stone);
        assert_eq!(
            directory.by_domain(&stone).await.unwrap().unwrap().id,
            TenantId::new(2)
        );

        store
            .set_status(TenantId::new(2), TenantStatus::Suspended)
            .await
            .unwrap();
        directory.invalidate_tenant(TenantId::new(2));
        let suspended = directory.by_domain(&stone).await.unwrap().unwrap();
        assert_eq!(suspended.status, TenantStatus::Suspended);

        assert!(store.remove_domain(&stone).await.unwrap());
        assert!(!store.remove_domain(&stone).await.unwrap());
        directory.invalidate_domain(&stone);
        assert!(directory.by_domain(&stone).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_directory_is_an_error_not_an_unknown_tenant() {
    for_each_backend(|conn| async move {
        let store = seeded(conn.clone()).await;
        let directory = TenantDirectory::new(store.clone());
        // A corrupt row: a status the library never writes.
        exec(&conn, "UPDATE tenancy_tenants SET status = 'weird' WHERE id = 2").await;
        assert!(store.tenant_by_slug("stone").await.is_err());
        // The tables are gone (a broken deployment, a failed migration).
        exec(&conn, "DROP TABLE tenancy_tenant_domains").await;
        let err = directory.by_domain(&d("goldenkey.localhost")).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("store unavailable: tenant directory:"),
            "{err}"
        );
        // ... and the error was not cached as a miss.
        store.migrate().await.unwrap();
        exec(&conn, "INSERT INTO tenancy_tenant_domains (domain, tenant_id) VALUES ('goldenkey.localhost', 1)").await;
        assert!(directory.by_domain(&d("goldenkey.localhost")).await.unwrap().is_some());
    })
    .await;
}
