//! Relations and joins: `find_related`, `find_*_related`, the loader, explicit `join`s.

use sea_orm::{
    ColumnTrait, Condition, EntityTrait, JoinType, LoaderTrait, ModelTrait, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait,
};
use tenancy_testkit::fixtures::{account, call, lead};
use tenancy_testkit::for_each_backend;

use super::{Fixture, TENANTS, lead_ids};

/// `find_related` on own and on other tenants' models.
#[tokio::test]
async fn find_related_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);
            // Every account, including other tenants' (read raw): through
            // tenant t, the join sees only t's accounts and t's leads.
            let all_accounts = account::Entity::find().all(&fx.raw).await.unwrap();
            for a in &all_accounts {
                let leads = a
                    .find_related(lead::Entity)
                    .order_by_asc(lead::Column::Id)
                    .all(&conn)
                    .await
                    .unwrap();
                let expected = if own.account(Some(a.id)).is_some() {
                    own.leads_of(a.id)
                } else {
                    Vec::new()
                };
                assert_eq!(
                    lead_ids(&leads),
                    lead_ids(&expected),
                    "account {} -> leads, {ctx}",
                    a.id
                );
                assert_eq!(leads, expected);

                // Two hops: accounts -> leads -> calls.
                let calls = a
                    .find_related(call::Entity)
                    .order_by_asc(call::Column::Id)
                    .all(&conn)
                    .await
                    .unwrap();
                let mut expected: Vec<call::Model> =
                    expected.iter().flat_map(|l| own.calls_of(l.id)).collect();
                expected.sort_by_key(|c| c.id);
                assert_eq!(calls, expected, "account {} -> calls, {ctx}", a.id);
            }
            let all_leads = lead::Entity::find().all(&fx.raw).await.unwrap();
            for l in &all_leads {
                let account = l.find_related(account::Entity).one(&conn).await.unwrap();
                let expected = own.lead(l.id).and_then(|l| own.account(l.account_id));
                assert_eq!(account, expected, "lead {} -> account, {ctx}", l.id);
            }
        }
    })
    .await;
}

/// `find_also_related` and `find_with_related` (LEFT JOINs).
#[tokio::test]
async fn find_also_and_with_related_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let pairs = lead::Entity::find()
                .find_also_related(account::Entity)
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| (l.clone(), own.account(l.account_id)))
                .collect();
            assert_eq!(pairs, expected, "leads find_also_related accounts, {ctx}");

            let pairs = call::Entity::find()
                .find_also_related(lead::Entity)
                .filter(
                    Condition::any()
                        .add(lead::Column::Name.eq("Alice"))
                        .add(lead::Column::Name.is_null()),
                )
                .order_by_asc(call::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .calls
                .iter()
                .map(|c| (c.clone(), c.lead_id.and_then(|id| own.lead(id))))
                .filter(|(_, l)| l.as_ref().is_none_or(|l| l.name == "Alice"))
                .collect();
            assert_eq!(pairs, expected, "calls find_also_related leads, {ctx}");

            let groups = account::Entity::find()
                .find_with_related(lead::Entity)
                .order_by_asc(account::Column::Id)
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .accounts
                .iter()
                .map(|a| (a.clone(), own.leads_of(a.id)))
                .collect();
            assert_eq!(groups, expected, "accounts find_with_related leads, {ctx}");

            let groups = lead::Entity::find()
                .find_with_related(call::Entity)
                .order_by_asc(lead::Column::Id)
                .order_by_asc(call::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| (l.clone(), own.calls_of(l.id)))
                .collect();
            assert_eq!(groups, expected, "leads find_with_related calls, {ctx}");
        }
    })
    .await;
}

/// The loader: `load_one` and `load_many`.
#[tokio::test]
async fn loader_is_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            let leads = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let accounts = leads.load_one(account::Entity, &conn).await.unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| own.account(l.account_id))
                .collect();
            assert_eq!(accounts, expected, "leads load_one accounts, {ctx}");

            let calls = leads.load_many(call::Entity, &conn).await.unwrap();
            let expected: Vec<_> = own.leads.iter().map(|l| own.calls_of(l.id)).collect();
            assert_eq!(calls, expected, "leads load_many calls, {ctx}");

            let accounts = account::Entity::find()
                .order_by_asc(account::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let leads = accounts.load_many(lead::Entity, &conn).await.unwrap();
            let expected: Vec<_> = own.accounts.iter().map(|a| own.leads_of(a.id)).collect();
            assert_eq!(leads, expected, "accounts load_many leads, {ctx}");

            // Models of every tenant (read raw) loaded through tenant t: the
            // related side is still only t's.
            let everyone = lead::Entity::find()
                .order_by_asc(lead::Column::Id)
                .all(&fx.raw)
                .await
                .unwrap();
            let accounts = everyone.load_one(account::Entity, &conn).await.unwrap();
            let expected: Vec<_> = everyone.iter().map(|l| own.account(l.account_id)).collect();
            assert_eq!(accounts, expected, "all leads load_one accounts, {ctx}");
            let calls = everyone.load_many(call::Entity, &conn).await.unwrap();
            let expected: Vec<_> = everyone.iter().map(|l| own.calls_of(l.id)).collect();
            assert_eq!(calls, expected, "all leads load_many calls, {ctx}");
        }
    })
    .await;
}

