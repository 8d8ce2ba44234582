use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use tenancy_core::TenantContext;
use tower::Service;
use tracing::Instrument;

use super::CurrentTenant;
use super::layer::Config;
use super::{RequestHead, Resolution, TenantResolver};
use crate::host::{peer_addr, request_host};
use crate::rejection::TenantRejection;

/// Resolves each request's tenant before calling the inner service. Built by
/// [`ResolveTenantLayer`](super::ResolveTenantLayer).
#[derive(Debug)]
pub struct ResolveTenant<S, R> {
    pub(super) inner: S,
    pub(super) resolver: Arc<R>,
    pub(super) config: Arc<Config>,
}

impl<S: Clone, R> Clone for ResolveTenant<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            resolver: self.resolver.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S, R> ResolveTenant<S, R> {
    define_inner_service_accessors!();
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for ResolveTenant<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: TenantResolver,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone is not ready; the service that was polled ready is.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let resolver = self.resolver.clone();
        let config = self.config.clone();
        Box::pin(async move {
            let span = tracing::info_span!("tenancy.request", tenant = tracing::field::Empty);
            let resolution = {
                let peer = peer_addr(req.extensions());
                let host = request_host(req.uri(), req.headers(), peer, &config.trusted);
                let head = RequestHead::new(req.uri(), req.headers(), &host, peer);
                resolver.resolve(&head).instrument(span.clone()).await
            };
            let resolved = match resolution {
                Resolution::Resolved(resolved) => resolved,
                other => {
                    let rejection = TenantRejection::from_resolution(&other)
                        .unwrap_or(TenantRejection::Missing);
                    span.in_scope(|| match &other {
                        Resolution::Unavailable(e) => {
                            tracing::warn!(error = %e, "tenant directory unavailable")
                        }
                        _ => tracing::trace!(?rejection, "request refused without a tenant"),
                    });
                    return Ok(rejection.into_response_with(&config.rejections));
                }
            };
            let tenant = resolved.tenant;
            span.record("tenant", tracing::field::display(tenant.id));
            if let Some(prefix) = resolved.strip_path_prefix {
                strip_path_prefix(req.uri_mut(), &prefix);
            }
            let context = TenantContext::new(tenant.id);
            req.extensions_mut().insert(context.clone());
            req.extensions_mut().insert(CurrentTenant(tenant));
            context.scope(inner.call(req)).instrument(span).await
        })
    }
}

/// Removes `prefix` from the start of the path, keeping the query; the
/// path never becomes empty.
fn strip_path_prefix(uri: &mut Uri, prefix: &str) {
    let Some(rest) = uri.path().strip_prefix(prefix) else {
        return;
    };
    let path = if rest.is_empty() { "/" } else { rest };
    let new = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let Ok(path_and_query) = PathAndQuery::try_from(new) else {
        return;
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    if let Ok(new_uri) = Uri::from_parts(parts) {
        *uri = new_uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_and_keeps_queries() {
        let cases = [
            ("/goldenkey/leads?page=2", "/goldenkey", "/leads?page=2"),
            ("/goldenkey", "/goldenkey", "/"),
            ("/goldenkey?x=1", "/goldenkey", "/?x=1"),
            ("http://a.example/t/gk/x", "/t/gk", "http://a.example/x"),
        ];
        for (before, prefix, after) in cases {
            let mut uri: Uri = before.parse().unwrap();
            strip_path_prefix(&mut uri, prefix);
            assert_eq!(uri.to_string(), after, "{before}");
        }
    }
}
