//! The load test's baseline: the CRM's two hottest API routes with the
//! tenancy layers removed and the tenant filter written by hand.
//!
//! Measurement only; never deploy this. It answers `GET /api/leads` and
//! `POST /api/calls` (and `POST /api/login` to get a session) with the same
//! database, schema, data, sessions, configuration and JSON as the real app,
//! but the company comes from a plain host map read once at start-up, there
//! is no session binding, and every query carries `entity_id = ?` written
//! by hand on the plain connection. `examples/crm/load/run.sh` runs the same
//! wrk load against this and against `crm`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use crm::auth::{COOKIE, Role, verify_password};
use crm::config::DISPOSITIONS;
use crm::entities::{call, lead, user};
use crm::error::{AppError, AppResult};
use crm::{AppState, new_id, now, seed};
use http::HeaderMap;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenancy_core::{Domain, TenantId};
use tenancy_tower::host::parse_host;

#[derive(Clone)]
struct Baseline {
    app: AppState,
    hosts: Arc<HashMap<Domain, TenantId>>,
}

fn tenant(b: &Baseline, headers: &HeaderMap) -> AppResult<TenantId> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| parse_host(h.as_bytes()).ok())
        .ok_or(AppError::NotFound)?;
    host.domain()
        .and_then(|d| b.hosts.get(d))
        .copied()
        .ok_or(AppError::NotFound)
}

async fn user_of(b: &Baseline, tenant: TenantId, jar: &CookieJar) -> AppResult<(i64, Role)> {
    let token = jar
        .get(COOKIE)
        .ok_or(AppError::Unauthorized)?
        .value()
        .to_owned();
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stmt = Query::select()
        .columns(["entity_id", "user_id"])
        .from("sessions")
        .and_where(Expr::col("token_hash").eq(hash))
        .and_where(Expr::col("entity_id").eq(tenant))
        .to_owned();
    let row = b
        .app
        .db
        .query_one(&stmt)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let user_id: i64 = row.try_get("", "user_id")?;
    let u = user::Entity::find()
        .filter(user::Column::EntityId.eq(tenant))
        .filter(user::Column::Id.eq(user_id))
        .one(&b.app.db)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok((u.id, Role::parse(&u.role).ok_or(AppError::Unauthorized)?))
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

async fn login(
    State(b): State<Baseline>,
    headers: HeaderMap,
    jar: CookieJar,
    Json(c): Json<Credentials>,
) -> AppResult<(CookieJar, Json<Value>)> {
    let t = tenant(&b, &headers)?;
    let u = user::Entity::find()
        .filter(user::Column::EntityId.eq(t))
        .filter(user::Column::Email.eq(c.email))
        .one(&b.app.db)
        .await?
        .filter(|u| verify_password(&c.password, &u.password_hash))
        .ok_or(AppError::Unauthorized)?;
    let token = crm::auth::open_session(&b.app, Some(t), u.id).await?;
    Ok((
        jar.add(axum_extra::extract::cookie::Cookie::new(COOKIE, token)),
        Json(json!({"name": u.name})),
    ))
}

async fn leads(
    State(b): State<Baseline>,
    headers: HeaderMap,
    jar: CookieJar,
) -> AppResult<Json<Vec<lead::Model>>> {
    let t = tenant(&b, &headers)?;
    user_of(&b, t, &jar).await?;
    let leads = lead::Entity::find()
        .filter(lead::Column::EntityId.eq(t))
        .order_by_asc(lead::Column::CreatedAt)
        .order_by_asc(lead::Column::Id)
        .all(&b.app.db)
        .await?;
    Ok(Json(leads))
}

#[derive(Deserialize)]
struct NewCall {
    lead_id: i64,
    disposition: String,
    duration_s: i32,
    #[serde(default)]
    outcome: String,
}

async fn log_call(
    State(b): State<Baseline>,
    headers: HeaderMap,
    jar: CookieJar,
    Json(new): Json<NewCall>,
) -> AppResult<(http::StatusCode, Json<call::Model>)> {
    let t = tenant(&b, &headers)?;
    let (user_id, _) = user_of(&b, t, &jar).await?;
    let allowed = b.app.config.get(t, &DISPOSITIONS)?;
    if !allowed.contains(&new.disposition) {
        return Err(AppError::Unprocessable(format!(
            "disposition {:?} not allowed",
            new.disposition
        )));
    }
    lead::Entity::find()
        .filter(lead::Column::EntityId.eq(t))
        .filter(lead::Column::Id.eq(new.lead_id))
        .one(&b.app.db)
        .await?
        .ok_or(AppError::NotFound)?;
    let model = call::Model {
        entity_id: i64::try_from(t)?,
        id: new_id()?,
        lead_id: new.lead_id,
        agent_id: user_id,
        disposition: new.disposition,
        duration_s: new.duration_s,
        outcome: new.outcome,
        created_at: now(),
    };
    call::Entity::insert(call::ActiveModel {
        entity_id: Set(model.entity_id),
        id: Set(model.id),
        lead_id: Set(model.lead_id),
        agent_id: Set(model.agent_id),
        disposition: Set(model.disposition.clone()),
        duration_s: Set(model.duration_s),
        outcome: Set(model.outcome.clone()),
        created_at: Set(model.created_at),
    })
    .exec_without_returning(&b.app.db)
    .await?;
    Ok((http::StatusCode::CREATED, Json(model)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://crm-demo.db?mode=rwc".into());
    let addr = std::env::var("CRM_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let app = AppState::open(
        Database::connect(&url).await?,
        Domain::parse("admin.localhost")?,
    )
    .await?;
    seed::seed(&app, &[]).await?;
    let mut hosts = HashMap::new();
    for t in app.directory_store.list_tenants().await? {
        for d in app.directory_store.domains_of(t.id).await? {
            hosts.insert(d, t.id);
        }
    }
    let router = Router::new()
        .route("/api/login", post(login))
        .route("/api/leads", get(leads))
        .route("/api/calls", post(log_call))
        .with_state(Baseline {
            app,
            hosts: Arc::new(hosts),
        });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("baseline (no tenancy layers) on {addr}");
    axum::serve(listener, router).await?;
    Ok(())
}
