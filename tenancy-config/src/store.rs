//! Where overrides and their audit trail are kept.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::StoreError;
use tenancy_core::TenantId;

/// Which layer an override belongs to.
///
/// Layers resolve highest first: [`Forced`](Scope::Forced) (the platform
/// kill switch), then the tenant's own override, then
/// [`Global`](Scope::Global), then the key's declared default.
///
/// Stores write it in a column as `forced`, `global` or `tenant:<id>`
/// (`Display` and `FromStr`), the id in any of the three key kinds, which
/// never share a text form (see
/// [`TenantKeyKind`](tenancy_core::TenantKeyKind)); a store that knows its
/// application's kind checks it when it reads a row back:
///
/// ```
/// use tenancy_config::Scope;
/// use tenancy_core::TenantId;
///
/// let scope = Scope::Tenant(TenantId::new(7));
/// assert_eq!(scope.to_string(), "tenant:7");
/// assert_eq!("tenant:7".parse::<Scope>(), Ok(scope));
/// assert!("tenant:X".parse::<Scope>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scope {
    /// A platform-wide forced value (kill switch): wins over every tenant.
    Forced,
    /// An override for every tenant that has none of its own.
    Global,
    /// One tenant's override.
    Tenant(TenantId),
}

impl Scope {
    /// The tenant of a tenant scope.
    pub fn tenant(self) -> Option<TenantId> {
        match self {
            Self::Tenant(tenant) => Some(tenant),
            Self::Forced | Self::Global => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Forced => f.write_str("forced"),
            Self::Global => f.write_str("global"),
            Self::Tenant(tenant) => write!(f, "tenant:{tenant}"),
        }
    }
}

/// A scope string that is not `forced`, `global` or `tenant:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config scope {0:?}")]
pub struct InvalidScope(pub String);

impl FromStr for Scope {
    type Err = InvalidScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "forced" => Ok(Self::Forced),
            "global" => Ok(Self::Global),
            _ => s
                .strip_prefix("tenant:")
                .and_then(|id| id.parse::<TenantId>().ok())
                .map(Self::Tenant)
                .ok_or_else(|| InvalidScope(s.to_owned())),
        }
    }
}

/// One stored override, as a store returns it.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Override {
    /// Its layer.
    pub scope: Scope,
    /// The key's name.
    pub key: String,
    /// The value, as JSON.
    pub value: Value,
    /// The store revision that last wrote it.
    pub revision: u64,
}

impl Override {
    /// An override.
    pub fn new(scope: Scope, key: impl Into<String>, value: Value, revision: u64) -> Self {
        Self {
            scope,
            key: key.into(),
            value,
            revision,
        }
    }
}

impl fmt::Debug for Override {
    // A store does not know which keys are secret, so no value is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Override")
            .field("scope", &self.scope)
            .field("key", &self.key)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// Everything a store holds, as of one revision.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Loaded {
    /// The store's revision, read no later than the overrides (so it is
    /// never newer than what they show).
    pub revision: u64,
    /// Every override of every scope.
    pub overrides: Vec<Override>,
}

impl Loaded {
    /// A loaded state.
    pub fn new(revision: u64, overrides: Vec<Override>) -> Self {
        Self {
            revision,
            overrides,
        }
    }
}

/// Whether a key's values are secret: the audit and the listings then keep
/// only a [`fingerprint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// Values are kept and shown as they are.
    Plain,
    /// Values are never kept or shown; only their fingerprint is.
    Secret,
}

impl Secrecy {
    /// [`Secret`](Self::Secret) if `secret`, else [`Plain`](Self::Plain):
    /// for a flag read back from a store's column.
    pub fn secret_if(secret: bool) -> Self {
        if secret { Self::Secret } else { Self::Plain }
    }

    /// Whether values are secret.
    pub fn is_secret(self) -> bool {
        self == Self::Secret
    }
}

