//! Exact-SQL tests, where the shape of the rewrite matters, and refusals.
//! What the rewritten statements *return* is tested on real databases in the
//! `tenancy-tests` crate.

use sea_orm::{DbBackend, Statement, Value};

use crate::{Refusal, TableRegistry};

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .scoped_table("accounts")
        .scoped_table_by("calls", "company_id")
        .global_table("countries")
        .global_table_writable("events")
        .build()
        .unwrap()
}

fn pg(sql: &str) -> Result<String, Refusal> {
    registry().rewrite_uncached(DbBackend::Postgres, sql)
}

fn refusal(backend: DbBackend, sql: &str) -> Refusal {
    registry().rewrite_uncached(backend, sql).unwrap_err()
}

#[test]
fn select_gets_the_guard_after_the_whole_condition() {
    assert_eq!(
        pg("SELECT * FROM leads WHERE a = 1 OR b = 2").unwrap(),
        r#"SELECT * FROM "leads" WHERE ("a" = 1 OR "b" = 2) AND "leads"."entity_id" = $1"#
    );
}

#[test]
fn nullable_sides_of_outer_joins_are_guarded_in_on_or_become_derived_tables() {
    // The right side of a LEFT JOIN: the guard in its ON, the table stays a
    // table (PostgreSQL keeps its primary key for GROUP BY).
    assert_eq!(
        pg("SELECT * FROM leads l LEFT JOIN accounts a ON a.id = l.account_id").unwrap(),
        r#"SELECT * FROM "leads" "l" LEFT JOIN "accounts" "a" ON ("a"."id" = "l"."account_id") AND "a"."entity_id" = $1 WHERE "l"."entity_id" = $1"#
    );
    // Null-extended by a later RIGHT JOIN, an inner join's right side is
    // still guarded in its own ON; the leftmost table becomes derived.
    let out = pg("SELECT * FROM leads l JOIN calls c ON c.lead_id = l.id RIGHT JOIN accounts a ON a.id = l.account_id").unwrap();
    assert!(out.starts_with(r#"SELECT * FROM (SELECT * FROM "leads" WHERE "leads"."entity_id" = $1) "l" JOIN "calls" "c" ON ("c"."lead_id" = "l"."id") AND "c"."company_id" = $1 RIGHT JOIN"#), "{out}");
    // The left side of a first RIGHT JOIN: guarded in that join's ON.
    assert_eq!(
        pg("SELECT * FROM leads l RIGHT JOIN accounts a ON a.id = l.account_id").unwrap(),
        r#"SELECT * FROM "leads" "l" RIGHT JOIN "accounts" "a" ON ("a"."id" = "l"."account_id") AND "l"."entity_id" = $1 WHERE "a"."entity_id" = $1"#
    );
    // FULL JOIN preserves and null-extends both sides: derived tables.
    let out = pg("SELECT * FROM leads l FULL JOIN accounts a ON a.id = l.account_id").unwrap();
    assert_eq!(out.matches("(SELECT * FROM").count(), 2, "{out}");
    assert!(!out.contains(r#" WHERE "l"."#), "{out}");
    // An inner NATURAL join null-extends neither side: both stay tables,
    // guarded in WHERE (the join forms are in `tests_joins`).
    let out = pg("SELECT * FROM leads NATURAL JOIN accounts").unwrap();
    assert_eq!(out.matches("(SELECT * FROM").count(), 0, "{out}");
    // An alias that renames columns can't be guarded by column name.
    let out = pg("SELECT * FROM leads AS l (a, b, c)").unwrap();
    assert!(
        out.starts_with(
            r#"SELECT * FROM (SELECT * FROM "leads" WHERE "leads"."entity_id" = $1) AS "l" ("a", "b", "c")"#
        ),
        "{out}"
    );
}

#[test]
fn aliases_keep_their_names_but_never_a_tables() {
    assert_eq!(
        pg("SELECT * FROM leads AS l LEFT JOIN accounts AS a ON a.id = l.account_id").unwrap(),
        r#"SELECT * FROM "leads" AS "l" LEFT JOIN "accounts" AS "a" ON ("a"."id" = "l"."account_id") AND "a"."entity_id" = $1 WHERE "l"."entity_id" = $1"#
    );
    // A table aliased by its own name is still itself.
    assert!(pg("SELECT * FROM leads AS LEADS").is_ok());
    // An alias that names another registered table could be read as that
    // table by whoever resolves names differently: refused everywhere.
    for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
        assert_eq!(
            refusal(backend, "SELECT * FROM leads AS accounts"),
            Refusal::AmbiguousName("accounts".into())
        );
        assert_eq!(
            refusal(backend, "SELECT * FROM (SELECT 1) AS Countries"),
            Refusal::AmbiguousName("Countries".into())
        );
    }
}

#[test]
fn tenant_placeholder_follows_the_callers() {
    let out = pg("SELECT * FROM calls WHERE id = $1 AND x = $2").unwrap();
    assert!(out.contains(r#""calls"."company_id" = $3"#), "{out}");
}

#[test]
fn mysql_placeholders_are_positional_in_text_order() {
    let registry = registry();
    let stmt = Statement::from_sql_and_values(
        DbBackend::MySql,
        "SELECT * FROM leads WHERE id = ? AND name = ?",
        [Value::from(5), Value::from("x")],
    );
    let scoped = registry.scope_statement(stmt, 9.into()).unwrap();
    assert_eq!(
        scoped.sql,
        "SELECT * FROM `leads` WHERE (`id` = ? AND `name` = ?) AND `leads`.`entity_id` = ?"
    );
    assert_eq!(
        scoped.values.unwrap().0,
        vec![Value::from(5), Value::from("x"), Value::from(9_i64)]
    );
    // With a derived table first, the tenant comes first.
    let stmt = Statement::from_sql_and_values(
        DbBackend::MySql,
        "SELECT * FROM leads l RIGHT JOIN accounts a ON a.id = l.account_id WHERE a.name = ?",
        [Value::from("x")],
    );
    let scoped = registry.scope_statement(stmt, 9.into()).unwrap();
    assert_eq!(
        scoped.values.unwrap().0,
        vec![Value::from(9_i64), Value::from("x"), Value::from(9_i64)]
    );
}

#[test]
fn sqlite_placeholders_are_numbered() {
    let registry = registry();
    let stmt = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT * FROM leads WHERE id = ?",
        [Value::from(5)],
    );
    let scoped = registry.scope_statement(stmt, 9.into()).unwrap();
    assert_eq!(
        scoped.sql,
        "SELECT * FROM `leads` WHERE (`id` = ?1) AND `leads`.`entity_id` = ?2"
    );
    assert_eq!(
        scoped.values.unwrap().0,
        vec![Value::from(5), Value::from(9_i64)]
    );
}

#[test]
fn the_tenant_is_bound_only_where_the_sql_uses_it() {
    let registry = registry();
    // An insert that names its own tenant: the text is unchanged, so the
    // values must be too (the driver caches prepared statements by text).
    for (backend, sql) in [
        (
            DbBackend::Postgres,
            "INSERT INTO leads (id, entity_id) VALUES ($1, $2)",
        ),
        (
            DbBackend::Sqlite,
            "INSERT INTO leads (id, entity_id) VALUES (?, ?)",
        ),
    ] {
        let stmt =
            Statement::from_sql_and_values(backend, sql, [Value::from(5), Value::from(9_i64)]);
        let scoped = registry.scope_statement(stmt, 9.into()).unwrap();
        assert_eq!(
            scoped.values.unwrap().0,
            vec![Value::from(5), Value::from(9_i64)],
            "{backend:?}: {}",
            scoped.sql
        );
    }
    // A scoped read still gets the tenant.
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT * FROM leads WHERE id = $1",
        [Value::from(5)],
    );
    let scoped = registry.scope_statement(stmt, 9.into()).unwrap();
    assert_eq!(
        scoped.values.unwrap().0,
        vec![Value::from(5), Value::from(9_i64)]
    );
}

#[test]
fn ctes_are_never_named_like_tables() {
    // A CTE with its own name: its body reads the real table (scoped); the
    // main query reads the CTE (left alone).
    let out = pg("WITH RECURSIVE x AS (SELECT * FROM leads) SELECT * FROM x").unwrap();
    assert!(
        out.contains(r#"(SELECT * FROM "leads" WHERE "leads"."entity_id" = $1)"#),
        "{out}"
    );
    assert!(out.ends_with(r#"SELECT * FROM "x""#), "{out}");
    // A CTE named like a registered table, scoped or global, in any case,
    // at any depth: servers disagree about which one a reference means.
    for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
        for sql in [
            "WITH leads AS (SELECT 1) SELECT * FROM leads",
            "WITH LEADS AS (SELECT 1) SELECT 1",
            "WITH countries AS (SELECT 1) SELECT * FROM countries",
            "SELECT * FROM (WITH leads AS (SELECT 1) SELECT * FROM leads) AS a",
        ] {
            assert!(
                matches!(refusal(backend, sql), Refusal::AmbiguousCte(_)),
                "{backend:?}: {sql}"
            );
        }
    }
    // A CTE's own name in its non-recursive body, a later sibling's, and an
    // outer CTE's inside a nested WITH (MariaDB reads the base table there).
    for sql in [
        "WITH x AS (SELECT * FROM x) SELECT * FROM x",
        "WITH x AS (SELECT * FROM y), y AS (SELECT 1) SELECT * FROM x",
        "WITH x AS (SELECT 1) SELECT * FROM (WITH y AS (SELECT * FROM x) SELECT * FROM y) AS q",
    ] {
        assert!(
            matches!(refusal(DbBackend::MySql, sql), Refusal::AmbiguousCte(_)),
            "{sql}"
        );
    }
    // Visible siblings and recursion are fine.
    assert!(pg("WITH x AS (SELECT 1), y AS (SELECT * FROM x) SELECT * FROM y").is_ok());
    assert!(pg("WITH RECURSIVE x AS (SELECT 1 UNION ALL SELECT 1 FROM x) SELECT * FROM x").is_ok());
}

#[test]
fn subqueries_everywhere_are_scoped() {
    let out = pg("SELECT (SELECT count(*) FROM calls), id FROM accounts WHERE id IN (SELECT account_id FROM leads) \
                  GROUP BY id HAVING EXISTS (SELECT 1 FROM leads) ORDER BY (SELECT max(id) FROM leads)")
    .unwrap();
    assert_eq!(
        out.matches(r#""leads"."entity_id" = $1"#).count(),
        3,
        "{out}"
    );
    assert_eq!(
        out.matches(r#""calls"."company_id" = $1"#).count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.matches(r#""accounts"."entity_id" = $1"#).count(),
        1,
        "{out}"
    );
}

#[test]
fn set_operations_scope_both_sides() {
    let out = pg("SELECT id FROM leads UNION SELECT id FROM accounts EXCEPT SELECT id FROM leads")
        .unwrap();
    assert_eq!(out.matches("\"entity_id\" = $1").count(), 3, "{out}");
}

#[test]
fn insert_stamps_the_tenant() {
    assert_eq!(
        pg("INSERT INTO leads (name) VALUES ($1), ($2) RETURNING id").unwrap(),
        r#"INSERT INTO "leads" ("name", "entity_id") VALUES ($1, $3), ($2, $3) RETURNING "id""#
    );
    assert_eq!(
        pg("INSERT INTO leads DEFAULT VALUES").unwrap(),
        r#"INSERT INTO "leads" ("entity_id") VALUES ($1)"#
    );
    let out = pg("INSERT INTO leads (name) SELECT name FROM accounts").unwrap();
    assert_eq!(
        out,
        r#"INSERT INTO "leads" ("name", "entity_id") SELECT "name", $1 FROM "accounts" WHERE "accounts"."entity_id" = $1"#
    );
    let out = pg("INSERT INTO leads (name) SELECT name FROM accounts UNION SELECT name FROM leads")
        .unwrap();
    assert!(out.starts_with(r#"INSERT INTO "leads" ("name", "entity_id") SELECT "tenancy_source".*, $1 FROM (SELECT "name" FROM "accounts" WHERE"#), "{out}");
}

#[test]
fn explicit_tenant_values_are_checked_when_run() {
    let registry = registry();
    let stmt = |v: i64| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO leads (name, entity_id) VALUES ($1, $2)",
            [Value::from("a"), Value::from(v)],
        )
    };
    assert!(registry.scope_statement(stmt(1), 1.into()).is_ok());
    assert_eq!(
        registry.scope_statement(stmt(2), 1.into()).unwrap_err(),
        Refusal::ForeignTenant {
            table: "leads".into(),
            column: "entity_id".into()
        }
    );
    let literal = |t: i64| {
        registry.scope_statement(
            Statement::from_string(
                DbBackend::Postgres,
                "INSERT INTO leads (entity_id) VALUES (2)",
            ),
            t.into(),
        )
    };
    assert!(literal(2).is_ok());
    assert!(literal(1).is_err());
    assert!(matches!(
        pg("INSERT INTO leads (entity_id) VALUES (1 + 1)").unwrap_err(),
        Refusal::TenantColumn { .. }
    ));
    assert!(matches!(
        pg("UPDATE leads SET entity_id = entity_id + 1").unwrap_err(),
        Refusal::TenantColumn { .. }
    ));
}

#[test]
fn update_and_delete_guard_the_whole_condition() {
    assert_eq!(
        pg("UPDATE leads SET name = 'x' WHERE a = 1 OR b = 2").unwrap(),
        r#"UPDATE "leads" SET "name" = 'x' WHERE ("a" = 1 OR "b" = 2) AND "leads"."entity_id" = $1"#
    );
    assert_eq!(
        pg("DELETE FROM leads AS l WHERE id IN (SELECT lead_id FROM calls)").unwrap(),
        r#"DELETE FROM "leads" AS "l" WHERE ("id" IN (SELECT "lead_id" FROM "calls" WHERE "calls"."company_id" = $1)) AND "l"."entity_id" = $1"#
    );
    assert_eq!(
        registry()
            .rewrite_uncached(
                DbBackend::MySql,
                "DELETE l FROM leads l JOIN accounts a ON a.id = l.account_id"
            )
            .unwrap(),
        "DELETE `l` FROM `leads` `l` JOIN `accounts` `a` ON `a`.`id` = `l`.`account_id` WHERE `l`.`entity_id` = ? AND `a`.`entity_id` = ?"
    );
}

#[test]
fn upserts_cannot_touch_other_tenants_rows() {
    assert_eq!(
        pg("INSERT INTO leads (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name").unwrap(),
        r#"INSERT INTO "leads" ("id", "name", "entity_id") VALUES ($1, $2, $3) ON CONFLICT("id") DO UPDATE SET "name" = "excluded"."name" WHERE "leads"."entity_id" = $3"#
    );
    assert_eq!(
        registry().rewrite_uncached(DbBackend::MySql, "INSERT INTO leads (id, name) VALUES (?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name)").unwrap(),
        "INSERT INTO `leads` (`id`, `name`, `entity_id`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `name` = IF(`leads`.`entity_id` = ?, VALUES(`name`), `leads`.`name`)"
    );
    for (backend, sql) in [
        (
            DbBackend::MySql,
            "REPLACE INTO leads (id, name) VALUES (1, 'a')",
        ),
        (
            DbBackend::Sqlite,
            "INSERT OR REPLACE INTO leads (id, name) VALUES (1, 'a')",
        ),
        (
            DbBackend::Sqlite,
            "REPLACE INTO leads (id, name) VALUES (1, 'a')",
        ),
        (DbBackend::Sqlite, "UPDATE OR REPLACE leads SET id = 1"),
    ] {
        assert!(
            matches!(refusal(backend, sql), Refusal::Construct(_)),
            "{sql}"
        );
    }
}

#[test]
fn refusals_name_their_reason() {
    let pgr = |sql| refusal(DbBackend::Postgres, sql);
    assert_eq!(
        pgr("SELECT * FROM secrets"),
        Refusal::UnregisteredTable("secrets".into())
    );
    assert_eq!(
        pgr("SELECT * FROM pg_catalog.pg_class"),
        Refusal::UnregisteredTable("pg_catalog.pg_class".into())
    );
    assert_eq!(
        refusal(DbBackend::Sqlite, "SELECT * FROM sqlite_master"),
        Refusal::UnregisteredTable("sqlite_master".into())
    );
    assert_eq!(
        pgr("SELECT * FROM \"Leads\""),
        Refusal::UnregisteredTable("\"Leads\"".into())
    );
    assert_eq!(
        pgr("DELETE FROM countries"),
        Refusal::GlobalTableWrite("countries".into())
    );
    assert_eq!(pgr("TRUNCATE leads"), Refusal::Statement("TRUNCATE".into()));
    assert_eq!(
        pgr("DROP TABLE leads"),
        Refusal::Statement("DROP TABLE".into())
    );
    assert_eq!(pgr("SELECT 1; SELECT 2"), Refusal::MultipleStatements(2));
    assert_eq!(
        pgr("SELECT * FROM leads; DELETE FROM leads"),
        Refusal::MultipleStatements(2)
    );
    assert_eq!(pgr(""), Refusal::Empty);
    assert!(matches!(pgr("SELEC * FROM"), Refusal::Unparseable(_)));
    assert_eq!(
        pgr("SELECT query_to_xml('select * from leads', true, false, '')"),
        Refusal::Function("query_to_xml".into())
    );
    assert!(matches!(
        pgr("SELECT * INTO copy FROM leads"),
        Refusal::Construct(_)
    ));
    assert!(matches!(
        pgr("WITH d AS (DELETE FROM leads RETURNING *) SELECT * FROM d"),
        Refusal::Construct(_)
    ));
    assert!(matches!(
        refusal(DbBackend::Sqlite, "SELECT * FROM leads WHERE id = :id"),
        Refusal::Placeholder(_)
    ));
}

#[test]
fn globals_are_read_only_unless_writable() {
    assert_eq!(
        pg("SELECT * FROM countries").unwrap(),
        r#"SELECT * FROM "countries""#
    );
    assert!(
        pg("INSERT INTO events (kind) SELECT name FROM leads")
            .unwrap()
            .contains("entity_id")
    );
}

#[test]
fn tokens_the_servers_lex_differently_are_refused() {
    for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
        for sql in [
            "SELECT name, 1.5FROM(leads)",
            "SELECT name, .5FROM(leads)",
            "SELECT name, 1.FROM(leads)",
            "SELECT 1e5FROM(leads)",
            "SELECT 1 FROM leads WHERE id = 1.5UNION SELECT 2",
            "SELECT 1_000 FROM leads",
            "SELECT 0x1F FROM leads",
            "SELECT 10L FROM leads",
            "SELECT 1abc FROM leads",
            "SELECT _utf8mb4'x' FROM leads",
        ] {
            let refusal = refusal(backend, sql);
            assert!(
                matches!(
                    refusal,
                    Refusal::Lexical(_) | Refusal::Unparseable(_) | Refusal::Placeholder(_)
                ),
                "{backend:?}: {sql}: {refusal:?}"
            );
        }
    }
    // A session variable on MySQL (on PostgreSQL, `@` is absolute value).
    assert!(matches!(
        refusal(DbBackend::MySql, "SELECT @x FROM leads"),
        Refusal::Lexical(_)
    ));
    // Plain numbers are fine.
    assert!(pg("SELECT 1, 1.5, .5, 1., 1e5, 1.5E-3 FROM leads").is_ok());
}

#[test]
fn literals_that_depend_on_server_settings_are_refused() {
    // `'a\'` ends at the second quote or the third, depending on
    // NO_BACKSLASH_ESCAPES (MySQL) or standard_conforming_strings (PostgreSQL).
    for (backend, sql) in [
        (
            DbBackend::MySql,
            r"SELECT * FROM leads WHERE a = '\\' AND b = ' OR 1=1 -- '",
        ),
        (
            DbBackend::MySql,
            r"SELECT 'a\', (SELECT 1) AS s -- ' AS x FROM countries",
        ),
        (
            DbBackend::Postgres,
            r"SELECT 'a\', (SELECT 1) AS s -- ' AS x FROM countries",
        ),
        // A name under ANSI_QUOTES, a string without it.
        (DbBackend::MySql, r#"SELECT * FROM leads WHERE name = "x""#),
    ] {
        assert!(
            matches!(refusal(backend, sql), Refusal::Lexical(_)),
            "{backend:?}: {sql}"
        );
    }
    // `E'...'` escapes under every setting; SQLite has no escapes at all.
    assert!(pg(r"SELECT E'a\\b' FROM countries").is_ok());
    assert!(
        registry()
            .rewrite_uncached(DbBackend::Sqlite, r"SELECT 'a\' FROM countries")
            .is_ok()
    );
}

#[test]
fn no_input_panics() {
    for sql in [
        "(",
        ")",
        "'",
        "\"",
        "`",
        "$",
        "?",
        "$0",
        "$99999999999999999999",
        "SELECT $0",
        "/*",
        "--",
        "\0",
        "SELECT * FROM (",
        "WITH",
        "INSERT INTO leads",
        "INSERT INTO leads () VALUES ()",
        "UPDATE leads SET",
        "VALUES (1), (2, 3)",
        "INSERT INTO leads (a, entity_id) VALUES (1)",
    ] {
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let _ = registry().rewrite_uncached(backend, sql);
        }
    }
}

#[test]
fn delete_using_survives_rendering() {
    assert_eq!(
        pg("DELETE FROM calls USING leads l WHERE l.id = calls.lead_id").unwrap(),
        r#"DELETE FROM "calls" USING "leads" "l" WHERE ("l"."id" = "calls"."lead_id") AND "calls"."company_id" = $1 AND "l"."entity_id" = $1"#
    );
}

mod no_panics {
    //! Whatever arrives, the rewrite answers with a plan or a refusal.
    use proptest::prelude::*;

    use super::registry;
    use sea_orm::DbBackend;

    const WORDS: &[&str] = &[
        "SELECT",
        "INSERT",
        "INTO",
        "UPDATE",
        "DELETE",
        "FROM",
        "WHERE",
        "JOIN",
        "LEFT",
        "RIGHT",
        "FULL",
        "CROSS",
        "NATURAL",
        "USING",
        "ON",
        "AS",
        "WITH",
        "RECURSIVE",
        "UNION",
        "ALL",
        "INTERSECT",
        "EXCEPT",
        "VALUES",
        "SET",
        "RETURNING",
        "CONFLICT",
        "DO",
        "NOTHING",
        "DUPLICATE",
        "KEY",
        "REPLACE",
        "OR",
        "AND",
        "NOT",
        "IN",
        "EXISTS",
        "GROUP",
        "BY",
        "HAVING",
        "ORDER",
        "LIMIT",
        "OFFSET",
        "LATERAL",
        "DISTINCT",
        "leads",
        "accounts",
        "calls",
        "countries",
        "events",
        "secrets",
        "entity_id",
        "company_id",
        "id",
        "name",
        "l",
        "a",
        "x",
        "public",
        ".",
        ",",
        "(",
        ")",
        "*",
        "=",
        "<>",
        "+",
        ";",
        "?",
        "$1",
        "$2",
        "?1",
        ":id",
        "'a'",
        "'\\''",
        "'\\\\'",
        "1",
        "2",
        "NULL",
        "\"leads\"",
        "`leads`",
        "--",
        "/*",
        "*/",
    ];

    fn token_soup() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(WORDS), 0..40).prop_map(|words| words.join(" "))
    }

    fn backend() -> impl Strategy<Value = DbBackend> {
        prop::sample::select(vec![
            DbBackend::Postgres,
            DbBackend::MySql,
            DbBackend::Sqlite,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn token_soup_never_panics(sql in token_soup(), backend in backend()) {
            let registry = registry();
            let first = registry.rewrite_uncached(backend, &sql);
            // Deterministic: the same text gets the same answer.
            prop_assert_eq!(first, registry.rewrite_uncached(backend, &sql));
        }

        #[test]
        fn arbitrary_text_never_panics(sql in "\\PC{0,200}", backend in backend()) {
            let _ = registry().rewrite_uncached(backend, &sql);
        }
    }
}

/// Statement shapes that nest one way each, at about `d` levels of the
/// depth estimate.
type Shape = fn(usize) -> String;

fn deep_shapes() -> Vec<(&'static str, Shape)> {
    vec![
        ("parentheses", |d| {
            format!(
                "SELECT id FROM leads WHERE {}1 = 1{}",
                "(".repeat(d),
                ")".repeat(d)
            )
        }),
        ("a + chain", |d| {
            format!("SELECT id FROM leads WHERE id = 1{}", "+1".repeat(d))
        }),
        ("an AND chain", |d| {
            format!(
                "SELECT id FROM leads WHERE {}",
                vec!["id = 1"; d / 2].join(" AND ")
            )
        }),
        ("a UNION chain", |d| {
            vec!["SELECT id FROM leads"; d / 3].join(" UNION ")
        }),
        ("nested subqueries", |d| {
            format!(
                "SELECT id FROM leads WHERE id IN {}(SELECT id FROM leads){}",
                "(SELECT id FROM leads WHERE id IN ".repeat(d / 5),
                ")".repeat(d / 5)
            )
        }),
        ("casts", |d| {
            format!("SELECT id{} FROM leads", "::text".repeat(d))
        }),
        ("NOTs", |d| {
            format!("SELECT id FROM leads WHERE {}id = 1", "NOT ".repeat(d))
        }),
    ]
}

/// Runs `f` on a thread with a 2 MiB stack, tokio's default for workers:
/// a stack overflow would abort the whole test binary, not fail a test.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deep_inputs_stay_within_the_stack() {
    // Measured with these shapes in a debug build on a 2 MiB stack: every
    // one survives 800 levels of the estimate and the first overflow comes
    // between 800 and 1,200; the default limit leaves three times that room.
    let limit = crate::rules::Limits::DEFAULT_MAX_DEPTH;
    for (name, shape) in deep_shapes() {
        let at_limit = shape(limit - 10);
        let over = shape(limit * 2);
        on_small_stack(move || {
            let registry = registry();
            assert!(
                registry
                    .rewrite_uncached(DbBackend::Postgres, &at_limit)
                    .is_ok(),
                "{name} just under the limit: {:?}",
                registry.rewrite_uncached(DbBackend::Postgres, &at_limit)
            );
            assert!(
                matches!(
                    registry.rewrite_uncached(DbBackend::Postgres, &over),
                    Err(Refusal::TooDeep { .. })
                ),
                "{name} over the limit"
            );
        });
    }
    // A real query with 46 nested parentheses, which every server runs.
    let sql = format!(
        "SELECT id FROM leads WHERE {}id = 1{}",
        "(".repeat(46),
        ")".repeat(46)
    );
    assert!(pg(&sql).is_ok());
}

#[test]
fn huge_inputs_are_refused_without_aborting() {
    let inputs = [
        format!("SELECT 1{} FROM leads", "+1".repeat(200_000)),
        format!(
            "SELECT {}1{} FROM leads",
            "(".repeat(10_000),
            ")".repeat(10_000)
        ),
        vec!["SELECT id FROM leads"; 10_000].join(" UNION "),
        format!(
            "SELECT id FROM leads WHERE {}",
            vec!["id = 1"; 100_000].join(" OR ")
        ),
        format!("SELECT id FROM leads WHERE {}", "NOT ".repeat(100_000)),
        "(".repeat(1_000_000),
    ];
    for sql in inputs {
        on_small_stack(move || {
            for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
                let refusal = registry().rewrite_uncached(backend, &sql).unwrap_err();
                assert!(
                    matches!(refusal, Refusal::TooDeep { .. } | Refusal::TooLarge { .. }),
                    "{refusal:?}"
                );
            }
        });
    }
    let small = TableRegistry::builder()
        .scoped_table("leads")
        .max_statement_bytes(64)
        .build()
        .unwrap();
    assert_eq!(
        small
            .rewrite_uncached(
                DbBackend::Sqlite,
                &format!("SELECT id FROM leads WHERE name = '{}'", "x".repeat(64))
            )
            .unwrap_err(),
        Refusal::TooLarge {
            bytes: 100,
            limit: 64
        }
    );
}

#[test]
fn many_ctes_are_rewritten_in_linear_work() {
    // 3,000 CTEs took 18 s when each CTE's scope copied its siblings'.
    let ctes: Vec<String> = (0..3000)
        .map(|i| format!("c{i} AS (SELECT id FROM leads WHERE id = {i})"))
        .collect();
    let sql = format!("WITH {} SELECT * FROM c2999", ctes.join(", "));
    let registry = TableRegistry::builder()
        .scoped_table("leads")
        .max_statement_bytes(1 << 20)
        .build()
        .unwrap();
    let out = on_small_stack(move || registry.rewrite_uncached(DbBackend::Postgres, &sql));
    assert_eq!(
        out.unwrap().matches(r#""leads"."entity_id" = $1"#).count(),
        3000
    );
}

fn with_columns() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("leads")
        .columns("leads", ["id", "entity_id", "name"])
        .global_table_writable("events")
        .build()
        .unwrap()
}

#[test]
fn insert_without_a_column_list_names_the_declared_columns() {
    let r = with_columns();
    // The tenant's own value in the tenant column's position is checked
    // at bind time; the statement that runs names every column.
    assert_eq!(
        r.rewrite_uncached(
            DbBackend::Sqlite,
            "INSERT INTO leads VALUES (1, ?, 'a'), (2, ?, 'b')"
        )
        .unwrap(),
        "INSERT INTO `leads` (`id`, `entity_id`, `name`) VALUES (1, ?1, 'a'), (2, ?2, 'b')"
    );
    let stmt = Statement::from_sql_and_values(
        DbBackend::MySql,
        "INSERT INTO leads VALUES (1, ?, 'a')",
        [Value::BigInt(Some(2))],
    );
    assert!(matches!(
        r.scope_statement(stmt, 1.into()),
        Err(Refusal::ForeignTenant { .. })
    ));
    let literal =
        Statement::from_string(DbBackend::Postgres, "INSERT INTO leads VALUES (1, 2, 'a')");
    assert!(matches!(
        r.scope_statement(literal, 1.into()),
        Err(Refusal::ForeignTenant { .. })
    ));
    // PostgreSQL fills the columns left out with defaults: the tenant
    // column, left out, is stamped.
    assert_eq!(
        r.rewrite_uncached(DbBackend::Postgres, "INSERT INTO leads VALUES (1)")
            .unwrap(),
        r#"INSERT INTO "leads" ("id", "entity_id") VALUES (1, $1)"#
    );
}

#[test]
fn insert_without_a_column_list_is_refused_when_the_order_is_unknown_or_rows_dont_fit() {
    let r = with_columns();
    for (backend, sql) in [
        // MySQL and SQLite take one value per column, no fewer.
        (DbBackend::MySql, "INSERT INTO leads VALUES (1, 1)"),
        (
            DbBackend::Sqlite,
            "INSERT INTO leads VALUES (1, 1, 'a', 'extra')",
        ),
        (
            DbBackend::Postgres,
            "INSERT INTO leads VALUES (1, 1, 'a', 'extra')",
        ),
        (
            DbBackend::Postgres,
            "INSERT INTO leads VALUES (1, 1, 'a'), (2, 1)",
        ),
        (DbBackend::Postgres, "INSERT INTO leads SELECT 1, 1, 'a'"),
    ] {
        assert!(
            matches!(r.rewrite_uncached(backend, sql), Err(Refusal::Construct(_))),
            "{backend:?} {sql}"
        );
    }
    // No order declared: refused, and the reason says how to declare one.
    let Err(Refusal::Construct(why)) =
        registry().rewrite_uncached(DbBackend::Postgres, "INSERT INTO leads VALUES (1, 1, 'a')")
    else {
        panic!("refused")
    };
    assert!(why.contains("TableRegistryBuilder::columns"), "{why}");
    // A writable global table needs no order: no tenant column to find.
    assert!(
        r.rewrite_uncached(DbBackend::Postgres, "INSERT INTO events VALUES (1, 'x')")
            .is_ok()
    );
}

#[test]
fn setting_the_tenant_column_to_itself_is_a_no_op_and_allowed() {
    for sql in [
        "UPDATE leads SET entity_id = entity_id, name = 'x' WHERE id = 1",
        "UPDATE leads SET entity_id = leads.entity_id",
        "UPDATE leads l SET entity_id = l.entity_id",
    ] {
        assert!(pg(sql).is_ok(), "{sql}");
    }
    // Anything else in the tenant column is still checked or refused.
    for sql in [
        "UPDATE leads SET entity_id = entity_id + 1",
        "UPDATE leads SET entity_id = accounts.entity_id FROM accounts",
        "UPDATE leads SET entity_id = account_id",
        "UPDATE leads SET entity_id = (SELECT entity_id FROM accounts LIMIT 1)",
    ] {
        assert!(
            matches!(
                pg(sql),
                Err(Refusal::TenantColumn { .. } | Refusal::Construct(_))
            ),
            "{sql}"
        );
    }
    // Two targets (MySQL): the name could be either's, so it is refused.
    assert!(matches!(
        refusal(
            DbBackend::MySql,
            "UPDATE leads l JOIN accounts a ON a.id = l.account_id SET l.entity_id = l.entity_id"
        ),
        Refusal::TenantColumn { .. }
    ));
}

#[test]
fn a_with_clause_on_a_write_is_scoped_like_a_subquery() {
    assert_eq!(
        pg("WITH c AS (SELECT id FROM leads WHERE status = 'lost') DELETE FROM leads WHERE id IN (SELECT id FROM c)")
            .unwrap(),
        r#"WITH "c" AS (SELECT "id" FROM "leads" WHERE ("status" = 'lost') AND "leads"."entity_id" = $1) DELETE FROM "leads" WHERE ("id" IN (SELECT "id" FROM "c")) AND "leads"."entity_id" = $1"#
    );
    assert!(pg("WITH c AS (SELECT id FROM accounts) UPDATE leads SET status = 'x' FROM c WHERE c.id = leads.account_id").is_ok());
    assert!(
        pg(
            "WITH c AS (SELECT id FROM accounts) INSERT INTO leads (id, name) SELECT id, 'x' FROM c"
        )
        .is_ok()
    );
    // Data-modifying CTEs stay refused, and a CTE is never a write target.
    for sql in [
        "WITH d AS (DELETE FROM leads RETURNING id) DELETE FROM accounts WHERE id IN (SELECT id FROM d)",
        "WITH d AS (UPDATE leads SET name = 'x' RETURNING id) SELECT * FROM d",
    ] {
        assert!(matches!(pg(sql), Err(Refusal::Construct(_))), "{sql}");
    }
    assert!(matches!(
        pg("WITH c AS (SELECT id FROM leads) DELETE FROM c"),
        Err(Refusal::UnregisteredTable(_))
    ));
    // A CTE named like a table is refused here as anywhere.
    assert!(matches!(
        pg(
            "WITH accounts AS (SELECT 1 AS id) DELETE FROM leads WHERE account_id IN (SELECT id FROM accounts)"
        ),
        Err(Refusal::AmbiguousCte(_))
    ));
    // The statement kind is the write's: a cross-tenant read refuses it.
    let stmt = Statement::from_string(
        DbBackend::Postgres,
        "WITH c AS (SELECT id FROM leads) DELETE FROM leads WHERE id IN (SELECT id FROM c)",
    );
    assert!(registry().scope_statement(stmt, 1.into()).is_ok());
}

#[test]
fn mysql_insert_set_is_an_insert_with_a_column_list() {
    assert_eq!(
        registry()
            .rewrite_uncached(DbBackend::MySql, "INSERT INTO leads SET id = 1, name = 'a'")
            .unwrap(),
        "INSERT INTO `leads` (`id`, `name`, `entity_id`) VALUES (1, 'a', ?)"
    );
    // The tenant column set to another tenant is refused as in VALUES.
    let stmt = Statement::from_string(
        DbBackend::MySql,
        "INSERT INTO leads SET id = 1, entity_id = 2",
    );
    assert!(matches!(
        registry().scope_statement(stmt, 1.into()),
        Err(Refusal::ForeignTenant { .. })
    ));
    assert!(matches!(
        registry().rewrite_uncached(
            DbBackend::MySql,
            "INSERT INTO leads SET leads.entity_id = 2"
        ),
        Err(Refusal::Construct(_))
    ));
}

#[test]
fn mysql_from_dual_is_no_table() {
    let r = registry();
    assert_eq!(
        r.rewrite_uncached(
            DbBackend::MySql,
            "SELECT 1 FROM DUAL WHERE (SELECT count(*) FROM leads) > 0"
        )
        .unwrap(),
        "SELECT 1 WHERE (SELECT count(*) FROM `leads` WHERE `leads`.`entity_id` = ?) > 0"
    );
    // Quoted, or elsewhere, DUAL is a table name like any other.
    for (backend, sql) in [
        (DbBackend::MySql, "SELECT 1 FROM `DUAL`"),
        (DbBackend::MySql, "SELECT 1 FROM DUAL d"),
        (DbBackend::Postgres, "SELECT 1 FROM DUAL"),
        (DbBackend::Sqlite, "SELECT 1 FROM DUAL"),
    ] {
        assert!(
            matches!(
                r.rewrite_uncached(backend, sql),
                Err(Refusal::UnregisteredTable(_))
            ),
            "{backend:?} {sql}"
        );
    }
}
