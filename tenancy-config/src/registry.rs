//! The registry: declared keys, the current snapshot, reads and writes.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::Value;

use super::key::{AnyValue, ConfigValue, DeclaredKey, Key, MAX_ACTOR_LEN, is_valid_key_name};
use super::memory::now_ms;
use super::store::{
    AuditFilter, AuditRecord, AuditValue, Change, ConfigStore, Loaded, Override, Scope, Secrecy,
};
use super::{ConfigError, Result, StoreError};
use tenancy_core::TenantId;

/// Where an effective value came from, highest layer first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// The platform-wide forced value (kill switch).
    Forced,
    /// The tenant's own override.
    Tenant,
    /// The global override.
    Global,
    /// The key's declared default.
    Default,
}

/// Declares the keys a registry knows; see [`ConfigRegistry::builder`].
#[derive(Default)]
pub struct ConfigRegistryBuilder {
    keys: Vec<Pending>,
}

/// A key as declared to a builder.
struct Pending {
    key: &'static dyn DeclaredKey,
    /// The address of its `static`.
    addr: usize,
    /// Its value type's JSON Schema, if asked for.
    schema: Option<fn() -> Value>,
}

impl fmt::Debug for ConfigRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|p| p.key.name()))
            .finish()
    }
}

impl ConfigRegistryBuilder {
    /// Declares `key` (a `static`).
    pub fn key<T: ConfigValue>(mut self, key: &'static Key<T>) -> Self {
        self.keys.push(Pending {
            key,
            addr: std::ptr::from_ref(key).addr(),
            schema: None,
        });
        self
    }

    /// Declares `key`, and lists its value type's JSON Schema in
    /// [`KeyInfo::schema`] (feature `schemars`), so an admin page can build
    /// a form for it. A [`Secret`](super::Secret)'s schema is its inner
    /// type's, marked `writeOnly`.
    ///
    /// ```
    /// use tenancy_config::{ConfigRegistry, Key, testing::TestConfig};
    ///
    /// static WRAP_UP: Key<u32> = Key::new("dialer.wrap_up_secs", "Seconds between calls", || 30);
    ///
    /// let config = TestConfig::new(ConfigRegistry::builder().key_with_schema(&WRAP_UP)).unwrap();
    /// let schema = config.registry().keys()[0].schema.clone().unwrap();
    /// assert_eq!(schema["type"], "integer");
    /// ```
    #[cfg(feature = "schemars")]
    pub fn key_with_schema<T: ConfigValue + schemars::JsonSchema>(
        mut self,
        key: &'static Key<T>,
    ) -> Self {
        fn schema_of<T: schemars::JsonSchema>() -> Value {
            schemars::SchemaGenerator::default()
                .into_root_schema_for::<T>()
                .to_value()
        }
        self.keys.push(Pending {
            key,
            addr: std::ptr::from_ref(key).addr(),
            schema: Some(schema_of::<T>),
        });
        self
    }

    /// Loads every override from `store` and builds the registry.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKey`], [`ConfigError::InvalidKeyName`] or
    /// [`ConfigError::InvalidDefault`] for a bad declaration, and
    /// [`ConfigError::Store`] when the store can't be read: with no good
    /// snapshot yet, serving defaults could undo a kill switch, so the
    /// registry is not built.
    pub async fn load(self, store: impl ConfigStore) -> Result<ConfigRegistry> {
        let declared = self.declare()?;
        let store: Arc<dyn ConfigStore> = Arc::new(store);
        let loaded = store.load().await?;
        Ok(ConfigRegistry::from_loaded(declared, store, loaded))
    }

    pub(crate) fn declare(self) -> Result<Declared> {
        let mut by_name = HashMap::with_capacity(self.keys.len());
        let mut by_addr = IdMap::default();
        let mut keys = Vec::with_capacity(self.keys.len());
        for (index, Pending { key, addr, schema }) in self.keys.into_iter().enumerate() {
            let name = key.name();
            if !is_valid_key_name(name) {
                return Err(ConfigError::InvalidKeyName {
                    key: name.to_owned(),
                });
            }
            if by_name.insert(name, index).is_some() {
                return Err(ConfigError::DuplicateKey {
                    key: name.to_owned(),
                });
            }
            by_addr.insert(addr, index);
            let (value, json) = key.default_value()?;
            keys.push(Declared1 {
                key,
                schema: schema.map(|schema| schema()),
                default: Entry {
                    value,
                    json: Arc::new(json),
                    source: Source::Default,
                    revision: 0,
                },
            });
        }
        Ok(Declared {
            keys: keys.into_boxed_slice(),
            by_name,
            by_addr,
        })
    }
}

