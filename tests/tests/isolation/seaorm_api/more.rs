//! Upserts, `exists`, cursors, `save`, `ON CONFLICT DO NOTHING` and `RETURNING`.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    NotSet, QueryFilter, SelectExt, Set,
};
use tenancy_seaorm::Refusal;
use tenancy_testkit::fixtures::{account, call, lead};
use tenancy_testkit::for_each_backend;

use super::{ACCOUNTS, Fixture, TENANTS};

/// Upserts (`ON CONFLICT` / `ON DUPLICATE KEY UPDATE`): a conflict with the
/// own row updates it; a conflict with another tenant's row changes nothing.
#[tokio::test]
async fn upserts_are_guarded() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in [1, 2, 3] {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;
            let on_conflict = || {
                OnConflict::column(account::Column::Id)
                    .update_column(account::Column::Name)
                    .to_owned()
            };

            // Conflict with another tenant's row: nothing changes, whatever
            // SeaORM makes of the outcome (rows affected differ by backend).
            // The proposed row is a valid row of t (tenant column given or
            // stamped), so only the upsert's guard stops the update.
            let everything = fx.everything().await;
            let foreign = ACCOUNTS.iter().filter(|a| a.1 != t);
            for (&(id, owner, _), entity_id) in foreign.flat_map(|a| [(a, Set(t)), (a, NotSet)]) {
                let outcome = account::Entity::insert(account::ActiveModel {
                    id: Set(id),
                    entity_id,
                    name: Set("Hijacked".into()),
                    region_id: NotSet,
                })
                .on_conflict(on_conflict())
                .exec_without_returning(&conn)
                .await;
                if let Err(e) = &outcome {
                    assert!(
                        Refusal::from_db_err(e).is_none(),
                        "upsert on account {id} of {owner} refused, {ctx}: {e}"
                    );
                }
                assert_eq!(
                    fx.everything().await,
                    everything,
                    "upsert on account {id} of {owner}, {ctx}"
                );
            }

            // Conflict with the own row: updated, with the tenant column
            // stamped or given.
            for (i, entity_id) in [NotSet, Set(t)].into_iter().enumerate() {
                let mine = before.accounts[i].clone();
                account::Entity::insert(account::ActiveModel {
                    id: Set(mine.id),
                    entity_id,
                    name: Set(format!("Upserted {i}")),
                    region_id: NotSet,
                })
                .on_conflict(on_conflict())
                .exec_without_returning(&conn)
                .await
                .unwrap_or_else(|e| panic!("upsert own row, {ctx}: {e}"));
            }
            let mut expected = before.clone();
            expected.accounts[0].name = "Upserted 0".into();
            expected.accounts[1].name = "Upserted 1".into();
            assert_eq!(fx.own(t).await, expected, "own rows, {ctx}");
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
        }
    })
    .await;
}

