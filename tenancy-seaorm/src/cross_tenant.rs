//! The one way to read across tenants: a separate, read-only, audited handle.
//!
//! Platform-wide reporting (how many calls did every company make this
//! week?) has to read every tenant's rows. It must not do that by riding on
//! some tenant's session, and it must not be able to write. A
//! [`CrossTenantReader`] is built on purpose, with the name of who reads and
//! why, and an [`AuditSink`] that records every statement before it runs:
//!
//! - only plain reads run: every statement is checked by the same parser and
//!   rules as a [`TenantConnection`](crate::TenantConnection) (registered
//!   tables only, no functions that run SQL text or touch files, one
//!   statement), must be a `SELECT` without a locking clause, and is sent as
//!   re-rendered from its parse tree (so comments, including MySQL's
//!   executable `/*! */`, never reach the database);
//! - writes (`execute`) are refused with [`Refusal::ReadOnly`];
//! - on PostgreSQL and MySQL each read runs in a `READ ONLY` transaction, so
//!   the database itself refuses a write that got past the checks;
//! - the audit record is written first; if it fails, the read does not run
//!   ([`Refusal::Unaudited`]).
//!
//! It implements [`ConnectionTrait`], so SeaORM's query API works on it.
//!
//! ```
//! use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
//! use tenancy_seaorm::{CrossTenantReader, Refusal, TableRegistry, cross_tenant::MemoryAudit};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.execute_unprepared("CREATE TABLE calls (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL)").await?;
//! db.execute_unprepared("INSERT INTO calls VALUES (1, 1), (2, 2), (3, 2)").await?;
//! let registry = TableRegistry::builder().scoped_table("calls").build()?;
//!
//! let audit = MemoryAudit::default();
//! let reader = CrossTenantReader::new(db, registry, "ops@platform", "weekly report", audit.clone());
//! let per_tenant = reader
//!     .query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT entity_id, COUNT(*) AS n FROM calls GROUP BY entity_id"))
//!     .await?;
//! assert_eq!(per_tenant.len(), 2);
//! assert_eq!(audit.records()[0].actor, "ops@platform");
//!
//! let err = reader.execute_unprepared("DELETE FROM calls").await.unwrap_err();
//! assert_eq!(Refusal::from_db_err(&err), Some(&Refusal::ReadOnly("DELETE".into())));
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement,
    TransactionSession, TransactionTrait,
};

use crate::{Refusal, TableRegistry};

/// One cross-tenant read, as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrossTenantRead {
    /// Who reads (an operator account, a job name).
    pub actor: String,
    /// Why (shown in the audit trail).
    pub purpose: String,
    /// The statement that runs (re-rendered, without bound values).
    pub sql: String,
}

/// Where cross-tenant reads are recorded. The read runs only after
/// [`record`](Self::record) succeeds.
#[async_trait::async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug + 'static {
    /// Records `read`.
    ///
    /// # Errors
    ///
    /// Any error stops the read.
    async fn record(&self, read: &CrossTenantRead) -> Result<(), DbErr>;
}

/// An [`AuditSink`] that keeps records in memory (tests, examples) and
/// logs each one at INFO.
#[derive(Debug, Clone, Default)]
pub struct MemoryAudit {
    records: Arc<Mutex<Vec<CrossTenantRead>>>,
}

impl MemoryAudit {
    /// Every record so far.
    pub fn records(&self) -> Vec<CrossTenantRead> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait::async_trait]
impl AuditSink for MemoryAudit {
    async fn record(&self, read: &CrossTenantRead) -> Result<(), DbErr> {
        tracing::info!(actor = %read.actor, purpose = %read.purpose, "cross-tenant read");
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(read.clone());
        Ok(())
    }
}

/// A read-only connection to every tenant's rows, for platform reporting.
/// See the [module docs](self).
pub struct CrossTenantReader<C> {
    conn: C,
    registry: TableRegistry,
    actor: String,
    purpose: String,
    audit: Arc<dyn AuditSink>,
}

impl<C> fmt::Debug for CrossTenantReader<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossTenantReader")
            .field("actor", &self.actor)
            .field("purpose", &self.purpose)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl<C> CrossTenantReader<C> {
    /// A reader over `conn` for `actor`, reading for `purpose`, recording
    /// every statement in `audit`. Only tables in `registry` can be read.
    pub fn new(
        conn: C,
        registry: TableRegistry,
        actor: impl Into<String>,
        purpose: impl Into<String>,
        audit: impl AuditSink,
    ) -> Self {
        Self {
            conn,
            registry,
            actor: actor.into(),
            purpose: purpose.into(),
            audit: Arc::new(audit),
        }
    }

    /// Who reads.
    pub fn actor(&self) -> &str {
        &self.actor
    }
}

impl<C: ConnectionTrait + TransactionTrait + Send + Sync> CrossTenantReader<C> {
    /// Checks, audits and re-renders `stmt`; the statement to run.
    async fn checked(&self, stmt: Statement) -> Result<Statement, DbErr> {
        let stmt = self
            .registry
            .read_statement(stmt)
            .map_err(Refusal::into_db_err)?;
        let read = CrossTenantRead {
            actor: self.actor.clone(),
            purpose: self.purpose.clone(),
            sql: stmt.sql.clone(),
        };
        if let Err(e) = self.audit.record(&read).await {
            tracing::warn!(actor = %self.actor, error = %e, "cross-tenant read refused: audit failed");
            return Err(Refusal::Unaudited(e.to_string()).into_db_err());
        }
        Ok(stmt)
    }

    /// Whether reads run in a `READ ONLY` transaction (SQLite has none).
    fn read_only_transactions(&self) -> bool {
        self.conn.get_database_backend() != DbBackend::Sqlite
    }
}

fn refuse_write(sql: &str) -> DbErr {
    let word = sql
        .split_whitespace()
        .next()
        .unwrap_or("empty statement")
        .to_uppercase();
    Refusal::ReadOnly(word).into_db_err()
}

#[async_trait::async_trait]
impl<C: ConnectionTrait + TransactionTrait + Send + Sync> ConnectionTrait for CrossTenantReader<C> {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        Err(refuse_write(&stmt.sql))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        Err(refuse_write(sql))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let stmt = self.checked(stmt).await?;
        if !self.read_only_transactions() {
            return self.conn.query_one_raw(stmt).await;
        }
        let txn = self
            .conn
            .begin_with_config(None, Some(AccessMode::ReadOnly))
            .await?;
        let row = txn.query_one_raw(stmt).await?;
        txn.commit().await?;
        Ok(row)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let stmt = self.checked(stmt).await?;
        if !self.read_only_transactions() {
            return self.conn.query_all_raw(stmt).await;
        }
        let txn = self
            .conn
            .begin_with_config(None, Some(AccessMode::ReadOnly))
            .await?;
        let rows = txn.query_all_raw(stmt).await?;
        txn.commit().await?;
        Ok(rows)
    }
}
