//! The SQL rewrite on arbitrary text: never panics, and whatever it accepts
//! parses again with the same dialect and options the rewrite uses. The
//! output may itself be refused on a second pass, so idempotence is not
//! checked.
//!
//! Input: the first byte picks the backend and the tenant key type (an
//! integer, a UUID as text, a text key), the rest is the SQL.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sea_orm::{DbBackend, Statement};
use sqlparser::{
    dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect},
    parser::{Parser, ParserOptions},
};
use tenancy_core::TenantId;
use tenancy_seaorm::{Refusal, TableRegistry, TenantKeyType};

// Built once per key type: the plan cache lives in the registry, so the
// cached path sees statements from earlier inputs too. Two tenant column
// names and a global table, so every kind of table reference is reached.
static REGISTRIES: LazyLock<[TableRegistry; 3]> = LazyLock::new(|| {
    [TenantKeyType::BigInt, TenantKeyType::Uuid, TenantKeyType::Text].map(|key| {
        TableRegistry::builder()
            .tenant_key(key)
            .scoped_table("leads")
            .scoped_table("accounts")
            .scoped_table_by("calls", "company_id")
            .global_table("regions")
            .build()
            .expect("a valid registry")
    })
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, sql)) = data.split_first() else {
        return;
    };
    let Ok(sql) = std::str::from_utf8(sql) else {
        return;
    };
    let (backend, dialect): (_, &dyn Dialect) = match pick % 3 {
        0 => (DbBackend::Sqlite, &SQLiteDialect {}),
        1 => (DbBackend::Postgres, &PostgreSqlDialect {}),
        _ => (DbBackend::MySql, &MySqlDialect {}),
    };

    let key = usize::from(pick / 3 % 3);
    let registry = &REGISTRIES[key];
    let tenant = match key {
        0 => TenantId::new(7),
        1 => TenantId::uuid(tenancy_core::uuid::Uuid::from_u128(7)),
        _ => TenantId::text("tenant-7").expect("a valid text key"),
    };

    if let Ok(out) = registry.rewrite_uncached(backend, sql) {
        // The rewrite keeps literals as written and allows nesting up to
        // twice its depth limit (256) plus 50; parse with the same settings,
        // or an accepted escape or deep statement would fail here for the
        // wrong reason.
        let parsed = Parser::new(dialect)
            .with_options(ParserOptions::new().with_unescape(false))
            .with_recursion_limit(256 * 2 + 50)
            .try_with_sql(&out)
            .and_then(|mut parser| parser.parse_statements());
        match parsed {
            Ok(statements) => assert_eq!(statements.len(), 1, "{backend:?}: {sql:?} -> {out:?}"),
            Err(e) => panic!("{backend:?}: {sql:?} -> {out:?} does not parse: {e}"),
        }
    }

    // Twice: the first call plans and caches, the second is a cache hit and
    // must bind the same way.
    let first = registry.scope_statement(Statement::from_string(backend, sql), tenant);
    let second = registry.scope_statement(Statement::from_string(backend, sql), tenant);
    assert_eq!(
        first.is_ok(),
        second.is_ok(),
        "{backend:?}: {sql:?}: cache changed the outcome"
    );
    // With placeholders, bind as many values, all the tenant's, so the
    // tenant checks pass and MySQL's slot mapping runs too.
    if let Err(Refusal::Parameters { placeholders, .. }) = first {
        let values = vec![tenant.into(); placeholders];
        let stmt = Statement::from_sql_and_values(backend, sql, values);
        let _ = registry.scope_statement(stmt, tenant);
    }
});
