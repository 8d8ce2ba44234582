//! The tenant identifier, of the application's key type.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::Error;

/// The longest text key, in bytes.
pub const MAX_TEXT_KEY_LEN: usize = 64;

/// The type of an application's tenant keys.
///
/// # Why one type with three kinds, not a generic
///
/// An application keys its tenants by `i64`, by UUID or by a short string,
/// and chooses once. A generic `TenantId<K>` would make that choice a type
/// parameter of every context, directory, registry, connection and layer,
/// and of the task-local that carries the tenant without a request. Instead
/// [`TenantId`] is one small `Copy` value that holds a key of one
/// [`TenantKeyKind`], and the places where a key meets the database or the
/// outside world are told the application's kind once and check it:
///
/// - text is parsed for a kind ([`TenantKeyKind::parse`]), strictly, and a
///   key of another kind is [`Error::KeyKind`]
///   ([`TenantKeyKind::check`]);
/// - `tenancy-seaorm`'s table registry declares the tenant column's type,
///   binds every tenant as a parameter of that type, and refuses a
///   statement for a tenant of another kind before it reaches the database,
///   so a tenant column is never compared with a key of another type.
///
/// The three kinds never read the same text two ways: an integer key is
/// `-?[0-9]+`, a UUID key is the lowercase hyphenated form, and a text key
/// is 1 to 64 of `a-z 0-9 _ . : -` that is neither of those. Lowercase and
/// ASCII only because MySQL's default collations compare case- and
/// accent-insensitively: two different text keys must never compare equal
/// on any server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TenantKeyKind {
    /// A 64-bit signed integer (`BIGINT`).
    Int,
    /// A UUID.
    Uuid,
    /// A short lowercase ASCII string: a slug or an external id.
    Text,
}

impl TenantKeyKind {
    /// Parses `text` as a key of this kind, accepting exactly what
    /// [`TenantId`]'s `Display` prints.
    ///
    /// ```
    /// use tenancy_core::{TenantId, TenantKeyKind};
    ///
    /// let id = TenantKeyKind::Uuid.parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    /// assert_eq!(id.kind(), TenantKeyKind::Uuid);
    /// assert!(TenantKeyKind::Uuid.parse("67E55044-10B1-426F-9247-BB680E5FE0C8").is_err());
    /// assert!(TenantKeyKind::Int.parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_err());
    /// assert_eq!(TenantKeyKind::Text.parse("golden-key").unwrap().to_string(), "golden-key");
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTenantId`] for text that is not a key of this kind.
    pub fn parse(self, text: &str) -> Result<TenantId, Error> {
        let invalid = || Error::InvalidTenantId {
            kind: self,
            text: text.to_owned(),
        };
        match self {
            Self::Int => parse_int(text).map(TenantId::new).ok_or_else(invalid),
            Self::Uuid => parse_uuid(text).map(TenantId::from).ok_or_else(invalid),
            Self::Text => TextKey::new(text)
                .map(TenantId::from_text)
                .ok_or_else(invalid),
        }
    }

    /// `Ok(id)` if `id` is of this kind.
    ///
    /// # Errors
    ///
    /// [`Error::KeyKind`] for a key of another kind.
    pub fn check(self, id: TenantId) -> Result<TenantId, Error> {
        if id.kind() == self {
            Ok(id)
        } else {
            Err(Error::KeyKind {
                expected: self,
                found: id.kind(),
            })
        }
    }

    /// `int`, `uuid` or `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Int => "int",
            Self::Uuid => "uuid",
            Self::Text => "text",
        }
    }
}

impl fmt::Display for TenantKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one tenant (operating company). It is the value stored in the
/// tenant column (`entity_id` by default) of every tenant-scoped row: an
/// integer, a UUID or a short text key, as the application chose (see the
/// [`TenantKeyKind`] docs).
///
/// ```
/// use tenancy_core::{TenantId, TenantKeyKind};
///
/// let id = TenantId::from(7);
/// assert_eq!(id.as_i64(), Some(7));
/// assert_eq!(TenantKeyKind::Int.parse("7").unwrap(), id);
/// assert!(TenantKeyKind::Int.parse("7; DROP TABLE leads").is_err());
///
/// let slug = TenantId::text("golden-key").unwrap();
/// assert_eq!(slug.as_text(), Some("golden-key"));
/// assert!(TenantId::text("Golden Key").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(Key);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Int(i64),
    Uuid(Uuid),
    Text(TextKey),
}

