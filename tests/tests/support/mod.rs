//! The one helper every database test uses: which backends this run has, a
//! fresh empty database per test, and a few statement helpers.
//!
//! Each integration-test binary includes it with `mod support;`.
//!
//! # Backends
//!
//! SQLite always runs. PostgreSQL runs when `TENANCY_POSTGRES_URL` is set and
//! MariaDB (or MySQL) when `TENANCY_MYSQL_URL` is set; `bash .ci/run` starts
//! the local servers and sets both. Without a URL the backend is skipped with
//! a loud `SKIPPED:` line on stderr, except in CI (`CI=true`), where a missing
//! database is a failure, never a skip.
//!
//! # Isolation between tests
//!
//! Every test gets a brand-new, empty database, so tests can run in parallel
//! and never see each other's tables:
//!
//! | backend    | what a test gets                                     |
//! | ---------- | ---------------------------------------------------- |
//! | SQLite     | a file in its own temporary directory                |
//! | PostgreSQL | a schema `t_<unique>`, set as the pool's search_path |
//! | MariaDB    | a database `t_<unique>`                              |
//!
//! [`with_db`] and [`for_each_backend`] drop it again even when the test body
//! panics. A process that is killed (a timeout, Ctrl-C) leaves its `t_*`
//! schemas and databases behind; they are harmless and can be dropped by hand.
//!
//! # Example
//!
//! ```ignore
//! mod support;
//! use support::{exec, for_each_backend, rows};
//!
//! #[tokio::test]
//! async fn reads_back_what_it_wrote() {
//!     for_each_backend(|conn| async move {
//!         exec(&conn, "CREATE TABLE note (id INTEGER PRIMARY KEY, body VARCHAR(20))").await;
//!         exec(&conn, "INSERT INTO note (id, body) VALUES (1, 'hi')").await;
//!         assert_eq!(rows(&conn, "SELECT id, body FROM note").await, [["1", "hi"]]);
//!     })
//!     .await;
//! }
//! ```

// Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

use std::fmt;
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sqlx::postgres::PgValueFormat;
use sea_orm::sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, JsonValue,
    QueryResult, Statement,
};
use tempfile::TempDir;

/// Environment variable holding the PostgreSQL URL, e.g.
/// `postgres://root@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "TENANCY_POSTGRES_URL";

/// Environment variable holding the MariaDB / MySQL URL, e.g.
/// `mysql://root@127.0.0.1:3306/test`.
pub const MYSQL_URL_VAR: &str = "TENANCY_MYSQL_URL";

/// Most connections a test pool opens on a server backend. Small, because
/// every parallel test has its own pool against the same server.
const SERVER_POOL_SIZE: u32 = 5;

