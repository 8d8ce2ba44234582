use tower::Layer;

use super::{Overflow, TenantConcurrencyLimit};

/// Applies [`TenantConcurrencyLimit`]: at most `max` requests in flight per
/// tenant.
#[derive(Debug, Clone, Copy)]
pub struct TenantConcurrencyLimitLayer {
    max: usize,
    overflow: Overflow,
}

impl TenantConcurrencyLimitLayer {
    /// At most `max` requests per tenant (at least 1), queueing the rest.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            overflow: Overflow::Queue,
        }
    }

    /// What to do with a request over the limit.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}

impl<S> Layer<S> for TenantConcurrencyLimitLayer {
    type Service = TenantConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantConcurrencyLimit::new(inner, self.max, self.overflow)
    }
}
