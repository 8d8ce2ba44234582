//! Which tables a tenant connection may touch, and how.
//!
//! The registry is the allowlist behind "fail closed": a table is either
//! tenant-scoped (every row carries the tenant in a column), global (shared by
//! all tenants, read-only unless said otherwise), or refused.

use std::{collections::HashMap, fmt, sync::Arc};

use sea_orm::{EntityTrait, Iterable};
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::{plan::PlanCache, rewrite::Flavor};

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

/// Errors building a [`TableRegistry`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The same table was registered twice.
    #[error("table `{0}` is registered twice")]
    Duplicate(String),
    /// An entity was registered with a tenant column it does not have.
    #[error("entity `{table}` has no column `{column}` to scope by")]
    MissingColumn {
        /// The entity's table.
        table: String,
        /// The column asked for.
        column: String,
    },
    /// A table or column name was empty.
    #[error("empty table or column name")]
    EmptyName,
    /// A name given to [`TableRegistryBuilder::allow_function`] that is not a
    /// plain ASCII identifier.
    #[error("`{0}` is not a plain function name (ASCII letters, digits and `_`)")]
    FunctionName(String),
}

/// The tables a [`TenantConnection`](crate::TenantConnection) knows, with the
/// cache of rewritten statements that goes with them.
///
/// Cheap to clone (an `Arc`); build it once at start-up and share it.
///
/// ```
/// use tenancy_seaorm::{TableRegistry, TableRule};
///
/// let registry = TableRegistry::builder()
///     .scoped_table("leads")                  // tenant column `entity_id`
///     .scoped_table_by("calls", "company_id") // a table with its own column
///     .global_table("countries")              // shared, read-only
///     .build()
///     .unwrap();
///
/// assert!(matches!(registry.rule("leads"), Some(TableRule::Scoped { .. })));
/// assert_eq!(registry.rule("secrets"), None);
/// ```
#[derive(Clone)]
pub struct TableRegistry {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Keyed by the table name as the database stores it.
    tables: HashMap<String, TableRule>,
    /// The same, keyed by lowercase name, for backends that ignore case.
    tables_folded: HashMap<String, TableRule>,
    /// Schema qualifiers that may prefix a registered name.
    schemas: Vec<String>,
    /// Functions the application vouches for, beyond the built-in allowlist,
    /// ASCII-lowercased.
    pub(crate) allowed_functions: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) cache: PlanCache,
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

impl fmt::Debug for TableRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tables: Vec<_> = self.inner.tables.iter().collect();
        tables.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_struct("TableRegistry")
            .field("tables", &tables)
            .field("schemas", &self.inner.schemas)
            .field("cached_plans", &self.inner.cache.len())
            .finish()
    }
}

impl TableRegistry {
    /// Starts a registry.
    pub fn builder() -> TableRegistryBuilder {
        TableRegistryBuilder::default()
    }

    /// The rule for a table, by the name the database stores it under.
    pub fn rule(&self, table: &str) -> Option<&TableRule> {
        self.inner.tables.get(table)
    }

    /// The tenant-scoped tables and their tenant columns, sorted by table
    /// name: what the row-level-security policies, the schema audit and the
    /// tenant lifecycle walk.
    ///
    /// ```
    /// use tenancy_seaorm::TableRegistry;
    ///
    /// let registry = TableRegistry::builder()
    ///     .scoped_table("leads")
    ///     .scoped_table_by("calls", "company_id")
    ///     .global_table("countries")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(registry.scoped_tables(), [("calls", "company_id"), ("leads", "entity_id")]);
    /// ```
    pub fn scoped_tables(&self) -> Vec<(&str, &str)> {
        let mut tables: Vec<_> = self
            .inner
            .tables
            .iter()
            .filter_map(|(table, rule)| match rule {
                TableRule::Scoped { column } => Some((table.as_str(), column.as_str())),
                TableRule::Global { .. } => None,
            })
            .collect();
        tables.sort_unstable();
        tables
    }
}

impl Inner {
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

/// Builds a [`TableRegistry`]; see [`TableRegistry::builder`].
#[derive(Debug)]
pub struct TableRegistryBuilder {
    tables: Vec<(String, TableRule)>,
    schemas: Vec<String>,
    allowed_functions: Vec<String>,
    limits: Limits,
    errors: Vec<RegistryError>,
    cache_capacity: usize,
}

impl Default for TableRegistryBuilder {
    fn default() -> Self {
        Self {
            tables: Vec::new(),
            schemas: vec!["public".into(), "main".into()],
            allowed_functions: Vec::new(),
            limits: Limits {
                max_bytes: Limits::DEFAULT_MAX_BYTES,
                max_depth: Limits::DEFAULT_MAX_DEPTH,
            },
            errors: Vec::new(),
            cache_capacity: 4096,
        }
    }
}

impl TableRegistryBuilder {
    /// Scopes a SeaORM entity's table by its `entity_id` column.
    pub fn scoped<E: EntityTrait + Default>(self) -> Self {
        self.scoped_by::<E>(DEFAULT_TENANT_COLUMN)
    }

    /// Scopes a SeaORM entity's table by `column`, which the entity must have.
    pub fn scoped_by<E: EntityTrait + Default>(mut self, column: &str) -> Self {
        let entity = E::default();
        let table = entity.table_name().to_owned();
        let has_column = E::Column::iter().any(|c| {
            use sea_orm::IdenStatic;
            c.as_str() == column
        });
        if !has_column {
            self.errors.push(RegistryError::MissingColumn {
                table: table.clone(),
                column: column.to_owned(),
            });
        }
        if let Some(schema) = entity.schema_name() {
            self = self.schema(schema);
        }
        self.push(
            table,
            TableRule::Scoped {
                column: column.to_owned(),
            },
        )
    }

