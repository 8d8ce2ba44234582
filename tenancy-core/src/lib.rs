//! Tenant identity and context for applications that serve several operating
//! companies ("entities", tenants) from one deployment and one database.
//!
//! This crate has no HTTP and no SQL. It owns:
//!
//! - [`TenantId`], the identifier stored in every tenant-scoped row: an
//!   integer, a UUID or a short text key, of the [`TenantKeyKind`] the
//!   application chose;
//! - [`TenantContext`], the value that travels with a request or a job;
//! - [`Domain`], a normalised domain name, and the [`directory`] that maps
//!   domains and slugs to tenants, with a cache;
//! - a tokio task-local, so code with no request at hand can ask
//!   [`current`] which tenant it runs for ([`TenantContext::scope`] sets it);
//! - [`Error`], the shared error type.
//!
//! # Example
//!
//! ```
//! use tenancy_core::{TenantContext, TenantId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let golden_key = TenantContext::new(TenantId::new(1));
//!
//! let seen = golden_key
//!     .scope(async { tenancy_core::current().map(|ctx| ctx.tenant()) })
//!     .await;
//! assert_eq!(seen, Ok(TenantId::new(1)));
//!
//! // Outside a scope there is no tenant, and asking is an error, not a default.
//! assert_eq!(tenancy_core::current(), Err(tenancy_core::Error::NoTenant));
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `sea-query`: `From<TenantId> for sea_query::Value` (`tenancy-seaorm`
//!   turns it on).
//!
//! The typed per-tenant feature-flag and configuration registry is its own
//! crate, `tenancy-config`.
//!
//! # How it fails
//!
//! Nothing here panics on bad input: parsing a tenant id returns
//! [`Error::InvalidTenantId`], a key of another kind than the application's
//! [`Error::KeyKind`], and reading the context outside a scope returns
//! [`Error::NoTenant`].

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod context;
pub mod directory;
pub mod domain;
mod error;
mod id;
mod store;

pub use context::{TenantContext, current, try_current};
pub use domain::{Domain, DomainError};
pub use error::{Error, Result};
pub use id::{MAX_TEXT_KEY_LEN, TenantId, TenantKeyKind};
pub use store::StoreError;
/// The `uuid` crate, for UUID tenant keys ([`TenantId::uuid`]).
pub use uuid;

// The README's example runs as a doc test, so it can't drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
