//! The SeaORM-backed stores on real databases: the tenant directory, the
//! config registry's store, and tenant lifecycle (onboarding, export,
//! purge).
//!
//! One test binary for the area; each module is one store.

mod config_store;
mod directory_store;
mod lifecycle;
