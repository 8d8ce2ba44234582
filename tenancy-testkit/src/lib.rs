//! Test support for the tenancy workspace: which backends a run has, a fresh
//! empty database per test, statement helpers that read any result as
//! strings, and a connection that leaves PostgreSQL's row-level security as
//! the only wall.
//!
//! The workspace's tests, the reference CRM's tests and the benches use it.
//! It is written so that a later release can publish it for applications to
//! check isolation on their own schema; until then it is `publish = false`.
//!
//! # Backends
//!
//! SQLite always runs. PostgreSQL runs when `TENANCY_POSTGRES_URL` is set and
//! MariaDB (or MySQL) when `TENANCY_MYSQL_URL` is set; `bash .ci/run` starts
//! the local servers and sets both. Without a URL the backend is skipped with
//! a loud `SKIPPED:` line on stderr, except in CI (`CI=true`), where a missing
//! database is a failure, never a skip.
//!
//! # Fixtures
//!
//! [`fixtures`] holds the SeaORM entities of a small CRM-shaped schema
//! (`regions`, `accounts`, `leads`, `calls`) and their DDL per backend, for
//! tests and benches that use SeaORM's own APIs.
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
//! ```
//! use tenancy_testkit::{exec, for_each_backend, rows};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! for_each_backend(|conn| async move {
//!     exec(&conn, "CREATE TABLE note (id INTEGER PRIMARY KEY, body VARCHAR(20))").await;
//!     exec(&conn, "INSERT INTO note (id, body) VALUES (1, 'hi')").await;
//!     assert_eq!(rows(&conn, "SELECT id, body FROM note").await, [["1", "hi"]]);
//! })
//! .await;
//! # }
//! ```

mod backend;
mod db;
pub mod fixtures;
mod policies;
mod rows;
#[cfg(test)]
mod tests;

pub use backend::{Backend, MYSQL_URL_VAR, POSTGRES_URL_VAR, backends};
pub use db::{TestDb, for_each_backend, fresh_db, replace_database, with_db};
pub use policies::PoliciesOnly;
pub use rows::{exec, pg_numeric_text, rows, rows_sorted, try_rows, try_rows_of};
