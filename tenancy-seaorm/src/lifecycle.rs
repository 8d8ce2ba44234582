//! Tenant lifecycle: onboard a tenant in one transaction, export all of its
//! rows, purge it in one transaction.
//!
//! Onboarding an operating company should be inserting rows, not a
//! project: [`onboard`] writes the tenant's directory entry and domains and
//! runs your initial setup (its first pipelines, users, settings) through a
//! transaction scoped to the new tenant, all or nothing. [`export_tenant`]
//! writes every row of every scoped table that belongs to one tenant as
//! JSON lines, and [`purge_tenant`] deletes them, children before parents
//! (the order comes from the foreign keys in the catalogs), with a dry run
//! that only counts.
//!
//! Reads and deletes go through a [`TenantTransaction`], so the rewrite
//! scopes them like any tenant statement: the lifecycle can't reach another
//! tenant's rows either.
//!
//! ```
//! use sea_orm::{ConnectionTrait, Database};
//! use tenancy_core::{Domain, directory::Tenant};
//! use tenancy_seaorm::{PurgeMode, TableRegistry, directory_store, lifecycle};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! let registry = TableRegistry::builder().scoped_table("pipelines").build()?;
//! directory_store::migrate(&db, registry.tenant_key()).await?;
//! db.execute_unprepared("CREATE TABLE pipelines (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (entity_id, id))").await?;
//!
//! lifecycle::onboard(&db, &registry, &Tenant::new(7, "stone", "Stone & Co"),
//!     &[Domain::parse("stone.example")?], |txn| Box::pin(async move {
//!         // Scoped to tenant 7: the tenant column is filled in.
//!         txn.execute_unprepared("INSERT INTO pipelines (id, name) VALUES (1, 'Sales')").await?;
//!         Ok(())
//!     })).await?;
//!
//! let mut out = Vec::new();
//! lifecycle::export_tenant(&db, &registry, 7.into(), &mut out).await?;
//! assert_eq!(String::from_utf8(out)?, "{\"row\":{\"entity_id\":7,\"id\":1,\"name\":\"Sales\"},\"table\":\"pipelines\"}\n");
//!
//! let dry = lifecycle::purge_tenant(&db, &registry, 7.into(), PurgeMode::DryRun).await?;
//! assert_eq!(dry.rows, [("pipelines".to_owned(), 1)]);
//! # Ok(()) }
//! ```

use std::{future::Future, io::Write, pin::Pin};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, JsonValue, Statement,
    TransactionTrait,
};
use tenancy_core::{Domain, TenantId, directory::Tenant};
use tracing::Instrument;

use crate::{
    DirectoryWriteError, TableRegistry, TenantTransaction, directory_store, rls::quote,
    schema_audit,
};

/// Why a lifecycle operation failed. Nothing was changed (each write
/// operation is one transaction).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The directory refused the tenant or a domain (taken, invalid slug, ...).
    #[error("onboarding refused by the directory")]
    Directory(#[source] DirectoryWriteError),
    /// The caller's initial setup failed; the onboarding was rolled back.
    #[error("the initial setup of tenant {tenant} failed; nothing was onboarded")]
    Setup {
        /// The tenant being onboarded.
        tenant: TenantId,
        /// What the setup returned.
        #[source]
        source: DbErr,
    },
    /// A scoped table named in the registry is not in the database.
    #[error("scoped table `{0}` does not exist")]
    MissingTable(String),
    /// Foreign keys between scoped tables form a cycle, so no delete order
    /// is safe.
    #[error("foreign keys between scoped tables form a cycle through {}", .0.join(", "))]
    ForeignKeyCycle(Vec<String>),
    /// Writing the export failed.
    #[error("writing the export failed")]
    Io(#[source] std::io::Error),
    /// The initial configuration could not be stored; nothing was
    /// onboarded.
    #[error(
        "the initial configuration of tenant {tenant} could not be stored; nothing was onboarded"
    )]
    Config {
        /// The tenant being onboarded.
        tenant: TenantId,
        /// Why.
        #[source]
        source: tenancy_config::StoreError,
    },
    /// An initial change was for another scope than the tenant being
    /// onboarded (another tenant, global, forced); nothing was onboarded.
    #[error(
        "an initial config change for {scope} in the onboarding of tenant {tenant}; nothing was onboarded"
    )]
    ConfigScope {
        /// The tenant being onboarded.
        tenant: TenantId,
        /// The scope the change was for.
        scope: tenancy_config::Scope,
    },
    /// The database failed.
    #[error("database error during a tenant lifecycle operation")]
    Db(#[source] DbErr),
}

