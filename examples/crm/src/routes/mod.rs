//! The company-side routes: an HTML UI and a JSON API over the same
//! operations. Every route runs behind the tenant layers, so it knows its
//! company from the request and reaches data only through that company's
//! scoped connection. Permissions are checked on every route.

pub(crate) mod api;
mod pages;

use axum::Router;
use axum::routing::{get, post, put};

use crate::AppState;

/// The company router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/leads", get(pages::leads))
        .route("/calls", post(pages::log_call))
        .route("/report", get(pages::report))
        .route("/api/login", post(api::login))
        .route("/api/me", get(api::me))
        .route("/api/leads", get(api::leads).post(api::create_lead))
        .route("/api/leads/{id}", get(api::lead))
        .route("/api/leads/{id}/stage", post(api::move_stage))
        .route("/api/accounts/{id}", get(api::account))
        .route("/api/calls", post(api::log_call))
        .route("/api/calls/{id}", get(api::call))
        .route("/api/stages", get(api::stages))
        .route("/api/report", get(api::report))
        .route("/api/config", get(api::config))
        .route("/api/config/{key}", put(api::set_config))
        .with_state(state)
}
