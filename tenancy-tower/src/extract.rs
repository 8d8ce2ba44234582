//! The axum extractor for the resolved tenant (feature `axum`):
//! [`CurrentTenant`], the directory record with its id and context.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tenancy_tower::CurrentTenant;
//!
//! async fn whoami(tenant: CurrentTenant) -> String {
//!     format!("you are on {} (tenant {})", tenant.record().name, tenant.id())
//! }
//!
//! let app: Router = Router::new().route("/whoami", get(whoami));
//! # let _ = app;
//! ```

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::CurrentTenant;
// The extractor's rejection, here where axum users look for it.
pub use crate::rejection::MissingTenant;

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = MissingTenant;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(MissingTenant)
    }
}
