//! A fail-closed, tenant-scoped SeaORM connection.
#![forbid(unsafe_code)]

mod plan;
mod refusal;
mod registry;
mod rewrite;

pub use refusal::Refusal;
pub use registry::{
    DEFAULT_TENANT_COLUMN, RegistryError, TableRegistry, TableRegistryBuilder, TableRule,
};
mod connection;
pub use connection::{TenantConnection, TenantTransaction};