/// The declared keys, fixed for a registry's life.
pub(crate) struct Declared {
    keys: Box<[Declared1]>,
    by_name: HashMap<&'static str, usize>,
    /// The address of each key's `static`: the hot path finds a key without
    /// hashing its name.
    by_addr: IdMap<usize, usize>,
}

struct Declared1 {
    key: &'static dyn DeclaredKey,
    schema: Option<Value>,
    default: Entry,
}

/// One value in a layer or a snapshot.
#[derive(Clone)]
struct Entry {
    value: AnyValue,
    json: Arc<Value>,
    source: Source,
    /// The store revision that wrote it (0 for a default).
    revision: u64,
}

/// One layer's overrides, by key index.
type Layer = Arc<[Option<Entry>]>;

/// A tenant's effective values, by key index.
struct Snapshot {
    entries: Box<[Entry]>,
}

struct TenantState {
    overrides: Layer,
    snapshot: Arc<Snapshot>,
}

/// Everything a read needs, immutable; replaced as a whole on change.
struct State {
    /// The store revision of the last full load (see [`ConfigRegistry::poll`]).
    revision: u64,
    /// The highest revision this state has seen (local writes and scope
    /// reloads included): a store whose revision is lower was restored or
    /// rebuilt, and must be reloaded whole.
    max_seen: u64,
    forced: Layer,
    global: Layer,
    /// Tenants with at least one override of their own.
    tenants: IdMap<TenantId, TenantState>,
    /// The snapshot of every other tenant.
    base: Arc<Snapshot>,
    /// Stored overrides that failed their key's checks, for [`Health`].
    invalid: Arc<[String]>,
}

struct Inner {
    declared: Declared,
    store: Arc<dyn ConfigStore>,
    state: ArcSwap<State>,
    /// Serialises store reads and writes with applying them, so an older
    /// load can't replace a newer one. Never taken by reads.
    refresh: tokio::sync::Mutex<()>,
    health: Mutex<HealthState>,
}

#[derive(Debug, Default, Clone)]
struct HealthState {
    last_success_ms: Option<i64>,
    last_failure_ms: Option<i64>,
    last_failure: Option<String>,
    consecutive_failures: u32,
}

/// Typed per-tenant configuration and feature flags over shared defaults.
///
/// Values resolve in layers, highest first: the platform-wide forced value
/// ([`Scope::Forced`], a kill switch), the tenant's override, the global
/// override, the key's default. Reads are synchronous and lock-free: one
/// atomic load of an immutable snapshot, a hash of the tenant id, an index.
/// Writes are validated with the key's type and validator, go to the store
/// with their audit record, and replace the snapshot.
///
/// Cloning is cheap and shares everything.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::TenantId;
/// use tenancy_config::{ConfigError, ConfigRegistry, InMemoryConfigStore, Key, Scope, Source};
///
/// static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the predictive dialer", || false);
/// static WRAP_UP: Key<u32> = Key::new("dialer.wrap_up_secs", "Seconds between calls", || 30)
///     .with_validator(|s| if *s > 600 { Err("at most 600 seconds".into()) } else { Ok(()) });
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ConfigError> {
/// let registry = ConfigRegistry::builder()
///     .key(&DIALER)
///     .key(&WRAP_UP)
///     .load(InMemoryConfigStore::new())
///     .await?;
/// let golden_key = TenantId::new(1);
/// let stone = TenantId::new(2);
///
/// registry.set("ops", Scope::Tenant(golden_key), &DIALER, true).await?;
/// assert!(registry.get(golden_key, &DIALER)?);
/// assert_eq!(registry.get_with_source(stone, &DIALER)?, (false, Source::Default));
///
/// // The kill switch wins over every tenant.
/// registry.set("ops", Scope::Forced, &DIALER, false).await?;
/// assert_eq!(registry.get_with_source(golden_key, &DIALER)?, (false, Source::Forced));
///
/// // Invalid values are refused, and nothing is stored.
/// let refused = registry.set_json("ops", Scope::Global, "dialer.wrap_up_secs", 9000.into()).await;
/// assert!(matches!(refused, Err(ConfigError::Rejected { .. })));
/// assert_eq!(registry.get(stone, &WRAP_UP)?, 30);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ConfigRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for ConfigRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.load();
        f.debug_struct("ConfigRegistry")
            .field(
                "keys",
                &self
                    .inner
                    .declared
                    .keys
                    .iter()
                    .map(|d| d.key.name())
                    .collect::<Vec<_>>(),
            )
            .field("revision", &state.revision)
            .field("tenants_with_overrides", &state.tenants.len())
            .field("store", &self.inner.store)
            .finish()
    }
}

