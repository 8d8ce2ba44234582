//! The tower layers through `ServiceExt::oneshot`: host normalisation, every
//! resolution strategy and rejection, session binding and the per-tenant
//! concurrency limit.
//!
//! One test binary for the area (the span test has its own; see
//! `tests/spans.rs`).

mod host_properties;
mod resolve;
mod session_and_limit;
