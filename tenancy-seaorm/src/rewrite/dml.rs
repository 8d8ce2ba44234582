//! Writes.
//!
//! - INSERT: the tenant column is added with the tenant's value; a value the
//!   caller gives for it must be a placeholder or literal equal to the tenant
//!   (checked each time the statement runs); `INSERT ... SELECT` has its
//!   SELECT scoped.
//! - UPDATE and DELETE: every target gets `AND target.col = <tenant>` after
//!   the caller's whole condition (in parentheses, so an `OR` can't widen it);
//!   the tenant column can only be "set" to the tenant itself. MySQL's
//!   multi-table `UPDATE a LEFT JOIN b ON ... SET a.x = ...` is scoped like
//!   a SELECT's FROM: `a`'s guard in WHERE, `b`'s in the join's ON (which
//!   filters `b` exactly as filtering it first would); the nullable side is
//!   never written.
//! - Upserts: `ON CONFLICT DO UPDATE` gets `WHERE table.col = <tenant>`, so a
//!   conflict with another tenant's row changes nothing; MySQL's `ON
//!   DUPLICATE KEY UPDATE` has no WHERE, so each assignment becomes
//!   `c = IF(table.col = <tenant>, new, c)`. `REPLACE` and `INSERT OR
//!   REPLACE` delete the conflicting row, whoever owns it, and are refused.

use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, Insert, ObjectName, ObjectNamePart,
    OnConflictAction, OnInsert, Query, SelectItem, SetExpr, SqliteOnConflict, TableFactor,
    TableObject, Update, UpdateTableFromKind,
};

use super::{
    Rewriter, guarded,
    query::Scope,
    targets::{OuterJoins, Target},
};
use crate::{Refusal, flavor::Flavor};

