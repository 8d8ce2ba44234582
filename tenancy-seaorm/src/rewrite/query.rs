//! Reads: every reference to a scoped table, wherever it sits in a query,
//! is restricted to the tenant's rows, in one of two ways:
//!
//! ```sql
//! FROM leads AS l LEFT JOIN calls ON ... WHERE <user condition>
//! -- becomes
//! FROM leads AS l
//!      LEFT JOIN (SELECT * FROM calls WHERE calls.entity_id = $9) AS calls ON ...
//! WHERE (<user condition>) AND l.entity_id = $9
//! ```
//!
//! A table that no outer join can null-extend gets its guard in the WHERE of
//! its own SELECT, after the user's whole condition in parentheses (so an
//! `OR` in it can't widen the guard), whether it is joined with `ON`,
//! `NATURAL` or `USING`: a qualified `l.entity_id` names that table's own
//! column on all three databases even when `entity_id` is a merged column,
//! and a filter on a table no join null-extends commutes with every join.
//! This is what a person writes, and the cheapest form for every planner
//! (SQLite recompiles statements with a bound `LIMIT` on each run, and a
//! derived table costs more to recompile). The nullable side of an outer
//! join is guarded in that join's `ON` where one filters it exactly as
//! filtering it first would. Every other reference (the nullable side of a
//! `FULL`, `NATURAL` or `USING` outer join, which has no such `ON`, tables
//! inside a parenthesised join, aliases that rename columns) becomes a
//! derived table holding only the tenant's rows: local to the reference, so
//! right by construction for outer joins and merged columns. All three
//! databases merge such derived tables, so the plan uses the same index as a
//! hand-written filter (the `explain` tests check it).

use std::{collections::HashMap, ops::ControlFlow, rc::Rc};

use sqlparser::ast::{
    Expr, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, SetExpr, TableAlias,
    TableFactor, TableWithJoins, VisitMut, VisitorMut,
};

use super::{Rewriter, SELECT_STAR};
use crate::{Refusal, rules::TableRule};

/// The common table expressions visible at a point of a query.
///
/// A chain of `WITH` frames, innermost first, shared rather than copied so
/// that a statement with n CTEs costs O(n) to scope, not O(n²).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    frame: Option<Rc<Frame>>,
    /// The CTEs `frame.names[..visible]` are visible here; the later ones
    /// (a CTE's own name inside its non-recursive body, a later sibling's)
    /// mean the table on some backends and the CTE on others.
    visible: usize,
}

#[derive(Debug)]
struct Frame {
    names: HashMap<String, usize>,
    parent: Option<Rc<Frame>>,
}

/// What a one-part table name means at a point of a query.
pub(crate) enum Resolved {
    Table,
    Cte,
    /// Different things on different servers: refused.
    Ambiguous,
}

impl Scope {
    fn with_frame(&self, names: &[String]) -> Self {
        let names = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Scope {
            frame: Some(Rc::new(Frame {
                names,
                parent: self.frame.clone(),
            })),
            visible: 0,
        }
    }

    fn visible(&self, visible: usize) -> Self {
        Scope {
            frame: self.frame.clone(),
            visible,
        }
    }

    pub(crate) fn resolve(&self, key: &str) -> Resolved {
        let Some(frame) = &self.frame else {
            return Resolved::Table;
        };
        match frame.names.get(key) {
            Some(&i) if i < self.visible => return Resolved::Cte,
            Some(_) => return Resolved::Ambiguous,
            None => {}
        }
        // A CTE of an enclosing WITH, referenced from inside a query that
        // has a WITH of its own: MariaDB 10.11 resolves such a name to the
        // base table, PostgreSQL and SQLite to the CTE.
        let mut outer = frame.parent.as_deref();
        while let Some(f) = outer {
            if f.names.contains_key(key) {
                return Resolved::Ambiguous;
            }
            outer = f.parent.as_deref();
        }
        Resolved::Table
    }
}