impl ConfigRegistry {
    /// Starts declaring keys.
    pub fn builder() -> ConfigRegistryBuilder {
        ConfigRegistryBuilder::default()
    }

    pub(crate) fn from_loaded(
        declared: Declared,
        store: Arc<dyn ConfigStore>,
        loaded: Loaded,
    ) -> Self {
        let state = build_state(&declared, loaded);
        let registry = Self {
            inner: Arc::new(Inner {
                declared,
                store,
                state: ArcSwap::from_pointee(state),
                refresh: tokio::sync::Mutex::new(()),
                health: Mutex::new(HealthState::default()),
            }),
        };
        registry.record_success();
        registry
    }

    // ---- reads -----------------------------------------------------------

    /// The effective value of `key` for `tenant`.
    ///
    /// Cost: an atomic snapshot load, a hash lookup of the tenant, an index,
    /// and `T::clone` (no allocation for `bool`, numbers and other `Copy`
    /// types; use [`get_arc`](Self::get_arc) for a `String` or `Vec`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::UndeclaredKey`] or [`ConfigError::TypeMismatch`] when
    /// `key` is not declared in this registry with this type. Reads never
    /// touch the store, so they never fail because of it.
    pub fn get<T: ConfigValue + Clone>(&self, tenant: TenantId, key: &Key<T>) -> Result<T> {
        let state = self.inner.state.load();
        let index = self.index_of(key)?;
        typed(&snapshot_of(&state, tenant).entries[index], key).cloned()
    }

