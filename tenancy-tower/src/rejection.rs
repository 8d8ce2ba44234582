//! What a request that cannot be served gets back: one family of
//! rejections, in the way axum-core shapes its own.
//!
//! Each has a `status()`, a plain-text `body_text()`, `Display` and `Error`,
//! and (feature `axum`) `IntoResponse`. Every response a rejection builds
//! emits a TRACE event on target `tenancy_tower::rejection` with the
//! rejection's type, as axum does for its own.
//!
//! Bodies are short plain text in neutral wording, the same for every host:
//! they never say whether some other tenant exists, and never carry
//! database errors.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header::CONTENT_TYPE};

use http::HeaderName;

use crate::host::HostError;

/// Why the input that names a tenant was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The host is missing or malformed.
    Host(HostError),
    /// A tenant header has an invalid or repeated value.
    Header(HeaderName),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host(e) => std::fmt::Display::fmt(e, f),
            Self::Header(name) => write!(f, "invalid {name} header"),
        }
    }
}

/// Why a request was not given a tenant.
///
/// Its status is configurable per deployment ([`Rejections`]); `status()`
/// is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantRejection {
    /// The request names a tenant the directory does not know.
    Unknown,
    /// Nothing in the request names a tenant.
    Missing,
    /// The host (or tenant header) is malformed.
    Malformed(Malformed),
    /// The tenant is suspended.
    Suspended,
    /// The directory could not answer.
    Unavailable,
}

impl TenantRejection {
    /// The plain-text body.
    pub fn body_text(&self) -> String {
        match self {
            Self::Unknown => "not found: no site is served at this address\n".into(),
            Self::Missing => "bad request: the request does not say which site it is for\n".into(),
            Self::Malformed(why) => format!("bad request: {why}\n"),
            Self::Suspended => "forbidden: this site is suspended\n".into(),
            Self::Unavailable => "service unavailable: please try again shortly\n".into(),
        }
    }

    /// The default status: unknown 404, missing or malformed 400,
    /// suspended 403, directory unavailable 503.
    pub fn status(&self) -> StatusCode {
        Rejections::default().status_of(self)
    }

    /// The response with the status `rejections` gives it, `text/plain`,
    /// [`body_text`](Self::body_text).
    pub fn into_response_with<B: From<String>>(self, rejections: &Rejections) -> Response<B> {
        respond::<Self, B>(rejections.status_of(&self), self.body_text())
    }
}

impl fmt::Display for TenantRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("no tenant is served at the request's host"),
            Self::Missing => f.write_str("the request names no tenant"),
            Self::Malformed(why) => write!(f, "the request's tenant is malformed: {why}"),
            Self::Suspended => f.write_str("the tenant is suspended"),
            Self::Unavailable => f.write_str("the tenant directory is unavailable"),
        }
    }
}

impl std::error::Error for TenantRejection {}

/// The tenant was not resolved: a layer or extractor that needs it runs
/// without [`ResolveTenantLayer`](crate::ResolveTenantLayer) in front of it.
/// A server misconfiguration, answered with 500: a misordered stack fails
/// closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingTenant;

impl MissingTenant {
    /// 500.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The plain-text body.
    pub fn body_text(&self) -> &'static str {
        "internal error: the tenant was not resolved\n"
    }

    /// The response, after an ERROR event: this is a bug in the stack.
    pub fn into_response<B: From<String>>(self) -> Response<B> {
        tracing::error!("{self}");
        respond::<Self, B>(self.status(), self.body_text().into())
    }
}

impl fmt::Display for MissingTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the tenant was not resolved (is ResolveTenantLayer installed in front?)")
    }
}

impl std::error::Error for MissingTenant {}

/// The request's session was issued for another tenant than the one the
/// request resolved to (see [`BindSessionLayer`](crate::session::BindSessionLayer)).
/// 403; the other session is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherTenantSession;

impl OtherTenantSession {
    /// 403.
    pub fn status(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }

    /// The plain-text body: what happened, and that the other session is
    /// intact.
    pub fn body_text(&self) -> &'static str {
        "forbidden: this session belongs to another site on this platform. \
         Sign in here with an account of this site; your other session is still signed in on its own site.\n"
    }

    /// The response.
    pub fn into_response<B: From<String>>(self) -> Response<B> {
        respond::<Self, B>(self.status(), self.body_text().into())
    }
}

impl fmt::Display for OtherTenantSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the session belongs to another tenant")
    }
}

impl std::error::Error for OtherTenantSession {}

/// The tenant has as many requests in flight as
/// [`TenantConcurrencyLimitLayer`](crate::limit::TenantConcurrencyLimitLayer)
/// allows, and the layer sheds instead of queueing. 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantBusy;

impl TenantBusy {
    /// 503.
    pub fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The plain-text body.
    pub fn body_text(&self) -> &'static str {
        "service unavailable: too many requests in flight for this site\n"
    }

    /// The response.
    pub fn into_response<B: From<String>>(self) -> Response<B> {
        respond::<Self, B>(self.status(), self.body_text().into())
    }
}

impl fmt::Display for TenantBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the tenant is at its concurrency limit")
    }
}

impl std::error::Error for TenantBusy {}

