//! Tower layers that resolve the tenant of each HTTP request.
//!
//! Not built yet: the `TenantResolver` layer, session binding and per-tenant
//! limits arrive with their own issue. Until then this crate only re-exports
//! the tenant context, so the workspace layout is in place.

#![forbid(unsafe_code)]

pub use tenancy_core::{TenantContext, TenantId};
