//! The tenant-scoped connection and its transaction.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, StreamTrait, TransactionError,
    TransactionOptions, TransactionSession, TransactionTrait,
};
use tenancy_core::TenantId;
use tracing::Instrument;

use crate::{
    TableRegistry,
    rls::{self, RlsError, VerifiedRls},
};

/// A SeaORM connection that can only reach one tenant's rows.
///
/// Every statement, whether SeaORM built it or you wrote it as raw SQL, is
/// rewritten for the tenant before it is sent, or refused with a
/// [`Refusal`](crate::Refusal) (inside the returned [`DbErr`]; see [`Refusal::from_db_err`](crate::Refusal::from_db_err)).
/// It implements [`ConnectionTrait`], [`TransactionTrait`] and
/// [`StreamTrait`], so every SeaORM API takes it where it takes a
/// `DatabaseConnection`.
///
/// There is no way to build one without a tenant, and no way to get the
/// unscoped connection back out of it:
///
/// ```compile_fail
/// # use sea_orm::DatabaseConnection;
/// # use tenancy_seaorm::{TableRegistry, TenantConnection};
/// fn no_tenant(db: DatabaseConnection, registry: TableRegistry) -> TenantConnection {
///     TenantConnection::new(db, registry) // a tenant is a required argument
/// }
/// ```
///
/// ```compile_fail
/// # use sea_orm::DatabaseConnection;
/// # use tenancy_seaorm::TenantConnection;
/// fn escape(scoped: TenantConnection) -> DatabaseConnection {
///     scoped.conn // private: crossing tenants is a separate, explicit handle
/// }
/// ```
///
/// ```no_run
/// use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
/// use tenancy_seaorm::{Refusal, TableRegistry, TenantConnection};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite::memory:").await?;
/// let registry = TableRegistry::builder().scoped_table("leads").build()?;
/// let golden_key = TenantConnection::new(db, registry, 1);
///
/// // Sees only tenant 1's leads, however the query is written.
/// let rows = golden_key
///     .query_all_raw(Statement::from_string(
///         DbBackend::Sqlite,
///         "SELECT name FROM leads WHERE status = 'new' OR 1 = 1",
///     ))
///     .await?;
///
/// // Tables nobody registered are refused before reaching the database.
/// let err = golden_key
///     .query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT * FROM sqlite_master"))
///     .await
///     .unwrap_err();
/// assert!(matches!(Refusal::from_db_err(&err), Some(Refusal::UnregisteredTable(_))));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TenantConnection<C = DatabaseConnection> {
    conn: C,
    scope: Scope,
    /// RLS mode, the one place it is recorded: the setting each transaction
    /// sets, and how a single statement gets a transaction of its own. The
    /// rewrite stays on: RLS is a second wall, never a replacement.
    rls: Option<Arc<dyn Wrap>>,
}

/// A transaction begun on a [`TenantConnection`]; scoped the same way.
pub struct TenantTransaction<T = DatabaseTransaction> {
    txn: T,
    scope: Scope,
    /// Whether the tenant was set in it for row-level security (once, at
    /// `BEGIN`; nested transactions inherit it).
    rls: bool,
}

/// What both the connection and its transactions carry.
#[derive(Clone)]
struct Scope {
    registry: TableRegistry,
    tenant: TenantId,
}

impl<C> fmt::Debug for TenantConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConnection")
            .field("tenant", &self.scope.tenant)
            .field("rls", &self.is_rls())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for TenantTransaction<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantTransaction")
            .field("tenant", &self.scope.tenant)
            .field("rls", &self.rls)
            .finish_non_exhaustive()
    }
}

impl<C> TenantConnection<C> {
    /// Scopes `conn` to `tenant`, with the tables `registry` knows.
    pub fn new(conn: C, registry: TableRegistry, tenant: impl Into<TenantId>) -> Self {
        Self {
            conn,
            scope: Scope {
                registry,
                tenant: tenant.into(),
            },
            rls: None,
        }
    }

    /// Scopes `conn` to the tenant of the enclosing
    /// [`TenantContext::scope`](tenancy_core::TenantContext::scope).
    ///
    /// # Errors
    ///
    /// [`tenancy_core::Error::NoTenant`] outside a tenant scope.
    pub fn from_current(conn: C, registry: TableRegistry) -> Result<Self, tenancy_core::Error> {
        let ctx = tenancy_core::current()?;
        Ok(Self::new(conn, registry, ctx.tenant()))
    }

