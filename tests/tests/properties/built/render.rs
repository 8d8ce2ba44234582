//! Rendering a generated statement with SeaORM, as SQL and values for the oracle.

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, OnConflict, Query, SelectStatement, UnionType,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, JoinType, NotSet,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Related, Set, Statement, StatementBuilder,
};
use tenancy_testkit::Backend;
use tenancy_testkit::fixtures::{account, call, lead, region};

use super::conditions::{BCond, condition};
use super::statements::{Agg, Built, Compound, Shape, Style, UpsertAction};
use super::{Ent, column};
use crate::rendered::Rendered;

fn id32(id: i64) -> i32 {
    i32::try_from(id).expect("an id that fits INTEGER")
}

/// `Set(t)` or `NotSet` for a tenant column; 0 means the connection's own.
fn tenant_value(tenants: &Option<[i64; 3]>, i: usize, own: i64) -> sea_orm::ActiveValue<i64> {
    match tenants {
        None => NotSet,
        Some(ts) => Set(if ts[i] == 0 { own } else { ts[i] }),
    }
}

fn insert_of<A: ActiveModelTrait>(rows: Vec<A>, many: bool, db: DbBackend) -> Statement {
    if many {
        A::Entity::insert_many(rows).build(db)
    } else {
        let row = rows.into_iter().next().expect("one row");
        A::Entity::insert(row).build(db)
    }
}

/// `base` joined to `R` in `style`, with `cond` on `base` and `joined_cond`
/// on `R` (in WHERE, or in ON for [`Style::LeftOn`]).
fn join_query<E, R>(
    style: Style,
    (base, cond): (Ent, &Option<BCond>),
    (joined, joined_cond): (Ent, &Option<BCond>),
) -> SelectStatement
where
    E: EntityTrait + Related<R>,
    R: EntityTrait,
{
    let cond = cond.as_ref().map(|c| condition(base, c));
    let where_joined = joined_cond.as_ref().map(|c| condition(joined, c));
    let join = |join_type| {
        E::find()
            .join(join_type, <E as Related<R>>::to())
            .apply_if(cond.clone(), QueryFilter::filter)
            .apply_if(where_joined.clone(), QueryFilter::filter)
            .into_query()
    };
    match style {
        Style::AlsoRelated => E::find()
            .find_also_related(R::default())
            .apply_if(cond.clone(), QueryFilter::filter)
            .apply_if(where_joined.clone(), QueryFilter::filter)
            .into_query(),
        Style::WithRelated => E::find()
            .find_with_related(R::default())
            .apply_if(cond.clone(), QueryFilter::filter)
            .apply_if(where_joined.clone(), QueryFilter::filter)
            .into_query(),
        Style::Inner => join(JoinType::InnerJoin),
        Style::Left => join(JoinType::LeftJoin),
        Style::Right => join(JoinType::RightJoin),
        Style::LeftAs => {
            let j = || Alias::new("j");
            let filter = match joined_cond {
                Some(_) => ExprTrait::eq(
                    Expr::col((j(), column::<R>(joined.text_column()))),
                    joined.pool(joined.text_column())[0],
                ),
                None => Expr::col((j(), column::<R>("id"))).is_null(),
            };
            E::find()
                .join_as(JoinType::LeftJoin, <E as Related<R>>::to(), j())
                .apply_if(cond, QueryFilter::filter)
                .filter(filter)
                .into_query()
        }
        Style::LeftOn => {
            let on = joined_cond.clone();
            let mut relation = <E as Related<R>>::to();
            if let Some(on) = on {
                relation = relation.on_condition(move |_, _| condition(joined, &on));
            }
            E::find()
                .join(JoinType::LeftJoin, relation)
                .apply_if(cond, QueryFilter::filter)
                .into_query()
        }
    }
}

