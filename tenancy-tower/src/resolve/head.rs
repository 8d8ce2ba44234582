//! What a resolver sees of a request, what it answers, and the
//! [`TenantResolver`] trait itself.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderMap, Uri};
use tenancy_core::directory::{StoreError, Tenant};

use crate::host::{Host, HostError};
use crate::rejection::{Malformed, TenantRejection};

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
    /// the host is not under its base domain); a [`Chain`](super::Chain) tries the next.
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

    /// Whether a [`Chain`](super::Chain) should stop here.
    pub(super) fn is_final(&self) -> bool {
        !matches!(self, Self::Unknown | Self::NotApplicable)
    }
}

/// Finds the tenant of a request.
///
/// Implemented by the strategies in [this module](crate::resolve) and by any closure
/// `Fn(&RequestHead<'_>) -> Fut` whose future is `Send + 'static` (clone
/// what it needs out of the head):
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::directory::Tenant;
/// use tenancy_tower::resolve::{RequestHead, Resolution, Resolved, TenantResolver};
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

impl TenantRejection {
    /// The rejection for an unresolved [`Resolution`], or `None` for a
    /// resolved one.
    pub fn from_resolution(resolution: &Resolution) -> Option<Self> {
        Some(match resolution {
            Resolution::Resolved(_) => return None,
            Resolution::Unknown => Self::Unknown,
            Resolution::NotApplicable => Self::Missing,
            Resolution::Malformed(m) => Self::Malformed(m.clone()),
            Resolution::Suspended(_) => Self::Suspended,
            Resolution::Unavailable(_) => Self::Unavailable,
        })
    }
}
