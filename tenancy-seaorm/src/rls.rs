//! PostgreSQL row-level security: the second wall behind the rewrite.
//!
//! The rewrite in [`TenantConnection`](crate::TenantConnection) is the first
//! wall: it sees every statement and scopes it, or refuses it. What it can't
//! see (a function you defined that reads a tenant table, a view, a
//! trigger) or a bug in it would otherwise be a leak. On PostgreSQL the
//! database can enforce the same rule itself: a policy on every scoped table
//! that shows and accepts only the rows whose tenant column equals a
//! per-transaction setting, which the connection sets.
//!
//! Three pieces:
//!
//! - [`RowLevelSecurity::up_sql`] and [`RowLevelSecurity::apply`]: the
//!   policies for every scoped table of a [`TableRegistry`], as SQL text or
//!   run through any SeaORM connection (a migration's, say);
//! - [`RowLevelSecurity::boot_check`]: at start-up, proof that the policies
//!   bind the role the application connects as (not a superuser, no
//!   `BYPASSRLS`, `FORCE` on the tables it owns); it returns the
//!   [`VerifiedRls`] that switches a connection into RLS mode;
//! - [`TenantConnection::with_rls`](crate::TenantConnection::with_rls): the
//!   connection sets `tenancy.tenant_id` with `set_config(.., true)` in
//!   every transaction it runs, wrapping single statements in one, so the
//!   setting never outlives the transaction (safe behind a transaction
//!   pooler such as PgBouncer) and is never missing.
//!
//! With no setting (a connection that is not in RLS mode, a statement
//! outside the wrapper) the policies match no row: reads see nothing and
//! writes fail. The rewrite stays on in RLS mode; RLS is a second wall, not
//! a replacement.
//!
//! ```
//! use tenancy_seaorm::{RowLevelSecurity, TableRegistry};
//!
//! let registry = TableRegistry::builder().scoped_table("leads").build().unwrap();
//! let sql = RowLevelSecurity::new().up_sql(&registry);
//! assert_eq!(sql[0], r#"ALTER TABLE "leads" ENABLE ROW LEVEL SECURITY"#);
//! assert_eq!(sql[1], r#"ALTER TABLE "leads" FORCE ROW LEVEL SECURITY"#);
//! assert!(sql[3].contains(
//!     r#"USING ("entity_id" = (SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint))"#
//! ));
//! ```

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tenancy_core::TenantId;

use crate::TableRegistry;

/// The setting the policies read and the connection sets, unless
/// [`RowLevelSecurity::with_setting`] names another.
pub const DEFAULT_RLS_SETTING: &str = "tenancy.tenant_id";

/// The permissive policy that lets a tenant reach its own rows.
pub const ACCESS_POLICY: &str = "tenancy_tenant_access";

/// The restrictive policy that keeps every other permissive policy on the
/// table (yours) inside the tenant, too.
pub const WALL_POLICY: &str = "tenancy_tenant_wall";

/// Why row-level security could not be set up, verified or used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RlsError {
    /// Row-level security exists only on PostgreSQL.
    #[error("row-level security needs postgresql, this connection is {0}")]
    NotPostgres(String),
    /// The setting name is not `prefix.name` of lowercase letters, digits and
    /// underscores.
    #[error(
        "invalid setting name {0:?}: expected `prefix.name` of lowercase letters, digits and underscores"
    )]
    SettingName(String),
    /// The application role is a superuser, which row-level security never
    /// binds.
    #[error("role `{0}` is a superuser: row-level security does not apply to it")]
    Superuser(String),
    /// The application role has `BYPASSRLS`.
    #[error("role `{0}` has bypassrls: row-level security does not apply to it")]
    BypassRls(String),
    /// A scoped table is not in the database (on the search path).
    #[error("scoped table `{0}` does not exist")]
    MissingTable(String),
    /// Row-level security is not enabled on a scoped table.
    #[error("row-level security is not enabled on `{0}`")]
    NotEnabled(String),
    /// The application role owns a scoped table, and owners bypass the
    /// policies unless `FORCE ROW LEVEL SECURITY` is on.
    #[error("row-level security is not forced on `{table}`, which role `{role}` owns")]
    NotForced {
        /// The table.
        table: String,
        /// The application role.
        role: String,
    },
    /// One of the tenancy policies is missing from a scoped table, or reads
    /// another setting.
    #[error("policy `{policy}` on `{table}` is missing or does not read `{setting}`")]
    MissingPolicy {
        /// The table.
        table: String,
        /// The policy.
        policy: &'static str,
        /// The setting it should read.
        setting: String,
    },
    /// A stream outside a transaction can't carry the per-transaction
    /// setting.
    #[error(
        "streaming through a tenant connection in rls mode needs a transaction: begin one and stream inside it"
    )]
    StreamOutsideTransaction,
    /// The test-only switch that turns the rewrite off was used on a
    /// connection that is not in RLS mode.
    #[error("the rewrite can only be switched off in rls mode")]
    NotRlsMode,
    /// The database failed.
    #[error("database error while checking row-level security")]
    Db(#[source] DbErr),
}

