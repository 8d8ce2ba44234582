//! The JSON API.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy_config::Scope;
use tenancy_tower::CurrentTenant;

use crate::auth::{self, Principal, Role};
use crate::config::{DISPOSITIONS, SEQUENTIAL_STAGES};
use crate::entities::{account, call, lead, stage, user};
use crate::error::{AppError, AppResult};
use crate::{AppState, TenantDb, new_id, now, report};
use tenancy_seaorm::TenantConnection;

/// A sign-in.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// The user's email.
    pub email: String,
    /// The user's password.
    pub password: String,
}

/// `POST /api/login`: a session for a user of *this* company.
pub async fn login(
    State(app): State<AppState>,
    tenant: CurrentTenant,
    jar: CookieJar,
    Json(creds): Json<Credentials>,
) -> AppResult<impl IntoResponse> {
    let principal = sign_in(&app, tenant.id(), &creds).await?;
    let token = auth::open_session(&app, Some(principal.tenant), principal.user_id).await?;
    Ok((
        jar.add(session_cookie(token)),
        Json(json!({ "name": principal.name, "role": principal.role.as_str() })),
    ))
}

/// Checks credentials against this company's users only.
pub(crate) async fn sign_in(
    app: &AppState,
    tenant: tenancy_core::TenantId,
    creds: &Credentials,
) -> AppResult<Principal> {
    let user = user::Entity::find()
        .filter(user::Column::Email.eq(creds.email.trim().to_lowercase()))
        .one(&app.scoped(tenant))
        .await?;
    match user {
        Some(u) if auth::verify_password(&creds.password, &u.password_hash) => Ok(Principal {
            user_id: u.id,
            tenant,
            name: u.name,
            role: Role::parse(&u.role).ok_or_else(|| AppError::Internal("bad role".into()))?,
        }),
        _ => Err(AppError::Unauthorized),
    }
}

