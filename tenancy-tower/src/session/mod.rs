//! Binding an authenticated session to the tenant it was issued for.
//!
//! A session belongs to one tenant (the lesson of the case study: a user of
//! two operating companies holds two accounts). [`BindSessionLayer`] runs
//! after your authentication layer has put the principal in the request
//! extensions and after [`ResolveTenantLayer`](crate::ResolveTenantLayer)
//! has resolved the tenant; a principal of another tenant gets 403 with a
//! message saying so. The request goes no further, and nothing about the
//! session is touched: no cookie is cleared, so the session stays valid on
//! its own tenant's domain.
//!
//! ```
//! use tenancy_core::TenantId;
//! use tenancy_tower::session::{BindSessionLayer, TenantBound};
//!
//! #[derive(Clone)]
//! struct User { id: i64, tenant: TenantId }
//!
//! impl TenantBound for User {
//!     fn tenant(&self) -> TenantId { self.tenant }
//! }
//!
//! let layer = BindSessionLayer::<User>::new();
//! # let _ = layer;
//! ```

mod layer;
mod service;

use tenancy_core::TenantId;

pub use layer::BindSessionLayer;
pub use service::BindSession;

/// An authenticated principal that knows which tenant it belongs to.
pub trait TenantBound {
    /// The tenant the session was issued for.
    fn tenant(&self) -> TenantId;
}