impl Rewriter<'_> {
    /// Scopes the CTEs of a `WITH` (each sees the ones before it, and
    /// itself when recursive) and returns the scope the statement's body
    /// sees them in.
    pub(super) fn with_scope(
        &mut self,
        with: &mut Option<sqlparser::ast::With>,
        outer: &Scope,
    ) -> Result<Scope, Refusal> {
        let Some(with) = with else {
            return Ok(outer.clone());
        };
        let names: Vec<String> = with
            .cte_tables
            .iter()
            .map(|cte| self.table_key(&cte.alias.name))
            .collect();
        let frame = outer.with_frame(&names);
        for (i, cte) in with.cte_tables.iter_mut().enumerate() {
            let visible = if with.recursive { i + 1 } else { i };
            self.query(&mut cte.query, &frame.visible(visible))?;
        }
        Ok(frame.visible(names.len()))
    }

    pub(crate) fn query(&mut self, query: &mut Query, outer: &Scope) -> Result<(), Refusal> {
        if !query.pipe_operators.is_empty() {
            return Err(Refusal::Construct("a pipe operator".into()));
        }
        if query.for_clause.is_some() || query.settings.is_some() || query.format_clause.is_some() {
            return Err(Refusal::Construct("a FOR/SETTINGS/FORMAT clause".into()));
        }
        let scope = self.with_scope(&mut query.with, outer)?;
        self.set_expr(&mut query.body, &scope)?;

        // Everything else may hold subqueries. Destructured without `..`, so
        // a field added to sqlparser's `Query` fails to compile here instead
        // of slipping past unscoped.
        let Query {
            with: _,
            body: _,
            order_by,
            limit_clause,
            fetch,
            locks,
            for_clause: _,
            settings: _,
            format_clause: _,
            pipe_operators: _,
        } = query;
        self.nested(order_by, &scope)?;
        self.nested(limit_clause, &scope)?;
        self.nested(fetch, &scope)?;
        self.nested(locks, &scope)
    }

    fn set_expr(&mut self, body: &mut SetExpr, scope: &Scope) -> Result<(), Refusal> {
        match body {
            SetExpr::Select(select) => {
                if select.into.is_some() {
                    return Err(Refusal::Construct("SELECT ... INTO".into()));
                }
                if !select.lateral_views.is_empty()
                    || !select.connect_by.is_empty()
                    || select.prewhere.is_some()
                {
                    return Err(Refusal::Construct(
                        "LATERAL VIEW / CONNECT BY / PREWHERE".into(),
                    ));
                }
                self.drop_dual(&mut select.from);
                let mut guards = Vec::new();
                for item in &mut select.from {
                    self.select_from_item(item, scope, &mut guards)?;
                }
                // Every other part of the SELECT is expressions: walk them all
                // generically, so a clause we did not think of is still seen.
                let from = std::mem::take(&mut select.from);
                let result = self.nested(&mut **select, scope);
                select.from = from;
                result?;
                if !guards.is_empty() {
                    select.selection = super::guarded(select.selection.take(), guards);
                }
                Ok(())
            }
            SetExpr::Query(query) => self.query(query, scope),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, scope)?;
                self.set_expr(right, scope)
            }
            SetExpr::Values(values) => self.nested(values, scope),
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                Err(Refusal::Construct(
                    "a data-modifying statement inside a query".into(),
                ))
            }
            SetExpr::Table(_) => Err(Refusal::Construct("a TABLE statement".into())),
        }
    }

    /// MySQL's `FROM DUAL` (unquoted, alone): no table at all, so it is
    /// dropped (`SELECT 1 FROM DUAL WHERE c` is `SELECT 1 WHERE c` there).
    /// Quoted, `` `DUAL` `` is a table name like any other.
    fn drop_dual(&mut self, from: &mut Vec<TableWithJoins>) {
        if self.backend != crate::flavor::Flavor::MySql {
            return;
        }
        let [TableWithJoins { relation, joins }] = from.as_slice() else {
            return;
        };
        let TableFactor::Table {
            name,
            alias: None,
            args: None,
            with_hints,
            version: None,
            partitions,
            with_ordinality: false,
            json_path: None,
            sample: None,
            index_directives,
            inheritance: None,
        } = relation
        else {
            return;
        };
        let dual = matches!(name.0.as_slice(),
            [ObjectNamePart::Identifier(ident)]
                if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("dual"));
        if dual
            && joins.is_empty()
            && with_hints.is_empty()
            && partitions.is_empty()
            && index_directives.is_empty()
        {
            self.relations.approve(&name.clone());
            from.clear();
        }
    }

    /// A FROM item of a SELECT. A scoped table that no outer join can
    /// null-extend gets its guard in the SELECT's WHERE, which is what a
    /// person writes and the cheapest for every planner, with `NATURAL` and
    /// `USING` joins as with `ON` (PostgreSQL then keeps its primary key, so
    /// `GROUP BY a.id` works through the join); one that an outer join
    /// null-extends gets it in a join's ON where that filters it exactly as
    /// filtering it first would ([`GuardPlace`]); every other scoped table
    /// (the nullable side of `FULL`, `NATURAL` and `USING` outer joins, a
    /// parenthesised join's tables) becomes a derived table, which keeps
    /// outer joins and merged columns right by construction.
    fn select_from_item(
        &mut self,
        item: &mut TableWithJoins,
        scope: &Scope,
        guards: &mut Vec<Expr>,
    ) -> Result<(), Refusal> {
        let mut nullable = vec![false; item.joins.len() + 1];
        for (k, join) in item.joins.iter().enumerate() {
            let i = k + 1;
            match &join.join_operator {
                JoinOperator::Join(_)
                | JoinOperator::Inner(_)
                | JoinOperator::CrossJoin(_)
                | JoinOperator::StraightJoin(_) => {}
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => nullable[i] = true,
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => {
                    nullable[..i].iter_mut().for_each(|n| *n = true);
                }
                JoinOperator::FullOuter(_) => {
                    nullable[..=i].iter_mut().for_each(|n| *n = true);
                }
                _ => return Err(Refusal::Construct("this join operator".into())),
            }
        }
        // The caller's ON clauses first, so their subqueries are scoped
        // before any guard joins them.
        for join in &mut item.joins {
            self.nested(&mut join.join_operator, scope)?;
        }
        for (i, nullable) in nullable.into_iter().enumerate() {
            let factor = factor_at(item, i);
            let Some(guard) = self.inline_guard(factor, scope)? else {
                self.factor(factor, scope)?;
                continue;
            };
            match guard_place(i, nullable, &item.joins) {
                GuardPlace::Where => guards.push(guard),
                GuardPlace::On(j) => add_to_on(&mut item.joins[j].join_operator, guard),
                GuardPlace::Derived => self.factor(factor_at(item, i), scope)?,
            }
        }
        Ok(())
    }

    /// `alias.col = <tenant>` for a plain reference to a scoped table, or
    /// `None` when the reference needs [`Rewriter::factor`] (a CTE, a global
    /// table, a refusal, or an alias that renames the columns).
    fn inline_guard(
        &mut self,
        factor: &TableFactor,
        scope: &Scope,
    ) -> Result<Option<Expr>, Refusal> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            version: None,
            json_path: None,
            sample: None,
            ..
        } = factor
        else {
            return Ok(None);
        };
        if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
            return Ok(None);
        }
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && !matches!(scope.resolve(&self.table_key(ident)), Resolved::Table)
        {
            return Ok(None);
        }
        let Some((_, TableRule::Scoped { column })) = self.registry.lookup(self.backend, name)
        else {
            return Ok(None);
        };
        self.relations.approve(name);
        let qualifier = match alias {
            Some(alias) => ObjectName(vec![ObjectNamePart::Identifier(alias.name.clone())]),
            None => name.clone(),
        };
        Ok(Some(self.tenant_predicate(&qualifier, column)))
    }

    pub(crate) fn table_with_joins(
        &mut self,
        item: &mut TableWithJoins,
        scope: &Scope,
    ) -> Result<(), Refusal> {
        self.factor(&mut item.relation, scope)?;
        for join in &mut item.joins {
            self.factor(&mut join.relation, scope)?;
            match &mut join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::StraightJoin(c) => {
                    if let JoinConstraint::On(expr) = c {
                        self.nested(expr, scope)?;
                    }
                }
                _ => return Err(Refusal::Construct("this join operator".into())),
            }
        }
        Ok(())
    }

    fn factor(&mut self, factor: &mut TableFactor, scope: &Scope) -> Result<(), Refusal> {
        match factor {
            TableFactor::Table { name, args, .. } => {
                if let Some(args) = args {
                    if !self.table_function_allowed(name) {
                        return Err(Refusal::Construct(format!("table function `{name}`")));
                    }
                    self.relations.approve(name);
                    return self.nested(args, scope);
                }
                if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() {
                    match scope.resolve(&self.table_key(ident)) {
                        Resolved::Ambiguous => {
                            return Err(Refusal::AmbiguousCte(ident.value.clone()));
                        }
                        Resolved::Cte => {
                            self.relations.approve(name);
                            return Ok(());
                        }
                        Resolved::Table => {}
                    }
                }
                self.relations.approve(name);
                match self.registry.lookup(self.backend, name) {
                    Some((_, TableRule::Global { .. })) => Ok(()),
                    Some((_, TableRule::Scoped { column })) => {
                        let column = column.clone();
                        self.wrap(factor, &column)
                    }
                    None => Err(Refusal::UnregisteredTable(name.to_string())),
                }
            }
            TableFactor::Derived { subquery, .. } => self.query(subquery, scope),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins, scope),
            TableFactor::Function { name, args, .. } => {
                if !self.table_function_allowed(name) {
                    return Err(Refusal::Construct(format!("table function `{name}`")));
                }
                self.nested(args, scope)
            }
            TableFactor::UNNEST { array_exprs, .. } => self.nested(array_exprs, scope),
            TableFactor::JsonTable { json_expr, .. } => self.nested(json_expr, scope),
            _ => Err(Refusal::Construct("this kind of FROM item".into())),
        }
    }

    /// Replaces a scoped table reference by `(SELECT * FROM t WHERE
    /// t.col = <tenant>) AS alias`, moving index hints and the like inside.
    fn wrap(&mut self, factor: &mut TableFactor, column: &str) -> Result<(), Refusal> {
        let TableFactor::Table {
            name,
            alias,
            version,
            json_path,
            sample,
            ..
        } = factor
        else {
            return Err(Refusal::Construct("this kind of FROM item".into()));
        };
        if version.is_some() || json_path.is_some() || sample.is_some() {
            return Err(Refusal::Construct(
                "a table version, JSON path or sample".into(),
            ));
        }
        let outer_alias = alias.take().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: match name.0.last() {
                Some(ObjectNamePart::Identifier(i)) => i.clone(),
                _ => self.ident("t"),
            },
            columns: Vec::new(),
            at: None,
        });
        let predicate = self.tenant_predicate(name, column);
        let Some(template) = SELECT_STAR.as_ref() else {
            return Err(Refusal::Construct("derived table template".into()));
        };
        let mut inner = Query::clone(template);
        let SetExpr::Select(select) = &mut *inner.body else {
            return Err(Refusal::Construct("derived table template".into()));
        };
        let table = std::mem::replace(
            factor,
            TableFactor::Derived {
                lateral: false,
                subquery: Box::new(Query::clone(template)),
                alias: Some(outer_alias),
                sample: None,
            },
        );
        let Some(from) = select.from.first_mut() else {
            return Err(Refusal::Construct("derived table template".into()));
        };
        from.relation = table;
        select.selection = Some(predicate);
        if let TableFactor::Derived { subquery, .. } = factor {
            **subquery = inner;
        }
        Ok(())
    }

    /// Scopes every subquery inside `node` (an expression, a clause, a list)
    /// with `scope`, and refuses denied functions and table references that
    /// are not in a FROM clause we handled.
    pub(crate) fn nested<N: VisitMut + ?Sized>(
        &mut self,
        node: &mut N,
        scope: &Scope,
    ) -> Result<(), Refusal> {
        let mut visitor = Nested {
            rewriter: self,
            scope,
            depth: 0,
        };
        match node.visit(&mut visitor) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(refusal) => Err(refusal),
        }
    }

    /// The name a CTE or table identifier denotes on this backend.
    pub(crate) fn table_key(&self, ident: &sqlparser::ast::Ident) -> String {
        crate::rules::normalize(self.backend, ident)
    }
}

