//! Setting config values in a test, without a database or `async`.

use std::sync::Arc;

use super::key::{ConfigValue, Key};
use super::registry::typed_json;
use super::store::{Change, ConfigStore, Loaded, Scope, Secrecy};
use super::{ConfigRegistry, ConfigRegistryBuilder, InMemoryConfigStore, Result};

/// A registry over an [`InMemoryConfigStore`] whose values a test sets
/// synchronously. Values are checked exactly as [`ConfigRegistry::set`]
/// checks them, and audited with the actor `test`.
///
/// ```
/// use tenancy_core::TenantId;
/// use tenancy_config::{ConfigRegistry, Key, Scope, testing::TestConfig};
///
/// static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the predictive dialer", || false);
///
/// let config = TestConfig::new(ConfigRegistry::builder().key(&DIALER)).unwrap();
/// config.set(Scope::Tenant(TenantId::new(1)), &DIALER, true).unwrap();
///
/// let registry = config.registry(); // hand this to the code under test
/// assert!(registry.get(TenantId::new(1), &DIALER).unwrap());
/// assert!(!registry.get(TenantId::new(2), &DIALER).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct TestConfig {
    registry: ConfigRegistry,
    store: Arc<InMemoryConfigStore>,
}

impl TestConfig {
    /// An empty store and a registry of `builder`'s keys.
    ///
    /// # Errors
    ///
    /// A bad declaration, as [`ConfigRegistryBuilder::load`].
    pub fn new(builder: ConfigRegistryBuilder) -> Result<Self> {
        let declared = builder.declare()?;
        let store = Arc::new(InMemoryConfigStore::new());
        let registry = ConfigRegistry::from_loaded(
            declared,
            Arc::clone(&store) as Arc<dyn ConfigStore>,
            Loaded::default(),
        );
        Ok(Self { registry, store })
    }

    /// Sets `key` in `scope`.
    ///
    /// # Errors
    ///
    /// As [`ConfigRegistry::set`]; nothing is stored on error.
    pub fn set<T: ConfigValue>(&self, scope: Scope, key: &Key<T>, value: T) -> Result<&Self> {
        let index = self.registry.typed_index(key)?;
        let json = typed_json(key, &value)?;
        self.write(scope, index, Some(json))
    }

    /// Sets the key named `key` from JSON.
    ///
    /// # Errors
    ///
    /// As [`ConfigRegistry::set_json`]; nothing is stored on error.
    pub fn set_json(&self, scope: Scope, key: &str, value: serde_json::Value) -> Result<&Self> {
        let index = self.registry.index_of_name(key)?;
        self.write(scope, index, Some(value))
    }

    /// Removes the override of `key` in `scope`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UndeclaredKey`](super::ConfigError::UndeclaredKey).
    pub fn clear(&self, scope: Scope, key: &str) -> Result<&Self> {
        let index = self.registry.index_of_name(key)?;
        self.write(scope, index, None)
    }

    /// The registry, to hand to the code under test.
    pub fn registry(&self) -> &ConfigRegistry {
        &self.registry
    }

    /// The store, to look at the audit trail.
    pub fn store(&self) -> &Arc<InMemoryConfigStore> {
        &self.store
    }

    fn write(&self, scope: Scope, index: usize, json: Option<serde_json::Value>) -> Result<&Self> {
        let key = self.registry.declared_key(index);
        let json = match json {
            Some(json) => Some(key.parse(json)?.1),
            None => None,
        };
        let change = Change::new(
            "test",
            scope,
            key.name(),
            json,
            Secrecy::secret_if(key.secret()),
        );
        self.store.write_now(change)?;
        self.registry.apply_loaded(self.store.load_now()?);
        Ok(self)
    }
}
