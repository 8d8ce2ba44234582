//! The `tenancy.request` span carries the tenant, for every event inside the
//! handler. Alone in its test binary: tracing caches each callsite's
//! interest, and a test running beside it without a subscriber could make
//! its events invisible.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use tenancy_core::directory::{InMemoryDirectory, Tenant, TenantDirectory};
use tenancy_tower::ResolveTenantLayer;
use tenancy_tower::resolve::ExactHost;
use tower::{Layer, ServiceExt, service_fn};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// A current-thread runtime keeps every poll on this thread, where the
// subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn the_request_span_carries_the_tenant() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = InMemoryDirectory::new();
    store
        .insert(Tenant::new(2, "stone", "Stone"), ["stone.localhost"])
        .unwrap();
    let svc = ResolveTenantLayer::new(ExactHost::new(TenantDirectory::new(store))).layer(
        service_fn(|_req: Request<String>| async {
            tracing::info!("handled");
            Ok::<_, Infallible>(Response::new(String::new()))
        }),
    );
    let req = |host: &str| {
        Request::builder()
            .uri("/")
            .header("host", host)
            .body(String::new())
            .unwrap()
    };
    assert_eq!(
        svc.clone()
            .oneshot(req("stone.localhost"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        svc.oneshot(req("nobody.localhost")).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let handled = log
        .lines()
        .find(|l| l.contains("handled"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(handled.contains("tenancy.request{tenant=2}"), "{handled}");
    // A refused request is traced too, without a tenant.
    assert!(log.contains("request refused without a tenant"), "{log}");
    // ... and the rejection's response, with its type, as axum traces its own.
    let rejecting = log
        .lines()
        .find(|l| l.contains("rejecting request"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(rejecting.contains("TRACE"), "{rejecting}");
    assert!(rejecting.contains("status=404"), "{rejecting}");
    assert!(rejecting.contains("TenantRejection"), "{rejecting}");
}
