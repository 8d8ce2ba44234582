//! The cases, both sides' queries, and the `Fixture` that runs them on one database.

use std::hint::black_box;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use tenancy_seaorm::{TableRegistry, TenantConnection};
use tenancy_testkit::fixtures::{account, lead};

use crate::{LIST_LEN, LIST_STATUS, SEEDED_LEADS, TENANT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Hand,
    Scoped,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Case {
    FindById,
    ListJoin50,
    UpdateMany,
    Insert,
}

impl Case {
    /// In run order: inserts last, since they grow the table.
    pub(super) const ALL: [Case; 4] = [
        Case::FindById,
        Case::ListJoin50,
        Case::UpdateMany,
        Case::Insert,
    ];

    /// The cases the null connection can answer.
    pub(super) const READS: [Case; 2] = [Case::FindById, Case::ListJoin50];

    pub(super) fn name(self) -> &'static str {
        match self {
            Case::FindById => "find_by_id",
            Case::ListJoin50 => "list_join_50",
            Case::UpdateMany => "update_many",
            Case::Insert => "insert",
        }
    }
}

/// What the database groups and the summary need of a fixture, whatever
/// its tenant keys: the cases under their names, run on either side.
pub(super) trait Cases {
    /// The backend column of the summary, and the criterion group's suffix.
    fn backend(&self) -> &'static str;

    /// The case's name in bench ids and summary rows.
    fn name(&self, case: Case) -> String;

    async fn run(&self, case: Case, side: Side);

    /// Removes the rows the insert case added.
    async fn drop_inserted(&self);
}

/// One database, seeded, with both ways of reaching it.
pub(super) struct Fixture<C = DatabaseConnection> {
    pub(super) backend: &'static str,
    pub(super) db: C,
    pub(super) scoped: TenantConnection<C>,
    pub(super) registry: TableRegistry,
    /// A lead that belongs to `TENANT`.
    pub(super) lead_id: i32,
    /// An account that belongs to `TENANT`, for inserts.
    pub(super) account_id: i32,
    /// An id range holding a handful of `TENANT`'s leads (and others').
    pub(super) update_ids: (i32, i32),
}

pub(super) fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped::<account::Entity>()
        .scoped::<lead::Entity>()
        .build()
        .expect("registry")
}

pub(super) fn find_by_id_query(side: Side, id: i32) -> sea_orm::Select<lead::Entity> {
    let query = lead::Entity::find_by_id(id);
    match side {
        Side::Hand => query.filter(lead::Column::EntityId.eq(TENANT)),
        Side::Scoped => query,
    }
}

pub(super) fn list_query(side: Side) -> sea_orm::SelectTwo<lead::Entity, account::Entity> {
    let query = lead::Entity::find();
    // By hand one filters the table listed; the scoped rewrite also filters
    // the joined accounts, which the foreign key makes redundant here.
    let query = match side {
        Side::Hand => query.filter(lead::Column::EntityId.eq(TENANT)),
        Side::Scoped => query,
    };
    query
        .find_also_related(account::Entity)
        .filter(lead::Column::Status.eq(LIST_STATUS))
        .order_by_asc(lead::Column::Id)
        .limit(LIST_LEN)
}

pub(super) fn update_query(side: Side, (lo, hi): (i32, i32)) -> sea_orm::UpdateMany<lead::Entity> {
    let query = lead::Entity::update_many()
        .col_expr(lead::Column::Score, Expr::value(7_i32))
        .filter(lead::Column::Id.between(lo, hi));
    match side {
        Side::Hand => query.filter(lead::Column::EntityId.eq(TENANT)),
        Side::Scoped => query,
    }
}

/// A lead to insert; by hand the caller sets the tenant column too.
pub(super) fn new_lead(side: Side, account_id: i32) -> lead::ActiveModel {
    let mut row = lead::ActiveModel {
        account_id: Set(Some(account_id)),
        name: Set("bench".to_owned()),
        status: Set("bench".to_owned()),
        score: Set(Some(1)),
        ..Default::default()
    };
    if side == Side::Hand {
        row.entity_id = Set(TENANT);
    }
    row
}

