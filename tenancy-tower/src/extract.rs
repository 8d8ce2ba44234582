//! axum extractors for the resolved tenant (feature `axum`).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tenancy_tower::CurrentTenant;
//!
//! async fn whoami(CurrentTenant(tenant): CurrentTenant) -> String {
//!     format!("you are on {}", tenant.name)
//! }
//!
//! let app: Router = Router::new().route("/whoami", get(whoami));
//! # let _ = app;
//! ```

use axum::extract::FromRequestParts;
use http::request::Parts;
use tenancy_core::TenantContext;

use crate::CurrentTenant;
// The extractors' rejection, here where axum users look for it.
pub use crate::rejection::MissingTenant;

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = MissingTenant;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(MissingTenant)
    }
}

/// The resolved tenant's [`TenantContext`], as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub TenantContext);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = MissingTenant;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantContext>()
            .cloned()
            .map(Tenant)
            .ok_or(MissingTenant)
    }
}