/// One write: set (`value: Some`) or clear (`None`) an override, by an actor.
#[derive(Clone)]
#[non_exhaustive]
pub struct Change {
    /// Who made the change (a user id, an admin's e-mail, a deploy job).
    pub actor: String,
    /// The layer written.
    pub scope: Scope,
    /// The key's name.
    pub key: String,
    /// The new value (already validated), or `None` to remove the override.
    pub value: Option<Value>,
    /// Whether the key is secret: the audit keeps fingerprints only.
    pub secrecy: Secrecy,
}

impl Change {
    /// A change.
    pub fn new(
        actor: impl Into<String>,
        scope: Scope,
        key: impl Into<String>,
        value: Option<Value>,
        secrecy: Secrecy,
    ) -> Self {
        Self {
            actor: actor.into(),
            scope,
            key: key.into(),
            value,
            secrecy,
        }
    }

    /// How the audit records `value` (the old or the new one) for this change.
    pub fn audit_value(&self, value: Option<&Value>) -> Option<AuditValue> {
        value.map(|v| AuditValue::of(&self.key, v, self.secrecy))
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("actor", &self.actor)
            .field("scope", &self.scope)
            .field("key", &self.key)
            .field("value", &self.audit_value(self.value.as_ref()))
            .finish()
    }
}

/// A value as the audit trail keeps it: the JSON, or for a secret only its
/// fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditValue {
    /// A plain value.
    Value(Value),
    /// A secret's [`fingerprint`]: equal fingerprints, equal secrets.
    Fingerprint(String),
}

impl AuditValue {
    /// `value` of `key`, fingerprinted if `secret`.
    pub fn of(key: &str, value: &Value, secrecy: Secrecy) -> Self {
        if secrecy.is_secret() {
            Self::Fingerprint(fingerprint(key, value))
        } else {
            Self::Value(value.clone())
        }
    }

    /// The text a store keeps in a column: JSON, or the fingerprint
    /// (`sha256:…`, never valid JSON, so the two can't be confused).
    pub fn to_column(&self) -> String {
        match self {
            Self::Value(value) => value.to_string(),
            Self::Fingerprint(fingerprint) => fingerprint.clone(),
        }
    }

    /// Reads what [`to_column`](Self::to_column) wrote.
    pub fn from_column(text: &str, secrecy: Secrecy) -> Result<Self, serde_json::Error> {
        if secrecy.is_secret() {
            Ok(Self::Fingerprint(text.to_owned()))
        } else {
            serde_json::from_str(text).map(Self::Value)
        }
    }
}

/// A secret's fingerprint: `sha256:` and the hex SHA-256 of the key name
/// and the value's JSON.
///
/// It tells whether a secret changed and whether two tenants share one,
/// without showing it. It is not a password hash: a guessable secret can be
/// recovered by hashing guesses, so keep credentials high-entropy.
///
/// ```
/// use tenancy_config::fingerprint;
///
/// let a = fingerprint("mailer.token", &"s3cr3t".into());
/// assert!(a.starts_with("sha256:") && !a.contains("s3cr3t"));
/// assert_eq!(a, fingerprint("mailer.token", &"s3cr3t".into()));
/// assert_ne!(a, fingerprint("mailer.token", &"other".into()));
/// ```
pub fn fingerprint(key: &str, value: &Value) -> String {
    let mut hash = Sha256::new();
    hash.update(b"tenancy-config\0");
    hash.update(key.as_bytes());
    hash.update(b"\0");
    hash.update(value.to_string().as_bytes());
    let digest = hash.finalize();
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in digest.iter() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    text
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One row of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The store revision of the change.
    pub revision: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// Which layer.
    pub scope: Scope,
    /// Which key.
    pub key: String,
    /// The override before (`None`: there was none).
    pub old: Option<AuditValue>,
    /// The override after (`None`: removed).
    pub new: Option<AuditValue>,
}

impl AuditRecord {
    /// A record.
    pub fn new(revision: u64, at_ms: i64, change: &Change, old: Option<&Value>) -> Self {
        Self {
            revision,
            at_ms,
            actor: change.actor.clone(),
            scope: change.scope,
            key: change.key.clone(),
            old: change.audit_value(old),
            new: change.audit_value(change.value.as_ref()),
        }
    }
}

