//! The tenant layer end to end through `ServiceExt::oneshot`: every
//! strategy, every rejection, every host rule that reaches a request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Request, Response, StatusCode};
use tenancy_core::directory::{
    DirectoryStore, InMemoryDirectory, StoreError, Tenant, TenantDirectory, TenantStatus,
};
use tenancy_core::{Domain, TenantContext, TenantId};
use tenancy_tower::host::{PeerAddr, TrustedProxies};
use tenancy_tower::resolve::{
    Chain, ExactHost, HeaderKey, PathPrefix, RequestHead, Resolution, Resolved, Subdomain,
    TenantHeader, TenantResolver,
};
use tenancy_tower::{CurrentTenant, Rejections, ResolveTenantLayer};
use tower::{Layer, ServiceExt, service_fn};

fn store() -> InMemoryDirectory {
    let store = InMemoryDirectory::new();
    store
        .insert(
            Tenant::new(1, "goldenkey", "Golden Key Wholesale"),
            ["goldenkey.localhost", "gk.example", "bücher.example"],
        )
        .unwrap();
    store
        .insert(
            Tenant::new(2, "stone", "Stone Outbound"),
            ["stone.localhost"],
        )
        .unwrap();
    store
        .insert(
            Tenant::new(3, "frozen", "Frozen Co").with_status(TenantStatus::Suspended),
            ["frozen.localhost"],
        )
        .unwrap();
    store
}

/// Echoes what the handler saw: the tenant in the extensions, the
/// task-local tenant, and the path.
async fn echo(req: Request<String>) -> Result<Response<String>, Infallible> {
    let ext = req.extensions().get::<TenantContext>().map(|c| c.tenant());
    let record = req
        .extensions()
        .get::<CurrentTenant>()
        .map(|c| c.0.slug.clone());
    let task_local = tenancy_core::try_current().map(|c| c.tenant());
    assert_eq!(ext, task_local, "extensions and task-local agree");
    let body = format!(
        "{} {} {}",
        ext.map(|t| t.to_string()).unwrap_or_default(),
        record.unwrap_or_default(),
        req.uri()
    );
    Ok(Response::new(body))
}

struct Sent {
    status: StatusCode,
    body: String,
}

async fn send<R: TenantResolver>(
    layer: &ResolveTenantLayer<R>,
    req: http::request::Builder,
) -> Sent {
    let svc = layer.layer(service_fn(echo));
    let res = svc.oneshot(req.body(String::new()).unwrap()).await.unwrap();
    Sent {
        status: res.status(),
        body: res.into_body(),
    }
}

fn host(h: &str) -> http::request::Builder {
    Request::builder().uri("/leads").header("host", h)
}

fn exact() -> ResolveTenantLayer<ExactHost> {
    ResolveTenantLayer::new(ExactHost::new(TenantDirectory::new(store())))
}

#[tokio::test]
async fn exact_host_resolves_every_spelling_of_every_domain() {
    let layer = exact();
    for (h, tenant) in [
        ("goldenkey.localhost", "1 goldenkey"),
        ("GoldenKey.LocalHost:3000", "1 goldenkey"),
        ("goldenkey.localhost.", "1 goldenkey"),
        ("gk.example", "1 goldenkey"),
        ("xn--bcher-kva.example", "1 goldenkey"),
        ("BÜCHER.example", "1 goldenkey"),
        ("stone.localhost", "2 stone"),
    ] {
        let sent = send(&layer, host(h)).await;
        assert_eq!(sent.status, StatusCode::OK, "{h}");
        assert_eq!(sent.body, format!("{tenant} /leads"), "{h}");
    }
}

