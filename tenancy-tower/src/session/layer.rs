use std::fmt;
use std::marker::PhantomData;

use tower::Layer;

use super::BindSession;

/// Applies [`BindSession`] for principals of type `P` (looked up in the
/// request extensions).
pub struct BindSessionLayer<P> {
    _principal: PhantomData<fn() -> P>,
}

impl<P> BindSessionLayer<P> {
    /// Binds sessions whose principal is a `P`.
    pub fn new() -> Self {
        Self {
            _principal: PhantomData,
        }
    }
}

impl<P> Default for BindSessionLayer<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Clone for BindSessionLayer<P> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<P> fmt::Debug for BindSessionLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindSessionLayer")
            .field("principal", &std::any::type_name::<P>())
            .finish()
    }
}

impl<S, P> Layer<S> for BindSessionLayer<P> {
    type Service = BindSession<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        BindSession::new(inner)
    }
}
