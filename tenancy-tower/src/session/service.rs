use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tenancy_core::TenantContext;
use tower::Service;

use super::TenantBound;
use crate::rejection::{MissingTenant, OtherTenantSession};

/// Refuses requests whose principal belongs to another tenant than the one
/// the request resolved to. Built by [`BindSessionLayer`](super::BindSessionLayer).
///
/// - No principal in the extensions: passes (the route decides whether it
///   needs one).
/// - No resolved tenant: [`MissingTenant`] (500), because the tenant layer
///   must run first; a misconfigured stack fails closed.
/// - Principal of another tenant: [`OtherTenantSession`] (403); the inner
///   service is not called.
pub struct BindSession<S, P> {
    inner: S,
    _principal: PhantomData<fn() -> P>,
}

impl<S, P> BindSession<S, P> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            _principal: PhantomData,
        }
    }

    define_inner_service_accessors!();
}

impl<S: Clone, P> Clone for BindSession<S, P> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<S: fmt::Debug, P> fmt::Debug for BindSession<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindSession")
            .field("inner", &self.inner)
            .field("principal", &std::any::type_name::<P>())
            .finish()
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for BindSession<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: TenantBound + Send + Sync + 'static,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(tenant) = req
            .extensions()
            .get::<TenantContext>()
            .map(TenantContext::tenant)
        else {
            tracing::error!("BindSession ran before the tenant was resolved; refusing");
            return Either::Right(ready(Ok(MissingTenant.into_response())));
        };
        match req.extensions().get::<P>().map(TenantBound::tenant) {
            Some(session_tenant) if session_tenant != tenant => {
                tracing::info!(%tenant, %session_tenant, "session of another tenant refused");
                Either::Right(ready(Ok(OtherTenantSession.into_response())))
            }
            _ => Either::Left(self.inner.call(req)),
        }
    }
}