/// Explicit `join(JoinType::..., ...)`, with cross-tenant foreign keys.
#[tokio::test]
async fn explicit_joins_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            let conn = fx.conn(t);
            let own = fx.own(t).await;
            let ctx = format!("tenant {t} on {}", fx.backend);

            // LEFT JOIN: a lead whose account belongs to another tenant keeps
            // its row, without the account.
            let pairs = lead::Entity::find()
                .select_also(account::Entity)
                .join(JoinType::LeftJoin, lead::Relation::Account.def())
                .order_by_asc(lead::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .map(|l| (l.clone(), own.account(l.account_id)))
                .collect();
            assert_eq!(pairs, expected, "LEFT JOIN accounts, {ctx}");

            // INNER JOIN over three tables with a filter on the far one:
            // "Acme" accounts exist in tenants 1, 2 and 3.
            let calls = call::Entity::find()
                .join(JoinType::InnerJoin, call::Relation::Lead.def())
                .join(JoinType::InnerJoin, lead::Relation::Account.def())
                .filter(account::Column::Name.eq("Acme"))
                .order_by_asc(call::Column::Id)
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .calls
                .iter()
                .filter(|c| {
                    c.lead_id
                        .and_then(|id| own.lead(id))
                        .and_then(|l| own.account(l.account_id))
                        .is_some_and(|a| a.name == "Acme")
                })
                .cloned()
                .collect();
            assert_eq!(calls, expected, "INNER JOIN leads, accounts, {ctx}");

            // select_only + column_as across the join, as tuples.
            let names: Vec<(i32, String, String)> = lead::Entity::find()
                .select_only()
                .column(lead::Column::Id)
                .column(lead::Column::Name)
                .column_as(account::Column::Name, "account_name")
                .join(JoinType::InnerJoin, lead::Relation::Account.def())
                .order_by_asc(lead::Column::Id)
                .into_tuple()
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .leads
                .iter()
                .filter_map(|l| {
                    let a = own.account(l.account_id)?;
                    Some((l.id, l.name.clone(), a.name))
                })
                .collect();
            assert_eq!(names, expected, "INNER JOIN into_tuple, {ctx}");

            // Asking for another tenant's accounts through the join.
            let other = Fixture::other_than(t);
            let leaked = lead::Entity::find()
                .join(JoinType::InnerJoin, lead::Relation::Account.def())
                .filter(
                    Condition::any()
                        .add(account::Column::EntityId.eq(other))
                        .add(lead::Column::EntityId.eq(other)),
                )
                .all(&conn)
                .await
                .unwrap();
            assert_eq!(leaked, vec![], "join naming tenant {other}, {ctx}");

            // RIGHT-side style: accounts LEFT JOIN leads, counted per account.
            let counts: Vec<(i32, i64)> = account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .column_as(lead::Column::Id.count(), "n")
                .join(JoinType::LeftJoin, account::Relation::Leads.def())
                .group_by(account::Column::Id)
                .order_by_asc(account::Column::Id)
                .into_tuple()
                .all(&conn)
                .await
                .unwrap();
            let expected: Vec<_> = own
                .accounts
                .iter()
                .map(|a| (a.id, own.leads_of(a.id).len() as i64))
                .collect();
            assert_eq!(counts, expected, "LEFT JOIN + GROUP BY, {ctx}");
        }

        // The cross-tenant foreign key by name: lead 5 of tenant 2 points at
        // account 1 of tenant 1, and tenant 2 must not see it.
        let conn = fx.conn(2);
        let five = lead::Entity::find_by_id(5)
            .find_also_related(account::Entity)
            .one(&conn)
            .await
            .unwrap();
        let five_raw = fx.raw_lead(5).await;
        assert_eq!(five, five_raw.map(|l| (l, None)), "on {}", fx.backend);
    })
    .await;
}
