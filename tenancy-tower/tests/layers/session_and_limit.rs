//! Session binding and the per-tenant concurrency limit, behind the
//! resolver layer, through `ServiceExt::oneshot`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tenancy_core::TenantId;
use tenancy_core::directory::{InMemoryDirectory, Tenant, TenantDirectory};
use tenancy_tower::OtherTenantSession;
use tenancy_tower::ResolveTenantLayer;
use tenancy_tower::limit::{Overflow, TenantConcurrencyLimitLayer};
use tenancy_tower::resolve::ExactHost;
use tenancy_tower::session::{BindSessionLayer, TenantBound};
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn directory() -> TenantDirectory {
    let store = InMemoryDirectory::new();
    store
        .insert(
            Tenant::new(1, "goldenkey", "Golden Key"),
            ["goldenkey.localhost"],
        )
        .unwrap();
    store
        .insert(Tenant::new(2, "stone", "Stone"), ["stone.localhost"])
        .unwrap();
    TenantDirectory::new(store)
}

/// What an authentication layer would put in the extensions.
#[derive(Debug, Clone)]
struct User {
    name: &'static str,
    tenant: TenantId,
}

impl TenantBound for User {
    fn tenant(&self) -> TenantId {
        self.tenant
    }
}

fn req(host: &str, user: Option<User>) -> Request<String> {
    let mut req = Request::builder()
        .uri("/leads")
        .header("host", host)
        .body(String::new())
        .unwrap();
    if let Some(user) = user {
        req.extensions_mut().insert(user);
    }
    req
}

#[tokio::test]
async fn a_session_of_another_tenant_is_refused_and_left_intact() {
    let app = ServiceBuilder::new()
        .layer(ResolveTenantLayer::new(ExactHost::new(directory())))
        .layer(BindSessionLayer::<User>::new())
        .service_fn(|req: Request<String>| async move {
            let user = req
                .extensions()
                .get::<User>()
                .map(|u| u.name)
                .unwrap_or("anonymous");
            Ok::<_, Infallible>(Response::new(format!("hello {user}")))
        });
    let ann = User {
        name: "ann",
        tenant: TenantId::new(1),
    };

    let home = app
        .clone()
        .oneshot(req("goldenkey.localhost", Some(ann.clone())))
        .await
        .unwrap();
    assert_eq!(
        (home.status(), home.into_body()),
        (StatusCode::OK, "hello ann".to_owned())
    );

    let away = app
        .clone()
        .oneshot(req("stone.localhost", Some(ann.clone())))
        .await
        .unwrap();
    assert_eq!(away.status(), StatusCode::FORBIDDEN);
    assert!(
        away.headers().get("set-cookie").is_none(),
        "the session is not touched"
    );
    assert_eq!(away.into_body(), OtherTenantSession.body_text());
    assert!(
        OtherTenantSession
            .body_text()
            .contains("belongs to another site")
    );

    // The same session still works at home afterwards.
    let again = app
        .clone()
        .oneshot(req("goldenkey.localhost", Some(ann)))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);

    // No principal: the route decides.
    let anon = app.oneshot(req("stone.localhost", None)).await.unwrap();
    assert_eq!(anon.into_body(), "hello anonymous");
}

#[tokio::test]
async fn layers_that_need_a_tenant_fail_closed_without_one() {
    let ok = || {
        service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) })
    };
    let bind = ServiceBuilder::new()
        .layer(BindSessionLayer::<User>::new())
        .service(ok());
    let res = bind
        .oneshot(req("goldenkey.localhost", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let limit = ServiceBuilder::new()
        .layer(TenantConcurrencyLimitLayer::new(1))
        .service(ok());
    let res = limit
        .oneshot(req("goldenkey.localhost", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// A handler that holds its request until the gate opens, after every
/// in-flight request has arrived at the barrier.
fn gated(
    gate: Arc<Semaphore>,
) -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    service_fn(move |req: Request<String>| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await.unwrap();
            let tenant = tenancy_core::current().unwrap().tenant();
            Ok::<_, Infallible>(Response::new(format!("{tenant} {}", req.uri())))
        }
    })
}

#[tokio::test]
async fn reject_mode_sheds_only_the_busy_tenant() {
    let gate = Arc::new(Semaphore::new(0));
    let app = ServiceBuilder::new()
        .layer(ResolveTenantLayer::new(ExactHost::new(directory())))
        .layer(TenantConcurrencyLimitLayer::new(2).overflow(Overflow::Reject))
        .service(gated(gate.clone()));

    // Golden Key fills its two slots.
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(app.clone().oneshot(req("goldenkey.localhost", None))))
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A third Golden Key request is shed at once...
    let shed = app
        .clone()
        .oneshot(req("goldenkey.localhost", None))
        .await
        .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);

    // ...while Stone is served (its handler needs a gate permit too).
    let stone = tokio::spawn(app.clone().oneshot(req("stone.localhost", None)));
    gate.add_permits(1);
    let stone = stone.await.unwrap().unwrap();
    assert_eq!(
        (stone.status(), stone.into_body()),
        (StatusCode::OK, "2 /leads".into())
    );

    gate.add_permits(2);
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    // The slots are free again.
    gate.add_permits(1);
    let after = app.oneshot(req("goldenkey.localhost", None)).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test]
async fn queue_mode_waits_for_a_slot_and_never_exceeds_the_limit() {
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let svc = {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        service_fn(move |_req: Request<String>| {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let now = in_flight.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, SeqCst);
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        })
    };
    let app = ServiceBuilder::new()
        .layer(ResolveTenantLayer::new(ExactHost::new(directory())))
        .layer(TenantConcurrencyLimitLayer::new(3))
        .service(svc);
    let all: Vec<_> = (0..20)
        .map(|_| tokio::spawn(app.clone().oneshot(req("goldenkey.localhost", None))))
        .collect();
    for h in all {
        assert_eq!(
            h.await.unwrap().unwrap().status(),
            StatusCode::OK,
            "queued, not shed"
        );
    }
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    // Twenty requests at once on one thread: the limit is reached, not passed.
    assert_eq!(peak, 3, "peak in flight");
}
