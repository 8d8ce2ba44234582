//! The table rules the rewrite reads: which tables are scoped and by which
//! column, which are global, how a name written in SQL finds its table on
//! each backend, and the bounds on what will be parsed.
//!
//! Separate from the public [`TableRegistry`](crate::TableRegistry), which
//! owns these rules together with the plan cache: the rewrite needs the
//! rules, never the cache.

use std::collections::HashMap;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::{flavor::Flavor, key::TenantKeyType};

/// The tenant column used when a table does not name its own.
pub const DEFAULT_TENANT_COLUMN: &str = "entity_id";

/// How a registered table is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableRule {
    /// Every row belongs to one tenant, named by `column`.
    Scoped {
        /// The tenant column.
        column: String,
    },
    /// Shared by all tenants.
    Global {
        /// Whether a tenant connection may write to it.
        writable: bool,
    },
}

/// What the rewrite reads: the registered tables, the schemas that may
/// qualify them, the functions the application added, and the input limits.
/// Built once by [`TableRegistryBuilder`](crate::TableRegistryBuilder);
/// never changes afterwards.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// Keyed by the table name as the database stores it.
    pub(crate) tables: HashMap<String, TableRule>,
    /// The same, keyed by lowercase name, for backends that ignore case.
    pub(crate) tables_folded: HashMap<String, TableRule>,
    /// Schema qualifiers that may prefix a registered name.
    pub(crate) schemas: Vec<String>,
    /// Functions the application vouches for, beyond the built-in allowlist,
    /// ASCII-lowercased.
    pub(crate) allowed_functions: Vec<String>,
    pub(crate) limits: Limits,
    /// The SQL type of every tenant column.
    pub(crate) key: TenantKeyType,
    /// Each table's columns in the database's order, keyed by the table's
    /// ASCII-lowercased name, where known: what an `INSERT` without a
    /// column list fills.
    pub(crate) columns: HashMap<String, Vec<String>>,
}

/// Bounds on what the rewrite will parse, so that no statement can exhaust
/// the stack or hold the executor: checked on the tokens, before the parser
/// or any recursive walk sees the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_bytes: usize,
    pub(crate) max_depth: usize,
}

impl Limits {
    /// 1 MiB: a 5,000-row bulk insert of ten bound columns is about 100 KiB.
    pub(crate) const DEFAULT_MAX_BYTES: usize = 1 << 20;
    /// Measured: every statement shape tried parses, rewrites, renders and
    /// drops on a 2 MiB thread in a debug build up to 800 levels of the
    /// estimate, and the first overflow comes between 800 and 1,200 (see
    /// `rewrite::tests::deep_inputs_stay_within_the_stack`); release builds
    /// use less stack per level.
    pub(crate) const DEFAULT_MAX_DEPTH: usize = 256;
}

