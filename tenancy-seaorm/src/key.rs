//! The SQL type of the tenant columns, and the tenant as a parameter of it.
//!
//! A leaf beside [`flavor`](crate::flavor): the rewrite binds the tenant,
//! checks a value the caller gave for the tenant column, and casts the RLS
//! setting, all by the one type the application declared.

use sea_orm::{DbErr, QueryResult, Value, sea_query::ColumnType};
use tenancy_core::{TenantId, TenantKeyKind};
use uuid::Uuid;

use crate::{Refusal, flavor::Flavor};

/// The SQL type of every tenant column, declared once per application with
/// [`TableRegistryBuilder::tenant_key`](crate::TableRegistryBuilder::tenant_key),
/// so that the tenant is bound as a parameter of the column's own type and
/// a column is never compared with a key of another kind.
///
/// | | PostgreSQL | MySQL / MariaDB | SQLite |
/// |---|---|---|---|
/// | [`BigInt`](Self::BigInt) | `bigint` | `BIGINT` | `INTEGER` |
/// | [`Uuid`](Self::Uuid) | `uuid` | `CHAR(36)` | `TEXT` |
/// | [`UuidBinary`](Self::UuidBinary) | `uuid` | `BINARY(16)` | `BLOB` |
/// | [`Text`](Self::Text) | `text` / `varchar` | `VARCHAR` | `TEXT` |
///
/// A UUID as text is its lowercase hyphenated form; as bytes, its 16 bytes
/// in RFC 4122 order.
///
/// The tenant field of a SeaORM entity: `i64` for `BigInt`; `Uuid` for
/// `UuidBinary` on every backend and for `Uuid` on PostgreSQL, but
/// `String` for `Uuid` on MySQL and SQLite (sqlx binds a `Uuid` there as
/// 16 bytes, which a `CHAR(36)` column would store as they come); `String`
/// for `Text`. A value in another form is refused, never converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TenantKeyType {
    /// Integer keys ([`TenantKeyKind::Int`]); the default.
    #[default]
    BigInt,
    /// UUID keys, as PostgreSQL's `uuid` or as text elsewhere.
    Uuid,
    /// UUID keys, as PostgreSQL's `uuid` or as 16 bytes elsewhere.
    UuidBinary,
    /// Text keys ([`TenantKeyKind::Text`]).
    Text,
}

impl TenantKeyType {
    /// The kind of key the columns hold.
    pub fn kind(self) -> TenantKeyKind {
        match self {
            Self::BigInt => TenantKeyKind::Int,
            Self::Uuid | Self::UuidBinary => TenantKeyKind::Uuid,
            Self::Text => TenantKeyKind::Text,
        }
    }

    /// `tenant` as a parameter of the column's type on `backend`.
    pub(crate) fn bind(self, backend: Flavor, tenant: TenantId) -> Result<Value, Refusal> {
        let refuse = || Refusal::TenantKeyKind {
            expected: self.kind(),
            found: tenant.kind(),
        };
        Ok(match (self, backend) {
            (Self::BigInt, _) => Value::BigInt(Some(tenant.as_i64().ok_or_else(refuse)?)),
            (Self::Uuid | Self::UuidBinary, Flavor::Postgres) => {
                Value::Uuid(Some(tenant.as_uuid().ok_or_else(refuse)?))
            }
            (Self::Uuid, Flavor::MySql | Flavor::Sqlite) => {
                Value::String(Some(uuid_text(tenant.as_uuid().ok_or_else(refuse)?)))
            }
            (Self::UuidBinary, Flavor::MySql | Flavor::Sqlite) => Value::Bytes(Some(
                tenant.as_uuid().ok_or_else(refuse)?.as_bytes().to_vec(),
            )),
            (Self::Text, _) => Value::String(Some(tenant.as_text().ok_or_else(refuse)?.to_owned())),
        })
    }

    /// A NULL of the type [`bind`](Self::bind) binds, for a nullable
    /// tenant column (PostgreSQL won't take a text NULL into `uuid`).
    pub(crate) fn null(self, backend: Flavor) -> Value {
        match (self, backend) {
            (Self::BigInt, _) => Value::BigInt(None),
            (Self::Uuid | Self::UuidBinary, Flavor::Postgres) => Value::Uuid(None),
            (Self::UuidBinary, Flavor::MySql | Flavor::Sqlite) => Value::Bytes(None),
            (Self::Uuid | Self::Text, _) => Value::String(None),
        }
    }

