//! Canonical rendering of names: every identifier in the rewritten tree is
//! quoted in the backend's own quoting, after the backend's own folding of
//! unquoted names, so that no token sqlparser took for a name can become a
//! keyword, an operator or two tokens on the server.
//!
//! - PostgreSQL: unquoted names fold to lowercase, ASCII letters only (as
//!   the server does), then are double-quoted.
//! - MySQL / MariaDB: backquoted as written (table names keep their case,
//!   column names are case-insensitive either way).
//! - SQLite: backquoted. SQLite reads an unresolvable `"name"` as a string
//!   literal; a backquoted name is always a name.
//!
//! Two kinds of identifier stay unquoted: function names, which are on the
//! allowlist (plain ASCII words; quoting would turn `coalesce` and friends
//! into calls of functions that don't exist), and the `DEFAULT` keyword,
//! which sqlparser keeps as an identifier in `VALUES` and `SET`.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, ObjectName, ObjectNamePart, TableFactor, VisitMut, VisitorMut};

use crate::{flavor::Flavor, rules::unquoted_value};

/// Quotes every identifier of `node` for `backend`, in one walk.
pub(crate) fn quote_names<N: VisitMut + ?Sized>(backend: Flavor, node: &mut N) {
    let _ = node.visit(&mut Quote { backend });
}

struct Quote {
    backend: Flavor,
}

impl VisitorMut for Quote {
    type Break = ();

    fn pre_visit_ident(&mut self, ident: &mut Ident) -> ControlFlow<()> {
        if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") {
            return ControlFlow::Continue(());
        }
        *ident = quoted(self.backend, ident);
        ControlFlow::Continue(())
    }

    // After the children (the name's idents among them) were quoted,
    // function names go back to the plain words the allowlist checked.
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            unquote(&mut f.name);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => unquote(name),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `ident` in the backend's canonical quoting.
pub(crate) fn quoted(backend: Flavor, ident: &Ident) -> Ident {
    let value = match (backend, ident.quote_style) {
        (Flavor::Postgres, None) => ident.value.to_ascii_lowercase(),
        (Flavor::Postgres, Some('"')) | (Flavor::MySql | Flavor::Sqlite, Some('`')) => {
            return ident.clone();
        }
        (Flavor::Postgres, Some(_)) => unquoted_value(ident).replace('"', "\"\""),
        (Flavor::MySql | Flavor::Sqlite, _) => unquoted_value(ident).replace('`', "``"),
    };
    Ident {
        value,
        quote_style: Some(backend.identifier_quote()),
        span: ident.span,
    }
}

fn unquote(name: &mut ObjectName) {
    for part in &mut name.0 {
        if let ObjectNamePart::Identifier(ident) = part {
            ident.quote_style = None;
        }
    }
}
