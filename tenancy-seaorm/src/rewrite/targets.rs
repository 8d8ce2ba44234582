//! Write targets: what a written table is, and the tables of a
//! multi-table UPDATE or DELETE (where each one's guard goes, the same
//! places as a SELECT's FROM, [`guard_place`], and which may be written).

use sqlparser::ast::{
    Expr, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, TableFactor, TableWithJoins,
};

use super::{
    Rewriter,
    query::{GuardPlace, Scope, add_to_on, guard_place},
};
use crate::{Refusal, rules::TableRule};

/// What a write target is.
pub(super) enum Target {
    /// A scoped table, with its tenant column.
    Scoped { table: String, column: String },
    /// A global table tenants may write.
    Writable,
}

/// Whether an UPDATE may have outer joins (guarded in their ON) or none.
#[derive(Clone, Copy)]
pub(super) enum OuterJoins {
    GuardInOn,
    Refused,
}

/// A plain table of an UPDATE's or DELETE's join.
pub(super) struct Joined {
    /// The name that qualifies it here (alias, else table name), as a key.
    pub(super) key: String,
    /// Whether it may be written; a read-only global is `Err`.
    pub(super) target: Result<Target, Refusal>,
    /// Whether an outer join null-extends it (then it is only read).
    pub(super) nullable: bool,
}

impl Rewriter<'_> {
    pub(super) fn target(&mut self, name: &ObjectName) -> Result<Target, Refusal> {
        self.relations.approve(name);
        match self.registry.lookup(self.backend, name) {
            Some((table, TableRule::Scoped { column })) => Ok(Target::Scoped {
                table,
                column: column.clone(),
            }),
            Some((_, TableRule::Global { writable: true })) => Ok(Target::Writable),
            Some((table, TableRule::Global { writable: false })) => {
                Err(Refusal::GlobalTableWrite(table))
            }
            None => Err(Refusal::UnregisteredTable(name.to_string())),
        }
    }

    /// The tables of an UPDATE or DELETE: each plain table that no outer
    /// join null-extends gets a guard in WHERE. With
    /// [`OuterJoins::GuardInOn`], a null-extended scoped table gets its
    /// guard in the ON of the join that null-extends it, where that filters
    /// it exactly as filtering it first would (as a SELECT's FROM does:
    /// the right side of a LEFT JOIN, the left table of a first RIGHT
    /// JOIN); any other outer join is refused (a guard in WHERE on the
    /// nullable side would change the statement's meaning). Subqueries in
    /// the list are scoped as reads. Returns each plain table by the name
    /// that qualifies it here (alias, else table name) with whether it may
    /// be written (a read-only global is `Err`, refused only if it is a
    /// target) and whether it is null-extended.
    pub(super) fn write_targets(
        &mut self,
        items: &mut [TableWithJoins],
        scope: &Scope,
        guards: &mut Vec<Expr>,
        outer_joins: OuterJoins,
    ) -> Result<Vec<Joined>, Refusal> {
        let mut tables = Vec::new();
        for item in items.iter_mut() {
            let nullable = self.nullable_sides(item, outer_joins)?;
            // The caller's ON clauses first, so their subqueries are scoped
            // before any guard joins them.
            for join in &mut item.joins {
                self.nested(&mut join.join_operator, scope)?;
            }
            for (i, nullable) in nullable.into_iter().enumerate() {
                let place = guard_place(i, nullable, &item.joins);
                let factor = match i {
                    0 => &mut item.relation,
                    _ => &mut item.joins[i - 1].relation,
                };
                match factor {
                    TableFactor::Table {
                        name,
                        alias,
                        args: None,
                        version: None,
                        ..
                    } => {
                        let (qualifier, key) = match alias {
                            Some(a) => (
                                ObjectName(vec![ObjectNamePart::Identifier(a.name.clone())]),
                                self.table_key(&a.name),
                            ),
                            None => {
                                let key = match name.0.last() {
                                    Some(ObjectNamePart::Identifier(i)) => self.table_key(i),
                                    _ => String::new(),
                                };
                                (name.clone(), key)
                            }
                        };
                        let target = match self.target(name) {
                            Ok(target) => Ok(target),
                            Err(refusal @ Refusal::GlobalTableWrite(_)) => Err(refusal),
                            Err(refusal) => return Err(refusal),
                        };
                        if let Ok(Target::Scoped { column, .. }) = &target {
                            let guard = self.tenant_predicate(&qualifier, column);
                            match place {
                                GuardPlace::Where => guards.push(guard),
                                GuardPlace::On(j) => {
                                    add_to_on(&mut item.joins[j].join_operator, guard);
                                }
                                GuardPlace::Derived => {
                                    return Err(Refusal::Construct(format!(
                                        "`{name}` on the nullable side of an outer join in an \
                                         UPDATE, where no join's ON can guard it"
                                    )));
                                }
                            }
                        }
                        tables.push(Joined {
                            key,
                            target,
                            nullable,
                        });
                    }
                    TableFactor::Derived { subquery, .. } => self.query(subquery, scope)?,
                    _ => {
                        return Err(Refusal::Construct(
                            "this table in an UPDATE or DELETE".into(),
                        ));
                    }
                }
            }
        }
        Ok(tables)
    }

    /// Which tables of `item` (0 the first, `i` the right operand of join
    /// `i - 1`) an outer join null-extends; refuses the joins a write can't
    /// have.
    fn nullable_sides(
        &self,
        item: &TableWithJoins,
        outer_joins: OuterJoins,
    ) -> Result<Vec<bool>, Refusal> {
        use JoinOperator as J;
        let mut nullable = vec![false; item.joins.len() + 1];
        for (k, join) in item.joins.iter().enumerate() {
            let i = k + 1;
            match (&join.join_operator, outer_joins) {
                (J::Join(_) | J::Inner(_) | J::CrossJoin(_) | J::StraightJoin(_), _) => {}
                (
                    J::Left(JoinConstraint::On(_)) | J::LeftOuter(JoinConstraint::On(_)),
                    OuterJoins::GuardInOn,
                ) => {
                    nullable[i] = true;
                }
                (
                    J::Right(JoinConstraint::On(_)) | J::RightOuter(JoinConstraint::On(_)),
                    OuterJoins::GuardInOn,
                ) => {
                    nullable[..i].iter_mut().for_each(|n| *n = true);
                }
                (
                    J::Left(_) | J::LeftOuter(_) | J::Right(_) | J::RightOuter(_),
                    OuterJoins::GuardInOn,
                ) => {
                    return Err(Refusal::Construct(
                        "an outer join with NATURAL or USING in a multi-table UPDATE (the \
                         nullable side's guard needs an ON)"
                            .into(),
                    ));
                }
                (_, OuterJoins::GuardInOn) => {
                    return Err(Refusal::Construct(
                        "this join operator in a multi-table UPDATE".into(),
                    ));
                }
                (_, OuterJoins::Refused) => {
                    return Err(Refusal::Construct(
                        "an outer join in a multi-table DELETE".into(),
                    ));
                }
            }
        }
        Ok(nullable)
    }
}
