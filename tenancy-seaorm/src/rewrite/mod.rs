//! The rewrite: one SQL string in, one tenant-scoped SQL string out, or a
//! [`Refusal`].
//!
//! The statement is parsed with the backend's dialect, rewritten as a tree and
//! rendered back from the tree, so the database runs exactly what was
//! checked: comments, MySQL `/*! ... */` "executable comments" and anything
//! else the parser skipped are gone. Two more guards make the rendering safe:
//! literals are kept as written (no unescaping, so a backslash means to the
//! database what it meant in the input), and the output is parsed again and
//! must give the same tree, or the statement is refused.
//!
//! Placeholders: the caller's values keep their positions and the tenant is
//! one more parameter. PostgreSQL and SQLite have numbered placeholders, so
//! the tenant is simply `$n+1` / `?n+1`; MySQL only has `?`, so the plan
//! records which value fills each `?` of the output.

mod canonical;
mod dml;
mod functions;
mod lexical;
mod lint;
mod query;
mod share_mode;
mod targets;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_forms;
#[cfg(test)]
mod tests_joins;

use std::sync::Arc;

use sqlparser::{
    ast::{
        Expr, Ident, ObjectName, ObjectNamePart, SetExpr, Statement, Value, ValueWithSpan,
        VisitMut, VisitorMut,
    },
    dialect::Dialect,
    parser::{Parser, ParserOptions},
    tokenizer::{Span, Token, TokenWithSpan, Tokenizer},
};

use crate::{
    Refusal,
    flavor::Flavor,
    key::Literal,
    plan::{Params, Plan, StatementKind, TenantCheck},
    rules::Rules,
};

/// Rewrites `sql` for `backend`. The result does not depend on the tenant.
pub(crate) fn plan(rules: &Rules, backend: Flavor, sql: &str) -> Result<Plan, Refusal> {
    let dialect = backend.dialect();
    let (mut statement, placeholders) = parse(rules, backend, sql)?;
    let scoped = scope(rules, backend, &mut statement, placeholders)?;

    let numbered = share_mode::render(backend, &statement)?;
    let (sql, params) = match backend {
        Flavor::MySql => positional(dialect, &numbered, placeholders)?,
        // Decided after the round trip, from its tokens.
        Flavor::Postgres | Flavor::Sqlite => (numbered, Params::AsGiven),
    };
    let tenant_bound = round_trip(
        rules,
        backend,
        &sql,
        &params,
        placeholders,
        &statement,
        Some(&scoped.tenant),
    )?;
    // Bind the tenant only when the SQL uses it (an insert that names its
    // own tenant, or a read of global tables only, does not). An extra
    // value would make PostgreSQL prepare this text with one more parameter
    // than it has, and the driver caches statements by text, so the same
    // SQL sent on the plain connection would then fail. The output parsed
    // back to the checked tree, so its tokens say what the tree holds.
    let params = match params {
        Params::AsGiven if tenant_bound => Params::AppendTenant,
        other => other,
    };

    Ok(Plan {
        sql,
        params,
        expected_values: placeholders,
        checks: scoped.checks,
        checked_column: scoped.checked_column,
        kind: scoped.kind,
    })
}

/// Checks `sql` by exactly the rules of [`plan`] (registered tables only,
/// the function allowlist, one statement, the lexical screens) and, if it
/// is a plain query, returns it unscoped, rendered from the tree that was
/// checked, for a cross-tenant read. Parses once: the walk runs on a copy.
///
/// Comments never reach the database (MySQL runs `/*! ... */`), and
/// neither does a locking clause or anything but a query.
pub(crate) fn read(rules: &Rules, backend: Flavor, sql: &str) -> Result<Plan, Refusal> {
    let dialect = backend.dialect();
    let (statement, placeholders) = parse(rules, backend, sql)?;
    // The walk decides what is allowed; what runs is the unscoped original.
    let kind = scope(rules, backend, &mut statement.clone(), placeholders)?.kind;
    let mut query = match statement {
        Statement::Query(query) if kind == StatementKind::Select && query.locks.is_empty() => query,
        Statement::Query(_) if kind == StatementKind::Select => {
            return Err(Refusal::ReadOnly("SELECT ... FOR UPDATE".into()));
        }
        other => return Err(Refusal::ReadOnly(statement_name(&other))),
    };
    canonical::quote_names(backend, &mut query);
    let numbered = query.to_string();
    let (sql, params) = match backend {
        // Plain `?` again; the slots say which value fills each.
        Flavor::MySql | Flavor::Sqlite => positional(dialect, &numbered, placeholders)?,
        Flavor::Postgres => (numbered, Params::AsGiven),
    };
    let checked = Statement::Query(query);
    round_trip(rules, backend, &sql, &params, placeholders, &checked, None)?;
    Ok(Plan {
        sql,
        params,
        expected_values: placeholders,
        checks: Vec::new(),
        checked_column: None,
        kind,
    })
}

