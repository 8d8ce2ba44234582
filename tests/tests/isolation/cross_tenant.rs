//! The cross-tenant reader on every backend: it reads every tenant's rows,
//! refuses every write and every locking or unregistered read before the
//! database sees it, audits each read first, and (PostgreSQL, MySQL) runs
//! inside a READ ONLY transaction as a second wall.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Statement};
use tenancy_seaorm::cross_tenant::MemoryAudit;
use tenancy_seaorm::{AuditSink, CrossTenantRead, CrossTenantReader, Refusal, TableRegistry};
use tenancy_testkit::{Backend, exec, for_each_backend, rows};

mod call {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub entity_id: i64,
        pub seconds: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

async fn setup(conn: &sea_orm::DatabaseConnection) -> TableRegistry {
    exec(conn, "CREATE TABLE calls (id BIGINT PRIMARY KEY, entity_id BIGINT NOT NULL, seconds INTEGER NOT NULL)").await;
    exec(
        conn,
        "CREATE TABLE secrets (id BIGINT PRIMARY KEY, value VARCHAR(20))",
    )
    .await;
    exec(
        conn,
        "INSERT INTO calls VALUES (1, 1, 10), (2, 2, 20), (3, 2, 30), (4, 3, 40)",
    )
    .await;
    exec(conn, "INSERT INTO secrets VALUES (1, 'hunter2')").await;
    TableRegistry::builder()
        .scoped_table("calls")
        .build()
        .unwrap()
}

fn stmt(conn: &sea_orm::DatabaseConnection, sql: &str) -> Statement {
    Statement::from_string(conn.get_database_backend(), sql)
}

#[tokio::test]
async fn reads_every_tenant_and_audits_each_read() {
    for_each_backend(|conn| async move {
        let registry = setup(&conn).await;
        let audit = MemoryAudit::default();
        let reader = CrossTenantReader::new(conn.clone(), registry, "ops@platform", "weekly report", audit.clone());
        let all = call::Entity::find().all(&reader).await.unwrap();
        assert_eq!(all.iter().map(|c| c.entity_id).collect::<Vec<_>>().len(), 4);
        let per = reader
            .query_all_raw(stmt(&conn, "SELECT entity_id, SUM(seconds) AS s FROM calls GROUP BY entity_id ORDER BY entity_id"))
            .await
            .unwrap();
        assert_eq!(per.len(), 3);
        let records = audit.records();
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.actor == "ops@platform" && r.purpose == "weekly report"));
        // The audit holds the canonical rendering the database ran.
        assert!(records[1].sql.contains("GROUP BY ") && records[1].sql.contains("entity_id"), "{}", records[1].sql);
    })
    .await;
}

#[tokio::test]
async fn refuses_writes_locks_and_unregistered_tables_before_the_database() {
    for_each_backend(|conn| async move {
        let registry = setup(&conn).await;
        let backend = Backend::of(&conn);
        let audit = MemoryAudit::default();
        let reader = CrossTenantReader::new(conn.clone(), registry, "ops", "test", audit.clone());
        let before = rows(
            &conn,
            "SELECT id, entity_id, seconds FROM calls ORDER BY id",
        )
        .await;

        for sql in [
            "DELETE FROM calls",
            "UPDATE calls SET seconds = 0",
            "INSERT INTO calls VALUES (9, 9, 9)",
            "DROP TABLE calls",
        ] {
            let err = reader.execute_unprepared(sql).await.unwrap_err();
            assert_eq!(
                Refusal::from_db_err(&err).map(Refusal::kind),
                Some("read_only"),
                "{sql}: {err}"
            );
            let err = reader.execute_raw(stmt(&conn, sql)).await.unwrap_err();
            assert_eq!(
                Refusal::from_db_err(&err).map(Refusal::kind),
                Some("read_only"),
                "{sql}: {err}"
            );
        }
        let mut queries = vec![
            ("DELETE FROM calls", "read_only"),
            (
                "SELECT id FROM calls; DELETE FROM calls",
                "multiple_statements",
            ),
            ("SELECT value FROM secrets", "unregistered_table"),
            (
                "SELECT * FROM calls WHERE id IN (SELECT id FROM secrets)",
                "unregistered_table",
            ),
        ];
        if backend != Backend::Sqlite {
            queries.push(("SELECT id FROM calls FOR UPDATE", "read_only"));
        }
        match backend {
            Backend::Postgres => {
                queries.push(("SELECT set_config('x.y', '1', false)", "function"));
                queries.push(("SELECT relname FROM pg_class", "unregistered_table"));
            }
            Backend::MySql => queries.push(("SELECT user FROM mysql.user", "unregistered_table")),
            Backend::Sqlite => {
                queries.push(("SELECT name FROM sqlite_master", "unregistered_table"))
            }
        }
        for (sql, kind) in queries {
            let err = reader.query_all_raw(stmt(&conn, sql)).await.unwrap_err();
            assert_eq!(
                Refusal::from_db_err(&err).map(Refusal::kind),
                Some(kind),
                "{sql}: {err}"
            );
        }
        assert!(
            audit.records().is_empty(),
            "refused statements are not audited as reads"
        );
        assert_eq!(
            rows(
                &conn,
                "SELECT id, entity_id, seconds FROM calls ORDER BY id"
            )
            .await,
            before
        );
    })
    .await;
}

