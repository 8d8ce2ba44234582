//! The config registry over its SeaORM store, on SQLite, PostgreSQL and
//! MariaDB: migrations, writes with their audit rows in one transaction,
//! secrets, refusals, outages, and propagation to a second registry
//! (polling everywhere, LISTEN/NOTIFY on PostgreSQL, with the time it takes
//! printed, never asserted).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;
use tenancy_config::{
    AuditFilter, AuditValue, ConfigError, ConfigRegistry, Key, Scope, Secret, Source, fingerprint,
};
use tenancy_core::TenantId;
use tenancy_seaorm::config_store::{
    AUDIT_TABLE, ChangeNotice, OVERRIDES_TABLE, REVISION_TABLE, SeaOrmConfigStore, WatchOptions,
};
use tenancy_testkit::{Backend, exec, for_each_backend, rows, with_db};

static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the predictive dialer", || false);
static WRAP_UP: Key<u32> = Key::new("dialer.wrap_up_secs", "Seconds between calls", || 30)
    .with_validator(|s| {
        if *s > 600 {
            Err("at most 600 seconds".into())
        } else {
            Ok(())
        }
    });
static STEPS: Key<Vec<String>> = Key::new("workflow.steps", "Steps of the sales workflow", || {
    vec!["lead".into(), "call".into()]
});
static CRM_TOKEN: Key<Secret<String>> =
    Key::new("crm.token", "Token of the CRM integration", || {
        Secret::new(String::new())
    });

const GOLDEN_KEY: TenantId = TenantId::new(1);
const STONE: TenantId = TenantId::new(2);

async fn load_registry(store: SeaOrmConfigStore) -> ConfigRegistry {
    ConfigRegistry::builder()
        .key(&DIALER)
        .key(&WRAP_UP)
        .key(&STEPS)
        .key(&CRM_TOKEN)
        .load(store)
        .await
        .expect("the registry loads")
}

async fn migrated(conn: &DatabaseConnection) -> SeaOrmConfigStore {
    let store = SeaOrmConfigStore::new(conn.clone());
    store.migrate().await.expect("migrations run");
    store
}

async fn count(conn: &DatabaseConnection, table: &str) -> String {
    rows(conn, &format!("SELECT COUNT(*) FROM {table}")).await[0][0].clone()
}

/// A second, separate pool on the same test database: another "instance".
async fn second_pool(conn: &DatabaseConnection) -> DatabaseConnection {
    let options = match Backend::of(conn) {
        Backend::Sqlite => {
            let file = rows(
                conn,
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
            )
            .await[0][0]
                .clone();
            ConnectOptions::new(format!("sqlite://{file}?mode=rw"))
        }
        Backend::Postgres => {
            let schema = rows(conn, "SELECT current_schema()").await[0][0].clone();
            let url =
                std::env::var(tenancy_testkit::POSTGRES_URL_VAR).expect("set for this backend");
            let mut options = ConnectOptions::new(url);
            options.set_schema_search_path(schema);
            options
        }
        Backend::MySql => {
            let database = rows(conn, "SELECT DATABASE()").await[0][0].clone();
            let url = std::env::var(tenancy_testkit::MYSQL_URL_VAR).expect("set for this backend");
            ConnectOptions::new(tenancy_testkit::replace_database(&url, &database))
        }
    };
    let mut options = options;
    options.max_connections(3).sqlx_logging(false);
    Database::connect(options)
        .await
        .expect("a second pool connects")
}

/// How long [`until`] spins before it starts to sleep between checks.
const SPIN_FOR: Duration = Duration::from_millis(20);

/// Waits until `check` holds, up to `limit`; how long it took.
async fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        // Spin for the first milliseconds, so fast propagation is timed to
        // the microsecond; then sleep between checks, because a long spin
        // in several tests at once starves the database server on a small
        // machine (seconds of delay, and a flaky 10 s limit).
        if start.elapsed() < SPIN_FOR {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    check().then(|| start.elapsed())
}

/// Waits until some session on the server has run `LISTEN "<channel>"`
/// (sqlx adds a `;` when it listens again after a reconnect) and is idle,
/// so the LISTEN is in effect.
async fn wait_for_listener(conn: &DatabaseConnection, channel: &str) {
    let sql = format!(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE state = 'idle' AND query LIKE 'LISTEN \"{channel}\"%'"
    );
    for _ in 0..1000 {
        if rows(conn, &sql).await[0][0] != "0" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nobody listened on {channel} within 10 s");
}

/// Every event of this test binary, formatted, so a test can check that no
/// secret reached a log. Each test calls it first, so the subscriber is in
/// place before any event fires.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        #[derive(Clone)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(Arc::clone(&buffer));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
}

