//! The tenant directory kept in the application's own database.
//!
//! Two platform tables, `tenancy_tenants` and `tenancy_tenant_domains`, hold
//! the tenants and the domains they are reached on. They are read with the
//! plain connection, never through a [`TenantConnection`](crate::TenantConnection):
//! finding the tenant is what happens before there is one. Put a
//! [`TenantDirectory`](tenancy_core::directory::TenantDirectory) in front of
//! this store for per-request lookups.
//!
//! ```
//! use sea_orm::Database;
//! use tenancy_core::directory::{Tenant, TenantDirectory};
//! use tenancy_core::Domain;
//! use tenancy_seaorm::SeaOrmDirectory;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! let store = SeaOrmDirectory::new(db);
//! store.migrate().await?;
//! store
//!     .create_tenant(&Tenant::new(1, "goldenkey", "Golden Key"), &[Domain::parse("goldenkey.localhost")?])
//!     .await?;
//!
//! let directory = TenantDirectory::new(store);
//! let found = directory.by_domain(&Domain::parse("GoldenKey.localhost")?).await?;
//! assert_eq!(found.map(|t| t.slug.clone()).as_deref(), Some("goldenkey"));
//! # Ok(()) }
//! ```

use sea_orm::sea_query::{
    ColumnDef, Expr, ExprTrait, ForeignKey, ForeignKeyAction, Index, Query, SelectStatement, Table,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, TransactionTrait, Value,
};
use tenancy_core::directory::{DirectoryStore, StoreError, Tenant, TenantStatus, is_valid_slug};
use tenancy_core::{Domain, TenantId, TenantKeyKind};

use crate::{Refusal, TenantKeyType, flavor::Flavor};

/// The table of tenants.
pub const TENANTS_TABLE: &str = "tenancy_tenants";
/// The table of domains, each owned by one tenant.
pub const DOMAINS_TABLE: &str = "tenancy_tenant_domains";

/// A [`DirectoryStore`] on a SeaORM connection (SQLite, PostgreSQL, MySQL).
#[derive(Debug, Clone)]
pub struct SeaOrmDirectory {
    db: DatabaseConnection,
    key: TenantKeyType,
}

/// Why a directory write was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryWriteError {
    /// The slug is not a DNS label of lowercase letters, digits and hyphens.
    #[error("invalid slug {0:?}")]
    InvalidSlug(String),
    /// Another tenant has this id or slug.
    #[error("a tenant with id {0} or slug {1:?} already exists")]
    TenantExists(TenantId, String),
    /// Another tenant owns this domain.
    #[error("domain {0} already belongs to a tenant")]
    DomainTaken(Domain),
    /// No tenant has this id.
    #[error("no tenant with id {0}")]
    NoSuchTenant(TenantId),
    /// The database failed.
    #[error("directory database error")]
    Db(#[from] DbErr),
}