/// A new tenant's initial configuration, written in its onboarding
/// transaction by [`onboard_with_config`].
#[derive(Debug)]
pub struct InitialConfig<'a> {
    /// The registry that checked the changes; refreshed after the commit.
    pub registry: &'a tenancy_config::ConfigRegistry,
    /// The store the registry loads from.
    pub store: &'a crate::config_store::SeaOrmConfigStore,
    /// Changes from [`ConfigRegistry::prepare`](tenancy_config::ConfigRegistry::prepare),
    /// each for `Scope::Tenant` of the new tenant.
    pub changes: Vec<tenancy_config::Change>,
}

impl From<DbErr> for LifecycleError {
    fn from(err: DbErr) -> Self {
        LifecycleError::Db(err)
    }
}

/// Whether [`purge_tenant`] deletes, or only counts what it would delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeMode {
    /// Count the rows, delete nothing.
    DryRun,
    /// Delete the rows.
    Delete,
}

/// What [`purge_tenant`] deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// The tenant.
    pub tenant: TenantId,
    /// What was asked: with [`PurgeMode::DryRun`] nothing was deleted.
    pub mode: PurgeMode,
    /// Rows per scoped table, in the order they are deleted (children
    /// before parents).
    pub rows: Vec<(String, u64)>,
}

/// The initial setup [`onboard`] runs in the new tenant's transaction.
pub type Setup<'c> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + 'c>>;

/// Onboards a tenant in one transaction: its directory row, its domains
/// (through [`directory_store::create_tenant`]), then `setup`, which gets a
/// transaction scoped to the new tenant for its first rows. Commits only if
/// everything succeeds.
///
/// For the tenant's initial configuration in the same transaction, use
/// [`onboard_with_config`].
///
/// # Errors
///
/// [`LifecycleError::Directory`] (id, slug or domain taken, bad slug),
/// [`LifecycleError::Setup`] with `setup`'s error, or
/// [`LifecycleError::Db`]. In every case nothing is written.
pub async fn onboard<F>(
    db: &DatabaseConnection,
    registry: &TableRegistry,
    tenant: &Tenant,
    domains: &[Domain],
    setup: F,
) -> Result<(), LifecycleError>
where
    F: for<'c> FnOnce(&'c TenantTransaction) -> Setup<'c> + Send,
{
    onboard_inner(db, registry, tenant, domains, None, setup).await
}

/// [`onboard`], with the tenant's initial configuration in the same
/// transaction: its directory entry, domains, configuration overrides
/// (with their audit rows) and `setup`'s rows commit together or not at
/// all. The registry is refreshed for the tenant after the commit.
///
/// ```
/// use sea_orm::Database;
/// use tenancy_config::{ConfigRegistry, Key, Scope};
/// use tenancy_core::{Domain, TenantId, directory::Tenant};
/// use tenancy_seaorm::config_store::SeaOrmConfigStore;
/// use tenancy_seaorm::lifecycle::{InitialConfig, onboard_with_config};
/// use tenancy_seaorm::{TableRegistry, TenantKeyType, directory_store};
///
/// static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the dialer", || false);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite::memory:").await?;
/// directory_store::migrate(&db, TenantKeyType::BigInt).await?;
/// let store = SeaOrmConfigStore::new(db.clone());
/// store.migrate().await?;
/// let config = ConfigRegistry::builder().key(&DIALER).load(store.clone()).await?;
/// let tables = TableRegistry::builder().build()?;
///
/// let acme = TenantId::new(9);
/// let changes = vec![config.prepare("onboarding", Scope::Tenant(acme), &DIALER, true)?];
/// onboard_with_config(&db, &tables, &Tenant::new(acme, "acme", "Acme"), &[Domain::parse("acme.example")?],
///     InitialConfig { registry: &config, store: &store, changes },
///     |_txn| Box::pin(async { Ok(()) })).await?;
/// assert!(config.get(acme, &DIALER)?);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As [`onboard`], and [`LifecycleError::ConfigScope`] when a change is for
/// another scope, [`LifecycleError::Config`] when one cannot be stored. In
/// every case nothing is written.
pub async fn onboard_with_config<F>(
    db: &DatabaseConnection,
    registry: &TableRegistry,
    tenant: &Tenant,
    domains: &[Domain],
    config: InitialConfig<'_>,
    setup: F,
) -> Result<(), LifecycleError>
where
    F: for<'c> FnOnce(&'c TenantTransaction) -> Setup<'c> + Send,
{
    onboard_inner(db, registry, tenant, domains, Some(config), setup).await
}