    /// [`get`](Self::get), and which layer the value came from.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_with_source<T: ConfigValue + Clone>(
        &self,
        tenant: TenantId,
        key: &Key<T>,
    ) -> Result<(T, Source)> {
        let state = self.inner.state.load();
        let index = self.index_of(key)?;
        let entry = &snapshot_of(&state, tenant).entries[index];
        Ok((typed(entry, key)?.clone(), entry.source))
    }

    /// The effective value of `key` for `tenant`, shared: no clone of the
    /// value, no allocation (an atomic reference count increment).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_arc<T: ConfigValue>(&self, tenant: TenantId, key: &Key<T>) -> Result<Arc<T>> {
        let state = self.inner.state.load();
        let index = self.index_of(key)?;
        let entry = &snapshot_of(&state, tenant).entries[index];
        Arc::clone(&entry.value)
            .downcast::<T>()
            .map_err(|_| mismatch(&self.inner.declared, index, key))
    }

    /// One tenant's values as of now, for reading several keys from one
    /// consistent snapshot (a handler that reads ten flags).
    pub fn tenant(&self, tenant: TenantId) -> TenantConfig<'_> {
        let state = self.inner.state.load();
        TenantConfig {
            registry: self,
            tenant,
            snapshot: Arc::clone(snapshot_of(&state, tenant)),
        }
    }

    fn index_of<T: ConfigValue>(&self, key: &Key<T>) -> Result<usize> {
        let declared = &self.inner.declared;
        if let Some(&index) = declared.by_addr.get(&std::ptr::from_ref(key).addr()) {
            return Ok(index);
        }
        // Not the declared `static` itself (a `const`, a copy): the same
        // name and type is the same key.
        match declared.by_name.get(key.name()) {
            Some(&index) if declared.keys[index].key.value_type() == TypeId::of::<T>() => Ok(index),
            Some(&index) => Err(mismatch(declared, index, key)),
            None => Err(ConfigError::UndeclaredKey {
                key: key.name().to_owned(),
            }),
        }
    }

    pub(crate) fn index_of_name(&self, key: &str) -> Result<usize> {
        self.inner
            .declared
            .by_name
            .get(key)
            .copied()
            .ok_or_else(|| ConfigError::UndeclaredKey {
                key: key.to_owned(),
            })
    }

    // ---- writes ----------------------------------------------------------

    /// Sets `key` to `value` in `scope`, as `actor`, and returns the store
    /// revision of the change. This instance sees the value at once; other
    /// instances when they next refresh (see `tenancy-seaorm` for
    /// propagation).
    ///
    /// # Errors
    ///
    /// [`ConfigError::UndeclaredKey`], [`ConfigError::TypeMismatch`],
    /// [`ConfigError::InvalidValue`] (wrong shape, or over
    /// [`MAX_VALUE_LEN`](super::MAX_VALUE_LEN) bytes of JSON),
    /// [`ConfigError::Rejected`] or [`ConfigError::InvalidActor`] (nothing
    /// is written), and [`ConfigError::Store`] when the store fails (nothing
    /// is written either: the store commits the value and its audit record
    /// together).
    pub async fn set<T: ConfigValue>(
        &self,
        actor: &str,
        scope: Scope,
        key: &Key<T>,
        value: T,
    ) -> Result<u64> {
        let index = self.index_of(key)?;
        let json = typed_json(key, &value)?;
        self.write(actor, scope, index, Some(json)).await
    }

    /// Sets the key named `key` from JSON (an admin page, an API), after
    /// checking it against the key's declared type and validator.
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set).
    pub async fn set_json(
        &self,
        actor: &str,
        scope: Scope,
        key: &str,
        value: Value,
    ) -> Result<u64> {
        let index = self.index_of_name(key)?;
        self.write(actor, scope, index, Some(value)).await
    }

    /// Removes the override of `key` in `scope`, so the next layer down
    /// shows through.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UndeclaredKey`], [`ConfigError::InvalidActor`] and
    /// [`ConfigError::Store`].
    pub async fn clear(&self, actor: &str, scope: Scope, key: &str) -> Result<u64> {
        let index = self.index_of_name(key)?;
        self.write(actor, scope, index, None).await
    }

    /// Checks a write of `value` to `key` in `scope` exactly as
    /// [`set`](Self::set) would, and returns the [`Change`] without writing
    /// it, for a store that commits it inside a caller's transaction (such
    /// as onboarding a tenant with its initial configuration). After that
    /// transaction commits, [`refresh_scope`](Self::refresh_scope) shows it.
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set), except [`ConfigError::Store`].
    pub fn prepare<T: ConfigValue>(
        &self,
        actor: &str,
        scope: Scope,
        key: &Key<T>,
        value: T,
    ) -> Result<Change> {
        let index = self.index_of(key)?;
        let json = typed_json(key, &value)?;
        self.change(actor, scope, index, Some(json))
            .map(|(change, _)| change)
    }

    /// Checks the actor and the value, and builds the change to store.
    fn change(
        &self,
        actor: &str,
        scope: Scope,
        index: usize,
        json: Option<Value>,
    ) -> Result<(Change, Option<(AnyValue, Value)>)> {
        let key = self.inner.declared.keys[index].key;
        if actor.trim().is_empty() || actor.chars().count() > MAX_ACTOR_LEN {
            return Err(ConfigError::InvalidActor {
                actor: actor.chars().take(MAX_ACTOR_LEN).collect(),
            });
        }
        let parsed = json.map(|json| key.parse(json)).transpose()?;
        let change = Change::new(
            actor,
            scope,
            key.name(),
            parsed.as_ref().map(|(_, json)| json.clone()),
            Secrecy::secret_if(key.secret()),
        );
        Ok((change, parsed))
    }

    async fn write(
        &self,
        actor: &str,
        scope: Scope,
        index: usize,
        json: Option<Value>,
    ) -> Result<u64> {
        let key = self.inner.declared.keys[index].key;
        let (change, parsed) = self.change(actor, scope, index, json)?;
        let _order = self.inner.refresh.lock().await;
        let revision = self.inner.store.write(change).await.inspect_err(|e| {
            tracing::warn!(
                target: "tenancy::config",
                key = key.name(), %scope, actor, error = %e,
                "config write failed; nothing was changed"
            );
        })?;
        let entry = parsed.map(|(value, json)| Entry {
            value,
            json: Arc::new(json),
            source: source_of(scope),
            revision,
        });
        self.apply_one(scope, index, entry, revision);
        tracing::info!(
            target: "tenancy::config",
            key = key.name(), %scope, actor, revision,
            "config changed"
        );
        Ok(revision)
    }

    /// Puts one written override into the snapshot, unless a newer one is
    /// already there.
    fn apply_one(&self, scope: Scope, index: usize, entry: Option<Entry>, revision: u64) {
        let declared = &self.inner.declared;
        self.inner.state.rcu(|state| {
            let current = layer_of(state, scope);
            if current
                .and_then(|layer| layer[index].as_ref())
                .is_some_and(|existing| existing.revision > revision)
            {
                return Arc::clone(state);
            }
            let mut layer: Vec<Option<Entry>> = match current {
                Some(layer) => layer.to_vec(),
                None => vec![None; declared.keys.len()],
            };
            layer[index] = entry.clone();
            let mut next = with_layer(declared, state, scope, layer.into());
            next.max_seen = next.max_seen.max(revision);
            Arc::new(next)
        });
    }

    // ---- refresh ---------------------------------------------------------

    /// Reloads everything from the store.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Store`]; reads keep serving the last good snapshot,
    /// and the failure shows in [`health`](Self::health) and as a WARN event.
    pub async fn refresh(&self) -> Result<u64> {
        let _order = self.inner.refresh.lock().await;
        let loaded = self.store_call("load", self.inner.store.load()).await?;
        let revision = loaded.revision;
        let state = build_state(&self.inner.declared, loaded);
        self.inner.state.store(Arc::new(state));
        self.record_success();
        Ok(revision)
    }

    /// Reloads one scope (what a change notification names).
    ///
    /// # Errors
    ///
    /// As [`refresh`](Self::refresh).
    pub async fn refresh_scope(&self, scope: Scope) -> Result<()> {
        let _order = self.inner.refresh.lock().await;
        let overrides = self
            .store_call("load_scope", self.inner.store.load_scope(scope))
            .await?;
        let declared = &self.inner.declared;
        let mut invalid = Vec::new();
        let mut layer = vec![None; declared.keys.len()];
        for o in overrides.into_iter().filter(|o| o.scope == scope) {
            if let Some((index, entry)) = parse_override(declared, o, &mut invalid) {
                layer[index] = Some(entry);
            }
        }
        let newest = layer
            .iter()
            .flatten()
            .map(|e| e.revision)
            .max()
            .unwrap_or(0);
        let layer: Layer = layer.into();
        self.inner.state.rcu(|state| {
            let mut next = with_layer(declared, state, scope, Arc::clone(&layer));
            // Problems in other scopes are still there; this scope's are new.
            let prefix = format!("{scope} ");
            let mut all: Vec<String> = state
                .invalid
                .iter()
                .filter(|p| !p.starts_with(&prefix))
                .cloned()
                .collect();
            all.extend(invalid.iter().cloned());
            next.invalid = all.into();
            next.max_seen = next.max_seen.max(newest);
            Arc::new(next)
        });
        self.record_success();
        Ok(())
    }

    /// Asks the store for its revision and reloads everything if it moved
    /// since the last full load (or went back behind a revision this
    /// registry has seen: a restored or rebuilt store); `true` if it
    /// reloaded.
    ///
    /// Change notifications are not durable, so a registry that listens for
    /// them should still poll now and then: this is the reconciliation.
    ///
    /// # Errors
    ///
    /// As [`refresh`](Self::refresh).
    pub async fn poll(&self) -> Result<bool> {
        let revision = self
            .store_call("revision", self.inner.store.revision())
            .await?;
        let current = self.inner.state.load();
        // Equal to the last full load and not behind anything seen since:
        // nothing to do. (Behind means the store was restored or rebuilt.)
        if revision == current.revision && revision >= current.max_seen {
            drop(current);
            self.record_success();
            return Ok(false);
        }
        self.refresh().await?;
        Ok(true)
    }

    /// Calls [`poll`](Self::poll) every `every`, forever; spawn it, and
    /// abort the task to stop. Failures are logged and kept in
    /// [`health`](Self::health); the loop goes on.
    pub async fn watch_by_polling(&self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Recorded in `health` and logged by `store_call`.
            let _ = self.poll().await;
        }
    }

    async fn store_call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = std::result::Result<T, StoreError>>,
    ) -> Result<T> {
        match call.await {
            Ok(value) => Ok(value),
            Err(error) => {
                let error = ConfigError::from(error);
                let failures = {
                    let mut health = self.health_state();
                    health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                    health.last_failure_ms = Some(now_ms());
                    health.last_failure = Some(error.to_string());
                    health.consecutive_failures
                };
                tracing::warn!(
                    target: "tenancy::config",
                    call = what, %error, consecutive_failures = failures,
                    "config store failed; serving the last good snapshot"
                );
                Err(error)
            }
        }
    }

    fn record_success(&self) {
        let mut health = self.health_state();
        if health.consecutive_failures > 0 {
            tracing::info!(
                target: "tenancy::config",
                after_failures = health.consecutive_failures,
                "config store answers again"
            );
        }
        health.consecutive_failures = 0;
        health.last_success_ms = Some(now_ms());
    }

    fn health_state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        // Only plain field updates happen under this lock.
        self.inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the store answers and the snapshot is whole, for a health
    /// endpoint.
    pub fn health(&self) -> Health {
        let state = self.inner.state.load();
        let health = self.health_state().clone();
        Health {
            revision: state.revision,
            last_success_ms: health.last_success_ms,
            last_failure_ms: health.last_failure_ms,
            last_failure: health.last_failure,
            consecutive_failures: health.consecutive_failures,
            invalid_overrides: state.invalid.to_vec(),
        }
    }

    // ---- listing ---------------------------------------------------------

    /// Every declared key with its type, default and description, in
    /// declaration order, for an admin page. Secret defaults are redacted.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.inner
            .declared
            .keys
            .iter()
            .map(|d| KeyInfo {
                name: d.key.name(),
                description: d.key.description(),
                value_type: d.key.type_name(),
                secret: d.key.secret(),
                default: shown(d.key, &d.default.json),
                schema: d.schema.clone(),
            })
            .collect()
    }

    /// Every key's effective value for `tenant`, with its source, in
    /// declaration order, for an admin page. Secrets are redacted.
    pub fn effective(&self, tenant: TenantId) -> Vec<EffectiveValue> {
        self.tenant(tenant).effective()
    }

    /// The store's audit records, newest first. Secrets appear as
    /// fingerprints.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Store`].
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>> {
        Ok(self.inner.store.audit(filter).await?)
    }

    /// The store behind this registry.
    pub fn store(&self) -> &Arc<dyn ConfigStore> {
        &self.inner.store
    }

    /// Replaces the whole state, as a full load would (test helper path).
    pub(crate) fn apply_loaded(&self, loaded: Loaded) {
        let state = build_state(&self.inner.declared, loaded);
        self.inner.state.store(Arc::new(state));
    }

    pub(crate) fn declared_key(&self, index: usize) -> &'static dyn DeclaredKey {
        self.inner.declared.keys[index].key
    }

    pub(crate) fn typed_index<T: ConfigValue>(&self, key: &Key<T>) -> Result<usize> {
        self.index_of(key)
    }
}

