//! The tenant directory: which tenant a domain or slug belongs to.
//!
//! A [`DirectoryStore`] is where tenants are kept (in memory for tests, a
//! database table in production: `tenancy-seaorm` has one). A
//! [`TenantDirectory`] puts a cache in front of a store, because the lookup
//! happens on every request: hits and misses are both cached for a TTL, in
//! bounded caches, and concurrent lookups of one key share one store query,
//! so a flood of requests for unknown hosts cannot hammer the database.
//!
//! ```
//! use tenancy_core::directory::{InMemoryDirectory, Tenant, TenantDirectory};
//! use tenancy_core::{Domain, TenantId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = InMemoryDirectory::new();
//! store.insert(Tenant::new(1, "goldenkey", "Golden Key Wholesale"), ["goldenkey.localhost"]).unwrap();
//! let directory = TenantDirectory::new(store);
//!
//! let host = Domain::parse("GoldenKey.localhost.").unwrap();
//! let tenant = directory.by_domain(&host).await.unwrap().unwrap();
//! assert_eq!(tenant.id, TenantId::new(1));
//! assert!(directory.by_slug("nobody").await.unwrap().is_none());
//! # }
//! ```

mod cache;
mod memory;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Domain, TenantId, TenantKeyKind};

pub use cache::{DirectoryOptions, TenantDirectory};
pub use memory::InMemoryDirectory;
// The one store error, also at its old path: the same type.
pub use crate::StoreError;

/// One tenant (operating company) as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tenant {
    /// The value in the tenant column of its rows.
    pub id: TenantId,
    /// A short, stable, URL-safe name (`goldenkey`), used by subdomain and
    /// path strategies.
    pub slug: String,
    /// The name people read.
    pub name: String,
    /// Whether requests for it are served.
    pub status: TenantStatus,
}

impl Tenant {
    /// An active tenant.
    pub fn new(id: impl Into<TenantId>, slug: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            slug: slug.into(),
            name: name.into(),
            status: TenantStatus::Active,
        }
    }

    /// The same tenant with another status.
    pub fn with_status(mut self, status: TenantStatus) -> Self {
        self.status = status;
        self
    }

    /// Whether requests for this tenant are served.
    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }
}

/// Whether a tenant is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TenantStatus {
    /// Served.
    Active,
    /// Known, but not served (unpaid, being offboarded, under investigation).
    Suspended,
}

impl TenantStatus {
    /// The name stored in a database column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses what [`as_str`](Self::as_str) writes.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// Where tenants and their domains are kept.
///
/// Implementations answer `Ok(None)` for a tenant that does not exist and
/// `Err` only when they cannot answer at all.
#[async_trait::async_trait]
pub trait DirectoryStore: Send + Sync + std::fmt::Debug + 'static {
    /// The tenant that owns `domain`.
    async fn tenant_by_domain(&self, domain: &Domain) -> Result<Option<Tenant>, StoreError>;
    /// The tenant with this slug.
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError>;
    /// The tenant with this id.
    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// The kind of key this store's tenants have (integer unless it says
    /// otherwise): what a resolver parses an id from a header or a path as,
    /// so that text of another kind is a typed error, not an unknown tenant.
    fn key_kind(&self) -> TenantKeyKind {
        TenantKeyKind::Int
    }
}

#[async_trait::async_trait]
impl<S: DirectoryStore + ?Sized> DirectoryStore for Arc<S> {
    async fn tenant_by_domain(&self, domain: &Domain) -> Result<Option<Tenant>, StoreError> {
        (**self).tenant_by_domain(domain).await
    }
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        (**self).tenant_by_slug(slug).await
    }
    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        (**self).tenant_by_id(id).await
    }
    fn key_kind(&self) -> TenantKeyKind {
        (**self).key_kind()
    }
}

/// Whether `slug` is acceptable: 1 to 63 lowercase ASCII letters, digits and
/// inner hyphens, so it can be a DNS label and a path segment unchanged.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= crate::domain::MAX_LABEL_LEN
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
