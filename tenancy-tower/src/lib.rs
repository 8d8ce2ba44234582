//! Tower layers that give every HTTP request exactly one tenant.
//!
//! - [`ResolveTenantLayer`] finds the tenant of each request with a
//!   [`TenantResolver`](resolve::TenantResolver) (exact host, subdomain,
//!   trusted header, path prefix, a chain of them, or a closure of yours),
//!   puts it in the request extensions and runs the inner service inside
//!   the tenant's task-local scope and a `tenancy.request` span carrying
//!   `tenant`. What it cannot resolve gets a typed [`TenantRejection`].
//! - [`session::BindSessionLayer`] refuses a session issued for another tenant.
//! - [`limit::TenantConcurrencyLimitLayer`] caps each tenant's requests in
//!   flight, so one busy tenant cannot starve the others.
//! - With the `axum` feature, [`CurrentTenant`] (the record, its id and
//!   context) is an extractor.
//!
//! # Example
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tenancy_core::directory::{InMemoryDirectory, Tenant, TenantDirectory};
//! use tenancy_tower::{resolve::ExactHost, ResolveTenantLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = InMemoryDirectory::new();
//! store.insert(Tenant::new(1, "goldenkey", "Golden Key"), ["goldenkey.localhost"]).unwrap();
//! store.insert(Tenant::new(2, "stone", "Stone"), ["stone.localhost"]).unwrap();
//! let directory = TenantDirectory::new(store);
//!
//! let app = ServiceBuilder::new()
//!     .layer(ResolveTenantLayer::new(ExactHost::new(directory)))
//!     .service_fn(|_req: Request<String>| async {
//!         // The handler runs inside the tenant's scope.
//!         let tenant = tenancy_core::current().unwrap().tenant();
//!         Ok::<_, std::convert::Infallible>(Response::new(format!("tenant {tenant}")))
//!     });
//!
//! let req = Request::builder().uri("/").header("host", "Stone.localhost:8080").body(String::new()).unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.into_body(), "tenant 2");
//!
//! let req = Request::builder().uri("/").header("host", "nobody.localhost").body(String::new()).unwrap();
//! let res = app.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::NOT_FOUND);
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `axum`: the [`CurrentTenant`] extractor, and
//!   axum's `ConnectInfo<SocketAddr>` as the peer address for
//!   [`host::TrustedProxies`].
//!
//! # How it fails
//!
//! Nothing here panics on request input. Unknown tenant: 404; missing or
//! malformed host: 400; suspended tenant: 403; failing directory: 503
//! (each configurable with [`Rejections`]). Bodies are plain text and never
//! say whether another tenant exists. A layer that needs a resolved tenant
//! and finds none answers 500: a misordered stack fails closed.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[macro_use]
mod macros;

#[cfg(feature = "axum")]
pub mod extract;
pub mod host;
pub mod limit;
mod rejection;
pub mod resolve;
pub mod session;

pub use rejection::{MissingTenant, OtherTenantSession, Rejections, TenantBusy, TenantRejection};
pub use resolve::{CurrentTenant, ResolveTenant, ResolveTenantLayer};
pub use tenancy_core::{TenantContext, TenantId};

// The README's example runs as a doc test, so it can't drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
