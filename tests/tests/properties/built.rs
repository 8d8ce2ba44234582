//! Random statements built with SeaORM's query builders (and sea-query's,
//! for subqueries), as an application writes them.
//!
//! The raw-SQL grammar in [`crate::sql`] covers what a person types; this
//! covers what SeaORM renders: quoted identifiers, table-qualified columns,
//! bound values (`$1` on PostgreSQL, `?` elsewhere), `Condition` trees with
//! empty `all()`/`any()` (TRUE/FALSE) and `.not()`, `find_also_related`
//! joins with aliased columns, `ON CONFLICT` / `ON DUPLICATE KEY UPDATE`.
//! Every statement is built with SeaORM and turned into SQL and values with
//! `QueryTrait::build` (or `StatementBuilder::build`); the oracle runs it.

use std::str::FromStr;

use proptest::prelude::*;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, OnConflict, Query, SelectStatement, UnionType,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, JoinType, NotSet,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Related, Set, Statement, StatementBuilder,
    Value,
};

use crate::model::TENANTS;
use crate::sql::Rendered;
use tenancy_testkit::Backend;

// ---------------------------------------------------------------------------
// Entities of the property schema (`model::schema`)
// ---------------------------------------------------------------------------

pub mod regions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "regions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::accounts::Entity")]
        Accounts,
    }

    impl Related<super::accounts::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Accounts.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod accounts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub entity_id: i64,
        pub name: String,
        pub region_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::regions::Entity",
            from = "Column::RegionId",
            to = "super::regions::Column::Id"
        )]
        Region,
        #[sea_orm(has_many = "super::leads::Entity")]
        Leads,
    }

    impl Related<super::regions::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Region.def()
        }
    }

    impl Related<super::leads::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Leads.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod leads {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub entity_id: i64,
        pub account_id: Option<i32>,
        pub name: String,
        pub status: String,
        pub score: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::accounts::Entity",
            from = "Column::AccountId",
            to = "super::accounts::Column::Id"
        )]
        Account,
        #[sea_orm(has_many = "super::calls::Entity")]
        Calls,
    }

    impl Related<super::accounts::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Account.def()
        }
    }

    impl Related<super::calls::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Calls.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod calls {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub company_id: i64,
        pub lead_id: Option<i32>,
        pub disposition: String,
        pub seconds: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::leads::Entity",
            from = "Column::LeadId",
            to = "super::leads::Column::Id"
        )]
        Lead,
    }

    impl Related<super::leads::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Lead.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

// ---------------------------------------------------------------------------
// The schema, as the generator sees it
// ---------------------------------------------------------------------------

/// A table of the schema, the global one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ent {
    Regions,
    Accounts,
    Leads,
    Calls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

/// Runs `$body` with `$E` the SeaORM entity of `$ent`.
macro_rules! on_entity {
    ($ent:expr, $E:ident => $body:expr) => {
        match $ent {
            Ent::Regions => {
                type $E = regions::Entity;
                $body
            }
            Ent::Accounts => {
                type $E = accounts::Entity;
                $body
            }
            Ent::Leads => {
                type $E = leads::Entity;
                $body
            }
            Ent::Calls => {
                type $E = calls::Entity;
                $body
            }
        }
    };
}

impl Ent {
    const ALL: [Ent; 4] = [Ent::Regions, Ent::Accounts, Ent::Leads, Ent::Calls];
    const SCOPED: [Ent; 3] = [Ent::Accounts, Ent::Leads, Ent::Calls];

