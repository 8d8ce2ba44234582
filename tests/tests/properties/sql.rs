//! Random statements as raw SQL text, from a small grammar over the schema.
//!
//! Each statement carries a construct label (for the refusal counts) and, for
//! the constructs the library documents as refused, the refusal it must get.
//! Everything else in the grammar must be accepted and must honour the
//! guarantee.

use proptest::prelude::*;

use crate::model::{Form, Keys, Kind, TENANTS, Table};
use crate::rendered::Rendered;
use tenancy_testkit::Backend;

/// A condition over the columns of one table reference.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `a.col <op> literal`
    Cmp {
        col: &'static str,
        kind: Kind,
        op: &'static str,
        lit: i64,
    },
    /// `a.col IS [NOT] NULL`
    Null {
        col: &'static str,
        not: bool,
    },
    /// `a.<tenant column> = t`: an attempt to name a tenant outright (`t`
    /// a tenant number, written as the run's key).
    Tenant(i64),
    /// `1 = 1`
    True,
    /// `a.fk IN (SELECT s.id FROM parent s WHERE ...)`
    InParent {
        fk: &'static str,
        parent: Table,
        cond: Option<Box<Cond>>,
    },
    /// `EXISTS (SELECT 1 FROM child s WHERE s.fk = a.id AND ...)`
    ExistsChild {
        child: Table,
        fk: &'static str,
        cond: Option<Box<Cond>>,
    },
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

/// A text literal from the pool of `table`'s text column, or one no row has.
fn text_literal(table: Table, i: i64) -> String {
    let (_, values) = table.text_values();
    match values.get(i as usize % (values.len() + 1)) {
        Some(v) => format!("'{v}'"),
        None => "'nobody'".to_owned(),
    }
}

impl Cond {
    /// Whether the condition reads `table` (in a subquery).
    pub fn mentions(&self, table: Table) -> bool {
        match self {
            Cond::InParent { parent, cond, .. } => {
                *parent == table || cond.as_ref().is_some_and(|c| c.mentions(table))
            }
            Cond::ExistsChild { child, cond, .. } => {
                *child == table || cond.as_ref().is_some_and(|c| c.mentions(table))
            }
            Cond::And(a, b) | Cond::Or(a, b) => a.mentions(table) || b.mentions(table),
            Cond::Not(a) => a.mentions(table),
            Cond::Cmp { .. } | Cond::Null { .. } | Cond::Tenant(_) | Cond::True => false,
        }
    }

    /// Renders as a whole WHERE clause: a top-level AND or OR without the
    /// parentheses a nested one gets, so the library must add its own.
    pub fn render_top(&self, table: Table, alias: &str, keys: Keys) -> String {
        match self {
            Cond::And(a, b) => format!(
                "{} AND {}",
                a.render(table, alias, keys),
                b.render(table, alias, keys)
            ),
            Cond::Or(a, b) => format!(
                "{} OR {}",
                a.render(table, alias, keys),
                b.render(table, alias, keys)
            ),
            other => other.render(table, alias, keys),
        }
    }

    /// Renders with `alias` naming the table reference the condition is
    /// about; subqueries use `alias` + "_s"; tenants written as `keys`.
    pub fn render(&self, table: Table, alias: &str, keys: Keys) -> String {
        match self {
            Cond::Cmp {
                col,
                kind: Kind::Int,
                op,
                lit,
            } => format!("{alias}.{col} {op} {lit}"),
            Cond::Cmp {
                col,
                kind: Kind::Text,
                op,
                lit,
            } => format!("{alias}.{col} {op} {}", text_literal(table, *lit)),
            Cond::Null { col, not } => {
                format!("{alias}.{col} IS {}NULL", if *not { "NOT " } else { "" })
            }
            Cond::Tenant(t) => format!("{alias}.{} = {}", table.tenant_column(), keys.literal(*t)),
            Cond::True => "1 = 1".to_owned(),
            Cond::InParent { fk, parent, cond } => {
                let s = format!("{alias}_s");
                let filter = cond
                    .as_ref()
                    .map(|c| format!(" WHERE {}", c.render(*parent, &s, keys)))
                    .unwrap_or_default();
                format!(
                    "{alias}.{fk} IN (SELECT {s}.id FROM {} {s}{filter})",
                    parent.name()
                )
            }
            Cond::ExistsChild { child, fk, cond } => {
                let s = format!("{alias}_s");
                let filter = cond
                    .as_ref()
                    .map(|c| format!(" AND ({})", c.render(*child, &s, keys)))
                    .unwrap_or_default();
                format!(
                    "EXISTS (SELECT 1 FROM {} {s} WHERE {s}.{fk} = {alias}.id{filter})",
                    child.name()
                )
            }
            Cond::And(a, b) => format!(
                "({} AND {})",
                a.render(table, alias, keys),
                b.render(table, alias, keys)
            ),
            Cond::Or(a, b) => format!(
                "({} OR {})",
                a.render(table, alias, keys),
                b.render(table, alias, keys)
            ),
            Cond::Not(a) => format!("NOT ({})", a.render(table, alias, keys)),
        }
    }
}

