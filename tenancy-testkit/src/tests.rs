//! Proves the kit works on every backend this run has: a fresh database per
//! test, statements, rendered result sets, cleanup.

use std::sync::{Arc, Mutex};

use crate::{
    Backend, backends, exec, for_each_backend, fresh_db, rows, rows_sorted, try_rows, with_db,
};

/// Creates a table, inserts, reads back, and cleans up, by hand.
#[tokio::test]
async fn fresh_db_round_trip_and_cleanup() {
    for backend in backends() {
        let db = fresh_db(backend).await;
        assert_eq!(Backend::of(&db.conn), backend);
        exec(
            &db.conn,
            "CREATE TABLE note (id INTEGER PRIMARY KEY, body VARCHAR(20), score REAL)",
        )
        .await;
        exec(
            &db.conn,
            "INSERT INTO note (id, body, score) VALUES (2, 'b', NULL), (1, 'a', 1.5)",
        )
        .await;

        assert_eq!(
            rows_sorted(&db.conn, "SELECT id, body, score FROM note").await,
            [["1", "a", "1.5"], ["2", "b", "NULL"]],
            "on {backend}",
        );
        assert_eq!(
            rows(&db.conn, "SELECT COUNT(*) FROM note").await,
            [["2"]],
            "on {backend}",
        );

        let name = db.name().to_owned();
        db.cleanup().await;
        assert_gone(backend, &name).await;
    }
}

/// Two fresh databases on the same backend do not see each other's tables.
#[tokio::test]
async fn fresh_databases_are_separate() {
    for backend in backends() {
        let first = fresh_db(backend).await;
        let second = fresh_db(backend).await;
        assert_ne!(first.name(), second.name());
        exec(&first.conn, "CREATE TABLE only_here (id INTEGER)").await;
        assert!(
            try_rows(&second.conn, "SELECT id FROM only_here")
                .await
                .is_err(),
            "a table from one fresh database is visible in another on {backend}",
        );
        first.cleanup().await;
        second.cleanup().await;
    }
}

/// `with_db` runs the body and drops the database, also when the body panics.
#[tokio::test]
async fn with_db_cleans_up_after_a_panic() {
    for backend in backends() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let outcome = tokio::spawn(with_db(backend, move |conn| async move {
            let name = rows(&conn, name_query(Backend::of(&conn))).await;
            let _ = tx.send(name[0][0].clone());
            panic!("deliberate panic inside with_db");
        }))
        .await;

        let payload = outcome
            .expect_err("the body's panic must reach the caller")
            .into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"deliberate panic inside with_db"),
            "the caller sees the body's own panic",
        );
        let name = rx.await.expect("the body ran");
        assert_gone(backend, &name).await;
    }
}

/// `for_each_backend` runs the body once per available backend, in order.
#[tokio::test]
async fn for_each_backend_visits_every_backend() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    for_each_backend(|conn| {
        let seen = Arc::clone(&seen);
        async move {
            exec(&conn, "CREATE TABLE t (id INTEGER)").await;
            seen.lock().expect("not poisoned").push(Backend::of(&conn));
        }
    })
    .await;
    assert_eq!(*seen.lock().expect("not poisoned"), backends());
}

/// Every value type the tests are likely to select renders predictably.
#[tokio::test]
async fn rows_renders_common_types() {
    for backend in backends() {
        with_db(backend, move |conn| async move {
            let (sql, expected): (&str, &[&str]) = match backend {
                Backend::Sqlite => (
                    "SELECT 7, -3, 2.5, 'text', NULL, x'00ff', 1 = 1, SUM(v) FROM \
                     (SELECT 1 AS v UNION ALL SELECT 2)",
                    &["7", "-3", "2.5", "text", "NULL", "0x00ff", "1", "3"],
                ),
                Backend::Postgres => (
                    "SELECT 7, CAST(-3 AS BIGINT), CAST(2.5 AS DOUBLE PRECISION), 'text', \
                     NULL, '\\x00ff'::bytea, 1 = 1, SUM(v), CAST(-1234.500 AS NUMERIC(10,3)), \
                     CAST(0.001 AS NUMERIC), CAST(100000000 AS NUMERIC), \
                     CAST('{\"a\":1}' AS JSONB), CAST(2 AS SMALLINT), CAST(0 AS NUMERIC), \
                     CAST(12345678.9 AS NUMERIC), CAST(-0.5 AS NUMERIC), CAST('NaN' AS NUMERIC) \
                     FROM (VALUES (1), (2)) AS t (v)",
                    &[
                        "7",
                        "-3",
                        "2.5",
                        "text",
                        "NULL",
                        "0x00ff",
                        "true",
                        "3",
                        "-1234.500",
                        "0.001",
                        "100000000",
                        "{\"a\":1}",
                        "2",
                        "0",
                        "12345678.9",
                        "-0.5",
                        "NaN",
                    ],
                ),
                Backend::MySql => (
                    "SELECT 7, CAST(-3 AS SIGNED), CAST(2.5 AS DOUBLE), 'text', NULL, \
                     x'00ff', 1 = 1, SUM(v), CAST(-1234.5 AS DECIMAL(10,3)), \
                     CAST(5 AS UNSIGNED) FROM (SELECT 1 AS v UNION ALL SELECT 2) AS t",
                    &[
                        "7",
                        "-3",
                        "2.5",
                        "text",
                        "NULL",
                        "0x00ff",
                        "1",
                        "3",
                        "-1234.500",
                        "5",
                    ],
                ),
            };
            assert_eq!(rows(&conn, sql).await, [expected], "on {backend}");
        })
        .await;
    }
}

