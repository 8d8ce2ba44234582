//! The registry's unit tests.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::testing::TestConfig;
use crate::{InMemoryConfigStore, Secret};

static FLAG: Key<bool> = Key::new("flag", "a flag", || false);
static LIMIT: Key<u32> = Key::new("limit", "a limit", || 10).with_validator(|n| {
    if *n > 100 {
        Err("at most 100".into())
    } else {
        Ok(())
    }
});
static NAMES: Key<Vec<String>> = Key::new("names", "names", || vec!["a".into()]);
static TOKEN: Key<Secret<String>> = Key::new("token", "a credential", || {
    Secret::new("default-token".into())
});

const T1: TenantId = TenantId::new(1);
const T2: TenantId = TenantId::new(2);

fn builder() -> ConfigRegistryBuilder {
    ConfigRegistry::builder()
        .key(&FLAG)
        .key(&LIMIT)
        .key(&NAMES)
        .key(&TOKEN)
}

async fn registry_on(store: Arc<InMemoryConfigStore>) -> ConfigRegistry {
    builder().load(store).await.unwrap()
}

#[tokio::test]
async fn layers_resolve_highest_first_and_say_where_from() {
    let registry = registry_on(Arc::default()).await;
    assert_eq!(
        registry.get_with_source(T1, &LIMIT).unwrap(),
        (10, Source::Default)
    );

    registry
        .set("ops", Scope::Global, &LIMIT, 20)
        .await
        .unwrap();
    assert_eq!(
        registry.get_with_source(T1, &LIMIT).unwrap(),
        (20, Source::Global)
    );

    registry
        .set("ops", Scope::Tenant(T1), &LIMIT, 30)
        .await
        .unwrap();
    assert_eq!(
        registry.get_with_source(T1, &LIMIT).unwrap(),
        (30, Source::Tenant)
    );
    assert_eq!(
        registry.get_with_source(T2, &LIMIT).unwrap(),
        (20, Source::Global)
    );

    registry.set("ops", Scope::Forced, &LIMIT, 1).await.unwrap();
    assert_eq!(
        registry.get_with_source(T1, &LIMIT).unwrap(),
        (1, Source::Forced)
    );
    assert_eq!(
        registry.get_with_source(T2, &LIMIT).unwrap(),
        (1, Source::Forced)
    );

    // Other keys are untouched by all of this.
    assert_eq!(
        registry.get_with_source(T1, &FLAG).unwrap(),
        (false, Source::Default)
    );

    // Clearing a layer lets the next one down show through.
    registry.clear("ops", Scope::Forced, "limit").await.unwrap();
    assert_eq!(registry.get(T1, &LIMIT).unwrap(), 30);
    registry
        .clear("ops", Scope::Tenant(T1), "limit")
        .await
        .unwrap();
    assert_eq!(registry.get(T1, &LIMIT).unwrap(), 20);
    registry.clear("ops", Scope::Global, "limit").await.unwrap();
    assert_eq!(
        registry.get_with_source(T1, &LIMIT).unwrap(),
        (10, Source::Default)
    );
}

#[tokio::test]
async fn undeclared_and_mistyped_keys_are_errors() {
    static OTHER: Key<bool> = Key::new("other", "not declared", || true);
    static LIMIT_AS_TEXT: Key<String> = Key::new("limit", "wrong type", String::new);
    let registry = registry_on(Arc::default()).await;

    assert!(matches!(
        registry.get(T1, &OTHER),
        Err(ConfigError::UndeclaredKey { key }) if key == "other"
    ));
    assert!(matches!(
        registry.set("ops", Scope::Global, &OTHER, true).await,
        Err(ConfigError::UndeclaredKey { .. })
    ));
    assert!(matches!(
        registry
            .set_json("ops", Scope::Global, "nope", json!(1))
            .await,
        Err(ConfigError::UndeclaredKey { .. })
    ));
    assert!(matches!(
        registry.clear("ops", Scope::Global, "nope").await,
        Err(ConfigError::UndeclaredKey { .. })
    ));
    assert!(matches!(
        registry.get(T1, &LIMIT_AS_TEXT),
        Err(ConfigError::TypeMismatch {
            declared: "u32",
            ..
        })
    ));
    assert!(matches!(
        registry.get_arc(T1, &LIMIT_AS_TEXT),
        Err(ConfigError::TypeMismatch { .. })
    ));

    // A copy of the declared key (not the static itself) is the same key.
    let copy: Key<u32> = Key::new("limit", "", || 0);
    assert_eq!(registry.get(T1, &copy).unwrap(), 10);
    assert_eq!(registry.revision_for_tests(), 0);
}