fn logged() -> String {
    String::from_utf8_lossy(
        &logs()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

/// Two instances of the application on one database: `writer` on the
/// test's pool, and `reader` on a second pool kept current by
/// `SeaOrmConfigStore::watch` with `options`. A channel of `None` keeps the
/// store's default.
struct TwoInstances {
    writer: ConfigRegistry,
    reader: ConfigRegistry,
    other_pool: DatabaseConnection,
    watcher: tokio::task::JoinHandle<()>,
}

async fn two_instances(
    conn: &DatabaseConnection,
    writer_channel: Option<String>,
    reader_channel: Option<String>,
    options: WatchOptions,
) -> TwoInstances {
    let mut store = migrated(conn).await;
    if let Some(channel) = writer_channel {
        store = store.with_channel(channel);
    }
    let writer = load_registry(store).await;
    let other_pool = second_pool(conn).await;
    let mut other_store = SeaOrmConfigStore::new(other_pool.clone());
    if let Some(channel) = reader_channel {
        other_store = other_store.with_channel(channel);
    }
    let reader = load_registry(other_store.clone()).await;
    let watcher = tokio::spawn({
        let reader = reader.clone();
        async move { other_store.watch(&reader, options).await }
    });
    TwoInstances {
        writer,
        reader,
        other_pool,
        watcher,
    }
}

impl TwoInstances {
    /// Stops the watcher and closes the second pool, so the test database
    /// can be dropped.
    async fn stop(self) {
        self.watcher.abort();
        let _ = self.watcher.await;
        self.other_pool.close().await.unwrap();
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        store.migrate().await.expect("a second run changes nothing");
        tenancy_seaorm::config_store::migrate(&conn, tenancy_seaorm::TenantKeyType::BigInt)
            .await
            .expect("and a third, outside a transaction");
        assert_eq!(
            rows(&conn, &format!("SELECT id, revision FROM {REVISION_TABLE}")).await,
            [["1", "0"]]
        );
        assert_eq!(count(&conn, OVERRIDES_TABLE).await, "0");
        assert_eq!(count(&conn, AUDIT_TABLE).await, "0");
    })
    .await;
}

#[tokio::test]
async fn layers_round_trip_through_the_database() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        let registry = load_registry(store.clone()).await;

        registry.set("ops", Scope::Global, &WRAP_UP, 45).await.unwrap();
        registry
            .set("admin@golden", Scope::Tenant(GOLDEN_KEY), &WRAP_UP, 60)
            .await
            .unwrap();
        registry
            .set("admin@golden", Scope::Tenant(GOLDEN_KEY), &STEPS, vec!["call".into(), "close".into()])
            .await
            .unwrap();
        registry.set("ops", Scope::Forced, &DIALER, false).await.unwrap();
        registry.set("admin@stone", Scope::Tenant(STONE), &DIALER, true).await.unwrap();

        // A fresh registry on the same database sees exactly the same thing.
        let reloaded = load_registry(store.clone()).await;
        for r in [&registry, &reloaded] {
            assert_eq!(r.get_with_source(GOLDEN_KEY, &WRAP_UP).unwrap(), (60, Source::Tenant));
            assert_eq!(r.get_with_source(STONE, &WRAP_UP).unwrap(), (45, Source::Global));
            assert_eq!(r.get(GOLDEN_KEY, &STEPS).unwrap(), ["call", "close"]);
            assert_eq!(r.get_with_source(STONE, &STEPS).unwrap().1, Source::Default);
            assert_eq!(r.get_with_source(STONE, &DIALER).unwrap(), (false, Source::Forced));
        }

        // Clearing brings the next layer back, in the database too.
        registry.clear("ops", Scope::Forced, "dialer.enabled").await.unwrap();
        let reloaded = load_registry(store.clone()).await;
        assert_eq!(reloaded.get_with_source(STONE, &DIALER).unwrap(), (true, Source::Tenant));
        assert_eq!(
            rows(&conn, &format!("SELECT scope, config_key, value, revision, updated_by FROM {OVERRIDES_TABLE} ORDER BY revision")).await,
            [
                ["global", "dialer.wrap_up_secs", "45", "1", "ops"],
                ["tenant:1", "dialer.wrap_up_secs", "60", "2", "admin@golden"],
                ["tenant:1", "workflow.steps", "[\"call\",\"close\"]", "3", "admin@golden"],
                ["tenant:2", "dialer.enabled", "true", "5", "admin@stone"],
            ]
        );
        assert_eq!(rows(&conn, &format!("SELECT tenant_id FROM {OVERRIDES_TABLE} WHERE scope = 'tenant:2'")).await, [["2"]]);
    })
    .await;
}

