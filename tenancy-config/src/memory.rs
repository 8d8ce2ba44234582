//! A config store held in memory, for tests and single-process tools.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::StoreError;
use super::store::{AuditFilter, AuditRecord, Change, ConfigStore, Loaded, Override, Scope};

/// Overrides and an audit trail in a map, behind a mutex (writes are rare,
/// and reads go through the registry's snapshot, not here).
///
/// Share one store between several registries with an `Arc` to model
/// several running instances. [`set_unavailable`](Self::set_unavailable)
/// makes every call fail, to test how a registry behaves in an outage.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_config::{ConfigRegistry, InMemoryConfigStore, Key, Scope};
///
/// static LIMIT: Key<u32> = Key::new("leads.daily_limit", "Leads per agent per day", || 50);
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = Arc::new(InMemoryConfigStore::new());
/// let registry = ConfigRegistry::builder().key(&LIMIT).load(store.clone()).await.unwrap();
/// registry.set("ops@platform", Scope::Global, &LIMIT, 80).await.unwrap();
/// assert_eq!(store.audit_records().len(), 1);
/// # }
/// ```
#[derive(Debug, Default)]
pub struct InMemoryConfigStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    revision: u64,
    overrides: BTreeMap<(Scope, String), Override>,
    audit: Vec<AuditRecord>,
    unavailable: bool,
}

impl InMemoryConfigStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with a [`StoreError`] (`true`) or work again
    /// (`false`), as a database outage would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// The whole audit trail, oldest first.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.lock().audit.clone()
    }

    /// [`ConfigStore::write`], without `async`.
    ///
    /// # Errors
    ///
    /// When the store is [unavailable](Self::set_unavailable).
    pub fn write_now(&self, change: Change) -> Result<u64, StoreError> {
        let mut state = self.available()?;
        let revision = state.revision + 1;
        let slot = (change.scope, change.key.clone());
        let old: Option<Value> = match &change.value {
            Some(value) => state
                .overrides
                .insert(
                    slot,
                    Override::new(change.scope, change.key.clone(), value.clone(), revision),
                )
                .map(|o| o.value),
            None => state.overrides.remove(&slot).map(|o| o.value),
        };
        let record = AuditRecord::new(revision, now_ms(), &change, old.as_ref());
        state.audit.push(record);
        state.revision = revision;
        Ok(revision)
    }

    /// [`ConfigStore::load`], without `async`.
    ///
    /// # Errors
    ///
    /// When the store is [unavailable](Self::set_unavailable).
    pub fn load_now(&self) -> Result<Loaded, StoreError> {
        let state = self.available()?;
        Ok(Loaded::new(
            state.revision,
            state.overrides.values().cloned().collect(),
        ))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here can panic half-way through a change, so a poisoned
        // lock still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn available(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self.lock();
        if state.unavailable {
            return Err(StoreError::new("the in-memory store is set unavailable"));
        }
        Ok(state)
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl ConfigStore for InMemoryConfigStore {
    async fn revision(&self) -> Result<u64, StoreError> {
        Ok(self.available()?.revision)
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        self.load_now()
    }

    async fn load_scope(&self, scope: Scope) -> Result<Vec<Override>, StoreError> {
        let state = self.available()?;
        Ok(state
            .overrides
            .values()
            .filter(|o| o.scope == scope)
            .cloned()
            .collect())
    }

    async fn write(&self, change: Change) -> Result<u64, StoreError> {
        self.write_now(change)
    }

    async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let state = self.available()?;
        let limit = filter
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|r| filter.scope.is_none_or(|s| s == r.scope))
            .filter(|r| filter.key.as_ref().is_none_or(|k| *k == r.key))
            .take(limit)
            .cloned()
            .collect())
    }
}
