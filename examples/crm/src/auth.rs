//! Sign-in, sessions and roles.
//!
//! A session belongs to one company. Its row lives in the platform table
//! `sessions` (token hash, company, user), so the session layer can tell a
//! session of *another* company from no session at all: the first gets a
//! clear 403 from `tenancy_tower::session::BindSessionLayer`, and the
//! session itself is left alone, still valid on its own company's domain.
//! Platform operators' sessions have no company and only work on the admin
//! domain.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use http::request::Parts;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use tenancy_core::TenantId;
use tenancy_seaorm::TenantConnection;
use tenancy_tower::session::TenantBound;

use crate::entities::user;
use crate::error::AppError;
use crate::{AppState, CryptoError, now};

/// The session cookie's name.
pub const COOKIE: &str = "crm_session";

/// What a user may do, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Works leads and logs calls.
    Agent,
    /// Also creates leads and reads the reports.
    Manager,
    /// Also changes the company's configuration.
    Admin,
}

impl Role {
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "manager" => Some(Self::Manager),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }
}

/// A signed-in user of one company.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's id.
    pub user_id: i64,
    /// The company the session was issued for.
    pub tenant: TenantId,
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

impl TenantBound for Principal {
    fn tenant(&self) -> TenantId {
        self.tenant
    }
}

impl Principal {
    /// `Ok` when the role is at least `min`.
    ///
    /// # Errors
    ///
    /// [`AppError::Forbidden`] naming the role and the action.
    pub fn require(&self, min: Role, action: &'static str) -> Result<(), AppError> {
        if self.role >= min {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                role: self.role.as_str(),
                action,
            })
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(AppError::Unauthorized)
    }
}

/// A signed-in platform operator (admin domain only).
#[derive(Debug, Clone)]
pub struct Operator {
    /// The operator's id.
    pub id: i64,
    /// The operator's name.
    pub name: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Operator>()
            .cloned()
            .ok_or(AppError::Unauthorized)
    }
}

/// Hashes a password with Argon2id and a random salt.
///
/// # Errors
///
/// [`CryptoError`] if the OS random source or Argon2 fails.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(CryptoError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(CryptoError::Hash)?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(CryptoError::Hash)?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A new random session token, and the hash stored for it.
///
/// # Errors
///
/// [`CryptoError::Random`] if the OS random source fails.
pub fn new_token() -> Result<(String, String), CryptoError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(CryptoError::Random)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = token_hash(&token);
    Ok((token, hash))
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores a session for `user_id` of company `entity` (or an operator when
/// `entity` is `None`) and returns its token.
///
/// # Errors
///
/// The database's error.
pub async fn open_session(
    app: &AppState,
    entity: Option<TenantId>,
    user_id: i64,
) -> Result<String, sea_orm::DbErr> {
    let (token, hash) = new_token()?;
    let stmt = Query::insert()
        .into_table("sessions")
        .columns(["token_hash", "entity_id", "user_id", "created_at"])
        .values_panic([
            hash.into(),
            entity
                .map(i64::try_from)
                .transpose()
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?
                .into(),
            user_id.into(),
            now().into(),
        ])
        .to_owned();
    app.db.execute(&stmt).await?;
    Ok(token)
}

/// Deletes the session with this token.
///
/// # Errors
///
/// The database's error.
pub async fn close_session(app: &AppState, token: &str) -> Result<(), sea_orm::DbErr> {
    let stmt = Query::delete()
        .from_table("sessions")
        .and_where(Expr::col("token_hash").eq(token_hash(token)))
        .to_owned();
    app.db.execute(&stmt).await?;
    Ok(())
}

/// Middleware: turns the session cookie into a [`Principal`] (or an
/// [`Operator`]) in the request extensions. A missing, unknown or stale
/// cookie leaves the request anonymous; the routes decide.
pub async fn authenticate(
    State(app): State<AppState>,
    jar: CookieJar,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(cookie) = jar.get(COOKIE) {
        match load_session(&app, cookie.value()).await {
            Ok(Some(Session::User(principal))) => {
                req.extensions_mut().insert(principal);
            }
            Ok(Some(Session::Operator(operator))) => {
                req.extensions_mut().insert(operator);
            }
            Ok(None) => {}
            Err(e) => return axum::response::IntoResponse::into_response(AppError::from(e)),
        }
    }
    next.run(req).await
}

enum Session {
    User(Principal),
    Operator(Operator),
}

async fn load_session(app: &AppState, token: &str) -> Result<Option<Session>, sea_orm::DbErr> {
    let stmt = Query::select()
        .columns(["entity_id", "user_id"])
        .from("sessions")
        .and_where(Expr::col("token_hash").eq(token_hash(token)))
        .to_owned();
    let Some(row) = app.db.query_one(&stmt).await? else {
        return Ok(None);
    };
    let entity: Option<i64> = row.try_get("", "entity_id")?;
    let user_id: i64 = row.try_get("", "user_id")?;
    let Some(entity) = entity.map(TenantId::new) else {
        let stmt = Query::select()
            .columns(["id", "name"])
            .from("operators")
            .and_where(Expr::col("id").eq(user_id))
            .to_owned();
        return Ok(match app.db.query_one(&stmt).await? {
            Some(row) => Some(Session::Operator(Operator {
                id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
            })),
            None => None,
        });
    };
    // The user is read through the session's own company's scope.
    let scoped = TenantConnection::new(app.db.clone(), app.tables.clone(), entity);
    let user = user::Entity::find()
        .filter(user::Column::Id.eq(user_id))
        .one(&scoped)
        .await?;
    Ok(user.and_then(|u| {
        Some(Session::User(Principal {
            user_id: u.id,
            tenant: entity,
            name: u.name,
            role: Role::parse(&u.role)?,
        }))
    }))
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}
