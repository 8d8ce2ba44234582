//! The layer that gives every request exactly one tenant, or refuses it.
//!
//! [`ResolveTenantLayer`] normalises the request's host (see
//! [`crate::host`]), asks its [`TenantResolver`](crate::resolver::TenantResolver),
//! and then either
//!
//! - puts the tenant in the request extensions (a [`TenantContext`] and a
//!   [`CurrentTenant`]) and runs the inner service inside the tenant's
//!   task-local scope and a `tenancy.request` span carrying `tenant`, or
//! - answers with a [`TenantRejection`](crate::TenantRejection) and never
//!   calls the inner service.
//!
//! [`TenantContext`]: tenancy_core::TenantContext

mod layer;
mod service;

use std::sync::Arc;

use tenancy_core::directory::Tenant;

pub use layer::ResolveTenantLayer;
pub use service::ResolveTenant;

/// The resolved tenant's directory record, in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentTenant(pub Arc<Tenant>);