    /// The tenant this connection is scoped to.
    pub fn tenant(&self) -> TenantId {
        self.scope.tenant
    }

    /// The registry of tables this connection checks against.
    pub fn registry(&self) -> &TableRegistry {
        &self.scope.registry
    }

    /// Whether this connection is in RLS mode (see
    /// [`with_rls`](Self::with_rls)).
    pub fn is_rls(&self) -> bool {
        self.rls.is_some()
    }
}

impl<C> TenantConnection<C>
where
    C: ConnectionTrait + TransactionTrait + Clone + Send + Sync + 'static,
    C::Transaction: Sync,
{
    /// Switches the connection into RLS mode: on top of the rewrite, every
    /// transaction sets the tenant with `set_config(setting, tenant, true)`
    /// for PostgreSQL's row-level-security policies (see [`crate::rls`]).
    ///
    /// - A [`TenantTransaction`] sets it once, right after `BEGIN`.
    /// - A single statement outside a transaction runs in its own
    ///   transaction that sets it first (`BEGIN`, `set_config`, the
    ///   statement, `COMMIT`: four round trips instead of one; the
    ///   benchmark measures the cost).
    /// - The setting is never set at session level, so it can't outlive
    ///   the transaction: safe behind a transaction-pooling proxy.
    /// - Streams need a transaction: [`stream_raw`](StreamTrait::stream_raw)
    ///   on the connection itself fails with
    ///   [`RlsError::StreamOutsideTransaction`]; begin a transaction and
    ///   stream inside it.
    ///
    /// `rls` comes from [`RowLevelSecurity::boot_check`](crate::RowLevelSecurity::boot_check),
    /// so a connection can't enter RLS mode on a database whose policies
    /// were never verified. On a backend other than PostgreSQL every
    /// statement fails with [`RlsError::NotPostgres`].
    ///
    /// The policies add to the rewrite; nothing turns the rewrite off, in
    /// any build or feature set, so no crate in an application's graph can
    /// either. (Tests that prove the policies hold on their own send
    /// statements through `tenancy-testkit`'s `PoliciesOnly` instead.)
    ///
    /// ```compile_fail,E0599
    /// # fn demo(scoped: tenancy_seaorm::TenantConnection) {
    /// let unscoped = scoped.rewrite_off_for_testing(); // no such method
    /// # }
    /// ```
    pub fn with_rls(mut self, rls: &VerifiedRls) -> Self {
        self.rls = Some(Arc::new(InTransaction {
            conn: self.conn.clone(),
            setting: Arc::clone(&rls.setting),
            tenant: self.scope.tenant,
        }));
        self
    }
}

/// RLS mode: the setting, and one statement run in its own transaction
/// that sets it (outside a transaction). Type-erased so the connection's
/// trait impls keep their bounds: only [`TenantConnection::with_rls`] needs
/// `TransactionTrait`.
#[async_trait::async_trait]
trait Wrap: Send + Sync {
    fn setting(&self) -> &str;
    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr>;
    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr>;
    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr>;
}

struct InTransaction<C> {
    conn: C,
    setting: Arc<str>,
    tenant: TenantId,
}

impl<C> InTransaction<C>
where
    C: ConnectionTrait + TransactionTrait + Send + Sync,
    C::Transaction: Sync,
{
    /// Begins a transaction and sets the tenant in it.
    async fn begin(&self) -> Result<C::Transaction, DbErr> {
        if self.conn.get_database_backend() != DbBackend::Postgres {
            return Err(not_postgres(self.conn.get_database_backend()));
        }
        let txn = self.conn.begin().await?;
        txn.execute_raw(rls::set_tenant(&self.setting, self.tenant))
            .await?;
        Ok(txn)
    }

    /// Commits after `Ok`, rolls back after `Err`.
    async fn finish<R>(txn: C::Transaction, result: Result<R, DbErr>) -> Result<R, DbErr> {
        match result {
            Ok(value) => {
                txn.commit().await?;
                Ok(value)
            }
            Err(err) => {
                // The statement's error is the one to report; a failed
                // rollback ends the connection's transaction anyway.
                let _ = txn.rollback().await;
                Err(err)
            }
        }
    }
}