impl Rules {
    /// Looks up a table reference as written in SQL, following the backend's
    /// rules for case. `None` means refused.
    pub(crate) fn lookup(
        &self,
        backend: Flavor,
        name: &ObjectName,
    ) -> Option<(String, &TableRule)> {
        let parts: Vec<&Ident> = name
            .0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(ident),
                ObjectNamePart::Function(_) => None,
            })
            .collect::<Option<_>>()?;
        let (table, qualifier) = match parts.as_slice() {
            [table] => (*table, None),
            [schema, table] => (*table, Some(*schema)),
            _ => return None,
        };
        if let Some(schema) = qualifier {
            let schema = normalize(backend, schema);
            if !self.schemas.iter().any(|s| fold_eq(backend, s, &schema)) {
                return None;
            }
        }
        let table = normalize(backend, table);
        let rule = match backend {
            Flavor::Sqlite => self.tables_folded.get(&table.to_ascii_lowercase()),
            _ => self.tables.get(&table),
        }?;
        Some((table, rule))
    }

    /// The columns of registered table `table` in the database's order, if
    /// they were declared or read from the database.
    pub(crate) fn column_order(&self, table: &str) -> Option<&[String]> {
        self.columns
            .get(&table.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// Whether `name` equals a registered table's name ignoring ASCII case:
    /// a CTE or alias by that name could be read as the table on some
    /// server, so it is refused on every backend.
    pub(crate) fn shadows_table(&self, name: &str) -> bool {
        self.tables_folded.contains_key(&name.to_ascii_lowercase())
    }
}

/// The name an identifier denotes on `backend`, folded exactly as that
/// server folds it: PostgreSQL lowercases unquoted names, ASCII letters
/// only; SQLite compares names ignoring ASCII case (we fold ASCII); MySQL on
/// Linux keeps table names as written. Never Unicode case rules: with them,
/// `tasK` (KELVIN SIGN) would equal `task` here and not on the server.
pub(crate) fn normalize(backend: Flavor, ident: &Ident) -> String {
    let value = unquoted_value(ident);
    match (backend, ident.quote_style) {
        (Flavor::Postgres, None) | (Flavor::Sqlite, _) => value.to_ascii_lowercase(),
        _ => value,
    }
}

/// The name a quoted identifier holds: the tokenizer keeps a doubled quote
/// inside it as written (`"a""b"` holds `a""b`), the server reads one.
pub(crate) fn unquoted_value(ident: &Ident) -> String {
    match ident.quote_style {
        Some(q) => {
            let doubled: String = [q, q].iter().collect();
            ident.value.replace(&doubled, &q.to_string())
        }
        None => ident.value.clone(),
    }
}

fn fold_eq(backend: Flavor, registered: &str, written: &str) -> bool {
    match backend {
        Flavor::Sqlite => registered.eq_ignore_ascii_case(written),
        _ => registered == written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableRegistry;

    fn name(sql_parts: &[(&str, Option<char>)]) -> ObjectName {
        ObjectName(
            sql_parts
                .iter()
                .map(|(v, q)| {
                    ObjectNamePart::Identifier(match q {
                        Some(q) => Ident::with_quote(*q, *v),
                        None => Ident::new(*v),
                    })
                })
                .collect(),
        )
    }

    #[test]
    fn case_follows_the_backend() {
        let r = TableRegistry::builder()
            .scoped_table("leads")
            .build()
            .unwrap();
        let r = r.rules();
        // PostgreSQL: unquoted folds, quoted is exact.
        assert!(
            r.lookup(Flavor::Postgres, &name(&[("LEADS", None)]))
                .is_some()
        );
        assert!(
            r.lookup(Flavor::Postgres, &name(&[("Leads", Some('"'))]))
                .is_none()
        );
        // MySQL on Linux: exact.
        assert!(r.lookup(Flavor::MySql, &name(&[("LEADS", None)])).is_none());
        assert!(
            r.lookup(Flavor::MySql, &name(&[("leads", Some('`'))]))
                .is_some()
        );
        // SQLite: case-insensitive.
        assert!(
            r.lookup(Flavor::Sqlite, &name(&[("Leads", Some('"'))]))
                .is_some()
        );
    }

    #[test]
    fn names_fold_with_ascii_rules_only() {
        let r = TableRegistry::builder()
            .scoped_table("task")
            .scoped_table("links")
            .build()
            .unwrap();
        let r = r.rules();
        // KELVIN SIGN, LATIN CAPITAL I WITH DOT, LONG S, fullwidth: full
        // Unicode lowercasing would make some of these `task` / `links`; the
        // servers don't, so neither does the lookup.
        for written in [
            "tas\u{212a}",
            "L\u{130}NKS",
            "ta\u{17f}k",
            "\u{ff54}\u{ff41}\u{ff53}\u{ff4b}",
        ] {
            for backend in [Flavor::Postgres, Flavor::Sqlite, Flavor::MySql] {
                for quote in [None, Some('"')] {
                    assert!(
                        r.lookup(backend, &name(&[(written, quote)])).is_none(),
                        "{written} {backend:?} {quote:?}"
                    );
                }
            }
            assert!(!r.shadows_table(written));
        }
        // ASCII case: folded where the server folds it.
        assert!(
            r.lookup(Flavor::Postgres, &name(&[("TASK", None)]))
                .is_some()
        );
        assert!(
            r.lookup(Flavor::Sqlite, &name(&[("TASK", Some('"'))]))
                .is_some()
        );
        assert!(r.shadows_table("TASK"));
        // A doubled quote inside a quoted name is one quote.
        assert_eq!(unquoted_value(&Ident::with_quote('"', "a\"\"b")), "a\"b");
    }

    #[test]
    fn schema_qualifiers_are_allowlisted() {
        let r = TableRegistry::builder()
            .scoped_table("leads")
            .build()
            .unwrap();
        let r = r.rules();
        let pg = Flavor::Postgres;
        assert!(
            r.lookup(pg, &name(&[("public", None), ("leads", None)]))
                .is_some()
        );
        assert!(
            r.lookup(pg, &name(&[("pg_catalog", None), ("leads", None)]))
                .is_none()
        );
        assert!(
            r.lookup(pg, &name(&[("a", None), ("b", None), ("leads", None)]))
                .is_none()
        );
    }
}