impl SeaOrmDirectory {
    /// A store on `db`, for integer tenant keys. Call
    /// [`migrate`](Self::migrate) once before use.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            key: TenantKeyType::BigInt,
        }
    }

    /// The same store for tenants keyed by `key` (as declared on the
    /// [`TableRegistry`](crate::TableRegistry)): the id columns have that
    /// type, ids bind as it, and a tenant of another kind is refused.
    pub fn with_key(mut self, key: TenantKeyType) -> Self {
        self.key = key;
        self
    }

    /// The SQL type of the tenant ids.
    pub fn key(&self) -> TenantKeyType {
        self.key
    }

    fn flavor(&self) -> Result<Flavor, DbErr> {
        flavor_of(&self.db)
    }

    /// `id` as a parameter of the id columns' type.
    fn id(&self, id: TenantId) -> Result<Value, DbErr> {
        bind(self.key, self.flavor()?, id)
    }

    /// Creates the directory tables and index if they do not exist.
    ///
    /// # Errors
    ///
    /// The database's error, if the tables cannot be created.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        migrate(&self.db, self.key).await
    }

    /// Adds a tenant and its domains, in one transaction: all or nothing.
    ///
    /// # Errors
    ///
    /// [`DirectoryWriteError`]; nothing is written on any error.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        domains: &[Domain],
    ) -> Result<(), DirectoryWriteError> {
        let txn = self.db.begin().await?;
        create_tenant(&txn, self.key, tenant, domains).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Gives tenant `id` another domain.
    ///
    /// # Errors
    ///
    /// [`DirectoryWriteError::NoSuchTenant`], [`DirectoryWriteError::DomainTaken`].
    pub async fn add_domain(
        &self,
        id: TenantId,
        domain: &Domain,
    ) -> Result<(), DirectoryWriteError> {
        let value = self.id(id)?;
        let txn = self.db.begin().await?;
        if select_tenant(&txn, self.key, Expr::col("id").eq(value))
            .await?
            .is_none()
        {
            return Err(DirectoryWriteError::NoSuchTenant(id));
        }
        insert_domain(&txn, self.key, id, domain).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Takes `domain` away from whichever tenant has it; returns whether one did.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn remove_domain(&self, domain: &Domain) -> Result<bool, DirectoryWriteError> {
        let stmt = Query::delete()
            .from_table(DOMAINS_TABLE)
            .and_where(Expr::col("domain").eq(domain.as_str()))
            .to_owned();
        Ok(self.db.execute(&stmt).await?.rows_affected() > 0)
    }

    /// Sets the status of tenant `id` (suspend or reactivate it).
    ///
    /// # Errors
    ///
    /// [`DirectoryWriteError::NoSuchTenant`], or the database's error.
    pub async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
    ) -> Result<(), DirectoryWriteError> {
        let stmt = Query::update()
            .table(TENANTS_TABLE)
            .value("status", status.as_str())
            .and_where(Expr::col("id").eq(self.id(id)?))
            .to_owned();
        match self.db.execute(&stmt).await?.rows_affected() {
            0 => Err(DirectoryWriteError::NoSuchTenant(id)),
            _ => Ok(()),
        }
    }

    /// Every tenant, by id (for jobs that run per tenant, and admin pages).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the database cannot answer.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let stmt = tenant_columns()
            .order_by((TENANTS_TABLE, "id"), sea_orm::sea_query::Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&stmt).await.map_err(unavailable)?;
        let flavor = self.flavor().map_err(unavailable)?;
        rows.iter()
            .map(|row| tenant_from(self.key, flavor, row).map_err(unavailable))
            .collect()
    }

    /// The domains of tenant `id`, sorted.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the database cannot answer or holds a malformed domain.
    pub async fn domains_of(&self, id: TenantId) -> Result<Vec<Domain>, StoreError> {
        let stmt = Query::select()
            .column("domain")
            .from(DOMAINS_TABLE)
            .and_where(Expr::col("tenant_id").eq(self.id(id).map_err(unavailable)?))
            .order_by("domain", sea_orm::sea_query::Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&stmt).await.map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let raw: String = row.try_get("", "domain").map_err(unavailable)?;
                Domain::parse(&raw).map_err(|e| {
                    StoreError::with_source(
                        format!("tenant directory: stored domain {raw:?} is malformed"),
                        e,
                    )
                })
            })
            .collect()
    }
}

