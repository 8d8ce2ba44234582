//! Which backends this run has: SQLite always, PostgreSQL and MySQL when
//! their URL variable is set.

use std::fmt;
use std::io::Write as _;
use std::sync::Once;

use sea_orm::{ConnectionTrait, DbBackend};

/// Environment variable holding the PostgreSQL URL, e.g.
/// `postgres://root@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "TENANCY_POSTGRES_URL";

/// Environment variable holding the MariaDB / MySQL URL, e.g.
/// `mysql://root@127.0.0.1:3306/test`.
pub const MYSQL_URL_VAR: &str = "TENANCY_MYSQL_URL";

/// A database engine the tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, always available (a temporary file per test).
    Sqlite,
    /// PostgreSQL, when [`POSTGRES_URL_VAR`] is set.
    Postgres,
    /// MariaDB or MySQL, when [`MYSQL_URL_VAR`] is set.
    MySql,
}

impl Backend {
    /// Every backend, whether or not this run has it.
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    /// The SeaORM dialect of this backend.
    pub fn db_backend(self) -> DbBackend {
        match self {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
            Backend::MySql => DbBackend::MySql,
        }
    }

    /// A human name for messages: `SQLite`, `PostgreSQL` or `MySQL`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL",
        }
    }

    /// The environment variable that enables this backend, `None` for SQLite.
    pub fn url_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(POSTGRES_URL_VAR),
            Backend::MySql => Some(MYSQL_URL_VAR),
        }
    }

    /// The backend a connection talks to.
    ///
    /// # Panics
    ///
    /// If SeaORM reports a dialect this module does not know.
    pub fn of<C: ConnectionTrait>(conn: &C) -> Backend {
        Backend::from(conn.get_database_backend())
    }

    /// The configured server URL, if the variable is set and not empty.
    pub(crate) fn url(self) -> Option<String> {
        let var = self.url_var()?;
        std::env::var(var).ok().filter(|url| !url.trim().is_empty())
    }

    /// The configured server URL; panics with the variable to set if missing.
    pub(crate) fn required_url(self) -> String {
        self.url().unwrap_or_else(|| {
            panic!(
                "{} tests need {}; use tenancy_testkit::backends() to pick the backends this run has",
                self.name(),
                self.url_var().unwrap_or("a URL"),
            )
        })
    }
}

impl From<DbBackend> for Backend {
    fn from(backend: DbBackend) -> Self {
        match backend {
            DbBackend::Sqlite => Backend::Sqlite,
            DbBackend::Postgres => Backend::Postgres,
            DbBackend::MySql => Backend::MySql,
            // `DbBackend` is non-exhaustive; a new dialect needs a decision here.
            other => panic!("tenancy-testkit does not know the {other:?} backend"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The backends this run tests, SQLite first.
///
/// PostgreSQL and MySQL are included when their URL variable is set. When one
/// is missing, the backend is skipped with one loud `SKIPPED:` line on stderr
/// per test binary.
///
/// # Panics
///
/// In CI (`CI` is `true` or `1`) when a URL is missing: a database that CI
/// was meant to have and doesn't is a failure, never a silent skip.
pub fn backends() -> Vec<Backend> {
    static SKIP_POSTGRES: Once = Once::new();
    static SKIP_MYSQL: Once = Once::new();

    let mut found = vec![Backend::Sqlite];
    for (backend, once) in [
        (Backend::Postgres, &SKIP_POSTGRES),
        (Backend::MySql, &SKIP_MYSQL),
    ] {
        let var = backend.url_var().unwrap_or_default();
        if backend.url().is_some() {
            found.push(backend);
        } else if in_ci() {
            panic!(
                "{var} is not set, but CI is: in CI a missing {} database is a failure, \
                 not a skip (`bash .ci/run` starts the local servers and sets the URLs)",
                backend.name(),
            );
        } else {
            once.call_once(|| {
                // Straight to the stderr handle: libtest captures `eprintln!`
                // and shows it only for failing tests, and a skip must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: {} tests (set {var} to run them; `bash .ci/run` does)",
                    backend.name(),
                );
            });
        }
    }
    found
}

/// Whether this process runs in CI, where skipping a backend is an error.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}
