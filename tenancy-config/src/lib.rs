//! Typed per-tenant feature flags and configuration.
//!
//! Operating companies on one platform differ in behaviour, not in code:
//! their dialer dispositions, workflow steps, which screens they see, the
//! credentials of their integrations. This crate gives each tenant its own
//! typed values over shared defaults, cheaply enough to read in every
//! handler.
//!
//! - A [`Key`] is declared once in code, as a `static`, with its value type,
//!   default and description. A [`ConfigRegistry`] is built from declared
//!   keys; reading or writing any other key is [`ConfigError::UndeclaredKey`].
//! - Values resolve in layers, highest first ([`Source`]): the platform-wide
//!   forced value (kill switch, [`Scope::Forced`]), the tenant's override,
//!   the global override, the default.
//! - Reads are synchronous and lock-free: an atomic load of an immutable
//!   snapshot (`arc-swap`), a lookup of the tenant, an index by key. A change
//!   builds a new snapshot for the tenants it affects and swaps it in.
//! - Writes are checked with the key's own type (serde) and its optional
//!   validator; a value that fails is an error and nothing is stored. The
//!   store commits the value with an audit record (who, when, old, new).
//! - [`Secret`] values never appear in `Debug`, `Display`, serialised output,
//!   logs or audit records; the audit and the listings keep a [`fingerprint`].
//! - [`ConfigRegistry::keys`] and [`ConfigRegistry::effective`] list keys
//!   and one tenant's values with their sources, for an admin page.
//! - When the store fails, reads go on serving the last good snapshot; the
//!   failure shows in [`ConfigRegistry::health`] and as a WARN event
//!   (target `tenancy::config`).
//! - [`testing::TestConfig`] sets values in a test without a database.
//!
//! Stores: [`InMemoryConfigStore`] here, and a SeaORM store with migrations
//! and PostgreSQL LISTEN/NOTIFY propagation in `tenancy-seaorm`.
//!
//! Part of the tenancy workspace: tenant identity ([`TenantId`](tenancy_core::TenantId)) comes from
//! `tenancy-core`; the crate has no HTTP and no SQL.
//!
//! # Feature flags
//!
//! - `schemars`: JSON Schemas of config value types in the admin listing
//!   ([`ConfigRegistryBuilder::key_with_schema`], [`KeyInfo::schema`]).
//!
//! # Example
//!
//! ```
//! use tenancy_core::TenantId;
//! use tenancy_config::{ConfigRegistry, InMemoryConfigStore, Key, Scope, Secret, Source};
//!
//! static DISPOSITIONS: Key<Vec<String>> = Key::new(
//!     "dialer.dispositions",
//!     "Call dispositions agents may choose from",
//!     || vec!["answered".into(), "no_answer".into()],
//! );
//! static CRM_TOKEN: Key<Secret<String>> =
//!     Key::new("crm.api_token", "Token of the CRM integration", || Secret::new(String::new()));
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tenancy_config::ConfigError> {
//! let registry = ConfigRegistry::builder()
//!     .key(&DISPOSITIONS)
//!     .key(&CRM_TOKEN)
//!     .load(InMemoryConfigStore::new())
//!     .await?;
//! let stone = TenantId::new(2);
//!
//! registry
//!     .set("admin@stone", Scope::Tenant(stone), &DISPOSITIONS, vec!["sold".into()])
//!     .await?;
//! registry
//!     .set("admin@stone", Scope::Tenant(stone), &CRM_TOKEN, Secret::new("tok-123".into()))
//!     .await?;
//!
//! // A handler reads several keys from one snapshot.
//! let config = registry.tenant(stone);
//! assert_eq!(config.get(&DISPOSITIONS)?, ["sold"]);
//! assert_eq!(config.get(&CRM_TOKEN)?.expose(), "tok-123");
//!
//! // The admin listing shows sources, and only a fingerprint of the secret.
//! let listing = serde_json::to_string(&registry.effective(stone)).unwrap();
//! assert!(listing.contains("\"source\":\"tenant\"") && !listing.contains("tok-123"));
//! # Ok(()) }
//! ```
//!
//! # How it fails
//!
//! Every failure is a [`ConfigError`]: an undeclared key, a key read with
//! the wrong type, a value that fails its type or validator (nothing is
//! stored), a store that can't be reached (on a write nothing is stored; on
//! a refresh the last good snapshot stays). Nothing panics on bad input. A
//! registry is not built at all when its first load fails, because serving
//! defaults could undo a kill switch.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod error;
mod key;
mod memory;
mod registry;
mod store;
pub mod testing;

pub use error::{ConfigError, Result};
// The one store error, shared with the tenant directory.
pub use key::{ConfigValue, Key, MAX_ACTOR_LEN, MAX_KEY_LEN, MAX_VALUE_LEN, Secret, Validator};
pub use memory::InMemoryConfigStore;
pub use registry::{
    ConfigRegistry, ConfigRegistryBuilder, EffectiveValue, Health, KeyInfo, Source, TenantConfig,
};
pub use store::{
    AuditFilter, AuditRecord, AuditValue, Change, ConfigStore, InvalidScope, Loaded, Override,
    Scope, Secrecy, fingerprint,
};
pub use tenancy_core::StoreError;

// The README's example runs as a doc test, so it can't drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
