//! A brand-new, empty database per test, dropped again afterwards.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tempfile::TempDir;

use crate::{Backend, backends};

/// Most connections a test pool opens on a server backend. Small, because
/// every parallel test has its own pool against the same server.
const SERVER_POOL_SIZE: u32 = 5;

/// How long connecting, creating or dropping a test database may take before
/// the helper gives up with a message instead of hanging the run.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

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
