//! The strategies the platform ships: exact host, subdomain, trusted
//! header, path prefix, and a chain of them.

use futures_util::future::BoxFuture;
use http::HeaderName;
use tenancy_core::directory::{TenantDirectory, is_valid_slug};

use super::{Malformed, RequestHead, Resolution, TenantResolver};
use crate::host::{Host, TrustedProxies};

/// The tenant is whoever owns the request's exact host name (a tenant may
/// have several domains). The reference deployment's strategy.
#[derive(Debug, Clone)]
pub struct ExactHost {
    directory: TenantDirectory,
}

impl ExactHost {
    /// Looks hosts up in `directory`.
    pub fn new(directory: TenantDirectory) -> Self {
        Self { directory }
    }
}

impl TenantResolver for ExactHost {
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        Box::pin(async move {
            match head.host() {
                Ok(Host::Domain(domain)) => {
                    Resolution::from_lookup(self.directory.by_domain(domain).await)
                }
                // No tenant is reached by a bare IP address.
                Ok(Host::Ip(_)) => Resolution::Unknown,
                Err(e) => Resolution::Malformed(Malformed::Host(e.clone())),
            }
        })
    }
}

/// The tenant is the slug in the leftmost label under a base domain:
/// `goldenkey.crm.example` under `crm.example` is the tenant `goldenkey`.
/// Hosts not exactly one label below the base are not applicable.
#[derive(Debug, Clone)]
pub struct Subdomain {
    base: tenancy_core::Domain,
    directory: TenantDirectory,
}

impl Subdomain {
    /// Slugs one label below `base`, looked up in `directory`.
    pub fn new(base: tenancy_core::Domain, directory: TenantDirectory) -> Self {
        Self { base, directory }
    }
}

impl TenantResolver for Subdomain {
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        Box::pin(async move {
            let domain = match head.host() {
                Ok(Host::Domain(domain)) => domain,
                Ok(Host::Ip(_)) => return Resolution::NotApplicable,
                Err(e) => return Resolution::Malformed(Malformed::Host(e.clone())),
            };
            match domain.subdomain_of(&self.base) {
                // Punycode labels (`xn--...`) are not slugs: unknown, not malformed.
                Some(slug) if is_valid_slug(slug) => {
                    Resolution::from_lookup(self.directory.by_slug(slug).await)
                }
                Some(_) => Resolution::Unknown,
                None => Resolution::NotApplicable,
            }
        })
    }
}

/// What a tenant header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderKey {
    /// The tenant's slug.
    Slug,
    /// The tenant's id, parsed as the directory's kind of key
    /// ([`TenantDirectory::key_kind`](tenancy_core::directory::TenantDirectory::key_kind)).
    Id,
}

/// The tenant is named by a request header, for trusted internal traffic
/// (service to service, behind the platform's own gateway).
///
/// Never expose this strategy to the internet without
/// [`from_peers`](Self::from_peers): anyone can send a header. With a peer
/// list, the header is ignored (not applicable) from any other peer.
#[derive(Debug, Clone)]
pub struct TenantHeader {
    name: HeaderName,
    key: HeaderKey,
    directory: TenantDirectory,
    peers: Option<TrustedProxies>,
}

impl TenantHeader {
    /// Reads `name`, holding a [`HeaderKey`], from every peer.
    pub fn new(name: HeaderName, key: HeaderKey, directory: TenantDirectory) -> Self {
        Self {
            name,
            key,
            directory,
            peers: None,
        }
    }

    /// Believes the header only from these peers.
    pub fn from_peers(mut self, peers: TrustedProxies) -> Self {
        self.peers = Some(peers);
        self
    }
}

