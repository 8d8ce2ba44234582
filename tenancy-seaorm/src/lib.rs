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
//!   where no outer join can null-extend the table (whether joined with
//!   `ON`, `NATURAL` or `USING`); in the `ON` of the join that null-extends
//!   it where that filters it exactly as filtering it first would (the
//!   right side of a `LEFT JOIN`, the left table of a first `RIGHT JOIN`);
//!   and `(SELECT * FROM t WHERE t.entity_id = ?) AS t` where no such `ON`
//!   exists (`FULL` joins, the nullable side of a `NATURAL` / `USING` outer
//!   join). An `OR` in the user's condition can't widen the scope, outer
//!   joins keep their meaning, and the database plans it like a
//!   hand-written filter, with the same index.
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
//! time, scoping a statement is a cache lookup (about 0.15 µs beyond
//! cloning the statement). The first time costs about three parses of the
//! statement by sqlparser: it is parsed, checked and rewritten, rendered,
//! and the rendering is parsed again and must give the checked tree.
//!
//! # What reaches the server
//!
//! The database never runs the caller's text: it runs the statement
//! rendered back from the tree that was checked, and the rendering leaves
//! the server no other reading.
//!
//! - Every name is quoted in the backend's quoting (`"..."` on PostgreSQL,
//!   backquotes on MySQL and SQLite), after the server's own folding of
//!   unquoted names: ASCII letters only, never Unicode case rules, so a
//!   look-alike such as `tasK` (KELVIN SIGN) is a different name here, as
//!   on the server. Only keywords and allowlisted function names stay
//!   unquoted, and the rendered tokens are checked for it.
//! - Text the servers lex differently from the parser is refused
//!   ([`Refusal::Lexical`]): a token glued to a number (MariaDB reads
//!   `1.5FROM` as `1.5 FROM`), an unquoted name that isn't a plain
//!   identifier, any non-ASCII name on MySQL (its column names compare
//!   under Unicode collations), and literals whose meaning depends on a
//!   server setting: a backslash in a string on MySQL
//!   (`NO_BACKSLASH_ESCAPES`) or in a plain `'...'` on PostgreSQL
//!   (`standard_conforming_strings`), and `"..."` strings on MySQL
//!   (`ANSI_QUOTES`). Bind such values as parameters; `E'...'` works on
//!   PostgreSQL.
//! - A name that could mean two things is refused: a CTE or an alias named
//!   like a registered table, scoped or global, in any case and at any
//!   depth ([`Refusal::AmbiguousCte`], [`Refusal::AmbiguousName`]), a
//!   CTE's own name inside its non-recursive body or a later sibling's,
//!   and an outer CTE referenced from inside a nested `WITH` (MariaDB
//!   10.11 reads the base table there). An `UPDATE` may only `SET` columns
//!   of its guarded targets.
//! - Every relation the statement names, in any position of the tree,
//!   must have been scoped or checked by the walk, or the statement is
//!   refused; `x IN table` (SQLite) is refused.
//! - Input is bounded before anything recursive runs: 1 MiB of text and a
//!   nesting depth of 256 by default ([`TableRegistryBuilder::max_statement_bytes`],
//!   [`TableRegistryBuilder::max_nesting_depth`]), chosen from measured
//!   stack use so that no input can overflow a 2 MiB thread ([`Refusal::TooLarge`],
//!   [`Refusal::TooDeep`]). The work is linear in the statement.
//!
//! # Functions
//!
//! A function call is where the server runs code the rewrite can't see,
//! so only functions on a per-backend allowlist may be called: aggregates,
//! window functions, string, numeric, date/time and JSON functions,
//! conditionals, casts, chosen from each server's manual as reading
//! nothing but their arguments. Functions that run SQL given as text
//! (`ts_rewrite`, `query_to_xml`, `dblink`), touch files, the network,
//! locks or session state (`load_file`, `pg_sleep`, `get_lock`,
//! `set_config`, `nextval`) and every function the application defined
//! are refused with [`Refusal::Function`], unless the application allows
//! them with [`TableRegistryBuilder::allow_function`], on its own
//! responsibility. Custom operators are refused too.
//!
//! # Limits
//!
//! What the library does not defend against:
//!
//! - Code defined in the database: a function you allow, a view registered
//!   as global, a trigger, a rule or a default runs its own SQL, which the
//!   rewrite can't see or scope. Don't give tenant code functions or views
//!   that read tenant tables without a tenant argument.
//! - Unregistered tables are refused by name, but the database's grants
//!   are what stops code it runs on its own behalf from reading them.
//! - Session state the application sets around the connection (a pooler
//!   that changes `search_path` or `sql_mode`) can make a registered name
//!   resolve elsewhere; literals are kept setting-independent, names are
//!   not re-resolved.
//! - Uniqueness that spans tenants (a unique key without the tenant column)
//!   still reveals, through conflicts, that another tenant has a value; the
//!   rewrite keeps upserts from changing that tenant's row, but the schema
//!   itself should lead every key with the tenant column.
//! - On SQLite, a `"name"` that matches no column is a string literal to
//!   the server; the rendering backquotes every name, so there it is an
//!   error instead.
//! - Table names follow each backend's rules for case: PostgreSQL folds
//!   unquoted names, SQLite ignores ASCII case, and MySQL is matched
//!   exactly as written (its default on Linux).
//! - `INSERT` needs a column list (the tenant column's position must be
//!   known); `INSERT ... SELECT` can't name the tenant column itself.
//!
//! What PostgreSQL row-level security adds ([`rls`]): policies on every
//! scoped table keyed on a per-transaction setting, so that a reference
//! the rewrite got wrong still reads only the tenant's rows. Measured on
//! the attacks that led to these rules, with the rewrite out of the way,
//! the policies alone stop the ones that read a scoped table (the
//! look-alike CTE name returned only the tenant's row), but not those
//! that read an unregistered table (`ts_rewrite` over `platform_secret`,
//! the `standard_conforming_strings = off` literal): those only the grants
//! can stop. And a tenant that can call `set_config` can change its own
//! policy setting, which is why the allowlist refuses it.
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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod config_store;
mod connection;
pub mod cross_tenant;
pub mod directory_store;
mod flavor;
mod key;
pub mod lifecycle;
mod plan;
mod refusal;
mod registry;
mod rewrite;
pub mod rls;
mod rules;
pub mod schema_audit;

pub use config_store::SeaOrmConfigStore;
pub use connection::{TenantConnection, TenantTransaction};
pub use cross_tenant::{AuditSink, CrossTenantRead, CrossTenantReader};
pub use directory_store::{DirectoryWriteError, SeaOrmDirectory};
pub use key::TenantKeyType;
pub use lifecycle::{LifecycleError, PurgeMode, PurgeReport};
pub use refusal::Refusal;
pub use registry::{
    DEFAULT_TENANT_COLUMN, RegistryError, TableRegistry, TableRegistryBuilder, TableRule,
};
pub use rls::{RlsError, RowLevelSecurity, VerifiedRls};
pub use schema_audit::{SchemaAuditError, SchemaFinding};

// The README's example runs as a doc test, so it can't drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
