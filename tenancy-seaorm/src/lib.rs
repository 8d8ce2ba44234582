//! A fail-closed, tenant-scoped SeaORM connection.
//!
//! [`TenantConnection`] wraps any SeaORM connection for one tenant. Every
//! statement that goes through it, whether SeaORM built it or you wrote raw
//! SQL, is parsed, rewritten so it can only read and write that tenant's
//! rows, and sent with the tenant as a bind parameter; or it is refused with
//! a typed [`Refusal`] before anything reaches the database. A
//! [`TableRegistry`] says which tables are tenant-scoped (and by which
//! column) and which are global; every other table is refused.
//!
//! # Example
//!
//! ```
//! use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, EntityTrait, Set};
//! use tenancy_seaorm::{Refusal, TableRegistry, TenantConnection};
//!
//! mod lead {
//!     use sea_orm::entity::prelude::*;
//!
//!     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
//!     #[sea_orm(table_name = "leads")]
//!     pub struct Model {
//!         #[sea_orm(primary_key)]
//!         pub id: i32,
//!         pub entity_id: i64,
//!         pub name: String,
//!     }
//!
//!     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//!     pub enum Relation {}
//!
//!     impl ActiveModelBehavior for ActiveModel {}
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.execute_unprepared("CREATE TABLE leads (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, name TEXT NOT NULL)").await?;
//! db.execute_unprepared("INSERT INTO leads VALUES (1, 1, 'Golden Key lead'), (2, 2, 'Stone lead')").await?;
//!
//! // Once, at start-up: `leads` is scoped by its `entity_id` column.
//! let registry = TableRegistry::builder().scoped::<lead::Entity>().build()?;
//!
//! // Per request or job: a connection that can only reach tenant 1.
//! let golden_key = TenantConnection::new(db.clone(), registry.clone(), 1);
//!
//! let leads = lead::Entity::find().all(&golden_key).await?;
//! assert_eq!(leads.iter().map(|l| l.id).collect::<Vec<_>>(), [1]);
//! assert!(lead::Entity::find_by_id(2).one(&golden_key).await?.is_none());
//!
//! // Inserts are stamped with the tenant.
//! let new = lead::ActiveModel { id: Set(3), name: Set("New lead".into()), ..Default::default() };
//! assert_eq!(new.insert(&golden_key).await?.entity_id, 1);
//!
//! // Raw SQL is scoped too: this deletes tenant 1's leads, not tenant 2's.
//! golden_key.execute_unprepared("DELETE FROM leads WHERE name LIKE '%lead' OR 1 = 1").await?;
//! assert_eq!(lead::Entity::find().all(&db).await?.len(), 1);
//!
//! // What can't be proven scoped is refused, with a typed reason.
//! let err = golden_key.execute_unprepared("DROP TABLE leads").await.unwrap_err();
//! assert_eq!(Refusal::from_db_err(&err), Some(&Refusal::Statement("DROP TABLE".into())));
//! # Ok(()) }
//! ```
//!
//! # How statements are scoped
//!
//! - Reads: each reference to a scoped table, in FROM and every JOIN kind,
//!   in subqueries anywhere, in CTEs and set operations, is restricted to
//!   the tenant: `AND t.entity_id = ?` after the SELECT's whole condition
//!   where no outer join can null-extend the table, and
//!   `(SELECT * FROM t WHERE t.entity_id = ?) AS t` where one can (and for
//!   `NATURAL` / `USING` joins). An `OR` in the user's condition can't widen
//!   the scope, outer joins keep their meaning, and the database plans it
//!   like a hand-written filter, with the same index.
//! - Inserts: the tenant column is added with the tenant's value; a value
//!   the caller gives for it must equal the tenant; `INSERT ... SELECT` has
//!   its SELECT scoped.
//! - Updates and deletes: `AND t.entity_id = ?` after the whole condition;
//!   the tenant column can't be changed.
//! - Upserts: `ON CONFLICT DO UPDATE` and `ON DUPLICATE KEY UPDATE` can't
//!   change another tenant's row; `REPLACE` and `INSERT OR REPLACE` are
//!   refused.
//!
//! The tenant is always a bind parameter, so the rewritten text is the same
//! for every tenant and is cached by the statement's text: after the first
//! time, scoping a statement is a cache lookup.
//!
//! # Limits
//!
//! The rewrite sees the statement, not what the database does on its
//! behalf. What it can't see, it refuses where it can tell:
//!
//! - Functions that run SQL given as text, read files or change settings
//!   (`query_to_xml`, `dblink`, `set_config`, `load_extension`,
//!   `load_file`, `pg_*`, ...) are refused, as are table functions other
//!   than a few that read no table (`generate_series`, `unnest`,
//!   `json_each`, ...). A function *you* define in the database is called
//!   by name and runs its own SQL: the rewrite can't scope what is inside
//!   it, so don't give tenant code functions that read tenant tables
//!   without a tenant argument. The same holds for views registered as
//!   global and for triggers. PostgreSQL row-level security is the second
//!   wall for these.
//! - Table names follow each backend's rules for case: PostgreSQL folds
//!   unquoted names to lowercase, SQLite ignores case, and MySQL is matched
//!   exactly as written (its default on Linux); a name that doesn't match
//!   a registered table is refused.
//! - A CTE's own name inside its non-recursive body, or a later sibling's,
//!   means different things on different backends and is refused; write
//!   `WITH RECURSIVE` for a recursive CTE, also on SQLite.
//! - `INSERT` needs a column list (the tenant column's position must be
//!   known); `INSERT ... SELECT` can't name the tenant column itself.
//! - Uniqueness that spans tenants (a unique key without the tenant column)
//!   still reveals, through conflicts, that another tenant has a value; the
//!   rewrite keeps upserts from changing that tenant's row, but the schema
//!   itself should lead every key with the tenant column.
//!
//! # Feature flags
//!
//! None are needed to use the connection, which works over any SeaORM
//! connection. For convenience, `sqlite`, `postgres` and `mysql` enable the
//! matching SeaORM sqlx driver with the tokio runtime.
//!
//! # How it fails
//!
//! Refused statements return a [`DbErr`](sea_orm::DbErr) that carries a
//! [`Refusal`] (see [`Refusal::from_db_err`]) and are logged at WARN with
//! the tenant and the reason, never the bound values. Nothing of a refused
//! statement reaches the database: a string holding several statements is
//! refused whole. Each statement runs in a `tenancy.statement` tracing span
//! carrying the tenant.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod config_store;
mod connection;
pub mod cross_tenant;
pub mod directory_store;
pub mod lifecycle;
mod plan;
mod refusal;
mod registry;
mod rewrite;
pub mod rls;

pub use audit::{AuditError, Finding};
pub use config_store::SeaOrmConfigStore;
pub use connection::{TenantConnection, TenantTransaction};
pub use cross_tenant::{AuditSink, CrossTenantRead, CrossTenantReader};
pub use directory_store::{DirectoryWriteError, SeaOrmDirectory};
pub use lifecycle::{LifecycleError, PurgeReport};
pub use refusal::Refusal;
pub use registry::{
    DEFAULT_TENANT_COLUMN, RegistryError, TableRegistry, TableRegistryBuilder, TableRule,
};
pub use rls::{RlsError, RowLevelSecurity, VerifiedRls};