pub(crate) fn session_cookie(token: String) -> Cookie<'static> {
    Cookie::build((auth::COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .build()
}

/// `GET /api/me`.
pub async fn me(State(app): State<AppState>, me: Principal) -> AppResult<Json<Value>> {
    let config = app.config.tenant(me.tenant);
    Ok(Json(json!({
        "name": me.name,
        "role": me.role.as_str(),
        "dispositions": config.get(&DISPOSITIONS)?,
    })))
}

/// `GET /api/leads` (agent and up).
pub async fn leads(me: Principal, TenantDb(db): TenantDb) -> AppResult<Json<Vec<lead::Model>>> {
    me.require(Role::Agent, "list leads")?;
    let leads = lead::Entity::find()
        .order_by_asc(lead::Column::CreatedAt)
        .order_by_asc(lead::Column::Id)
        .all(&db)
        .await?;
    Ok(Json(leads))
}

/// `GET /api/leads/{id}`: 404 for another company's id, exactly as for an
/// id that does not exist.
pub async fn lead(
    me: Principal,
    TenantDb(db): TenantDb,
    Path(id): Path<i64>,
) -> AppResult<Json<lead::Model>> {
    me.require(Role::Agent, "read leads")?;
    find_lead(&db, id).await.map(Json)
}

async fn find_lead(db: &TenantConnection, id: i64) -> AppResult<lead::Model> {
    lead::Entity::find()
        .filter(lead::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// A new lead.
#[derive(Debug, Deserialize)]
pub struct NewLead {
    /// Who.
    pub name: String,
    /// Their number.
    pub phone: String,
    /// Their account, if any.
    pub account_id: Option<i64>,
}

/// `POST /api/leads` (manager and up): the lead starts in the first stage.
pub async fn create_lead(
    me: Principal,
    TenantDb(db): TenantDb,
    Json(new): Json<NewLead>,
) -> AppResult<(http::StatusCode, Json<lead::Model>)> {
    me.require(Role::Manager, "create leads")?;
    if new.name.trim().is_empty() || new.name.len() > 120 || new.phone.len() > 40 {
        return Err(AppError::BadRequest(
            "name is required (at most 120 characters), phone at most 40".into(),
        ));
    }
    let scoped = db.clone();
    if let Some(account_id) = new.account_id
        && account::Entity::find()
            .filter(account::Column::Id.eq(account_id))
            .one(&scoped)
            .await?
            .is_none()
    {
        return Err(AppError::Unprocessable(format!("no account {account_id}")));
    }
    let first = stage::Entity::find()
        .order_by_asc(stage::Column::PipelineId)
        .order_by_asc(stage::Column::Ord)
        .one(&scoped)
        .await?
        .ok_or_else(|| AppError::Unprocessable("this company has no pipeline".into()))?;
    let model = lead::Model {
        entity_id: i64::try_from(db.tenant())?,
        id: new_id()?,
        account_id: new.account_id,
        stage_id: first.id,
        owner_id: me.user_id,
        name: new.name.trim().to_owned(),
        phone: new.phone,
        created_at: now(),
    };
    lead::Entity::insert(lead::ActiveModel {
        entity_id: Set(model.entity_id),
        id: Set(model.id),
        account_id: Set(model.account_id),
        stage_id: Set(model.stage_id),
        owner_id: Set(model.owner_id),
        name: Set(model.name.clone()),
        phone: Set(model.phone.clone()),
        created_at: Set(model.created_at),
    })
    .exec_without_returning(&scoped)
    .await?;
    Ok((http::StatusCode::CREATED, Json(model)))
}

/// A stage move.
#[derive(Debug, Deserialize)]
pub struct StageMove {
    /// The stage to move to.
    pub stage_id: i64,
}

/// `POST /api/leads/{id}/stage` (agent and up). Companies with
/// `workflow.sequential_stages` only move one stage forward or back.
pub async fn move_stage(
    State(app): State<AppState>,
    me: Principal,
    TenantDb(db): TenantDb,
    Path(id): Path<i64>,
    Json(to): Json<StageMove>,
) -> AppResult<Json<lead::Model>> {
    me.require(Role::Agent, "move leads")?;
    let mut lead = find_lead(&db, id).await?;
    let scoped = db.clone();
    let stages = stage::Entity::find().all(&scoped).await?;
    let (Some(from), Some(target)) = (
        stages.iter().find(|s| s.id == lead.stage_id),
        stages.iter().find(|s| s.id == to.stage_id),
    ) else {
        return Err(AppError::Unprocessable(format!(
            "no stage {} in this company",
            to.stage_id
        )));
    };
    if target.pipeline_id != from.pipeline_id {
        return Err(AppError::Unprocessable(
            "that stage is in another pipeline".into(),
        ));
    }
    if app.config.get(db.tenant(), &SEQUENTIAL_STAGES)? && (target.ord - from.ord).abs() > 1 {
        return Err(AppError::Unprocessable(format!(
            "this company moves leads one stage at a time: from {:?} the next stage is the one after it, not {:?}",
            from.name, target.name
        )));
    }
    lead::Entity::update_many()
        .col_expr(
            lead::Column::StageId,
            sea_orm::sea_query::Expr::value(target.id),
        )
        .filter(lead::Column::Id.eq(id))
        .exec(&scoped)
        .await?;
    lead.stage_id = target.id;
    Ok(Json(lead))
}

/// `GET /api/stages`.
pub async fn stages(me: Principal, TenantDb(db): TenantDb) -> AppResult<Json<Vec<stage::Model>>> {
    me.require(Role::Agent, "list stages")?;
    Ok(Json(
        stage::Entity::find()
            .order_by_asc(stage::Column::Ord)
            .all(&db)
            .await?,
    ))
}

/// `GET /api/accounts/{id}`.
pub async fn account(
    me: Principal,
    TenantDb(db): TenantDb,
    Path(id): Path<i64>,
) -> AppResult<Json<account::Model>> {
    me.require(Role::Agent, "read accounts")?;
    account::Entity::find()
        .filter(account::Column::Id.eq(id))
        .one(&db)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// A call to log.
#[derive(Debug, Deserialize)]
pub struct NewCall {
    /// The lead called.
    pub lead_id: i64,
    /// One of the company's dispositions.
    pub disposition: String,
    /// Seconds on the phone.
    pub duration_s: i32,
    /// Free text.
    #[serde(default)]
    pub outcome: String,
}

/// `POST /api/calls` (agent and up). A disposition outside the company's
/// set is 422, naming the allowed ones.
pub async fn log_call(
    State(app): State<AppState>,
    me: Principal,
    TenantDb(db): TenantDb,
    Json(new): Json<NewCall>,
) -> AppResult<(http::StatusCode, Json<call::Model>)> {
    record_call(&app, &me, &db, new)
        .await
        .map(|c| (http::StatusCode::CREATED, Json(c)))
}

pub(crate) async fn record_call(
    app: &AppState,
    me: &Principal,
    db: &TenantConnection,
    new: NewCall,
) -> AppResult<call::Model> {
    me.require(Role::Agent, "log calls")?;
    let allowed = app.config.get(db.tenant(), &DISPOSITIONS)?;
    if !allowed.contains(&new.disposition) {
        return Err(AppError::Unprocessable(format!(
            "disposition {:?} is not one of this company's: {}",
            new.disposition,
            allowed.join(", ")
        )));
    }
    if !(0..=86_400).contains(&new.duration_s) || new.outcome.len() > 200 {
        return Err(AppError::BadRequest(
            "duration_s is 0 to 86400 seconds; outcome at most 200 characters".into(),
        ));
    }
    // The lead must be this company's: another company's id is a 404.
    find_lead(db, new.lead_id).await?;
    let model = call::Model {
        entity_id: i64::try_from(db.tenant())?,
        id: new_id()?,
        lead_id: new.lead_id,
        agent_id: me.user_id,
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
    .exec_without_returning(db)
    .await?;
    Ok(model)
}

/// `GET /api/calls/{id}`.
pub async fn call(
    me: Principal,
    TenantDb(db): TenantDb,
    Path(id): Path<i64>,
) -> AppResult<Json<call::Model>> {
    me.require(Role::Agent, "read calls")?;
    call::Entity::find()
        .filter(call::Column::Id.eq(id))
        .one(&db)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// `GET /api/report` (manager and up).
pub async fn report(me: Principal, TenantDb(db): TenantDb) -> AppResult<Json<report::Report>> {
    me.require(Role::Manager, "read reports")?;
    Ok(Json(report::build(&db).await?))
}

/// `GET /api/config` (admin): every key with this company's value and its
/// source; secrets as fingerprints.
pub async fn config(State(app): State<AppState>, me: Principal) -> AppResult<Json<Value>> {
    me.require(Role::Admin, "read the configuration")?;
    Ok(Json(json!({
        "keys": app.config.keys(),
        "effective": app.config.effective(me.tenant),
    })))
}

/// `PUT /api/config/{key}` (admin): this company's override. Checked with
/// the key's own type and validator; 422 and nothing stored when invalid.
pub async fn set_config(
    State(app): State<AppState>,
    me: Principal,
    Path(key): Path<String>,
    Json(value): Json<Value>,
) -> AppResult<Json<Value>> {
    me.require(Role::Admin, "change the configuration")?;
    let actor = format!("user:{}@entity:{}", me.user_id, me.tenant);
    app.config
        .set_json(&actor, Scope::Tenant(me.tenant), &key, value)
        .await?;
    Ok(Json(json!({ "ok": true })))
}
