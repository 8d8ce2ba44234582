//! The reference CRM: two operating companies on one platform, one
//! deployment and one database, resolved by the domain a user comes in on.
//!
//! - `goldenkey.localhost`: Golden Key, a wholesale real-estate company;
//! - `stone.localhost`: Stone, an outbound sales company;
//! - `admin.localhost`: the platform operators' read-only, audited
//!   cross-company report.
//!
//! How the crates fit together:
//!
//! - `tenancy-tower`'s `ResolveTenantLayer` finds the company from the host,
//!   through a cached `TenantDirectory` over `tenancy-seaorm`'s
//!   `SeaOrmDirectory` (the domains are data, not code);
//! - `BindSessionLayer` refuses a session issued for the other company;
//! - every handler reads and writes through a `TenantConnection` for the
//!   resolved company, so no query here mentions `entity_id`;
//! - per-company behaviour (dispositions, workflow, UI) comes from the typed
//!   `ConfigRegistry` in `tenancy-core`;
//! - the follow-up job runs per company, in that company's context, with
//!   that company's credentials.

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod entities;
pub mod error;
pub mod jobs;
pub mod platform;
pub mod report;
pub mod routes;
pub mod schema;
pub mod seed;

pub use error::CryptoError;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use http::request::Parts;
use sea_orm::DatabaseConnection;
use tenancy_config::ConfigRegistry;
use tenancy_core::Domain;
use tenancy_core::directory::TenantDirectory;
use tenancy_seaorm::config_store::SeaOrmConfigStore;
use tenancy_seaorm::{SeaOrmDirectory, TableRegistry, TenantConnection};
use tenancy_tower::MissingTenant;
use tenancy_tower::host::{TrustedProxies, request_host};
use tenancy_tower::resolve::ExactHost;
use tenancy_tower::session::BindSessionLayer;
use tenancy_tower::{ResolveTenantLayer, TenantContext, TenantId};
use tower::ServiceExt as _;

/// Everything a route needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The platform connection: only the session and platform code uses it
    /// directly; company data goes through [`AppState::scoped`].
    pub db: DatabaseConnection,
    /// Which tables are scoped.
    pub tables: TableRegistry,
    /// Tenants and their domains, cached.
    pub directory: TenantDirectory,
    /// The store behind the directory (for listing tenants).
    pub directory_store: SeaOrmDirectory,
    /// Per-company configuration.
    pub config: Arc<ConfigRegistry>,
    /// The store the configuration lives in.
    pub config_store: SeaOrmConfigStore,
    /// The platform operators' domain.
    pub admin_domain: Domain,
}

impl AppState {
    /// Migrates `db` and builds the state on it: the directory and the
    /// configuration registry both live in the same database. Does not seed.
    ///
    /// # Errors
    ///
    /// Migration, registry or configuration errors.
    pub async fn open(
        db: DatabaseConnection,
        admin_domain: Domain,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        schema::migrate(&db).await?;
        let directory_store = SeaOrmDirectory::new(db.clone());
        let config_store = SeaOrmConfigStore::new(db.clone());
        Ok(Self {
            tables: schema::tables()?,
            directory: TenantDirectory::new(directory_store.clone()),
            directory_store,
            config: Arc::new(config::builder().load(config_store.clone()).await?),
            config_store,
            admin_domain,
            db,
        })
    }

    /// A connection that can only reach `tenant`'s rows.
    pub fn scoped(&self, tenant: TenantId) -> TenantConnection<DatabaseConnection> {
        TenantConnection::new(self.db.clone(), self.tables.clone(), tenant)
    }
}

/// The request's tenant-scoped connection, for the tenant the resolver
/// established for this request, never one read from the session: a
/// query's scope doesn't depend on `BindSessionLayer` having run. Built from
/// the request's [`TenantContext`] and the app state, as axum's sqlx example
/// builds its connection extractor.
#[derive(Debug, Clone)]
pub struct TenantDb(pub TenantConnection<DatabaseConnection>);

impl FromRequestParts<AppState> for TenantDb {
    type Rejection = MissingTenant;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, MissingTenant> {
        let ctx = parts
            .extensions
            .get::<TenantContext>()
            .ok_or(MissingTenant)?;
        Ok(Self(app.scoped(ctx.tenant())))
    }
}

/// The whole application: the admin domain goes to the platform router,
/// every other host through the tenant layers to the company router.
pub fn app(state: AppState) -> Router {
    let company = routes::router(state.clone())
        .layer(BindSessionLayer::<auth::Principal>::new())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(ResolveTenantLayer::new(ExactHost::new(
            state.directory.clone(),
        )));
    let platform = platform::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));
    let admin = state.admin_domain.clone();
    Router::new().fallback_service(tower::service_fn(move |req: Request| {
        // The library's host rule, as the tenant layer applies it
        // (`:authority` and `Host` must agree; no proxy is trusted here).
        let on_admin = request_host(req.uri(), req.headers(), None, &TrustedProxies::new())
            .is_ok_and(|h| h.domain() == Some(&admin));
        let (company, platform) = (company.clone(), platform.clone());
        async move {
            if on_admin {
                platform.oneshot(req).await
            } else {
                company.oneshot(req).await
            }
        }
    }))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A new random record id (48 bits: exact in JavaScript too).
///
/// # Errors
///
/// [`CryptoError::Random`] if the OS random source fails.
pub fn new_id() -> Result<i64, CryptoError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes[..6]).map_err(CryptoError::Random)?;
    Ok(i64::from_le_bytes(bytes).max(1))
}
