//! How a request's tenant is found, and the layer that gives every request
//! exactly one tenant or refuses it.
//!
//! A [`TenantResolver`] looks at the request head (normalised host, URI,
//! headers, peer address) and answers with a [`Resolution`]. The
//! strategies the platform ships ([`ExactHost`], [`Subdomain`],
//! [`TenantHeader`], [`PathPrefix`]) combine in a [`Chain`], and any
//! closure `Fn(&RequestHead<'_>) -> impl Future<Output = Resolution>` is a
//! resolver too, for logic of your own.
//!
//! [`ResolveTenantLayer`] normalises the request's host (see
//! [`crate::host`]), asks its resolver, and then either
//!
//! - puts the tenant in the request extensions (a [`TenantContext`] and a
//!   [`CurrentTenant`]) and runs the inner service inside the tenant's
//!   task-local scope and a `tenancy.request` span carrying `tenant`, or
//! - answers with a [`TenantRejection`](crate::TenantRejection) and never
//!   calls the inner service.
//!
//! [`TenantContext`]: tenancy_core::TenantContext

mod head;
mod layer;
mod service;
mod strategies;

use std::sync::Arc;

use tenancy_core::directory::Tenant;
use tenancy_core::{TenantContext, TenantId};

pub use crate::rejection::Malformed;
pub use head::{RequestHead, Resolution, Resolved, TenantResolver};
pub use layer::ResolveTenantLayer;
pub use service::ResolveTenant;
pub use strategies::{Chain, ExactHost, HeaderKey, PathPrefix, Subdomain, TenantHeader};

/// The resolved tenant, in the request extensions: its directory record,
/// its id and its [`TenantContext`]. With the `axum` feature it is also
/// the extractor (rejecting with [`MissingTenant`](crate::MissingTenant)).
///
/// ```
/// use tenancy_core::directory::Tenant;
/// use tenancy_tower::CurrentTenant;
///
/// let current = CurrentTenant(std::sync::Arc::new(Tenant::new(2, "stone", "Stone")));
/// assert_eq!(current.id(), 2.into());
/// assert_eq!(current.context().tenant(), current.id());
/// assert_eq!(current.record().slug, "stone");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentTenant(pub Arc<Tenant>);

impl CurrentTenant {
    /// The tenant's id.
    pub fn id(&self) -> TenantId {
        self.0.id
    }

    /// The tenant's directory record.
    pub fn record(&self) -> &Tenant {
        &self.0
    }

    /// The context the resolver runs the request in.
    pub fn context(&self) -> TenantContext {
        TenantContext::new(self.0.id)
    }
}