/// How long connecting, creating or dropping a test database may take before
/// the helper gives up with a message instead of hanging the run.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

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
    fn url(self) -> Option<String> {
        let var = self.url_var()?;
        std::env::var(var).ok().filter(|url| !url.trim().is_empty())
    }

    /// The configured server URL; panics with the variable to set if missing.
    fn required_url(self) -> String {
        self.url().unwrap_or_else(|| {
            panic!(
                "{} tests need {}; use support::backends() to pick the backends this run has",
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
            other => panic!("the test support module does not know the {other:?} backend"),
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

/// A brand-new, empty database that belongs to one test.
///
/// Made by [`fresh_db`]; give it back with [`TestDb::cleanup`], or let
/// [`with_db`] do both. Dropped without `cleanup` (a test that panics
/// half-way), its SQLite directory is still deleted, but a PostgreSQL schema
/// or MySQL database stays behind: prefer [`with_db`] where a test can fail.
#[derive(Debug)]
pub struct TestDb {
    /// The engine this database lives on.
    pub backend: Backend,
    /// A pool connected to the fresh database (SQLite: one connection,
    /// servers: up to five). Cloning it is cheap and shares the pool.
    pub conn: DatabaseConnection,
    place: Place,
}

/// What [`TestDb::cleanup`] has to remove.
#[derive(Debug)]
enum Place {
    /// The temporary directory holding the database file.
    Sqlite { dir: TempDir, path: String },
    /// A schema created through `admin_url`.
    Postgres { admin_url: String, schema: String },
    /// A database created through `admin_url`.
    MySql { admin_url: String, database: String },
}

/// Makes a new, empty database for one test on `backend`.
///
/// - SQLite: a file in a fresh temporary directory, opened with `mode=rwc`.
/// - PostgreSQL: `CREATE SCHEMA t_<unique>` through the configured URL, and a
///   pool whose `search_path` is that schema, so unqualified names land there.
/// - MySQL: `CREATE DATABASE t_<unique>` and a pool connected to it.
///
/// # Panics
///
/// If the backend's URL is not set (use [`backends`] to choose), or the
/// server refuses to create or connect; the message says which step failed.
pub async fn fresh_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new()
                .prefix("tenancy-test-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temporary directory for SQLite: {e}"));
            let path = dir.path().join("test.db").display().to_string();
            let conn = connect(
                backend,
                ConnectOptions::new(format!("sqlite://{path}?mode=rwc")),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            TestDb {
                backend,
                conn,
                place: Place::Sqlite { dir, path },
            }
        }
        Backend::Postgres => {
            let admin_url = backend.required_url();
            let schema = unique_name();
            admin_exec(backend, &admin_url, &format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut options = ConnectOptions::new(admin_url.clone());
            options
                .set_schema_search_path(schema.clone())
                .max_connections(SERVER_POOL_SIZE);
            let place = Place::Postgres { admin_url, schema };
            connect_or_drop(backend, options, place).await
        }
        Backend::MySql => {
            let admin_url = backend.required_url();
            let database = unique_name();
            let create = format!("CREATE DATABASE {database} CHARACTER SET utf8mb4");
            admin_exec(backend, &admin_url, &create)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut options = ConnectOptions::new(replace_database(&admin_url, &database));
            options.max_connections(SERVER_POOL_SIZE);
            let place = Place::MySql {
                admin_url,
                database,
            };
            connect_or_drop(backend, options, place).await
        }
    }
}

/// Connects the test pool; if that fails, drops what was just created before
/// panicking, so a bad URL does not leave litter on the server.
async fn connect_or_drop(backend: Backend, options: ConnectOptions, place: Place) -> TestDb {
    match connect(backend, options).await {
        Ok(conn) => TestDb {
            backend,
            conn,
            place,
        },
        Err(connect_error) => {
            let leftover = drop_place(backend, place)
                .await
                .err()
                .map(|e| format!("\n(and cleaning up failed too: {e})"))
                .unwrap_or_default();
            panic!("{connect_error}{leftover}")
        }
    }
}

impl TestDb {
    /// The schema (PostgreSQL) or database (MySQL) name, or the database file
    /// path (SQLite), for messages and for queries that must name it.
    pub fn name(&self) -> &str {
        match &self.place {
            Place::Sqlite { path, .. } => path,
            Place::Postgres { schema, .. } => schema,
            Place::MySql { database, .. } => database,
        }
    }

    /// Closes the pool and removes the database: drops the schema (with
    /// `CASCADE`) or the database, or deletes the temporary directory.
    ///
    /// Closing waits for every connection to come back to the pool, for at
    /// most 30 seconds: a clone of [`TestDb::conn`] held by a task that is
    /// still running delays it.
    ///
    /// # Panics
    ///
    /// If the pool does not close in time or the database cannot be dropped;
    /// the message names what was left behind.
    pub async fn cleanup(self) {
        if let Err(e) = self.try_cleanup().await {
            panic!("{e}");
        }
    }

    /// [`TestDb::cleanup`], reporting failure instead of panicking.
    async fn try_cleanup(self) -> Result<(), String> {
        let TestDb {
            backend,
            conn,
            place,
        } = self;
        let mut problems = Vec::new();
        match tokio::time::timeout(ADMIN_TIMEOUT, conn.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(format!("closing the {backend} pool failed: {e}")),
            Err(_) => problems.push(format!(
                "the {backend} pool did not close within {ADMIN_TIMEOUT:?}: a connection is \
                 still checked out (a task still running, or a leaked transaction?)"
            )),
        }
        if let Err(e) = drop_place(backend, place).await {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// Removes the schema, database or directory behind a [`TestDb`].
async fn drop_place(backend: Backend, place: Place) -> Result<(), String> {
    match place {
        Place::Sqlite { dir, path } => dir
            .close()
            .map_err(|e| format!("cannot delete the SQLite test database {path}: {e}")),
        Place::Postgres { admin_url, schema } => {
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            admin_exec(backend, &admin_url, &sql).await
        }
        Place::MySql {
            admin_url,
            database,
        } => {
            let sql = format!("DROP DATABASE IF EXISTS {database}");
            admin_exec(backend, &admin_url, &sql).await
        }
    }
}

/// Runs `body` against a fresh database on `backend`, then cleans up, even
/// if `body` panics.
///
/// The body gets its own clone of the pool (cheap; see [`Backend::of`] for
/// the backend). It runs as a spawned task, so it must be `Send + 'static`:
/// move what it needs into an `async move` block. A panic in the body is
/// re-raised after cleanup, so the test fails with the body's own message.
///
/// # Panics
///
/// When the body panics, when [`fresh_db`] does, and when cleanup fails
/// after a body that passed.
pub async fn with_db<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = fresh_db(backend).await;
    let outcome = tokio::spawn(body(db.conn.clone())).await;
    let name = db.name().to_owned();
    let cleaned = db.try_cleanup().await;
    match outcome {
        Ok(()) => {
            if let Err(e) = cleaned {
                panic!("the test passed on {backend}, but cleaning up {name} failed:\n{e}");
            }
        }
        Err(join_error) => {
            // The body's panic message has been printed already; say where it
            // happened, because the same body runs on every backend.
            eprintln!("the test body failed on {backend} (database {name})");
            if let Err(e) = cleaned {
                eprintln!("cleaning up {name} failed as well:\n{e}");
            }
            match join_error.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(join_error) => {
                    panic!("the test body on {backend} did not finish: {join_error}")
                }
            }
        }
    }
}

/// Runs `body` once on every backend from [`backends`], each time against a
/// fresh database that is cleaned up afterwards, in order, stopping at the
/// first failure.
///
/// # Panics
///
/// As [`with_db`] and [`backends`].
pub async fn for_each_backend<F, Fut>(body: F)
where
    F: Fn(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for backend in backends() {
        with_db(backend, &body).await;
    }
}

/// Runs one raw statement (no parameters) with `execute_unprepared`.
///
/// # Panics
///
/// If the statement fails; the message carries the backend, the error and
/// the SQL. Tests that expect a failure call the connection directly.
pub async fn exec<C: ConnectionTrait>(conn: &C, sql: &str) {
    if let Err(e) = conn.execute_unprepared(sql).await {
        panic!(
            "statement failed on {}: {e}\n  sql: {sql}",
            Backend::of(conn)
        );
    }
}

/// Runs a query and renders every cell as a string, in result order.
///
/// Integers and floats render with Rust's `Display`, text as itself, booleans
/// as `true`/`false` (MySQL and SQLite have none: they show `1`/`0`), JSON as
/// compact JSON, bytes as `0x` and lowercase hex, decimals (`NUMERIC`,
/// `DECIMAL`, as `SUM` returns on PostgreSQL and MySQL) in plain notation with
/// their scale, and NULL as `NULL`. So results compare well within one
/// backend; across backends, cast where the engines differ.
///
/// Works on any [`ConnectionTrait`], so a scoped connection and a plain one
/// can be compared with the same call.
///
/// # Panics
///
/// If the query fails, or a column has a type it can't render (dates, times,
/// UUIDs: cast them to text in the SQL). The message carries the SQL.
pub async fn rows<C: ConnectionTrait>(conn: &C, sql: &str) -> Vec<Vec<String>> {
    try_rows(conn, sql)
        .await
        .unwrap_or_else(|e| panic!("query failed on {}: {e}\n  sql: {sql}", Backend::of(conn)))
}

/// [`rows`], sorted, for comparing result sets whose order is unspecified.
pub async fn rows_sorted<C: ConnectionTrait>(conn: &C, sql: &str) -> Vec<Vec<String>> {
    let mut rows = rows(conn, sql).await;
    rows.sort();
    rows
}

/// [`rows`], returning the database error instead of panicking on it, for
/// tests where refusing or failing is an acceptable outcome.
///
/// # Panics
///
/// If a column has a type it can't render, as [`rows`].
pub async fn try_rows<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<Vec<Vec<String>>, DbErr> {
    try_rows_of(
        conn,
        Statement::from_string(conn.get_database_backend(), sql),
    )
    .await
}

/// [`try_rows`] for a statement with bound values, as SeaORM builds them.
///
/// # Panics
///
/// If a column has a type it can't render, as [`rows`].
pub async fn try_rows_of<C: ConnectionTrait>(
    conn: &C,
    statement: Statement,
) -> Result<Vec<Vec<String>>, DbErr> {
    let sql = statement.sql.clone();
    let results = conn.query_all_raw(statement).await?;
    Ok(results.iter().map(|row| render_row(row, &sql)).collect())
}

/// Renders one result row; see [`rows`].
fn render_row(row: &QueryResult, sql: &str) -> Vec<String> {
    let columns = row.column_names();
    (0..columns.len())
        .map(|index| {
            render_cell(row, index).unwrap_or_else(|| {
                panic!(
                    "rows(): cannot render column {index} ({:?}) of type {}; cast it to text \
                     in the SQL\n  sql: {sql}",
                    columns[index],
                    column_type(row, index),
                )
            })
        })
        .collect()
}

/// Renders one cell, trying each type SeaORM can decode without extra
/// features; `None` if none fits.
fn render_cell(row: &QueryResult, index: usize) -> Option<String> {
    /// Tries `Option<$ty>`: a NULL of any type decodes as `None` on the first
    /// attempt, a value only as a type the driver considers compatible.
    macro_rules! attempt {
        ($ty:ty, $render:expr) => {
            if let Ok(value) = row.try_get_by_index::<Option<$ty>>(index) {
                let render: fn($ty) -> String = $render;
                return Some(value.map_or_else(|| "NULL".to_owned(), render));
            }
        };
    }
    // Integers before booleans: SQLite would happily read 5 as `true`.
    attempt!(i64, |v| v.to_string());
    attempt!(i32, |v| v.to_string());
    attempt!(i16, |v| v.to_string());
    attempt!(i8, |v| v.to_string());
    attempt!(u64, |v| v.to_string());
    attempt!(u32, |v| v.to_string());
    attempt!(f64, |v| v.to_string());
    attempt!(f32, |v| v.to_string());
    attempt!(bool, |v| v.to_string());
    attempt!(String, |v| v);
    attempt!(JsonValue, |v| v.to_string());
    attempt!(Vec<u8>, |bytes| {
        bytes.iter().fold("0x".to_owned(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    });
    render_decimal(row, index)
}

/// Decimals, which SeaORM decodes only with its `with-rust_decimal` or
/// `with-bigdecimal` features, read straight from the driver's value.
fn render_decimal(row: &QueryResult, index: usize) -> Option<String> {
    if let Some(row) = row.try_as_mysql_row() {
        // MySQL sends DECIMAL as its decimal text, even in the binary protocol.
        if row.columns().get(index)?.type_info().name() != "DECIMAL" {
            return None;
        }
        let text: Option<String> = row.try_get_unchecked(index).ok()?;
        return Some(text.unwrap_or_else(|| "NULL".to_owned()));
    }
    if let Some(row) = row.try_as_pg_row() {
        if row.columns().get(index)?.type_info().name() != "NUMERIC" {
            return None;
        }
        let value = row.try_get_raw(index).ok()?;
        if value.is_null() {
            return Some("NULL".to_owned());
        }
        return match value.format() {
            PgValueFormat::Text => value.as_str().ok().map(str::to_owned),
            PgValueFormat::Binary => pg_numeric_text(value.as_bytes().ok()?),
        };
    }
    None
}

/// Renders PostgreSQL's binary `NUMERIC` as PostgreSQL prints it.
///
/// The format: digit count, weight (the power of 10000 of the first digit),
/// sign, display scale, then the base-10000 digits, all big-endian 16-bit.
pub fn pg_numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| {
        let pair = bytes.get(2 * i..2 * i + 2)?;
        Some(u16::from_be_bytes([pair[0], pair[1]]))
    };
    let ndigits = usize::from(word(0)?);
    // The weight is a signed 16-bit value stored in the same bits.
    let weight = i32::from(word(1)?.cast_signed());
    let sign = word(2)?;
    let scale = usize::from(word(3)?);
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        _ => return None,
    };
    let digits = (0..ndigits)
        .map(|k| word(4 + k))
        .collect::<Option<Vec<u16>>>()?;
    let digit = |k: i32| usize::try_from(k).ok().and_then(|k| digits.get(k)).copied();

    let mut text = String::new();
    if negative {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        // The first group prints without leading zeros, the others as four
        // decimal digits; groups past the last stored one are zero.
        let _ = write!(text, "{}", digit(0).unwrap_or(0));
        for k in 1..=weight {
            let _ = write!(text, "{:04}", digit(k).unwrap_or(0));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut k = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(k).unwrap_or(0));
            k += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

/// The driver's name for a column's type, for error messages.
fn column_type(row: &QueryResult, index: usize) -> String {
    let name = if let Some(row) = row.try_as_sqlite_row() {
        row.columns()
            .get(index)
            .map(|c| c.type_info().name().to_owned())
    } else if let Some(row) = row.try_as_pg_row() {
        row.columns()
            .get(index)
            .map(|c| c.type_info().name().to_owned())
    } else if let Some(row) = row.try_as_mysql_row() {
        row.columns()
            .get(index)
            .map(|c| c.type_info().name().to_owned())
    } else {
        None
    };
    name.unwrap_or_else(|| "unknown".to_owned())
}

/// A lowercase name no other test, test process or earlier run uses:
/// `t_<pid>_<counter>_<nanoseconds>`, in hex, under 30 characters, well
/// inside the 63 (PostgreSQL) and 64 (MySQL) character limits.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Guards against a reused process id meeting a leftover from a killed run.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("t_{:x}_{n:x}_{nanos:x}", std::process::id())
}

/// `url` with its database path replaced by `database`, keeping the scheme,
/// credentials, host, port and query string:
/// `mysql://root@h:3306/test?x=1` becomes `mysql://root@h:3306/<database>?x=1`.
pub fn replace_database(url: &str, database: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        panic!("{url:?} is not a URL (expected scheme://host/database)");
    };
    // Reserved characters in credentials are percent-encoded, so the first
    // '/', '?' or '#' ends the authority.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find(['?', '#']).map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// Opens a pool, with a message that names the backend and the URL (without
/// its password) on failure.
async fn connect(
    backend: Backend,
    mut options: ConnectOptions,
) -> Result<DatabaseConnection, String> {
    let url = redact(options.get_url());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(ADMIN_TIMEOUT);
    match tokio::time::timeout(ADMIN_TIMEOUT, Database::connect(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {backend} at {url}: {e}")),
        Err(_) => Err(format!(
            "connecting to {backend} at {url} took longer than {ADMIN_TIMEOUT:?}"
        )),
    }
}

/// Runs one statement on a short-lived single connection to `url`: creating
/// and dropping test databases must not depend on the test's own pool.
async fn admin_exec(backend: Backend, url: &str, sql: &str) -> Result<(), String> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).min_connections(0);
    let conn = connect(backend, options).await?;
    let result = match tokio::time::timeout(ADMIN_TIMEOUT, conn.execute_unprepared(sql)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("`{sql}` failed on {backend}: {e}")),
        Err(_) => Err(format!(
            "`{sql}` on {backend} took longer than {ADMIN_TIMEOUT:?} (a lock held elsewhere?)"
        )),
    };
    // Closing a single idle admin connection can't meaningfully fail; the
    // statement's own outcome is what matters.
    let _ = tokio::time::timeout(ADMIN_TIMEOUT, conn.close()).await;
    result
}

/// `url` with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
