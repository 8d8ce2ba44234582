//! The tenant a piece of work runs for.
//!
//! A request handler gets the context explicitly (from the request
//! extensions); code deeper down, such as a repository called from a job, can
//! read it from a tokio task-local instead of threading it through every call.
//! The task-local is scoped to one future: it never leaks into other tasks,
//! and a spawned task does not inherit it (pass the context on purpose).

use std::future::Future;

use crate::{Error, TenantId};

tokio::task_local! {
    static CURRENT: TenantContext;
}

/// The tenant that a request, job or task runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    tenant: TenantId,
}

impl TenantContext {
    /// A context for `tenant`.
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        Self {
            tenant: tenant.into(),
        }
    }

    /// The tenant this context is for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Runs `fut` with this context as the [`current`] tenant.
    ///
    /// Scopes nest: an inner scope shadows the outer one until it completes.
    pub fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }

    /// Runs the closure `f` with this context as the [`current`] tenant.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }
}

impl From<TenantId> for TenantContext {
    fn from(tenant: TenantId) -> Self {
        Self::new(tenant)
    }
}

/// The context of the innermost enclosing [`TenantContext::scope`].
///
/// # Errors
///
/// [`Error::NoTenant`] outside any scope. There is no default tenant.
pub fn current() -> Result<TenantContext, Error> {
    try_current().ok_or(Error::NoTenant)
}

/// Like [`current`], but `None` outside any scope.
pub fn try_current() -> Option<TenantContext> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scopes_nest_and_end() {
        let outer = TenantContext::new(1);
        let inner = TenantContext::new(2);
        let seen = outer
            .scope(async {
                let a = current().unwrap().tenant();
                let b = inner.scope(async { current().unwrap().tenant() }).await;
                let c = current().unwrap().tenant();
                (a, b, c)
            })
            .await;
        assert_eq!(seen, (TenantId::new(1), TenantId::new(2), TenantId::new(1)));
        assert_eq!(current(), Err(Error::NoTenant));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_tasks_do_not_inherit() {
        let seen = TenantContext::new(5)
            .scope(async { tokio::spawn(async { try_current() }).await.unwrap() })
            .await;
        assert_eq!(seen, None);
    }

    #[test]
    fn sync_scope_sets_and_clears() {
        let seen = TenantContext::new(9).sync_scope(|| current().unwrap().tenant());
        assert_eq!(seen, TenantId::new(9));
        assert!(try_current().is_none());
    }
}