/// Bounds, screens and parses `sql` into exactly one statement, with the
/// caller's placeholders numbered; returns it and how many values the
/// caller must bind.
fn parse(rules: &Rules, backend: Flavor, sql: &str) -> Result<(Statement, usize), Refusal> {
    let dialect = backend.dialect();
    lexical::bounds(rules.limits, sql)?;
    let (mut tokens, placeholders) = tokenize(dialect, backend, sql)?;
    lexical::depth(rules.limits, &tokens)?;
    lexical::screen(backend, &tokens)?;
    let shared = share_mode::strip(backend, &mut tokens);
    let mut statements = Parser::new(dialect)
        .with_options(parser_options())
        .with_recursion_limit(parser_recursion_limit(rules))
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| Refusal::Unparseable(e.to_string()))?;
    let mut statement = match statements.len() {
        0 => return Err(Refusal::Empty),
        1 => statements.remove(0),
        n => return Err(Refusal::MultipleStatements(n)),
    };
    if shared {
        share_mode::apply(&mut statement)?;
    }
    check_placeholders(backend, &mut statement, placeholders)?;
    Ok((statement, placeholders))
}

/// What the walk found, beside the statement it rewrote in place.
struct Scoped {
    kind: StatementKind,
    /// The tenant's placeholder text, e.g. `$3`.
    tenant: String,
    checks: Vec<TenantCheck>,
    checked_column: Option<(String, String)>,
}

/// Lints `statement`, scopes it to the tenant placeholder in place and
/// quotes its names canonically: the tree that will be rendered.
fn scope(
    rules: &Rules,
    backend: Flavor,
    statement: &mut Statement,
    placeholders: usize,
) -> Result<Scoped, Refusal> {
    let relations = lint::lint(rules, backend, statement)?;
    let mut rewriter = Rewriter {
        registry: rules,
        backend,
        tenant: placeholder(backend, placeholders + 1),
        checks: Vec::new(),
        checked_column: None,
        relations,
    };
    let kind = rewriter.statement(statement)?;
    rewriter.relations.all_approved()?;
    canonical::quote_names(backend, statement);
    Ok(Scoped {
        kind,
        tenant: rewriter.tenant,
        checks: rewriter.checks,
        checked_column: rewriter.checked_column,
    })
}

/// The parser's own recursion guard, above the depth the token estimate
/// allows (it counts differently), so the estimate is what refuses.
fn parser_recursion_limit(rules: &Rules) -> usize {
    rules.limits.max_depth.saturating_mul(2).saturating_add(50)
}

fn parser_options() -> ParserOptions {
    ParserOptions {
        trailing_commas: false,
        // Keep literals exactly as written; see the module docs.
        unescape: false,
        require_semicolon_stmt_delimiter: true,
    }
}

/// Tokenizes and numbers the caller's placeholders: `$n` is kept on
/// PostgreSQL; on SQLite and MySQL each `?` becomes `?k` in order, so the
/// rewritten tree can say which value goes where. Returns the tokens and the
/// number of values the caller must bind.
fn tokenize(
    dialect: &dyn Dialect,
    backend: Flavor,
    sql: &str,
) -> Result<(Vec<TokenWithSpan>, usize), Refusal> {
    let mut count = 0_usize;
    let mut bad: Option<String> = None;
    let mut tokens = token_buffer(sql);
    Tokenizer::new(dialect, sql)
        .with_unescape(false)
        .tokenize_with_location_into_buf_with_mapper(&mut tokens, |mut tok| {
            if let Token::Placeholder(p) = &tok.token {
                match backend {
                    Flavor::Postgres => match p.strip_prefix('$').map(str::parse::<usize>) {
                        Some(Ok(k)) if k > 0 => count = count.max(k),
                        _ => bad = Some(p.clone()),
                    },
                    Flavor::MySql | Flavor::Sqlite => {
                        if p == "?" {
                            count += 1;
                            tok.token = Token::Placeholder(format!("?{count}"));
                        } else {
                            bad = Some(p.clone());
                        }
                    }
                }
            }
            tok
        })
        .map_err(|e| Refusal::Unparseable(e.to_string()))?;
    match bad {
        Some(p) => Err(Refusal::Placeholder(p)),
        None => Ok((tokens, count)),
    }
}