impl Built {
    /// The statement built by SeaORM for `backend`, as the connection for
    /// `tenant` receives it. Inserted rows take ids `fresh..fresh + 3`.
    pub fn render(&self, backend: Backend, tenant: i64, fresh: i64) -> Option<Rendered> {
        let db = backend.db_backend();
        let read = |statement: Statement, construct: String| Rendered {
            sql: statement.sql,
            values: statement.values,
            construct,
            refusal: None,
            is_read: true,
            upsert_id: None,
        };
        let write =
            |statement: Statement, construct: String, refusal: Option<&'static str>| Rendered {
                sql: statement.sql,
                values: statement.values,
                construct,
                refusal,
                is_read: false,
                upsert_id: None,
            };
        let global = |ent: Ent| (ent == Ent::Regions).then_some("global_table_write");
        Some(match self {
            Built::Find { ent, cond, shape } => {
                let filter = cond.as_ref().map(|c| condition(*ent, c));
                // SQLite 3.51.3 (the bundled one) runs `WHERE EXISTS (...)` as
                // a join ("SEARCH c EXISTS") and then counts OFFSET per joined
                // row, not per result row: with p = {1, 2} and c.pid = {2, 2},
                // `SELECT p.id FROM p WHERE EXISTS (SELECT 1 FROM c WHERE
                // c.pid = p.id) LIMIT 1 OFFSET 1` returns 2 instead of nothing.
                // D|t gets that wrong answer and the scoped connection (whose
                // derived tables don't take the optimization) the right one,
                // so the oracle can't judge OFFSET with EXISTS on SQLite: the
                // offset is dropped there.
                let offset = match shape {
                    Shape::Page { offset, .. }
                        if !(backend == Backend::Sqlite
                            && cond.as_ref().is_some_and(BCond::has_exists)) =>
                    {
                        *offset
                    }
                    _ => 0,
                };
                let statement = on_entity!(*ent, E => {
                    let select = E::find().apply_if(filter, QueryFilter::filter);
                    match shape {
                        Shape::Plain => select.build(db),
                        Shape::Page { limit, .. } => select
                            .order_by_asc(column::<E>("id"))
                            .limit(*limit)
                            .apply_if((offset > 0).then_some(offset), QuerySelect::offset)
                            .build(db),
                        Shape::Lock => select.lock_exclusive().build(db),
                        Shape::Distinct => select
                            .select_only()
                            .column(column::<E>(ent.text_column()))
                            .distinct()
                            .build(db),
                    }
                });
                let shape = match shape {
                    Shape::Plain => "filter",
                    Shape::Page { .. } => "page",
                    Shape::Distinct => "distinct",
                    Shape::Lock => "lock",
                };
                let sub = if cond.as_ref().is_some_and(BCond::has_subquery) {
                    "+subquery"
                } else {
                    ""
                };
                read(statement, format!("built/select/{shape}{sub}"))
            }
            Built::Join {
                base,
                joined,
                style,
                cond,
                joined_cond,
            } => {
                let b = (*base, cond);
                let j = (*joined, joined_cond);
                let query = match (base, joined) {
                    (Ent::Regions, Ent::Accounts) => {
                        join_query::<region::Entity, account::Entity>(*style, b, j)
                    }
                    (Ent::Accounts, Ent::Regions) => {
                        join_query::<account::Entity, region::Entity>(*style, b, j)
                    }
                    (Ent::Accounts, Ent::Leads) => {
                        join_query::<account::Entity, lead::Entity>(*style, b, j)
                    }
                    (Ent::Leads, Ent::Accounts) => {
                        join_query::<lead::Entity, account::Entity>(*style, b, j)
                    }
                    (Ent::Leads, Ent::Calls) => {
                        join_query::<lead::Entity, call::Entity>(*style, b, j)
                    }
                    (Ent::Calls, Ent::Leads) => {
                        join_query::<call::Entity, lead::Entity>(*style, b, j)
                    }
                    _ => unreachable!("not related: {base:?}, {joined:?}"),
                };
                let style = match style {
                    Style::AlsoRelated => "also-related",
                    Style::WithRelated => "with-related",
                    Style::Inner => "join-inner",
                    Style::Left => "join-left",
                    Style::Right => "join-right",
                    Style::LeftOn => "join-on-condition",
                    Style::LeftAs => "join-alias",
                };
                let global = if *base == Ent::Regions || *joined == Ent::Regions {
                    "+global"
                } else {
                    ""
                };
                read(
                    StatementBuilder::build(&query, &db),
                    format!("built/select/{style}{global}"),
                )
            }
            Built::Star { cond, account_cond } => read(
                lead::Entity::find()
                    .find_also_related(account::Entity)
                    .find_also_related(call::Entity)
                    .apply_if(
                        cond.as_ref().map(|c| condition(Ent::Leads, c)),
                        QueryFilter::filter,
                    )
                    .apply_if(
                        account_cond.as_ref().map(|c| condition(Ent::Accounts, c)),
                        QueryFilter::filter,
                    )
                    .build(db),
                "built/select/also-related-star".to_owned(),
            ),
            Built::Scalar { parent, child_cond } => {
                let (child, fk) = parent.child().expect("a parent table");
                let link: Expr = on_entity!(*parent, P => on_entity!(child, C => {
                    Expr::col((C::default(), column::<C>(fk)))
                        .equals((P::default(), column::<P>("id")))
                }));
                let filter = Condition::all()
                    .add(link)
                    .add_option(child_cond.as_ref().map(|c| condition(child, c)));
                let sub: SelectStatement = on_entity!(child, C => Query::select()
                    .expr(column::<C>("id").count())
                    .from(C::default())
                    .cond_where(filter)
                    .to_owned());
                let statement = on_entity!(*parent, P => P::find()
                    .select_only()
                    .column(column::<P>("id"))
                    .expr_as(Expr::SubQuery(None, Box::new(sub.into())), "n")
                    .build(db));
                read(statement, "built/select/scalar-subquery".to_owned())
            }
            Built::Compound { kind, left, right } => {
                // `id` and a text column `v`, so the CTE has two columns.
                let select = |(ent, cond): &(Ent, Option<BCond>), with_text: bool| {
                    let filter = cond.as_ref().map(|c| condition(*ent, c));
                    on_entity!(*ent, E => E::find()
                        .select_only()
                        .column(column::<E>("id"))
                        .apply_if(with_text.then_some(()), |q, ()| {
                            q.column_as(column::<E>(ent.text_column()), "v")
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .into_query())
                };
                let x = || Alias::new("x");
                let (statement, construct) = match kind {
                    Compound::Union | Compound::UnionAll => {
                        let union = if matches!(kind, Compound::Union) {
                            UnionType::Distinct
                        } else {
                            UnionType::All
                        };
                        let query = select(left, true)
                            .union(union, select(right, true))
                            .to_owned();
                        (
                            StatementBuilder::build(&query, &db),
                            if matches!(kind, Compound::Union) {
                                "built/select/union"
                            } else {
                                "built/select/union-all"
                            },
                        )
                    }
                    Compound::Cte => {
                        let cte = CommonTableExpression::new()
                            .query(select(left, true))
                            .table_name(x())
                            .to_owned();
                        let main = Query::select()
                            .column((x(), Alias::new("id")))
                            .column((x(), Alias::new("v")))
                            .from(x())
                            .and_where(
                                Expr::col((x(), Alias::new("id")))
                                    .in_subquery(select(right, false)),
                            )
                            .to_owned();
                        let query = Query::with().cte(cte).to_owned().query(main);
                        (StatementBuilder::build(&query, &db), "built/select/cte")
                    }
                    Compound::FromSubquery => {
                        let query = Query::select()
                            .column((x(), Alias::new("id")))
                            .column((x(), Alias::new("v")))
                            .from_subquery(select(left, true), x())
                            .and_where(
                                Expr::col((x(), Alias::new("id")))
                                    .not_in_subquery(select(right, false)),
                            )
                            .to_owned();
                        (
                            StatementBuilder::build(&query, &db),
                            "built/select/from-subquery",
                        )
                    }
                };
                read(statement, construct.to_owned())
            }
            Built::Aggregate {
                ent,
                group_text,
                agg,
                cond,
                having,
            } => {
                let filter = cond.as_ref().map(|c| condition(*ent, c));
                let group = if *group_text {
                    ent.text_column()
                } else {
                    ent.int_column()
                };
                let statement = on_entity!(*ent, E => {
                    let g = column::<E>(group);
                    let value = match agg {
                        Agg::Count => column::<E>("id").count(),
                        Agg::Sum => column::<E>(ent.int_column()).sum(),
                        Agg::Max => column::<E>(ent.text_column()).max(),
                    };
                    E::find()
                        .select_only()
                        .column(g)
                        .column_as(value, "n")
                        .apply_if(filter, QueryFilter::filter)
                        .group_by(g)
                        .apply_if(*having, |q, n| {
                            q.having(ExprTrait::gt(column::<E>("id").count(), n))
                        })
                        .build(db)
                });
                read(
                    statement,
                    if having.is_some() {
                        "built/select/aggregate-having".to_owned()
                    } else {
                        "built/select/aggregate".to_owned()
                    },
                )
            }
            Built::Insert {
                ent,
                rows,
                many,
                tenants,
                seed,
            } => {
                let rows = usize::from(*rows);
                let id = |i: usize| id32(fresh + i as i64);
                let seed = *seed;
                let text = |i: usize| {
                    let pool = ent.pool(ent.text_column());
                    pool[(seed as usize + i) % pool.len()].to_owned()
                };
                let t = |i: usize| tenant_value(tenants, i, tenant);
                let statement = match ent {
                    Ent::Regions => insert_of(
                        (0..rows)
                            .map(|i| region::ActiveModel {
                                id: Set(id(i)),
                                name: Set(format!("r{seed}")),
                            })
                            .collect(),
                        *many,
                        db,
                    ),
                    Ent::Accounts => insert_of(
                        (0..rows)
                            .map(|i| account::ActiveModel {
                                id: Set(id(i)),
                                entity_id: t(i),
                                name: Set(text(i)),
                                region_id: Set((seed % 3 != 0).then_some(seed % 3)),
                            })
                            .collect(),
                        *many,
                        db,
                    ),
                    Ent::Leads => insert_of(
                        (0..rows)
                            .map(|i| lead::ActiveModel {
                                id: Set(id(i)),
                                entity_id: t(i),
                                account_id: Set((seed % 5 != 0).then_some(seed % 5)),
                                name: Set(format!("n{seed}")),
                                status: Set(text(i)),
                                score: Set(Some(seed % 100)),
                            })
                            .collect(),
                        *many,
                        db,
                    ),
                    Ent::Calls => insert_of(
                        (0..rows)
                            .map(|i| call::ActiveModel {
                                id: Set(id(i)),
                                company_id: t(i),
                                lead_id: Set(Some(seed % 7)),
                                disposition: Set(text(i)),
                                seconds: Set(seed % 300),
                            })
                            .collect(),
                        *many,
                        db,
                    ),
                };
                let foreign =
                    tenants.is_some_and(|ts| ts[..rows].iter().any(|t| *t != 0 && *t != tenant));
                let (construct, refusal) = if *ent == Ent::Regions {
                    ("built/insert/global", global(*ent))
                } else if tenants.is_none() {
                    (
                        if *many {
                            "built/insert/many"
                        } else {
                            "built/insert/one"
                        },
                        None,
                    )
                } else if foreign {
                    ("built/insert/other-tenant", Some("foreign_tenant"))
                } else {
                    ("built/insert/own-tenant", None)
                };
                write(statement, construct.to_owned(), refusal)
            }
            Built::Update {
                ent,
                value,
                via_set,
                cond,
            } => {
                let filter = cond.as_ref().map(|c| condition(*ent, c));
                let v = *value;
                let statement = match ent {
                    Ent::Regions => region::Entity::update_many()
                        .col_expr(region::Column::Name, Expr::value(format!("r{v}")))
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Accounts if *via_set => account::Entity::update_many()
                        .set(account::ActiveModel {
                            region_id: Set((v % 3 != 0).then_some(v % 3)),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Accounts => account::Entity::update_many()
                        .col_expr(account::Column::RegionId, Expr::value(v % 3))
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Leads if *via_set => lead::Entity::update_many()
                        .set(lead::ActiveModel {
                            status: Set("hot".to_owned()),
                            score: Set(Some(v)),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Leads => lead::Entity::update_many()
                        .col_expr(lead::Column::Score, Expr::value(v))
                        .col_expr(lead::Column::Status, Expr::value("hot"))
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Calls if *via_set => call::Entity::update_many()
                        .set(call::ActiveModel {
                            disposition: Set("sale".to_owned()),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Calls => call::Entity::update_many()
                        .col_expr(
                            call::Column::Seconds,
                            Expr::col((call::Entity, call::Column::Seconds)).add(v),
                        )
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                };
                let construct = match (ent, via_set) {
                    (Ent::Regions, _) => "built/update_many/global",
                    (_, true) => "built/update_many/set",
                    (_, false) => "built/update_many",
                };
                write(statement, construct.to_owned(), global(*ent))
            }
            Built::UpdateTenant {
                ent,
                tenant: to,
                via_set,
                cond,
            } => {
                let filter = cond.as_ref().map(|c| condition(*ent, c));
                let to = *to;
                let statement = match (ent, via_set) {
                    (Ent::Accounts, true) => account::Entity::update_many()
                        .set(account::ActiveModel {
                            entity_id: Set(to),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    (Ent::Leads, true) => lead::Entity::update_many()
                        .set(lead::ActiveModel {
                            entity_id: Set(to),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    (Ent::Calls, true) => call::Entity::update_many()
                        .set(call::ActiveModel {
                            company_id: Set(to),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    _ => {
                        let col = ent.tenant_column().expect("a scoped table");
                        on_entity!(*ent, E => E::update_many()
                            .col_expr(column::<E>(col), Expr::value(to))
                            .apply_if(filter, QueryFilter::filter)
                            .build(db))
                    }
                };
                let (construct, refusal) = if to == tenant {
                    ("built/update_many/tenant-own", None)
                } else {
                    ("built/update_many/tenant-other", Some("foreign_tenant"))
                };
                write(statement, construct.to_owned(), refusal)
            }
            Built::Delete { ent, cond } => {
                let filter = cond.as_ref().map(|c| condition(*ent, c));
                let statement = on_entity!(*ent, E => E::delete_many()
                    .apply_if(filter, QueryFilter::filter)
                    .build(db));
                let construct = if *ent == Ent::Regions {
                    "built/delete_many/global"
                } else {
                    "built/delete_many"
                };
                write(statement, construct.to_owned(), global(*ent))
            }
            Built::Upsert {
                id,
                seed,
                tenant: named,
                action,
            } => {
                // 0 stands for a fresh id (an insert), and for the own tenant.
                let id = if *id == 0 { fresh } else { *id };
                let named = named.map(|t| if t == 0 { tenant } else { t });
                let row = lead::ActiveModel {
                    id: Set(id32(id)),
                    entity_id: named.map_or(NotSet, Set),
                    name: Set(format!("u{seed}")),
                    status: Set("new".to_owned()),
                    score: Set(Some(*seed)),
                    ..Default::default()
                };
                let mut on_conflict = OnConflict::column(lead::Column::Id);
                let mut do_nothing = false;
                match action {
                    UpsertAction::Columns => {
                        on_conflict.update_columns([lead::Column::Name, lead::Column::Score]);
                    }
                    UpsertAction::Value => {
                        on_conflict
                            .update_column(lead::Column::Name)
                            .value(lead::Column::Score, Expr::value(seed + 1));
                    }
                    UpsertAction::Where => {
                        on_conflict
                            .update_columns([lead::Column::Name, lead::Column::Score])
                            .action_and_where(lead::Column::Status.ne("lost"));
                    }
                    UpsertAction::DoNothing => do_nothing = true,
                }
                let statement = if do_nothing {
                    lead::Entity::insert(row).on_conflict_do_nothing().build(db)
                } else {
                    lead::Entity::insert(row)
                        .on_conflict(on_conflict.to_owned())
                        .build(db)
                };
                let action = match action {
                    UpsertAction::Columns => "columns",
                    UpsertAction::Value => "value",
                    UpsertAction::Where => "where",
                    UpsertAction::DoNothing => "do-nothing",
                };
                let (suffix, refusal) = match named {
                    None => ("", None),
                    Some(t) if t == tenant => ("+own-tenant", None),
                    Some(_) => ("+other-tenant", Some("foreign_tenant")),
                };
                Rendered {
                    upsert_id: Some(id),
                    ..write(statement, format!("built/upsert/{action}{suffix}"), refusal)
                }
            }
        })
    }
}
