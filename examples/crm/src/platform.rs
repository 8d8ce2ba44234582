//! The platform operators' side, on the admin domain only: a sign-in for
//! operator accounts (separate from every company's users) and the
//! cross-company report.
//!
//! The report is the one place that reads across companies. It never rides
//! on a company session: it needs an operator session, and reads through
//! `tenancy_seaorm::CrossTenantReader`, which is read-only and writes every
//! statement to `operator_audit` before running it.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_extra::extract::CookieJar;
use maud::{DOCTYPE, html};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde::Serialize;
use tenancy_seaorm::{AuditSink, CrossTenantRead, CrossTenantReader};

use crate::auth::{self, Operator};
use crate::entities::{call, lead, stage};
use crate::error::{AppError, AppResult};
use crate::routes::api::{Credentials, session_cookie};
use crate::{AppState, new_id, now, report};

/// The platform router (admin domain).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/report", get(report_page))
        .route("/api/report", get(report_json))
        .with_state(state)
}

async fn home(OperatorOpt(operator): OperatorOpt) -> Response {
    if operator.is_some() {
        return Redirect::to("/report").into_response();
    }
    html! {
        (DOCTYPE)
        html { head { title { "Platform" } } body {
            h1 { "Platform operators" }
            form method="post" action="/login" {
                p { label { "Email " input #email name="email" type="email" required; } }
                p { label { "Password " input #password name="password" type="password" required; } }
                button #signin type="submit" { "Sign in" }
            }
        } }
    }
    .into_response()
}

/// `Option<Operator>` as an extractor.
struct OperatorOpt(Option<Operator>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for OperatorOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Operator>().cloned()))
    }
}

async fn login(
    State(app): State<AppState>,
    jar: CookieJar,
    Form(creds): Form<Credentials>,
) -> AppResult<Response> {
    let stmt = Query::select()
        .columns(["id", "password_hash"])
        .from("operators")
        .and_where(Expr::col("email").eq(creds.email.trim().to_lowercase()))
        .to_owned();
    let row = app.db.query_one(&stmt).await?;
    let Some(row) = row else {
        return Err(AppError::Unauthorized);
    };
    let id: i64 = row.try_get("", "id")?;
    let hash: String = row.try_get("", "password_hash")?;
    if !auth::verify_password(&creds.password, &hash) {
        return Err(AppError::Unauthorized);
    }
    let token = auth::open_session(&app, None, id).await?;
    Ok((jar.add(session_cookie(token)), Redirect::to("/report")).into_response())
}

/// One company's line in the cross-company report.
#[derive(Debug, Serialize)]
pub struct CompanyLine {
    /// The company.
    pub company: String,
    /// Its report.
    pub report: report::Report,
}

/// Writes each cross-company read to `operator_audit` before it runs.
#[derive(Debug)]
struct OperatorAudit {
    db: sea_orm::DatabaseConnection,
    operator_id: i64,
}

#[async_trait::async_trait]
impl AuditSink for OperatorAudit {
    async fn record(&self, read: &CrossTenantRead) -> Result<(), sea_orm::DbErr> {
        let detail: String = format!("{}: {}", read.purpose, read.sql)
            .chars()
            .take(400)
            .collect();
        let stmt = Query::insert()
            .into_table("operator_audit")
            .columns(["id", "operator_id", "at", "action", "detail"])
            .values_panic([
                new_id()?.into(),
                self.operator_id.into(),
                now().into(),
                "cross_company_read".into(),
                detail.into(),
            ])
            .to_owned();
        self.db.execute(&stmt).await.map(|_| ())
    }
}

/// Builds the cross-company report for `operator`.
///
/// It reads through the library's [`CrossTenantReader`]: read-only, only
/// the registered tables, every statement audited in `operator_audit`
/// before it runs. No company session is involved.
///
/// # Errors
///
/// The database's error, or a refusal.
pub async fn cross_company_report(
    app: &AppState,
    operator: &Operator,
) -> AppResult<Vec<CompanyLine>> {
    let reader = CrossTenantReader::new(
        app.db.clone(),
        app.tables.clone(),
        format!("operator:{}", operator.id),
        "cross-company report",
        OperatorAudit {
            db: app.db.clone(),
            operator_id: operator.id,
        },
    );
    let calls = call::Entity::find().all(&reader).await?;
    let stages = stage::Entity::find()
        .order_by_asc(stage::Column::PipelineId)
        .order_by_asc(stage::Column::Ord)
        .all(&reader)
        .await?;
    let leads = lead::Entity::find().all(&reader).await?;
    let tenants = app
        .directory_store
        .list_tenants()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(tenants
        .into_iter()
        .map(|t| {
            let id = t.id.as_i64();
            let calls: Vec<_> = calls
                .iter()
                .filter(|c| Some(c.entity_id) == id)
                .cloned()
                .collect();
            let stages: Vec<_> = stages
                .iter()
                .filter(|s| Some(s.entity_id) == id)
                .cloned()
                .collect();
            let leads: Vec<_> = leads
                .iter()
                .filter(|l| Some(l.entity_id) == id)
                .cloned()
                .collect();
            CompanyLine {
                company: t.name,
                report: report::from_rows(&calls, &stages, &leads),
            }
        })
        .collect())
}

async fn report_json(
    State(app): State<AppState>,
    operator: Operator,
) -> AppResult<Json<Vec<CompanyLine>>> {
    Ok(Json(cross_company_report(&app, &operator).await?))
}

async fn report_page(State(app): State<AppState>, operator: Operator) -> AppResult<Response> {
    let lines = cross_company_report(&app, &operator).await?;
    Ok(html! {
        (DOCTYPE)
        html { head { title { "Platform report" } } body {
            h1 { "Cross-company report (read-only, audited)" }
            p { "Signed in as " (operator.name) }
            table #companies {
                tr { th { "Company" } th { "Calls" } th { "Talk time (s)" } th { "Leads" } }
                @for l in &lines {
                    tr { td { (l.company) } td { (l.report.calls) } td { (l.report.talk_time_s) }
                         td { (l.report.stages.iter().map(|s| s.leads).sum::<u64>()) } }
                }
            }
        } }
    }
    .into_response())
}
