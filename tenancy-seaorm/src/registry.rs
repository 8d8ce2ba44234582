//! Which tables a tenant connection may touch, and how.
//!
//! The registry is the allowlist behind "fail closed": a table is either
//! tenant-scoped (every row carries the tenant in a column), global (shared by
//! all tenants, read-only unless said otherwise), or refused.

use std::{collections::HashMap, fmt, sync::Arc};

use sea_orm::{DbBackend, EntityTrait, Iterable, Statement};
use tenancy_core::TenantId;

pub use crate::rules::{DEFAULT_TENANT_COLUMN, TableRule};
use crate::{
    Refusal,
    flavor::Flavor,
    key::TenantKeyType,
    plan::{Plan, PlanCache, StatementKind},
    rewrite,
    rules::{Limits, Rules},
};

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
    inner: Arc<Inner>,
}

struct Inner {
    rules: Rules,
    cache: PlanCache,
}

impl fmt::Debug for TableRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tables: Vec<_> = self.inner.rules.tables.iter().collect();
        tables.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_struct("TableRegistry")
            .field("tables", &tables)
            .field("schemas", &self.inner.rules.schemas)
            .field("cached_plans", &self.inner.cache.len())
            .finish()
    }
}

impl TableRegistry {
    /// The rules the rewrite reads, for the lookup tests.
    #[cfg(test)]
    pub(crate) fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    /// Starts a registry.
    pub fn builder() -> TableRegistryBuilder {
        TableRegistryBuilder::default()
    }

    /// The same tables with these column orders (keyed by lowercased table
    /// name) added, and an empty plan cache: plans made without an order
    /// refused what they can now scope.
    pub(crate) fn with_column_orders(&self, orders: HashMap<String, Vec<String>>) -> Self {
        let mut rules = self.inner.rules.clone();
        rules.columns.extend(orders);
        Self {
            inner: Arc::new(Inner {
                rules,
                cache: PlanCache::new(self.inner.cache.capacity()),
            }),
        }
    }

    /// The registered tables' names, sorted.
    pub(crate) fn table_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.inner.rules.tables.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The SQL type of every tenant column (see
    /// [`TableRegistryBuilder::tenant_key`]).
    pub fn tenant_key(&self) -> TenantKeyType {
        self.inner.rules.key
    }

    /// The rule for a table, by the name the database stores it under.
    pub fn rule(&self, table: &str) -> Option<&TableRule> {
        self.inner.rules.tables.get(table)
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
            .rules
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

/// Builds a [`TableRegistry`]; see [`TableRegistry::builder`].
#[derive(Debug)]
pub struct TableRegistryBuilder {
    tables: Vec<(String, TableRule)>,
    schemas: Vec<String>,
    allowed_functions: Vec<String>,
    limits: Limits,
    key: TenantKeyType,
    columns: HashMap<String, Vec<String>>,
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
            key: TenantKeyType::default(),
            columns: HashMap::new(),
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

    /// The SQL type of every tenant column (default
    /// [`TenantKeyType::BigInt`]): the tenant binds as a parameter of this
    /// type, and a connection whose tenant is keyed by another kind has
    /// every statement refused with
    /// [`Refusal::TenantKeyKind`](crate::Refusal::TenantKeyKind).
    ///
    /// ```
    /// use sea_orm::{DbBackend, Statement};
    /// use tenancy_core::{TenantId, uuid::Uuid};
    /// use tenancy_seaorm::{Refusal, TableRegistry, TenantKeyType};
    ///
    /// let registry = TableRegistry::builder()
    ///     .tenant_key(TenantKeyType::Uuid)
    ///     .scoped_table("leads")
    ///     .build()
    ///     .unwrap();
    /// let tenant = TenantId::uuid(Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8));
    /// let stmt = Statement::from_string(DbBackend::MySql, "SELECT name FROM leads");
    /// let scoped = registry.scope_statement(stmt.clone(), tenant).unwrap();
    /// assert_eq!(scoped.sql, "SELECT `name` FROM `leads` WHERE `leads`.`entity_id` = ?");
    /// assert_eq!(scoped.values.unwrap().0, ["67e55044-10b1-426f-9247-bb680e5fe0c8".into()]);
    ///
    /// // An integer tenant on UUID columns is refused before anything is sent.
    /// let refused = registry.scope_statement(stmt, TenantId::new(1)).unwrap_err();
    /// assert!(matches!(refused, Refusal::TenantKeyKind { .. }));
    /// ```
    pub fn tenant_key(mut self, key: TenantKeyType) -> Self {
        self.key = key;
        self
    }

    /// Declares the columns of `table`, in the order the database has them,
    /// so that an `INSERT` into it without a column list can be scoped: the
    /// rewrite names the columns itself, checks the value in the tenant
    /// column's position, and sends the statement with the column list.
    /// [`TableRegistry::with_columns_from`] reads the orders from the
    /// database instead.
    ///
    /// Only the database's own order is right. A SeaORM entity's field
    /// order need not match its table, so it is never taken from there. A
    /// wrong order can't reach another tenant (the statement that runs
    /// names its columns and the tenant's value is checked), but it would
    /// put the caller's values in the wrong columns.
    ///
    /// ```
    /// use sea_orm::DbBackend;
    /// use tenancy_seaorm::TableRegistry;
    ///
    /// let registry = TableRegistry::builder()
    ///     .scoped_table("leads")
    ///     .columns("leads", ["id", "entity_id", "name"])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(
    ///     registry.rewrite_uncached(DbBackend::Postgres, "INSERT INTO leads VALUES (7, $1, 'Ada')").unwrap(),
    ///     r#"INSERT INTO "leads" ("id", "entity_id", "name") VALUES (7, $1, 'Ada')"#
    /// );
    /// ```
    pub fn columns<I, S>(mut self, table: &str, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let columns: Vec<String> = columns.into_iter().map(Into::into).collect();
        if columns.is_empty() || columns.iter().any(String::is_empty) {
            self.errors.push(RegistryError::EmptyName);
        }
        self.columns.insert(table.to_ascii_lowercase(), columns);
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
                rules: Rules {
                    tables,
                    tables_folded,
                    schemas: self.schemas,
                    allowed_functions: self.allowed_functions,
                    limits: self.limits,
                    key: self.key,
                    columns: self.columns,
                },
                cache: PlanCache::new(self.cache_capacity),
            }),
        })
    }
}