impl From<DbErr> for RlsError {
    fn from(err: DbErr) -> Self {
        RlsError::Db(err)
    }
}

/// What the `DbErr` that carries an [`RlsError`] says it was converting.
const FROM: &str = "tenant connection";
const INTO: &str = "row-level security";

impl RlsError {
    /// Wraps the error in a [`DbErr`] that keeps it as its source, for the
    /// connection traits that can only return `DbErr`.
    pub fn into_db_err(self) -> DbErr {
        DbErr::TryIntoErr {
            from: FROM,
            into: INTO,
            source: Arc::new(self),
        }
    }

    /// The [`RlsError`] inside a `DbErr` returned by a tenant connection in
    /// RLS mode, if that is why it failed.
    ///
    /// ```
    /// use tenancy_seaorm::RlsError;
    ///
    /// let err = RlsError::StreamOutsideTransaction.into_db_err();
    /// assert!(matches!(RlsError::from_db_err(&err), Some(RlsError::StreamOutsideTransaction)));
    /// ```
    pub fn from_db_err(err: &DbErr) -> Option<&RlsError> {
        match err {
            DbErr::TryIntoErr {
                from: FROM,
                into: INTO,
                source,
            } => source.downcast_ref::<RlsError>(),
            _ => None,
        }
    }
}

/// The row-level-security setup for the scoped tables of a registry: which
/// setting the policies read, and whether the tenant column defaults to it.
///
/// Build it once; generate the SQL, apply it in a migration, and check it at
/// start-up with the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLevelSecurity {
    setting: String,
    stamp_default: bool,
}

impl Default for RowLevelSecurity {
    fn default() -> Self {
        Self::new()
    }
}

impl RowLevelSecurity {
    /// Policies on [`DEFAULT_RLS_SETTING`], no column defaults.
    pub fn new() -> Self {
        Self {
            setting: DEFAULT_RLS_SETTING.to_owned(),
            stamp_default: false,
        }
    }

    /// Policies on another setting (`prefix.name`, lowercase letters, digits
    /// and underscores, as PostgreSQL wants for a custom setting).
    ///
    /// ```
    /// use tenancy_seaorm::{RlsError, RowLevelSecurity};
    ///
    /// assert!(RowLevelSecurity::new().with_setting("app.tenant").is_ok());
    /// assert!(matches!(
    ///     RowLevelSecurity::new().with_setting("tenant'; drop table x; --"),
    ///     Err(RlsError::SettingName(_))
    /// ));
    /// ```
    ///
    /// # Errors
    ///
    /// [`RlsError::SettingName`] for any other name: it goes into the
    /// policies' SQL text, so it is checked, not quoted.
    pub fn with_setting(mut self, setting: &str) -> Result<Self, RlsError> {
        if !valid_setting(setting) {
            return Err(RlsError::SettingName(setting.to_owned()));
        }
        self.setting = setting.to_owned();
        Ok(self)
    }

    /// Also makes each tenant column default to the setting, so an `INSERT`
    /// that leaves the column out lands in the transaction's tenant (and
    /// fails outside one) even without the rewrite.
    pub fn stamp_default(mut self, on: bool) -> Self {
        self.stamp_default = on;
        self
    }

