//! Checks over the whole parsed statement, before it is rewritten: the
//! rules that hold wherever a construct sits, so no position of the tree
//! can be forgotten.
//!
//! - Every function call is on the backend's allowlist (see
//!   [`functions`](super::functions)), written as one plain unquoted word.
//! - No custom operator (PostgreSQL `OPERATOR(...)` and user-defined ones
//!   run functions too), and no `||` on MySQL, where `sql_mode` decides
//!   whether it means OR or concatenation.
//! - `x IN table` is refused: it reads a relation from an expression.
//! - No name that could mean two things: a CTE named like a registered
//!   table (servers disagree on CTE scoping: MariaDB 10.11 resolves a name
//!   inside a nested `WITH` to the base table), or an alias that is a
//!   registered table's name but stands for something else.
//! - The position of every relation in the tree is recorded, so that the
//!   rewrite can prove it visited each one (see [`Relations`]).

use std::{collections::HashSet, ops::ControlFlow};

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, InTarget, ObjectName, ObjectNamePart, Query, Statement,
    TableAlias, TableFactor, VisitMut, VisitorMut,
};

use super::functions;
use crate::{
    Refusal,
    flavor::Flavor,
    rules::{Rules, normalize},
};

/// Where each relation of the input sits (line and column of its first
/// name part): every one must be approved by the rewrite.
#[derive(Debug, Default)]
pub(crate) struct Relations {
    seen: Vec<(u64, u64)>,
    approved: HashSet<(u64, u64)>,
}

impl Relations {
    pub(crate) fn approve(&mut self, name: &ObjectName) {
        if let Some(at) = position(name) {
            self.approved.insert(at);
        }
    }

    /// The backstop: a table, view or table function the rewrite did not
    /// scope or check is refused, whatever position it was in.
    pub(crate) fn all_approved(&self) -> Result<(), Refusal> {
        if self.seen.iter().all(|at| self.approved.contains(at)) {
            Ok(())
        } else {
            Err(Refusal::Construct(
                "a table reference in this position".into(),
            ))
        }
    }
}

fn position(name: &ObjectName) -> Option<(u64, u64)> {
    match name.0.first() {
        Some(ObjectNamePart::Identifier(ident)) => {
            let start = ident.span.start;
            Some((start.line, start.column))
        }
        _ => None,
    }
}

/// Runs the checks and returns the relations to account for.
pub(crate) fn lint(
    registry: &Rules,
    backend: Flavor,
    statement: &mut Statement,
) -> Result<Relations, Refusal> {
    let mut lint = Lint {
        registry,
        backend,
        relations: Relations::default(),
    };
    match statement.visit(&mut lint) {
        ControlFlow::Continue(()) => Ok(lint.relations),
        ControlFlow::Break(refusal) => Err(refusal),
    }
}

struct Lint<'a> {
    registry: &'a Rules,
    backend: Flavor,
    relations: Relations,
}

impl Lint<'_> {
    fn function(&self, name: &ObjectName) -> Result<(), Refusal> {
        let allowed = match name.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => {
                ident.quote_style.is_none()
                    && functions::allowed(
                        self.backend,
                        &ident.value,
                        &self.registry.allowed_functions,
                    )
            }
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal::Function(name.to_string()))
        }
    }

    fn alias(&self, alias: &Option<TableAlias>, table: Option<&ObjectName>) -> Result<(), Refusal> {
        let Some(alias) = alias else { return Ok(()) };
        let key = normalize(self.backend, &alias.name);
        if !self.registry.shadows_table(&key) {
            return Ok(());
        }
        let own_name = table
            .and_then(|t| t.0.last())
            .is_some_and(|part| match part {
                ObjectNamePart::Identifier(i) => {
                    normalize(self.backend, i).eq_ignore_ascii_case(&key)
                }
                ObjectNamePart::Function(_) => false,
            });
        if own_name {
            Ok(())
        } else {
            Err(Refusal::AmbiguousName(alias.name.value.clone()))
        }
    }

    fn cte_name(&self, name: &Ident) -> Result<(), Refusal> {
        if self.registry.shadows_table(&normalize(self.backend, name)) {
            Err(Refusal::AmbiguousCte(name.value.clone()))
        } else {
            Ok(())
        }
    }
}

impl VisitorMut for Lint<'_> {
    type Break = Refusal;

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<Refusal> {
        match position(name) {
            Some(at) => {
                self.relations.seen.push(at);
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(Refusal::Construct("this table reference".into())),
        }
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Refusal> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                if let Err(refusal) = self.cte_name(&cte.alias.name) {
                    return ControlFlow::Break(refusal);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Refusal> {
        let result = match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => self.alias(alias, Some(name)),
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. }
            | TableFactor::JsonTable { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => self.alias(alias, None),
            // Refused by the rewrite.
            _ => Ok(()),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(refusal) => ControlFlow::Break(refusal),
        }
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Refusal> {
        let result = match expr {
            Expr::Function(f) => self.function(&f.name),
            Expr::BinaryOp {
                op: BinaryOperator::PGCustomBinaryOperator(_) | BinaryOperator::Custom(_),
                ..
            } => Err(Refusal::Construct("a custom operator".into())),
            Expr::BinaryOp {
                op: BinaryOperator::StringConcat,
                ..
            } if self.backend == Flavor::MySql => Err(Refusal::Lexical(
                "`||` (OR or concatenation, depending on sql_mode)".into(),
            )),
            Expr::In {
                target: InTarget::Table { .. } | InTarget::Unnest(_),
                ..
            } => Err(Refusal::Construct(
                "`IN` a table or function without a subquery".into(),
            )),
            _ => Ok(()),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(refusal) => ControlFlow::Break(refusal),
        }
    }
}
