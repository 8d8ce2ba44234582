//! The oracle tests' three tenants in each kind of key, so every case runs
//! with integer, UUID and text tenant columns without a second copy.
//!
//! The cases number their tenants 1, 2 and 3; the kind of key maps each
//! number to a key, and renders it wherever SQL names a tenant: the column
//! type and default of the schema, the seed, the filters of the dumps and
//! the statements under test (`{t2}` is tenant 2 as a literal of the
//! column's form). With integer keys every rendering is the number itself,
//! so that run's SQL is the SQL the cases spell.

use tenancy_core::{TenantId, uuid::Uuid};
use tenancy_seaorm::TenantKeyType;
use tenancy_testkit::Backend;

/// The kind of key the tenant columns hold in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// `BIGINT`, tenants 1, 2 and 3.
    Int,
    /// UUIDs: PostgreSQL `UUID`, MySQL `CHAR(36)`, SQLite `TEXT`.
    Uuid,
    /// Text keys: `VARCHAR(64)`, SQLite `TEXT`.
    Text,
}

/// Tenants 1, 2 and 3 as UUIDs: lowercase hyphenated, with letters, and
/// ordered unlike their numbers.
const UUIDS: [&str; 3] = [
    "6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f",
    "0b5c3a0e-9d8c-4b7a-a695-8f7e6d5c4b3a",
    "f3e2d1c0-b9a8-4776-8554-433221100fed",
];

/// Tenants 1, 2 and 3 as text keys, using every character class allowed.
const TEXTS: [&str; 3] = ["golden-key", "stone.co:eu_2", "3-north"];

impl Keys {
    /// The column type the registry declares for this kind.
    pub(crate) fn key_type(self) -> TenantKeyType {
        match self {
            Keys::Int => TenantKeyType::BigInt,
            Keys::Uuid => TenantKeyType::Uuid,
            Keys::Text => TenantKeyType::Text,
        }
    }

    /// The SQL type of a tenant column on `backend`, as an application
    /// declaring [`key_type`](Self::key_type) would create it.
    pub(crate) fn column_type(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Keys::Int, _) => "BIGINT",
            (Keys::Uuid, Backend::Postgres) => "UUID",
            (Keys::Uuid, Backend::MySql) => "CHAR(36)",
            (Keys::Text, Backend::Postgres | Backend::MySql) => "VARCHAR(64)",
            (Keys::Uuid | Keys::Text, Backend::Sqlite) => "TEXT",
        }
    }

    /// Tenant `n` (1, 2 or 3).
    ///
    /// # Panics
    ///
    /// For any other `n`.
    pub(crate) fn tenant(self, n: i64) -> TenantId {
        let index = usize::try_from(n - 1)
            .ok()
            .filter(|i| *i < 3)
            .unwrap_or_else(|| panic!("the cases have tenants 1, 2 and 3, not {n}"));
        match self {
            Keys::Int => TenantId::new(n),
            Keys::Uuid => TenantId::uuid(Uuid::parse_str(UUIDS[index]).expect("a UUID")),
            Keys::Text => TenantId::text(TEXTS[index]).expect("a text key"),
        }
    }

    /// Tenant `n`'s key as the database returns it (`2`, or the
    /// lowercase text), which is also the text of a `'...'` literal of it.
    pub(crate) fn key(self, n: i64) -> String {
        self.tenant(n).to_string()
    }

    /// Tenant `n` as a SQL literal of the column's form: `2` for integer
    /// keys, `'...'` for the others.
    pub(crate) fn literal(self, n: i64) -> String {
        match self {
            Keys::Int => n.to_string(),
            Keys::Uuid | Keys::Text => format!("'{}'", self.key(n)),
        }
    }

    /// `column` (a tenant column) as a select item the testkit can render:
    /// PostgreSQL's `uuid` is cast to text, as the testkit's rows ask.
    pub(crate) fn readable(self, backend: Backend, column: &str) -> String {
        if self.needs_cast(backend) {
            format!("CAST({column} AS TEXT)")
        } else {
            column.to_owned()
        }
    }

    /// The select list for every column of a table whose tenant column is
    /// `tenant`: `*`, or the columns spelled out where the tenant column
    /// must be cast to be read.
    pub(crate) fn all_columns(self, backend: Backend, columns: &[&str], tenant: &str) -> String {
        if self.needs_cast(backend) {
            let items: Vec<String> = columns
                .iter()
                .map(|c| {
                    if *c == tenant {
                        format!("{} AS {c}", self.readable(backend, c))
                    } else {
                        (*c).to_owned()
                    }
                })
                .collect();
            items.join(", ")
        } else {
            "*".to_owned()
        }
    }

    /// Literals that name tenant `n` in a form the column doesn't take: a
    /// string for integer keys; for UUIDs a number, capitals, braces, no
    /// hyphens, a URN; for text keys a number, capitals, trailing space
    /// (which MySQL's default collations compare equal to the key).
    pub(crate) fn wrong_forms(self, n: i64) -> Vec<String> {
        let key = self.key(n);
        match self {
            Keys::Int => vec![format!("'{key}'"), format!("{n}.0")],
            Keys::Uuid => vec![
                n.to_string(),
                format!("'{}'", key.to_uppercase()),
                format!("'{{{key}}}'"),
                format!("'{}'", key.replace('-', "")),
                format!("'urn:uuid:{key}'"),
            ],
            Keys::Text => vec![
                n.to_string(),
                format!("'{}'", key.to_uppercase()),
                format!("'{key} '"),
            ],
        }
    }

    fn needs_cast(self, backend: Backend) -> bool {
        self == Keys::Uuid && backend == Backend::Postgres
    }

    /// `sql` with the tenant placeholders rendered: `{t1}`, `{t2}`, `{t3}`
    /// as literals of the column's form, `{key1}`, `{key2}`, `{key3}` as
    /// the bare key text, and `{text:entity_id}` as a readable select item.
    pub(crate) fn render(self, backend: Backend, sql: &str) -> String {
        let mut sql = sql.replace("{text:entity_id}", &self.readable(backend, "entity_id"));
        for n in 1..=3 {
            sql = sql
                .replace(&format!("{{t{n}}}"), &self.literal(n))
                .replace(&format!("{{key{n}}}"), &self.key(n));
        }
        sql
    }
}