/// Creates the directory tables on `conn` if they do not exist. Usable
/// inside a caller's transaction or migration.
///
/// # Errors
///
/// The database's error.
pub async fn migrate<C: ConnectionTrait>(conn: &C, key: TenantKeyType) -> Result<(), DbErr> {
    let id_type = key.column_type(flavor_of(conn)?);
    let tenants = Table::create()
        .table(TENANTS_TABLE)
        .if_not_exists()
        .col(
            ColumnDef::new_with_type("id", id_type.clone())
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new("slug")
                .string_len(63)
                .not_null()
                .unique_key(),
        )
        .col(ColumnDef::new("name").string_len(255).not_null())
        .col(ColumnDef::new("status").string_len(16).not_null())
        .to_owned();
    let domains = Table::create()
        .table(DOMAINS_TABLE)
        .if_not_exists()
        .col(
            ColumnDef::new("domain")
                .string_len(253)
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new_with_type("tenant_id", id_type).not_null())
        .foreign_key(
            ForeignKey::create()
                .from(DOMAINS_TABLE, "tenant_id")
                .to(TENANTS_TABLE, "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned();
    let by_tenant = Index::create()
        .if_not_exists()
        .name("tenancy_tenant_domains_tenant")
        .table(DOMAINS_TABLE)
        .col("tenant_id")
        .to_owned();
    conn.execute(&tenants).await?;
    conn.execute(&domains).await?;
    // MySQL has no `CREATE INDEX IF NOT EXISTS`, and needs none: it indexes
    // a foreign key's columns itself.
    if conn.get_database_backend() != DbBackend::MySql {
        conn.execute(&by_tenant).await?;
    }
    Ok(())
}

/// Adds a tenant and its domains on `conn`, which should be a transaction
/// (onboarding composes this with its own writes).
///
/// # Errors
///
/// [`DirectoryWriteError`]; roll the transaction back on error.
pub async fn create_tenant<C: ConnectionTrait>(
    conn: &C,
    key: TenantKeyType,
    tenant: &Tenant,
    domains: &[Domain],
) -> Result<(), DirectoryWriteError> {
    if !is_valid_slug(&tenant.slug) {
        return Err(DirectoryWriteError::InvalidSlug(tenant.slug.clone()));
    }
    let id = bind(key, flavor_of(conn)?, tenant.id)?;
    let clash = Expr::col("id")
        .eq(id.clone())
        .or(Expr::col("slug").eq(tenant.slug.as_str()));
    if select_tenant(conn, key, clash).await?.is_some() {
        return Err(DirectoryWriteError::TenantExists(
            tenant.id,
            tenant.slug.clone(),
        ));
    }
    let stmt = Query::insert()
        .into_table(TENANTS_TABLE)
        .columns(["id", "slug", "name", "status"])
        .values_panic([
            id.into(),
            tenant.slug.as_str().into(),
            tenant.name.as_str().into(),
            tenant.status.as_str().into(),
        ])
        .to_owned();
    conn.execute(&stmt).await?;
    for domain in domains {
        insert_domain(conn, key, tenant.id, domain).await?;
    }
    Ok(())
}

async fn insert_domain<C: ConnectionTrait>(
    conn: &C,
    key: TenantKeyType,
    id: TenantId,
    domain: &Domain,
) -> Result<(), DirectoryWriteError> {
    let id = bind(key, flavor_of(conn)?, id)?;
    let owner = Query::select()
        .column("tenant_id")
        .from(DOMAINS_TABLE)
        .and_where(Expr::col("domain").eq(domain.as_str()))
        .to_owned();
    if conn.query_one(&owner).await?.is_some() {
        return Err(DirectoryWriteError::DomainTaken(domain.clone()));
    }
    let stmt = Query::insert()
        .into_table(DOMAINS_TABLE)
        .columns(["domain", "tenant_id"])
        .values_panic([domain.as_str().into(), id.into()])
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(())
}

fn tenant_columns() -> SelectStatement {
    Query::select()
        .columns([
            (TENANTS_TABLE, "id"),
            (TENANTS_TABLE, "slug"),
            (TENANTS_TABLE, "name"),
            (TENANTS_TABLE, "status"),
        ])
        .from(TENANTS_TABLE)
        .to_owned()
}

async fn select_tenant<C: ConnectionTrait>(
    conn: &C,
    key: TenantKeyType,
    filter: Expr,
) -> Result<Option<Tenant>, DbErr> {
    let stmt = tenant_columns().and_where(filter).to_owned();
    let flavor = flavor_of(conn)?;
    conn.query_one(&stmt)
        .await?
        .map(|row| tenant_from(key, flavor, &row))
        .transpose()
}

fn flavor_of<C: ConnectionTrait>(conn: &C) -> Result<Flavor, DbErr> {
    Flavor::of(conn.get_database_backend()).map_err(Refusal::into_db_err)
}

/// `id` as a parameter of the id columns' type; another kind is refused.
fn bind(key: TenantKeyType, flavor: Flavor, id: TenantId) -> Result<Value, DbErr> {
    key.bind(flavor, id).map_err(Refusal::into_db_err)
}

fn tenant_from(key: TenantKeyType, flavor: Flavor, row: &QueryResult) -> Result<Tenant, DbErr> {
    let id = key.decode(flavor, row, "id")?;
    let status: String = row.try_get("", "status")?;
    let status = TenantStatus::parse(&status)
        .ok_or_else(|| DbErr::Type(format!("tenant {id} has an unknown status {status:?}")))?;
    Ok(Tenant::new(
        id,
        row.try_get::<String>("", "slug")?,
        row.try_get::<String>("", "name")?,
    )
    .with_status(status))
}

fn unavailable(e: DbErr) -> StoreError {
    StoreError::with_source("tenant directory: its tables could not be read", e)
}

#[async_trait::async_trait]
impl DirectoryStore for SeaOrmDirectory {
    async fn tenant_by_domain(&self, domain: &Domain) -> Result<Option<Tenant>, StoreError> {
        let stmt = tenant_columns()
            .inner_join(
                DOMAINS_TABLE,
                Expr::col((DOMAINS_TABLE, "tenant_id")).equals((TENANTS_TABLE, "id")),
            )
            .and_where(Expr::col((DOMAINS_TABLE, "domain")).eq(domain.as_str()))
            .to_owned();
        let row = self.db.query_one(&stmt).await.map_err(unavailable)?;
        let flavor = self.flavor().map_err(unavailable)?;
        row.map(|row| tenant_from(self.key, flavor, &row))
            .transpose()
            .map_err(unavailable)
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        select_tenant(
            &self.db,
            self.key,
            Expr::col((TENANTS_TABLE, "slug")).eq(slug),
        )
        .await
        .map_err(unavailable)
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        // A tenant of another kind is no tenant here (the resolver parses
        // by `key_kind`, so only a caller's mistake gets this far).
        if id.kind() != self.key.kind() {
            return Ok(None);
        }
        let value = self.id(id).map_err(unavailable)?;
        select_tenant(
            &self.db,
            self.key,
            Expr::col((TENANTS_TABLE, "id")).eq(value),
        )
        .await
        .map_err(unavailable)
    }

    fn key_kind(&self) -> TenantKeyKind {
        self.key.kind()
    }
}