#[tokio::test]
async fn every_write_is_audited_with_old_and_new_values() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        let registry = load_registry(store).await;
        registry
            .set("alice", Scope::Tenant(STONE), &WRAP_UP, 40)
            .await
            .unwrap();
        registry
            .set("bob", Scope::Tenant(STONE), &WRAP_UP, 50)
            .await
            .unwrap();
        registry
            .clear("carol", Scope::Tenant(STONE), "dialer.wrap_up_secs")
            .await
            .unwrap();

        let audit = registry.audit(AuditFilter::all()).await.unwrap();
        let summary: Vec<_> = audit
            .iter()
            .map(|r| {
                (
                    r.revision,
                    r.actor.as_str(),
                    r.scope,
                    r.key.as_str(),
                    r.old.clone(),
                    r.new.clone(),
                )
            })
            .collect();
        let v = |n: u32| Some(AuditValue::Value(json!(n)));
        let stone = Scope::Tenant(STONE);
        assert_eq!(
            summary,
            [
                (3, "carol", stone, "dialer.wrap_up_secs", v(50), None),
                (2, "bob", stone, "dialer.wrap_up_secs", v(40), v(50)),
                (1, "alice", stone, "dialer.wrap_up_secs", None, v(40)),
            ]
        );
        assert!(
            audit.iter().all(|r| r.at_ms > 1_700_000_000_000),
            "{audit:?}"
        );

        let filtered = registry
            .audit(
                AuditFilter::all()
                    .scope(stone)
                    .key("dialer.wrap_up_secs")
                    .limit(1),
            )
            .await
            .unwrap();
        assert_eq!(filtered.iter().map(|r| r.revision).collect::<Vec<_>>(), [3]);
        assert!(
            registry
                .audit(AuditFilter::all().scope(Scope::Global))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn secrets_are_fingerprinted_in_the_audit_and_absent_from_logs() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        let registry = load_registry(store).await;
        let golden = Scope::Tenant(GOLDEN_KEY);
        registry
            .set(
                "ops",
                golden,
                &CRM_TOKEN,
                Secret::new("tok-first-5f2a".into()),
            )
            .await
            .unwrap();
        registry
            .set_json("ops", golden, "crm.token", json!("tok-second-5f2a"))
            .await
            .unwrap();
        let refused = registry
            .set_json(
                "ops",
                golden,
                "crm.token",
                json!({"tok": "tok-refused-5f2a"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(refused, ConfigError::InvalidValue { .. }));
        assert_eq!(
            registry.get(GOLDEN_KEY, &CRM_TOKEN).unwrap().expose(),
            "tok-second-5f2a"
        );

        // The audit table holds fingerprints only.
        let audit_rows = rows(
            &conn,
            &format!("SELECT old_value, new_value FROM {AUDIT_TABLE} ORDER BY revision"),
        )
        .await;
        let first = fingerprint("crm.token", &json!("tok-first-5f2a"));
        let second = fingerprint("crm.token", &json!("tok-second-5f2a"));
        assert_eq!(
            audit_rows,
            [vec!["NULL".to_owned(), first.clone()], vec![first, second]]
        );
        let audit = registry.audit(AuditFilter::all()).await.unwrap();

        let shown = [
            format!("{refused} {refused:?} {registry:?} {audit:?}"),
            serde_json::to_string(&audit).unwrap(),
            serde_json::to_string(&registry.effective(GOLDEN_KEY)).unwrap(),
            serde_json::to_string(&registry.keys()).unwrap(),
            format!("{:?}", registry.get(GOLDEN_KEY, &CRM_TOKEN).unwrap()),
            logged(),
        ];
        for text in &shown {
            assert!(!text.contains("5f2a"), "a secret leaked: {text}");
        }
        // The logs did see the writes, just not their values.
        assert!(logged().contains("config changed") && logged().contains("crm.token"));
    })
    .await;
}

