//! Streams and the paginator.

use futures_util::TryStreamExt as _;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tenancy_testkit::fixtures::{account, call, lead};
use tenancy_testkit::for_each_backend;

use super::{Fixture, TENANTS};

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
                        .add(call::Column::CompanyId.eq(Fixture::other_than(t))),
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
                        .add(call::Column::CompanyId.eq(Fixture::other_than(t))),
                )
                .order_by_asc(call::Column::Id)
                .paginate(&conn, 1);
            let expected: Vec<_> = own
                .calls
                .iter()
                .filter_map(|c| {
                    let l = own.lead(c.lead_id?)?;
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
