//! Transactions: `begin` with commit and rollback, the closure form, and savepoints.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, NotSet, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionError, TransactionTrait,
};
use tenancy_testkit::fixtures::{account, call, lead};
use tenancy_testkit::for_each_backend;

use super::{Fixture, assert_foreign_tenant};

/// `begin` + commit and `begin` + rollback; statements inside are scoped.
#[tokio::test]
async fn begin_commit_and_rollback() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let t = 2;
        let conn = fx.conn(t);
        let ctx = format!("tenant {t} on {}", fx.backend);
        let others = fx.others(t).await;
        let before = fx.own(t).await;

        // Rollback: nothing of it stays.
        let everything = fx.everything().await;
        let txn = conn.begin().await.unwrap();
        assert_eq!(txn.tenant(), t.into());
        lead::ActiveModel {
            name: Set("Temp".into()),
            status: Set("new".into()),
            account_id: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        let result = lead::Entity::delete_many()
            .filter(lead::Column::Name.eq("Alice"))
            .exec(&txn)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{ctx}");
        let seen = lead::Entity::find()
            .order_by_asc(lead::Column::Id)
            .all(&txn)
            .await
            .unwrap();
        let names: Vec<_> = seen.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["Dave", "Erin", "Temp"],
            "inside the transaction, {ctx}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(fx.everything().await, everything, "after rollback, {ctx}");

        // Commit: scoped writes and reads inside, visible after.
        let txn = conn.begin().await.unwrap();
        let inserted = lead::ActiveModel {
            name: Set("Kept".into()),
            status: Set("new".into()),
            account_id: Set(Some(1)),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        assert_eq!(inserted.entity_id, t, "{ctx}");
        let result = lead::Entity::update_many()
            .col_expr(lead::Column::Status, Expr::value("touched"))
            .filter(lead::Column::Status.eq("new"))
            .exec(&txn)
            .await
            .unwrap();
        let n = before.leads.iter().filter(|l| l.status == "new").count() as u64 + 1;
        assert_eq!(result.rows_affected, n, "{ctx}");
        let mut expected = before.clone();
        for l in &mut expected.leads {
            if l.status == "new" {
                l.status = "touched".into();
            }
        }
        expected.leads.push(lead::Model {
            status: "touched".into(),
            ..inserted
        });
        // The tenant's uncommitted rows, joined inside the transaction. Lead
        // "Kept" points at tenant 1's account 1, which stays invisible.
        let pairs = lead::Entity::find()
            .find_also_related(account::Entity)
            .order_by_asc(lead::Column::Id)
            .all(&txn)
            .await
            .unwrap();
        let expected_pairs: Vec<_> = expected
            .leads
            .iter()
            .map(|l| (l.clone(), expected.account(l.account_id)))
            .collect();
        assert_eq!(pairs, expected_pairs, "inside the transaction, {ctx}");
        // A refusal inside the transaction leaves it usable.
        let err = lead::ActiveModel {
            entity_id: Set(1),
            name: Set("Planted".into()),
            status: Set("new".into()),
            account_id: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .expect_err("refused inside the transaction");
        assert_foreign_tenant(&err, "leads");
        let count = lead::Entity::find().count(&txn).await.unwrap();
        assert_eq!(count, before.leads.len() as u64 + 1, "{ctx}");
        txn.commit().await.unwrap();
        assert_eq!(fx.own(t).await, expected, "after commit, {ctx}");
        assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
    })
    .await;
}