#[tokio::test]
async fn http2_authority_is_the_host_and_must_agree_with_a_host_header() {
    let layer = exact();
    let h2 = Request::builder()
        .uri("https://stone.localhost/leads")
        .version(http::Version::HTTP_2);
    let sent = send(&layer, h2).await;
    assert_eq!(
        (sent.status, sent.body.as_str()),
        (StatusCode::OK, "2 stone https://stone.localhost/leads")
    );

    let conflicting = Request::builder()
        .uri("https://stone.localhost/leads")
        .header("host", "goldenkey.localhost");
    assert_eq!(
        send(&layer, conflicting).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn every_rejection_has_its_status_and_a_body_that_reveals_nothing() {
    let layer = exact();
    let unknown = send(&layer, host("nobody.localhost")).await;
    let other_unknown = send(&layer, host("stone.example")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // The same body for every unknown host: nothing says who else is here.
    assert_eq!(unknown.body, other_unknown.body);
    assert!(!unknown.body.contains("stone") && !unknown.body.contains("goldenkey"));

    assert_eq!(
        send(&layer, host("127.0.0.1:3000")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&layer, host("[::1]:3000")).await.status,
        StatusCode::NOT_FOUND
    );

    let suspended = send(&layer, host("frozen.localhost")).await;
    assert_eq!(suspended.status, StatusCode::FORBIDDEN);
    assert!(suspended.body.contains("suspended"));

    for bad in [
        "",
        "a..b",
        "gold key.localhost",
        "user@goldenkey.localhost",
        "goldenkey.localhost:99999",
        "goldenkey.localhost/x",
        "-goldenkey.localhost",
    ] {
        let sent = send(&layer, host(bad)).await;
        assert_eq!(sent.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(
            sent.body.starts_with("bad request"),
            "{bad:?}: {}",
            sent.body
        );
    }
    let missing = send(&layer, Request::builder().uri("/leads")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let two = Request::builder()
        .uri("/")
        .header("host", "goldenkey.localhost")
        .header("host", "goldenkey.localhost");
    assert_eq!(send(&layer, two).await.status, StatusCode::BAD_REQUEST);
    let long = format!("{}.localhost", "a".repeat(64));
    assert_eq!(
        send(&layer, host(&long)).await.status,
        StatusCode::BAD_REQUEST
    );
}

/// A store that is down.
#[derive(Debug, Default)]
struct Down(AtomicBool);

#[async_trait::async_trait]
impl DirectoryStore for Down {
    async fn tenant_by_domain(&self, _: &Domain) -> Result<Option<Tenant>, StoreError> {
        self.0.store(true, Ordering::SeqCst);
        Err(StoreError::new("connection refused (db.internal:5432)"))
    }
    async fn tenant_by_slug(&self, _: &str) -> Result<Option<Tenant>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
    async fn tenant_by_id(&self, _: TenantId) -> Result<Option<Tenant>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
}

#[tokio::test]
async fn a_failing_directory_is_503_without_internals() {
    let layer = ResolveTenantLayer::new(ExactHost::new(TenantDirectory::new(Down::default())));
    let sent = send(&layer, host("goldenkey.localhost")).await;
    assert_eq!(sent.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !sent.body.contains("5432") && !sent.body.contains("refused"),
        "{}",
        sent.body
    );
}

#[tokio::test]
async fn statuses_are_configurable() {
    let rejections = Rejections::default()
        .unknown(StatusCode::MISDIRECTED_REQUEST)
        .malformed(StatusCode::UNPROCESSABLE_ENTITY)
        .suspended(StatusCode::GONE)
        .unavailable(StatusCode::BAD_GATEWAY);
    let layer = exact().rejections(rejections);
    assert_eq!(
        send(&layer, host("nobody.localhost")).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    assert_eq!(
        send(&layer, host("a..b")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        send(&layer, host("frozen.localhost")).await.status,
        StatusCode::GONE
    );
    let down = ResolveTenantLayer::new(ExactHost::new(TenantDirectory::new(Down::default())))
        .rejections(rejections);
    assert_eq!(
        send(&down, host("gk.example")).await.status,
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test]
async fn subdomain_of_a_base_domain() {
    let base: Domain = "crm.example".parse().unwrap();
    let layer = ResolveTenantLayer::new(Subdomain::new(base, TenantDirectory::new(store())));
    assert_eq!(
        send(&layer, host("GoldenKey.crm.example")).await.body,
        "1 goldenkey /leads"
    );
    assert_eq!(
        send(&layer, host("stone.crm.example:443")).await.body,
        "2 stone /leads"
    );
    assert_eq!(
        send(&layer, host("nobody.crm.example")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&layer, host("frozen.crm.example")).await.status,
        StatusCode::FORBIDDEN
    );
    // Not one label under the base: nothing names a tenant.
    assert_eq!(
        send(&layer, host("a.stone.crm.example")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&layer, host("crm.example")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&layer, host("stonecrm.example")).await.status,
        StatusCode::BAD_REQUEST
    );
    // An internationalised label is never a slug.
    assert_eq!(
        send(&layer, host("bücher.crm.example")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn header_strategy_only_from_trusted_peers() {
    let name = http::HeaderName::from_static("x-tenant");
    let directory = TenantDirectory::new(store());
    let internal = TrustedProxies::new().with("10.0.0.0/8".parse().unwrap());
    let by_slug = ResolveTenantLayer::new(
        TenantHeader::new(name.clone(), HeaderKey::Slug, directory.clone()).from_peers(internal),
    );
    let from = |peer: &str, value: &str| {
        Request::builder()
            .uri("/leads")
            .header("x-tenant", value)
            .extension(PeerAddr(peer.parse::<SocketAddr>().unwrap()))
    };
    assert_eq!(
        send(&by_slug, from("10.1.1.1:5000", "stone")).await.body,
        "2 stone /leads"
    );
    // From the internet the header is ignored, and nothing else names a tenant.
    assert_eq!(
        send(&by_slug, from("192.0.2.1:5000", "stone")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&by_slug, from("10.1.1.1:5000", "Stone!")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&by_slug, from("10.1.1.1:5000", "nobody")).await.status,
        StatusCode::NOT_FOUND
    );
    let twice = from("10.1.1.1:5000", "stone").header("x-tenant", "goldenkey");
    assert_eq!(send(&by_slug, twice).await.status, StatusCode::BAD_REQUEST);

    let by_id = ResolveTenantLayer::new(TenantHeader::new(name, HeaderKey::Id, directory));
    let id = |v: &str| Request::builder().uri("/").header("x-tenant", v);
    assert_eq!(send(&by_id, id("1")).await.body, "1 goldenkey /");
    assert_eq!(
        send(&by_id, id("1; drop")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(send(&by_id, id("99")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn path_prefix_strips_unless_told_not_to() {
    let directory = TenantDirectory::new(store());
    let strip = ResolveTenantLayer::new(PathPrefix::new(directory.clone()));
    let path = |p: &str| Request::builder().uri(p).header("host", "anything.example");
    assert_eq!(
        send(&strip, path("/stone/leads?page=2")).await.body,
        "2 stone /leads?page=2"
    );
    assert_eq!(send(&strip, path("/stone")).await.body, "2 stone /");
    assert_eq!(
        send(&strip, path("/nobody/leads")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&strip, path("/Not%20a%20slug/x")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&strip, path("/")).await.status,
        StatusCode::BAD_REQUEST
    );

    let under = ResolveTenantLayer::new(PathPrefix::new(directory.clone()).under("/t/"));
    assert_eq!(
        send(&under, path("/t/goldenkey/leads")).await.body,
        "1 goldenkey /leads"
    );
    assert_eq!(
        send(&under, path("/goldenkey/leads")).await.status,
        StatusCode::BAD_REQUEST
    );

    let keep = ResolveTenantLayer::new(PathPrefix::new(directory).strip(false));
    assert_eq!(
        send(&keep, path("/stone/leads")).await.body,
        "2 stone /stone/leads"
    );
}

#[tokio::test]
async fn a_chain_tries_strategies_in_order() {
    let directory = TenantDirectory::new(store());
    let chain = Chain::new()
        .or(TenantHeader::new(
            http::HeaderName::from_static("x-tenant"),
            HeaderKey::Slug,
            directory.clone(),
        ))
        .or(ExactHost::new(directory.clone()))
        .or(Subdomain::new("crm.example".parse().unwrap(), directory));
    let layer = ResolveTenantLayer::new(chain);
    // The header wins when present.
    let both = host("goldenkey.localhost").header("x-tenant", "stone");
    assert_eq!(send(&layer, both).await.body, "2 stone /leads");
    // Exact host, then the subdomain after an exact miss.
    assert_eq!(
        send(&layer, host("gk.example")).await.body,
        "1 goldenkey /leads"
    );
    assert_eq!(
        send(&layer, host("stone.crm.example")).await.body,
        "2 stone /leads"
    );
    // Unknown everywhere, suspended stops the chain, malformed stops it.
    assert_eq!(
        send(&layer, host("nobody.example")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&layer, host("frozen.localhost")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&layer, host("a..b")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_closure_is_a_resolver() {
    let tenant = Arc::new(Tenant::new(7, "custom", "Custom"));
    let layer = ResolveTenantLayer::new(move |head: &RequestHead<'_>| {
        let wants = head.uri().path().starts_with("/custom");
        let tenant = tenant.clone();
        async move {
            if wants {
                Resolution::Resolved(Resolved::new(tenant))
            } else {
                Resolution::Unknown
            }
        }
    });
    assert_eq!(
        send(&layer, Request::builder().uri("/custom")).await.body,
        "7 custom /custom"
    );
    assert_eq!(
        send(&layer, Request::builder().uri("/other")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn forwarded_host_only_from_a_trusted_proxy() {
    let layer = exact().trusted_proxies(TrustedProxies::new().with("10.0.0.1/32".parse().unwrap()));
    let via = |peer: &str| {
        Request::builder()
            .uri("/leads")
            .header("host", "goldenkey.localhost")
            .header("x-forwarded-host", "stone.localhost")
            .extension(PeerAddr(peer.parse::<SocketAddr>().unwrap()))
    };
    assert_eq!(
        send(&layer, via("10.0.0.1:4000")).await.body,
        "2 stone /leads"
    );
    assert_eq!(
        send(&layer, via("10.0.0.2:4000")).await.body,
        "1 goldenkey /leads"
    );
    let forwarded = Request::builder()
        .uri("/leads")
        .header("host", "lb.internal")
        .header(
            "forwarded",
            "for=192.0.2.1;host=stone.localhost;proto=https",
        )
        .extension(PeerAddr("10.0.0.1:4000".parse().unwrap()));
    assert_eq!(send(&layer, forwarded).await.body, "2 stone /leads");
}

#[tokio::test]
async fn the_inner_service_is_never_called_on_a_rejection() {
    let called = Arc::new(AtomicBool::new(false));
    let flag = called.clone();
    let svc = exact().layer(service_fn(move |_req: Request<String>| {
        flag.store(true, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(String::new())) }
    }));
    for h in ["nobody.localhost", "a..b", "frozen.localhost"] {
        let res = svc
            .clone()
            .oneshot(host(h).body(String::new()).unwrap())
            .await
            .unwrap();
        assert_ne!(res.status(), StatusCode::OK);
    }
    assert!(!called.load(Ordering::SeqCst));
}