    /// Scopes a table that has no SeaORM entity, by its `entity_id` column.
    pub fn scoped_table(self, table: impl Into<String>) -> Self {
        self.scoped_table_by(table, DEFAULT_TENANT_COLUMN)
    }

    /// Scopes a table that has no SeaORM entity, by `column`.
    pub fn scoped_table_by(self, table: impl Into<String>, column: impl Into<String>) -> Self {
        let column = column.into();
        self.push(table.into(), TableRule::Scoped { column })
    }

    /// Registers a table shared by all tenants, readable but not writable
    /// through a tenant connection.
    pub fn global_table(self, table: impl Into<String>) -> Self {
        self.push(table.into(), TableRule::Global { writable: false })
    }

    /// Registers a table shared by all tenants that tenant connections may
    /// also write. Every tenant can then change rows every tenant sees: use it
    /// for things like an append-only event log, not for tenant data.
    pub fn global_table_writable(self, table: impl Into<String>) -> Self {
        self.push(table.into(), TableRule::Global { writable: true })
    }

    /// Allows `schema.table` references to registered tables in `schema`
    /// (`public` and `main` are allowed from the start). A qualifier not in
    /// this list is refused, so `pg_catalog.anything` never matches.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        let schema = schema.into();
        if !self.schemas.contains(&schema) {
            self.schemas.push(schema);
        }
        self
    }

    /// How many rewritten statements to keep (default 4096). The cache is
    /// keyed by SQL text, which does not depend on the tenant.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity.max(1);
        self
    }

    /// Allows calls to the function `name` in tenant statements, beyond the
    /// built-in allowlist (see the crate's "Functions" section).
    ///
    /// **This is the application's responsibility.** The rewrite can't see
    /// inside a function: one that reads a scoped table without a tenant
    /// argument, runs SQL given as text, or touches files or settings
    /// reaches past the tenant. Allow only functions you wrote or audited,
    /// and that read nothing but their arguments.
    ///
    /// ```
    /// use tenancy_seaorm::TableRegistry;
    /// use sea_orm::DbBackend;
    ///
    /// let plain = TableRegistry::builder().scoped_table("leads").build().unwrap();
    /// assert!(plain.rewrite_uncached(DbBackend::Postgres, "SELECT slugify(name) FROM leads").is_err());
    ///
    /// let registry = TableRegistry::builder()
    ///     .scoped_table("leads")
    ///     .allow_function("slugify")
    ///     .build()
    ///     .unwrap();
    /// assert!(registry.rewrite_uncached(DbBackend::Postgres, "SELECT slugify(name) FROM leads").is_ok());
    /// ```
    pub fn allow_function(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            self.errors.push(RegistryError::FunctionName(name));
            return self;
        }
        self.allowed_functions.push(name.to_ascii_lowercase());
        self
    }

    /// The longest statement text, in bytes, a tenant connection will
    /// parse (default 1 MiB). Longer ones are refused with
    /// [`Refusal::TooLarge`](crate::Refusal::TooLarge).
    pub fn max_statement_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_bytes = bytes;
        self
    }

    /// How deeply a statement may nest (default 256), estimated from its
    /// tokens before parsing: each open parenthesis, keyword and operator
    /// counts one level in its parenthesis group. Deeper ones are refused
    /// with [`Refusal::TooDeep`](crate::Refusal::TooDeep). Raising it
    /// raises the stack the rewrite needs; the default fits a 2 MiB thread
    /// with room to spare.
    pub fn max_nesting_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth;
        self
    }

    fn push(mut self, table: String, rule: TableRule) -> Self {
        let empty_column = matches!(&rule, TableRule::Scoped { column } if column.is_empty());
        if table.is_empty() || empty_column {
            self.errors.push(RegistryError::EmptyName);
        }
        self.tables.push((table, rule));
        self
    }

    /// Checks the registrations and builds the registry.
    ///
    /// # Errors
    ///
    /// The first problem found: a table registered twice (names that differ
    /// only in case count as the same, since SQLite can't tell them apart),
    /// an entity without the tenant column, or an empty name.
    pub fn build(self) -> Result<TableRegistry, RegistryError> {
        if let Some(err) = self.errors.into_iter().next() {
            return Err(err);
        }
        let mut tables = HashMap::new();
        let mut tables_folded = HashMap::new();
        for (table, rule) in self.tables {
            if tables_folded
                .insert(table.to_ascii_lowercase(), rule.clone())
                .is_some()
            {
                return Err(RegistryError::Duplicate(table));
            }
            tables.insert(table, rule);
        }
        Ok(TableRegistry {
            inner: Arc::new(Inner {
                tables,
                tables_folded,
                schemas: self.schemas,
                allowed_functions: self.allowed_functions,
                limits: self.limits,
                cache: PlanCache::new(self.cache_capacity),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = &r.inner;
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
        let r = &r.inner;
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
        let r = &r.inner;
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

    #[test]
    fn duplicates_and_empty_names_are_errors() {
        let dup = TableRegistry::builder()
            .scoped_table("leads")
            .global_table("Leads")
            .build();
        assert_eq!(dup.unwrap_err(), RegistryError::Duplicate("Leads".into()));
        let empty = TableRegistry::builder()
            .scoped_table_by("leads", "")
            .build();
        assert_eq!(empty.unwrap_err(), RegistryError::EmptyName);
    }
}