    /// Whether the caller's `value` for the tenant column is exactly
    /// `tenant`, as the column would store it: the same value bound as
    /// [`bind`](Self::bind) binds it, or an integer of any width for
    /// integer keys. Anything else (another tenant, another encoding, a
    /// UUID in capitals) is not.
    pub(crate) fn matches(self, backend: Flavor, value: &Value, tenant: TenantId) -> bool {
        match self {
            Self::BigInt => as_i64(value).is_some_and(|v| tenant.as_i64() == Some(v)),
            Self::Uuid | Self::UuidBinary => {
                let Some(uuid) = tenant.as_uuid() else {
                    return false;
                };
                match (value, self, backend) {
                    (Value::Uuid(Some(v)), _, Flavor::Postgres) => *v == uuid,
                    (Value::String(Some(v)), Self::Uuid, Flavor::MySql | Flavor::Sqlite) => {
                        *v == uuid_text(uuid)
                    }
                    (Value::Bytes(Some(v)), Self::UuidBinary, Flavor::MySql | Flavor::Sqlite) => {
                        v.as_slice() == uuid.as_bytes()
                    }
                    // sqlx encodes a `Uuid` as its 16 bytes on MySQL and
                    // SQLite: what a SeaORM entity's `Uuid` field binds.
                    (Value::Uuid(Some(v)), Self::UuidBinary, Flavor::MySql | Flavor::Sqlite) => {
                        *v == uuid
                    }
                    _ => false,
                }
            }
            Self::Text => {
                matches!(value, Value::String(Some(v)) if tenant.as_text() == Some(v.as_str()))
            }
        }
    }

    /// The key a literal written in the SQL names, if the literal has the
    /// column's form: a number for integer keys, a string for UUID and text
    /// keys (never for UUIDs stored as bytes, which must come as a
    /// parameter), read strictly as a key of that kind.
    pub(crate) fn literal(self, literal: Literal<'_>) -> Option<TenantId> {
        match (self, literal) {
            (Self::BigInt, Literal::Number(n)) => TenantKeyKind::Int.parse(n).ok(),
            (Self::Uuid, Literal::String(s)) => TenantKeyKind::Uuid.parse(s).ok(),
            (Self::Text, Literal::String(s)) => TenantKeyKind::Text.parse(s).ok(),
            _ => None,
        }
    }

    /// The column type for a tenant key on `backend`, for the tables the
    /// crate creates (the directory's, the config store's).
    pub(crate) fn column_type(self, backend: Flavor) -> ColumnType {
        match (self, backend) {
            (Self::BigInt, _) => ColumnType::BigInteger,
            (Self::Uuid | Self::UuidBinary, Flavor::Postgres) => ColumnType::Uuid,
            (Self::Uuid, Flavor::MySql | Flavor::Sqlite) => ColumnType::Char(Some(36)),
            (Self::UuidBinary, Flavor::MySql) => ColumnType::Binary(16),
            (Self::UuidBinary, Flavor::Sqlite) => ColumnType::Blob,
            (Self::Text, _) => ColumnType::String(sea_orm::sea_query::StringLen::N(
                u32::try_from(tenancy_core::MAX_TEXT_KEY_LEN).unwrap_or(u32::MAX),
            )),
        }
    }

    /// The tenant key in column `column` of `row`, read strictly: a stored
    /// value that is not a key of this type is an error, never a guess.
    pub(crate) fn decode(
        self,
        backend: Flavor,
        row: &QueryResult,
        column: &str,
    ) -> Result<TenantId, DbErr> {
        let malformed = |what: &dyn std::fmt::Debug| {
            DbErr::Type(format!(
                "column {column} holds {what:?}, not a {} tenant key",
                self.kind()
            ))
        };
        match (self, backend) {
            (Self::BigInt, _) => Ok(TenantId::new(row.try_get::<i64>("", column)?)),
            (Self::Uuid | Self::UuidBinary, Flavor::Postgres) => {
                Ok(TenantId::uuid(row.try_get::<Uuid>("", column)?))
            }
            (Self::Uuid, Flavor::MySql | Flavor::Sqlite) => {
                let text: String = row.try_get("", column)?;
                TenantKeyKind::Uuid
                    .parse(&text)
                    .map_err(|_| malformed(&text))
            }
            (Self::UuidBinary, Flavor::MySql | Flavor::Sqlite) => {
                let bytes: Vec<u8> = row.try_get("", column)?;
                Uuid::from_slice(&bytes)
                    .map(TenantId::uuid)
                    .map_err(|_| malformed(&bytes))
            }
            (Self::Text, _) => {
                let text: String = row.try_get("", column)?;
                TenantKeyKind::Text
                    .parse(&text)
                    .map_err(|_| malformed(&text))
            }
        }
    }

