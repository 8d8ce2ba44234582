//! The statements the generator builds, and the strategy that picks them.

use proptest::prelude::*;

use super::Ent;
use super::conditions::{BCond, opt_cond};
use crate::model::TENANTS;

/// The shape of a plain `Entity::find()`.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// All columns.
    Plain,
    /// `.order_by_asc(id).limit(n).offset(m)` (no offset when 0).
    Page { limit: u64, offset: u64 },
    /// `.select_only().column(text).distinct()`
    Distinct,
    /// `.lock_exclusive()` (`FOR UPDATE`; SQLite has no such clause and
    /// sea-query leaves it out there).
    Lock,
}

/// How a related table is joined.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// `.find_also_related(R)` (LEFT JOIN, both tables' columns).
    AlsoRelated,
    /// `.find_with_related(R)` (LEFT JOIN, ordered).
    WithRelated,
    /// `.join(JoinType::InnerJoin, relation)`
    Inner,
    /// `.join(JoinType::LeftJoin, relation)`
    Left,
    /// `.join(JoinType::RightJoin, relation)`
    Right,
    /// `.join(JoinType::LeftJoin, relation.on_condition(..))`: the joined
    /// table's condition in ON.
    LeftOn,
    /// `.join_as(JoinType::LeftJoin, relation, Alias::new("j"))`, filtered
    /// through the alias: `j.<text> = ..` when there is a joined condition,
    /// else `j.id IS NULL` (an anti-join).
    LeftAs,
}

#[derive(Debug, Clone, Copy)]
pub enum Compound {
    Union,
    UnionAll,
    /// `WITH x AS (left) SELECT x.id, x.v FROM x WHERE x.id IN (right)`
    Cte,
    /// `SELECT x.id, x.v FROM (left) AS x WHERE x.id NOT IN (right)`
    FromSubquery,
}

#[derive(Debug, Clone, Copy)]
pub enum Agg {
    Count,
    Sum,
    Max,
}

#[derive(Debug, Clone, Copy)]
pub enum UpsertAction {
    /// `.update_columns([Name, Score])`
    Columns,
    /// `.update_column(Name).value(Score, Expr::value(n))`
    Value,
    /// `.update_columns([Name, Score]).action_and_where(Status.ne("lost"))`
    /// (MySQL has no such WHERE; sea-query drops it there).
    Where,
    /// `.on_conflict_do_nothing()` (MySQL: `ON DUPLICATE KEY UPDATE id = id`).
    DoNothing,
}

/// A statement built with SeaORM.
#[derive(Debug, Clone)]
pub enum Built {
    /// `Entity::find().filter(cond)` in one of its shapes.
    Find {
        ent: Ent,
        cond: Option<BCond>,
        shape: Shape,
    },
    /// `base` joined to its parent or child `joined`, with conditions on
    /// both.
    Join {
        base: Ent,
        joined: Ent,
        style: Style,
        cond: Option<BCond>,
        joined_cond: Option<BCond>,
    },
    /// `leads.find_also_related(accounts).find_also_related(calls)` (three
    /// tables).
    Star {
        cond: Option<BCond>,
        account_cond: Option<BCond>,
    },
    /// `P::find().select_only().column(id).expr_as(Expr::SubQuery(SELECT
    /// COUNT(child.id) FROM child WHERE child.fk = P.id AND ..), "n")`
    Scalar {
        parent: Ent,
        child_cond: Option<BCond>,
    },
    /// `select_only().column(id).column_as(text, "v")` on `left`, combined
    /// with sea-query's `union` with the same on `right`, or used as a CTE
    /// (`Query::with()`) or as a derived table (`from_subquery`) filtered by
    /// `right`'s ids.
    Compound {
        kind: Compound,
        left: (Ent, Option<BCond>),
        right: (Ent, Option<BCond>),
    },
    /// `select_only().column(g).column_as(agg, "n").group_by(g)`
    Aggregate {
        ent: Ent,
        group_text: bool,
        agg: Agg,
        cond: Option<BCond>,
        having: Option<i32>,
    },
    /// `Entity::insert(am)` (`many`: `insert_many`), the tenant column
    /// `NotSet` (`None`) or `Set` per row (0: the connection's tenant).
    Insert {
        ent: Ent,
        rows: u8,
        many: bool,
        tenants: Option<[i64; 3]>,
        seed: i32,
    },
    /// `update_many().col_expr(..)` or `.set(am)`, `.filter(cond)`.
    Update {
        ent: Ent,
        value: i32,
        via_set: bool,
        cond: Option<BCond>,
    },
    /// `update_many()` setting the tenant column.
    UpdateTenant {
        ent: Ent,
        tenant: i64,
        via_set: bool,
        cond: Option<BCond>,
    },
    /// `delete_many().filter(cond)`
    Delete { ent: Ent, cond: Option<BCond> },
    /// `lead::Entity::insert(am).on_conflict(OnConflict::column(Id)...)`,
    /// with an id that may be another tenant's (0: a fresh id), the tenant
    /// column `NotSet` or `Set` (0: the connection's tenant).
    Upsert {
        id: i64,
        seed: i32,
        tenant: Option<i64>,
        action: UpsertAction,
    },
}

