//! Exact-SQL tests for the statement forms of issue 15: which are scoped,
//! which stay refused, and with what reason.

use crate::TableRegistry;

#[allow(dead_code)]
fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .scoped_table("accounts")
        .build()
        .unwrap()
}