    /// The PostgreSQL type the row-level-security setting is cast to.
    pub(crate) fn pg_type(self) -> &'static str {
        match self {
            Self::BigInt => "bigint",
            Self::Uuid | Self::UuidBinary => "uuid",
            Self::Text => "text",
        }
    }
}

/// A literal the caller wrote for the tenant column, as written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Literal<'a> {
    Number(&'a str),
    /// A plain `'...'` string.
    String(&'a str),
}

fn uuid_text(uuid: Uuid) -> String {
    uuid.hyphenated().to_string()
}

/// An integer value, whatever width the caller bound it with.
fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::TinyInt(Some(v)) => Some(i64::from(*v)),
        Value::SmallInt(Some(v)) => Some(i64::from(*v)),
        Value::Int(Some(v)) => Some(i64::from(*v)),
        Value::BigInt(Some(v)) => Some(*v),
        Value::TinyUnsigned(Some(v)) => Some(i64::from(*v)),
        Value::SmallUnsigned(Some(v)) => Some(i64::from(*v)),
        Value::Unsigned(Some(v)) => Some(i64::from(*v)),
        Value::BigUnsigned(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

    #[test]
    fn binds_by_the_declared_type_and_refuses_another_kind() {
        let uuid: Uuid = UUID.parse().unwrap();
        let t = TenantId::uuid(uuid);
        assert_eq!(
            TenantKeyType::Uuid.bind(Flavor::Postgres, t),
            Ok(Value::Uuid(Some(uuid)))
        );
        assert_eq!(
            TenantKeyType::Uuid.bind(Flavor::MySql, t),
            Ok(Value::String(Some(UUID.into())))
        );
        assert_eq!(
            TenantKeyType::UuidBinary.bind(Flavor::Sqlite, t),
            Ok(Value::Bytes(Some(uuid.as_bytes().to_vec())))
        );
        assert_eq!(
            TenantKeyType::BigInt.bind(Flavor::Sqlite, t),
            Err(Refusal::TenantKeyKind {
                expected: TenantKeyKind::Int,
                found: TenantKeyKind::Uuid
            })
        );
        assert!(
            TenantKeyType::Uuid
                .bind(Flavor::Postgres, TenantId::new(1))
                .is_err()
        );
        assert!(TenantKeyType::Text.bind(Flavor::Postgres, t).is_err());
    }

    #[test]
    fn a_value_matches_only_in_the_columns_own_form() {
        let uuid: Uuid = UUID.parse().unwrap();
        let t = TenantId::uuid(uuid);
        let upper = Value::String(Some(UUID.to_uppercase()));
        assert!(TenantKeyType::Uuid.matches(Flavor::MySql, &Value::String(Some(UUID.into())), t));
        assert!(!TenantKeyType::Uuid.matches(Flavor::MySql, &upper, t));
        assert!(!TenantKeyType::Uuid.matches(
            Flavor::MySql,
            &Value::Bytes(Some(uuid.as_bytes().to_vec())),
            t
        ));
        assert!(TenantKeyType::Uuid.matches(Flavor::Postgres, &Value::Uuid(Some(uuid)), t));
        assert!(!TenantKeyType::Uuid.matches(
            Flavor::Postgres,
            &Value::String(Some(UUID.into())),
            t
        ));
        assert!(TenantKeyType::BigInt.matches(
            Flavor::Sqlite,
            &Value::Int(Some(3)),
            TenantId::new(3)
        ));
        assert!(!TenantKeyType::BigInt.matches(
            Flavor::Sqlite,
            &Value::String(Some("3".into())),
            TenantId::new(3)
        ));
        let acme = TenantId::text("acme").unwrap();
        assert!(TenantKeyType::Text.matches(
            Flavor::MySql,
            &Value::String(Some("acme".into())),
            acme
        ));
        assert!(!TenantKeyType::Text.matches(
            Flavor::MySql,
            &Value::String(Some("ACME".into())),
            acme
        ));
    }
}
