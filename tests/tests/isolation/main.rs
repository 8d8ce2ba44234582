//! The isolation guarantee on real databases: each construct the rewrite
//! handles, attacks on the parser, SeaORM's own APIs, concurrency, the
//! second wall (row-level security), the schema audit, the cross-tenant
//! reader, and the tower layers end to end.
//!
//! One test binary for the whole area, so the workspace links a few test
//! binaries instead of one per file; each module is one idea.

mod attacks;
mod concurrency;
mod cross_tenant;
mod explain;
mod forms;
mod group_by_key;
mod layers;
mod rls;
mod schema_audit;
mod scoping;
mod seaorm_api;
mod shared_pool;
mod uuid_keys;