/// Which audit records to return, newest first.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only this layer.
    pub scope: Option<Scope>,
    /// Only this key.
    pub key: Option<String>,
    /// At most this many (`None`: all).
    pub limit: Option<u64>,
}

impl AuditFilter {
    /// Every record.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only records of `scope`.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Only records of `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// At most `limit` records.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Where overrides and the audit trail live: [`InMemoryConfigStore`] for
/// tests, the SeaORM store of `tenancy-seaorm` in production.
///
/// The revision is a counter that every write increases by one, so a
/// registry can tell cheaply whether anything changed.
///
/// [`InMemoryConfigStore`]: super::InMemoryConfigStore
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync + fmt::Debug + 'static {
    /// The current revision.
    async fn revision(&self) -> Result<u64, StoreError>;

    /// Every override, with the revision read no later than them.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// The overrides of one scope, as they are now.
    async fn load_scope(&self, scope: Scope) -> Result<Vec<Override>, StoreError>;

    /// Applies `change` and appends its audit record, both or neither, and
    /// returns the new revision. Secret values appear in the audit only as
    /// fingerprints ([`Change::audit_value`]).
    async fn write(&self, change: Change) -> Result<u64, StoreError>;

    /// Audit records, newest first.
    async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
}

#[async_trait::async_trait]
impl<S: ConfigStore + ?Sized> ConfigStore for std::sync::Arc<S> {
    async fn revision(&self) -> Result<u64, StoreError> {
        (**self).revision().await
    }
    async fn load(&self) -> Result<Loaded, StoreError> {
        (**self).load().await
    }
    async fn load_scope(&self, scope: Scope) -> Result<Vec<Override>, StoreError> {
        (**self).load_scope(scope).await
    }
    async fn write(&self, change: Change) -> Result<u64, StoreError> {
        (**self).write(change).await
    }
    async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        (**self).audit(filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for scope in [
            Scope::Forced,
            Scope::Global,
            Scope::Tenant(TenantId::new(0)),
            Scope::Tenant(TenantId::new(-3)),
            Scope::Tenant(TenantId::new(i64::MAX)),
            Scope::Tenant(TenantId::uuid(tenancy_core::uuid::Uuid::from_u128(7))),
            Scope::Tenant(TenantId::text("golden-key").unwrap()),
        ] {
            assert_eq!(scope.to_string().parse::<Scope>(), Ok(scope));
        }
        for bad in [
            "",
            "Forced",
            "tenant:",
            "tenant: 1",
            "tenant:1X",
            "tenant:1 x",
            "tenant:00000000-0000-0000-0000-00000000000A",
            "tenants:1",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_changes_are_fingerprinted() {
        let change = Change::new(
            "ops",
            Scope::Global,
            "mailer.token",
            Some("hunter2".into()),
            Secrecy::Secret,
        );
        let text = format!("{change:?}");
        assert!(!text.contains("hunter2"), "{text}");
        let record = AuditRecord::new(1, 0, &change, Some(&"old-secret".into()));
        let json = serde_json::to_string(&record).unwrap();
        assert!(
            !json.contains("hunter2") && !json.contains("old-secret"),
            "{json}"
        );
        assert_eq!(
            record.new,
            Some(AuditValue::Fingerprint(fingerprint(
                "mailer.token",
                &"hunter2".into()
            )))
        );
        let column = record.new.unwrap().to_column();
        assert!(serde_json::from_str::<Value>(&column).is_err());
    }

    #[test]
    fn plain_changes_keep_values() {
        let change = Change::new("ops", Scope::Global, "n", Some(3.into()), Secrecy::Plain);
        let record = AuditRecord::new(1, 0, &change, None);
        assert_eq!(record.old, None);
        assert_eq!(record.new, Some(AuditValue::Value(3.into())));
        let column = record.new.unwrap().to_column();
        assert_eq!(
            AuditValue::from_column(&column, Secrecy::Plain).unwrap(),
            AuditValue::Value(3.into())
        );
    }
}
