//! Cross-crate tests for the tenancy workspace.
//!
//! This crate ships no code. It exists to hold the tests that span more than
//! one crate: property tests of the isolation guarantee and end-to-end tests
//! that run on SQLite, PostgreSQL and MariaDB. They live in `tests/`, one
//! binary per area (`isolation`, `properties`, `stores`, and `spans`, which
//! must run alone), and use `tenancy-testkit`, which reads the
//! `TENANCY_POSTGRES_URL` / `TENANCY_MYSQL_URL` variables, gives every test a
//! fresh database or schema and cleans it up afterwards.

// The README's Rust examples run as doc tests here, so the README can't drift
// from the code.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