#[tokio::test]
async fn invalid_writes_store_nothing() {
    let store = Arc::new(InMemoryConfigStore::new());
    let registry = registry_on(Arc::clone(&store)).await;

    let wrong_type = registry
        .set_json("ops", Scope::Global, "limit", json!("many"))
        .await;
    assert!(matches!(
        wrong_type,
        Err(ConfigError::InvalidValue {
            expected: "u32",
            ..
        })
    ));
    let negative = registry
        .set_json("ops", Scope::Tenant(T1), "limit", json!(-1))
        .await;
    assert!(matches!(negative, Err(ConfigError::InvalidValue { .. })));
    let too_big = registry.set("ops", Scope::Global, &LIMIT, 101).await;
    assert!(
        matches!(&too_big, Err(ConfigError::Rejected { reason, .. }) if reason == "at most 100"),
        "{too_big:?}"
    );
    let not_a_list = registry
        .set_json("ops", Scope::Forced, "names", json!({"a": 1}))
        .await;
    assert!(matches!(not_a_list, Err(ConfigError::InvalidValue { .. })));

    assert!(store.audit_records().is_empty());
    assert_eq!(store.revision().await.unwrap(), 0);
    assert_eq!(registry.get(T1, &LIMIT).unwrap(), 10);
    assert_eq!(registry.get(T1, &NAMES).unwrap(), ["a"]);
}

