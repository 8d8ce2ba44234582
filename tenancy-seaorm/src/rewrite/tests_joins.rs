//! Exact-SQL tests for the join forms: where a guard goes through
//! `NATURAL`, `USING` and outer joins.
//!
//! A table that no outer join null-extends is guarded in the SELECT's
//! WHERE, qualified by its alias or name, whether it is joined with `ON`,
//! `NATURAL` or `USING`: a qualified reference names the table's own column
//! on PostgreSQL, MariaDB and SQLite even when that column is merged by the
//! join, and a filter on such a table commutes with every join of the item.
//! The nullable side of a `NATURAL`/`USING` outer join has no `ON` to hold
//! its guard, and both sides of a `FULL` join are null-extended: those stay
//! derived tables, as do the tables inside a parenthesised join.

use sea_orm::DbBackend;

use crate::TableRegistry;

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .scoped_table("accounts")
        .scoped_table_by("calls", "company_id")
        .global_table("countries")
        .build()
        .unwrap()
}

fn pg(sql: &str) -> String {
    on(DbBackend::Postgres, sql)
}

fn on(backend: DbBackend, sql: &str) -> String {
    registry()
        .rewrite_uncached(backend, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `(SELECT * FROM "t" WHERE "t"."col" = $1) "alias"`, as PostgreSQL
/// renders a derived table.
fn derived(table: &str, column: &str, alias: &str) -> String {
    format!(r#"(SELECT * FROM "{table}" WHERE "{table}"."{column}" = $1) "{alias}""#)
}

#[test]
fn inner_using_keeps_both_tables_and_guards_them_in_where() {
    // The query of issue 15: PostgreSQL accepts `a.name` beside
    // `GROUP BY a.id` only while `a` is a table.
    assert_eq!(
        pg(
            "SELECT a.id, a.name, count(*) FROM leads l JOIN accounts a USING (entity_id) GROUP BY a.id"
        ),
        r#"SELECT "a"."id", "a"."name", count(*) FROM "leads" "l" JOIN "accounts" "a" USING("entity_id") WHERE "l"."entity_id" = $1 AND "a"."entity_id" = $1 GROUP BY "a"."id""#
    );
    // Several columns, and the caller's condition in parentheses before the
    // guards, so its OR can't widen them.
    assert_eq!(
        pg(
            "SELECT l.id FROM leads l INNER JOIN accounts a USING (id, name) WHERE a.id = 1 OR l.name = 'x'"
        ),
        r#"SELECT "l"."id" FROM "leads" "l" INNER JOIN "accounts" "a" USING("id", "name") WHERE ("a"."id" = 1 OR "l"."name" = 'x') AND "l"."entity_id" = $1 AND "a"."entity_id" = $1"#
    );
}

#[test]
fn natural_join_without_aliases_is_guarded_by_table_name() {
    assert_eq!(
        pg("SELECT * FROM leads NATURAL JOIN accounts"),
        r#"SELECT * FROM "leads" NATURAL JOIN "accounts" WHERE "leads"."entity_id" = $1 AND "accounts"."entity_id" = $1"#
    );
    // Each table by its own tenant column.
    assert_eq!(
        pg("SELECT count(*) FROM calls NATURAL JOIN leads"),
        r#"SELECT count(*) FROM "calls" NATURAL JOIN "leads" WHERE "calls"."company_id" = $1 AND "leads"."entity_id" = $1"#
    );
}

#[test]
fn left_using_guards_the_preserved_side_in_where_and_wraps_the_nullable_one() {
    assert_eq!(
        pg(
            "SELECT l.id, l.name, count(a.id) FROM leads l LEFT JOIN accounts a USING (entity_id) GROUP BY l.id"
        ),
        format!(
            r#"SELECT "l"."id", "l"."name", count("a"."id") FROM "leads" "l" LEFT JOIN {} USING("entity_id") WHERE "l"."entity_id" = $1 GROUP BY "l"."id""#,
            derived("accounts", "entity_id", "a")
        )
    );
    assert_eq!(
        pg("SELECT * FROM leads NATURAL LEFT JOIN accounts"),
        r#"SELECT * FROM "leads" NATURAL LEFT JOIN (SELECT * FROM "accounts" WHERE "accounts"."entity_id" = $1) AS "accounts" WHERE "leads"."entity_id" = $1"#
    );
}

#[test]
fn right_using_guards_the_preserved_side_in_where_and_wraps_the_nullable_one() {
    assert_eq!(
        pg("SELECT a.id, a.name FROM leads l RIGHT JOIN accounts a USING (id) GROUP BY a.id"),
        format!(
            r#"SELECT "a"."id", "a"."name" FROM {} RIGHT JOIN "accounts" "a" USING("id") WHERE "a"."entity_id" = $1 GROUP BY "a"."id""#,
            derived("leads", "entity_id", "l")
        )
    );
    // A later RIGHT JOIN null-extends every table before it.
    assert_eq!(
        pg(
            "SELECT c.id FROM leads l JOIN accounts a USING (entity_id) RIGHT JOIN calls c USING (id)"
        ),
        format!(
            r#"SELECT "c"."id" FROM {} JOIN {} USING("entity_id") RIGHT JOIN "calls" "c" USING("id") WHERE "c"."company_id" = $1"#,
            derived("leads", "entity_id", "l"),
            derived("accounts", "entity_id", "a")
        )
    );
}

#[test]
fn full_joins_stay_derived_on_both_sides() {
    for sql in [
        "SELECT * FROM leads l FULL JOIN accounts a USING (id)",
        "SELECT * FROM leads l NATURAL FULL JOIN accounts a",
    ] {
        let out = pg(sql);
        assert!(out.contains(&derived("leads", "entity_id", "l")), "{out}");
        assert!(
            out.contains(&derived("accounts", "entity_id", "a")),
            "{out}"
        );
        assert!(
            !out.contains(" WHERE \"l\"") && !out.contains(" WHERE \"a\""),
            "{out}"
        );
    }
}

#[test]
fn using_beside_on_joins_each_table_where_it_belongs() {
    // USING, then a LEFT JOIN with ON: its nullable side in its ON.
    assert_eq!(
        pg(
            "SELECT * FROM leads l JOIN accounts a USING (id) LEFT JOIN calls c ON c.lead_id = l.id"
        ),
        r#"SELECT * FROM "leads" "l" JOIN "accounts" "a" USING("id") LEFT JOIN "calls" "c" ON ("c"."lead_id" = "l"."id") AND "c"."company_id" = $1 WHERE "l"."entity_id" = $1 AND "a"."entity_id" = $1"#
    );
    // ON, then a LEFT JOIN with USING: its nullable side derived.
    assert_eq!(
        pg(
            "SELECT * FROM leads l JOIN accounts a ON a.id = l.account_id LEFT JOIN calls c USING (id)"
        ),
        format!(
            r#"SELECT * FROM "leads" "l" JOIN "accounts" "a" ON "a"."id" = "l"."account_id" LEFT JOIN {} USING("id") WHERE "l"."entity_id" = $1 AND "a"."entity_id" = $1"#,
            derived("calls", "company_id", "c")
        )
    );
    // A first RIGHT JOIN with USING: its left table derived (no ON).
    assert!(
        pg("SELECT * FROM leads l RIGHT JOIN accounts a USING (id) LEFT JOIN calls c ON c.id = a.id")
            .starts_with(&format!(
                r#"SELECT * FROM {} RIGHT JOIN "accounts" "a" USING("id") LEFT JOIN "calls" "c" ON ("c"."id" = "a"."id") AND "c"."company_id" = $1 WHERE "a"."entity_id" = $1"#,
                derived("leads", "entity_id", "l")
            ))
    );
}

#[test]
fn a_parenthesised_join_keeps_its_tables_derived() {
    // Inside the parentheses the tables stay derived (a NestedJoin is
    // scoped as a whole); the outer table is guarded in WHERE.
    assert_eq!(
        pg("SELECT * FROM leads l JOIN (accounts a JOIN calls c USING (id)) USING (id)"),
        format!(
            r#"SELECT * FROM "leads" "l" JOIN ({} JOIN {} USING("id")) USING("id") WHERE "l"."entity_id" = $1"#,
            derived("accounts", "entity_id", "a"),
            derived("calls", "company_id", "c")
        )
    );
}

#[test]
fn using_with_a_join_alias_still_guards_the_tables_by_their_own_names() {
    // PostgreSQL's `USING (...) AS j` names the merged columns only; `l` and
    // `a` stay visible (a clash with their names is an error there).
    assert_eq!(
        pg("SELECT j.id FROM leads l JOIN accounts a USING (id) AS j"),
        r#"SELECT "j"."id" FROM "leads" "l" JOIN "accounts" "a" USING("id") AS "j" WHERE "l"."entity_id" = $1 AND "a"."entity_id" = $1"#
    );
}

#[test]
fn globals_ctes_and_subqueries_beside_using() {
    // A global table gets no guard; a derived subquery is scoped inside.
    assert_eq!(
        pg(
            "SELECT * FROM leads l JOIN countries USING (id) JOIN (SELECT id FROM accounts) s USING (id)"
        ),
        r#"SELECT * FROM "leads" "l" JOIN "countries" USING("id") JOIN (SELECT "id" FROM "accounts" WHERE "accounts"."entity_id" = $1) "s" USING("id") WHERE "l"."entity_id" = $1"#
    );
    // A CTE is no table: only the scoped table inside it is guarded.
    assert_eq!(
        pg("WITH w AS (SELECT id FROM accounts) SELECT * FROM leads NATURAL JOIN w"),
        r#"WITH "w" AS (SELECT "id" FROM "accounts" WHERE "accounts"."entity_id" = $1) SELECT * FROM "leads" NATURAL JOIN "w" WHERE "leads"."entity_id" = $1"#
    );
}

#[test]
fn mysql_and_sqlite_get_the_same_shape() {
    assert_eq!(
        on(
            DbBackend::MySql,
            "SELECT a.id, a.name, count(*) FROM leads l JOIN accounts a USING (entity_id) GROUP BY a.id"
        ),
        "SELECT `a`.`id`, `a`.`name`, count(*) FROM `leads` `l` JOIN `accounts` `a` USING(`entity_id`) WHERE `l`.`entity_id` = ? AND `a`.`entity_id` = ? GROUP BY `a`.`id`"
    );
    assert_eq!(
        on(
            DbBackend::Sqlite,
            "SELECT * FROM leads l LEFT JOIN accounts a USING (id)"
        ),
        "SELECT * FROM `leads` `l` LEFT JOIN (SELECT * FROM `accounts` WHERE `accounts`.`entity_id` = ?1) `a` USING(`id`) WHERE `l`.`entity_id` = ?1"
    );
}
