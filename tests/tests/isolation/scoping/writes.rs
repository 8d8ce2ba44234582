//! Writes and upserts: other tenants' rows unchanged, the tenant's rows as on D|t.

use tenancy_testkit::{Backend, try_rows};

use super::keys::{Keys, each_key_kind};
use super::{MYSQL, MYSQL_SQLITE, On, PG, PG_SQLITE, SQLITE, T, with_pair};

/// Writes: (backends, name, SQL). The same SQL runs through the scoped
/// connection on D and directly on D|t. `{t2}` is tenant 2's key as a
/// literal, `{text:entity_id}` the column as the rows can read it.
const WRITES: &[(On, &str, &str)] = &[
    (
        On::All,
        "insert one row",
        "INSERT INTO leads (id, account_id, name, status) VALUES (100, 2, 'new one', 'new')",
    ),
    (
        On::All,
        "insert many rows",
        "INSERT INTO leads (id, name, status) VALUES (101, 'a', 'new'), (102, 'b', 'hot'), (103, 'c', 'lost')",
    ),
    (
        On::All,
        "insert naming the own tenant",
        "INSERT INTO leads (id, entity_id, name, status) VALUES (104, {t2}, 'mine', 'new')",
    ),
    (
        On::All,
        "insert without a column list",
        "INSERT INTO leads VALUES (106, {t2}, 2, 'no list', 'new', 5, NULL), (107, {t2}, NULL, 'no list 2', 'hot', NULL, 'x@y')",
    ),
    (
        PG,
        "insert without a column list, fewer values than columns",
        "INSERT INTO leads VALUES (108, {t2}, NULL, 'short', 'new')",
    ),
    (
        MYSQL,
        "insert with SET",
        "INSERT INTO leads SET id = 109, name = 'via set', status = 'new', account_id = 2",
    ),
    (
        MYSQL,
        "insert with SET naming the own tenant",
        "INSERT INTO leads SET id = 110, entity_id = {t2}, name = 'via set', status = 'new'",
    ),
    (
        On::All,
        "insert into a table with another tenant column",
        "INSERT INTO calls (id, lead_id, disposition, seconds) VALUES (100, 2, 'sale', 30)",
    ),
    (
        On::All,
        "insert select",
        "INSERT INTO leads (id, name, status) SELECT id + 500, name, 'copied' FROM accounts",
    ),
    (
        On::All,
        "insert select with join and OR",
        "INSERT INTO calls (id, lead_id, disposition, seconds) SELECT l.id + 500, l.id, 'callback', 0 FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = 'hot' OR 1 = 1",
    ),
    (
        On::All,
        "insert select union",
        "INSERT INTO leads (id, name, status) SELECT id + 600, name, 'u' FROM accounts UNION SELECT id + 700, name, 'u' FROM accounts",
    ),
    (
        PG_SQLITE,
        "insert returning",
        "INSERT INTO leads (id, name, status) VALUES (105, 'r', 'new') RETURNING id, {text:entity_id}, name",
    ),
    (
        PG_SQLITE,
        "delete with a WITH clause",
        "WITH c AS (SELECT id FROM leads WHERE status = 'new' OR 1 = 1) DELETE FROM leads WHERE id IN (SELECT id FROM c)",
    ),
    (
        PG_SQLITE,
        "update with a WITH clause",
        "WITH c AS (SELECT id FROM accounts) UPDATE leads SET status = 'via cte' WHERE account_id IN (SELECT id FROM c)",
    ),
    (
        PG_SQLITE,
        "insert select with a WITH clause",
        "WITH c AS (SELECT id, name FROM accounts) INSERT INTO leads (id, name, status) SELECT id + 800, name, 'cte' FROM c",
    ),
    (
        On::All,
        "update with OR",
        "UPDATE leads SET status = 'hot' WHERE status = 'new' OR 1 = 1",
    ),
    (
        On::All,
        "update everything",
        "UPDATE calls SET seconds = seconds + 1",
    ),
    (
        On::All,
        "update with subqueries",
        "UPDATE leads SET score = (SELECT count(*) FROM calls WHERE calls.lead_id = leads.id) WHERE account_id IN (SELECT id FROM accounts WHERE name <> 'x')",
    ),
    (
        On::All,
        "update setting the tenant column to itself",
        "UPDATE leads SET entity_id = entity_id, status = 'kept' WHERE id > 0",
    ),
    (
        On::All,
        "update naming the own tenant",
        "UPDATE leads SET entity_id = {t2}, name = 'same tenant' WHERE id = 2",
    ),
    (
        PG_SQLITE,
        "update from",
        "UPDATE leads SET name = a.name FROM accounts a WHERE a.id = leads.account_id",
    ),
    (
        PG_SQLITE,
        "update returning",
        "UPDATE leads SET score = 1 WHERE status = 'hot' RETURNING id, score",
    ),
    (
        MYSQL,
        "multi-table update",
        "UPDATE leads l JOIN accounts a ON a.id = l.account_id SET l.name = a.name, a.region_id = 2",
    ),
    (
        MYSQL,
        "update with order and limit",
        "UPDATE leads SET status = 'first' ORDER BY id LIMIT 2",
    ),
    (
        On::All,
        "delete with OR",
        "DELETE FROM calls WHERE disposition = 'sale' OR 1 = 1",
    ),
    (
        On::All,
        "delete with subquery",
        "DELETE FROM calls WHERE lead_id IN (SELECT id FROM leads WHERE status = 'lost')",
    ),
    (On::All, "delete everything", "DELETE FROM calls"),
    (
        PG,
        "delete using",
        "DELETE FROM calls USING leads l WHERE l.id = calls.lead_id AND l.status = 'hot'",
    ),
    (
        PG_SQLITE,
        "delete returning",
        "DELETE FROM calls WHERE seconds > 100 RETURNING id",
    ),
    (
        MYSQL,
        "multi-table delete",
        "DELETE c FROM calls c JOIN leads l ON l.id = c.lead_id WHERE l.status = 'hot'",
    ),
    (
        MYSQL,
        "multi-table delete of both",
        "DELETE c, l FROM calls c JOIN leads l ON l.id = c.lead_id WHERE l.status = 'lost'",
    ),
    (
        MYSQL,
        "delete using (MySQL)",
        "DELETE FROM c USING calls c JOIN leads l ON l.id = c.lead_id WHERE l.status = 'new'",
    ),
    (
        PG_SQLITE,
        "upsert on own row",
        "INSERT INTO leads (id, name, status) VALUES (2, 'upserted', 'hot') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    ),
    (
        PG_SQLITE,
        "upsert do nothing",
        "INSERT INTO leads (id, name, status) VALUES (2, 'ignored', 'hot') ON CONFLICT DO NOTHING",
    ),
    (
        PG_SQLITE,
        "upsert with a WHERE of its own",
        "INSERT INTO leads (id, name, status) VALUES (5, 'w', 'hot') ON CONFLICT (id) DO UPDATE SET name = excluded.name WHERE leads.status <> 'x' OR 1 = 1",
    ),
    (
        MYSQL,
        "on duplicate key on own row",
        "INSERT INTO leads (id, name, status) VALUES (2, 'upserted', 'hot') ON DUPLICATE KEY UPDATE name = VALUES(name), status = 'dup'",
    ),
    (
        MYSQL,
        "insert ignore",
        "INSERT IGNORE INTO leads (id, name, status) VALUES (2, 'ignored', 'hot'), (106, 'fresh', 'new')",
    ),
    (
        SQLITE,
        "insert or ignore",
        "INSERT OR IGNORE INTO leads (id, name, status) VALUES (2, 'ignored', 'hot'), (106, 'fresh', 'new')",
    ),
];

each_key_kind!(
    writes_touch_only_the_tenants_rows,
    upserts_never_touch_another_tenants_row
);

async fn writes_touch_only_the_tenants_rows(keys: Keys) {
    with_pair(keys, |pair| async move {
        let mut failures = Vec::new();
        for (on, name, sql) in WRITES {
            if !on.has(pair.backend) {
                continue;
            }
            pair.reset().await;
            let before = pair.others().await;
            let expected = try_rows(&pair.only, &pair.for_only(sql)).await;
            let got = try_rows(&pair.scoped, &pair.for_shared(sql)).await;
            if let Err(e) = &got {
                failures.push(format!("{name}: {sql}\n  failed through the scoped connection: {e}"));
                continue;
            }
            if let Err(e) = &expected {
                failures.push(format!("{name}: {sql}\n  the oracle failed on D|t: {e}"));
                continue;
            }
            let (mut expected, mut got) = (expected.unwrap_or_default(), got.unwrap_or_default());
            expected.sort();
            got.sort();
            if expected != got {
                failures.push(format!("{name}: returned rows differ\n  expected {expected:?}\n       got {got:?}"));
            }
            if pair.others().await != before {
                failures.push(format!("{name}: {sql}\n  CHANGED ANOTHER TENANT'S ROWS"));
            }
            let mine = pair.dump(&pair.shared, Some(T)).await;
            let oracle = pair.dump(&pair.only, None).await;
            if mine != oracle {
                failures.push(format!("{name}: {sql}\n  tenant rows differ from D|t\n  expected {oracle:?}\n       got {mine:?}"));
            }
        }
        assert!(failures.is_empty(), "{} on {} with {:?} keys:\n{}", failures.len(), pair.backend, pair.keys, failures.join("\n"));
    })
    .await;
}

/// Upserts that collide with another tenant's row through a key that spans
/// tenants (`leads.email`, `leads.id`). On D|t there is no collision, so the
/// oracle can't compare t's rows; the guarantee that matters is that the
/// other tenant's row is untouched and nothing moved between tenants.
const FOREIGN_CONFLICTS: &[(On, &str, &str)] = &[
    (
        PG_SQLITE,
        "do update on another tenant's id",
        "INSERT INTO leads (id, name, status) VALUES (1, 'hijack', 'hot') ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status",
    ),
    (
        PG_SQLITE,
        "do update on another tenant's email",
        "INSERT INTO leads (id, name, status, email) VALUES (200, 'hijack', 'hot', 'l1@example.com') ON CONFLICT (email) DO UPDATE SET name = 'hijacked'",
    ),
    (
        MYSQL,
        "duplicate key on another tenant's id",
        "INSERT INTO leads (id, name, status) VALUES (1, 'hijack', 'hot') ON DUPLICATE KEY UPDATE name = VALUES(name), status = 'hijacked', score = 999",
    ),
    (
        MYSQL,
        "duplicate key on another tenant's email",
        "INSERT INTO leads (id, name, status, email) VALUES (200, 'hijack', 'hot', 'l1@example.com') ON DUPLICATE KEY UPDATE name = 'hijacked'",
    ),
    (
        MYSQL_SQLITE,
        "ignore on another tenant's id",
        "INSERT IGNORE INTO leads (id, name, status) VALUES (1, 'hijack', 'hot')",
    ),
];

async fn upserts_never_touch_another_tenants_row(keys: Keys) {
    with_pair(keys, |pair| async move {
        let mut failures = Vec::new();
        for (on, name, sql) in FOREIGN_CONFLICTS {
            if !on.has(pair.backend) {
                continue;
            }
            // SQLite spells `INSERT IGNORE` as `INSERT OR IGNORE`.
            let sql = match pair.backend {
                Backend::Sqlite => sql.replace("INSERT IGNORE", "INSERT OR IGNORE"),
                _ => (*sql).to_owned(),
            };
            let sql = pair.for_shared(&sql);
            pair.reset().await;
            let before_others = pair.others().await;
            let before_mine = pair.dump(&pair.shared, Some(T)).await;
            if let Err(e) = try_rows(&pair.scoped, &sql).await {
                failures.push(format!("{name}: {sql}\n  failed: {e}"));
            }
            if pair.others().await != before_others {
                failures.push(format!("{name}: {sql}\n  CHANGED ANOTHER TENANT'S ROW"));
            }
            if pair.dump(&pair.shared, Some(T)).await != before_mine {
                failures.push(format!("{name}: {sql}\n  changed the tenant's rows"));
            }
        }
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