/// The status of each rejection. Defaults: unknown 404, missing or
/// malformed 400, suspended 403, directory unavailable 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejections {
    unknown: StatusCode,
    malformed: StatusCode,
    suspended: StatusCode,
    unavailable: StatusCode,
}

impl Default for Rejections {
    fn default() -> Self {
        Self {
            unknown: StatusCode::NOT_FOUND,
            malformed: StatusCode::BAD_REQUEST,
            suspended: StatusCode::FORBIDDEN,
            unavailable: StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl Rejections {
    /// The status `rejection` gets here.
    pub fn status_of(&self, rejection: &TenantRejection) -> StatusCode {
        match rejection {
            TenantRejection::Unknown => self.unknown,
            TenantRejection::Missing | TenantRejection::Malformed(_) => self.malformed,
            TenantRejection::Suspended => self.suspended,
            TenantRejection::Unavailable => self.unavailable,
        }
    }

    /// The status for an unknown tenant.
    pub fn unknown(mut self, status: StatusCode) -> Self {
        self.unknown = status;
        self
    }

    /// The status for a missing or malformed host.
    pub fn malformed(mut self, status: StatusCode) -> Self {
        self.malformed = status;
        self
    }

    /// The status for a suspended tenant.
    pub fn suspended(mut self, status: StatusCode) -> Self {
        self.suspended = status;
        self
    }

    /// The status for a failing directory.
    pub fn unavailable(mut self, status: StatusCode) -> Self {
        self.unavailable = status;
        self
    }
}

/// The response of rejection `R`: `status`, `text/plain`, `body`, after a
/// TRACE event naming `R` (as axum-core logs its rejections).
fn respond<R, B: From<String>>(status: StatusCode, body: String) -> Response<B> {
    tracing::event!(
        target: "tenancy_tower::rejection",
        tracing::Level::TRACE,
        status = status.as_u16(),
        body = body.trim_end(),
        rejection_type = std::any::type_name::<R>(),
        "rejecting request",
    );
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The axum responses, with the default statuses.
#[cfg(feature = "axum")]
mod axum_responses {
    use axum::response::{IntoResponse, Response};

    use super::{MissingTenant, OtherTenantSession, TenantBusy, TenantRejection};

    impl IntoResponse for TenantRejection {
        fn into_response(self) -> Response {
            self.into_response_with(&super::Rejections::default())
        }
    }

    impl IntoResponse for MissingTenant {
        fn into_response(self) -> Response {
            MissingTenant::into_response(self)
        }
    }

    impl IntoResponse for OtherTenantSession {
        fn into_response(self) -> Response {
            OtherTenantSession::into_response(self)
        }
    }

    impl IntoResponse for TenantBusy {
        fn into_response(self) -> Response {
            TenantBusy::into_response(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: Response<String>) -> (StatusCode, String, String) {
        let kind = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        (response.status(), kind, response.into_body())
    }

    #[test]
    fn each_rejection_answers_with_its_status_and_plain_body() {
        let plain = "text/plain; charset=utf-8".to_owned();
        let cases: [(Response<String>, StatusCode, String); 5] = [
            (
                TenantRejection::Unknown.into_response_with(&Rejections::default()),
                StatusCode::NOT_FOUND,
                TenantRejection::Unknown.body_text(),
            ),
            (
                TenantRejection::Unavailable.into_response_with(&Rejections::default()),
                StatusCode::SERVICE_UNAVAILABLE,
                TenantRejection::Unavailable.body_text(),
            ),
            (
                MissingTenant.into_response(),
                StatusCode::INTERNAL_SERVER_ERROR,
                MissingTenant.body_text().into(),
            ),
            (
                OtherTenantSession.into_response(),
                StatusCode::FORBIDDEN,
                OtherTenantSession.body_text().into(),
            ),
            (
                TenantBusy.into_response(),
                StatusCode::SERVICE_UNAVAILABLE,
                TenantBusy.body_text().into(),
            ),
        ];
        for (response, status, text) in cases {
            assert_eq!(body(response), (status, plain.clone(), text));
        }
        // A deployment's own statuses win over the defaults.
        let custom = Rejections::default().unknown(StatusCode::MISDIRECTED_REQUEST);
        assert_eq!(
            TenantRejection::Unknown
                .into_response_with::<String>(&custom)
                .status(),
            StatusCode::MISDIRECTED_REQUEST
        );
        assert_eq!(TenantRejection::Unknown.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn rejections_are_errors_and_bodies_stay_neutral() {
        let errors: [&dyn std::error::Error; 5] = [
            &TenantRejection::Missing,
            &TenantRejection::Suspended,
            &MissingTenant,
            &OtherTenantSession,
            &TenantBusy,
        ];
        for error in errors {
            assert!(!error.to_string().is_empty());
        }
        let bodies = [
            TenantRejection::Unknown.body_text(),
            TenantRejection::Missing.body_text(),
            TenantRejection::Suspended.body_text(),
            TenantRejection::Unavailable.body_text(),
            MissingTenant.body_text().into(),
            OtherTenantSession.body_text().into(),
            TenantBusy.body_text().into(),
        ];
        for text in bodies {
            // The library's words, not one application's ("company").
            assert!(!text.to_lowercase().contains("company"), "{text}");
            assert!(text.ends_with('\n'), "{text:?}");
        }
    }
}
