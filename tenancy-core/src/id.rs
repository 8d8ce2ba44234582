//! The tenant identifier.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Identifies one tenant (operating company). It is the value stored in the
/// tenant column (`entity_id` by default) of every tenant-scoped row.
///
/// Construct it from an `i64`; parse it from text with [`str::parse`], which
/// rejects anything that is not a decimal integer.
///
/// ```
/// use tenancy_core::TenantId;
///
/// let id = TenantId::from(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!("7".parse::<TenantId>().unwrap(), id);
/// assert!("7; DROP TABLE leads".parse::<TenantId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(i64);

impl TenantId {
    /// Wraps a raw identifier.
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The raw identifier.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for TenantId {
    fn from(id: i64) -> Self {
        Self(id)
    }
}

impl From<TenantId> for i64 {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for TenantId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `i64::from_str` accepts a leading '+'; we accept exactly what we print.
        let digits = s.strip_prefix('-').unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidTenantId(s.to_owned()));
        }
        s.parse::<i64>()
            .map(Self)
            .map_err(|_| Error::InvalidTenantId(s.to_owned()))
    }
}

#[cfg(feature = "sea-query")]
impl From<TenantId> for sea_query::Value {
    fn from(id: TenantId) -> Self {
        sea_query::Value::BigInt(Some(id.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints() {
        for raw in [0_i64, 1, -1, i64::MAX, i64::MIN] {
            let id = TenantId::new(raw);
            assert_eq!(id.to_string().parse::<TenantId>(), Ok(id));
        }
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "１",
            "99999999999999999999",
        ] {
            assert_eq!(
                bad.parse::<TenantId>(),
                Err(Error::InvalidTenantId(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[cfg(feature = "sea-query")]
    #[test]
    fn binds_as_bigint() {
        assert_eq!(
            sea_query::Value::from(TenantId::new(3)),
            sea_query::Value::BigInt(Some(3))
        );
    }
}
