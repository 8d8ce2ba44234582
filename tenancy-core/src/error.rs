//! The shared error type.

use crate::TenantKeyKind;

fn expected_text(kind: TenantKeyKind) -> &'static str {
    match kind {
        TenantKeyKind::Int => "a decimal integer",
        TenantKeyKind::Uuid => "a UUID in lowercase hyphenated form",
        TenantKeyKind::Text => "1 to 64 of a-z, 0-9, '_', '.', ':' and '-', not all digits",
    }
}

/// Errors from tenant identity and context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Code asked for the current tenant outside any tenant scope.
    #[error(
        "no tenant in scope: run this inside `TenantContext::scope` or pass the tenant explicitly"
    )]
    NoTenant,
    /// Text that is not a tenant key of the expected kind.
    #[error("invalid tenant id {text:?}: expected {}", expected_text(*kind))]
    InvalidTenantId {
        /// The kind of key expected.
        kind: TenantKeyKind,
        /// The text given.
        text: String,
    },
    /// A tenant key of another kind than the application's.
    #[error("tenant key of kind {found} where the application's tenants are keyed by {expected}")]
    KeyKind {
        /// The application's kind.
        expected: TenantKeyKind,
        /// The key's kind.
        found: TenantKeyKind,
    },
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
