//! What a request that cannot be given a tenant gets back.
//!
//! Bodies are short plain text, the same for every host: they never say
//! whether some other tenant exists, and never carry database errors.

use http::{HeaderValue, Response, StatusCode, header::CONTENT_TYPE};

use crate::resolver::{Malformed, Resolution};

/// Why a request was not given a tenant.
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
    /// The rejection for an unresolved [`Resolution`], or `None` for a
    /// resolved one.
    pub fn from_resolution(resolution: &Resolution) -> Option<Self> {
        Some(match resolution {
            Resolution::Resolved(_) => return None,
            Resolution::Unknown => Self::Unknown,
            Resolution::NotApplicable => Self::Missing,
            Resolution::Malformed(m) => Self::Malformed(m.clone()),
            Resolution::Suspended(_) => Self::Suspended,
            Resolution::Unavailable(_) => Self::Unavailable,
        })
    }

    /// The plain-text body.
    pub fn body(&self) -> String {
        match self {
            Self::Unknown => "not found: no site is served at this address\n".into(),
            Self::Missing => "bad request: the request does not say which site it is for\n".into(),
            Self::Malformed(why) => format!("bad request: {why}\n"),
            Self::Suspended => "forbidden: this site is suspended\n".into(),
            Self::Unavailable => "service unavailable: please try again shortly\n".into(),
        }
    }

    /// The status this rejection gets under `rejections`.
    pub fn status(&self, rejections: &Rejections) -> StatusCode {
        match self {
            Self::Unknown => rejections.unknown,
            Self::Missing | Self::Malformed(_) => rejections.malformed,
            Self::Suspended => rejections.suspended,
            Self::Unavailable => rejections.unavailable,
        }
    }

    /// The response: `status`, `text/plain`, [`body`](Self::body).
    pub fn into_response<B: From<String>>(self, rejections: &Rejections) -> Response<B> {
        plain(self.status(rejections), self.body())
    }
}

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

/// A plain-text response.
pub(crate) fn plain<B: From<String>>(status: StatusCode, body: String) -> Response<B> {
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
