//! The CRM's tables, and which of them the tenancy layer scopes.
//!
//! Every business table carries `entity_id`, and it leads the primary key,
//! every unique key and every foreign key, so uniqueness and references can
//! never cross companies (and the tenant column is a ready distribution key
//! for a sharded PostgreSQL). The platform tables (sessions, operators,
//! their audit trail) belong to no company.
//!
//! The DDL is plain SQL that SQLite, PostgreSQL and MariaDB all accept.

use sea_orm::{ConnectionTrait, DbErr};
use tenancy_seaorm::TableRegistry;

/// Scoped tables, in foreign-key order.
pub const SCOPED: [&str; 8] = [
    "users",
    "accounts",
    "pipelines",
    "stages",
    "leads",
    "calls",
    "reminders",
    "sync_log",
];

const DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        email VARCHAR(120) NOT NULL,
        name VARCHAR(120) NOT NULL,
        role VARCHAR(16) NOT NULL,
        password_hash VARCHAR(200) NOT NULL,
        PRIMARY KEY (entity_id, id),
        UNIQUE (entity_id, email)
    )",
    "CREATE TABLE IF NOT EXISTS accounts (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        name VARCHAR(120) NOT NULL,
        PRIMARY KEY (entity_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS pipelines (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        name VARCHAR(120) NOT NULL,
        PRIMARY KEY (entity_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS stages (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        pipeline_id BIGINT NOT NULL,
        ord INTEGER NOT NULL,
        name VARCHAR(60) NOT NULL,
        PRIMARY KEY (entity_id, id),
        UNIQUE (entity_id, pipeline_id, ord),
        FOREIGN KEY (entity_id, pipeline_id) REFERENCES pipelines (entity_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS leads (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        account_id BIGINT,
        stage_id BIGINT NOT NULL,
        owner_id BIGINT NOT NULL,
        name VARCHAR(120) NOT NULL,
        phone VARCHAR(40) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (entity_id, id),
        FOREIGN KEY (entity_id, account_id) REFERENCES accounts (entity_id, id),
        FOREIGN KEY (entity_id, stage_id) REFERENCES stages (entity_id, id),
        FOREIGN KEY (entity_id, owner_id) REFERENCES users (entity_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS calls (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        lead_id BIGINT NOT NULL,
        agent_id BIGINT NOT NULL,
        disposition VARCHAR(40) NOT NULL,
        duration_s INTEGER NOT NULL,
        outcome VARCHAR(200) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (entity_id, id),
        FOREIGN KEY (entity_id, lead_id) REFERENCES leads (entity_id, id),
        FOREIGN KEY (entity_id, agent_id) REFERENCES users (entity_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS reminders (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        call_id BIGINT NOT NULL,
        lead_id BIGINT NOT NULL,
        due_at BIGINT NOT NULL,
        PRIMARY KEY (entity_id, id),
        UNIQUE (entity_id, call_id),
        FOREIGN KEY (entity_id, call_id) REFERENCES calls (entity_id, id),
        FOREIGN KEY (entity_id, lead_id) REFERENCES leads (entity_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS sync_log (
        entity_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        call_id BIGINT NOT NULL,
        credential_fingerprint VARCHAR(80) NOT NULL,
        synced_at BIGINT NOT NULL,
        PRIMARY KEY (entity_id, id),
        UNIQUE (entity_id, call_id),
        FOREIGN KEY (entity_id, call_id) REFERENCES calls (entity_id, id)
    )",
    // Platform tables: no company owns them.
    "CREATE TABLE IF NOT EXISTS sessions (
        token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
        entity_id BIGINT,
        user_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS operators (
        id BIGINT NOT NULL PRIMARY KEY,
        email VARCHAR(120) NOT NULL UNIQUE,
        name VARCHAR(120) NOT NULL,
        password_hash VARCHAR(200) NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS operator_audit (
        id BIGINT NOT NULL PRIMARY KEY,
        operator_id BIGINT NOT NULL,
        at BIGINT NOT NULL,
        action VARCHAR(60) NOT NULL,
        detail VARCHAR(400) NOT NULL
    )",
];

/// Creates every table the CRM needs (idempotent), including the tenancy
/// directory's and configuration store's own.
///
/// # Errors
///
/// The database's error.
pub async fn migrate<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    // The CRM keys its companies by integer.
    let key = tenancy_seaorm::TenantKeyType::BigInt;
    tenancy_seaorm::directory_store::migrate(conn, key).await?;
    tenancy_seaorm::config_store::migrate(conn, key).await?;
    for ddl in DDL {
        conn.execute_unprepared(ddl).await?;
    }
    Ok(())
}

/// The table registry every scoped connection of the CRM uses: the business
/// tables, scoped by `entity_id`. The platform tables are not in it, so a
/// company's connection cannot reach them at all.
///
/// # Errors
///
/// Only if the table list above is inconsistent.
pub fn tables() -> Result<TableRegistry, tenancy_seaorm::RegistryError> {
    let mut builder = TableRegistry::builder();
    for table in SCOPED {
        builder = builder.scoped_table(table);
    }
    builder.build()
}
