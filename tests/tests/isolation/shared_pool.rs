//! A scoped connection and the plain connection share one pool, and the
//! driver caches prepared statements by SQL text. When a rewritten statement
//! has the same text as the original (an insert that names its own tenant,
//! a read of global tables only), both must bind the same number of values,
//! or the second one to run fails ("bind message supplies 8 parameters, but
//! prepared statement requires 9" on PostgreSQL).

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};
use tenancy_seaorm::{TableRegistry, TenantConnection};
use tenancy_testkit::fixtures::{Schema, lead};
use tenancy_testkit::{exec, for_each_backend, rows};

fn new_lead(id: i32, tenant: i64) -> lead::ActiveModel {
    lead::ActiveModel {
        id: Set(id),
        entity_id: Set(tenant),
        name: Set(format!("lead {id}")),
        status: Set("new".to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_same_text_on_both_connections_binds_alike() {
    for_each_backend(|conn| async move {
        Schema::new().create(&conn).await;
        exec(&conn, "INSERT INTO regions VALUES (1, 'north')").await;
        let registry = TableRegistry::builder()
            .scoped_table("leads")
            .global_table("regions")
            .build()
            .unwrap();
        let scoped = TenantConnection::new(conn.clone(), registry, 1);
        // Interleave many times, so whichever side prepares first, the
        // other reuses the cached statement.
        for i in 0..6 {
            lead::Entity::insert(new_lead(10 + i, 1))
                .exec_without_returning(&scoped)
                .await
                .unwrap();
            lead::Entity::insert(new_lead(20 + i, 2))
                .exec_without_returning(&conn)
                .await
                .unwrap();
        }
        let backend = conn.get_database_backend();
        let read = match backend {
            DbBackend::Postgres => "SELECT name FROM regions WHERE id = $1",
            _ => "SELECT name FROM regions WHERE id = ?",
        };
        for _ in 0..3 {
            let stmt = Statement::from_sql_and_values(backend, read, [1i64.into()]);
            assert_eq!(scoped.query_all_raw(stmt.clone()).await.unwrap().len(), 1);
            assert_eq!(conn.query_all_raw(stmt).await.unwrap().len(), 1);
        }
        assert_eq!(
            rows(
                &conn,
                "SELECT entity_id, COUNT(*) FROM leads GROUP BY entity_id ORDER BY entity_id"
            )
            .await,
            [["1", "6"], ["2", "6"]]
        );
    })
    .await;
}
