//! Tenant lifecycle on every backend: onboarding is all or nothing;
//! exporting and purging one tenant leave every other tenant's rows
//! byte-identical; the purge deletes children before parents.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, JsonValue};
use tenancy_core::{Domain, TenantId, directory::Tenant};
use tenancy_seaorm::lifecycle::{PurgeMode, export_tenant, onboard, purge_tenant};
use tenancy_seaorm::{
    DirectoryWriteError, LifecycleError, TableRegistry, TenantKeyType, directory_store,
};

use tenancy_testkit::{Backend, exec, for_each_backend, rows};

/// Three scoped tables chained by foreign keys that carry the tenant, and a
/// global one.
const SCHEMA: &[&str] = &[
    "CREATE TABLE regions (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "CREATE TABLE accounts (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, name VARCHAR(40) NOT NULL, \
     PRIMARY KEY (entity_id, id))",
    "CREATE TABLE leads (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, account_id BIGINT NOT NULL, \
     name VARCHAR(40) NOT NULL, PRIMARY KEY (entity_id, id), \
     CONSTRAINT leads_account FOREIGN KEY (entity_id, account_id) REFERENCES accounts (entity_id, id))",
    "CREATE TABLE calls (company_id BIGINT NOT NULL, id BIGINT NOT NULL, lead_id BIGINT NOT NULL, \
     seconds INTEGER NOT NULL, PRIMARY KEY (company_id, id), \
     CONSTRAINT calls_lead FOREIGN KEY (company_id, lead_id) REFERENCES leads (entity_id, id))",
];

fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("accounts")
        .scoped_table("leads")
        .scoped_table_by("calls", "company_id")
        .global_table("regions")
        .build()
        .unwrap()
}

async fn setup(conn: &DatabaseConnection) {
    directory_store::migrate(conn, TenantKeyType::BigInt)
        .await
        .unwrap();
    for sql in SCHEMA {
        exec(conn, sql).await;
    }
    exec(conn, "INSERT INTO regions (id, name) VALUES (1, 'north')").await;
    for t in 1..=3_i64 {
        exec(
            conn,
            &format!("INSERT INTO accounts VALUES ({t}, 1, 'acme'), ({t}, 2, 'globex')"),
        )
        .await;
        exec(
            conn,
            &format!(
                "INSERT INTO leads VALUES ({t}, 1, 1, 'ann'), ({t}, 2, 1, 'bob'), ({t}, 3, 2, 'cy')"
            ),
        )
        .await;
        exec(
            conn,
            &format!("INSERT INTO calls VALUES ({t}, 1, 1, {t}0), ({t}, 2, 3, 7)"),
        )
        .await;
    }
}

/// Every row of every table, rendered, except `tenant`'s scoped and
/// directory rows.
async fn all_but(conn: &DatabaseConnection, tenant: i64) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (table, column) in [
        ("accounts", "entity_id"),
        ("leads", "entity_id"),
        ("calls", "company_id"),
    ] {
        for mut row in rows(
            conn,
            &format!("SELECT * FROM {table} WHERE {column} <> {tenant} ORDER BY {column}, id"),
        )
        .await
        {
            row.insert(0, table.to_owned());
            out.push(row);
        }
    }
    out.extend(rows(conn, "SELECT * FROM regions ORDER BY id").await);
    out.extend(
        rows(
            conn,
            &format!("SELECT id, slug, name, status FROM tenancy_tenants WHERE id <> {tenant} ORDER BY id"),
        )
        .await,
    );
    out.extend(
        rows(
            conn,
            &format!(
                "SELECT domain, tenant_id FROM tenancy_tenant_domains WHERE tenant_id <> {tenant} ORDER BY domain"
            ),
        )
        .await,
    );
    out
}

async fn count(conn: &DatabaseConnection, sql: &str) -> String {
    rows(conn, sql).await[0][0].clone()
}