impl Built {
    /// Whether the statement binds a tenant value: a tenant column `Set`,
    /// or compared with [`Atom::Tenant`](super::conditions::Atom::Tenant).
    /// The fixture entities bind it as `i64`, so only integer keys can run
    /// such a statement.
    pub fn binds_tenant(&self) -> bool {
        let any = |conds: &[&Option<BCond>]| {
            conds
                .iter()
                .any(|c| c.as_ref().is_some_and(BCond::binds_tenant))
        };
        match self {
            Built::Insert { tenants, .. } => tenants.is_some(),
            Built::UpdateTenant { .. } => true,
            Built::Upsert { tenant, .. } => tenant.is_some(),
            Built::Find { cond, .. }
            | Built::Aggregate { cond, .. }
            | Built::Update { cond, .. }
            | Built::Delete { cond, .. } => any(&[cond]),
            Built::Join {
                cond, joined_cond, ..
            } => any(&[cond, joined_cond]),
            Built::Star { cond, account_cond } => any(&[cond, account_cond]),
            Built::Scalar { child_cond, .. } => any(&[child_cond]),
            Built::Compound { left, right, .. } => any(&[&left.1, &right.1]),
        }
    }
}

fn ent() -> impl Strategy<Value = Ent> {
    prop::sample::select(Ent::ALL.to_vec())
}

fn scoped_ent() -> impl Strategy<Value = Ent> {
    prop::sample::select(Ent::SCOPED.to_vec())
}

/// Mostly scoped tables, sometimes the global one (writes to it are
/// refused).
fn write_ent() -> impl Strategy<Value = Ent> {
    prop_oneof![6 => scoped_ent(), 1 => Just(Ent::Regions)]
}

/// A table and one it is related to.
fn link() -> impl Strategy<Value = (Ent, Ent)> {
    let mut pairs = Vec::new();
    for e in Ent::ALL {
        if let Some((_, p)) = e.parent() {
            pairs.push((e, p));
        }
        if let Some((c, _)) = e.child() {
            pairs.push((e, c));
        }
    }
    prop::sample::select(pairs)
}

pub fn built() -> impl Strategy<Value = Built> {
    let shape = prop_oneof![
        3 => Just(Shape::Plain),
        2 => (1..5_u64, 0..3_u64).prop_map(|(limit, offset)| Shape::Page { limit, offset }),
        1 => Just(Shape::Distinct),
        1 => Just(Shape::Lock),
    ];
    let style = prop::sample::select(vec![
        Style::AlsoRelated,
        Style::WithRelated,
        Style::Inner,
        Style::Left,
        Style::Right,
        Style::LeftOn,
        Style::LeftAs,
    ]);
    let tenant = || prop::sample::select(TENANTS.to_vec());
    prop_oneof![
        3 => (ent(), shape).prop_flat_map(|(ent, shape)| {
            opt_cond(ent).prop_map(move |cond| Built::Find { ent, cond, shape })
        }),
        3 => (link(), style).prop_flat_map(|((base, joined), style)| {
            (opt_cond(base), opt_cond(joined)).prop_map(move |(cond, joined_cond)| Built::Join {
                base,
                joined,
                style,
                cond,
                joined_cond,
            })
        }),
        1 => (opt_cond(Ent::Leads), opt_cond(Ent::Accounts))
            .prop_map(|(cond, account_cond)| Built::Star { cond, account_cond }),
        1 => prop::sample::select(vec![Ent::Regions, Ent::Accounts, Ent::Leads])
            .prop_flat_map(|parent| {
                let (child, _) = parent.child().expect("a parent table");
                opt_cond(child).prop_map(move |child_cond| Built::Scalar { parent, child_cond })
            }),
        2 => (
            prop::sample::select(vec![
                Compound::Union,
                Compound::UnionAll,
                Compound::Cte,
                Compound::FromSubquery,
            ]),
            ent(),
            ent(),
        )
            .prop_flat_map(|(kind, l, r)| {
                (opt_cond(l), opt_cond(r)).prop_map(move |(lc, rc)| Built::Compound {
                    kind,
                    left: (l, lc),
                    right: (r, rc),
                })
            }),
        2 => (
            ent(),
            any::<bool>(),
            prop::sample::select(vec![Agg::Count, Agg::Sum, Agg::Max]),
            prop::option::of(0..3_i32),
        )
            .prop_flat_map(|(ent, group_text, agg, having)| {
                opt_cond(ent).prop_map(move |cond| Built::Aggregate {
                    ent,
                    group_text,
                    agg,
                    cond,
                    having,
                })
            }),
        3 => (
            write_ent(),
            1..=3_u8,
            any::<bool>(),
            prop::option::weighted(0.4, prop::array::uniform3(prop_oneof![
                3 => Just(0_i64),
                1 => tenant(),
            ])),
            0..1000_i32,
        )
            .prop_map(|(ent, rows, many, tenants, seed)| Built::Insert {
                ent,
                // `insert` takes one row; `insert_many` one or more.
                rows: if many { rows } else { 1 },
                many,
                // 0 stands for the connection's tenant, resolved at render.
                tenants,
                seed,
            }),
        3 => (write_ent(), 0..100_i32, any::<bool>()).prop_flat_map(|(ent, value, via_set)| {
            opt_cond(ent).prop_map(move |cond| Built::Update { ent, value, via_set, cond })
        }),
        1 => (scoped_ent(), tenant(), any::<bool>()).prop_flat_map(|(ent, tenant, via_set)| {
            opt_cond(ent).prop_map(move |cond| Built::UpdateTenant {
                ent,
                tenant,
                via_set,
                cond,
            })
        }),
        2 => write_ent().prop_flat_map(|ent| {
            opt_cond(ent).prop_map(move |cond| Built::Delete { ent, cond })
        }),
        2 => (
            prop_oneof![4 => 1..=14_i64, 1 => Just(0_i64)],
            0..100_i32,
            prop::option::weighted(0.3, prop_oneof![2 => Just(0_i64), 1 => tenant()]),
            prop::sample::select(vec![
                UpsertAction::Columns,
                UpsertAction::Value,
                UpsertAction::Where,
                UpsertAction::DoNothing,
            ]),
        )
            .prop_map(|(id, seed, tenant, action)| Built::Upsert { id, seed, tenant, action }),
    ]
}
