//! What [`ResolveTenantLayer`] adds to a request, next to the bare service.
//!
//! Both sides run the same trivial inner service (it answers at once), so
//! the difference is the layer's own cost: reading and normalising the
//! host, a warm directory lookup, the extensions, the task-local scope and
//! the span. The directory is an [`InMemoryDirectory`] behind the cache,
//! warmed before measuring, so no store query is timed.
//!
//! After criterion, the bench times both sides again in interleaved blocks
//! (so drift cancels) and prints the medians, the difference in ns per
//! request and the ratio, all from this run.
//!
//! ```text
//! cargo bench -p tenancy-tower --bench resolve
//! ```

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use http::{Request, Response};
use tenancy_core::directory::{InMemoryDirectory, Tenant, TenantDirectory};
use tenancy_tower::ResolveTenantLayer;
use tenancy_tower::resolve::ExactHost;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};

fn request() -> Request<String> {
    Request::builder()
        .uri("/leads?page=2")
        .header("host", "GoldenKey.localhost:8080")
        .header("user-agent", "bench")
        .body(String::new())
        .expect("request")
}

async fn handler(_req: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

fn directory() -> TenantDirectory {
    let store = InMemoryDirectory::new();
    for (id, slug) in [(1, "goldenkey"), (2, "stone"), (3, "acme")] {
        store
            .insert(Tenant::new(id, slug, slug), [format!("{slug}.localhost")])
            .expect("tenant");
    }
    TenantDirectory::new(store)
}

/// Runs `n` requests through `svc` and returns ns per request.
fn per_request<S>(rt: &Runtime, svc: &S, n: u32) -> f64
where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let res = svc.clone().oneshot(request()).await.expect("infallible");
            black_box(res);
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bare = service_fn(handler);
    let layered = ResolveTenantLayer::new(ExactHost::new(directory())).layer(service_fn(handler));
    // Warm the directory cache; check the layer resolves (a 404 would be
    // measuring the wrong path).
    let warm = rt
        .block_on(layered.clone().oneshot(request()))
        .expect("infallible");
    assert_eq!(warm.status(), 200, "the bench request must resolve");

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = c.benchmark_group("resolve_tenant");
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { bare.oneshot(request()).await })
    });
    group.bench_function("layer", |b| {
        b.to_async(&rt)
            .iter(|| async { layered.clone().oneshot(request()).await })
    });
    group.finish();
    c.final_summary();

    // Interleaved blocks: bare, layer, layer, bare, ... so drift cancels.
    let (mut bare_ns, mut layer_ns) = (Vec::new(), Vec::new());
    for block in 0..40 {
        if block % 2 == 0 {
            bare_ns.push(per_request(&rt, &bare, 20_000));
            layer_ns.push(per_request(&rt, &layered, 20_000));
        } else {
            layer_ns.push(per_request(&rt, &layered, 20_000));
            bare_ns.push(per_request(&rt, &bare, 20_000));
        }
    }
    let (bare, layer) = (median(bare_ns), median(layer_ns));
    println!(
        "\nResolveTenantLayer (ExactHost, warm cache), medians of 40 interleaved blocks of 20,000 requests:"
    );
    println!(
        "  {:<28} {:>10} {:>10} {:>10} {:>7}",
        "case", "bare_ns", "layer_ns", "added_ns", "ratio"
    );
    println!(
        "  {:<28} {:>10.0} {:>10.0} {:>10.0} {:>7.2}",
        "request through the layer",
        bare,
        layer,
        layer - bare,
        layer / bare
    );
}
