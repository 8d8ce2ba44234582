//! What a registry shows: one tenant's values, the declared keys, the
//! effective values with their sources, and health.

use super::*;

/// One tenant's values, from one snapshot; see [`ConfigRegistry::tenant`].
pub struct TenantConfig<'a> {
    pub(super) registry: &'a ConfigRegistry,
    pub(super) tenant: TenantId,
    pub(super) snapshot: Arc<Snapshot>,
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