    /// The setting the policies read.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// The expression the policies compare the tenant column with: the
    /// setting, read once per statement (the sub-select makes it an init
    /// plan, so an index on the tenant column is used), cast to the tenant
    /// columns' type (`bigint`, `uuid` or `text`, from the registry's
    /// [`TenantKeyType`](crate::TenantKeyType)), `NULL` when it is unset or
    /// empty, so no row matches.
    ///
    /// ```
    /// use tenancy_seaorm::{RowLevelSecurity, TableRegistry, TenantKeyType};
    ///
    /// let registry = TableRegistry::builder()
    ///     .tenant_key(TenantKeyType::Uuid)
    ///     .scoped_table("leads")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(
    ///     RowLevelSecurity::new().tenant_expr(&registry),
    ///     "(SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::uuid)"
    /// );
    /// ```
    pub fn tenant_expr(&self, registry: &TableRegistry) -> String {
        format!(
            "(SELECT NULLIF(current_setting('{}', true), '')::{})",
            self.setting,
            registry.tenant_key().pg_type()
        )
    }

    /// The statements that put the policies on every scoped table of
    /// `registry`, in table-name order; each is one statement, and
    /// re-running them is harmless.
    ///
    /// For each table: `ENABLE` and `FORCE ROW LEVEL SECURITY`, then a
    /// permissive policy ([`ACCESS_POLICY`]) and a restrictive one
    /// ([`WALL_POLICY`]) for every command, each with `USING` and
    /// `WITH CHECK` on the tenant column; the restrictive one keeps any
    /// permissive policy of your own inside the tenant as well.
    pub fn up_sql(&self, registry: &TableRegistry) -> Vec<String> {
        let expr = self.tenant_expr(registry);
        let mut sql = Vec::new();
        for (table, column) in registry.scoped_tables() {
            let (t, c) = (quote(table), quote(column));
            let check = format!("{c} = {expr}");
            sql.push(format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"));
            sql.push(format!("ALTER TABLE {t} FORCE ROW LEVEL SECURITY"));
            for (policy, kind) in [(ACCESS_POLICY, "PERMISSIVE"), (WALL_POLICY, "RESTRICTIVE")] {
                sql.push(format!("DROP POLICY IF EXISTS {policy} ON {t}"));
                sql.push(format!(
                    "CREATE POLICY {policy} ON {t} AS {kind} FOR ALL USING ({check}) WITH CHECK ({check})"
                ));
            }
            if self.stamp_default {
                sql.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT NULLIF(current_setting('{}', true), '')::{}",
                    self.setting,
                    registry.tenant_key().pg_type()
                ));
            }
        }
        sql
    }

    /// The statements that undo [`up_sql`](Self::up_sql): a migration's
    /// `down`.
    pub fn down_sql(&self, registry: &TableRegistry) -> Vec<String> {
        let mut sql = Vec::new();
        for (table, column) in registry.scoped_tables() {
            let t = quote(table);
            for policy in [WALL_POLICY, ACCESS_POLICY] {
                sql.push(format!("DROP POLICY IF EXISTS {policy} ON {t}"));
            }
            sql.push(format!("ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY"));
            sql.push(format!("ALTER TABLE {t} DISABLE ROW LEVEL SECURITY"));
            if self.stamp_default {
                sql.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {} DROP DEFAULT",
                    quote(column)
                ));
            }
        }
        sql
    }

    /// Runs [`up_sql`](Self::up_sql) on `conn`: in a SeaORM migration, pass
    /// `manager.get_connection()`. Run it as the tables' owner, inside the
    /// migration's transaction.
    ///
    /// # Errors
    ///
    /// [`RlsError::NotPostgres`] on another backend (nothing is sent), or
    /// the database's error.
    pub async fn apply<C: ConnectionTrait>(
        &self,
        conn: &C,
        registry: &TableRegistry,
    ) -> Result<(), RlsError> {
        run_all(conn, self.up_sql(registry)).await
    }

    /// Runs [`down_sql`](Self::down_sql) on `conn`.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub async fn revert<C: ConnectionTrait>(
        &self,
        conn: &C,
        registry: &TableRegistry,
    ) -> Result<(), RlsError> {
        run_all(conn, self.down_sql(registry)).await
    }

    /// Checks, at start-up, that the policies bind the role `conn` runs as,
    /// and returns the proof that switches connections into RLS mode.
    ///
    /// The role must not be a superuser nor have `BYPASSRLS`; every scoped
    /// table must exist, have row-level security enabled, `FORCE` on where
    /// the role owns it (owners bypass policies otherwise), and both
    /// tenancy policies reading this setting.
    ///
    /// ```no_run
    /// use sea_orm::Database;
    /// use tenancy_seaorm::{RowLevelSecurity, TableRegistry, TenantConnection};
    ///
    /// # async fn boot() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = Database::connect("postgres://app@127.0.0.1/crm").await?;
    /// let registry = TableRegistry::builder().scoped_table("leads").build()?;
    /// // Refuses to start if the policies would not bind this role.
    /// let rls = RowLevelSecurity::new().boot_check(&db, &registry).await?;
    ///
    /// // Per request:
    /// let scoped = TenantConnection::new(db.clone(), registry.clone(), 7).with_rls(&rls);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The first problem found, as an [`RlsError`].
    pub async fn boot_check<C: ConnectionTrait>(
        &self,
        conn: &C,
        registry: &TableRegistry,
    ) -> Result<VerifiedRls, RlsError> {
        ensure_postgres(conn)?;
        let role = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_user::text AS role, rolsuper, rolbypassrls \
                 FROM pg_roles WHERE rolname = current_user",
            ))
            .await?
            .ok_or_else(|| RlsError::Db(DbErr::RecordNotFound("the current role".into())))?;
        let name: String = role.try_get("", "role")?;
        if role.try_get::<bool>("", "rolsuper")? {
            return Err(RlsError::Superuser(name));
        }
        if role.try_get::<bool>("", "rolbypassrls")? {
            return Err(RlsError::BypassRls(name));
        }
        for (table, _) in registry.scoped_tables() {
            let row = conn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT c.relrowsecurity, c.relforcerowsecurity, \
                     pg_has_role(current_user, c.relowner, 'USAGE') AS owned, \
                     (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid \
                        AND p.polcmd = '*' AND p.polpermissive \
                        AND p.polname = $2 \
                        AND strpos(pg_get_expr(p.polqual, p.polrelid), $4) > 0 \
                        AND strpos(pg_get_expr(p.polwithcheck, p.polrelid), $4) > 0) AS access, \
                     (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid \
                        AND p.polcmd = '*' AND NOT p.polpermissive \
                        AND p.polname = $3 \
                        AND strpos(pg_get_expr(p.polqual, p.polrelid), $4) > 0 \
                        AND strpos(pg_get_expr(p.polwithcheck, p.polrelid), $4) > 0) AS wall \
                     FROM pg_class c WHERE c.oid = to_regclass(quote_ident($1))",
                    [
                        table.into(),
                        ACCESS_POLICY.into(),
                        WALL_POLICY.into(),
                        format!("'{}'", self.setting).into(),
                    ],
                ))
                .await?
                .ok_or_else(|| RlsError::MissingTable(table.to_owned()))?;
            if !row.try_get::<bool>("", "relrowsecurity")? {
                return Err(RlsError::NotEnabled(table.to_owned()));
            }
            if row.try_get::<bool>("", "owned")?
                && !row.try_get::<bool>("", "relforcerowsecurity")?
            {
                return Err(RlsError::NotForced {
                    table: table.to_owned(),
                    role: name,
                });
            }
            for (policy, column) in [(ACCESS_POLICY, "access"), (WALL_POLICY, "wall")] {
                if row.try_get::<i64>("", column)? != 1 {
                    return Err(RlsError::MissingPolicy {
                        table: table.to_owned(),
                        policy,
                        setting: self.setting.clone(),
                    });
                }
            }
        }
        tracing::info!(
            role = %name,
            setting = %self.setting,
            "tenancy: row-level security verified"
        );
        Ok(VerifiedRls {
            setting: Arc::from(self.setting.as_str()),
        })
    }
}

