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
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use tenancy_core::TenantContext;

use crate::CurrentTenant;

/// The tenant was not resolved: [`ResolveTenantLayer`](crate::ResolveTenantLayer)
/// is missing from the stack in front of this handler. A server
/// misconfiguration, answered with 500 and a plain body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MissingTenant;

impl MissingTenant {
    /// 500.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The plain body.
    pub fn body_text(&self) -> &'static str {
        "internal error: the tenant was not resolved\n"
    }
}

impl std::fmt::Display for MissingTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the tenant was not resolved (is ResolveTenantLayer installed?)")
    }
}

impl std::error::Error for MissingTenant {}

impl IntoResponse for MissingTenant {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (self.status(), self.body_text()).into_response()
    }
}

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