#[tokio::test]
async fn invalid_writes_store_nothing() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        let registry = load_registry(store).await;
        static UNDECLARED: Key<bool> = Key::new("not.declared", "", || false);

        let attempts = [
            registry.set("ops", Scope::Global, &UNDECLARED, true).await,
            registry.set_json("ops", Scope::Global, "nope", json!(1)).await,
            registry.set_json("ops", Scope::Global, "dialer.wrap_up_secs", json!("soon")).await,
            registry.set_json("ops", Scope::Global, "dialer.wrap_up_secs", json!(-5)).await,
            registry.set("ops", Scope::Tenant(STONE), &WRAP_UP, 601).await,
            registry.clear("ops", Scope::Global, "nope").await,
            // Larger than MySQL's TEXT column holds.
            registry
                .set("ops", Scope::Global, &STEPS, vec!["x".repeat(70_000)])
                .await,
            registry.set("", Scope::Global, &DIALER, true).await,
        ];
        assert!(matches!(attempts[0], Err(ConfigError::UndeclaredKey { .. })));
        assert!(matches!(attempts[1], Err(ConfigError::UndeclaredKey { .. })));
        assert!(matches!(attempts[2], Err(ConfigError::InvalidValue { .. })));
        assert!(matches!(attempts[3], Err(ConfigError::InvalidValue { .. })));
        assert!(matches!(&attempts[4], Err(ConfigError::Rejected { reason, .. }) if reason == "at most 600 seconds"));
        assert!(matches!(attempts[5], Err(ConfigError::UndeclaredKey { .. })));
        assert!(matches!(attempts[6], Err(ConfigError::InvalidValue { .. })));
        assert!(matches!(attempts[7], Err(ConfigError::InvalidActor { .. })));

        assert_eq!(count(&conn, OVERRIDES_TABLE).await, "0");
        assert_eq!(count(&conn, AUDIT_TABLE).await, "0");
        assert_eq!(rows(&conn, &format!("SELECT revision FROM {REVISION_TABLE}")).await, [["0"]]);
    })
    .await;
}

#[tokio::test]
async fn a_failed_audit_insert_rolls_the_write_back() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        let registry = load_registry(store).await;
        registry
            .set("ops", Scope::Global, &WRAP_UP, 45)
            .await
            .unwrap();

        // The override and revision update succeed, the audit insert fails.
        exec(&conn, &format!("DROP TABLE {AUDIT_TABLE}")).await;
        let failed = registry.set("ops", Scope::Global, &WRAP_UP, 99).await;
        assert!(matches!(failed, Err(ConfigError::Store(_))), "{failed:?}");

        assert_eq!(
            rows(
                &conn,
                &format!("SELECT value, revision FROM {OVERRIDES_TABLE}")
            )
            .await,
            [["45", "1"]]
        );
        assert_eq!(
            rows(&conn, &format!("SELECT revision FROM {REVISION_TABLE}")).await,
            [["1"]]
        );
        assert_eq!(registry.get(STONE, &WRAP_UP).unwrap(), 45);
    })
    .await;
}