fn leaf(table: Table) -> impl Strategy<Value = Cond> {
    let columns: Vec<_> = table
        .columns()
        .iter()
        .copied()
        .filter(|(name, _, _)| *name != "id")
        .collect();
    let nullable: Vec<&'static str> = table
        .columns()
        .iter()
        .filter(|c| c.2)
        .map(|c| c.0)
        .collect();
    let cmp = (
        prop::sample::select(columns),
        prop::sample::select(vec!["=", "<>", "<", ">="]),
        0..100_i64,
    )
        .prop_map(|((col, kind, _), op, lit)| {
            let (op, lit) = match kind {
                Kind::Text => (if op == "=" || op == "<>" { op } else { "=" }, lit),
                Kind::Int => (op, lit),
            };
            Cond::Cmp { col, kind, op, lit }
        });
    let null = if nullable.is_empty() {
        Just(Cond::True).boxed()
    } else {
        (prop::sample::select(nullable), any::<bool>())
            .prop_map(|(col, not)| Cond::Null { col, not })
            .boxed()
    };
    prop_oneof![
        5 => cmp,
        2 => null,
        2 => prop::sample::select(TENANTS.to_vec()).prop_map(Cond::Tenant),
        1 => Just(Cond::True),
    ]
}

/// A condition over `table`, with subqueries into its parent and child.
pub fn cond(table: Table) -> BoxedStrategy<Cond> {
    let mut options: Vec<(u32, BoxedStrategy<Cond>)> = vec![(6, leaf(table).boxed())];
    if let Some((fk, parent)) = table.parent() {
        options.push((
            1,
            prop::option::of(leaf(parent))
                .prop_map(move |c| Cond::InParent {
                    fk,
                    parent,
                    cond: c.map(Box::new),
                })
                .boxed(),
        ));
    }
    if let Some(child) = Table::ALL
        .into_iter()
        .find(|t| t.parent().is_some_and(|(_, p)| p == table))
    {
        let fk = child.parent().map(|(fk, _)| fk).unwrap_or("id");
        options.push((
            1,
            prop::option::of(leaf(child))
                .prop_map(move |c| Cond::ExistsChild {
                    child,
                    fk,
                    cond: c.map(Box::new),
                })
                .boxed(),
        ));
    }
    let base = prop::strategy::Union::new_weighted(options);
    base.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Cond::Not(Box::new(a))),
        ]
    })
    .boxed()
}

fn table() -> impl Strategy<Value = Table> {
    prop::sample::select(Table::ALL.to_vec())
}

fn child_table() -> impl Strategy<Value = Table> {
    prop::sample::select(vec![Table::Leads, Table::Calls])
}

#[derive(Debug, Clone, Copy)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    Cross,
    Comma,
    /// `NATURAL JOIN`.
    Natural,
    /// `NATURAL LEFT JOIN`.
    NaturalLeft,
    /// `JOIN ... USING (id)`.
    UsingId,
    /// `LEFT JOIN ... USING (id)`.
    LeftUsingId,
    /// `RIGHT JOIN ... USING (id)`.
    RightUsingId,
    /// `LEFT JOIN ... USING (<tenant column>)`.
    UsingTenant,
    /// `JOIN ... USING (<tenant column>)`.
    InnerUsingTenant,
}

#[derive(Debug, Clone, Copy)]
pub enum SetOp {
    Union,
    UnionAll,
    Intersect,
    Except,
}

/// A read.
#[derive(Debug, Clone)]
pub enum Query {
    Scan {
        table: Table,
        cond: Option<Cond>,
        distinct: bool,
        limit: Option<u8>,
    },
    Join {
        child: Table,
        kind: JoinKind,
        cond: Option<Cond>,
    },
    Region {
        cond: Option<Cond>,
    },
    Aggregate {
        table: Table,
        cond: Option<Cond>,
        having: Option<i64>,
        having_subquery: bool,
    },
    Scalar {
        parent: Table,
    },
    Set {
        op: SetOp,
        left: (Table, Option<Cond>),
        right: (Table, Option<Cond>),
    },
    Cte {
        table: Table,
        cond: Option<Cond>,
        shadow: Option<Table>,
    },
    /// `SELECT x.id, x.<text>, count(..) FROM child c <kind> JOIN parent p
    /// ... GROUP BY x.id`: grouped by one side's primary key, selecting
    /// another of its columns (PostgreSQL needs that side to stay a table).
    GroupByKey {
        child: Table,
        kind: JoinKind,
        by_parent: bool,
    },
}

