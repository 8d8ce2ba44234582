//! Errors of the configuration registry.

use tenancy_core::StoreError;

/// Why a configuration read, write or registry build failed.
///
/// Messages name the key but never quote a secret's value.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not declared in this registry.
    #[error("undeclared config key {key:?}")]
    UndeclaredKey {
        /// The name asked for.
        key: String,
    },
    /// The key is declared, but with another value type than the one asked for.
    #[error("config key {key:?} holds {declared}, not {requested}")]
    TypeMismatch {
        /// The key.
        key: String,
        /// The declared type.
        declared: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// A value written does not have the key's declared type.
    #[error("invalid value for config key {key:?} (expected {expected}): {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The declared type.
        expected: &'static str,
        /// What is wrong (generic for secrets, so the value is never quoted).
        reason: String,
    },
    /// The key's validator refused a value written.
    #[error("value rejected for config key {key:?}: {reason}")]
    Rejected {
        /// The key.
        key: String,
        /// The validator's message (generic for secrets).
        reason: String,
    },
    /// A write named no actor, or one longer than
    /// [`MAX_ACTOR_LEN`](super::MAX_ACTOR_LEN) characters: the audit must
    /// say who.
    #[error("invalid config actor {actor:?}: give who makes the change, at most 255 characters")]
    InvalidActor {
        /// The actor given (cut to the limit).
        actor: String,
    },
    /// A declared default fails its own key's checks.
    #[error("invalid default for config key {key:?}: {reason}")]
    InvalidDefault {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Two declared keys have the same name.
    #[error("config key {key:?} is declared twice")]
    DuplicateKey {
        /// The name.
        key: String,
    },
    /// A key name is empty, too long, or has characters other than ASCII
    /// letters, digits, `.`, `_` and `-`.
    #[error("invalid config key name {key:?}")]
    InvalidKeyName {
        /// The name.
        key: String,
    },
    /// The store could not be read or written. On a write, nothing was
    /// changed; reads keep serving the last good snapshot.
    #[error("config store unavailable: {}", .0.message())]
    Store(#[from] StoreError),
}

/// `Result` with [`ConfigError`] as the default error.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;
