//! How a request's tenant is found: the [`TenantResolver`] trait, its
//! outcome, and the strategies the platform ships.
//!
//! A resolver looks at the request head (normalised host, URI, headers,
//! peer address) and answers with a [`Resolution`]. Strategies combine in a
//! [`Chain`], and any closure `Fn(&RequestHead<'_>) -> impl Future<Output =
//! Resolution>` is a resolver too, for logic of your own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, Uri};
use tenancy_core::TenantId;
use tenancy_core::directory::{StoreError, Tenant, TenantDirectory, is_valid_slug};

use crate::host::{Host, HostError, TrustedProxies};

/// What a resolver sees of a request.
#[derive(Debug)]
pub struct RequestHead<'a> {
    uri: &'a Uri,
    headers: &'a HeaderMap,
    host: &'a Result<Host, HostError>,
    peer: Option<SocketAddr>,
}

impl<'a> RequestHead<'a> {
    /// A head from its parts (the layer builds it; tests of a custom resolver
    /// may too).
    pub fn new(
        uri: &'a Uri,
        headers: &'a HeaderMap,
        host: &'a Result<Host, HostError>,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            uri,
            headers,
            host,
            peer,
        }
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The normalised host, or why there is none (see [`crate::host`]).
    pub fn host(&self) -> Result<&'a Host, &'a HostError> {
        self.host.as_ref()
    }

    /// The peer address, if the server recorded one.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}

/// The outcome of resolving a request's tenant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Resolution {
    /// The request belongs to this tenant.
    Resolved(Resolved),
    /// The request names a tenant the directory does not know.
    Unknown,
    /// The host (or whatever names the tenant) is missing or malformed.
    Malformed(Malformed),
    /// The tenant exists but is suspended.
    Suspended(Arc<Tenant>),
    /// The directory could not answer.
    Unavailable(StoreError),
    /// This strategy does not apply to the request (its header is absent,
    /// the host is not under its base domain); a [`Chain`] tries the next.
    NotApplicable,
}

/// A resolved tenant, and what to do to the request before it goes on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resolved {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    /// A path prefix to remove before the inner service sees the request.
    pub strip_path_prefix: Option<String>,
}

impl Resolved {
    /// The tenant, with nothing to strip.
    pub fn new(tenant: Arc<Tenant>) -> Self {
        Self {
            tenant,
            strip_path_prefix: None,
        }
    }
}

/// Why the input that names a tenant was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The host is missing or malformed.
    Host(HostError),
    /// A tenant header has an invalid or repeated value.
    Header(HeaderName),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host(e) => std::fmt::Display::fmt(e, f),
            Self::Header(name) => write!(f, "invalid {name} header"),
        }
    }
}

impl Resolution {
    /// The outcome of a directory lookup: found and active, found but
    /// suspended, not found, or the directory failed.
    pub fn from_lookup(lookup: Result<Option<Arc<Tenant>>, StoreError>) -> Self {
        match lookup {
            Ok(Some(tenant)) if tenant.is_active() => Self::Resolved(Resolved::new(tenant)),
            Ok(Some(tenant)) => Self::Suspended(tenant),
            Ok(None) => Self::Unknown,
            Err(e) => Self::Unavailable(e),
        }
    }

    /// Whether a [`Chain`] should stop here.
    fn is_final(&self) -> bool {
        !matches!(self, Self::Unknown | Self::NotApplicable)
    }
}

/// Finds the tenant of a request.
///
/// Implemented by the strategies in this module and by any closure
/// `Fn(&RequestHead<'_>) -> Fut` whose future is `Send + 'static` (clone
/// what it needs out of the head):
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::directory::Tenant;
/// use tenancy_tower::resolver::{RequestHead, Resolution, Resolved, TenantResolver};
///
/// let everyone_is_tenant_one = |_head: &RequestHead<'_>| async {
///     Resolution::Resolved(Resolved::new(Arc::new(Tenant::new(1, "one", "One"))))
/// };
/// fn assert_resolver(_: impl TenantResolver) {}
/// assert_resolver(everyone_is_tenant_one);
/// ```
pub trait TenantResolver: Send + Sync + 'static {
    /// Resolves the tenant of the request whose head is `head`.
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution>;
}

impl<F, Fut> TenantResolver for F
where
    F: Fn(&RequestHead<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Resolution> + Send + 'static,
{
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        Box::pin(self(head))
    }
}

impl<R: TenantResolver + ?Sized> TenantResolver for Arc<R> {
    fn resolve<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxFuture<'a, Resolution> {
        (**self).resolve(head)
    }
}

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
    /// The tenant's numeric id.
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
                HeaderKey::Id => match value.parse::<TenantId>() {
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
/// use tenancy_tower::resolver::{Chain, ExactHost, Subdomain};
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