impl Rewriter<'_> {
    fn table_function_allowed(&self, name: &ObjectName) -> bool {
        match name.0.as_slice() {
            [ObjectNamePart::Identifier(i)] if i.quote_style.is_none() => {
                super::functions::table_function_allowed(self.backend, &i.value)
            }
            _ => false,
        }
    }
}

/// Finds the outermost subqueries of a node and hands each to
/// [`Rewriter::query`], which scopes it and everything inside it. Deeper
/// levels are then only walked past.
struct Nested<'r, 'a> {
    rewriter: &'r mut Rewriter<'a>,
    scope: &'r Scope,
    depth: usize,
}

impl VisitorMut for Nested<'_, '_> {
    type Break = Refusal;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Refusal> {
        if self.depth == 0
            && let Err(refusal) = self.rewriter.query(query, self.scope)
        {
            return ControlFlow::Break(refusal);
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<Refusal> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<Refusal> {
        if self.depth == 0 {
            // A table reference outside any FROM clause we walked.
            return ControlFlow::Break(Refusal::Construct(
                "a table reference in this position".into(),
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, _: &mut sqlparser::ast::Statement) -> ControlFlow<Refusal> {
        if self.depth == 0 {
            return ControlFlow::Break(Refusal::Construct(
                "a statement inside an expression".into(),
            ));
        }
        ControlFlow::Continue(())
    }
}

/// Where the guard of FROM item `i` (0 is the first table, `i` the right
/// operand of join `i - 1`) goes.
pub(super) enum GuardPlace {
    /// The SELECT's WHERE: no outer join null-extends the table.
    Where,
    /// The ON of join `j`, which filters the table exactly as filtering it
    /// first would, and keeps it a plain table (PostgreSQL then still sees
    /// its primary key, so GROUP BY that key works through the join).
    On(usize),
    /// Nowhere: the table becomes a derived table (the nullable side of a
    /// FULL join, or of an outer join with `NATURAL` or `USING`, which has
    /// no ON to hold the guard).
    Derived,
}

pub(super) fn guard_place(i: usize, nullable: bool, joins: &[sqlparser::ast::Join]) -> GuardPlace {
    if !nullable {
        return GuardPlace::Where;
    }
    match i {
        // The left table of a first RIGHT JOIN.
        0 if joins
            .first()
            .is_some_and(|j| on_filters_left_side(&j.join_operator)) =>
        {
            GuardPlace::On(0)
        }
        // The right side of an inner or left join.
        1.. if on_filters_right_side(&joins[i - 1].join_operator) => GuardPlace::On(i - 1),
        _ => GuardPlace::Derived,
    }
}

fn factor_at(item: &mut TableWithJoins, i: usize) -> &mut TableFactor {
    match i {
        0 => &mut item.relation,
        _ => &mut item.joins[i - 1].relation,
    }
}

/// Whether a predicate on the right operand alone, added to the join's ON,
/// is the same as filtering that operand before the join: true for inner
/// and left joins with an ON clause (the right operand is the one the join
/// null-extends or drops), never for right, full or cross joins.
fn on_filters_right_side(operator: &JoinOperator) -> bool {
    matches!(
        operator,
        JoinOperator::Join(JoinConstraint::On(_))
            | JoinOperator::Inner(JoinConstraint::On(_))
            | JoinOperator::Left(JoinConstraint::On(_))
            | JoinOperator::LeftOuter(JoinConstraint::On(_))
            | JoinOperator::StraightJoin(JoinConstraint::On(_))
    )
}

/// Whether a predicate on the left operand alone, added to the join's ON,
/// is the same as filtering that operand before the join: true for a right
/// join with an ON clause (the left operand is the one it null-extends).
/// Used only when the left operand is one table.
fn on_filters_left_side(operator: &JoinOperator) -> bool {
    matches!(
        operator,
        JoinOperator::Right(JoinConstraint::On(_))
            | JoinOperator::RightOuter(JoinConstraint::On(_))
    )
}

/// `ON (cond) AND guard`; only called where [`on_filters_right_side`] or
/// [`on_filters_left_side`] holds.
pub(super) fn add_to_on(operator: &mut JoinOperator, guard: Expr) {
    if let JoinOperator::Join(JoinConstraint::On(on))
    | JoinOperator::Inner(JoinConstraint::On(on))
    | JoinOperator::Left(JoinConstraint::On(on))
    | JoinOperator::LeftOuter(JoinConstraint::On(on))
    | JoinOperator::StraightJoin(JoinConstraint::On(on))
    | JoinOperator::Right(JoinConstraint::On(on))
    | JoinOperator::RightOuter(JoinConstraint::On(on)) = operator
    {
        // Always `Some`: there is a condition. Were it not, the ON would
        // stay NULL and match nothing, which fails closed.
        let null = sqlparser::ast::Value::Null.with_span(sqlparser::tokenizer::Span::empty());
        let cond = std::mem::replace(on, Expr::Value(null));
        if let Some(both) = super::guarded(Some(cond), vec![guard]) {
            *on = both;
        }
    }
}
