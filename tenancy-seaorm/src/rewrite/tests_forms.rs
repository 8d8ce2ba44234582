//! Exact-SQL tests for the statement forms of issue 15: which are scoped,
//! which stay refused, and with what reason.
//!
//! What sqlparser 0.64 reads decides part of it: it does not parse
//! a statement that starts with `TABLE`, or
//! `INSERT INTO t AS alias` with the SQLite dialect, so those are refused
//! as unparseable before the rewrite sees them.

use sea_orm::DbBackend;

use crate::{Refusal, TableRegistry};

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .scoped_table("accounts")
        .global_table("countries")
        .build()
        .unwrap()
}

fn mysql(sql: &str) -> Result<String, Refusal> {
    registry().rewrite_uncached(DbBackend::MySql, sql)
}

/// The refusal's message, for a refusal of the expected kind.
fn refused(backend: DbBackend, sql: &str, kind: &str) -> String {
    match registry().rewrite_uncached(backend, sql) {
        Ok(out) => panic!("{sql}: accepted as {out}"),
        Err(refusal) => {
            assert_eq!(refusal.kind(), kind, "{sql}: {refusal}");
            refusal.to_string()
        }
    }
}

#[test]
fn mysql_update_left_join_guards_the_nullable_side_in_its_on() {
    // The written table's guard in WHERE after the whole condition; the
    // nullable side's in its ON, which filters it as a derived table would.
    assert_eq!(
        mysql("UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET l.name = a.name WHERE l.id = ? OR 1 = 1").unwrap(),
        "UPDATE `leads` `l` LEFT JOIN `accounts` `a` ON (`a`.`id` = `l`.`account_id`) AND `a`.`entity_id` = ? \
         SET `l`.`name` = `a`.`name` WHERE (`l`.`id` = ? OR 1 = 1) AND `l`.`entity_id` = ?"
    );
    // LEFT OUTER, unaliased, and a subquery in the ON scoped like any other.
    assert_eq!(
        mysql("UPDATE leads LEFT OUTER JOIN accounts ON accounts.id = (SELECT max(id) FROM accounts) SET leads.name = 'x'").unwrap(),
        "UPDATE `leads` LEFT OUTER JOIN `accounts` ON (`accounts`.`id` = (SELECT max(`id`) FROM `accounts` \
         WHERE `accounts`.`entity_id` = ?)) AND `accounts`.`entity_id` = ? SET `leads`.`name` = 'x' \
         WHERE `leads`.`entity_id` = ?"
    );
    // RIGHT JOIN: the left table is the nullable side.
    assert_eq!(
        mysql("UPDATE accounts a RIGHT JOIN leads l ON a.id = l.account_id SET l.name = a.name")
            .unwrap(),
        "UPDATE `accounts` `a` RIGHT JOIN `leads` `l` ON (`a`.`id` = `l`.`account_id`) AND `a`.`entity_id` = ? \
         SET `l`.`name` = `a`.`name` WHERE `l`.`entity_id` = ?"
    );
    // An inner join before the outer one: guarded in WHERE as before.
    assert_eq!(
        mysql("UPDATE leads l JOIN accounts a ON a.id = l.account_id LEFT JOIN accounts b ON b.id = a.id SET l.name = b.name").unwrap(),
        "UPDATE `leads` `l` JOIN `accounts` `a` ON `a`.`id` = `l`.`account_id` LEFT JOIN `accounts` `b` \
         ON (`b`.`id` = `a`.`id`) AND `b`.`entity_id` = ? SET `l`.`name` = `b`.`name` \
         WHERE `l`.`entity_id` = ? AND `a`.`entity_id` = ?"
    );
    // A read-only global on the nullable side: read, never written, no guard.
    assert_eq!(
        mysql("UPDATE leads l LEFT JOIN countries c ON c.id = l.country_id SET l.name = c.name")
            .unwrap(),
        "UPDATE `leads` `l` LEFT JOIN `countries` `c` ON `c`.`id` = `l`.`country_id` \
         SET `l`.`name` = `c`.`name` WHERE `l`.`entity_id` = ?"
    );
    // The tenant column of the written side: checked as in any UPDATE.
    assert!(
        mysql("UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET l.entity_id = ?")
            .is_ok()
    );
    assert!(mysql("UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET l.entity_id = l.entity_id").is_ok());
    assert_eq!(
        refused(
            DbBackend::MySql,
            "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET l.entity_id = a.entity_id",
            "tenant_column"
        ),
        "refused: the tenant column `entity_id` of `leads` can only be set to the connection's tenant"
    );
}