impl TenantResolver for TenantHeader {
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        Box::pin(async move {
            let mut values = head.headers().get_all(&self.name).iter();
            let value = match (values.next(), values.next()) {
                (None, _) => return Resolution::NotApplicable,
                (Some(_), Some(_)) => {
                    return Resolution::Malformed(Malformed::Header(self.name.clone()));
                }
                (Some(value), None) => value,
            };
            if let Some(peers) = &self.peers
                && !head.peer().is_some_and(|p| peers.contains(p.ip()))
            {
                tracing::debug!(header = %self.name, peer = ?head.peer(), "tenant header from an untrusted peer ignored");
                return Resolution::NotApplicable;
            }
            let malformed = || Resolution::Malformed(Malformed::Header(self.name.clone()));
            let Ok(value) = value.to_str() else {
                return malformed();
            };
            match self.key {
                HeaderKey::Slug if is_valid_slug(value) => {
                    Resolution::from_lookup(self.directory.by_slug(value).await)
                }
                // Parsed as the directory's kind of key, strictly: text of
                // another kind is a malformed header, not an unknown tenant.
                HeaderKey::Id => match self.directory.key_kind().parse(value) {
                    Ok(id) => Resolution::from_lookup(self.directory.by_id(id).await),
                    Err(_) => malformed(),
                },
                HeaderKey::Slug => malformed(),
            }
        })
    }
}

/// The tenant is the first path segment (after an optional fixed prefix):
/// `/goldenkey/leads`, or `/t/goldenkey/leads` under `/t`. By default the
/// matched prefix is stripped, so the inner service sees `/leads`.
#[derive(Debug, Clone)]
pub struct PathPrefix {
    under: String,
    strip: bool,
    directory: TenantDirectory,
}

impl PathPrefix {
    /// Slugs in the first path segment, looked up in `directory`.
    pub fn new(directory: TenantDirectory) -> Self {
        Self {
            under: String::new(),
            strip: true,
            directory,
        }
    }

    /// Slugs in the segment after `prefix` (`"/t"`).
    pub fn under(mut self, prefix: impl Into<String>) -> Self {
        self.under = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Whether to strip the matched prefix (default `true`).
    pub fn strip(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }
}

impl TenantResolver for PathPrefix {
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        Box::pin(async move {
            let path = head.uri().path();
            let Some(rest) = path
                .strip_prefix(self.under.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
            else {
                return Resolution::NotApplicable;
            };
            let slug = rest.split('/').next().unwrap_or_default();
            if slug.is_empty() {
                return Resolution::NotApplicable;
            }
            if !is_valid_slug(slug) {
                return Resolution::Unknown;
            }
            match Resolution::from_lookup(self.directory.by_slug(slug).await) {
                Resolution::Resolved(mut resolved) => {
                    if self.strip {
                        resolved.strip_path_prefix = Some(format!("{}/{slug}", self.under));
                    }
                    Resolution::Resolved(resolved)
                }
                other => other,
            }
        })
    }
}

/// Tries resolvers in order. The first that resolves, finds the tenant
/// suspended, finds the input malformed or finds the directory down
/// decides; `Unknown` and `NotApplicable` move on. At the end, `Unknown` if
/// any resolver said so, else `NotApplicable`.
///
/// ```
/// use tenancy_core::directory::{InMemoryDirectory, TenantDirectory};
/// use tenancy_tower::resolve::{Chain, ExactHost, Subdomain};
///
/// let directory = TenantDirectory::new(InMemoryDirectory::new());
/// let chain = Chain::new()
///     .or(ExactHost::new(directory.clone()))
///     .or(Subdomain::new("crm.example".parse().unwrap(), directory));
/// # let _ = chain;
/// ```
#[derive(Default)]
pub struct Chain {
    resolvers: Vec<Box<dyn TenantResolver>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("resolvers", &self.resolvers.len())
            .finish()
    }
}

impl Chain {
    /// An empty chain (it resolves nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `resolver` after the ones already in the chain.
    pub fn or(mut self, resolver: impl TenantResolver) -> Self {
        self.resolvers.push(Box::new(resolver));
        self
    }
}

impl TenantResolver for Chain {
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        Box::pin(async move {
            let mut unknown = false;
            for resolver in &self.resolvers {
                let outcome = resolver.resolve(head).await;
                if outcome.is_final() {
                    return outcome;
                }
                unknown |= matches!(outcome, Resolution::Unknown);
            }
            if unknown {
                Resolution::Unknown
            } else {
                Resolution::NotApplicable
            }
        })
    }
}