impl<C: ConnectionTrait + Send + Sync> Fixture<C> {
    pub(super) async fn run(&self, case: Case, side: Side) {
        match case {
            Case::FindById => {
                let query = find_by_id_query(side, self.lead_id);
                let row = match side {
                    Side::Hand => query.one(&self.db).await,
                    Side::Scoped => query.one(&self.scoped).await,
                };
                black_box(row.expect("find_by_id"));
            }
            Case::ListJoin50 => {
                let query = list_query(side);
                let rows = match side {
                    Side::Hand => query.all(&self.db).await,
                    Side::Scoped => query.all(&self.scoped).await,
                };
                black_box(rows.expect("list"));
            }
            Case::UpdateMany => {
                black_box(self.update(side).await.expect("update_many"));
            }
            Case::Insert => {
                let row = new_lead(side, self.account_id);
                let inserted = match side {
                    Side::Hand => row.insert(&self.db).await,
                    Side::Scoped => row.insert(&self.scoped).await,
                };
                black_box(inserted.expect("insert"));
            }
        }
    }

    pub(super) async fn update(&self, side: Side) -> Result<sea_orm::UpdateResult, DbErr> {
        let query = update_query(side, self.update_ids);
        match side {
            Side::Hand => query.exec(&self.db).await,
            Side::Scoped => query.exec(&self.scoped).await,
        }
    }

    /// Removes the rows the insert case added, so later cases see the
    /// seeded table.
    pub(super) async fn drop_inserted(&self) {
        lead::Entity::delete_many()
            .filter(lead::Column::Id.gt(SEEDED_LEADS))
            .exec(&self.db)
            .await
            .expect("delete inserted rows");
    }

    /// Both sides must do the same work, or the comparison means nothing.
    pub(super) async fn check_sides_agree(&self) {
        let find = |side| find_by_id_query(side, self.lead_id);
        let hand = find(Side::Hand).one(&self.db).await.expect("find");
        let scoped = find(Side::Scoped).one(&self.scoped).await.expect("find");
        assert!(hand.is_some(), "the lead exists");
        assert_eq!(hand, scoped, "find_by_id differs");

        let hand = list_query(Side::Hand).all(&self.db).await.expect("list");
        let scoped = list_query(Side::Scoped)
            .all(&self.scoped)
            .await
            .expect("list");
        assert_eq!(hand.len() as u64, LIST_LEN);
        assert!(hand.iter().all(|(_, a)| a.is_some()), "every lead joined");
        assert_eq!(hand, scoped, "list differs");

        let (lo, hi) = self.update_ids;
        let touched = lead::Entity::find()
            .filter(lead::Column::Id.between(lo, hi))
            .filter(lead::Column::EntityId.eq(TENANT))
            .all(&self.db)
            .await
            .expect("count");
        for side in [Side::Hand, Side::Scoped] {
            assert_eq!(
                self.update(side).await.expect("update").rows_affected,
                touched.len() as u64,
                "update_many ({side:?}) touched the wrong rows"
            );
        }

        let inserted = new_lead(Side::Scoped, self.account_id)
            .insert(&self.scoped)
            .await
            .expect("insert");
        assert_eq!(inserted.entity_id, TENANT, "the insert is stamped");
        self.drop_inserted().await;
    }
}

impl<C: ConnectionTrait + Send + Sync> Cases for Fixture<C> {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn name(&self, case: Case) -> String {
        case.name().to_owned()
    }

    async fn run(&self, case: Case, side: Side) {
        Fixture::run(self, case, side).await;
    }

    async fn drop_inserted(&self) {
        Fixture::drop_inserted(self).await;
    }
}

impl Fixture {
    /// A short unit of work in one explicit transaction: a lookup, then an
    /// update of a handful of rows. In RLS mode the tenant is set once, at
    /// `begin`, instead of once per statement.
    pub(super) async fn transaction(&self) {
        let txn = self.scoped.begin().await.expect("begin");
        let row = find_by_id_query(Side::Scoped, self.lead_id).one(&txn).await;
        black_box(row.expect("find_by_id in a transaction"));
        let updated = update_query(Side::Scoped, self.update_ids).exec(&txn).await;
        black_box(updated.expect("update_many in a transaction"));
        txn.commit().await.expect("commit");
    }
}
