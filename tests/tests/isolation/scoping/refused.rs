//! Statements the rewrite refuses: the typed refusal, and no row changed.

use sea_orm::{ConnectionTrait, Statement};
use tenancy_seaorm::Refusal;
use tenancy_testkit::rows_sorted;

use super::keys::{Keys, each_key_kind};
use super::{MYSQL, On, PG, PG_MYSQL, PG_SQLITE, SQLITE, T, with_pair};

/// Statements refused before reaching the database: (backends, SQL, the
/// refusal's kind). `{t1}` is tenant 1's key as a literal of the column's
/// form, `{key1}` its bare text.
const REFUSED: &[(On, &str, &str)] = &[
    (On::All, "SELECT * FROM secrets", "unregistered_table"),
    (
        On::All,
        "SELECT l.id FROM leads l JOIN secrets s ON s.entity_id = l.entity_id",
        "unregistered_table",
    ),
    (
        On::All,
        "SELECT id FROM leads WHERE id IN (SELECT id FROM secrets)",
        "unregistered_table",
    ),
    (
        On::All,
        "WITH x AS (SELECT * FROM secrets) SELECT * FROM x",
        "unregistered_table",
    ),
    (
        On::All,
        "SELECT * FROM other_schema.leads",
        "unregistered_table",
    ),
    (
        PG_MYSQL,
        "SELECT * FROM information_schema.tables",
        "unregistered_table",
    ),
    (
        PG,
        "SELECT * FROM pg_catalog.pg_class",
        "unregistered_table",
    ),
    (PG, "SELECT * FROM pg_class", "unregistered_table"),
    (SQLITE, "SELECT * FROM sqlite_master", "unregistered_table"),
    (MYSQL, "SELECT * FROM mysql.user", "unregistered_table"),
    (PG, "SELECT * FROM \"Leads\"", "unregistered_table"),
    (MYSQL, "SELECT * FROM LEADS", "unregistered_table"),
    (
        On::All,
        "UPDATE regions SET name = 'mine'",
        "global_table_write",
    ),
    (On::All, "DELETE FROM regions", "global_table_write"),
    (
        On::All,
        "INSERT INTO regions (id, name) VALUES (9, 'x')",
        "global_table_write",
    ),
    (
        On::All,
        "INSERT INTO leads (id, entity_id, name, status) VALUES (300, {t1}, 'theirs', 'new')",
        "foreign_tenant",
    ),
    (
        On::All,
        "INSERT INTO leads (id, entity_id, name, status) VALUES (300, {t2}, 'mine', 'new'), (301, {t3}, 'theirs', 'new')",
        "foreign_tenant",
    ),
    (
        On::All,
        "UPDATE leads SET entity_id = {t1} WHERE id = 2",
        "foreign_tenant",
    ),
    (
        On::All,
        "UPDATE leads SET entity_id = entity_id - 1",
        "tenant_column",
    ),
    (
        On::All,
        "INSERT INTO leads (id, entity_id, name, status) SELECT id + 900, entity_id, name, status FROM leads",
        "tenant_column",
    ),
    (
        MYSQL,
        // MySQL's INSERT ... SET is checked like a column list.
        "INSERT INTO leads SET id = 301, entity_id = {t1}, name = 'x', status = 'new'",
        "foreign_tenant",
    ),
    (
        On::All,
        // Without a column list, the tenant column's position comes from
        // the order the registry read from the database.
        "INSERT INTO leads VALUES (300, {t1}, NULL, 'x', 'new', NULL, NULL)",
        "foreign_tenant",
    ),
    (
        PG_SQLITE,
        "INSERT INTO leads (id, name, status) VALUES (1, 'x', 'y') ON CONFLICT (id) DO UPDATE SET entity_id = {t1}",
        "foreign_tenant",
    ),
    (
        MYSQL,
        "REPLACE INTO leads (id, name, status) VALUES (1, 'hijack', 'new')",
        "construct",
    ),
    (
        SQLITE,
        "INSERT OR REPLACE INTO leads (id, name, status) VALUES (1, 'hijack', 'new')",
        "construct",
    ),
    (
        SQLITE,
        "REPLACE INTO leads (id, name, status) VALUES (1, 'hijack', 'new')",
        "construct",
    ),
    (
        SQLITE,
        "UPDATE OR REPLACE leads SET id = 1 WHERE id = 2",
        "construct",
    ),
    (
        MYSQL,
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET a.name = 'x'",
        "construct",
    ),
    (On::All, "CREATE TABLE evil (id INTEGER)", "statement"),
    (On::All, "DROP TABLE leads", "statement"),
    (
        On::All,
        "ALTER TABLE leads ADD COLUMN x INTEGER",
        "statement",
    ),
    (PG_MYSQL, "TRUNCATE leads", "statement"),
    (PG_MYSQL, "TRUNCATE TABLE leads", "statement"),
    (
        On::All,
        "SELECT 1; DELETE FROM leads",
        "multiple_statements",
    ),
    (
        On::All,
        "DELETE FROM leads WHERE id = 2; DELETE FROM leads",
        "multiple_statements",
    ),
    (On::All, "SELEKT * FROM leads", "unparseable"),
    (On::All, "", "empty"),
    (
        PG,
        "SELECT query_to_xml('select * from leads', true, false, '')",
        "function",
    ),
    (
        PG,
        "SELECT set_config('app.tenant', '{key1}', false)",
        "function",
    ),
    (PG, "SELECT * INTO leads_copy FROM leads", "construct"),
    (
        PG,
        "WITH gone AS (DELETE FROM leads RETURNING id) SELECT * FROM gone",
        "construct",
    ),
    (
        PG,
        "SELECT * FROM dblink('dbname=test', 'select * from leads') AS t(id int)",
        "construct",
    ),
    (SQLITE, "SELECT load_extension('x')", "function"),
    (MYSQL, "SELECT load_file('/etc/passwd')", "function"),
    (
        On::All,
        "WITH leads AS (SELECT * FROM leads) SELECT * FROM leads",
        "ambiguous_cte",
    ),
    (
        On::All,
        "SELECT accounts.id, accounts.name FROM leads AS accounts",
        "ambiguous_name",
    ),
    (
        On::All,
        "SELECT leads.id, accounts.id FROM accounts AS leads JOIN leads AS accounts ON accounts.account_id = leads.id",
        "ambiguous_name",
    ),
    // A CTE named like a registered table is refused whatever it reads:
    // servers disagree on which one a nested reference means.
    (
        On::All,
        "WITH leads AS (SELECT id, name FROM accounts) SELECT id, name FROM leads",
        "ambiguous_cte",
    ),
    (
        On::All,
        "WITH accounts AS (SELECT id, name FROM leads) SELECT a.id, a.name FROM accounts a",
        "ambiguous_cte",
    ),
    (
        On::All,
        "INSERT INTO leads (id, name, status) WITH leads AS (SELECT id, name FROM accounts) SELECT id + 800, name, 'cte' FROM leads",
        "ambiguous_cte",
    ),
];

