//! Declared keys, the value types they may hold, and secrets.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ConfigError;

/// The longest key name a registry accepts (the SeaORM store's column holds
/// 128 characters).
pub const MAX_KEY_LEN: usize = 128;

/// The largest value a registry writes, as JSON text: what every backend's
/// `TEXT` column holds (MySQL's holds 65,535 bytes), with room to spare.
pub const MAX_VALUE_LEN: usize = 60_000;

/// The longest actor name a write accepts, in characters (the SeaORM
/// store's column holds 255).
pub const MAX_ACTOR_LEN: usize = 255;

/// One configuration key, declared once in code as a `static`, with its
/// value type, default and description.
///
/// The default is a function, called once when a registry is built, so it
/// can allocate (a `Vec`, a `String`) and still sit in a `static`.
///
/// ```
/// use tenancy_config::{Key, Secret};
///
/// /// Whether the predictive dialer is offered.
/// pub static DIALER_ENABLED: Key<bool> =
///     Key::new("dialer.enabled", "Offer the predictive dialer", || false);
///
/// /// Call dispositions agents may choose from; never empty.
/// pub static DISPOSITIONS: Key<Vec<String>> = Key::new(
///     "dialer.dispositions",
///     "Call dispositions agents may choose from",
///     || vec!["answered".into(), "no_answer".into()],
/// )
/// .with_validator(|list| {
///     if list.is_empty() { Err("at least one disposition is needed".into()) } else { Ok(()) }
/// });
///
/// /// An integration credential: never printed, logged or audited in clear.
/// pub static MAILER_TOKEN: Key<Secret<String>> =
///     Key::new("mailer.token", "API token of the mail provider", || Secret::new(String::new()));
///
/// assert_eq!(DIALER_ENABLED.name(), "dialer.enabled");
/// assert!(MAILER_TOKEN.is_secret());
/// ```
pub struct Key<T> {
    name: &'static str,
    description: &'static str,
    default: fn() -> T,
    validator: Option<Validator<T>>,
}

/// A key's validator: `Err` carries the message shown to the writer.
pub type Validator<T> = fn(&T) -> Result<(), String>;

impl<T> Key<T> {
    /// Declares a key. `name` should be short, lowercase and dotted
    /// (`dialer.enabled`); a registry refuses names that are empty, longer
    /// than [`MAX_KEY_LEN`], or contain characters other than ASCII letters,
    /// digits, `.`, `_` and `-`.
    pub const fn new(name: &'static str, description: &'static str, default: fn() -> T) -> Self {
        Self {
            name,
            description,
            default,
            validator: None,
        }
    }

    /// The same key with a validator, run on every write after the value
    /// has been checked against `T` (and on the default, when a registry is
    /// built). Its error message is shown to whoever wrote the value; for a
    /// secret key it is replaced by a generic one, so a validator can't leak
    /// the secret by quoting it.
    pub const fn with_validator(mut self, validator: Validator<T>) -> Self {
        self.validator = Some(validator);
        self
    }

    /// The key's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What the key is for.
    pub const fn description(&self) -> &'static str {
        self.description
    }
}

impl<T: ConfigValue> Key<T> {
    /// Whether values of this key are secrets ([`Secret`]).
    pub const fn is_secret(&self) -> bool {
        T::SECRET
    }
}

impl<T> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// A type a [`Key`] can hold: anything serde can write to and read from
/// JSON (validation on write is deserialisation into this type), or a
/// [`Secret`] of such a type.
///
/// Implemented for every `T: Serialize + DeserializeOwned + Send + Sync +
/// 'static` and for `Secret<T>` of those; there is no need to implement it.
pub trait ConfigValue: Send + Sync + 'static {
    /// Whether values are redacted everywhere the registry shows them.
    const SECRET: bool = false;

    /// The value as stored.
    ///
    /// # Errors
    ///
    /// When serde can't represent it as JSON (a map with non-string keys).
    fn to_json(&self) -> Result<Value, serde_json::Error>;

    /// Reads a stored value.
    ///
    /// # Errors
    ///
    /// When `value` does not have this type's shape.
    fn from_json(value: Value) -> Result<Self, serde_json::Error>
    where
        Self: Sized;
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> ConfigValue for T {
    fn to_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn from_json(value: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }
}

/// A secret value, such as an integration credential.
///
/// `Debug` and `Display` print `[redacted]`. It deliberately implements
/// neither `Serialize` nor `Deserialize`, so it can't end up in an API
/// response or a log line by accident; the registry stores it, and shows and
/// audits only a fingerprint. Call [`expose`](Self::expose) where the value
/// is really needed.
///
/// ```
/// use tenancy_config::Secret;
///
/// let token = Secret::new("hunter2".to_owned());
/// assert_eq!(format!("{token:?} {token}"), "Secret([redacted]) [redacted]");
/// assert_eq!(token.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Don't log it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The secret itself, unwrapped.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(feature = "schemars")]
impl<T: schemars::JsonSchema> schemars::JsonSchema for Secret<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Secret_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = T::json_schema(generator);
        schema.insert("writeOnly".to_owned(), Value::Bool(true));
        schema
    }
}

/// What the registry shows in place of a secret.
pub(crate) const REDACTED: &str = "[redacted]";

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> ConfigValue for Secret<T> {
    const SECRET: bool = true;

    fn to_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&self.0)
    }

    fn from_json(value: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value).map(Secret)
    }
}