#[async_trait::async_trait]
impl<C> Wrap for InTransaction<C>
where
    C: ConnectionTrait + TransactionTrait + Send + Sync,
    C::Transaction: Sync,
{
    fn setting(&self) -> &str {
        &self.setting
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let txn = self.begin().await?;
        let result = txn.execute_raw(stmt).await;
        Self::finish(txn, result).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let txn = self.begin().await?;
        let result = txn.query_one_raw(stmt).await;
        Self::finish(txn, result).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let txn = self.begin().await?;
        let result = txn.query_all_raw(stmt).await;
        Self::finish(txn, result).await
    }
}

fn not_postgres(backend: DbBackend) -> DbErr {
    RlsError::NotPostgres(format!("{backend:?}").to_lowercase()).into_db_err()
}

impl<C> TenantConnection<C> {
    fn wrapper(&self) -> Option<&dyn Wrap> {
        self.rls.as_deref()
    }

    /// Wraps a transaction just begun on the inner connection; in RLS mode,
    /// sets the tenant in it first.
    async fn start<T: ConnectionTrait>(&self, txn: T) -> Result<TenantTransaction<T>, DbErr> {
        if let Some(rls) = &self.rls {
            let backend = txn.get_database_backend();
            if backend != DbBackend::Postgres {
                return Err(not_postgres(backend));
            }
            txn.execute_raw(rls::set_tenant(rls.setting(), self.scope.tenant))
                .await?;
        }
        Ok(TenantTransaction {
            txn,
            scope: self.scope.clone(),
            rls: self.rls.is_some(),
        })
    }
}

impl<T> TenantTransaction<T> {
    /// Statements in a transaction run in it; nothing to wrap.
    fn wrapper(&self) -> Option<&dyn Wrap> {
        None
    }
}

impl<T> TenantTransaction<T> {
    /// Scopes a transaction the crate began itself (tenant onboarding,
    /// where the directory rows and the tenant's first rows share one
    /// transaction). Not public: users begin scoped transactions from a
    /// [`TenantConnection`].
    pub(crate) fn scope_own(txn: T, registry: TableRegistry, tenant: TenantId) -> Self {
        Self {
            txn,
            scope: Scope { registry, tenant },
            rls: false,
        }
    }

    /// The tenant this transaction is scoped to.
    pub fn tenant(&self) -> TenantId {
        self.scope.tenant
    }
}

impl Scope {
    /// Rewrites `stmt`, or logs and returns the refusal. The span carries the
    /// tenant for whatever the driver logs while running the statement.
    fn prepare(&self, stmt: Statement) -> Result<(Statement, tracing::Span), DbErr> {
        match self.registry.scope_with_kind(stmt, self.tenant) {
            Ok((stmt, kind)) => {
                let span = tracing::debug_span!(
                    "tenancy.statement",
                    tenant = %self.tenant,
                    kind = kind.as_str()
                );
                Ok((stmt, span))
            }
            Err(refusal) => {
                // The reason names tables and constructs, never bound values.
                tracing::warn!(
                    tenant = %self.tenant,
                    refusal = refusal.kind(),
                    reason = %refusal,
                    "tenancy: statement refused"
                );
                Err(refusal.into_db_err())
            }
        }
    }

    fn unprepared(
        &self,
        backend: DbBackend,
        sql: &str,
    ) -> Result<(Statement, tracing::Span), DbErr> {
        // No values: the tenant still goes in as a bind parameter, so the
        // statement is sent prepared.
        self.prepare(Statement::from_string(backend, sql))
    }
}