/// A write, or a construct the library refuses.
#[derive(Debug, Clone)]
pub enum Write {
    /// `INSERT ... VALUES`, one or more rows, with the tenant column left
    /// out or set to `tenant` (`Some(t)`).
    Insert {
        table: Table,
        rows: u8,
        tenant: Option<i64>,
        seed: i64,
    },
    /// `INSERT INTO table VALUES (...)` without a column list: every
    /// column in the table's order, the tenant column set to `tenant`.
    InsertNoList {
        table: Table,
        rows: u8,
        tenant: i64,
        seed: i64,
    },
    /// `WITH w AS (SELECT id FROM table WHERE ...) DELETE FROM table
    /// WHERE id IN (SELECT id FROM w)` (PostgreSQL and SQLite).
    WithDelete {
        table: Table,
        cond: Option<Cond>,
    },
    /// `INSERT INTO leads (...) SELECT ... FROM table`, optionally naming
    /// the tenant column (refused).
    InsertSelect {
        source: Table,
        cond: Option<Cond>,
        with_tenant: bool,
    },
    Update {
        table: Table,
        value: i64,
        cond: Option<Cond>,
    },
    /// `UPDATE t SET <tenant column> = tenant` (another tenant: refused).
    UpdateTenant {
        table: Table,
        tenant: i64,
        cond: Option<Cond>,
    },
    Delete {
        table: Table,
        cond: Option<Cond>,
    },
    /// An upsert on `leads` with the id of an existing row (any tenant's)
    /// or a fresh one.
    Upsert {
        id: i64,
        name_seed: i64,
    },
    /// `REPLACE INTO` / `INSERT OR REPLACE`: refused.
    Replace {
        id: i64,
    },
    /// The tenant column set (by an `INSERT ... VALUES` or an `UPDATE`) to
    /// a tenant's key in another form than the column's: refused as
    /// `tenant_column`, whichever tenant it names, since the library
    /// reads a tenant literal only in the column's own form. Generated
    /// only with UUID and text keys ([`tenant_in_another_form`]).
    TenantInForm {
        table: Table,
        tenant: i64,
        form: Form,
        update: Option<Option<Cond>>,
    },
}

#[derive(Debug, Clone)]
pub enum Stmt {
    Read(Query),
    Write(Write),
    /// A statement built with SeaORM's query builders.
    Built(crate::built::Built),
    /// Hand-made SQL aimed at parser differentials.
    Adversarial(crate::adversarial::Adversarial),
}

pub fn query() -> impl Strategy<Value = Query> {
    let opt_cond = |t: Table| prop::option::of(cond(t));
    prop_oneof![
        4 => (table(), any::<bool>(), prop::option::of(1..5_u8))
            .prop_flat_map(move |(t, distinct, limit)| opt_cond(t).prop_map(move |cond| Query::Scan { table: t, cond, distinct, limit })),
        4 => (child_table(), prop::sample::select(vec![
                JoinKind::Inner, JoinKind::Left, JoinKind::Right, JoinKind::Full, JoinKind::Cross,
                JoinKind::Comma, JoinKind::Natural, JoinKind::NaturalLeft, JoinKind::UsingId,
                JoinKind::LeftUsingId, JoinKind::RightUsingId, JoinKind::UsingTenant,
                JoinKind::InnerUsingTenant]))
            .prop_flat_map(move |(child, kind)| opt_cond(child).prop_map(move |cond| Query::Join { child, kind, cond })),
        1 => opt_cond(Table::Accounts).prop_map(|cond| Query::Region { cond }),
        2 => (table(), prop::option::of(0..3_i64), any::<bool>())
            .prop_flat_map(move |(t, having, having_subquery)| opt_cond(t).prop_map(move |cond| Query::Aggregate { table: t, cond, having, having_subquery })),
        1 => prop::sample::select(vec![Table::Accounts, Table::Leads]).prop_map(|parent| Query::Scalar { parent }),
        2 => (prop::sample::select(vec![SetOp::Union, SetOp::UnionAll, SetOp::Intersect, SetOp::Except]), table(), table())
            .prop_flat_map(move |(op, a, b)| (opt_cond(a), opt_cond(b)).prop_map(move |(ca, cb)| Query::Set { op, left: (a, ca), right: (b, cb) })),
        2 => (table(), prop::option::of(table()))
            .prop_flat_map(move |(t, shadow)| opt_cond(t).prop_map(move |cond| Query::Cte { table: t, cond, shadow })),
        2 => (child_table(), prop::sample::select(vec![
                JoinKind::Inner, JoinKind::Left, JoinKind::Right, JoinKind::Natural,
                JoinKind::NaturalLeft, JoinKind::UsingId, JoinKind::LeftUsingId,
                JoinKind::RightUsingId, JoinKind::UsingTenant, JoinKind::InnerUsingTenant]), any::<bool>())
            .prop_map(|(child, kind, by_parent)| Query::GroupByKey { child, kind, by_parent }),
    ]
}

