//! The expected state of each tenant's rows, and why an operation failed.

use std::collections::BTreeMap;
use std::fmt;

use sea_orm::sqlx::sqlite::SqliteError;
use sea_orm::{DbErr, RuntimeErr, TransactionError};

use super::ID_BASE;

/// What one tenant's rows must be.
#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    pub(super) tenant: i64,
    /// id to (body, counter).
    pub(super) rows: BTreeMap<i64, (String, i64)>,
    pub(super) next_seq: i64,
}

impl Model {
    pub(super) fn seeded(tenant: i64, extra: i64) -> Self {
        let mut rows = BTreeMap::new();
        rows.insert(tenant * ID_BASE, (format!("anchor {tenant}"), 0));
        for seq in 1..=extra {
            rows.insert(tenant * ID_BASE + seq, (format!("seed {seq}"), seq));
        }
        Self {
            tenant,
            rows,
            next_seq: extra + 1,
        }
    }

    /// The rows as [`READ`] renders them: id, entity_id, body, counter.
    pub(super) fn read(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|(id, (body, counter))| {
                vec![
                    id.to_string(),
                    self.tenant.to_string(),
                    body.clone(),
                    counter.to_string(),
                ]
            })
            .collect()
    }

    /// The rows as the final raw check renders them: entity_id, id, body,
    /// counter.
    pub(super) fn raw(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|(id, (body, counter))| {
                vec![
                    self.tenant.to_string(),
                    id.to_string(),
                    body.clone(),
                    counter.to_string(),
                ]
            })
            .collect()
    }
}

/// Why an operation failed.
#[derive(Debug)]
pub(super) enum Fail {
    /// The database returned an error.
    Db(DbErr),
    /// A result differed from the expectation: the failure this test is for.
    Bleed(String),
    /// The closure form returned `Err` on purpose, to roll back.
    Intended,
}

impl From<DbErr> for Fail {
    fn from(e: DbErr) -> Self {
        Fail::Db(e)
    }
}

impl<E: Into<Fail>> From<TransactionError<E>> for Fail {
    fn from(e: TransactionError<E>) -> Self {
        match e {
            TransactionError::Connection(e) => Fail::Db(e),
            TransactionError::Transaction(e) => e.into(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Db(e) => write!(f, "database error: {e}"),
            Fail::Bleed(msg) => write!(f, "CONTEXT BLEED: {msg}"),
            Fail::Intended => f.write_str("intended rollback"),
        }
    }
}

/// Whether `err` is SQLite's `SQLITE_BUSY` (any extended code: plain,
/// `BUSY_SNAPSHOT`, `BUSY_RECOVERY`, `BUSY_TIMEOUT`).
pub(super) fn is_sqlite_busy(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return false;
    };
    db.try_downcast_ref::<SqliteError>().is_some()
        && db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5)
}