#[tokio::test]
async fn export_and_purge_touch_one_tenant_only() {
    for_each_backend(|conn| async move {
        setup(&conn).await;
        let registry = registry();
        let others = all_but(&conn, 2).await;

        let mut out = Vec::new();
        let counts = export_tenant(&conn, &registry, 2.into(), &mut out)
            .await
            .unwrap();
        assert_eq!(
            counts,
            [
                ("accounts".to_owned(), 2),
                ("calls".to_owned(), 2),
                ("leads".to_owned(), 3)
            ]
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7);
        for line in &lines {
            // Every line is tenant 2's, whatever the table calls its column.
            assert!(
                line.contains("\"entity_id\":2,") || line.contains("\"company_id\":2,"),
                "{line}"
            );
            assert!(
                line.ends_with(r#""table":"accounts"}"#)
                    || line.ends_with(r#""table":"leads"}"#)
                    || line.ends_with(r#""table":"calls"}"#),
                "{line}"
            );
        }
        assert!(lines.contains(
            &r#"{"row":{"account_id":2,"entity_id":2,"id":3,"name":"cy"},"table":"leads"}"#
        ));
        assert_eq!(all_but(&conn, 2).await, others, "the export changed rows");

        // The dry run counts and deletes nothing.
        let dry = purge_tenant(&conn, &registry, 2.into(), PurgeMode::DryRun)
            .await
            .unwrap();
        assert_eq!(dry.mode, PurgeMode::DryRun);
        let expected = vec![
            ("calls".to_owned(), 2),
            ("leads".to_owned(), 3),
            ("accounts".to_owned(), 2),
        ];
        assert_eq!(dry.rows, expected, "children before parents");
        assert_eq!(
            count(&conn, "SELECT count(*) FROM leads WHERE entity_id = 2").await,
            "3"
        );

        let done = purge_tenant(&conn, &registry, 2.into(), PurgeMode::Delete)
            .await
            .unwrap();
        assert_eq!(done.mode, PurgeMode::Delete);
        assert_eq!(done.rows, expected);
        for (table, column) in [
            ("accounts", "entity_id"),
            ("leads", "entity_id"),
            ("calls", "company_id"),
        ] {
            assert_eq!(
                count(
                    &conn,
                    &format!("SELECT count(*) FROM {table} WHERE {column} = 2")
                )
                .await,
                "0"
            );
        }
        assert_eq!(
            all_but(&conn, 2).await,
            others,
            "the purge changed another tenant's rows"
        );

        // Purged, an export is empty and a second purge finds nothing.
        let mut out = Vec::new();
        export_tenant(&conn, &registry, 2.into(), &mut out)
            .await
            .unwrap();
        assert!(out.is_empty());
        let again = purge_tenant(&conn, &registry, 2.into(), PurgeMode::Delete)
            .await
            .unwrap();
        assert!(again.rows.iter().all(|(_, n)| *n == 0));
    })
    .await;
}

#[tokio::test]
async fn onboarding_is_one_transaction() {
    for_each_backend(|conn| async move {
        setup(&conn).await;
        let registry = registry();
        let before = all_but(&conn, 4).await;

        // A setup that fails half-way leaves nothing behind: no tenant, no
        // domain, no rows.
        let err = onboard(
            &conn,
            &registry,
            &Tenant::new(4, "stone", "Stone & Co"),
            &[Domain::parse("stone.example").unwrap()],
            |txn| {
                Box::pin(async move {
                    txn.execute_unprepared("INSERT INTO accounts (id, name) VALUES (1, 'first')")
                        .await?;
                    Err(DbErr::Custom("the seed data is wrong".into()))
                })
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, LifecycleError::Setup { tenant, source: DbErr::Custom(m) } if *tenant == TenantId::new(4) && m == "the seed data is wrong"),
            "{err}"
        );
        assert_eq!(all_but(&conn, 4).await, before);
        assert_eq!(count(&conn, "SELECT count(*) FROM accounts WHERE entity_id = 4").await, "0");

        // A domain another tenant has: refused, nothing written.
        directory_store::create_tenant(
            &conn,
            TenantKeyType::BigInt,
            &Tenant::new(1, "golden", "Golden Key"),
            &[Domain::parse("golden.example").unwrap()],
        )
        .await
        .unwrap();
        let before = all_but(&conn, 4).await;
        let err = onboard(
            &conn,
            &registry,
            &Tenant::new(4, "stone", "Stone & Co"),
            &[
                Domain::parse("stone.example").unwrap(),
                Domain::parse("golden.example").unwrap(),
            ],
            |_| Box::pin(async { Ok(()) }),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, LifecycleError::Directory(DirectoryWriteError::DomainTaken(_))),
            "{err}"
        );
        assert_eq!(all_but(&conn, 4).await, before);

        // The real thing: the directory rows and the first rows together,
        // the rows stamped with the new tenant by the scoped transaction.
        onboard(
            &conn,
            &registry,
            &Tenant::new(4, "stone", "Stone & Co"),
            &[
                Domain::parse("stone.example").unwrap(),
                Domain::parse("www.stone.example").unwrap(),
            ],
            |txn| {
                Box::pin(async move {
                    txn.execute_unprepared("INSERT INTO accounts (id, name) VALUES (1, 'first')")
                        .await?;
                    // Scoped: the setup can't see or touch other tenants.
                    let seen = txn
                        .query_all_raw(sea_orm::Statement::from_string(
                            txn.get_database_backend(),
                            "SELECT id FROM accounts",
                        ))
                        .await?;
                    assert_eq!(seen.len(), 1);
                    Ok(())
                })
            },
        )
        .await
        .unwrap();
        assert_eq!(
            rows(&conn, "SELECT entity_id, id, name FROM accounts WHERE entity_id = 4").await,
            [["4", "1", "first"]]
        );
        assert_eq!(
            rows(&conn, "SELECT domain FROM tenancy_tenant_domains WHERE tenant_id = 4 ORDER BY domain").await,
            [["stone.example"], ["www.stone.example"]]
        );
        assert_eq!(
            rows(&conn, "SELECT slug, status FROM tenancy_tenants WHERE id = 4").await,
            [["stone", "active"]]
        );
        // Everyone else exactly as before.
        assert_eq!(all_but(&conn, 4).await, before);
    })
    .await;
}

#[tokio::test]
async fn a_foreign_key_cycle_is_refused_before_anything_is_deleted() {
    tenancy_testkit::with_db(Backend::Sqlite, |conn| async move {
        // SQLite accepts references to tables created later.
        for sql in [
            "CREATE TABLE a (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, b_id BIGINT, \
             PRIMARY KEY (entity_id, id), FOREIGN KEY (entity_id, b_id) REFERENCES b (entity_id, id))",
            "CREATE TABLE b (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, a_id BIGINT, \
             PRIMARY KEY (entity_id, id), FOREIGN KEY (entity_id, a_id) REFERENCES a (entity_id, id))",
            "INSERT INTO a VALUES (1, 1, NULL)",
        ] {
            exec(&conn, sql).await;
        }
        let registry = TableRegistry::builder()
            .scoped_table("a")
            .scoped_table("b")
            .build()
            .unwrap();
        let err = purge_tenant(&conn, &registry, 1.into(), PurgeMode::Delete).await.unwrap_err();
        assert!(
            matches!(&err, LifecycleError::ForeignKeyCycle(t) if t == &["a", "b"]),
            "{err}"
        );
        assert_eq!(err.to_string(), "foreign keys between scoped tables form a cycle through a, b");
        assert_eq!(count(&conn, "SELECT count(*) FROM a").await, "1");

        let missing = TableRegistry::builder().scoped_table("nowhere").build().unwrap();
        let err = purge_tenant(&conn, &missing, 1.into(), PurgeMode::DryRun).await.unwrap_err();
        assert!(matches!(&err, LifecycleError::MissingTable(t) if t == "nowhere"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn export_rows_are_json() {
    // The lines parse back to objects with the row's columns.
    tenancy_testkit::with_db(Backend::Sqlite, |conn| async move {
        setup(&conn).await;
        let mut out = Vec::new();
        export_tenant(&conn, &registry(), 3.into(), &mut out)
            .await
            .unwrap();
        let first = String::from_utf8(out)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        let value: JsonValue = first
            .parse::<JsonValue>()
            .unwrap_or_else(|e| panic!("{e}: {first}"));
        assert_eq!(value["table"], "accounts");
        assert_eq!(value["row"]["entity_id"], 3);
    })
    .await;
}

mod with_config {
    use tenancy_config::{ConfigRegistry, Key, Scope};
    use tenancy_core::TenantId;
    use tenancy_seaorm::config_store::SeaOrmConfigStore;
    use tenancy_seaorm::lifecycle::{InitialConfig, onboard_with_config};

    use super::*;

    static DISPOSITIONS: Key<Vec<String>> = Key::new("dialer.dispositions", "dispositions", || {
        vec!["answered".into()]
    })
    .with_validator(|d| {
        if d.is_empty() {
            Err("empty".into())
        } else {
            Ok(())
        }
    });

    #[tokio::test]
    async fn configuration_commits_with_the_tenant_or_not_at_all() {
        for_each_backend(|conn| async move {
            setup(&conn).await;
            let store = SeaOrmConfigStore::new(conn.clone());
            store.migrate().await.unwrap();
            let config = ConfigRegistry::builder()
                .key(&DISPOSITIONS)
                .load(store.clone())
                .await
                .unwrap();
            let stone = TenantId::new(4);
            let tenant = Tenant::new(stone, "stone", "Stone & Co");
            let domains = [Domain::parse("stone.example").unwrap()];
            let sold = || vec!["sold".to_owned()];
            let overrides = "SELECT COUNT(*) FROM tenancy_config_overrides";

            // An invalid value never becomes a change.
            assert!(
                config
                    .prepare("onboarding", Scope::Tenant(stone), &DISPOSITIONS, vec![])
                    .is_err()
            );

            // A failing setup rolls back the configuration too.
            let changes = vec![
                config
                    .prepare("onboarding", Scope::Tenant(stone), &DISPOSITIONS, sold())
                    .unwrap(),
            ];
            let err = onboard_with_config(
                &conn,
                &registry(),
                &tenant,
                &domains,
                InitialConfig {
                    registry: &config,
                    store: &store,
                    changes,
                },
                |_| Box::pin(async { Err(DbErr::Custom("no".into())) }),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, LifecycleError::Setup { .. }), "{err}");
            assert_eq!(count(&conn, overrides).await, "0");
            assert_eq!(
                count(&conn, "SELECT COUNT(*) FROM tenancy_tenants").await,
                "0"
            );

            // A change for another scope is refused, and nothing is written.
            let changes = vec![
                config
                    .prepare("onboarding", Scope::Global, &DISPOSITIONS, sold())
                    .unwrap(),
            ];
            let err = onboard_with_config(
                &conn,
                &registry(),
                &tenant,
                &domains,
                InitialConfig {
                    registry: &config,
                    store: &store,
                    changes,
                },
                |_| Box::pin(async { Ok(()) }),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    LifecycleError::ConfigScope {
                        scope: Scope::Global,
                        ..
                    }
                ),
                "{err}"
            );
            assert_eq!(count(&conn, overrides).await, "0");
            assert_eq!(
                count(&conn, "SELECT COUNT(*) FROM tenancy_tenants").await,
                "0"
            );

            // The real thing: tenant, domain, override and its audit row.
            let changes = vec![
                config
                    .prepare("onboarding", Scope::Tenant(stone), &DISPOSITIONS, sold())
                    .unwrap(),
            ];
            onboard_with_config(
                &conn,
                &registry(),
                &tenant,
                &domains,
                InitialConfig {
                    registry: &config,
                    store: &store,
                    changes,
                },
                |_| Box::pin(async { Ok(()) }),
            )
            .await
            .unwrap();
            assert_eq!(config.get(stone, &DISPOSITIONS).unwrap(), sold());
            assert_eq!(
                config.get(TenantId::new(1), &DISPOSITIONS).unwrap(),
                ["answered"]
            );
            assert_eq!(count(&conn, overrides).await, "1");
            assert_eq!(
                count(&conn, "SELECT COUNT(*) FROM tenancy_config_audit").await,
                "1"
            );
            assert_eq!(
                count(&conn, "SELECT COUNT(*) FROM tenancy_tenants").await,
                "1"
            );
        })
        .await;
    }
}
