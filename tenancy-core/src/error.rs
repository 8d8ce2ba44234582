//! The shared error type.

/// Errors from tenant identity and context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Code asked for the current tenant outside any tenant scope.
    #[error(
        "no tenant in scope: run this inside `TenantContext::scope` or pass the tenant explicitly"
    )]
    NoTenant,
    /// A tenant identifier could not be parsed.
    #[error("invalid tenant id {0:?}: expected a decimal integer")]
    InvalidTenantId(String),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
