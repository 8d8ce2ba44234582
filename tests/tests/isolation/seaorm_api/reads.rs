//! `find` with filters, `one`, `count`, `into_tuple` and `find_by_id`.

use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tenancy_testkit::fixtures::{account, call, lead};
use tenancy_testkit::for_each_backend;

use super::{ACCOUNTS, Fixture, LEADS, TENANTS};

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
