//! `TenantConnection::from_current`: the tenant from the task-local scope.

use sea_orm::{ActiveModelTrait, EntityTrait, NotSet, QueryOrder, Set};
use tenancy_core::TenantContext;
use tenancy_seaorm::TenantConnection;
use tenancy_testkit::fixtures::{account, lead};
use tenancy_testkit::for_each_backend;

use super::Fixture;

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
                        region_id: NotSet,
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