impl TableRegistry {
    /// Rewrites `stmt` for `tenant` exactly as a [`TenantConnection`](crate::TenantConnection) would
    /// before sending it: useful to look at the SQL, or to `EXPLAIN` it.
    ///
    /// Uses and fills the plan cache.
    ///
    /// ```
    /// use sea_orm::{DbBackend, Statement};
    /// use tenancy_seaorm::TableRegistry;
    ///
    /// let registry = TableRegistry::builder().scoped_table("leads").build().unwrap();
    /// let stmt = Statement::from_sql_and_values(
    ///     DbBackend::Postgres,
    ///     r#"SELECT "name" FROM "leads" WHERE "id" = $1"#,
    ///     [7.into()],
    /// );
    /// let scoped = registry.scope_statement(stmt, 1.into()).unwrap();
    /// assert_eq!(
    ///     scoped.sql,
    ///     r#"SELECT "name" FROM "leads" WHERE ("id" = $1) AND "leads"."entity_id" = $2"#
    /// );
    /// assert_eq!(scoped.values.unwrap().0, vec![7.into(), 1_i64.into()]);
    /// ```
    ///
    /// # Errors
    ///
    /// The [`Refusal`] a connection would return.
    pub fn scope_statement(&self, stmt: Statement, tenant: TenantId) -> Result<Statement, Refusal> {
        self.scope_with_kind(stmt, tenant).map(|(stmt, _)| stmt)
    }

    /// [`scope_statement`](Self::scope_statement), with the statement's kind
    /// for the connection's tracing span.
    pub(crate) fn scope_with_kind(
        &self,
        stmt: Statement,
        tenant: TenantId,
    ) -> Result<(Statement, StatementKind), Refusal> {
        let plan = self.plan(stmt.db_backend, &stmt.sql)?;
        let scoped = plan.bind(stmt.db_backend, self.inner.rules.key, stmt.values, tenant)?;
        Ok((scoped, plan.kind))
    }

    /// The plan for `sql`, from the cache or made and cached.
    fn plan(&self, backend: DbBackend, sql: &str) -> Result<Arc<Plan>, Refusal> {
        let flavor = Flavor::of(backend)?;
        let cache = &self.inner.cache;
        if let Some(plan) = cache.get(flavor, sql) {
            return Ok(plan);
        }
        let plan = Arc::new(rewrite::plan(&self.inner.rules, flavor, sql)?);
        cache.insert(flavor, sql.to_owned(), Arc::clone(&plan));
        Ok(plan)
    }

    /// The rewritten SQL for `sql`, bypassing the cache. For inspection and
    /// for measuring the cost of a cache miss.
    ///
    /// # Errors
    ///
    /// The [`Refusal`] a connection would return.
    pub fn rewrite_uncached(&self, backend: DbBackend, sql: &str) -> Result<String, Refusal> {
        let flavor = Flavor::of(backend)?;
        rewrite::plan(&self.inner.rules, flavor, sql).map(|plan| plan.sql)
    }

    /// `stmt` checked by the same rules as a tenant statement, but not
    /// scoped: for the [`CrossTenantReader`](crate::CrossTenantReader). Only
    /// a plain query passes ([`Refusal::ReadOnly`] otherwise), and it is
    /// sent as rendered from the tree that was checked.
    pub(crate) fn read_statement(&self, stmt: Statement) -> Result<Statement, Refusal> {
        let flavor = Flavor::of(stmt.db_backend)?;
        let plan = rewrite::read(&self.inner.rules, flavor, &stmt.sql)?;
        plan.bind_unscoped(stmt.db_backend, stmt.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