/// A validated text key, inline so that [`TenantId`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct TextKey {
    len: u8,
    bytes: [u8; MAX_TEXT_KEY_LEN],
}

impl TextKey {
    fn new(text: &str) -> Option<Self> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b);
        let ok = !text.is_empty()
            && text.len() <= MAX_TEXT_KEY_LEN
            && text.bytes().all(allowed)
            && parse_int(text).is_none()
            && Uuid::try_parse(text).is_err();
        if !ok {
            return None;
        }
        let mut bytes = [0; MAX_TEXT_KEY_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Self {
            len: u8::try_from(text.len()).ok()?,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII was copied in, so this never fails; an empty string
        // would be a bug, never a panic.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// `-?[0-9]+` within `i64`: `i64::from_str` also takes a leading `+`, and
/// we accept exactly what we print.
fn parse_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The lowercase hyphenated form only (what `Display` prints).
fn parse_uuid(text: &str) -> Option<Uuid> {
    let uuid = Uuid::try_parse(text).ok()?;
    let mut buf = Uuid::encode_buffer();
    (uuid.hyphenated().encode_lower(&mut buf) == text).then_some(uuid)
}

impl TenantId {
    /// An integer key.
    pub const fn new(id: i64) -> Self {
        Self(Key::Int(id))
    }

    /// A UUID key.
    pub const fn uuid(id: Uuid) -> Self {
        Self(Key::Uuid(id))
    }

    /// A text key: 1 to 64 of `a-z 0-9 _ . : -`, not all digits and not a
    /// UUID (see the [`TenantKeyKind`] docs for why).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTenantId`] for anything else.
    pub fn text(key: &str) -> Result<Self, Error> {
        TenantKeyKind::Text.parse(key)
    }

    fn from_text(key: TextKey) -> Self {
        Self(Key::Text(key))
    }

    /// The kind of key this is.
    pub const fn kind(&self) -> TenantKeyKind {
        match self.0 {
            Key::Int(_) => TenantKeyKind::Int,
            Key::Uuid(_) => TenantKeyKind::Uuid,
            Key::Text(_) => TenantKeyKind::Text,
        }
    }

    /// The integer key, if this is one.
    pub const fn as_i64(&self) -> Option<i64> {
        match self.0 {
            Key::Int(id) => Some(id),
            _ => None,
        }
    }

    /// The UUID key, if this is one.
    pub const fn as_uuid(&self) -> Option<Uuid> {
        match self.0 {
            Key::Uuid(id) => Some(id),
            _ => None,
        }
    }

    /// The text key, if this is one.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            Key::Text(key) => Some(key.as_str()),
            _ => None,
        }
    }
}

impl From<i64> for TenantId {
    fn from(id: i64) -> Self {
        Self::new(id)
    }
}

impl From<Uuid> for TenantId {
    fn from(id: Uuid) -> Self {
        Self::uuid(id)
    }
}

impl TryFrom<TenantId> for i64 {
    type Error = Error;

    fn try_from(id: TenantId) -> Result<Self, Error> {
        id.as_i64().ok_or(Error::KeyKind {
            expected: TenantKeyKind::Int,
            found: id.kind(),
        })
    }
}

impl TryFrom<TenantId> for Uuid {
    type Error = Error;

    fn try_from(id: TenantId) -> Result<Self, Error> {
        id.as_uuid().ok_or(Error::KeyKind {
            expected: TenantKeyKind::Uuid,
            found: id.kind(),
        })
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Key::Int(id) => write!(f, "TenantId({id})"),
            Key::Uuid(_) | Key::Text(_) => write!(f, "TenantId({self:?})", self = self.to_string()),
        }
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Key::Int(id) => fmt::Display::fmt(id, f),
            Key::Uuid(id) => fmt::Display::fmt(&id.hyphenated(), f),
            Key::Text(key) => f.write_str(key.as_str()),
        }
    }
}

/// Reads any kind: the three never share a text form. Code that knows the
/// application's kind should use [`TenantKeyKind::parse`], which also
/// refuses a key of another kind.
impl FromStr for TenantId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = if parse_int(s).is_some() {
            TenantKeyKind::Int
        } else if parse_uuid(s).is_some() {
            TenantKeyKind::Uuid
        } else {
            TenantKeyKind::Text
        };
        kind.parse(s)
    }
}

