//! What the scoped connection tells `tracing`: a span per statement carrying
//! the tenant, and refusals at WARN with their reason but never the values
//! bound to the statement.
//!
//! Alone in its test binary: tracing caches each callsite's interest, and a
//! test running beside it without a subscriber could make its events
//! invisible.

use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tenancy_seaorm::{TableRegistry, TenantConnection};
use tracing_subscriber::fmt::{MakeWriter, format::FmtSpan};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

// A current-thread runtime keeps every poll on this thread, where the
// subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn spans_carry_the_tenant_and_refusals_hide_values() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::NEW)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = Database::connect("sqlite::memory:").await.expect("sqlite");
    db.execute_unprepared(
        "CREATE TABLE leads (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, token TEXT)",
    )
    .await
    .expect("schema");
    let registry = TableRegistry::builder()
        .scoped_table("leads")
        .build()
        .expect("registry");
    let scoped = TenantConnection::new(db, registry, 42);

    scoped
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT id FROM leads WHERE token = ?",
            ["open-sesame".into()],
        ))
        .await
        .expect("scoped read");
    let refused = scoped
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT * FROM secrets WHERE token = ?",
            ["hunter2".into()],
        ))
        .await;
    assert!(refused.is_err());

    let logs = captured.text();
    assert!(
        logs.contains("tenancy.statement{tenant=42 kind=\"select\"}"),
        "no span with the tenant:\n{logs}"
    );
    let warning = logs
        .lines()
        .find(|line| line.contains("WARN") && line.contains("statement refused"))
        .unwrap_or_else(|| panic!("no WARN for the refusal:\n{logs}"));
    assert!(warning.contains("tenant=42"), "{warning}");
    assert!(
        warning.contains("secrets"),
        "the reason names the table: {warning}"
    );
    assert!(
        !logs.contains("hunter2"),
        "a bound value reached the logs:\n{logs}"
    );
    assert!(
        !logs.contains("open-sesame"),
        "a bound value reached the logs:\n{logs}"
    );
}
