//! What a route answers when it cannot do what was asked.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// A route's failure. The body never carries database internals.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such record in this company (also for other companies' ids).
    #[error("not found")]
    NotFound,
    /// Not signed in.
    #[error("sign in first")]
    Unauthorized,
    /// Signed in, but the role does not allow this.
    #[error("your role ({role}) may not {action}")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What was refused.
        action: &'static str,
    },
    /// The request is well formed but breaks a rule of this company.
    #[error("{0}")]
    Unprocessable(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Something failed inside.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A random id, session token or password hash could not be made: the OS
/// random source or Argon2 failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The OS random source failed.
    #[error("the OS random source failed: {0}")]
    Random(getrandom::Error),
    /// Argon2 refused to hash.
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
}

/// A company key of another kind than the CRM's integers: a bug, not input.
impl From<tenancy_core::Error> for AppError {
    fn from(e: tenancy_core::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<CryptoError> for AppError {
    fn from(e: CryptoError) -> Self {
        tracing::error!(error = %e, "cannot make a random value or a password hash");
        Self::Internal(e.to_string())
    }
}

/// For the code paths whose error type is SeaORM's (an [`AuditSink`],
/// opening a session).
///
/// [`AuditSink`]: tenancy_seaorm::AuditSink
impl From<CryptoError> for sea_orm::DbErr {
    fn from(e: CryptoError) -> Self {
        Self::Custom(e.to_string())
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        // A refusal by the tenancy layer is a bug in this application, not
        // the caller's fault: log it loudly, answer 500.
        if let Some(refusal) = tenancy_seaorm::Refusal::from_db_err(&e) {
            tracing::error!(%refusal, "statement refused by the tenancy layer");
        } else {
            tracing::error!(error = %e, "database error");
        }
        Self::Internal(e.to_string())
    }
}

impl From<tenancy_config::ConfigError> for AppError {
    fn from(e: tenancy_config::ConfigError) -> Self {
        use tenancy_config::ConfigError as E;
        match e {
            E::UndeclaredKey { .. } => Self::NotFound,
            E::InvalidValue { .. } | E::Rejected { .. } => Self::Unprocessable(e.to_string()),
            other => {
                tracing::error!(error = %other, "configuration error");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let message = match &self {
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        (self.status(), Json(json!({ "error": message }))).into_response()
    }
}

/// `Result` for routes.
pub type AppResult<T> = Result<T, AppError>;