/// Turns each named oracle test, `async fn name(keys: Keys)`, into a module
/// `name` of three tests, `int`, `uuid` and `text`, one per kind of key:
/// `each_key_kind!(reads_equal_the_tenants_own_copy);` gives
/// `reads_equal_the_tenants_own_copy::uuid` and its siblings.
macro_rules! each_key_kind {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            use $crate::scoping::keys::Keys;

            #[tokio::test]
            async fn int() {
                super::$test(Keys::Int).await;
            }

            #[tokio::test]
            async fn uuid() {
                super::$test(Keys::Uuid).await;
            }

            #[tokio::test]
            async fn text() {
                super::$test(Keys::Text).await;
            }
        }
    )+};
}

pub(crate) use each_key_kind;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_render_the_sql_as_spelled() {
        let sql = "UPDATE leads SET entity_id = {t2}, note = '{key1}' RETURNING {text:entity_id}";
        for backend in Backend::ALL {
            assert_eq!(
                Keys::Int.render(backend, sql),
                "UPDATE leads SET entity_id = 2, note = '1' RETURNING entity_id"
            );
        }
        assert_eq!(Keys::Int.all_columns(Backend::Postgres, &["id"], "id"), "*");
    }

    #[test]
    fn the_keys_are_distinct_and_print_as_written() {
        for keys in [Keys::Int, Keys::Uuid, Keys::Text] {
            let all: Vec<String> = (1..=3).map(|n| keys.key(n)).collect();
            assert!(all[0] != all[1] && all[1] != all[2] && all[0] != all[2]);
            for n in 1..=3 {
                assert_eq!(keys.tenant(n).kind(), keys.key_type().kind());
            }
        }
        assert_eq!(Keys::Uuid.key(2), UUIDS[1]);
        assert_eq!(Keys::Uuid.literal(2), format!("'{}'", UUIDS[1]));
        assert_eq!(
            Keys::Uuid.render(Backend::Postgres, "SELECT {text:entity_id}"),
            "SELECT CAST(entity_id AS TEXT)"
        );
    }
}