#[tokio::test]
async fn mysql_executable_comments_never_reach_the_database() {
    for_each_backend(|conn| async move {
        let registry = setup(&conn).await;
        let audit = MemoryAudit::default();
        let reader = CrossTenantReader::new(conn.clone(), registry, "ops", "test", audit.clone());
        // On MySQL the comment's content would run. Either the parser reads
        // it as code and the rules refuse it, or it is a comment and the
        // re-rendered statement drops it: it never runs unchecked.
        let result = reader
            .query_all_raw(stmt(
                &conn,
                "SELECT id FROM calls /*!50000 UNION SELECT id FROM secrets */ ORDER BY id",
            ))
            .await;
        match result {
            Ok(got) => {
                assert_eq!(got.len(), 4);
                assert!(!audit.records()[0].sql.contains("secrets"));
            }
            Err(err) => assert_eq!(
                Refusal::from_db_err(&err),
                Some(&Refusal::UnregisteredTable("secrets".into())),
                "{err}"
            ),
        }
    })
    .await;
}

#[derive(Debug, Default)]
struct BrokenAudit(AtomicBool);

#[async_trait::async_trait]
impl AuditSink for BrokenAudit {
    async fn record(&self, _read: &CrossTenantRead) -> Result<(), DbErr> {
        self.0.store(true, Ordering::SeqCst);
        Err(DbErr::Custom("audit table unavailable".into()))
    }
}

#[tokio::test]
async fn an_unaudited_read_does_not_run() {
    for_each_backend(|conn| async move {
        let registry = TableRegistry::builder()
            .scoped_table("calls")
            .scoped_table("missing")
            .build()
            .unwrap();
        setup(&conn).await;
        let broken = Arc::new(BrokenAudit::default());
        let reader = CrossTenantReader::new(
            conn.clone(),
            registry,
            "ops",
            "test",
            SharedAudit(broken.clone()),
        );
        // `missing` does not exist: had the read run, the database would
        // have failed it; it never got that far.
        let err = reader
            .query_all_raw(stmt(&conn, "SELECT * FROM missing"))
            .await
            .unwrap_err();
        assert_eq!(
            Refusal::from_db_err(&err).map(Refusal::kind),
            Some("unaudited"),
            "{err}"
        );
        assert!(broken.0.load(Ordering::SeqCst));
    })
    .await;
}

#[derive(Debug)]
struct SharedAudit(Arc<BrokenAudit>);

#[async_trait::async_trait]
impl AuditSink for SharedAudit {
    async fn record(&self, read: &CrossTenantRead) -> Result<(), DbErr> {
        self.0.record(read).await
    }
}

#[tokio::test]
async fn postgres_runs_reads_in_a_read_only_transaction() {
    for_each_backend(|conn| async move {
        if Backend::of(&conn) != Backend::Postgres {
            return;
        }
        setup(&conn).await;
        // The allowlist refuses `nextval`; an application that allows it
        // still has the database's READ ONLY transaction as a second wall.
        let registry = TableRegistry::builder()
            .scoped_table("calls")
            .allow_function("nextval")
            .build()
            .unwrap();
        exec(&conn, "CREATE SEQUENCE calls_seq").await;
        let reader = CrossTenantReader::new(
            conn.clone(),
            registry,
            "ops",
            "test",
            MemoryAudit::default(),
        );
        // nextval writes; the checks let this allowed function through,
        // the database's READ ONLY transaction does not.
        let err = reader
            .query_all_raw(stmt(&conn, "SELECT nextval('calls_seq') FROM calls"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read-only transaction"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn bound_values_reach_their_own_placeholders() {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    for_each_backend(|conn| async move {
        let registry = setup(&conn).await;
        let reader = CrossTenantReader::new(
            conn.clone(),
            registry,
            "ops@platform",
            "paging",
            MemoryAudit::default(),
        );
        // Swapping any two values changes the answer: 15 and 3 swapped
        // would keep ids 1..4, and the offset would land on 2.
        let page = call::Entity::find()
            .filter(call::Column::Seconds.gt(15))
            .filter(call::Column::EntityId.ne(3))
            .order_by_asc(call::Column::Id)
            .limit(1)
            .offset(1)
            .all(&reader)
            .await
            .unwrap();
        assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), [3]);
        if conn.get_database_backend() == sea_orm::DbBackend::MySql {
            // MySQL's `LIMIT offset, count`: two `?` the renderer must keep
            // in the caller's order.
            let rows = reader
                .query_all_raw(Statement::from_sql_and_values(
                    sea_orm::DbBackend::MySql,
                    "SELECT id FROM calls WHERE seconds > ? ORDER BY id LIMIT ?, ?",
                    [5_i32.into(), 1_u64.into(), 2_u64.into()],
                ))
                .await
                .unwrap();
            let ids: Vec<i64> = rows.iter().map(|r| r.try_get("", "id").unwrap()).collect();
            assert_eq!(ids, [2, 3]);
        }
    })
    .await;
}
