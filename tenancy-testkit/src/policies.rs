//! A connection on which PostgreSQL's row-level-security policies are the
//! only wall: what proves they hold on their own.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};

/// Sends every statement exactly as written, each in its own transaction
/// that first sets the tenant for the policies with
/// `set_config(setting, tenant, true)`, as `TenantConnection::with_rls` does,
/// but without the rewrite in front.
///
/// `tenancy-seaorm` has no switch that turns its rewrite off, so that no
/// crate in an application's graph can turn it off either. The tests that
/// prove the policies scope on their own use this connection instead: it is
/// test code and lives here, outside every published crate.
///
/// ```no_run
/// use sea_orm::{ConnectionTrait, Database};
/// use tenancy_testkit::PoliciesOnly;
///
/// # async fn demo() -> Result<(), sea_orm::DbErr> {
/// // Connected as a role the policies apply to (not a superuser, no BYPASSRLS).
/// let app = Database::connect("postgres://app@127.0.0.1/test").await?;
/// let tenant_2 = PoliciesOnly::new(app, "tenancy.tenant_id", 2);
/// // No rewrite: only the policies keep the other tenants' rows out.
/// tenant_2.execute_unprepared("DELETE FROM leads WHERE 1 = 1").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PoliciesOnly {
    conn: DatabaseConnection,
    setting: String,
    tenant: String,
}

impl PoliciesOnly {
    /// Runs statements on `conn` with `setting` set to `tenant` (its
    /// `Display` form, as the policies read it).
    pub fn new(conn: DatabaseConnection, setting: &str, tenant: impl ToString) -> Self {
        Self {
            conn,
            setting: setting.to_owned(),
            tenant: tenant.to_string(),
        }
    }

    /// Begins a transaction and sets the tenant in it, for this transaction
    /// only.
    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.conn.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [self.setting.as_str().into(), self.tenant.as_str().into()],
        ))
        .await?;
        Ok(txn)
    }
}

/// Commits after `Ok`, rolls back after `Err`.
async fn finish<R>(txn: DatabaseTransaction, result: Result<R, DbErr>) -> Result<R, DbErr> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(err) => {
            // The statement's error is the one worth reporting.
            let _ = txn.rollback().await;
            Err(err)
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for PoliciesOnly {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let txn = self.begin().await?;
        let result = txn.execute_raw(stmt).await;
        finish(txn, result).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        // Prepared, as the scoped connection sends it: one statement only,
        // so a second one can't run after a `set_config` of its own.
        self.execute_raw(Statement::from_string(self.get_database_backend(), sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let txn = self.begin().await?;
        let result = txn.query_one_raw(stmt).await;
        finish(txn, result).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let txn = self.begin().await?;
        let result = txn.query_all_raw(stmt).await;
        finish(txn, result).await
    }

    fn support_returning(&self) -> bool {
        self.conn.support_returning()
    }
}
