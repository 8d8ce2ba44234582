use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use tenancy_core::{TenantContext, TenantId};
use tower::limit::ConcurrencyLimit;
use tower::{Service, ServiceExt as _};

use super::Overflow;
use crate::rejection::{MissingTenant, TenantBusy};

/// Limits requests in flight per tenant. Built by
/// [`TenantConcurrencyLimitLayer`](super::TenantConcurrencyLimitLayer).
///
/// Keeps one limiter per tenant seen; tenants come from the directory, so
/// the map is as large as the set of tenants.
pub struct TenantConcurrencyLimit<S> {
    inner: S,
    max: usize,
    overflow: Overflow,
    limits: Arc<Mutex<HashMap<TenantId, ConcurrencyLimit<S>>>>,
}

impl<S> TenantConcurrencyLimit<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, max: usize, overflow: Overflow) -> Self {
        Self {
            inner,
            max: max.max(1),
            overflow,
            limits: Arc::default(),
        }
    }

    define_inner_service_accessors!();
}

impl<S: Clone> Clone for TenantConcurrencyLimit<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            max: self.max,
            overflow: self.overflow,
            limits: self.limits.clone(),
        }
    }
}

impl<S> fmt::Debug for TenantConcurrencyLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConcurrencyLimit")
            .field("max", &self.max)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TenantConcurrencyLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is per tenant, decided in `call` once the tenant is known.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(tenant) = req
            .extensions()
            .get::<TenantContext>()
            .map(TenantContext::tenant)
        else {
            tracing::error!("TenantConcurrencyLimit ran before the tenant was resolved; refusing");
            return Box::pin(std::future::ready(Ok(MissingTenant.into_response())));
        };
        // A clone of the tenant's limiter shares its semaphore.
        let mut limited = {
            let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            limits
                .entry(tenant)
                .or_insert_with(|| ConcurrencyLimit::new(self.inner.clone(), self.max))
                .clone()
        };
        let overflow = self.overflow;
        Box::pin(async move {
            let ready = match overflow {
                Overflow::Queue => Some(limited.ready().await),
                // Shed: ready now, or not at all.
                Overflow::Reject => limited.ready().now_or_never(),
            };
            match ready {
                Some(Ok(service)) => service.call(req).await,
                Some(Err(e)) => Err(e),
                None => {
                    tracing::debug!(%tenant, "tenant at its concurrency limit; shed");
                    Ok(TenantBusy.into_response())
                }
            }
        })
    }
}
