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

mod listing;
mod state;
#[cfg(test)]
mod tests;

pub use listing::{EffectiveValue, Health, KeyInfo, TenantConfig};
use state::*;

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