/// More of SeaORM's surface: `exists`, cursor pagination, `save`,
/// `ActiveModel::delete`, `ON CONFLICT DO NOTHING`, and (where the backend
/// has it) `UPDATE`/`DELETE ... RETURNING`.
#[tokio::test]
async fn more_apis_are_scoped() {
    for_each_backend(|raw| async move {
        let fx = Fixture::new(raw).await;
        for t in TENANTS {
            fx.reseed().await;
            let conn = fx.conn(t);
            let ctx = format!("tenant {t} on {}", fx.backend);
            let others = fx.others(t).await;
            let before = fx.own(t).await;
            let other = Fixture::other_than(t);

            // `exists`: "Frank" is a lead of tenant 3 only.
            let frank = lead::Entity::find()
                .filter(lead::Column::Name.eq("Frank"))
                .exists(&conn)
                .await
                .unwrap();
            assert_eq!(frank, t == 3, "exists, {ctx}");
            let foreign = account::Entity::find()
                .filter(account::Column::EntityId.eq(other))
                .exists(&conn)
                .await
                .unwrap();
            assert!(!foreign, "exists naming tenant {other}, {ctx}");

            // Cursor pagination.
            let mut cursor = lead::Entity::find().cursor_by(lead::Column::Id);
            let first = cursor.after(0).first(2).all(&conn).await.unwrap();
            let mut seen = first.clone();
            if let Some(last) = first.last() {
                let mut cursor = lead::Entity::find().cursor_by(lead::Column::Id);
                seen.extend(cursor.after(last.id).first(100).all(&conn).await.unwrap());
            }
            assert_eq!(seen, before.leads, "cursor pages, {ctx}");

            // `save`: insert (stamped), then update.
            let saved = lead::ActiveModel {
                name: Set("Saved".into()),
                status: Set("new".into()),
                account_id: Set(None),
                ..Default::default()
            }
            .save(&conn)
            .await
            .unwrap_or_else(|e| panic!("save (insert), {ctx}: {e}"));
            assert_eq!(saved.entity_id.as_ref(), &t, "{ctx}");
            let mut saved = saved;
            saved.status = Set("won".into());
            let saved = saved
                .save(&conn)
                .await
                .unwrap_or_else(|e| panic!("save (update), {ctx}: {e}"));
            let saved_id = *saved.id.as_ref();
            let saved_row = fx.raw_lead(saved_id).await.expect("saved");
            assert_eq!((saved_row.entity_id, saved_row.status.as_str()), (t, "won"));

            // `save` and `delete` of another tenant's row: nothing happens.
            let everything = fx.everything().await;
            let foreign = fx.foreign_lead(t).await;
            let mut am = foreign.clone().into_active_model();
            am.status = Set("hijacked".into());
            let err = am
                .save(&conn)
                .await
                .expect_err("saving another tenant's row must fail");
            assert!(matches!(err, DbErr::RecordNotUpdated), "{ctx}: {err}");
            let result = foreign.into_active_model().delete(&conn).await.unwrap();
            assert_eq!(result.rows_affected, 0, "{ctx}");
            assert_eq!(fx.everything().await, everything, "{ctx}");

            // INSERT ... ON CONFLICT DO NOTHING on another tenant's id.
            for &(id, owner, _) in ACCOUNTS.iter().filter(|a| a.1 != t) {
                let outcome = account::Entity::insert(account::ActiveModel {
                    id: Set(id),
                    entity_id: Set(t),
                    name: Set("Hijacked".into()),
                    region_id: NotSet,
                })
                .on_conflict_do_nothing_on([account::Column::Id])
                .exec(&conn)
                .await;
                if let Err(e) = &outcome {
                    assert!(
                        Refusal::from_db_err(e).is_none(),
                        "DO NOTHING on account {id} of {owner} refused, {ctx}: {e}"
                    );
                }
                assert_eq!(fx.everything().await, everything, "account {id}, {ctx}");
            }

            // RETURNING, where SeaORM uses it.
            if conn.support_returning() {
                let mut returned = lead::Entity::update_many()
                    .col_expr(lead::Column::Status, Expr::value("returned"))
                    .filter(
                        Condition::any()
                            .add(lead::Column::EntityId.eq(other))
                            .add(lead::Column::Name.eq("Alice")),
                    )
                    .exec_with_returning(&conn)
                    .await
                    .unwrap_or_else(|e| panic!("UPDATE RETURNING, {ctx}: {e}"));
                returned.sort_by_key(|l| l.id);
                let expected: Vec<_> = before
                    .leads
                    .iter()
                    .filter(|l| l.name == "Alice")
                    .map(|l| lead::Model {
                        status: "returned".into(),
                        ..l.clone()
                    })
                    .collect();
                assert_eq!(returned, expected, "UPDATE RETURNING, {ctx}");

                let mut deleted = call::Entity::delete_many()
                    .filter(
                        Condition::any()
                            .add(call::Column::CompanyId.eq(other))
                            .add(call::Column::Disposition.eq("answered")),
                    )
                    .exec_with_returning(&conn)
                    .await
                    .unwrap_or_else(|e| panic!("DELETE RETURNING, {ctx}: {e}"));
                deleted.sort_by_key(|c| c.id);
                let expected: Vec<_> = before
                    .calls
                    .iter()
                    .filter(|c| c.disposition == "answered")
                    .cloned()
                    .collect();
                assert_eq!(deleted, expected, "DELETE RETURNING, {ctx}");
            }
            assert_eq!(fx.others(t).await, others, "other tenants' rows, {ctx}");
        }
    })
    .await;
}