/// One tenant's values, from one snapshot; see [`ConfigRegistry::tenant`].
pub struct TenantConfig<'a> {
    registry: &'a ConfigRegistry,
    tenant: TenantId,
    snapshot: Arc<Snapshot>,
}

impl fmt::Debug for TenantConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConfig")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl TenantConfig<'_> {
    /// As [`ConfigRegistry::get`], from this snapshot.
    ///
    /// # Errors
    ///
    /// As [`ConfigRegistry::get`].
    pub fn get<T: ConfigValue + Clone>(&self, key: &Key<T>) -> Result<T> {
        let index = self.registry.index_of(key)?;
        typed(&self.snapshot.entries[index], key).cloned()
    }

    /// As [`ConfigRegistry::get_with_source`], from this snapshot.
    ///
    /// # Errors
    ///
    /// As [`ConfigRegistry::get`].
    pub fn get_with_source<T: ConfigValue + Clone>(&self, key: &Key<T>) -> Result<(T, Source)> {
        let index = self.registry.index_of(key)?;
        let entry = &self.snapshot.entries[index];
        Ok((typed(entry, key)?.clone(), entry.source))
    }

    /// As [`ConfigRegistry::effective`], from this snapshot.
    pub fn effective(&self) -> Vec<EffectiveValue> {
        self.registry
            .inner
            .declared
            .keys
            .iter()
            .zip(self.snapshot.entries.iter())
            .map(|(d, entry)| EffectiveValue {
                key: d.key.name(),
                value: shown(d.key, &entry.json),
                source: entry.source,
                revision: (entry.source != Source::Default).then_some(entry.revision),
            })
            .collect()
    }
}