#[tokio::test]
async fn an_outage_keeps_the_last_good_snapshot() {
    logs();
    for_each_backend(|conn| async move {
        let store = migrated(&conn).await;
        let registry = load_registry(store.clone()).await;
        registry
            .set("ops", Scope::Tenant(STONE), &WRAP_UP, 45)
            .await
            .unwrap();
        assert!(registry.health().is_healthy());

        // The tables go away (a restore gone wrong, a revoked grant).
        exec(&conn, &format!("DROP TABLE {OVERRIDES_TABLE}")).await;
        exec(&conn, &format!("DROP TABLE {REVISION_TABLE}")).await;
        assert!(matches!(
            registry.refresh().await,
            Err(ConfigError::Store(_))
        ));
        assert!(matches!(registry.poll().await, Err(ConfigError::Store(_))));
        assert!(matches!(
            registry.refresh_scope(Scope::Global).await,
            Err(ConfigError::Store(_))
        ));
        assert!(matches!(
            registry.set("ops", Scope::Global, &DIALER, true).await,
            Err(ConfigError::Store(_))
        ));
        assert_eq!(
            registry.get(STONE, &WRAP_UP).unwrap(),
            45,
            "the last good value"
        );
        let health = registry.health();
        assert!(!health.is_healthy());
        assert_eq!(health.consecutive_failures, 3);
        assert!(
            health
                .last_failure
                .as_deref()
                .unwrap_or("")
                .contains("config store unavailable")
        );

        // A first load that fails builds no registry at all.
        let cold = ConfigRegistry::builder()
            .key(&WRAP_UP)
            .load(store.clone())
            .await;
        assert!(matches!(cold, Err(ConfigError::Store(_))));

        // Back: the next poll reloads what the store now says.
        store.migrate().await.unwrap();
        assert!(
            registry.poll().await.unwrap(),
            "the revision moved, so it reloads"
        );
        assert!(registry.health().is_healthy());
        assert_eq!(
            registry.get_with_source(STONE, &WRAP_UP).unwrap(),
            (30, Source::Default)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_brings_changes_to_a_second_instance() {
    logs();
    for_each_backend(|conn| async move {
        let backend = Backend::of(&conn);
        // Polling only: a store whose channel nobody notifies, and on
        // PostgreSQL the reconciliation is the poll.
        let options = WatchOptions::default()
            .poll_every(Duration::from_millis(100))
            .reconcile_every(Duration::from_millis(100));
        let two = two_instances(&conn, None, Some("nobody_sends_here".into()), options).await;
        let (writer, reader) = (&two.writer, &two.reader);

        writer
            .set("ops", Scope::Tenant(STONE), &DIALER, true)
            .await
            .unwrap();
        let took = until(Duration::from_secs(20), || {
            reader.get(STONE, &DIALER).unwrap()
        })
        .await;
        two.stop().await;
        let took = took.expect("the change reached the second instance by polling");
        println!("propagation by polling every 100 ms on {backend}: {took:?}");
    })
    .await;
}

#[tokio::test]
async fn postgres_notifies_each_change_on_commit() {
    logs();
    if !tenancy_testkit::backends().contains(&Backend::Postgres) {
        return;
    }
    with_db(Backend::Postgres, |conn| async move {
        use sea_orm::sqlx::postgres::PgListener;
        let channel = format!("cfg_{}", rows(&conn, "SELECT current_schema()").await[0][0]);
        let store = migrated(&conn).await.with_channel(channel.clone());
        let registry = load_registry(store).await;

        let mut listener = PgListener::connect_with(conn.get_postgres_connection_pool())
            .await
            .unwrap();
        listener.listen(&channel).await.unwrap();

        // A refused write sends nothing; a rolled-back one neither.
        assert!(
            registry
                .set("ops", Scope::Global, &WRAP_UP, 9999)
                .await
                .is_err()
        );
        let revision = registry
            .set("ops", Scope::Tenant(STONE), &WRAP_UP, 42)
            .await
            .unwrap();
        let notice = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification within 10 s")
            .unwrap();
        let notice: ChangeNotice = serde_json::from_str(notice.payload()).unwrap();
        assert_eq!(
            (notice.scope, notice.revision),
            (Scope::Tenant(STONE), revision)
        );
        assert_eq!(revision, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listen_notify_reaches_a_second_instance() {
    logs();
    if !tenancy_testkit::backends().contains(&Backend::Postgres) {
        return;
    }
    with_db(Backend::Postgres, |conn| async move {
        let channel = format!("cfg_{}", rows(&conn, "SELECT current_schema()").await[0][0]);
        // The reconciliation poll is an hour away: only a notification can
        // bring the changes in time.
        let options = WatchOptions::default().reconcile_every(Duration::from_secs(3600));
        let two = two_instances(&conn, Some(channel.clone()), Some(channel.clone()), options).await;
        let (writer, reader) = (&two.writer, &two.reader);
        // Don't write before the watcher's LISTEN has run: its notice would
        // be lost, and the reconciliation is an hour away.
        wait_for_listener(&conn, &channel).await;

        let mut after_commit = Vec::new();
        let mut around_write = Vec::new();
        for round in 1..=20_u32 {
            let started = Instant::now();
            writer
                .set("ops", Scope::Tenant(GOLDEN_KEY), &WRAP_UP, round)
                .await
                .unwrap();
            let committed = started.elapsed();
            let took = until(Duration::from_secs(10), || {
                reader.get(GOLDEN_KEY, &WRAP_UP).unwrap() == round
            })
            .await
            .unwrap_or_else(|| panic!("round {round}: the notification never arrived"));
            after_commit.push(took);
            around_write.push(committed + took);
        }
        // A global change reaches every tenant's snapshot.
        writer
            .set("ops", Scope::Forced, &DIALER, true)
            .await
            .unwrap();
        until(Duration::from_secs(10), || {
            reader.get(STONE, &DIALER).unwrap()
        })
        .await
        .expect("the kill switch arrived");
        assert_eq!(
            reader.get_with_source(GOLDEN_KEY, &DIALER).unwrap(),
            (true, Source::Forced)
        );

        two.stop().await;

        after_commit.sort();
        around_write.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "LISTEN/NOTIFY propagation to a second instance on PostgreSQL, 20 changes: \
             after commit min {:.2} ms, median {:.2} ms, max {:.2} ms; \
             write + propagation median {:.2} ms, max {:.2} ms",
            ms(after_commit[0]),
            ms(after_commit[10]),
            ms(after_commit[19]),
            ms(around_write[10]),
            ms(around_write[19]),
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_watcher_survives_a_killed_listener_connection() {
    logs();
    if !tenancy_testkit::backends().contains(&Backend::Postgres) {
        return;
    }
    with_db(Backend::Postgres, |conn| async move {
        let channel = format!("cfg_{}", rows(&conn, "SELECT current_schema()").await[0][0]);
        // No timed reconciliation: only reconnecting can bring the change.
        let options = WatchOptions::default()
            .reconcile_every(Duration::from_secs(3600))
            .reconnect_after(Duration::from_millis(100));
        let two = two_instances(&conn, Some(channel.clone()), Some(channel.clone()), options).await;
        let (writer, reader) = (&two.writer, &two.reader);
        wait_for_listener(&conn, &channel).await;

        // The listening connection dies (a failover, an idle reaper) ...
        let killed = rows(
            &conn,
            &format!(
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity \
                 WHERE query LIKE 'LISTEN \"{channel}\"%'"
            ),
        )
        .await;
        assert_eq!(killed, [["true"]]);
        // ... and a change is made while it is down or coming back.
        writer
            .set("ops", Scope::Tenant(STONE), &WRAP_UP, 77)
            .await
            .unwrap();
        let took = until(Duration::from_secs(20), || {
            reader.get(STONE, &WRAP_UP).unwrap() == 77
        })
        .await;
        // And notifications flow again afterwards.
        wait_for_listener(&conn, &channel).await;
        writer
            .set("ops", Scope::Tenant(STONE), &WRAP_UP, 78)
            .await
            .unwrap();
        let again = until(Duration::from_secs(20), || {
            reader.get(STONE, &WRAP_UP).unwrap() == 78
        })
        .await;
        two.stop().await;
        let took = took.expect("the change made while the listener was down arrived");
        again.expect("the listener came back");
        println!("change made while the listener was killed arrived in {took:?}");
    })
    .await;
}

#[tokio::test]
async fn postgres_reconciliation_catches_a_lost_notification() {
    logs();
    if !tenancy_testkit::backends().contains(&Backend::Postgres) {
        return;
    }
    with_db(Backend::Postgres, |conn| async move {
        let schema = rows(&conn, "SELECT current_schema()").await[0][0].clone();
        // The writer notifies a channel the reader does not listen on: as if
        // every notification were lost.
        let options = WatchOptions::default()
            .reconcile_every(Duration::from_millis(200))
            .poll_every(Duration::from_secs(3600));
        let two = two_instances(
            &conn,
            Some(format!("elsewhere_{schema}")),
            Some(format!("cfg_{schema}")),
            options,
        )
        .await;
        let (writer, reader) = (&two.writer, &two.reader);

        writer
            .set("ops", Scope::Global, &STEPS, vec!["only".into()])
            .await
            .unwrap();
        let took = until(Duration::from_secs(20), || {
            reader.get(STONE, &STEPS).unwrap() == ["only"]
        })
        .await;
        two.stop().await;
        let took = took.expect("the reconciliation poll brought the change");
        println!("lost notification reconciled on PostgreSQL (poll every 200 ms) in {took:?}");
    })
    .await;
}

#[tokio::test]
async fn the_config_tables_are_not_tenant_tables() {
    logs();
    // A scoped connection refuses them: they are read with the plain one.
    with_db(Backend::Sqlite, |conn| async move {
        migrated(&conn).await;
        let registry = tenancy_seaorm::TableRegistry::builder().build().unwrap();
        let scoped = tenancy_seaorm::TenantConnection::new(conn.clone(), registry, 1);
        let refused = scoped
            .query_all_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT * FROM {OVERRIDES_TABLE}"),
            ))
            .await;
        assert!(refused.is_err());
    })
    .await;
}
