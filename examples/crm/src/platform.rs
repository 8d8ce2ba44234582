//! The platform operators' side, on the admin domain only: a sign-in for
//! operator accounts (separate from every company's users) and the
//! cross-company report.
//!
//! The report is the one place that reads across companies. It never rides
//! on a company session: it needs an operator session, runs read-only, and
//! every use is written to `operator_audit`.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_extra::extract::CookieJar;
use maud::{DOCTYPE, html};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use serde::Serialize;

use crate::auth::{self, Operator};
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

/// Builds the cross-company report for `operator`, auditing the use.
///
/// Each company's figures are read through that company's own scoped
/// connection, one after the other; nothing here can write.
///
/// # Errors
///
/// The database's error.
pub async fn cross_company_report(
    app: &AppState,
    operator: &Operator,
) -> AppResult<Vec<CompanyLine>> {
    let audit = Query::insert()
        .into_table("operator_audit")
        .columns(["id", "operator_id", "at", "action", "detail"])
        .values_panic([
            new_id().into(),
            operator.id.into(),
            now().into(),
            "cross_company_report".into(),
            format!("operator {} read the cross-company report", operator.name).into(),
        ])
        .to_owned();
    app.db.execute(&audit).await?;
    let mut lines = Vec::new();
    for tenant in app
        .directory_store
        .list_tenants()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    {
        let report = report::build(&app.scoped(tenant.id)).await?;
        lines.push(CompanyLine {
            company: tenant.name,
            report,
        });
    }
    Ok(lines)
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