/// The URL rewriting the MySQL branch relies on.
#[test]
fn replace_database_keeps_everything_but_the_path() {
    use crate::replace_database;
    assert_eq!(
        replace_database("mysql://root@127.0.0.1:3306/test", "t_1"),
        "mysql://root@127.0.0.1:3306/t_1"
    );
    assert_eq!(
        replace_database("mysql://u:p%2Fw@db:3306/test?ssl-mode=disabled", "t_1"),
        "mysql://u:p%2Fw@db:3306/t_1?ssl-mode=disabled"
    );
    assert_eq!(
        replace_database("mysql://root@localhost", "t_1"),
        "mysql://root@localhost/t_1"
    );
    assert_eq!(
        replace_database("mysql://root@localhost?x=1", "t_1"),
        "mysql://root@localhost/t_1?x=1"
    );
}

/// The SQL that names the current schema or database on `backend`.
fn name_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT file FROM pragma_database_list WHERE name = 'main'",
        Backend::Postgres => "SELECT current_schema()",
        Backend::MySql => "SELECT DATABASE()",
    }
}

/// Asserts that the schema, database or file `name` no longer exists.
async fn assert_gone(backend: Backend, name: &str) {
    if backend == Backend::Sqlite {
        assert!(
            !std::path::Path::new(name).exists(),
            "{name} still exists after cleanup"
        );
        return;
    }
    // Look from a second fresh database on the same server. Both engines list
    // schemas (PostgreSQL) and databases (MySQL) in information_schema.
    let probe = fresh_db(backend).await;
    let sql =
        format!("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{name}'");
    assert_eq!(
        rows(&probe.conn, &sql).await,
        [["0"]],
        "{name} still exists on {backend} after cleanup"
    );
    probe.cleanup().await;
}

/// The fixture entities read and write the tables the fixture DDL creates,
/// on every backend, with generated ids and without; the relations join.
#[tokio::test]
async fn fixture_entities_match_their_ddl() {
    use sea_orm::{EntityTrait, ModelTrait, NotSet, Set};

    use crate::fixtures::{Schema, account, call, lead, region};

    for generated in [false, true] {
        for_each_backend(move |conn| async move {
            let backend = Backend::of(&conn);
            let schema = if generated {
                Schema::new().generated_ids(100)
            } else {
                Schema::new()
            };
            schema.create(&conn).await;
            let id = |n: i32| if generated { NotSet } else { Set(n) };
            // One row per table, so `find().one()` reads back the row just
            // inserted (without generated ids, MySQL can't report its id).
            region::Entity::insert(region::ActiveModel {
                id: Set(1),
                name: Set("north".into()),
            })
            .exec_without_returning(&conn)
            .await
            .unwrap();
            let north = region::Entity::find().one(&conn).await.unwrap().unwrap();
            account::Entity::insert(account::ActiveModel {
                id: id(1),
                entity_id: Set(7),
                name: Set("acme".into()),
                region_id: Set(Some(north.id)),
            })
            .exec_without_returning(&conn)
            .await
            .unwrap();
            let acme = account::Entity::find().one(&conn).await.unwrap().unwrap();
            lead::Entity::insert(lead::ActiveModel {
                id: id(1),
                entity_id: Set(7),
                account_id: Set(Some(acme.id)),
                name: Set("ann".into()),
                status: Set("new".into()),
                score: Set(None),
            })
            .exec_without_returning(&conn)
            .await
            .unwrap();
            let ann = lead::Entity::find().one(&conn).await.unwrap().unwrap();
            call::Entity::insert(call::ActiveModel {
                id: id(1),
                company_id: Set(7),
                lead_id: Set(Some(ann.id)),
                disposition: Set("sale".into()),
                seconds: Set(42),
            })
            .exec_without_returning(&conn)
            .await
            .unwrap();
            let call = call::Entity::find().one(&conn).await.unwrap().unwrap();
            let first = if generated && backend != Backend::Sqlite {
                100
            } else {
                1
            };
            assert_eq!(
                (acme.id, ann.id, call.id),
                (first, first, first),
                "on {backend}"
            );
            assert_eq!(
                (acme.entity_id, ann.score, call.company_id, call.seconds),
                (7, None, 7, 42),
                "on {backend}"
            );
            assert_eq!(
                lead::Entity::find_by_id(ann.id)
                    .find_also_related(account::Entity)
                    .one(&conn)
                    .await
                    .unwrap(),
                Some((ann.clone(), Some(acme.clone()))),
                "on {backend}"
            );
            assert_eq!(
                acme.find_related(call::Entity).all(&conn).await.unwrap(),
                [call],
                "on {backend}"
            );
            assert_eq!(
                acme.find_related(region::Entity).one(&conn).await.unwrap(),
                Some(north),
                "on {backend}"
            );
        })
        .await;
    }
}

#[tokio::test]
async fn postgres_uuid_cells_render_as_their_text_and_blobs_stay_bytes() {
    for_each_backend(|conn| async move {
        let sql = match Backend::of(&conn) {
            Backend::Postgres => "SELECT '0B5C3A0E-2F57-4C3E-9D8C-2A1F5E6D7C80'::uuid AS u",
            Backend::MySql => "SELECT UNHEX('0b5c3a0e2f574c3e9d8c2a1f5e6d7c80') AS u",
            Backend::Sqlite => "SELECT X'0b5c3a0e2f574c3e9d8c2a1f5e6d7c80' AS u",
        };
        let expected = match Backend::of(&conn) {
            Backend::Postgres => "0b5c3a0e-2f57-4c3e-9d8c-2a1f5e6d7c80",
            Backend::MySql | Backend::Sqlite => "0x0b5c3a0e2f574c3e9d8c2a1f5e6d7c80",
        };
        assert_eq!(rows(&conn, sql).await, [[expected.to_owned()]]);
    })
    .await;
}
