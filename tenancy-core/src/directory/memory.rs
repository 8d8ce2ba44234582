//! A directory store held in memory, for tests and small fixed deployments.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{DirectoryStore, StoreError, Tenant, is_valid_slug};
use crate::{Domain, DomainError, TenantId, TenantKeyKind};

/// Tenants and domains in a map. Cloning shares the map.
#[derive(Debug, Clone)]
pub struct InMemoryDirectory {
    inner: Arc<RwLock<Maps>>,
    kind: TenantKeyKind,
}

impl Default for InMemoryDirectory {
    fn default() -> Self {
        Self::keyed_by(TenantKeyKind::Int)
    }
}

#[derive(Debug, Default)]
struct Maps {
    tenants: HashMap<TenantId, Tenant>,
    domains: HashMap<Domain, TenantId>,
}

/// Why a tenant could not be added to an [`InMemoryDirectory`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// A domain did not parse.
    #[error("invalid domain {domain:?}: {source}")]
    Domain {
        /// The text given.
        domain: String,
        /// What is wrong with it.
        #[source]
        source: DomainError,
    },
    /// The slug is not a DNS label of lowercase letters, digits and hyphens.
    #[error("invalid slug {0:?}")]
    Slug(String),
    /// Another tenant already has this slug.
    #[error("slug {0:?} belongs to another tenant")]
    SlugTaken(String),
    /// Another tenant already owns this domain.
    #[error("domain {0} belongs to another tenant")]
    DomainTaken(Domain),
    /// The tenant's key is not of the directory's kind.
    #[error(transparent)]
    KeyKind(crate::Error),
}

impl InMemoryDirectory {
    /// An empty directory of integer-keyed tenants.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty directory of tenants keyed by `kind`.
    pub fn keyed_by(kind: TenantKeyKind) -> Self {
        Self {
            inner: Arc::default(),
            kind,
        }
    }

    /// Adds or replaces `tenant` and gives it `domains`.
    ///
    /// # Errors
    ///
    /// Nothing is changed if a domain is malformed or another tenant's, or
    /// the slug is invalid or taken.
    pub fn insert<I, D>(&self, tenant: Tenant, domains: I) -> Result<(), InsertError>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<str>,
    {
        if !is_valid_slug(&tenant.slug) {
            return Err(InsertError::Slug(tenant.slug));
        }
        self.kind.check(tenant.id).map_err(InsertError::KeyKind)?;
        let domains = domains
            .into_iter()
            .map(|d| {
                Domain::parse(d.as_ref()).map_err(|source| InsertError::Domain {
                    domain: d.as_ref().to_owned(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut maps = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if maps
            .tenants
            .values()
            .any(|t| t.slug == tenant.slug && t.id != tenant.id)
        {
            return Err(InsertError::SlugTaken(tenant.slug));
        }
        if let Some(taken) = domains.iter().find(|d| {
            maps.domains
                .get(*d)
                .is_some_and(|owner| *owner != tenant.id)
        }) {
            return Err(InsertError::DomainTaken(taken.clone()));
        }
        for domain in domains {
            maps.domains.insert(domain, tenant.id);
        }
        maps.tenants.insert(tenant.id, tenant);
        Ok(())
    }

    /// Removes `domain`; returns whether it was there.
    pub fn remove_domain(&self, domain: &Domain) -> bool {
        let mut maps = self.inner.write().unwrap_or_else(|p| p.into_inner());
        maps.domains.remove(domain).is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        // A writer that panicked left the maps consistent: every write above
        // validates first and mutates after.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl DirectoryStore for InMemoryDirectory {
    async fn tenant_by_domain(&self, domain: &Domain) -> Result<Option<Tenant>, StoreError> {
        let maps = self.read();
        Ok(maps
            .domains
            .get(domain)
            .and_then(|id| maps.tenants.get(id))
            .cloned())
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(self
            .read()
            .tenants
            .values()
            .find(|t| t.slug == slug)
            .cloned())
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        Ok(self.read().tenants.get(&id).cloned())
    }

    fn key_kind(&self) -> TenantKeyKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finds_by_every_key() {
        let dir = InMemoryDirectory::new();
        dir.insert(
            Tenant::new(1, "goldenkey", "Golden Key"),
            ["goldenkey.localhost", "GK.example"],
        )
        .unwrap();
        let gk = Domain::parse("gk.example").unwrap();
        assert_eq!(
            dir.tenant_by_domain(&gk).await.unwrap().unwrap().slug,
            "goldenkey"
        );
        assert_eq!(
            dir.tenant_by_slug("goldenkey").await.unwrap().unwrap().id,
            TenantId::new(1)
        );
        assert!(dir.tenant_by_id(TenantId::new(2)).await.unwrap().is_none());
        assert!(dir.remove_domain(&gk));
        assert!(dir.tenant_by_domain(&gk).await.unwrap().is_none());
    }

    #[test]
    fn refuses_conflicts_and_bad_input_without_changing_anything() {
        let dir = InMemoryDirectory::new();
        dir.insert(Tenant::new(1, "goldenkey", "Golden Key"), ["gk.localhost"])
            .unwrap();
        assert_eq!(
            dir.insert(
                Tenant::new(2, "stone", "Stone"),
                ["stone.localhost", "GK.localhost"]
            ),
            Err(InsertError::DomainTaken(
                Domain::parse("gk.localhost").unwrap()
            ))
        );
        assert_eq!(
            dir.insert(Tenant::new(2, "goldenkey", "Stone"), ["stone.localhost"]),
            Err(InsertError::SlugTaken("goldenkey".into()))
        );
        assert!(matches!(
            dir.insert(Tenant::new(2, "stone", "Stone"), ["stone..localhost"]),
            Err(InsertError::Domain { .. })
        ));
        assert_eq!(
            dir.insert(Tenant::new(2, "Stone!", "Stone"), ["stone.localhost"]),
            Err(InsertError::Slug("Stone!".into()))
        );
        // None of the refused inserts left anything behind.
        assert_eq!(dir.read().tenants.len(), 1);
        assert_eq!(dir.read().domains.len(), 1);
    }
}
