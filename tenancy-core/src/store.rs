//! The one error every store reports when it cannot answer: the tenant
//! directory's and the config registry's alike.

use std::sync::Arc;

/// A store could not answer or commit: its database is down, a table is
/// missing, a stored row is malformed.
///
/// Distinct from every "no such ..." answer: a caller must not treat an
/// outage as an unknown tenant or an unset value, nor the other way round.
/// The message says which store and what failed; it never quotes a value.
///
/// ```
/// use tenancy_core::StoreError;
///
/// let err = StoreError::new("tenant directory: its tables could not be read");
/// assert_eq!(err.to_string(), "store unavailable: tenant directory: its tables could not be read");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("store unavailable: {message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error with a message and no cause.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}