#[test]
fn mysql_update_never_writes_the_nullable_side() {
    let nullable = refused(
        DbBackend::MySql,
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET a.name = l.name",
        "construct",
    );
    assert!(
        nullable.contains("`a.name`, on the nullable side of an outer join"),
        "{nullable}"
    );
    let nullable = refused(
        DbBackend::MySql,
        "UPDATE accounts a RIGHT JOIN leads l ON a.id = l.account_id SET l.name = 'x', a.name = 'y'",
        "construct",
    );
    assert!(
        nullable.contains("`a.name`, on the nullable side"),
        "{nullable}"
    );
    // Unqualified, the column could be the nullable side's.
    let unqualified = refused(
        DbBackend::MySql,
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id SET name = 'x'",
        "construct",
    );
    assert!(
        unqualified.contains("unqualified assignment to `name`"),
        "{unqualified}"
    );
    // A nullable table no join's ON can guard (here the leftmost, under a
    // later RIGHT JOIN), and outer joins without ON.
    let unguardable = refused(
        DbBackend::MySql,
        "UPDATE leads l LEFT JOIN accounts a ON a.id = l.account_id RIGHT JOIN leads l2 ON l2.id = l.id SET l2.name = 'x'",
        "construct",
    );
    assert!(
        unguardable.contains("no join's ON can guard it"),
        "{unguardable}"
    );
    for sql in [
        "UPDATE leads l LEFT JOIN accounts a USING (id) SET l.name = 'x'",
        "UPDATE leads l NATURAL LEFT JOIN accounts a SET l.name = 'x'",
    ] {
        let message = refused(DbBackend::MySql, sql, "construct");
        assert!(message.contains("NATURAL or USING"), "{sql}: {message}");
    }
    // DELETE with an outer join is not part of this: still refused.
    let delete = refused(
        DbBackend::MySql,
        "DELETE l FROM leads l LEFT JOIN accounts a ON a.id = l.account_id WHERE a.id IS NULL",
        "construct",
    );
    assert!(
        delete.contains("outer join in a multi-table DELETE"),
        "{delete}"
    );
}

#[test]
fn mysql_row_alias_upsert_is_refused_by_name() {
    for sql in [
        "INSERT INTO leads (id, name) VALUES (1, 'a') AS new ON DUPLICATE KEY UPDATE name = new.name",
        "INSERT INTO leads (id, name) VALUES (1, 'a') AS new (i, n) ON DUPLICATE KEY UPDATE name = n",
    ] {
        let message = refused(DbBackend::MySql, sql, "construct");
        assert!(message.contains("row alias"), "{message}");
        assert!(message.contains("MariaDB"), "{message}");
    }
    // VALUES(col), which MariaDB has, is the way.
    assert!(mysql("INSERT INTO leads (id, name) VALUES (1, 'a') ON DUPLICATE KEY UPDATE name = VALUES(name)").is_ok());
}