async fn onboard_inner<F>(
    db: &DatabaseConnection,
    registry: &TableRegistry,
    tenant: &Tenant,
    domains: &[Domain],
    config: Option<InitialConfig<'_>>,
    setup: F,
) -> Result<(), LifecycleError>
where
    F: for<'c> FnOnce(&'c TenantTransaction) -> Setup<'c> + Send,
{
    use tenancy_config::Scope;

    let span = tracing::info_span!("tenancy.onboard", tenant = %tenant.id);
    async {
        let txn = db.begin().await?;
        if let Err(err) = directory_store::create_tenant(&txn, registry.tenant_key(), tenant, domains).await {
            txn.rollback().await?;
            return Err(LifecycleError::Directory(err));
        }
        if let Some(config) = &config {
            // Every change is checked before any is written. A change for
            // another scope is the caller's mistake, not a store outage.
            for change in &config.changes {
                if change.scope != Scope::Tenant(tenant.id) {
                    txn.rollback().await?;
                    return Err(LifecycleError::ConfigScope {
                        tenant: tenant.id,
                        scope: change.scope,
                    });
                }
            }
            for change in &config.changes {
                let stored = crate::config_store::write_change_in(&txn, config.store, change).await;
                if let Err(source) = stored {
                    txn.rollback().await?;
                    return Err(LifecycleError::Config {
                        tenant: tenant.id,
                        source,
                    });
                }
            }
        }
        let scoped = TenantTransaction::scope_own(txn, registry.clone(), tenant.id);
        if let Err(source) = setup(&scoped).await {
            scoped.rollback().await?;
            return Err(LifecycleError::Setup {
                tenant: tenant.id,
                source,
            });
        }
        scoped.commit().await?;
        if let Some(config) = &config
            && let Err(e) = config.registry.refresh_scope(Scope::Tenant(tenant.id)).await
        {
            // Committed; this instance catches up on its next refresh.
            tracing::warn!(error = %e, "tenancy: onboarded, but the config registry did not refresh");
        }
        tracing::info!(domains = domains.len(), "tenancy: tenant onboarded");
        Ok(())
    }
    .instrument(span)
    .await
}

/// Writes every row of `tenant` in every scoped table to `out`, one JSON
/// object per line: `{"row":{...},"table":"leads"}` (keys sorted), tables
/// in name order, rows in no particular order. Reads in one transaction, so
/// the export is consistent where the backend's isolation level makes it so
/// (PostgreSQL and MySQL default to a snapshot per statement or
/// transaction respectively).
///
/// Returns the number of rows per table.
///
/// # Errors
///
/// [`LifecycleError::Db`] or [`LifecycleError::Io`].
pub async fn export_tenant<W: Write>(
    db: &DatabaseConnection,
    registry: &TableRegistry,
    tenant: TenantId,
    out: &mut W,
) -> Result<Vec<(String, u64)>, LifecycleError> {
    let span = tracing::info_span!("tenancy.export", tenant = %tenant);
    async {
        let txn = db.begin().await?;
        let scoped = TenantTransaction::scope_own(txn, registry.clone(), tenant);
        let mut counts = Vec::new();
        for (table, _) in registry.scoped_tables() {
            let stmt = Statement::from_string(
                scoped.get_database_backend(),
                format!(
                    "SELECT * FROM {}",
                    quote_for(db.get_database_backend(), table)
                ),
            );
            let rows = JsonValue::find_by_statement(stmt).all(&scoped).await?;
            for row in rows.iter().cloned() {
                let line = JsonValue::from_iter([
                    ("row", row),
                    ("table", JsonValue::String(table.to_owned())),
                ]);
                writeln!(out, "{line}").map_err(LifecycleError::Io)?;
            }
            counts.push((table.to_owned(), rows.len() as u64));
        }
        scoped.commit().await?;
        Ok(counts)
    }
    .instrument(span)
    .await
}