    /// The tenant column; `None` for the global table.
    fn tenant_column(self) -> Option<&'static str> {
        match self {
            Ent::Regions => None,
            Ent::Calls => Some("company_id"),
            Ent::Accounts | Ent::Leads => Some("entity_id"),
        }
    }

    /// Columns other than the tenant column: (name, kind, nullable).
    fn columns(self) -> &'static [(&'static str, Kind, bool)] {
        match self {
            Ent::Regions => &[("id", Kind::Int, false), ("name", Kind::Text, false)],
            Ent::Accounts => &[
                ("id", Kind::Int, false),
                ("name", Kind::Text, false),
                ("region_id", Kind::Int, true),
            ],
            Ent::Leads => &[
                ("id", Kind::Int, false),
                ("account_id", Kind::Int, true),
                ("name", Kind::Text, false),
                ("status", Kind::Text, false),
                ("score", Kind::Int, true),
            ],
            Ent::Calls => &[
                ("id", Kind::Int, false),
                ("lead_id", Kind::Int, true),
                ("disposition", Kind::Text, false),
                ("seconds", Kind::Int, false),
            ],
        }
    }

    /// The values a text column takes in the dataset (few, so they repeat).
    fn pool(self, col: &str) -> &'static [&'static str] {
        match (self, col) {
            (Ent::Regions, _) => &["north", "south"],
            (Ent::Accounts, _) => &["acme", "globex", "initech"],
            (Ent::Leads, "status") => &["new", "hot", "lost"],
            (Ent::Leads, _) => &["ann", "bob", "cy"],
            (Ent::Calls, _) => &["callback", "no_answer", "sale"],
        }
    }

    /// The text column that groups well.
    fn text_column(self) -> &'static str {
        match self {
            Ent::Regions | Ent::Accounts => "name",
            Ent::Leads => "status",
            Ent::Calls => "disposition",
        }
    }

    /// An integer column other than the id, for sums and updates.
    fn int_column(self) -> &'static str {
        match self {
            Ent::Regions => "id",
            Ent::Accounts => "region_id",
            Ent::Leads => "score",
            Ent::Calls => "seconds",
        }
    }

    /// The foreign key to the parent table: (column, parent).
    fn parent(self) -> Option<(&'static str, Ent)> {
        match self {
            Ent::Regions => None,
            Ent::Accounts => Some(("region_id", Ent::Regions)),
            Ent::Leads => Some(("account_id", Ent::Accounts)),
            Ent::Calls => Some(("lead_id", Ent::Leads)),
        }
    }

    /// The child table and its foreign key to this one.
    fn child(self) -> Option<(Ent, &'static str)> {
        Ent::ALL.into_iter().find_map(|c| {
            c.parent()
                .filter(|(_, p)| *p == self)
                .map(|(fk, _)| (c, fk))
        })
    }
}

/// The column of `E` called `name`.
fn column<E: EntityTrait>(name: &str) -> E::Column {
    E::Column::from_str(name)
        .unwrap_or_else(|_| panic!("`{}` has no column `{name}`", E::default().table_name()))
}

