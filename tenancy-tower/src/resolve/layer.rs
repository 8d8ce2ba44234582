use std::sync::Arc;

use tower::Layer;

use super::ResolveTenant;
use crate::host::TrustedProxies;
use crate::rejection::Rejections;

/// Applies [`ResolveTenant`] to a service. Cheap to clone.
///
/// ```
/// use tenancy_core::directory::{InMemoryDirectory, TenantDirectory};
/// use tenancy_tower::{host::TrustedProxies, resolve::ExactHost, Rejections, ResolveTenantLayer};
///
/// let directory = TenantDirectory::new(InMemoryDirectory::new());
/// let layer = ResolveTenantLayer::new(ExactHost::new(directory))
///     .trusted_proxies(TrustedProxies::new().with("10.0.0.0/8".parse().unwrap()))
///     .rejections(Rejections::default().unknown(http::StatusCode::MISDIRECTED_REQUEST));
/// # let _ = layer;
/// ```
#[derive(Debug)]
pub struct ResolveTenantLayer<R> {
    pub(super) resolver: Arc<R>,
    pub(super) config: Arc<Config>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Config {
    pub(super) trusted: TrustedProxies,
    pub(super) rejections: Rejections,
}

impl<R> Clone for ResolveTenantLayer<R> {
    fn clone(&self) -> Self {
        Self {
            resolver: self.resolver.clone(),
            config: self.config.clone(),
        }
    }
}

impl<R> ResolveTenantLayer<R> {
    /// Resolves with `resolver`, trusts no proxy, default rejections.
    pub fn new(resolver: R) -> Self {
        Self {
            resolver: Arc::new(resolver),
            config: Arc::default(),
        }
    }

    /// Believes forwarded host headers from these peers.
    pub fn trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        Arc::make_mut(&mut self.config).trusted = trusted;
        self
    }

    /// Sets the status of each rejection.
    pub fn rejections(mut self, rejections: Rejections) -> Self {
        Arc::make_mut(&mut self.config).rejections = rejections;
        self
    }
}

impl<S, R> Layer<S> for ResolveTenantLayer<R> {
    type Service = ResolveTenant<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ResolveTenant {
            inner,
            resolver: self.resolver.clone(),
            config: self.config.clone(),
        }
    }
}