#[test]
fn lock_in_share_mode_is_read_as_for_share_and_rendered_back() {
    // sqlparser 0.64 reads `FOR UPDATE` and `FOR SHARE`, not MySQL's
    // `LOCK IN SHARE MODE` (which SeaORM's `lock_shared()` renders for
    // MySQL, and the only shared lock MariaDB 10.11 has): the words are
    // taken off, the query gets `FOR SHARE`, and MySQL output says it the
    // way both servers read.
    assert_eq!(
        mysql("SELECT * FROM leads WHERE id = 1 LOCK IN SHARE MODE").unwrap(),
        "SELECT * FROM `leads` WHERE (`id` = 1) AND `leads`.`entity_id` = ? LOCK IN SHARE MODE"
    );
    assert_eq!(
        mysql("select * from leads lock in share mode;").unwrap(),
        "SELECT * FROM `leads` WHERE `leads`.`entity_id` = ? LOCK IN SHARE MODE"
    );
    // A plain FOR SHARE too, which MariaDB would not read.
    assert_eq!(
        mysql("SELECT * FROM leads WHERE id = 1 FOR SHARE").unwrap(),
        "SELECT * FROM `leads` WHERE (`id` = 1) AND `leads`.`entity_id` = ? LOCK IN SHARE MODE"
    );
    // With NOWAIT or OF it stays FOR SHARE (MySQL 8 syntax).
    assert!(
        mysql("SELECT * FROM leads FOR SHARE NOWAIT")
            .unwrap()
            .ends_with("FOR SHARE NOWAIT")
    );
    // Not a MySQL form elsewhere, nor anywhere but at the end of a query.
    for (backend, sql) in [
        (
            DbBackend::Postgres,
            "SELECT * FROM leads LOCK IN SHARE MODE",
        ),
        (DbBackend::Sqlite, "SELECT * FROM leads LOCK IN SHARE MODE"),
        (
            DbBackend::MySql,
            "SELECT * FROM (SELECT * FROM leads LOCK IN SHARE MODE) l",
        ),
        (
            DbBackend::MySql,
            "SELECT * FROM leads LOCK IN SHARE MODE FOR UPDATE",
        ),
        (DbBackend::MySql, "SELECT * FROM leads `LOCK` IN SHARE MODE"),
    ] {
        refused(backend, sql, "unparseable");
    }
    for sql in [
        "SELECT * FROM leads FOR UPDATE LOCK IN SHARE MODE",
        "DELETE FROM leads LOCK IN SHARE MODE",
    ] {
        let message = refused(DbBackend::MySql, sql, "construct");
        assert!(message.contains("LOCK IN SHARE MODE"), "{sql}: {message}");
    }
}

#[test]
fn insert_alias_is_parsed_on_postgres_only() {
    // SQLite has `INSERT INTO t AS alias`, sqlparser's SQLite dialect does not.
    refused(
        DbBackend::Sqlite,
        "INSERT INTO leads AS l (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = l.name || excluded.name",
        "unparseable",
    );
    // On PostgreSQL the upsert's guard names the alias.
    assert_eq!(
        registry().rewrite_uncached(
            DbBackend::Postgres,
            "INSERT INTO leads AS l (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = l.name || excluded.name",
        ).unwrap(),
        r#"INSERT INTO "leads" AS "l" ("id", "name", "entity_id") VALUES (1, 'a', $1) ON CONFLICT("id") DO UPDATE SET "name" = "l"."name" || "excluded"."name" WHERE "l"."entity_id" = $1"#
    );
}

#[test]
fn table_statements_are_refused() {
    // A statement that starts with TABLE is not parsed at all.
    refused(DbBackend::Postgres, "TABLE leads", "unparseable");
    // Inside a query it is parsed, and refused by name.
    for sql in [
        "SELECT * FROM accounts UNION TABLE leads",
        "SELECT * FROM (TABLE leads) t",
    ] {
        let message = refused(DbBackend::Postgres, sql, "construct");
        assert!(message.contains("TABLE"), "{sql}: {message}");
    }
}

#[test]
fn merge_is_refused_by_name_with_its_reason() {
    let message = refused(
        DbBackend::Postgres,
        "MERGE INTO leads l USING accounts a ON a.id = l.account_id \
         WHEN MATCHED THEN UPDATE SET name = a.name \
         WHEN NOT MATCHED THEN INSERT (id, name) VALUES (a.id, a.name)",
        "construct",
    );
    assert!(
        message.contains("MERGE") && message.contains("NOT MATCHED"),
        "{message}"
    );
}