/// Every placeholder in the tree must be one we numbered: some forms (`:id`,
/// `@id`) only become placeholders in the parser, after tokenizing.
fn check_placeholders(backend: Flavor, statement: &mut Statement, n: usize) -> Result<(), Refusal> {
    struct Check {
        prefix: char,
        n: usize,
        bad: Option<String>,
    }
    impl VisitorMut for Check {
        type Break = ();
        fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> std::ops::ControlFlow<()> {
            if let Value::Placeholder(p) = &value.value {
                let ok = p
                    .strip_prefix(self.prefix)
                    .and_then(|k| k.parse::<usize>().ok())
                    .is_some_and(|k| (1..=self.n).contains(&k));
                if !ok {
                    self.bad = Some(p.clone());
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let prefix = match backend {
        Flavor::Postgres => '$',
        Flavor::MySql | Flavor::Sqlite => '?',
    };
    let mut check = Check {
        prefix,
        n,
        bad: None,
    };
    let _ = statement.visit(&mut check);
    match check.bad {
        Some(p) => Err(Refusal::Placeholder(p)),
        None => Ok(()),
    }
}

/// The text of placeholder number `k` (1-based) before MySQL's are made
/// positional.
fn placeholder(backend: Flavor, k: usize) -> String {
    match backend {
        Flavor::Postgres => format!("${k}"),
        Flavor::MySql | Flavor::Sqlite => format!("?{k}"),
    }
}

/// Turns MySQL's numbered `?k` back into plain `?` and records, slot by slot,
/// which value fills it (`k <= n` is the caller's value `k-1`, `n+1` the
/// tenant).
fn positional(
    dialect: &dyn Dialect,
    numbered: &str,
    n: usize,
) -> Result<(String, Params), Refusal> {
    let tokens = Tokenizer::new(dialect, numbered)
        .with_unescape(false)
        .tokenize()
        .map_err(|e| Refusal::Unparseable(e.to_string()))?;
    let mut slots = Vec::new();
    let mut sql = String::with_capacity(numbered.len());
    for token in tokens {
        match token {
            Token::Placeholder(p) => {
                let k: usize = p
                    .strip_prefix('?')
                    .and_then(|k| k.parse().ok())
                    .ok_or_else(|| Refusal::Placeholder(p.clone()))?;
                slots.push(if k == n + 1 { None } else { Some(k - 1) });
                sql.push('?');
            }
            other => sql.push_str(&other.to_string()),
        }
    }
    Ok((sql, Params::Positional(slots)))
}

/// Parses the output again and insists on the same tree: the database must
/// read what we checked, never something the renderer got wrong. Returns
/// whether the text holds `tenant`'s placeholder.
fn round_trip(
    rules: &Rules,
    backend: Flavor,
    sql: &str,
    params: &Params,
    n: usize,
    expected: &Statement,
    tenant: Option<&str>,
) -> Result<bool, Refusal> {
    let dialect = backend.dialect();
    let broken = || Refusal::Construct("a statement that does not survive re-rendering".into());
    let mut tokens = match params {
        // Plain `?` in the output: number them again, then map below.
        Params::Positional(_) => tokenize(dialect, backend, sql).map_err(|_| broken())?.0,
        Params::AppendTenant | Params::AsGiven => {
            let mut tokens = token_buffer(sql);
            Tokenizer::new(dialect, sql)
                .with_unescape(false)
                .tokenize_with_location_into_buf(&mut tokens)
                .map_err(|_| broken())?;
            tokens
        }
    };
    lexical::check_output(backend, &tokens, &rules.allowed_functions)?;
    // Whether the tenant's placeholder is in the text, asked before the
    // parser takes the tokens; once the text parses back to the checked
    // tree, that is whether the tree binds the tenant.
    let tenant_bound = tenant.is_some_and(|tenant| {
        tokens
            .iter()
            .any(|t| matches!(&t.token, Token::Placeholder(p) if p == tenant))
    });
    let shared = share_mode::strip(backend, &mut tokens);
    let mut again = Parser::new(dialect)
        .with_options(parser_options())
        .with_recursion_limit(parser_recursion_limit(rules))
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|_| broken())?;
    if let Params::Positional(slots) = params {
        // Sequential `?1..?m` back to the numbering of the checked tree.
        let mut renumber = Renumber {
            slots,
            n,
            bad: false,
        };
        let _ = again.visit(&mut renumber);
        if renumber.bad {
            return Err(broken());
        }
    }
    if shared {
        match again.as_mut_slice() {
            [one] => share_mode::apply(one).map_err(|_| broken())?,
            _ => return Err(broken()),
        }
    }
    if again.len() == 1 && &again[0] == expected {
        Ok(tenant_bound)
    } else {
        Err(broken())
    }
}

/// An empty token buffer sized for `sql`, so tokenizing doesn't grow it
/// again and again (a quarter of a cache miss was spent there).
fn token_buffer(sql: &str) -> Vec<TokenWithSpan> {
    Vec::with_capacity(sql.len() / 3 + 8)
}

struct Renumber<'a> {
    slots: &'a [Option<usize>],
    n: usize,
    bad: bool,
}

impl VisitorMut for Renumber<'_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> std::ops::ControlFlow<()> {
        if let Value::Placeholder(p) = &mut value.value {
            let slot = p
                .strip_prefix('?')
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| self.slots.get(i));
            match slot {
                Some(Some(k)) => *p = format!("?{}", k + 1),
                Some(None) => *p = format!("?{}", self.n + 1),
                None => self.bad = true,
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Walks one statement and rewrites it in place.
pub(crate) struct Rewriter<'a> {
    registry: &'a Rules,
    backend: Flavor,
    /// The tenant's placeholder text, e.g. `$3`.
    tenant: String,
    checks: Vec<TenantCheck>,
    checked_column: Option<(String, String)>,
    /// The input's relations, each to be approved by the walk.
    relations: lint::Relations,
}

impl Rewriter<'_> {
    fn statement(&mut self, statement: &mut Statement) -> Result<StatementKind, Refusal> {
        match statement {
            Statement::Query(query) if is_dml(&query.body) => self.dml_with(query),
            Statement::Query(query) => {
                self.query(query, &query::Scope::default())?;
                Ok(StatementKind::Select)
            }
            Statement::Insert(insert) => self
                .insert(insert, &query::Scope::default())
                .map(|()| StatementKind::Insert),
            Statement::Update(update) => self
                .update(update, &query::Scope::default())
                .map(|()| StatementKind::Update),
            Statement::Delete(delete) => self
                .delete(delete, &query::Scope::default())
                .map(|()| StatementKind::Delete),
            // Its WHEN NOT MATCHED clauses act on the rows its ON does not
            // match, so no guard in the ON bounds what it touches.
            Statement::Merge(_) => Err(Refusal::Construct(
                "MERGE (its WHEN NOT MATCHED clauses act on rows its ON does not match, other tenants' among them; use INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE)".into(),
            )),
            other => Err(Refusal::Statement(statement_name(other))),
        }
    }

    /// `WITH ... INSERT / UPDATE / DELETE`: the CTEs are scoped like any
    /// subquery (and a data-modifying CTE is refused there), then the
    /// statement is scoped seeing them. Nothing else may ride on the query.
    fn dml_with(&mut self, query: &mut sqlparser::ast::Query) -> Result<StatementKind, Refusal> {
        let sqlparser::ast::Query {
            with,
            body,
            order_by: None,
            limit_clause: None,
            fetch: None,
            locks,
            for_clause: None,
            settings: None,
            format_clause: None,
            pipe_operators,
        } = query
        else {
            return Err(Refusal::Construct(
                "WITH ... on a write with ORDER BY, LIMIT or the like".into(),
            ));
        };
        if !locks.is_empty() || !pipe_operators.is_empty() {
            return Err(Refusal::Construct(
                "WITH ... on a write with a locking clause".into(),
            ));
        }
        let scope = self.with_scope(with, &query::Scope::default())?;
        match &mut **body {
            SetExpr::Insert(Statement::Insert(insert)) => {
                self.insert(insert, &scope).map(|()| StatementKind::Insert)
            }
            SetExpr::Update(Statement::Update(update)) => {
                self.update(update, &scope).map(|()| StatementKind::Update)
            }
            SetExpr::Delete(Statement::Delete(delete)) => {
                self.delete(delete, &scope).map(|()| StatementKind::Delete)
            }
            _ => Err(Refusal::Construct(
                "this form of WITH ... on a write".into(),
            )),
        }
    }

    /// `table.column = <tenant>` with `table` as written in the statement.
    fn tenant_predicate(&self, qualifier: &ObjectName, column: &str) -> Expr {
        let mut idents: Vec<Ident> = qualifier
            .0
            .iter()
            .filter_map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i.clone()),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        idents.push(self.ident(column));
        Expr::BinaryOp {
            left: Box::new(Expr::CompoundIdentifier(idents)),
            op: sqlparser::ast::BinaryOperator::Eq,
            right: Box::new(self.tenant_value()),
        }
    }

    fn tenant_value(&self) -> Expr {
        Expr::Value(Value::Placeholder(self.tenant.clone()).with_span(Span::empty()))
    }

    /// A quoted identifier in the backend's style.
    fn ident(&self, name: &str) -> Ident {
        let quote = match self.backend {
            Flavor::MySql => '`',
            Flavor::Postgres | Flavor::Sqlite => '"',
        };
        Ident::with_quote(quote, name)
    }

    /// Records that the caller's expression `value` sets the tenant column of
    /// `table`: allowed only if it is a placeholder or a literal key of the
    /// columns' type (a number for integer keys, a string for the others),
    /// checked against the tenant every time the statement runs.
    fn check_tenant_value(
        &mut self,
        table: &str,
        column: &str,
        value: &Expr,
    ) -> Result<(), Refusal> {
        let refuse = || Refusal::TenantColumn {
            table: table.to_owned(),
            column: column.to_owned(),
        };
        let key = self.registry.key;
        let check = match value {
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => {
                    let k: usize = p.get(1..).and_then(|k| k.parse().ok()).ok_or_else(refuse)?;
                    TenantCheck::Param(k.checked_sub(1).ok_or_else(refuse)?)
                }
                // A literal of the column's own form, read strictly as a key.
                Value::Number(n, _) => {
                    TenantCheck::Literal(key.literal(Literal::Number(n)).ok_or_else(refuse)?)
                }
                Value::SingleQuotedString(s) => {
                    TenantCheck::Literal(key.literal(Literal::String(s)).ok_or_else(refuse)?)
                }
                _ => return Err(refuse()),
            },
            _ => return Err(refuse()),
        };
        self.checks.push(check);
        self.checked_column = Some((table.to_owned(), column.to_owned()));
        Ok(())
    }
}