/// An integer key is a JSON number (as before), the others strings.
impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Key::Int(id) => serializer.serialize_i64(*id),
            Key::Uuid(_) | Key::Text(_) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr<'a> {
            Int(i64),
            Text(std::borrow::Cow<'a, str>),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Int(id) => Ok(Self::new(id)),
            Repr::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(feature = "sea-query")]
impl From<TenantId> for sea_query::Value {
    /// An integer key binds as `BIGINT`, a UUID as `uuid`, a text key as a
    /// string. (`tenancy-seaorm` binds by the tenant column's declared type,
    /// which for a UUID may be text or 16 bytes.)
    fn from(id: TenantId) -> Self {
        match &id.0 {
            Key::Int(id) => sea_query::Value::BigInt(Some(*id)),
            Key::Uuid(id) => sea_query::Value::Uuid(Some(*id)),
            Key::Text(key) => sea_query::Value::String(Some(key.as_str().to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

    #[test]
    fn parses_what_it_prints() {
        let ids = [0_i64, 1, -1, i64::MAX, i64::MIN]
            .map(TenantId::new)
            .into_iter()
            .chain([TenantId::uuid(Uuid::nil()), UUID.parse().unwrap()])
            .chain(
                ["a", "golden-key", "cus_0a1b", "x.y:z", &"k".repeat(64)]
                    .map(|t| TenantId::text(t).unwrap()),
            );
        for id in ids {
            let text = id.to_string();
            assert_eq!(text.parse::<TenantId>(), Ok(id), "{text}");
            assert_eq!(id.kind().parse(&text), Ok(id), "{text}");
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(
                serde_json::from_str::<TenantId>(&json).unwrap(),
                id,
                "{json}"
            );
        }
        assert_eq!(serde_json::to_string(&TenantId::new(7)).unwrap(), "7");
    }

    #[test]
    fn rejects_malformed_text() {
        let bad_int = [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "１",
            "99999999999999999999",
        ];
        for bad in bad_int {
            assert_eq!(
                TenantKeyKind::Int.parse(bad),
                Err(Error::InvalidTenantId {
                    kind: TenantKeyKind::Int,
                    text: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        let bad_uuid = [
            "",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            " 67e55044-10b1-426f-9247-bb680e5fe0c8",
            "7",
        ];
        for bad in bad_uuid {
            assert!(TenantKeyKind::Uuid.parse(bad).is_err(), "{bad:?}");
        }
        let long = "k".repeat(65);
        let bad_text = [
            "",
            "7",
            "-7",
            UUID,
            "67e5504410b1426f9247bb680e5fe0c8",
            "Golden",
            "golden key",
            "gölden",
            "a'b",
            "a;b",
            "a\0",
            &long,
        ];
        for bad in bad_text {
            assert!(TenantId::text(bad).is_err(), "{bad:?}");
            assert!(
                bad.parse::<TenantId>()
                    .map(|id| id.kind() != TenantKeyKind::Text)
                    .unwrap_or(true),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_key_of_another_kind_is_a_typed_error() {
        let id = TenantId::new(1);
        assert_eq!(TenantKeyKind::Int.check(id), Ok(id));
        assert_eq!(
            TenantKeyKind::Uuid.check(id),
            Err(Error::KeyKind {
                expected: TenantKeyKind::Uuid,
                found: TenantKeyKind::Int
            })
        );
        assert!(Uuid::try_from(id).is_err());
        assert_eq!(i64::try_from(id), Ok(1));
        assert!(serde_json::from_str::<TenantId>("\"Not A Key\"").is_err());
        assert!(serde_json::from_str::<TenantId>("1.5").is_err());
    }

    #[cfg(feature = "sea-query")]
    #[test]
    fn binds_by_kind() {
        assert_eq!(
            sea_query::Value::from(TenantId::new(3)),
            sea_query::Value::BigInt(Some(3))
        );
        let uuid: Uuid = UUID.parse().unwrap();
        assert_eq!(
            sea_query::Value::from(TenantId::uuid(uuid)),
            sea_query::Value::Uuid(Some(uuid))
        );
        assert_eq!(
            sea_query::Value::from(TenantId::text("acme").unwrap()),
            sea_query::Value::String(Some("acme".into()))
        );
    }
}