impl Rewriter<'_> {
    pub(super) fn insert(&mut self, insert: &mut Insert, outer: &Scope) -> Result<(), Refusal> {
        if insert.replace_into || matches!(insert.or, Some(SqliteOnConflict::Replace)) {
            return Err(Refusal::Construct(
                "REPLACE / INSERT OR REPLACE (it deletes the conflicting row, whoever owns it)"
                    .into(),
            ));
        }
        if !insert.assignments.is_empty() && insert.columns.is_empty() && insert.source.is_none() {
            // MySQL's `INSERT INTO t SET a = 1, b = 2` is
            // `INSERT INTO t (a, b) VALUES (1, 2)`: rewritten to that, it
            // takes the same checks (and stamp) as any VALUES insert.
            self.set_as_values(insert)?;
        }
        if insert.insert_alias.is_some() {
            return Err(Refusal::Construct(
                "MySQL's row alias `INSERT ... VALUES (...) AS new` (MySQL 8.0.19+ only: \
                 MariaDB, on which the MySQL backend is tested, has no such syntax; \
                 use VALUES(col) in ON DUPLICATE KEY UPDATE)"
                    .into(),
            ));
        }
        if insert.overwrite
            || insert.partitioned.is_some()
            || insert.by_name
            || !insert.assignments.is_empty()
            || insert.insert_alias.is_some()
            || insert.output.is_some()
            || insert.settings.is_some()
            || insert.format_clause.is_some()
            || insert.multi_table_insert_type.is_some()
            || !insert.multi_table_into_clauses.is_empty()
            || !insert.multi_table_when_clauses.is_empty()
            || insert.multi_table_else_clause.is_some()
        {
            return Err(Refusal::Construct("this form of INSERT".into()));
        }
        let TableObject::TableName(name) = &insert.table else {
            return Err(Refusal::Construct("INSERT into a table function".into()));
        };
        let name = name.clone();
        let scope = outer.clone();
        let target = self.target(&name)?;
        if let Some(alias) = &insert.table_alias
            && self.registry.shadows_table(&self.table_key(&alias.alias))
            && !self
                .table_key(&alias.alias)
                .eq_ignore_ascii_case(&self.last_key(&name))
        {
            return Err(Refusal::AmbiguousName(alias.alias.value.clone()));
        }
        let qualifiers = vec![match &insert.table_alias {
            Some(alias) => self.table_key(&alias.alias),
            None => self.last_key(&name),
        }];

        // The existing row in an upsert is named by the alias, else the table.
        let existing = match &insert.table_alias {
            Some(alias) => ObjectName(vec![ObjectNamePart::Identifier(alias.alias.clone())]),
            None => name.clone(),
        };

        match &target {
            Target::Writable => {
                if let Some(source) = &mut insert.source {
                    self.query(source, &scope)?;
                }
            }
            Target::Scoped { table, column } => {
                if insert.columns.is_empty()
                    && let Some(source) = insert.source.as_deref_mut()
                {
                    insert.columns = self.implicit_columns(table, source)?;
                }
                let position = insert
                    .columns
                    .iter()
                    .position(|c| self.is_column(c, column));
                match (&mut insert.source, position) {
                    // INSERT ... DEFAULT VALUES
                    (None, _) if insert.columns.is_empty() => {
                        insert
                            .columns
                            .push(ObjectName(vec![ObjectNamePart::Identifier(
                                self.ident(column),
                            )]));
                        insert.source = Some(Box::new(self.values_row(vec![self.tenant_value()])?));
                    }
                    (None, _) => return Err(Refusal::Construct("INSERT without values".into())),
                    (Some(source), Some(i)) => {
                        let rows = plain_values(source).ok_or_else(|| Refusal::TenantColumn {
                            table: table.clone(),
                            column: column.clone(),
                        })?;
                        for row in rows.iter() {
                            let value = row.content.get(i).ok_or_else(|| {
                                Refusal::Construct("a VALUES row of the wrong length".into())
                            })?;
                            self.check_tenant_value(table, column, value)?;
                        }
                        self.query(source, &scope)?;
                    }
                    (Some(source), None) => {
                        insert
                            .columns
                            .push(ObjectName(vec![ObjectNamePart::Identifier(
                                self.ident(column),
                            )]));
                        let tenant = self.tenant_value();
                        match plain_values(source) {
                            Some(rows) => {
                                for row in rows.iter_mut() {
                                    row.content.push(tenant.clone());
                                }
                                self.query(source, &scope)?;
                            }
                            None => {
                                self.query(source, &scope)?;
                                self.append_tenant_column(source)?;
                            }
                        }
                    }
                }
            }
        }

        match &mut insert.on {
            None => {}
            Some(OnInsert::OnConflict(conflict)) => match &mut conflict.action {
                OnConflictAction::DoNothing => {}
                OnConflictAction::DoUpdate(update) => {
                    self.assignments(
                        &mut update.assignments,
                        std::slice::from_ref(&target),
                        &qualifiers,
                        &[],
                        &scope,
                    )?;
                    if let Target::Scoped { column, .. } = &target {
                        if let Some(selection) = &mut update.selection {
                            self.nested(selection, &scope)?;
                        }
                        let guard = self.tenant_predicate(&existing, column);
                        update.selection = guarded(update.selection.take(), vec![guard]);
                    }
                }
            },
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                self.assignments(
                    assignments,
                    std::slice::from_ref(&target),
                    &qualifiers,
                    &[],
                    &scope,
                )?;
                if let Target::Scoped { column, .. } = &target {
                    for assignment in assignments.iter_mut() {
                        let AssignmentTarget::ColumnName(col) = &assignment.target else {
                            return Err(Refusal::Construct(
                                "a tuple assignment in an upsert".into(),
                            ));
                        };
                        let mut current = existing.0.clone();
                        current.extend(col.0.last().cloned());
                        let keep = Expr::CompoundIdentifier(
                            current
                                .into_iter()
                                .filter_map(|p| match p {
                                    ObjectNamePart::Identifier(i) => Some(i),
                                    ObjectNamePart::Function(_) => None,
                                })
                                .collect(),
                        );
                        let new = std::mem::replace(
                            &mut assignment.value,
                            Expr::Value(sqlparser::ast::Value::Null.with_empty_span()),
                        );
                        assignment.value =
                            if_expr(self.tenant_predicate(&existing, column), new, keep);
                    }
                }
            }
            Some(_) => return Err(Refusal::Construct("this ON clause".into())),
        }

        if let Some(returning) = &mut insert.returning {
            self.nested(returning, &scope)?;
        }
        Ok(())
    }

    pub(super) fn update(&mut self, update: &mut Update, outer: &Scope) -> Result<(), Refusal> {
        if matches!(update.or, Some(SqliteOnConflict::Replace)) {
            return Err(Refusal::Construct(
                "UPDATE OR REPLACE (it deletes the conflicting row, whoever owns it)".into(),
            ));
        }
        if update.output.is_some() || update.settings.is_some() || update.on_cluster.is_some() {
            return Err(Refusal::Construct("this form of UPDATE".into()));
        }
        let scope = outer.clone();
        let mut guards = Vec::new();
        // Every table in UPDATE's own list that no outer join null-extends
        // may be written (MySQL updates several at once), so each must be
        // one tenants may write. A null-extended table is only read.
        let mut qualifiers = Vec::new();
        let mut targets = Vec::new();
        let mut read_only = Vec::new();
        for joined in self.write_targets(
            std::slice::from_mut(&mut update.table),
            &scope,
            &mut guards,
            OuterJoins::GuardInOn,
        )? {
            if joined.nullable {
                read_only.push(joined.key);
            } else {
                qualifiers.push(joined.key);
                targets.push(joined.target?);
            }
        }
        self.assignments(
            &mut update.assignments,
            &targets,
            &qualifiers,
            &read_only,
            &scope,
        )?;
        match &mut update.from {
            Some(UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from)) => {
                for item in from.iter_mut() {
                    self.table_with_joins(item, &scope)?;
                }
            }
            None => {}
        }
        if let Some(selection) = &mut update.selection {
            self.nested(selection, &scope)?;
        }
        update.selection = guarded(update.selection.take(), guards);
        if let Some(returning) = &mut update.returning {
            self.nested(returning, &scope)?;
        }
        self.nested(&mut update.order_by, &scope)?;
        if let Some(limit) = &mut update.limit {
            self.nested(limit, &scope)?;
        }
        Ok(())
    }

    pub(super) fn delete(&mut self, delete: &mut Delete, outer: &Scope) -> Result<(), Refusal> {
        if delete.output.is_some() || delete.settings.is_some() || delete.on_cluster.is_some() {
            return Err(Refusal::Construct("this form of DELETE".into()));
        }
        let scope = outer.clone();
        let mut guards = Vec::new();
        // Which rows go: PostgreSQL `DELETE FROM t USING u` deletes from the
        // FROM list and reads USING; MySQL `DELETE FROM a USING a JOIN b` and
        // `DELETE a FROM a JOIN b` name their targets, which resolve to table
        // references in the join. Every plain table in the join gets the
        // tenant guard either way; a target must be a table tenants may write.
        let mysql_using = self.backend == Flavor::MySql && delete.using.is_some();
        let mut names: Vec<ObjectName> = delete.tables.clone();
        let from = match &mut delete.from {
            FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
        };
        let mut joined = Vec::new();
        if mysql_using {
            for item in from.iter() {
                match (&item.relation, item.joins.is_empty()) {
                    (
                        TableFactor::Table {
                            name,
                            alias: None,
                            args: None,
                            ..
                        },
                        true,
                    ) => {
                        names.push(name.clone());
                    }
                    _ => return Err(Refusal::Construct("this DELETE target list".into())),
                }
            }
        } else {
            joined = self.write_targets(from, &scope, &mut guards, OuterJoins::Refused)?;
            if names.is_empty() {
                // The FROM list itself is the target list.
                for table in joined.drain(..) {
                    table.target?;
                }
            }
        }
        if let Some(using) = &mut delete.using {
            let read = self.write_targets(using, &scope, &mut guards, OuterJoins::Refused)?;
            if mysql_using {
                joined = read;
            }
        }
        for name in &names {
            let key = match name.0.as_slice() {
                [ObjectNamePart::Identifier(ident)] => self.table_key(ident),
                _ => return Err(Refusal::Construct("a qualified DELETE target".into())),
            };
            match joined
                .iter()
                .find(|table| table.key == key)
                .map(|t| &t.target)
            {
                Some(Ok(_)) => self.relations.approve(name),
                Some(Err(refusal)) => return Err(refusal.clone()),
                None => {
                    return Err(Refusal::Construct(format!(
                        "DELETE target `{name}`, which is not in its join"
                    )));
                }
            }
        }
        if let Some(selection) = &mut delete.selection {
            self.nested(selection, &scope)?;
        }
        delete.selection = guarded(delete.selection.take(), guards);
        if let Some(returning) = &mut delete.returning {
            self.nested(returning, &scope)?;
        }
        self.nested(&mut delete.order_by, &scope)?;
        if let Some(limit) = &mut delete.limit {
            self.nested(limit, &scope)?;
        }
        Ok(())
    }

    /// Scopes the values of SET assignments and checks any that set the
    /// tenant column. A qualified assignment must name one of the guarded
    /// targets (`qualifiers`: each target's alias, else its table name):
    /// `SET other.col = ...` would write a table that got no guard. The
    /// `read_only` tables (null-extended by an outer join) are never
    /// written: an assignment to one is refused, and so is an unqualified
    /// one beside them, which could name one of their columns.
    fn assignments(
        &mut self,
        assignments: &mut [Assignment],
        targets: &[Target],
        qualifiers: &[String],
        read_only: &[String],
        scope: &Scope,
    ) -> Result<(), Refusal> {
        for assignment in assignments.iter_mut() {
            let names = match &assignment.target {
                AssignmentTarget::ColumnName(name) => std::slice::from_ref(name),
                AssignmentTarget::Tuple(names) => names.as_slice(),
            };
            for name in names {
                match name.0.as_slice() {
                    [_column] if !read_only.is_empty() => {
                        return Err(Refusal::Construct(format!(
                            "the unqualified assignment to `{name}` in an UPDATE with an outer \
                             join (it could write the nullable side; qualify it with the \
                             target's name)"
                        )));
                    }
                    [_column] => {}
                    [ObjectNamePart::Identifier(qualifier), _column]
                        if read_only.contains(&self.table_key(qualifier)) =>
                    {
                        return Err(Refusal::Construct(format!(
                            "an assignment to `{name}`, on the nullable side of an outer join \
                             (a null-extended table is only read)"
                        )));
                    }
                    [ObjectNamePart::Identifier(qualifier), _column] => {
                        let key = self.table_key(qualifier);
                        if !qualifiers.contains(&key) {
                            return Err(Refusal::Construct(format!(
                                "an assignment to `{name}`, which is not a guarded target"
                            )));
                        }
                    }
                    _ => {
                        return Err(Refusal::Construct(format!(
                            "the assignment target `{name}`"
                        )));
                    }
                }
            }
            self.nested(&mut assignment.value, scope)?;
            // With several targets (MySQL multi-table UPDATE) an assignment
            // that could set any target's tenant column is checked.
            for target in targets {
                let Target::Scoped { table, column } = target else {
                    continue;
                };
                match &assignment.target {
                    // `SET entity_id = entity_id` leaves every row where it
                    // is (the rows are the tenant's already); only with one
                    // target, where the name can mean nothing else.
                    AssignmentTarget::ColumnName(name)
                        if self.is_column(name, column)
                            && targets.len() == 1
                            && self.is_own_column(&assignment.value, column, qualifiers) => {}
                    AssignmentTarget::ColumnName(name) if self.is_column(name, column) => {
                        self.check_tenant_value(table, column, &assignment.value)?;
                    }
                    AssignmentTarget::ColumnName(_) => {}
                    AssignmentTarget::Tuple(names) => {
                        if names.iter().any(|n| self.is_column(n, column)) {
                            return Err(Refusal::TenantColumn {
                                table: table.clone(),
                                column: column.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The key of a table name's last part.
    fn last_key(&self, name: &ObjectName) -> String {
        match name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => self.table_key(i),
            _ => String::new(),
        }
    }

    /// Whether a (possibly qualified) column name is `column`.
    fn is_column(&self, name: &ObjectName, column: &str) -> bool {
        match name.0.last() {
            Some(ObjectNamePart::Identifier(ident)) => match (self.backend, ident.quote_style) {
                // PostgreSQL keeps quoted names' case; column names are
                // case-insensitive on MySQL and SQLite.
                (Flavor::Postgres, Some(_)) => crate::rules::unquoted_value(ident) == column,
                _ => crate::rules::unquoted_value(ident).eq_ignore_ascii_case(column),
            },
            _ => false,
        }
    }

    /// `SET a = x, b = y` as the column list `(a, b)` and one VALUES row.
    fn set_as_values(&self, insert: &mut Insert) -> Result<(), Refusal> {
        let mut columns = Vec::with_capacity(insert.assignments.len());
        let mut row = Vec::with_capacity(insert.assignments.len());
        for assignment in std::mem::take(&mut insert.assignments) {
            match assignment.target {
                AssignmentTarget::ColumnName(name) if name.0.len() == 1 => columns.push(name),
                other => {
                    return Err(Refusal::Construct(format!(
                        "INSERT ... SET with the target `{other}`"
                    )));
                }
            }
            row.push(assignment.value);
        }
        insert.columns = columns;
        insert.source = Some(Box::new(self.values_row(row)?));
        Ok(())
    }

    /// Whether `value` is the tenant column `column` of the row being
    /// updated: unqualified, or qualified by the target's name or alias.
    fn is_own_column(&self, value: &Expr, column: &str, qualifiers: &[String]) -> bool {
        let as_name = |ident: &Ident| ObjectName(vec![ObjectNamePart::Identifier(ident.clone())]);
        match value {
            Expr::Identifier(ident) => self.is_column(&as_name(ident), column),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qualifier, ident] => {
                    qualifiers.contains(&self.table_key(qualifier))
                        && self.is_column(&as_name(ident), column)
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// The column list an `INSERT ... VALUES` without one fills: the first
    /// columns of `table` in the database's order, as many as each row
    /// has values (all of them on MySQL and SQLite, which take nothing
    /// less; PostgreSQL fills the rest with defaults). Named explicitly in
    /// the statement that runs, so the tenant column's position is the one
    /// that was checked, whatever the server's order.
    fn implicit_columns(
        &self,
        table: &str,
        source: &mut Query,
    ) -> Result<Vec<ObjectName>, Refusal> {
        let unknown = || {
            Refusal::Construct(format!(
                "INSERT into `{table}` without a column list (its column order is not known: \
                 declare it with `TableRegistryBuilder::columns` or read it with \
                 `TableRegistry::with_columns_from`)"
            ))
        };
        let order = self.registry.column_order(table).ok_or_else(unknown)?;
        let rows = plain_values(source)
            .ok_or_else(|| Refusal::Construct("INSERT ... SELECT without a column list".into()))?;
        let width = rows.first().map_or(0, |row| row.content.len());
        let fits = match self.backend {
            Flavor::Postgres => (1..=order.len()).contains(&width),
            Flavor::MySql | Flavor::Sqlite => width == order.len(),
        };
        if !fits || rows.iter().any(|row| row.content.len() != width) {
            return Err(Refusal::Construct(format!(
                "INSERT into `{table}` without a column list whose rows don't have one value \
                 per column ({} columns)",
                order.len()
            )));
        }
        Ok(order[..width]
            .iter()
            .map(|column| ObjectName(vec![ObjectNamePart::Identifier(self.ident(column))]))
            .collect())
    }

    fn values_row(&self, row: Vec<Expr>) -> Result<Query, Refusal> {
        let dialect = self.backend.dialect();
        let mut query = sqlparser::parser::Parser::new(dialect)
            .try_with_sql("VALUES (1)")
            .and_then(|mut p| p.parse_query())
            .map_err(|e| Refusal::Unparseable(e.to_string()))?;
        if let SetExpr::Values(values) = &mut *query.body {
            values.rows = vec![sqlparser::ast::Parens::with_empty_span(row)];
        }
        Ok(*query)
    }

    /// `INSERT ... SELECT` without the tenant column: the SELECT gets the
    /// tenant as one more output column. A plain SELECT takes it in its list;
    /// a UNION and the like is wrapped as `SELECT s.*, <tenant> FROM (...) s`.
    fn append_tenant_column(&self, source: &mut Query) -> Result<(), Refusal> {
        let item = SelectItem::UnnamedExpr(self.tenant_value());
        if let SetExpr::Select(select) = &mut *source.body {
            select.projection.push(item);
            return Ok(());
        }
        let dialect = self.backend.dialect();
        let alias = self.ident("tenancy_source");
        let sql = format!("SELECT {alias}.* FROM (SELECT 1) AS {alias}");
        let mut wrapper = sqlparser::parser::Parser::new(dialect)
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| Refusal::Unparseable(e.to_string()))?;
        let SetExpr::Select(select) = &mut *wrapper.body else {
            return Err(Refusal::Construct("INSERT ... SELECT wrapper".into()));
        };
        select.projection.push(item);
        let original = std::mem::replace(source, *wrapper);
        let SetExpr::Select(select) = &mut *source.body else {
            return Err(Refusal::Construct("INSERT ... SELECT wrapper".into()));
        };
        match select.from.first_mut().map(|f| &mut f.relation) {
            Some(TableFactor::Derived { subquery, .. }) => {
                **subquery = original;
                Ok(())
            }
            // Never leave the placeholder `(SELECT 1)` in place.
            _ => Err(Refusal::Construct("INSERT ... SELECT wrapper".into())),
        }
    }
}

/// The rows of `VALUES (...), (...)` when that is all the source is.
fn plain_values(source: &mut Query) -> Option<&mut Vec<sqlparser::ast::Parens<Vec<Expr>>>> {
    if source.with.is_some() || source.order_by.is_some() || source.limit_clause.is_some() {
        return None;
    }
    match &mut *source.body {
        SetExpr::Values(values) => Some(&mut values.rows),
        _ => None,
    }
}

/// `IF(cond, then, otherwise)` (MySQL).
fn if_expr(cond: Expr, then: Expr, otherwise: Expr) -> Expr {
    let arg = |e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e));
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("IF"))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![arg(cond), arg(then), arg(otherwise)],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}