/// The `transaction(|txn| Box::pin(async move { .. }))` closure form: Ok
/// commits, Err rolls back, a refusal inside rolls back the whole closure.
#[tokio::test]
async fn transaction_closure() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let t = 3;
        let conn = fx.conn(t);
        let ctx = format!("tenant {t} on {}", fx.backend);
        let others = fx.others(t).await;
        let before = fx.own(t).await;

        let (inserted, seen) = conn
            .transaction::<_, _, DbErr>(|txn| {
                Box::pin(async move {
                    let inserted = account::ActiveModel {
                        id: NotSet,
                        entity_id: NotSet,
                        name: Set("Closure".into()),
                        region_id: NotSet,
                    }
                    .insert(txn)
                    .await?;
                    account::Entity::update_many()
                        .col_expr(account::Column::Name, Expr::value("Acme Corp"))
                        .filter(account::Column::Name.eq("Acme"))
                        .exec(txn)
                        .await?;
                    let seen = account::Entity::find()
                        .order_by_asc(account::Column::Id)
                        .all(txn)
                        .await?;
                    Ok((inserted, seen))
                })
            })
            .await
            .unwrap_or_else(|e| panic!("transaction closure, {ctx}: {e}"));
        assert_eq!(inserted.entity_id, t, "{ctx}");
        let mut expected = before.clone();
        for a in &mut expected.accounts {
            if a.name == "Acme" {
                a.name = "Acme Corp".into();
            }
        }
        expected.accounts.push(inserted);
        assert_eq!(seen, expected.accounts, "read inside the closure, {ctx}");
        assert_eq!(fx.own(t).await, expected, "after commit, {ctx}");
        assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");

        // The closure fails: rolled back.
        let everything = fx.everything().await;
        let err = conn
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    account::Entity::delete_many().exec(txn).await?;
                    Err(DbErr::Custom("changed my mind".into()))
                })
            })
            .await
            .expect_err("the closure failed");
        assert!(matches!(
            err,
            TransactionError::Transaction(DbErr::Custom(_))
        ));
        assert_eq!(fx.everything().await, everything, "after Err, {ctx}");

        // A refusal halfway: the earlier write is rolled back too.
        let err = conn
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    lead::Entity::delete_many().exec(txn).await?;
                    account::ActiveModel {
                        id: NotSet,
                        entity_id: Set(1),
                        name: Set("Planted".into()),
                        region_id: NotSet,
                    }
                    .insert(txn)
                    .await?;
                    Ok(())
                })
            })
            .await
            .expect_err("refused inside the closure");
        match &err {
            TransactionError::Transaction(e) => assert_foreign_tenant(e, "accounts"),
            other => panic!("expected the refusal, got {other}"),
        }
        assert_eq!(fx.everything().await, everything, "after refusal, {ctx}");
    })
    .await;
}

/// Nested transactions (savepoints) through `txn.begin()` and the nested
/// closure form.
#[tokio::test]
async fn nested_transactions() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        let t = 1;
        let conn = fx.conn(t);
        let ctx = format!("tenant {t} on {}", fx.backend);
        let others = fx.others(t).await;
        let before = fx.own(t).await;

        let outer = conn.begin().await.unwrap();
        let kept = call::ActiveModel {
            lead_id: Set(Some(1)),
            seconds: Set(60),
            disposition: Set("outer".into()),
            ..Default::default()
        }
        .insert(&outer)
        .await
        .unwrap();

        // A savepoint rolled back.
        let inner = outer.begin().await.unwrap();
        assert_eq!(inner.tenant(), t.into());
        call::ActiveModel {
            lead_id: Set(Some(1)),
            seconds: Set(60),
            disposition: Set("inner-rolled-back".into()),
            ..Default::default()
        }
        .insert(&inner)
        .await
        .unwrap();
        call::Entity::delete_many().exec(&inner).await.unwrap();
        assert_eq!(call::Entity::find().count(&inner).await.unwrap(), 0);
        inner.rollback().await.unwrap();
        assert_eq!(
            call::Entity::find().count(&outer).await.unwrap(),
            before.calls.len() as u64 + 1,
            "{ctx}"
        );

        // A savepoint released, with a write whose filter matches others.
        let inner = outer.begin().await.unwrap();
        let result = call::Entity::update_many()
            .col_expr(call::Column::Disposition, Expr::value("inner"))
            .filter(call::Column::Disposition.eq("answered"))
            .exec(&inner)
            .await
            .unwrap();
        let answered = before
            .calls
            .iter()
            .filter(|c| c.disposition == "answered")
            .count() as u64;
        assert_eq!(result.rows_affected, answered, "{ctx}");
        inner.commit().await.unwrap();

        // The nested closure form, failing: its savepoint is rolled back.
        let err = outer
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    call::Entity::delete_many().exec(txn).await?;
                    Err(DbErr::Custom("nested failure".into()))
                })
            })
            .await
            .expect_err("the nested closure failed");
        assert!(matches!(err, TransactionError::Transaction(_)));
        // And succeeding.
        outer
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    account::Entity::update_many()
                        .col_expr(account::Column::Name, Expr::value("Nested"))
                        .filter(account::Column::Name.eq("Acme"))
                        .exec(txn)
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        outer.commit().await.unwrap();

        let mut expected = before.clone();
        for c in &mut expected.calls {
            if c.disposition == "answered" {
                c.disposition = "inner".into();
            }
        }
        expected.calls.push(kept);
        for a in &mut expected.accounts {
            if a.name == "Acme" {
                a.name = "Nested".into();
            }
        }
        assert_eq!(fx.own(t).await, expected, "after commit, {ctx}");
        assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
    })
    .await;
}