pub fn write() -> impl Strategy<Value = Write> {
    let opt_cond = |t: Table| prop::option::of(cond(t));
    prop_oneof![
        4 => (table(), 1..=3_u8, prop::option::of(prop::sample::select(TENANTS.to_vec())), 0..1000_i64)
            .prop_map(|(table, rows, tenant, seed)| Write::Insert { table, rows, tenant, seed }),
        2 => (table(), 1..=3_u8, prop::sample::select(TENANTS.to_vec()), 0..1000_i64)
            .prop_map(|(table, rows, tenant, seed)| Write::InsertNoList { table, rows, tenant, seed }),
        2 => (table(), any::<bool>()).prop_flat_map(move |(source, with_tenant)| {
            // Naming the tenant column is rare; it is refused.
            let with_tenant = with_tenant && source == Table::Calls;
            opt_cond(source).prop_map(move |cond| Write::InsertSelect { source, cond, with_tenant })
        }),
        4 => (table(), 0..100_i64).prop_flat_map(move |(t, value)| opt_cond(t).prop_map(move |cond| Write::Update { table: t, value, cond })),
        1 => (table(), prop::sample::select(TENANTS.to_vec()))
            .prop_flat_map(move |(t, tenant)| opt_cond(t).prop_map(move |cond| Write::UpdateTenant { table: t, tenant, cond })),
        3 => table().prop_flat_map(move |t| opt_cond(t).prop_map(move |cond| Write::Delete { table: t, cond })),
        1 => table().prop_flat_map(move |t| opt_cond(t).prop_map(move |cond| Write::WithDelete { table: t, cond })),
        2 => (1..=14_i64, 0..10_i64).prop_map(|(id, name_seed)| Write::Upsert { id, name_seed }),
        1 => (1..=14_i64).prop_map(|id| Write::Replace { id }),
    ]
}

