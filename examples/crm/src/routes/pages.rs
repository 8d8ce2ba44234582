//! The server-rendered UI: sign in, the leads list with a call form using
//! the company's own dispositions, and the report. What it shows differs by
//! company through the configuration registry.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::{DOCTYPE, Markup, html};
use sea_orm::{EntityTrait, QueryOrder};
use serde::Deserialize;
use tenancy_tower::CurrentTenant;

use super::api::{self, Credentials, NewCall};
use crate::auth::{self, Principal, Role};
use crate::config::{BRAND_COLOR, DISPOSITIONS, SHOW_ACCOUNTS, SHOW_TALK_TIME};
use crate::entities::{account, lead, stage};
use crate::error::{AppError, AppResult};
use crate::{AppState, TenantDb, report};
use tenancy_seaorm::TenantConnection;

fn page(company: &str, brand: &str, who: Option<&Principal>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (company) " CRM" }
                style { "body{font-family:sans-serif;margin:0} main{padding:1rem 2rem} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.3rem .6rem} .error{color:#b91c1c}" }
            }
            body {
                header style=(format!("background:{brand};color:white;padding:1rem 2rem")) {
                    strong #company { (company) }
                    @if let Some(me) = who {
                        " · " span #who { (me.name) " (" (me.role.as_str()) ")" }
                        " · " a style="color:white" href="/leads" { "Leads" }
                        @if me.role >= Role::Manager { " · " a style="color:white" href="/report" { "Report" } }
                        form method="post" action="/logout" style="display:inline;margin-left:1rem" { button #logout { "Sign out" } }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// `GET /`: the sign-in form, or on to the leads.
pub async fn home(
    State(app): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    me: Option<Principal>,
) -> AppResult<Response> {
    if me.is_some() {
        return Ok(Redirect::to("/leads").into_response());
    }
    let brand = app.config.get(tenant.id, &BRAND_COLOR)?;
    Ok(page(&tenant.name, &brand, None, login_form(None)).into_response())
}

fn login_form(error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(e) = error { p.error #error { (e) } }
        form method="post" action="/login" {
            p { label { "Email " input #email name="email" type="email" required; } }
            p { label { "Password " input #password name="password" type="password" required; } }
            button #signin type="submit" { "Sign in" }
        }
    }
}

/// `POST /login`.
pub async fn login(
    State(app): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    jar: CookieJar,
    Form(creds): Form<Credentials>,
) -> AppResult<Response> {
    match api::sign_in(&app, tenant.id, &creds).await {
        Ok(me) => {
            let token = auth::open_session(&app, Some(me.tenant), me.user_id).await?;
            Ok((jar.add(api::session_cookie(token)), Redirect::to("/leads")).into_response())
        }
        Err(AppError::Unauthorized) => {
            let brand = app.config.get(tenant.id, &BRAND_COLOR)?;
            let body = login_form(Some("Wrong email or password for this company."));
            Ok((
                http::StatusCode::UNAUTHORIZED,
                page(&tenant.name, &brand, None, body),
            )
                .into_response())
        }
        Err(e) => Err(e),
    }
}

/// `POST /logout`.
pub async fn logout(State(app): State<AppState>, jar: CookieJar) -> AppResult<Response> {
    if let Some(cookie) = jar.get(auth::COOKIE) {
        auth::close_session(&app, cookie.value()).await?;
    }
    Ok((jar.remove(auth::COOKIE), Redirect::to("/")).into_response())
}

/// `GET /leads`: the leads, and a call form with this company's dispositions.
pub async fn leads(
    State(app): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    TenantDb(db): TenantDb,
    me: Option<Principal>,
) -> AppResult<Response> {
    let Some(me) = me else {
        return Ok(Redirect::to("/").into_response());
    };
    me.require(Role::Agent, "list leads")?;
    let body = leads_body(&app, &db, None).await?;
    let brand = app.config.get(tenant.id, &BRAND_COLOR)?;
    Ok(page(&tenant.name, &brand, Some(&me), body).into_response())
}

async fn leads_body(
    app: &AppState,
    db: &TenantConnection,
    error: Option<&str>,
) -> AppResult<Markup> {
    let scoped = db.clone();
    let config = app.config.tenant(db.tenant());
    let dispositions = config.get(&DISPOSITIONS)?;
    let show_accounts = config.get(&SHOW_ACCOUNTS)?;
    let leads = lead::Entity::find()
        .order_by_asc(lead::Column::CreatedAt)
        .order_by_asc(lead::Column::Id)
        .all(&scoped)
        .await?;
    let stages = stage::Entity::find().all(&scoped).await?;
    let accounts = if show_accounts {
        account::Entity::find().all(&scoped).await?
    } else {
        Vec::new()
    };
    let stage_name = |id| {
        stages
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.as_str())
            .unwrap_or("?")
    };
    let account_name = |id: Option<i64>| {
        id.and_then(|id| accounts.iter().find(|a| a.id == id))
            .map(|a| a.name.as_str())
            .unwrap_or("")
    };
    Ok(html! {
        h1 { "Leads" }
        @if let Some(e) = error { p.error #error { (e) } }
        table #leads {
            tr { th { "Lead" } th { "Phone" } @if show_accounts { th.account { "Account" } } th { "Stage" } }
            @for l in &leads {
                tr data-id=(l.id) {
                    td.name { (l.name) } td { (l.phone) }
                    @if show_accounts { td.account { (account_name(l.account_id)) } }
                    td.stage { (stage_name(l.stage_id)) }
                }
            }
        }
        h2 { "Log a call" }
        form #log-call method="post" action="/calls" {
            p { label { "Lead " select #lead name="lead_id" { @for l in &leads { option value=(l.id) { (l.name) } } } } }
            p { label { "Disposition " select #disposition name="disposition" { @for d in &dispositions { option value=(d) { (d) } } } } }
            p { label { "Seconds " input #duration name="duration_s" type="number" value="60" min="0"; } }
            p { label { "Outcome " input #outcome name="outcome" type="text"; } }
            button #save-call type="submit" { "Log call" }
        }
    })
}

/// The call form.
#[derive(Debug, Deserialize)]
pub struct CallForm {
    lead_id: i64,
    disposition: String,
    duration_s: i32,
    #[serde(default)]
    outcome: String,
}

/// `POST /calls`: as `POST /api/calls`; a refused disposition shows the
/// page again with the message.
pub async fn log_call(
    State(app): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    TenantDb(db): TenantDb,
    me: Principal,
    Form(form): Form<CallForm>,
) -> AppResult<Response> {
    let new = NewCall {
        lead_id: form.lead_id,
        disposition: form.disposition,
        duration_s: form.duration_s,
        outcome: form.outcome,
    };
    match api::record_call(&app, &me, &db, new).await {
        Ok(_) => Ok(Redirect::to("/leads").into_response()),
        Err(AppError::Unprocessable(message)) => {
            let brand = app.config.get(tenant.id, &BRAND_COLOR)?;
            let body = leads_body(&app, &db, Some(&message)).await?;
            Ok((
                http::StatusCode::UNPROCESSABLE_ENTITY,
                page(&tenant.name, &brand, Some(&me), body),
            )
                .into_response())
        }
        Err(e) => Err(e),
    }
}

/// `GET /report` (manager and up).
pub async fn report(
    State(app): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    TenantDb(db): TenantDb,
    me: Principal,
) -> AppResult<Response> {
    me.require(Role::Manager, "read reports")?;
    let report = report::build(&db).await?;
    let show_talk = app.config.get(db.tenant(), &SHOW_TALK_TIME)?;
    let brand = app.config.get(tenant.id, &BRAND_COLOR)?;
    let body = html! {
        h1 { "Report" }
        h2 { "Calls by disposition" }
        table #dispositions {
            tr { th { "Disposition" } th { "Calls" } @if show_talk { th.talk { "Talk time (s)" } } }
            @for r in &report.dispositions {
                tr { td { (r.disposition) } td { (r.calls) } @if show_talk { td.talk { (r.talk_time_s) } } }
            }
        }
        h2 { "Pipeline" }
        table #stages {
            tr { th { "Stage" } th { "Leads" } th { "Reached" } }
            @for s in &report.stages { tr { td { (s.stage) } td { (s.leads) } td { (s.reached_pct) "%" } } }
        }
    };
    Ok(page(&tenant.name, &brand, Some(&me), body).into_response())
}