/// Implements `ConnectionTrait` for a wrapper with fields `$inner` and `scope`.
macro_rules! scoped_connection_trait {
    ($ty:ident, $inner:ident, $param:ident) => {
        #[async_trait::async_trait]
        impl<$param: ConnectionTrait + Send + Sync> ConnectionTrait for $ty<$param> {
            fn get_database_backend(&self) -> DbBackend {
                self.$inner.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                let (stmt, span) = self.scope.prepare(stmt)?;
                match self.wrapper() {
                    Some(wrap) => wrap.execute(stmt).instrument(span).await,
                    None => self.$inner.execute_raw(stmt).instrument(span).await,
                }
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                let (stmt, span) = self.scope.unprepared(self.get_database_backend(), sql)?;
                match self.wrapper() {
                    Some(wrap) => wrap.execute(stmt).instrument(span).await,
                    None => self.$inner.execute_raw(stmt).instrument(span).await,
                }
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                let (stmt, span) = self.scope.prepare(stmt)?;
                match self.wrapper() {
                    Some(wrap) => wrap.query_one(stmt).instrument(span).await,
                    None => self.$inner.query_one_raw(stmt).instrument(span).await,
                }
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                let (stmt, span) = self.scope.prepare(stmt)?;
                match self.wrapper() {
                    Some(wrap) => wrap.query_all(stmt).instrument(span).await,
                    None => self.$inner.query_all_raw(stmt).instrument(span).await,
                }
            }

            fn support_returning(&self) -> bool {
                self.$inner.support_returning()
            }
        }

        impl<$param: StreamTrait> StreamTrait for $ty<$param> {
            type Stream<'a>
                = $param::Stream<'a>
            where
                Self: 'a;

            fn get_database_backend(&self) -> DbBackend {
                StreamTrait::get_database_backend(&self.$inner)
            }

            fn stream_raw<'a>(
                &'a self,
                stmt: Statement,
            ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
                if self.wrapper().is_some() {
                    let err = RlsError::StreamOutsideTransaction.into_db_err();
                    return Box::pin(async move { Err(err) });
                }
                match self.scope.prepare(stmt) {
                    Ok((stmt, span)) => Box::pin(self.$inner.stream_raw(stmt).instrument(span)),
                    Err(err) => Box::pin(async move { Err(err) }),
                }
            }
        }
    };
}

scoped_connection_trait!(TenantConnection, conn, C);
scoped_connection_trait!(TenantTransaction, txn, T);

#[async_trait::async_trait]
impl<C> TransactionTrait for TenantConnection<C>
where
    C: TransactionTrait + Send + Sync,
    C::Transaction: Sync,
{
    type Transaction = TenantTransaction<C::Transaction>;

    async fn begin(&self) -> Result<Self::Transaction, DbErr> {
        let txn = self.conn.begin().await?;
        self.start(txn).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<Self::Transaction, DbErr> {
        let txn = self
            .conn
            .begin_with_config(isolation_level, access_mode)
            .await?;
        self.start(txn).await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<Self::Transaction, DbErr> {
        let txn = self.conn.begin_with_options(options).await?;
        self.start(txn).await
    }

    async fn transaction<F, R, E>(&self, callback: F) -> Result<R, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c Self::Transaction,
            ) -> Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'c>>
            + Send,
        R: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let txn = self.begin().await.map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }

    async fn transaction_with_config<F, R, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<R, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c Self::Transaction,
            ) -> Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'c>>
            + Send,
        R: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }
}

#[async_trait::async_trait]
impl<T> TransactionTrait for TenantTransaction<T>
where
    T: TransactionTrait<Transaction = T> + ConnectionTrait + TransactionSession + Send + Sync,
{
    type Transaction = TenantTransaction<T>;

    async fn begin(&self) -> Result<Self::Transaction, DbErr> {
        let txn = self.txn.begin().await?;
        Ok(TenantTransaction {
            txn,
            scope: self.scope.clone(),
            rls: self.rls,
        })
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<Self::Transaction, DbErr> {
        let txn = self
            .txn
            .begin_with_config(isolation_level, access_mode)
            .await?;
        Ok(TenantTransaction {
            txn,
            scope: self.scope.clone(),
            rls: self.rls,
        })
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<Self::Transaction, DbErr> {
        let txn = self.txn.begin_with_options(options).await?;
        Ok(TenantTransaction {
            txn,
            scope: self.scope.clone(),
            rls: self.rls,
        })
    }

    async fn transaction<F, R, E>(&self, callback: F) -> Result<R, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c Self::Transaction,
            ) -> Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'c>>
            + Send,
        R: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let txn = self.begin().await.map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }

    async fn transaction_with_config<F, R, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<R, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c Self::Transaction,
            ) -> Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'c>>
            + Send,
        R: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }
}

#[async_trait::async_trait]
impl<T: TransactionSession + Send> TransactionSession for TenantTransaction<T> {
    async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl<T: TransactionSession + Send + Sync> TenantTransaction<T> {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        TransactionSession::commit(self).await
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<(), DbErr> {
        TransactionSession::rollback(self).await
    }

    /// Runs `callback`, then commits on `Ok` and rolls back on `Err`.
    async fn run<F, R, E>(self, callback: F) -> Result<R, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c Self) -> Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'c>>
            + Send,
        R: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let result = callback(&self).await.map_err(TransactionError::Transaction);
        if result.is_ok() {
            self.commit().await.map_err(TransactionError::Connection)?;
        } else {
            self.rollback()
                .await
                .map_err(TransactionError::Connection)?;
        }
        result
    }
}