/// A declared key, for an admin page ([`ConfigRegistry::keys`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The Rust type of its values (`std::any::type_name`, for people).
    pub value_type: &'static str,
    /// Whether values are secret.
    pub secret: bool,
    /// The declared default (a fingerprint for a secret).
    pub default: AuditValue,
    /// The JSON Schema of its values, when declared with
    /// `ConfigRegistryBuilder::key_with_schema` (feature `schemars`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

/// A key's effective value for one tenant ([`ConfigRegistry::effective`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EffectiveValue {
    /// The key's name.
    pub key: &'static str,
    /// The value (a fingerprint for a secret).
    pub value: AuditValue,
    /// Which layer it came from.
    pub source: Source,
    /// The store revision that wrote it (`None` for a default).
    pub revision: Option<u64>,
}

/// How a registry is doing, for a health endpoint ([`ConfigRegistry::health`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The store revision of the last full load.
    pub revision: u64,
    /// When the store last answered, in ms since the Unix epoch.
    pub last_success_ms: Option<i64>,
    /// When the store last failed, in ms since the Unix epoch.
    pub last_failure_ms: Option<i64>,
    /// The last store failure's message.
    pub last_failure: Option<String>,
    /// Store calls that failed since it last answered (0: healthy).
    pub consecutive_failures: u32,
    /// Stored overrides the registry ignored because they fail their key's
    /// checks (`<scope> <key>: <reason>`): written past the registry, or the
    /// key's type changed.
    pub invalid_overrides: Vec<String>,
}