// ---------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------

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
    fn has_subquery(&self) -> bool {
        self.any_atom(&|a| matches!(a, Atom::InParent { .. } | Atom::ExistsChild { .. }))
    }

    fn has_exists(&self) -> bool {
        self.any_atom(&|a| matches!(a, Atom::ExistsChild { .. }))
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
fn condition(ent: Ent, c: &BCond) -> Condition {
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

fn opt_cond(ent: Ent) -> impl Strategy<Value = Option<BCond>> {
    prop::option::weighted(0.8, bcond(ent, true))
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

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
    /// `leads::Entity::insert(am).on_conflict(OnConflict::column(Id)...)`,
    /// with an id that may be another tenant's (0: a fresh id), the tenant
    /// column `NotSet` or `Set` (0: the connection's tenant).
    Upsert {
        id: i64,
        seed: i32,
        tenant: Option<i64>,
        action: UpsertAction,
    },
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

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

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
                        join_query::<regions::Entity, accounts::Entity>(*style, b, j)
                    }
                    (Ent::Accounts, Ent::Regions) => {
                        join_query::<accounts::Entity, regions::Entity>(*style, b, j)
                    }
                    (Ent::Accounts, Ent::Leads) => {
                        join_query::<accounts::Entity, leads::Entity>(*style, b, j)
                    }
                    (Ent::Leads, Ent::Accounts) => {
                        join_query::<leads::Entity, accounts::Entity>(*style, b, j)
                    }
                    (Ent::Leads, Ent::Calls) => {
                        join_query::<leads::Entity, calls::Entity>(*style, b, j)
                    }
                    (Ent::Calls, Ent::Leads) => {
                        join_query::<calls::Entity, leads::Entity>(*style, b, j)
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
                leads::Entity::find()
                    .find_also_related(accounts::Entity)
                    .find_also_related(calls::Entity)
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
                            .map(|i| regions::ActiveModel {
                                id: Set(id(i)),
                                name: Set(format!("r{seed}")),
                            })
                            .collect(),
                        *many,
                        db,
                    ),
                    Ent::Accounts => insert_of(
                        (0..rows)
                            .map(|i| accounts::ActiveModel {
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
                            .map(|i| leads::ActiveModel {
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
                            .map(|i| calls::ActiveModel {
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
                    Ent::Regions => regions::Entity::update_many()
                        .col_expr(regions::Column::Name, Expr::value(format!("r{v}")))
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Accounts if *via_set => accounts::Entity::update_many()
                        .set(accounts::ActiveModel {
                            region_id: Set((v % 3 != 0).then_some(v % 3)),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Accounts => accounts::Entity::update_many()
                        .col_expr(accounts::Column::RegionId, Expr::value(v % 3))
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Leads if *via_set => leads::Entity::update_many()
                        .set(leads::ActiveModel {
                            status: Set("hot".to_owned()),
                            score: Set(Some(v)),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Leads => leads::Entity::update_many()
                        .col_expr(leads::Column::Score, Expr::value(v))
                        .col_expr(leads::Column::Status, Expr::value("hot"))
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Calls if *via_set => calls::Entity::update_many()
                        .set(calls::ActiveModel {
                            disposition: Set("sale".to_owned()),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    Ent::Calls => calls::Entity::update_many()
                        .col_expr(
                            calls::Column::Seconds,
                            Expr::col((calls::Entity, calls::Column::Seconds)).add(v),
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
                    (Ent::Accounts, true) => accounts::Entity::update_many()
                        .set(accounts::ActiveModel {
                            entity_id: Set(to),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    (Ent::Leads, true) => leads::Entity::update_many()
                        .set(leads::ActiveModel {
                            entity_id: Set(to),
                            ..Default::default()
                        })
                        .apply_if(filter, QueryFilter::filter)
                        .build(db),
                    (Ent::Calls, true) => calls::Entity::update_many()
                        .set(calls::ActiveModel {
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
                let row = leads::ActiveModel {
                    id: Set(id32(id)),
                    entity_id: named.map_or(NotSet, Set),
                    name: Set(format!("u{seed}")),
                    status: Set("new".to_owned()),
                    score: Set(Some(*seed)),
                    ..Default::default()
                };
                let mut on_conflict = OnConflict::column(leads::Column::Id);
                let mut do_nothing = false;
                match action {
                    UpsertAction::Columns => {
                        on_conflict.update_columns([leads::Column::Name, leads::Column::Score]);
                    }
                    UpsertAction::Value => {
                        on_conflict
                            .update_column(leads::Column::Name)
                            .value(leads::Column::Score, Expr::value(seed + 1));
                    }
                    UpsertAction::Where => {
                        on_conflict
                            .update_columns([leads::Column::Name, leads::Column::Score])
                            .action_and_where(leads::Column::Status.ne("lost"));
                    }
                    UpsertAction::DoNothing => do_nothing = true,
                }
                let statement = if do_nothing {
                    leads::Entity::insert(row)
                        .on_conflict_do_nothing()
                        .build(db)
                } else {
                    leads::Entity::insert(row)
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
