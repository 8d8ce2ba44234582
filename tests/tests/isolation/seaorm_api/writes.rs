//! Inserts, updates and deletes, through ActiveModels and the `*_many` builders.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbErr, EntityTrait, IntoActiveModel, ModelTrait,
    NotSet, QueryFilter, Set,
};
use tenancy_testkit::fixtures::{account, call, lead};
use tenancy_testkit::for_each_backend;

use super::{ACCOUNTS, Fixture, LEADS, TENANTS, assert_foreign_tenant};

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
                region_id: NotSet,
            }
            .insert(&conn)
            .await
            .unwrap_or_else(|e| panic!("insert with entity_id = own, {ctx}: {e}"));
            assert_eq!(explicit.entity_id, t, "{ctx}");

            // Entity::insert(..).exec(..), NotSet.
            let result = call::Entity::insert(call::ActiveModel {
                lead_id: Set(Some(stamped.id)),
                seconds: Set(60),
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
            assert_eq!(call.company_id, t, "{ctx}");

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
                region_id: NotSet,
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
                        .add(call::Column::CompanyId.eq(other))
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
                        .add(call::Column::CompanyId.eq(other))
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