impl Health {
    /// No store failure since the last success, and no invalid override.
    pub fn is_healthy(&self) -> bool {
        self.consecutive_failures == 0 && self.invalid_overrides.is_empty()
    }
}

/// `value` as JSON, or [`ConfigError::InvalidValue`].
pub(crate) fn typed_json<T: ConfigValue>(key: &Key<T>, value: &T) -> Result<Value> {
    value.to_json().map_err(|e| ConfigError::InvalidValue {
        key: key.name().to_owned(),
        expected: std::any::type_name::<T>(),
        reason: if T::SECRET {
            "the value does not have the declared type".to_owned()
        } else {
            e.to_string()
        },
    })
}

fn shown(key: &dyn DeclaredKey, json: &Value) -> AuditValue {
    AuditValue::of(key.name(), json, Secrecy::secret_if(key.secret()))
}

fn typed<'e, T: ConfigValue>(entry: &'e Entry, key: &Key<T>) -> Result<&'e T> {
    entry
        .value
        .downcast_ref::<T>()
        .ok_or_else(|| ConfigError::TypeMismatch {
            key: key.name().to_owned(),
            declared: "another type",
            requested: std::any::type_name::<T>(),
        })
}

fn mismatch<T>(declared: &Declared, index: usize, key: &Key<T>) -> ConfigError {
    ConfigError::TypeMismatch {
        key: key.name().to_owned(),
        declared: declared.keys[index].key.type_name(),
        requested: std::any::type_name::<T>(),
    }
}

fn snapshot_of(state: &State, tenant: TenantId) -> &Arc<Snapshot> {
    state
        .tenants
        .get(&tenant)
        .map_or(&state.base, |t| &t.snapshot)
}

fn source_of(scope: Scope) -> Source {
    match scope {
        Scope::Forced => Source::Forced,
        Scope::Global => Source::Global,
        Scope::Tenant(_) => Source::Tenant,
    }
}

fn layer_of(state: &State, scope: Scope) -> Option<&Layer> {
    match scope {
        Scope::Forced => Some(&state.forced),
        Scope::Global => Some(&state.global),
        Scope::Tenant(tenant) => state.tenants.get(&tenant).map(|t| &t.overrides),
    }
}

/// Resolves one tenant's snapshot (`tenant: None` for the base one).
fn resolve(
    declared: &Declared,
    forced: &Layer,
    tenant: Option<&Layer>,
    global: &Layer,
) -> Snapshot {
    let entries = declared
        .keys
        .iter()
        .enumerate()
        .map(|(i, d)| {
            forced[i]
                .as_ref()
                .or_else(|| tenant.and_then(|t| t[i].as_ref()))
                .or(global[i].as_ref())
                .unwrap_or(&d.default)
                .clone()
        })
        .collect();
    Snapshot { entries }
}