/// A write naming a tenant's key in another form than the column's
/// ([`Write::TenantInForm`]). Not part of [`write`], so the integer run
/// keeps its statements.
pub fn tenant_in_another_form() -> impl Strategy<Value = Write> {
    (
        table(),
        prop::sample::select(TENANTS.to_vec()),
        prop::sample::select(Form::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_flat_map(|(table, tenant, form, update)| {
            let cond = prop::option::of(cond(table));
            let update = if update {
                cond.prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            update.prop_map(move |update| Write::TenantInForm {
                table,
                tenant,
                form,
                update,
            })
        })
}

pub fn stmt() -> impl Strategy<Value = Stmt> {
    stmt_of(crate::built::built())
}

/// [`stmt`], with the SeaORM-built statements drawn from `built` (the same
/// mix of raw, built and adversarial statements).
pub fn stmt_of(built: impl Strategy<Value = crate::built::Built>) -> impl Strategy<Value = Stmt> {
    prop_oneof![
        3 => query().prop_map(Stmt::Read),
        2 => write().prop_map(Stmt::Write),
        2 => built.prop_map(Stmt::Built),
        2 => crate::adversarial::adversarial().prop_map(Stmt::Adversarial),
    ]
}

fn where_(table: Table, alias: &str, cond: &Option<Cond>, keys: Keys) -> String {
    cond.as_ref()
        .map(|c| format!(" WHERE {}", c.render_top(table, alias, keys)))
        .unwrap_or_default()
}

fn text_col(table: Table) -> &'static str {
    table.text_values().0
}

impl Stmt {
    /// The statement on `backend` for tenant number `tenant`, with the
    /// tenants written as `keys`, or `None` where the backend lacks the
    /// syntax. `fresh` is an id no row has yet.
    pub fn render(
        &self,
        backend: Backend,
        keys: Keys,
        tenant: i64,
        fresh: i64,
    ) -> Option<Rendered> {
        let read = |sql: String, construct: &str| Rendered {
            sql,
            values: None,
            construct: construct.to_owned(),
            refusal: None,
            is_read: true,
            upsert_id: None,
        };
        let write = |sql: String, construct: &str, refusal: Option<&'static str>| Rendered {
            sql,
            values: None,
            construct: construct.to_owned(),
            refusal,
            is_read: false,
            upsert_id: None,
        };
        Some(match self {
            Stmt::Built(built) => {
                // The fixture entities bind tenants as `i64`: only integer
                // keys may get a built statement that binds one.
                assert!(
                    keys == Keys::Int || !built.binds_tenant(),
                    "a built statement binds an i64 tenant in a run with {keys:?} keys: {built:?}"
                );
                return built.render(backend, tenant, fresh);
            }
            Stmt::Adversarial(adversarial) => return Some(adversarial.render(backend)),
            Stmt::Read(Query::Scan {
                table,
                cond,
                distinct,
                limit,
            }) => {
                let (d, cols) = if *distinct {
                    ("DISTINCT ", text_col(*table))
                } else {
                    ("", "id")
                };
                let cols = if *distinct {
                    format!("a.{cols}")
                } else {
                    format!("a.{cols}, a.{}", text_col(*table))
                };
                let tail = match limit {
                    Some(n) if !distinct => format!(" ORDER BY a.id LIMIT {n}"),
                    _ => String::new(),
                };
                read(
                    format!(
                        "SELECT {d}{cols} FROM {} a{}{tail}",
                        table.name(),
                        where_(*table, "a", cond, keys)
                    ),
                    "select/scan",
                )
            }
            Stmt::Read(Query::Join { child, kind, cond }) => {
                let (fk, parent) = child.parent()?;
                let (c, p) = (child.name(), parent.name());
                let w = where_(*child, "a", cond, keys);
                let (sql, construct) = match kind {
                    JoinKind::Inner => (
                        format!("SELECT a.id, b.id FROM {c} a JOIN {p} b ON b.id = a.{fk}{w}"),
                        "inner",
                    ),
                    JoinKind::Left => (
                        format!("SELECT a.id, b.id FROM {c} a LEFT JOIN {p} b ON b.id = a.{fk}{w}"),
                        "left",
                    ),
                    JoinKind::Right => (
                        format!(
                            "SELECT a.id, b.id FROM {c} a RIGHT JOIN {p} b ON b.id = a.{fk} AND {}",
                            cond_or_true(*child, cond, keys)
                        ),
                        "right",
                    ),
                    JoinKind::Full => {
                        if backend == Backend::MySql {
                            return None;
                        }
                        (
                            format!(
                                "SELECT a.id, b.id FROM {c} a FULL JOIN {p} b ON b.id = a.{fk} AND {}",
                                cond_or_true(*child, cond, keys)
                            ),
                            "full",
                        )
                    }
                    JoinKind::Cross => (
                        format!("SELECT a.id, b.id FROM {c} a CROSS JOIN {p} b{w}"),
                        "cross",
                    ),
                    JoinKind::Comma => (
                        format!(
                            "SELECT a.id, b.id FROM {c} a, {p} b WHERE b.id = a.{fk} OR {}",
                            cond_or_true(*child, cond, keys)
                        ),
                        "comma",
                    ),
                    JoinKind::Natural => (
                        format!("SELECT count(*) FROM {c} NATURAL JOIN {p}"),
                        "natural",
                    ),
                    JoinKind::NaturalLeft => (
                        format!("SELECT a.id, b.id FROM {c} a NATURAL LEFT JOIN {p} b{w}"),
                        "natural-left",
                    ),
                    JoinKind::UsingId => (
                        format!("SELECT a.id, b.id FROM {c} a JOIN {p} b USING (id){w}"),
                        "using",
                    ),
                    JoinKind::LeftUsingId => (
                        format!("SELECT a.id, b.id FROM {c} a LEFT JOIN {p} b USING (id){w}"),
                        "using-left",
                    ),
                    JoinKind::RightUsingId => (
                        format!("SELECT a.id, b.id FROM {c} a RIGHT JOIN {p} b USING (id){w}"),
                        "using-right",
                    ),
                    JoinKind::UsingTenant | JoinKind::InnerUsingTenant => {
                        // Both sides must use the same tenant column name.
                        if child.tenant_column() != parent.tenant_column() {
                            return None;
                        }
                        let (join, label) = match kind {
                            JoinKind::UsingTenant => ("LEFT JOIN", "using-tenant"),
                            _ => ("JOIN", "using-tenant-inner"),
                        };
                        (
                            format!(
                                "SELECT a.id, b.id FROM {c} a {join} {p} b USING ({}){w}",
                                child.tenant_column()
                            ),
                            label,
                        )
                    }
                };
                read(sql, &format!("select/join/{construct}"))
            }
            Stmt::Read(Query::Region { cond }) => read(
                format!(
                    "SELECT a.id, r.name FROM accounts a LEFT JOIN regions r ON r.id = a.region_id{}",
                    where_(Table::Accounts, "a", cond, keys)
                ),
                "select/global-join",
            ),
            Stmt::Read(Query::Aggregate {
                table,
                cond,
                having,
                having_subquery,
            }) => {
                let t = text_col(*table);
                let h = match (having, having_subquery) {
                    (Some(n), false) => format!(" HAVING count(*) > {n}"),
                    (Some(n), true) => {
                        format!(" HAVING count(*) >= (SELECT count(*) FROM calls hs) - {n}")
                    }
                    (None, _) => String::new(),
                };
                read(
                    format!(
                        "SELECT a.{t}, count(*), min(a.id), max(a.id) FROM {} a{} GROUP BY a.{t}{h}",
                        table.name(),
                        where_(*table, "a", cond, keys)
                    ),
                    if *having_subquery && having.is_some() {
                        "select/aggregate/having-subquery"
                    } else {
                        "select/aggregate"
                    },
                )
            }
            Stmt::Read(Query::Scalar { parent }) => {
                let child = Table::ALL
                    .into_iter()
                    .find(|t| t.parent().is_some_and(|(_, p)| p == *parent))?;
                let (fk, _) = child.parent()?;
                read(
                    format!(
                        "SELECT a.id, (SELECT count(*) FROM {} s WHERE s.{fk} = a.id) FROM {} a",
                        child.name(),
                        parent.name()
                    ),
                    "select/scalar-subquery",
                )
            }
            Stmt::Read(Query::Set { op, left, right }) => {
                let op_sql = match op {
                    SetOp::Union => "UNION",
                    SetOp::UnionAll => "UNION ALL",
                    SetOp::Intersect => "INTERSECT",
                    SetOp::Except => "EXCEPT",
                };
                read(
                    format!(
                        "SELECT a.id FROM {} a{} {op_sql} SELECT a.id FROM {} a{}",
                        left.0.name(),
                        where_(left.0, "a", &left.1, keys),
                        right.0.name(),
                        where_(right.0, "a", &right.1, keys)
                    ),
                    &format!("select/set/{}", op_sql.to_lowercase().replace(' ', "-")),
                )
            }
            Stmt::Read(Query::Cte {
                table,
                cond,
                shadow,
            }) => {
                let name = shadow.map_or("x", |s| s.name());
                // A CTE named like a registered table is refused: servers
                // disagree about which one a (nested) reference means. Its
                // own name inside its non-recursive body was refused before
                // that for the same reason.
                let own_name_in_body = shadow
                    .is_some_and(|s| s == *table || cond.as_ref().is_some_and(|c| c.mentions(s)));
                let rendered = read(
                    format!(
                        "WITH {name} AS (SELECT a.id, a.{} AS v FROM {} a{}) SELECT {name}.id, {name}.v FROM {name}",
                        text_col(*table),
                        table.name(),
                        where_(*table, "a", cond, keys)
                    ),
                    if own_name_in_body {
                        "select/cte/own-name-in-body"
                    } else if shadow.is_some() {
                        "select/cte/shadowing"
                    } else {
                        "select/cte"
                    },
                );
                Rendered {
                    refusal: shadow.is_some().then_some("ambiguous_cte"),
                    ..rendered
                }
            }
            Stmt::Write(Write::InsertNoList {
                table,
                rows,
                tenant: named,
                seed,
            }) => {
                // The fixture schema's column order: id, the tenant column,
                // then the rest as declared.
                let values: Vec<String> = (0..*rows as i64)
                    .map(|i| {
                        let (id, t) = (fresh + i, keys.literal(*named));
                        match table {
                            Table::Accounts => {
                                format!(
                                    "({id}, {t}, {}, {})",
                                    text_literal(*table, seed + i),
                                    seed % 3
                                )
                            }
                            Table::Leads => format!(
                                "({id}, {t}, {}, 'n{seed}', 'new', {})",
                                seed % 5,
                                seed % 100
                            ),
                            Table::Calls => format!(
                                "({id}, {t}, {}, {}, {})",
                                seed % 7,
                                text_literal(*table, seed + i),
                                seed % 300
                            ),
                        }
                    })
                    .collect();
                let (refusal, construct) = if *named == tenant {
                    (None, "insert/no-column-list/own-tenant")
                } else {
                    (Some("foreign_tenant"), "insert/no-column-list/other-tenant")
                };
                write(
                    format!("INSERT INTO {} VALUES {}", table.name(), values.join(", ")),
                    construct,
                    refusal,
                )
            }
            Stmt::Write(Write::Insert {
                table,
                rows,
                tenant: named,
                seed,
            }) => {
                let values: Vec<String> = (0..*rows as i64)
                    .map(|i| {
                        let id = fresh + i;
                        let body = match table {
                            Table::Accounts => {
                                format!("{id}, {}, {}", text_literal(*table, seed + i), seed % 3)
                            }
                            Table::Leads => {
                                format!("{id}, {}, 'new', {}, 'n{seed}'", seed % 5, seed % 100)
                            }
                            Table::Calls => format!(
                                "{id}, {}, {}, {}",
                                seed % 7,
                                text_literal(*table, seed + i),
                                seed % 300
                            ),
                        };
                        match named {
                            Some(t) => format!("({body}, {})", keys.literal(*t)),
                            None => format!("({body})"),
                        }
                    })
                    .collect();
                let cols = match table {
                    Table::Accounts => "id, name, region_id",
                    Table::Leads => "id, account_id, status, score, name",
                    Table::Calls => "id, lead_id, disposition, seconds",
                };
                let (cols, refusal, construct) = match named {
                    Some(t) => (
                        format!("{cols}, {}", table.tenant_column()),
                        (*t != tenant).then_some("foreign_tenant"),
                        if *t == tenant {
                            "insert/values/own-tenant"
                        } else {
                            "insert/values/other-tenant"
                        },
                    ),
                    None => (
                        cols.to_owned(),
                        None,
                        if *rows > 1 {
                            "insert/values/many"
                        } else {
                            "insert/values/one"
                        },
                    ),
                };
                write(
                    format!(
                        "INSERT INTO {} ({cols}) VALUES {}",
                        table.name(),
                        values.join(", ")
                    ),
                    construct,
                    refusal,
                )
            }
            Stmt::Write(Write::InsertSelect {
                source,
                cond,
                with_tenant,
            }) => {
                let w = where_(*source, "a", cond, keys);
                let t = text_col(*source);
                if *with_tenant {
                    write(
                        format!(
                            "INSERT INTO leads (id, name, status, entity_id) SELECT a.id + {fresh}, a.{t}, 'copied', a.{} FROM {} a{w}",
                            source.tenant_column(),
                            source.name()
                        ),
                        "insert/select/tenant-column",
                        Some("tenant_column"),
                    )
                } else {
                    write(
                        format!(
                            "INSERT INTO leads (id, name, status) SELECT a.id + {fresh}, a.{t}, 'copied' FROM {} a{w}",
                            source.name()
                        ),
                        "insert/select",
                        None,
                    )
                }
            }
            Stmt::Write(Write::Update { table, value, cond }) => {
                let set = match table {
                    Table::Accounts => format!("region_id = {}", value % 3),
                    Table::Leads => format!("score = {value}, status = 'hot'"),
                    Table::Calls => format!("seconds = seconds + {value}"),
                };
                write(
                    format!(
                        "UPDATE {} SET {set}{}",
                        table.name(),
                        where_(*table, table.name(), cond, keys)
                    ),
                    "update",
                    None,
                )
            }
            Stmt::Write(Write::UpdateTenant {
                table,
                tenant: t,
                cond,
            }) => write(
                format!(
                    "UPDATE {} SET {} = {}{}",
                    table.name(),
                    table.tenant_column(),
                    keys.literal(*t),
                    where_(*table, table.name(), cond, keys)
                ),
                if *t == tenant {
                    "update/tenant-column/own"
                } else {
                    "update/tenant-column/other"
                },
                (*t != tenant).then_some("foreign_tenant"),
            ),
            Stmt::Write(Write::WithDelete { table, cond }) => {
                if backend == Backend::MySql {
                    return None;
                }
                let t = table.name();
                write(
                    format!(
                        "WITH w AS (SELECT id FROM {t}{}) DELETE FROM {t} WHERE id IN (SELECT id FROM w)",
                        where_(*table, t, cond, keys)
                    ),
                    "delete/with",
                    None,
                )
            }
            Stmt::Read(Query::GroupByKey {
                child,
                kind,
                by_parent,
            }) => {
                let (fk, parent) = child.parent()?;
                let (c, p) = (child.name(), parent.name());
                let on = format!(" ON p.id = c.{fk}");
                let tenant = child.tenant_column();
                // The join, its constraint, and the side it keeps a table
                // when it null-extends the other: the nullable side of a
                // NATURAL/USING outer join is a derived table, whose key
                // PostgreSQL doesn't see, so only the preserved side is
                // grouped by there.
                let (join, constraint, preserved) = match kind {
                    JoinKind::Inner => ("JOIN", on, None),
                    JoinKind::Left => ("LEFT JOIN", on, None),
                    JoinKind::Natural => ("NATURAL JOIN", String::new(), None),
                    JoinKind::NaturalLeft => ("NATURAL LEFT JOIN", String::new(), Some(false)),
                    JoinKind::UsingId => ("JOIN", " USING (id)".into(), None),
                    JoinKind::LeftUsingId => ("LEFT JOIN", " USING (id)".into(), Some(false)),
                    JoinKind::RightUsingId => ("RIGHT JOIN", " USING (id)".into(), Some(true)),
                    JoinKind::UsingTenant | JoinKind::InnerUsingTenant => {
                        if tenant != parent.tenant_column() {
                            return None;
                        }
                        let using = format!(" USING ({tenant})");
                        match kind {
                            JoinKind::UsingTenant => ("LEFT JOIN", using, Some(false)),
                            _ => ("JOIN", using, None),
                        }
                    }
                    _ => ("RIGHT JOIN", on, None),
                };
                let by_parent = preserved.unwrap_or(*by_parent);
                let (side, other, text) = if by_parent {
                    ("p", "c", text_col(parent))
                } else {
                    ("c", "p", text_col(*child))
                };
                let form = if constraint == " USING (id)" {
                    "-using"
                } else if constraint.starts_with(" USING") {
                    "-using-tenant"
                } else {
                    ""
                };
                read(
                    format!(
                        "SELECT {side}.id, {side}.{text}, count({other}.id) AS n FROM {c} c {join} {p} p\
                         {constraint} GROUP BY {side}.id"
                    ),
                    &format!(
                        "select/group-by-key/{}{form}/{}",
                        join.to_lowercase().replace(' ', "-"),
                        if by_parent { "parent" } else { "child" }
                    ),
                )
            }
            Stmt::Write(Write::Delete { table, cond }) => write(
                format!(
                    "DELETE FROM {}{}",
                    table.name(),
                    where_(*table, table.name(), cond, keys)
                ),
                "delete",
                None,
            ),
            Stmt::Write(Write::Upsert { id, name_seed }) => {
                let sql = match backend {
                    Backend::MySql => format!(
                        "INSERT INTO leads (id, name, status) VALUES ({id}, 'u{name_seed}', 'new') \
                         ON DUPLICATE KEY UPDATE name = VALUES(name), score = {name_seed}"
                    ),
                    _ => format!(
                        "INSERT INTO leads (id, name, status) VALUES ({id}, 'u{name_seed}', 'new') \
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, score = {name_seed}"
                    ),
                };
                Rendered {
                    upsert_id: Some(*id),
                    ..write(sql, "upsert", None)
                }
            }
            Stmt::Write(Write::Replace { id }) => {
                let verb = match backend {
                    Backend::Postgres => return None,
                    Backend::MySql => "REPLACE",
                    Backend::Sqlite => "INSERT OR REPLACE",
                };
                write(
                    format!("{verb} INTO leads (id, name, status) VALUES ({id}, 'r', 'new')"),
                    "replace",
                    Some("construct"),
                )
            }
            Stmt::Write(Write::TenantInForm {
                table,
                tenant: t,
                form,
                update,
            }) => {
                let (col, value) = (table.tenant_column(), keys.in_form(*t, *form));
                let sql = match update {
                    Some(cond) => format!(
                        "UPDATE {} SET {col} = {value}{}",
                        table.name(),
                        where_(*table, table.name(), cond, keys)
                    ),
                    None => {
                        let (cols, values) = match table {
                            Table::Accounts => {
                                ("id, name, region_id", format!("{fresh}, 'acme', 1"))
                            }
                            Table::Leads => ("id, name, status", format!("{fresh}, 'ann', 'new'")),
                            Table::Calls => {
                                ("id, disposition, seconds", format!("{fresh}, 'sale', 5"))
                            }
                        };
                        format!(
                            "INSERT INTO {} ({cols}, {col}) VALUES ({values}, {value})",
                            table.name()
                        )
                    }
                };
                let verb = if update.is_some() { "update" } else { "insert" };
                write(
                    sql,
                    &format!("{verb}/tenant-column/{}", form.label()),
                    Some("tenant_column"),
                )
            }
        })
    }
}

/// The condition, or `1 = 1`, for an ON clause.
fn cond_or_true(table: Table, cond: &Option<Cond>, keys: Keys) -> String {
    cond.as_ref()
        .map_or_else(|| "1 = 1".to_owned(), |c| c.render(table, "a", keys))
}