/// Deletes every row of `tenant` from every scoped table in one transaction,
/// children before parents; with [`PurgeMode::DryRun`], only counts them.
///
/// The directory entry is left alone (set the tenant's status to stop
/// serving it).
///
/// # Errors
///
/// [`LifecycleError::MissingTable`], [`LifecycleError::ForeignKeyCycle`]
/// (self-references are allowed), or [`LifecycleError::Db`]; nothing is
/// deleted then.
pub async fn purge_tenant(
    db: &DatabaseConnection,
    registry: &TableRegistry,
    tenant: TenantId,
    mode: PurgeMode,
) -> Result<PurgeReport, LifecycleError> {
    let dry_run = mode == PurgeMode::DryRun;
    let span = tracing::warn_span!("tenancy.purge", tenant = %tenant, dry_run);
    async {
        let order = delete_order(db, registry).await?;
        let txn = db.begin().await?;
        let scoped = TenantTransaction::scope_own(txn, registry.clone(), tenant);
        let backend = db.get_database_backend();
        let mut rows = Vec::new();
        for table in order {
            let name = quote_for(backend, &table);
            let n = if dry_run {
                let stmt =
                    Statement::from_string(backend, format!("SELECT count(*) AS n FROM {name}"));
                match scoped.query_one_raw(stmt).await? {
                    Some(row) => row.try_get::<i64>("", "n").map(|n| n.max(0) as u64)?,
                    None => 0,
                }
            } else {
                scoped
                    .execute_unprepared(&format!("DELETE FROM {name}"))
                    .await?
                    .rows_affected()
            };
            rows.push((table, n));
        }
        if dry_run {
            scoped.rollback().await?;
        } else {
            scoped.commit().await?;
            tracing::warn!(?rows, "tenancy: tenant purged");
        }
        Ok(PurgeReport { tenant, mode, rows })
    }
    .instrument(span)
    .await
}

/// The scoped tables with every referencing table before the table it
/// references (Kahn's algorithm; ties in name order).
async fn delete_order(
    db: &DatabaseConnection,
    registry: &TableRegistry,
) -> Result<Vec<String>, LifecycleError> {
    let backend = db.get_database_backend();
    let tables: Vec<String> = registry
        .scoped_tables()
        .into_iter()
        .map(|(t, _)| t.to_owned())
        .collect();
    let same = |a: &str, b: &str| match backend {
        DbBackend::Postgres => a == b,
        _ => a.eq_ignore_ascii_case(b),
    };
    // parents[i]: the scoped tables that table i references.
    let mut parents: Vec<Vec<usize>> = Vec::new();
    for table in &tables {
        let schema = schema_audit::read_table(db, backend, table)
            .await?
            .ok_or_else(|| LifecycleError::MissingTable(table.clone()))?;
        let mut refs: Vec<usize> = schema
            .foreign_keys
            .iter()
            .filter_map(|fk| tables.iter().position(|t| same(t, &fk.references)))
            .filter(|&p| !same(&tables[p], table))
            .collect();
        refs.sort_unstable();
        refs.dedup();
        parents.push(refs);
    }
    // A table can go once no remaining table references it.
    let mut referenced_by = vec![0_usize; tables.len()];
    for refs in &parents {
        for &p in refs {
            referenced_by[p] += 1;
        }
    }
    let mut done = vec![false; tables.len()];
    let mut order = Vec::new();
    while order.len() < tables.len() {
        let Some(next) = (0..tables.len()).find(|&i| !done[i] && referenced_by[i] == 0) else {
            let cycle = (0..tables.len())
                .filter(|&i| !done[i])
                .map(|i| tables[i].clone())
                .collect();
            return Err(LifecycleError::ForeignKeyCycle(cycle));
        };
        done[next] = true;
        for &p in &parents[next] {
            referenced_by[p] -= 1;
        }
        order.push(tables[next].clone());
    }
    Ok(order)
}

/// A table name quoted for `backend`.
fn quote_for(backend: DbBackend, table: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{}`", table.replace('`', "``")),
        _ => quote(table),
    }
}
