//! The SQL flavours the rewrite knows, and each one's parser dialect.
//!
//! A leaf: everything that depends on the backend asks this module, and it
//! asks nothing of the rest of the crate but the refusal for an unknown one.

use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};

use crate::Refusal;

/// The SQL flavours the rewrite knows. SeaORM's `DbBackend` may grow; a
/// backend we don't know is refused, not guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Postgres,
    MySql,
    Sqlite,
}

impl Flavor {
    pub(crate) fn of(backend: sea_orm::DbBackend) -> Result<Self, Refusal> {
        match backend {
            sea_orm::DbBackend::Postgres => Ok(Self::Postgres),
            sea_orm::DbBackend::MySql => Ok(Self::MySql),
            sea_orm::DbBackend::Sqlite => Ok(Self::Sqlite),
            #[allow(unreachable_patterns)]
            other => Err(Refusal::Statement(format!(
                "any statement for backend {other:?}"
            ))),
        }
    }

    /// A dense index, for per-flavour tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The parser dialect that reads this flavour's SQL.
    pub(crate) fn dialect(self) -> &'static dyn Dialect {
        match self {
            Self::Postgres => &PostgreSqlDialect {},
            Self::MySql => &MySqlDialect {},
            Self::Sqlite => &SQLiteDialect {},
        }
    }

    /// The character this flavour quotes identifiers with in the rewrite's
    /// output (backquotes on SQLite too: there an unresolvable `"name"`
    /// silently becomes a string).
    pub(crate) fn identifier_quote(self) -> char {
        match self {
            Self::Postgres => '"',
            Self::MySql | Self::Sqlite => '`',
        }
    }
}
