//! Reading a config value: the registry against a plain
//! `HashMap<String, serde_json::Value>` lookup, side by side in one run.
//!
//! `cargo bench -p tenancy-config --bench registry`
//!
//! Criterion measures each read; afterwards a plain timing loop prints
//! ns/read for both and their ratio on one line, and dhat counts the heap
//! allocations of a million registry reads (the target is none).
//!
//! The setup is a registry of 24 keys with 200 tenants that have overrides
//! of their own, a global override and a kill switch on other keys, so the
//! tenant lookup and the layers are not trivially small.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use serde_json::Value;
use tenancy_config::{ConfigRegistry, Key, Scope, Secret, testing::TestConfig};
use tenancy_core::TenantId;

// dhat's allocator only counts while a profiler runs (at the very end); until
// then it forwards to the system allocator.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the predictive dialer", || false);
static WRAP_UP: Key<u32> = Key::new("dialer.wrap_up_secs", "Seconds between calls", || 30);
static DISPOSITIONS: Key<Vec<String>> = Key::new("dialer.dispositions", "Dispositions", || {
    vec!["answered".into(), "no_answer".into(), "callback".into()]
});
static TOKEN: Key<Secret<String>> =
    Key::new("crm.token", "CRM token", || Secret::new("default".into()));

macro_rules! filler_keys {
    ($($name:ident = $key:literal),* $(,)?) => {
        $(static $name: Key<i64> = Key::new($key, "filler", || 0);)*
        fn with_fillers(builder: tenancy_config::ConfigRegistryBuilder)
            -> tenancy_config::ConfigRegistryBuilder {
            builder$(.key(&$name))*
        }
    };
}

filler_keys!(
    F01 = "filler.01",
    F02 = "filler.02",
    F03 = "filler.03",
    F04 = "filler.04",
    F05 = "filler.05",
    F06 = "filler.06",
    F07 = "filler.07",
    F08 = "filler.08",
    F09 = "filler.09",
    F10 = "filler.10",
    F11 = "filler.11",
    F12 = "filler.12",
    F13 = "filler.13",
    F14 = "filler.14",
    F15 = "filler.15",
    F16 = "filler.16",
    F17 = "filler.17",
    F18 = "filler.18",
    F19 = "filler.19",
    F20 = "filler.20",
);

const TENANTS: i64 = 200;
/// A tenant with overrides of its own.
const OVERRIDDEN: TenantId = TenantId::new(137);
/// A tenant without: it reads the shared base snapshot.
const PLAIN: TenantId = TenantId::new(100_000);

fn registry() -> ConfigRegistry {
    let builder = ConfigRegistry::builder()
        .key(&DIALER)
        .key(&WRAP_UP)
        .key(&DISPOSITIONS)
        .key(&TOKEN);
    let config = TestConfig::new(with_fillers(builder)).expect("keys are valid");
    for id in 1..=TENANTS {
        let scope = Scope::Tenant(TenantId::new(id));
        config.set(scope, &DIALER, id % 2 == 1).expect("valid");
        config.set(scope, &F07, id).expect("valid");
    }
    config.set(Scope::Global, &WRAP_UP, 45).expect("valid");
    config.set(Scope::Forced, &F11, 1).expect("valid");
    config.registry().clone()
}

/// The baseline: what a hand-rolled per-tenant settings map would do.
fn baseline() -> HashMap<String, Value> {
    let mut map: HashMap<String, Value> = (1..=20)
        .map(|i| (format!("filler.{i:02}"), Value::from(0)))
        .collect();
    map.insert("dialer.enabled".into(), Value::Bool(true));
    map.insert("dialer.wrap_up_secs".into(), Value::from(45));
    map
}

fn read_registry(registry: &ConfigRegistry, tenant: TenantId) -> bool {
    registry.get(tenant, &DIALER).unwrap_or(false)
}

fn read_baseline(map: &HashMap<String, Value>) -> bool {
    map.get("dialer.enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn reads(c: &mut Criterion) {
    let registry = registry();
    let map = baseline();
    assert!(read_registry(&registry, OVERRIDDEN));
    assert!(read_baseline(&map));

    let mut group = c.benchmark_group("config_read");
    group.bench_function("hashmap_string_json_baseline", |b| {
        b.iter(|| read_baseline(black_box(&map)))
    });
    group.bench_function("registry_get_bool_overridden_tenant", |b| {
        b.iter(|| read_registry(black_box(&registry), black_box(OVERRIDDEN)))
    });
    group.bench_function("registry_get_bool_plain_tenant", |b| {
        b.iter(|| read_registry(black_box(&registry), black_box(PLAIN)))
    });
    group.bench_function("registry_get_arc_vec_string", |b| {
        b.iter(|| registry.get_arc(black_box(OVERRIDDEN), &DISPOSITIONS))
    });
    group.bench_function("registry_tenant_view_ten_reads", |b| {
        b.iter(|| {
            let config = registry.tenant(black_box(OVERRIDDEN));
            let mut sum = 0_i64;
            for key in [&F01, &F02, &F03, &F04, &F05, &F06, &F07, &F08, &F09] {
                sum += config.get(key).unwrap_or(0);
            }
            sum + i64::from(config.get(&DIALER).unwrap_or(false))
        })
    });
    group.finish();
}

/// ns per call of `f`, over enough calls to take about half a second.
fn ns_per_call(mut f: impl FnMut() -> bool) -> f64 {
    const CALLS: u32 = 20_000_000;
    let mut hits = 0_u32;
    // Warm up caches and the branch predictor.
    for _ in 0..CALLS / 10 {
        hits += u32::from(black_box(f()));
    }
    let start = Instant::now();
    for _ in 0..CALLS {
        hits += u32::from(black_box(f()));
    }
    let elapsed = start.elapsed();
    black_box(hits);
    elapsed.as_secs_f64() * 1e9 / f64::from(CALLS)
}

fn summary() {
    let registry = registry();
    let map = baseline();
    let reg_overridden = ns_per_call(|| read_registry(black_box(&registry), black_box(OVERRIDDEN)));
    let reg_plain = ns_per_call(|| read_registry(black_box(&registry), black_box(PLAIN)));
    let base = ns_per_call(|| read_baseline(black_box(&map)));
    println!();
    println!("config read, one run, same machine (plain timing loop, 20M calls each):");
    println!("  HashMap<String, serde_json::Value> lookup: {base:6.2} ns/read (baseline)");
    println!(
        "  registry.get, tenant with overrides:       {reg_overridden:6.2} ns/read, {:.2}x the baseline",
        reg_overridden / base
    );
    println!(
        "  registry.get, tenant without overrides:    {reg_plain:6.2} ns/read, {:.2}x the baseline",
        reg_plain / base
    );
    println!(
        "  target <= 100 ns/read: {}",
        if reg_overridden.max(reg_plain) <= 100.0 {
            "met"
        } else {
            "NOT met"
        }
    );

    // Allocations of a million reads, counted by dhat.
    let profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let mut hits = 0_u32;
    for i in 0..1_000_000_i64 {
        let tenant = TenantId::new(i % (TENANTS + 50));
        hits += u32::from(read_registry(black_box(&registry), black_box(tenant)));
        hits += u32::from(registry.get_arc(tenant, &DISPOSITIONS).is_ok());
    }
    let after = dhat::HeapStats::get();
    black_box(hits);
    drop(profiler);
    let allocations = after.total_blocks - before.total_blocks;
    println!("  heap allocations in 1M registry.get + 1M registry.get_arc calls: {allocations}");
    assert_eq!(allocations, 0, "a registry read allocated");
}

criterion_group!(benches, reads);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
