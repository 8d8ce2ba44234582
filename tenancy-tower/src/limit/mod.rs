//! At most N requests in flight per tenant, so one busy tenant cannot starve
//! the others.
//!
//! Each tenant gets its own [`tower::limit::ConcurrencyLimit`] around a
//! clone of the inner service (one semaphore per tenant). When a tenant is
//! at its limit, a request either waits for a slot ([`Overflow::Queue`]) or
//! is shed at once with 503 ([`Overflow::Reject`]), which is what
//! `tower::load_shed` does for a whole service. Other tenants are not
//! affected either way.
//!
//! It must run inside [`ResolveTenantLayer`](crate::ResolveTenantLayer): a
//! request without a resolved tenant gets 500 (fail closed).
//!
//! ```
//! use tenancy_tower::limit::{Overflow, TenantConcurrencyLimitLayer};
//!
//! let layer = TenantConcurrencyLimitLayer::new(32).overflow(Overflow::Reject);
//! # let _ = layer;
//! ```

mod layer;
mod service;

pub use layer::TenantConcurrencyLimitLayer;
pub use service::TenantConcurrencyLimit;

/// What happens to a request when its tenant is at its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for one of the tenant's requests to finish (the default).
    #[default]
    Queue,
    /// Answer 503 at once.
    Reject,
}
