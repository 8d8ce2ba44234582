//! Exact-SQL tests for the join forms: where a guard goes through
//! `NATURAL`, `USING` and outer joins.

use crate::TableRegistry;

#[allow(dead_code)]
fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .scoped_table("accounts")
        .build()
        .unwrap()
}