/// Whether a query's body is an INSERT, UPDATE or DELETE (`WITH ... DELETE`).
fn is_dml(body: &SetExpr) -> bool {
    matches!(
        body,
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_)
    )
}

/// `(user) AND g1 AND g2 ...`, built left-associative as the parser reads it
/// back (the output must parse to the same tree).
pub(crate) fn guarded(user: Option<Expr>, guards: Vec<Expr>) -> Option<Expr> {
    user.map(|user| Expr::Nested(Box::new(user)))
        .into_iter()
        .chain(guards)
        .reduce(|acc, guard| Expr::BinaryOp {
            left: Box::new(acc),
            op: sqlparser::ast::BinaryOperator::And,
            right: Box::new(guard),
        })
}

/// A short name for a statement we refuse, without its contents.
fn statement_name(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if ["CREATE", "ALTER", "DROP", "GRANT", "REVOKE"]
                .contains(&first.to_uppercase().as_str()) =>
        {
            format!("{} {}", first.to_uppercase(), second.to_uppercase())
        }
        [first, ..] => first.to_uppercase(),
        [] => "unknown".into(),
    }
}

/// The shared parse of `SELECT * FROM x`, cloned to build derived tables.
pub(crate) static SELECT_STAR: std::sync::LazyLock<Option<Arc<sqlparser::ast::Query>>> =
    std::sync::LazyLock::new(|| {
        let dialect = sqlparser::dialect::GenericDialect {};
        match Parser::parse_sql(&dialect, "SELECT * FROM x").ok()?.pop()? {
            Statement::Query(q) => Some(Arc::new(*q)),
            _ => None,
        }
    });
