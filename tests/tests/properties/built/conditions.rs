//! Random SeaORM `Condition` trees over a table's columns, with subqueries.

use proptest::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, Value};

use super::{Ent, Kind, column};
use crate::model::TENANTS;

#[derive(Debug, Clone, Copy)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
}

#[derive(Debug, Clone, Copy)]
pub enum Lit {
    Int(i32),
    Text(&'static str),
}

impl Lit {
    fn value(self) -> Value {
        match self {
            Lit::Int(i) => i.into(),
            Lit::Text(s) => s.to_owned().into(),
        }
    }
}

/// One `ColumnTrait` comparison, or a subquery.
#[derive(Debug, Clone)]
pub enum Atom {
    /// `Column::X.eq/ne/gt/lt(lit)`
    Cmp { col: &'static str, op: Op, lit: Lit },
    /// `Column::X.is_null()` / `.is_not_null()`
    Null { col: &'static str, not: bool },
    /// `Column::X.is_in([..])`
    In { col: &'static str, lits: Vec<Lit> },
    /// `Column::X.like(pattern)`
    Like {
        col: &'static str,
        pattern: &'static str,
    },
    /// `Column::EntityId.eq(t)`: naming a tenant outright.
    Tenant(i64),
    /// `Column::Fk.in_subquery(Query::select().column(parent.id).from(parent)...)`
    /// (or `not_in_subquery`).
    InParent {
        negated: bool,
        cond: Option<Box<BCond>>,
    },
    /// `Expr::exists(Query::select().column(child.id).from(child)
    /// .cond_where(child.fk = this.id AND ...))`
    ExistsChild { cond: Option<Box<BCond>> },
}

/// A `Condition` tree.
#[derive(Debug, Clone)]
pub enum BCond {
    Atom(Atom),
    /// `Condition::all().add(..)..` (empty: TRUE)
    All(Vec<BCond>),
    /// `Condition::any().add(..)..` (empty: FALSE)
    Any(Vec<BCond>),
    /// `cond.not()`
    Not(Box<BCond>),
}

impl BCond {
    pub(super) fn has_subquery(&self) -> bool {
        self.any_atom(&|a| matches!(a, Atom::InParent { .. } | Atom::ExistsChild { .. }))
    }

    pub(super) fn has_exists(&self) -> bool {
        self.any_atom(&|a| matches!(a, Atom::ExistsChild { .. }))
    }

    /// Whether the tree, its subqueries included, binds a tenant
    /// ([`Atom::Tenant`]).
    pub(super) fn binds_tenant(&self) -> bool {
        match self {
            BCond::Atom(Atom::Tenant(_)) => true,
            BCond::Atom(Atom::InParent { cond, .. } | Atom::ExistsChild { cond }) => {
                cond.as_ref().is_some_and(|c| c.binds_tenant())
            }
            BCond::Atom(_) => false,
            BCond::All(v) | BCond::Any(v) => v.iter().any(BCond::binds_tenant),
            BCond::Not(c) => c.binds_tenant(),
        }
    }

    /// Whether an atom of the tree (not of its subqueries) satisfies `f`.
    fn any_atom(&self, f: &impl Fn(&Atom) -> bool) -> bool {
        match self {
            BCond::Atom(a) => f(a),
            BCond::All(v) | BCond::Any(v) => v.iter().any(|c| c.any_atom(f)),
            BCond::Not(c) => c.any_atom(f),
        }
    }
}

/// The SeaORM `Condition` for `c`, whose columns are `ent`'s.
pub(super) fn condition(ent: Ent, c: &BCond) -> Condition {
    match c {
        BCond::Atom(a) => Condition::all().add(atom(ent, a)),
        BCond::All(v) => v
            .iter()
            .fold(Condition::all(), |acc, c| acc.add(condition(ent, c))),
        BCond::Any(v) => v
            .iter()
            .fold(Condition::any(), |acc, c| acc.add(condition(ent, c))),
        BCond::Not(c) => condition(ent, c).not(),
    }
}

fn atom(ent: Ent, a: &Atom) -> Expr {
    match a {
        Atom::Cmp { col, op, lit } => on_entity!(ent, E => {
            let c = column::<E>(col);
            let v = lit.value();
            match op {
                Op::Eq => c.eq(v),
                Op::Ne => c.ne(v),
                Op::Gt => c.gt(v),
                Op::Lt => c.lt(v),
            }
        }),
        Atom::Null { col, not } => on_entity!(ent, E => {
            let c = column::<E>(col);
            if *not { c.is_not_null() } else { c.is_null() }
        }),
        Atom::In { col, lits } => {
            on_entity!(ent, E => column::<E>(col).is_in(lits.iter().map(|l| l.value())))
        }
        Atom::Like { col, pattern } => on_entity!(ent, E => column::<E>(col).like(*pattern)),
        Atom::Tenant(t) => {
            let col = ent.tenant_column().expect("a scoped table");
            on_entity!(ent, E => column::<E>(col).eq(*t))
        }
        Atom::InParent { negated, cond } => {
            let (fk, parent) = ent.parent().expect("a table with a parent");
            let sub: SelectStatement = on_entity!(parent, P => {
                let mut q = Query::select();
                q.column((P::default(), column::<P>("id"))).from(P::default());
                if let Some(c) = cond {
                    q.cond_where(condition(parent, c));
                }
                q
            });
            on_entity!(ent, E => {
                let c = column::<E>(fk);
                if *negated { c.not_in_subquery(sub) } else { c.in_subquery(sub) }
            })
        }
        Atom::ExistsChild { cond } => {
            let (child, fk) = ent.child().expect("a table with a child");
            let link: Expr = on_entity!(ent, E => on_entity!(child, C => {
                Expr::col((C::default(), column::<C>(fk)))
                    .equals((E::default(), column::<E>("id")))
            }));
            let filter = Condition::all()
                .add(link)
                .add_option(cond.as_ref().map(|c| condition(child, c)));
            let sub: SelectStatement = on_entity!(child, C => {
                Query::select()
                    .column((C::default(), column::<C>("id")))
                    .from(C::default())
                    .cond_where(filter)
                    .to_owned()
            });
            Expr::exists(sub)
        }
    }
}

const LIKE_PATTERNS: [&str; 7] = ["a%", "%e%", "n_w", "%", "%o%", "s%", "_%_"];

/// An atom over `ent`'s columns; with `sub`, also subqueries into its
/// parent and child tables.
fn atom_strategy(ent: Ent, sub: bool) -> BoxedStrategy<Atom> {
    let lit =
        move |col: &'static str, kind: Kind, small: i32, big: i32, wide: bool, i: usize| match kind
        {
            Kind::Int => Lit::Int(if wide { big } else { small }),
            Kind::Text => Lit::Text(ent.pool(col).get(i).copied().unwrap_or("nobody")),
        };
    let cols = ent.columns().to_vec();
    let cmp = (
        prop::sample::select(cols.clone()),
        prop::sample::select(vec![Op::Eq, Op::Ne, Op::Gt, Op::Lt]),
        0..16_i32,
        0..300_i32,
        prop::bool::weighted(0.2),
        0..4_usize,
    )
        .prop_map(move |((col, kind, _), op, small, big, wide, i)| Atom::Cmp {
            col,
            op,
            lit: lit(col, kind, small, big, wide, i),
        });
    let nullable: Vec<&'static str> = cols.iter().filter(|c| c.2).map(|c| c.0).collect();
    let null_cols = if nullable.is_empty() {
        cols.iter().map(|c| c.0).collect()
    } else {
        nullable
    };
    let null = (prop::sample::select(null_cols), any::<bool>())
        .prop_map(|(col, not)| Atom::Null { col, not });
    let is_in = (
        prop::sample::select(cols.clone()),
        prop::collection::vec((0..16_i32, 0..4_usize), 1..=3),
    )
        .prop_map(move |((col, kind, _), lits)| Atom::In {
            col,
            lits: lits
                .into_iter()
                .map(|(n, i)| lit(col, kind, n, n, false, i))
                .collect(),
        });
    let text_cols: Vec<&'static str> = cols
        .iter()
        .filter(|c| c.1 == Kind::Text)
        .map(|c| c.0)
        .collect();
    let like = (
        prop::sample::select(text_cols),
        prop::sample::select(LIKE_PATTERNS.to_vec()),
    )
        .prop_map(|(col, pattern)| Atom::Like { col, pattern });

    let mut options: Vec<(u32, BoxedStrategy<Atom>)> = vec![
        (5, cmp.boxed()),
        (2, null.boxed()),
        (2, is_in.boxed()),
        (1, like.boxed()),
    ];
    if ent.tenant_column().is_some() {
        options.push((
            2,
            prop::sample::select(TENANTS.to_vec())
                .prop_map(Atom::Tenant)
                .boxed(),
        ));
    }
    if sub {
        if let Some((_, parent)) = ent.parent() {
            options.push((
                1,
                (any::<bool>(), prop::option::of(bcond(parent, false)))
                    .prop_map(|(negated, cond)| Atom::InParent {
                        negated,
                        cond: cond.map(Box::new),
                    })
                    .boxed(),
            ));
        }
        if let Some((child, _)) = ent.child() {
            options.push((
                1,
                prop::option::of(bcond(child, false))
                    .prop_map(|cond| Atom::ExistsChild {
                        cond: cond.map(Box::new),
                    })
                    .boxed(),
            ));
        }
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

/// A condition tree over `ent` (nested `all`/`any`/`not`, empty ones too).
fn bcond(ent: Ent, sub: bool) -> BoxedStrategy<BCond> {
    let depth = if sub { 3 } else { 2 };
    atom_strategy(ent, sub)
        .prop_map(BCond::Atom)
        .prop_recursive(depth, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..=3).prop_map(BCond::All),
                prop::collection::vec(inner.clone(), 0..=3).prop_map(BCond::Any),
                inner.prop_map(|c| BCond::Not(Box::new(c))),
            ]
        })
        .boxed()
}

pub(super) fn opt_cond(ent: Ent) -> impl Strategy<Value = Option<BCond>> {
    prop::option::weighted(0.8, bcond(ent, true))
}