/// `state` with `scope`'s layer replaced; snapshots rebuilt where needed.
fn with_layer(declared: &Declared, state: &State, scope: Scope, layer: Layer) -> State {
    let empty = layer.iter().all(Option::is_none);
    match scope {
        Scope::Tenant(tenant) => {
            let mut tenants = IdMap::default();
            tenants.reserve(state.tenants.len() + 1);
            for (id, t) in &state.tenants {
                if *id != tenant {
                    tenants.insert(
                        *id,
                        TenantState {
                            overrides: Arc::clone(&t.overrides),
                            snapshot: Arc::clone(&t.snapshot),
                        },
                    );
                }
            }
            if !empty {
                let snapshot = resolve(declared, &state.forced, Some(&layer), &state.global);
                tenants.insert(
                    tenant,
                    TenantState {
                        overrides: layer,
                        snapshot: Arc::new(snapshot),
                    },
                );
            }
            State {
                revision: state.revision,
                max_seen: state.max_seen,
                forced: Arc::clone(&state.forced),
                global: Arc::clone(&state.global),
                tenants,
                base: Arc::clone(&state.base),
                invalid: Arc::clone(&state.invalid),
            }
        }
        Scope::Forced | Scope::Global => {
            let (forced, global) = if scope == Scope::Forced {
                (layer, Arc::clone(&state.global))
            } else {
                (Arc::clone(&state.forced), layer)
            };
            let tenants = state
                .tenants
                .iter()
                .map(|(id, t)| {
                    let snapshot = resolve(declared, &forced, Some(&t.overrides), &global);
                    (
                        *id,
                        TenantState {
                            overrides: Arc::clone(&t.overrides),
                            snapshot: Arc::new(snapshot),
                        },
                    )
                })
                .collect();
            let base = Arc::new(resolve(declared, &forced, None, &global));
            State {
                revision: state.revision,
                max_seen: state.max_seen,
                forced,
                global,
                tenants,
                base,
                invalid: Arc::clone(&state.invalid),
            }
        }
    }
}

/// Checks one stored override against its declared key. Overrides of keys
/// this registry does not declare are skipped quietly (another version of
/// the application may declare them); invalid ones are skipped loudly.
fn parse_override(
    declared: &Declared,
    o: Override,
    invalid: &mut Vec<String>,
) -> Option<(usize, Entry)> {
    let Some(&index) = declared.by_name.get(o.key.as_str()) else {
        tracing::debug!(target: "tenancy::config", key = %o.key, scope = %o.scope, "stored override of an undeclared key ignored");
        return None;
    };
    let key = declared.keys[index].key;
    match key.parse(o.value) {
        Ok((value, json)) => Some((
            index,
            Entry {
                value,
                json: Arc::new(json),
                source: source_of(o.scope),
                revision: o.revision,
            },
        )),
        Err(error) => {
            tracing::warn!(
                target: "tenancy::config",
                key = %o.key, scope = %o.scope, %error,
                "stored override fails its key's checks; ignored"
            );
            invalid.push(format!("{} {}: {error}", o.scope, o.key));
            None
        }
    }
}

fn build_state(declared: &Declared, loaded: Loaded) -> State {
    let max_seen = loaded
        .overrides
        .iter()
        .map(|o| o.revision)
        .fold(loaded.revision, u64::max);
    let mut invalid = Vec::new();
    let mut forced = vec![None; declared.keys.len()];
    let mut global = vec![None; declared.keys.len()];
    let mut per_tenant: IdMap<TenantId, Vec<Option<Entry>>> = IdMap::default();
    for o in loaded.overrides {
        let scope = o.scope;
        let Some((index, entry)) = parse_override(declared, o, &mut invalid) else {
            continue;
        };
        let layer = match scope {
            Scope::Forced => &mut forced,
            Scope::Global => &mut global,
            Scope::Tenant(tenant) => per_tenant
                .entry(tenant)
                .or_insert_with(|| vec![None; declared.keys.len()]),
        };
        layer[index] = Some(entry);
    }
    let forced: Layer = forced.into();
    let global: Layer = global.into();
    let tenants = per_tenant
        .into_iter()
        .map(|(id, layer)| {
            let layer: Layer = layer.into();
            let snapshot = resolve(declared, &forced, Some(&layer), &global);
            (
                id,
                TenantState {
                    overrides: layer,
                    snapshot: Arc::new(snapshot),
                },
            )
        })
        .collect();
    let base = Arc::new(resolve(declared, &forced, None, &global));
    State {
        revision: loaded.revision,
        max_seen,
        forced,
        global,
        tenants,
        base,
        invalid: invalid.into(),
    }
}

/// A map keyed by small integers (tenant ids, key addresses), hashed with
/// one multiplication (the Fx hash) instead of SipHash: the keys are not
/// attacker-chosen, and this is the read path.
type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n.cast_unsigned());
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
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
}