/// Proof that [`RowLevelSecurity::boot_check`] passed: what
/// [`TenantConnection::with_rls`](crate::TenantConnection::with_rls) takes.
/// Cheap to clone; keep it beside the registry.
#[derive(Debug, Clone)]
pub struct VerifiedRls {
    pub(crate) setting: Arc<str>,
}

impl VerifiedRls {
    /// The setting the connection sets in each transaction.
    pub fn setting(&self) -> &str {
        &self.setting
    }
}

/// The statement that sets the tenant for the rest of the transaction.
pub(crate) fn set_tenant(setting: &str, tenant: TenantId) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config($1, $2, true)",
        [setting.into(), tenant.to_string().into()],
    )
}

fn ensure_postgres<C: ConnectionTrait>(conn: &C) -> Result<(), RlsError> {
    match conn.get_database_backend() {
        DbBackend::Postgres => Ok(()),
        other => Err(RlsError::NotPostgres(format!("{other:?}").to_lowercase())),
    }
}

async fn run_all<C: ConnectionTrait>(conn: &C, sql: Vec<String>) -> Result<(), RlsError> {
    ensure_postgres(conn)?;
    for statement in sql {
        conn.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// `prefix.name`, both parts lowercase identifiers: safe to put in SQL text.
fn valid_setting(name: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    matches!(name.split_once('.'), Some((a, b)) if part(a) && part(b))
}

/// A PostgreSQL quoted identifier.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_names_are_checked() {
        for good in ["tenancy.tenant_id", "app.t1", "_a._b"] {
            assert!(valid_setting(good), "{good}");
        }
        for bad in [
            "", "tenant", "a.b.c", "A.b", "a.", ".b", "a.b'", "a.b)--", "1a.b",
        ] {
            assert!(!valid_setting(bad), "{bad}");
        }
    }

    #[test]
    fn policies_for_every_scoped_table_and_no_global_one() {
        let registry = TableRegistry::builder()
            .scoped_table("leads")
            .scoped_table_by("calls", "company_id")
            .global_table("regions")
            .build()
            .unwrap();
        let sql = RowLevelSecurity::new()
            .stamp_default(true)
            .up_sql(&registry);
        let expr = "(SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint)";
        assert_eq!(
            sql,
            [
                r#"ALTER TABLE "calls" ENABLE ROW LEVEL SECURITY"#.to_owned(),
                r#"ALTER TABLE "calls" FORCE ROW LEVEL SECURITY"#.to_owned(),
                r#"DROP POLICY IF EXISTS tenancy_tenant_access ON "calls""#.to_owned(),
                format!(
                    r#"CREATE POLICY tenancy_tenant_access ON "calls" AS PERMISSIVE FOR ALL USING ("company_id" = {expr}) WITH CHECK ("company_id" = {expr})"#
                ),
                r#"DROP POLICY IF EXISTS tenancy_tenant_wall ON "calls""#.to_owned(),
                format!(
                    r#"CREATE POLICY tenancy_tenant_wall ON "calls" AS RESTRICTIVE FOR ALL USING ("company_id" = {expr}) WITH CHECK ("company_id" = {expr})"#
                ),
                r#"ALTER TABLE "calls" ALTER COLUMN "company_id" SET DEFAULT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint"#.to_owned(),
                r#"ALTER TABLE "leads" ENABLE ROW LEVEL SECURITY"#.to_owned(),
                r#"ALTER TABLE "leads" FORCE ROW LEVEL SECURITY"#.to_owned(),
                r#"DROP POLICY IF EXISTS tenancy_tenant_access ON "leads""#.to_owned(),
                format!(
                    r#"CREATE POLICY tenancy_tenant_access ON "leads" AS PERMISSIVE FOR ALL USING ("entity_id" = {expr}) WITH CHECK ("entity_id" = {expr})"#
                ),
                r#"DROP POLICY IF EXISTS tenancy_tenant_wall ON "leads""#.to_owned(),
                format!(
                    r#"CREATE POLICY tenancy_tenant_wall ON "leads" AS RESTRICTIVE FOR ALL USING ("entity_id" = {expr}) WITH CHECK ("entity_id" = {expr})"#
                ),
                r#"ALTER TABLE "leads" ALTER COLUMN "entity_id" SET DEFAULT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint"#.to_owned(),
            ]
        );
        assert!(sql.iter().all(|s| !s.contains("regions")));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote(r#"we"ird"#), r#""we""ird""#);
    }

    #[test]
    fn down_undoes_up() {
        let registry = TableRegistry::builder()
            .scoped_table("leads")
            .build()
            .unwrap();
        assert_eq!(
            RowLevelSecurity::new().down_sql(&registry),
            [
                r#"DROP POLICY IF EXISTS tenancy_tenant_wall ON "leads""#,
                r#"DROP POLICY IF EXISTS tenancy_tenant_access ON "leads""#,
                r#"ALTER TABLE "leads" NO FORCE ROW LEVEL SECURITY"#,
                r#"ALTER TABLE "leads" DISABLE ROW LEVEL SECURITY"#,
            ]
        );
    }
}