/// A value held by a registry: the typed value behind `Any`, and its
/// canonical JSON (what the store keeps and the listing shows).
pub(crate) type AnyValue = Arc<dyn Any + Send + Sync>;

/// A [`Key`] with its type erased, as a registry holds it.
pub(crate) trait DeclaredKey: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn type_name(&self) -> &'static str;
    fn value_type(&self) -> TypeId;
    fn secret(&self) -> bool;
    /// The default, validated.
    fn default_value(&self) -> Result<(AnyValue, Value), ConfigError>;
    /// Checks `value` against the key's type and validator; the typed value
    /// and its canonical JSON.
    fn parse(&self, value: Value) -> Result<(AnyValue, Value), ConfigError>;
}

impl<T: ConfigValue> Key<T> {
    /// Checks a typed value with the validator and renders it.
    pub(crate) fn check(&self, value: T) -> Result<(AnyValue, Value), ConfigError> {
        if let Some(validator) = self.validator
            && let Err(reason) = validator(&value)
        {
            return Err(ConfigError::Rejected {
                key: self.name.to_owned(),
                reason: if T::SECRET {
                    "the secret was rejected by the key's validator".to_owned()
                } else {
                    reason
                },
            });
        }
        let json = value.to_json().map_err(|e| self.invalid(&e))?;
        let len = json.to_string().len();
        if len > MAX_VALUE_LEN {
            return Err(ConfigError::InvalidValue {
                key: self.name.to_owned(),
                expected: std::any::type_name::<T>(),
                reason: format!("{len} bytes of JSON; at most {MAX_VALUE_LEN} are stored"),
            });
        }
        Ok((Arc::new(value), json))
    }

    fn invalid(&self, error: &serde_json::Error) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.name.to_owned(),
            expected: std::any::type_name::<T>(),
            // serde quotes the offending value in its messages.
            reason: if T::SECRET {
                "the value does not have the declared type".to_owned()
            } else {
                error.to_string()
            },
        }
    }
}

impl<T: ConfigValue> DeclaredKey for Key<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn value_type(&self) -> TypeId {
        TypeId::of::<T>()
    }

    fn secret(&self) -> bool {
        T::SECRET
    }

    fn default_value(&self) -> Result<(AnyValue, Value), ConfigError> {
        self.check((self.default)())
            .map_err(|e| ConfigError::InvalidDefault {
                key: self.name.to_owned(),
                reason: e.to_string(),
            })
    }

    fn parse(&self, value: Value) -> Result<(AnyValue, Value), ConfigError> {
        let typed = T::from_json(value).map_err(|e| self.invalid(&e))?;
        self.check(typed)
    }
}

/// Whether `name` is an acceptable key name.
pub(crate) fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_KEY_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    static PORT: Key<u16> = Key::new("smtp.port", "SMTP port", || 25).with_validator(|p| {
        if *p == 0 {
            Err("port 0".into())
        } else {
            Ok(())
        }
    });
    static TOKEN: Key<Secret<String>> = Key::new("api.token", "token", || Secret::new("x".into()))
        .with_validator(|t| {
            if t.expose().len() < 4 {
                Err(format!("too short: {}", t.expose()))
            } else {
                Ok(())
            }
        });

    #[test]
    fn parse_checks_type_and_validator() {
        let (value, json) = PORT.parse(serde_json::json!(587)).unwrap();
        assert_eq!(value.downcast_ref::<u16>(), Some(&587));
        assert_eq!(json, serde_json::json!(587));
        assert!(matches!(
            PORT.parse(serde_json::json!("587")),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            PORT.parse(serde_json::json!(70000)),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            PORT.parse(serde_json::json!(0)),
            Err(ConfigError::Rejected { reason, .. }) if reason == "port 0"
        ));
    }

    #[test]
    fn secret_errors_do_not_quote_the_value() {
        let wrong_type = TOKEN.parse(serde_json::json!(["hunter2"])).unwrap_err();
        let too_short = TOKEN.parse(serde_json::json!("abc")).unwrap_err();
        for err in [wrong_type, too_short] {
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
        }
    }

    #[test]
    fn invalid_default_is_reported() {
        static BAD: Key<u16> = Key::new("bad", "", || 0).with_validator(|p| {
            if *p == 0 {
                Err("port 0".into())
            } else {
                Ok(())
            }
        });
        assert!(matches!(
            BAD.default_value(),
            Err(ConfigError::InvalidDefault { .. })
        ));
    }

    #[test]
    fn oversized_values_are_refused() {
        static BLOB: Key<String> = Key::new("blob", "", String::new);
        assert!(
            BLOB.parse(serde_json::json!("x".repeat(MAX_VALUE_LEN - 2)))
                .is_ok()
        );
        assert!(matches!(
            BLOB.parse(serde_json::json!("x".repeat(MAX_VALUE_LEN - 1))),
            Err(ConfigError::InvalidValue { reason, .. }) if reason.contains("at most")
        ));
    }

    #[test]
    fn key_names() {
        assert!(is_valid_key_name("dialer.enabled"));
        assert!(is_valid_key_name("a-b_c.9"));
        for bad in ["", "a b", "a;b", "é", &"x".repeat(MAX_KEY_LEN + 1)] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
        }
    }
}