/// The own tenant's key written in a form the column doesn't take (see
/// [`Keys::wrong_forms`]). A server may store it as a key no connection
/// reads (capitals in MySQL's `CHAR(36)`), or match it to a key only by its
/// collation (MySQL compares `'KEY '` equal to `'key'`): the library can't
/// check it, so it refuses it.
fn wrong_forms(keys: Keys) -> Vec<(On, String, &'static str)> {
    let mut cases = Vec::new();
    for literal in keys.wrong_forms(T) {
        cases.push((
            On::All,
            format!("INSERT INTO leads (id, entity_id, name, status) VALUES (300, {literal}, 'mine', 'new')"),
            "tenant_column",
        ));
        cases.push((
            On::All,
            format!("UPDATE leads SET entity_id = {literal} WHERE id = 2"),
            "tenant_column",
        ));
    }
    cases
}

each_key_kind!(refused_statements_change_nothing);

async fn refused_statements_change_nothing(keys: Keys) {
    with_pair(keys, |pair| async move {
        let mut failures = Vec::new();
        let spelled = REFUSED
            .iter()
            .map(|(on, sql, kind)| (*on, pair.for_shared(sql), *kind));
        for (on, sql, kind) in spelled.chain(wrong_forms(pair.keys)) {
            if !on.has(pair.backend) {
                continue;
            }
            let before = pair.dump(&pair.shared, None).await;
            let result = pair
                .scoped
                .execute_raw(Statement::from_string(pair.backend.db_backend(), &sql))
                .await;
            match result {
                Ok(_) => failures.push(format!("{sql}: ran, expected refusal `{kind}`")),
                Err(err) => match Refusal::from_db_err(&err) {
                    Some(refusal) if refusal.kind() == kind => {}
                    Some(refusal) => failures.push(format!(
                        "{sql}: refused as `{}` ({refusal}), expected `{kind}`",
                        refusal.kind()
                    )),
                    None => {
                        failures.push(format!("{sql}: failed in the database, not refused: {err}"))
                    }
                },
            }
            if pair.dump(&pair.shared, None).await != before {
                failures.push(format!("{sql}: CHANGED ROWS"));
            }
        }
        // The unregistered table is still there and untouched.
        let secret = rows_sorted(&pair.shared, "SELECT body FROM secrets").await;
        assert_eq!(secret, vec![vec!["tenant one only".to_owned()]]);
        assert!(
            failures.is_empty(),
            "{} on {} with {:?} keys:\n{}",
            failures.len(),
            pair.backend,
            pair.keys,
            failures.join("\n")
        );
    })
    .await;
}