#[tokio::test]
async fn writes_need_an_actor() {
    let store = Arc::new(InMemoryConfigStore::new());
    let registry = registry_on(Arc::clone(&store)).await;
    for actor in [String::new(), "  ".into(), "x".repeat(MAX_ACTOR_LEN + 1)] {
        assert!(matches!(
            registry.set(&actor, Scope::Global, &FLAG, true).await,
            Err(ConfigError::InvalidActor { .. })
        ));
    }
    assert!(store.audit_records().is_empty());
    let longest = "é".repeat(MAX_ACTOR_LEN);
    registry
        .set(&longest, Scope::Global, &FLAG, true)
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_declarations_are_refused() {
    static DUP: Key<u8> = Key::new("flag", "same name as FLAG", || 0);
    static BAD_NAME: Key<u8> = Key::new("has space", "", || 0);
    static BAD_DEFAULT: Key<u8> = Key::new("bad_default", "", || 0)
        .with_validator(|n| if *n == 0 { Err("zero".into()) } else { Ok(()) });
    let store = InMemoryConfigStore::new;
    assert!(matches!(
        ConfigRegistry::builder().key(&FLAG).key(&DUP).load(store()).await,
        Err(ConfigError::DuplicateKey { key }) if key == "flag"
    ));
    assert!(matches!(
        ConfigRegistry::builder().key(&BAD_NAME).load(store()).await,
        Err(ConfigError::InvalidKeyName { .. })
    ));
    assert!(matches!(
        ConfigRegistry::builder()
            .key(&BAD_DEFAULT)
            .load(store())
            .await,
        Err(ConfigError::InvalidDefault { .. })
    ));
}

#[tokio::test]
async fn first_load_failure_builds_no_registry() {
    let store = Arc::new(InMemoryConfigStore::new());
    store.set_unavailable(true);
    assert!(matches!(
        builder().load(store).await,
        Err(ConfigError::Store(_))
    ));
}

#[tokio::test]
async fn store_failure_serves_the_last_good_snapshot() {
    let store = Arc::new(InMemoryConfigStore::new());
    let registry = registry_on(Arc::clone(&store)).await;
    registry
        .set("ops", Scope::Tenant(T1), &LIMIT, 42)
        .await
        .unwrap();
    assert!(registry.health().is_healthy());

    store.set_unavailable(true);
    // A write fails and changes nothing.
    assert!(matches!(
        registry.set("ops", Scope::Tenant(T1), &LIMIT, 43).await,
        Err(ConfigError::Store(_))
    ));
    // Refreshes fail; reads keep the last good values.
    assert!(matches!(
        registry.refresh().await,
        Err(ConfigError::Store(_))
    ));
    assert!(matches!(registry.poll().await, Err(ConfigError::Store(_))));
    assert_eq!(registry.get(T1, &LIMIT).unwrap(), 42);
    let health = registry.health();
    assert!(!health.is_healthy());
    // The refresh and the poll; the write's failure went to its caller.
    assert_eq!(health.consecutive_failures, 2);
    assert!(health.last_failure.unwrap().contains("unavailable"));

    store.set_unavailable(false);
    assert_eq!(store.audit_records().len(), 1);
    registry.poll().await.unwrap();
    assert!(registry.health().is_healthy());
    assert_eq!(registry.get(T1, &LIMIT).unwrap(), 42);
}

#[tokio::test]
async fn a_second_instance_sees_changes_on_poll_and_scope_refresh() {
    let store = Arc::new(InMemoryConfigStore::new());
    let a = registry_on(Arc::clone(&store)).await;
    let b = registry_on(Arc::clone(&store)).await;

    a.set("ops", Scope::Tenant(T1), &FLAG, true).await.unwrap();
    assert!(!b.get(T1, &FLAG).unwrap(), "b has not refreshed yet");
    assert!(b.poll().await.unwrap());
    assert!(b.get(T1, &FLAG).unwrap());
    assert!(!b.poll().await.unwrap(), "nothing new");

    a.set("ops", Scope::Global, &LIMIT, 55).await.unwrap();
    b.refresh_scope(Scope::Global).await.unwrap();
    assert_eq!(b.get(T2, &LIMIT).unwrap(), 55);
    assert_eq!(b.get_with_source(T1, &LIMIT).unwrap(), (55, Source::Global));
    // A scope refresh is not a full load: the next poll still reconciles.
    assert!(b.poll().await.unwrap());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn watch_by_polling_picks_up_changes() {
    let store = Arc::new(InMemoryConfigStore::new());
    let a = registry_on(Arc::clone(&store)).await;
    let b = registry_on(Arc::clone(&store)).await;
    let watcher = tokio::spawn({
        let b = b.clone();
        async move { b.watch_by_polling(Duration::from_secs(5)).await }
    });
    a.set("ops", Scope::Tenant(T2), &LIMIT, 7).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(b.get(T2, &LIMIT).unwrap(), 7);
    watcher.abort();
}

#[tokio::test]
async fn an_older_write_does_not_replace_a_newer_value() {
    let store = Arc::new(InMemoryConfigStore::new());
    let registry = registry_on(Arc::clone(&store)).await;
    registry
        .set("ops", Scope::Tenant(T1), &LIMIT, 5)
        .await
        .unwrap();
    let index = registry.index_of(&LIMIT).unwrap();
    let (value, json) = LIMIT.check(99).unwrap();
    let stale = Entry {
        value,
        json: Arc::new(json),
        source: Source::Tenant,
        revision: 0,
    };
    registry.apply_one(Scope::Tenant(T1), index, Some(stale), 0);
    assert_eq!(registry.get(T1, &LIMIT).unwrap(), 5);
}

#[tokio::test]
async fn invalid_stored_overrides_are_skipped_and_reported() {
    let store = Arc::new(InMemoryConfigStore::new());
    // Written past the registry (or by a version with another type).
    store
        .write_now(Change::new(
            "sql",
            Scope::Tenant(T1),
            "limit",
            Some(json!("x")),
            Secrecy::Plain,
        ))
        .unwrap();
    store
        .write_now(Change::new(
            "sql",
            Scope::Global,
            "flag",
            Some(json!(true)),
            Secrecy::Plain,
        ))
        .unwrap();
    store
        .write_now(Change::new(
            "sql",
            Scope::Global,
            "gone",
            Some(json!(1)),
            Secrecy::Plain,
        ))
        .unwrap();
    let registry = registry_on(Arc::clone(&store)).await;
    assert_eq!(
        registry.get_with_source(T1, &LIMIT).unwrap(),
        (10, Source::Default)
    );
    assert!(registry.get(T1, &FLAG).unwrap());
    let health = registry.health();
    assert_eq!(health.invalid_overrides.len(), 1, "{health:?}");
    assert!(health.invalid_overrides[0].starts_with("tenant:1 limit:"));
    assert!(!health.is_healthy());

    // Fixing it through the registry clears the report on refresh.
    registry
        .set("ops", Scope::Tenant(T1), &LIMIT, 11)
        .await
        .unwrap();
    registry.refresh_scope(Scope::Tenant(T1)).await.unwrap();
    assert!(registry.health().is_healthy(), "{:?}", registry.health());
}

#[tokio::test]
async fn reads_from_one_tenant_view_are_consistent() {
    let registry = registry_on(Arc::default()).await;
    registry
        .set("ops", Scope::Tenant(T1), &NAMES, vec!["x".into()])
        .await
        .unwrap();
    let view = registry.tenant(T1);
    registry
        .set("ops", Scope::Tenant(T1), &NAMES, vec!["y".into()])
        .await
        .unwrap();
    assert_eq!(view.get(&NAMES).unwrap(), ["x"]);
    assert_eq!(registry.tenant(T1).get(&NAMES).unwrap(), ["y"]);
    assert_eq!(*registry.get_arc(T1, &NAMES).unwrap(), ["y"]);
    assert_eq!(
        registry.tenant(T2).get_with_source(&NAMES).unwrap(),
        (vec!["a".to_owned()], Source::Default)
    );
}

#[tokio::test]
async fn listing_shows_keys_values_and_sources() {
    let registry = registry_on(Arc::default()).await;
    registry
        .set("ops", Scope::Global, &FLAG, true)
        .await
        .unwrap();
    let revision = registry
        .set("ops", Scope::Tenant(T1), &LIMIT, 3)
        .await
        .unwrap();

    let keys = registry.keys();
    assert_eq!(
        keys.iter()
            .map(|k| (k.name, k.value_type, k.secret))
            .collect::<Vec<_>>(),
        [
            ("flag", "bool", false),
            ("limit", "u32", false),
            ("names", "alloc::vec::Vec<alloc::string::String>", false),
            (
                "token",
                "tenancy_config::key::Secret<alloc::string::String>",
                true
            ),
        ]
    );
    assert_eq!(keys[1].description, "a limit");
    assert_eq!(keys[1].default, AuditValue::Value(json!(10)));

    let values = registry.effective(T1);
    let summary: Vec<_> = values
        .iter()
        .map(|v| (v.key, v.value.clone(), v.source, v.revision))
        .collect();
    assert_eq!(
        summary[0],
        (
            "flag",
            AuditValue::Value(json!(true)),
            Source::Global,
            Some(1)
        )
    );
    assert_eq!(
        summary[1],
        (
            "limit",
            AuditValue::Value(json!(3)),
            Source::Tenant,
            Some(revision)
        )
    );
    assert_eq!(
        summary[2],
        (
            "names",
            AuditValue::Value(json!(["a"])),
            Source::Default,
            None
        )
    );
    assert_eq!(
        serde_json::to_value(&values[1]).unwrap(),
        json!({"key": "limit", "value": {"value": 3}, "source": "tenant", "revision": 2})
    );
}

#[tokio::test]
async fn secrets_never_show() {
    // That logs never carry a secret is tested in `tests/tests/stores/config_store.rs`,
    // a binary of its own, where a global subscriber sees every event.
    let store = Arc::new(InMemoryConfigStore::new());
    let registry = registry_on(Arc::clone(&store)).await;
    registry
        .set(
            "ops",
            Scope::Tenant(T1),
            &TOKEN,
            Secret::new("hunter2-first".into()),
        )
        .await
        .unwrap();
    registry
        .set_json("ops", Scope::Tenant(T1), "token", json!("hunter2-second"))
        .await
        .unwrap();
    let refused = registry
        .set_json(
            "ops",
            Scope::Tenant(T1),
            "token",
            json!(["hunter2-refused"]),
        )
        .await
        .unwrap_err();
    registry.refresh().await.unwrap();
    assert_eq!(registry.get(T1, &TOKEN).unwrap().expose(), "hunter2-second");

    let audit = registry.audit(AuditFilter::all()).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(
        audit[0].old,
        Some(AuditValue::Fingerprint(crate::fingerprint(
            "token",
            &json!("hunter2-first")
        )))
    );
    let shown = [
        format!("{refused} {refused:?}"),
        format!("{registry:?}"),
        format!("{:?}", registry.get(T1, &TOKEN).unwrap()),
        format!("{}", registry.get(T1, &TOKEN).unwrap()),
        format!("{:?}", registry.tenant(T1)),
        format!("{:?} {:?}", registry.effective(T1), registry.keys()),
        serde_json::to_string(&registry.effective(T1)).unwrap(),
        serde_json::to_string(&registry.keys()).unwrap(),
        format!("{audit:?}"),
        serde_json::to_string(&audit).unwrap(),
        format!("{store:?}"),
        format!("{:?}", store.load_now().unwrap()),
        format!("{:?}", registry.health()),
    ];
    for text in shown {
        assert!(!text.contains("hunter2"), "a secret leaked: {text}");
        assert!(!text.contains("default-token"), "a secret leaked: {text}");
    }
}

#[cfg(feature = "schemars")]
#[test]
fn listing_carries_json_schemas_when_asked() {
    let config = TestConfig::new(
        ConfigRegistry::builder()
            .key_with_schema(&NAMES)
            .key_with_schema(&TOKEN)
            .key(&FLAG),
    )
    .unwrap();
    let keys = config.registry().keys();
    assert_eq!(keys[0].schema.as_ref().unwrap()["type"], "array");
    assert_eq!(keys[0].schema.as_ref().unwrap()["items"]["type"], "string");
    let token = keys[1].schema.as_ref().unwrap();
    assert_eq!(
        (&token["type"], &token["writeOnly"]),
        (&json!("string"), &json!(true))
    );
    assert_eq!(keys[2].schema, None);
    let listed = serde_json::to_value(&keys).unwrap();
    assert!(listed[0].get("schema").is_some() && listed[2].get("schema").is_none());
}

#[test]
fn test_config_sets_values_without_a_database() {
    let config = TestConfig::new(builder()).unwrap();
    config
        .set(Scope::Tenant(T1), &FLAG, true)
        .unwrap()
        .set(Scope::Global, &LIMIT, 50)
        .unwrap()
        .set_json(Scope::Forced, "names", json!(["forced"]))
        .unwrap();
    let registry = config.registry();
    assert!(registry.get(T1, &FLAG).unwrap());
    assert!(!registry.get(T2, &FLAG).unwrap());
    assert_eq!(
        registry.get_with_source(T2, &LIMIT).unwrap(),
        (50, Source::Global)
    );
    assert_eq!(registry.get(T2, &NAMES).unwrap(), ["forced"]);

    // Checked like real writes.
    assert!(matches!(
        config.set(Scope::Global, &LIMIT, 1000),
        Err(ConfigError::Rejected { .. })
    ));
    assert!(matches!(
        config.set_json(Scope::Global, "nope", json!(1)),
        Err(ConfigError::UndeclaredKey { .. })
    ));
    assert_eq!(config.store().audit_records().len(), 3);

    config.clear(Scope::Tenant(T1), "flag").unwrap();
    assert!(!registry.get(T1, &FLAG).unwrap());
}

impl ConfigRegistry {
    fn revision_for_tests(&self) -> u64 {
        self.inner.state.load().revision
    }
}
