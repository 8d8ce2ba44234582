//! The schema audit on every backend: a schema that keeps tenants apart
//! passes clean, and each way a schema can let tenants reach each other is
//! reported as its own finding, read from the backend's own catalogs.

use sea_orm::DatabaseConnection;
use tenancy_seaorm::TableRegistry;
use tenancy_seaorm::schema_audit::{SchemaAuditError, SchemaFinding, audit_schema, ensure_schema};

use tenancy_testkit::{Backend, exec, for_each_backend};

/// The registry both schemas are audited against.
fn registry() -> TableRegistry {
    TableRegistry::builder()
        .scoped_table("accounts")
        .scoped_table("leads")
        .scoped_table_by("calls", "company_id")
        .global_table("regions")
        .build()
        .unwrap()
}

/// Every key leads with the tenant column; foreign keys between scoped
/// tables carry it; the one to the global table needn't.
const CLEAN: &[&str] = &[
    "CREATE TABLE regions (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "CREATE TABLE accounts (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, name VARCHAR(40) NOT NULL, \
     region_id INTEGER NULL, PRIMARY KEY (entity_id, id), CONSTRAINT accounts_name UNIQUE (entity_id, name), \
     CONSTRAINT accounts_region FOREIGN KEY (region_id) REFERENCES regions (id))",
    "CREATE TABLE leads (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, account_id BIGINT NOT NULL, \
     email VARCHAR(80) NOT NULL, PRIMARY KEY (entity_id, id), \
     CONSTRAINT leads_account FOREIGN KEY (entity_id, account_id) REFERENCES accounts (entity_id, id))",
    "CREATE UNIQUE INDEX leads_email ON leads (entity_id, email)",
    "CREATE TABLE calls (company_id BIGINT NOT NULL, id BIGINT NOT NULL, lead_id BIGINT NOT NULL, \
     PRIMARY KEY (company_id, id), \
     CONSTRAINT calls_lead FOREIGN KEY (company_id, lead_id) REFERENCES leads (entity_id, id))",
];

async fn create(conn: &DatabaseConnection, ddl: &[&str]) {
    for sql in ddl {
        exec(conn, sql).await;
    }
}

/// A finding with the constraint name left out (SQLite has none, and each
/// backend names primary keys its own way).
fn shape(finding: &SchemaFinding) -> String {
    match finding {
        SchemaFinding::MissingTable { table } => format!("missing table {table}"),
        SchemaFinding::MissingColumn { table, column } => {
            format!("missing column {table}.{column}")
        }
        SchemaFinding::NullableColumn { table, column } => format!("nullable {table}.{column}"),
        SchemaFinding::NoLeadingIndex { table, column } => {
            format!("no index leads with {table}.{column}")
        }
        SchemaFinding::UniqueWithoutTenant { table, columns, .. } => {
            format!("unique {table}({})", columns.join(","))
        }
        SchemaFinding::ForeignKeyWithoutTenant {
            table,
            columns,
            references,
            ..
        } => format!("foreign key {table}({}) -> {references}", columns.join(",")),
        other => format!("{other:?}"),
    }
}

fn sorted_shapes(findings: &[SchemaFinding]) -> Vec<String> {
    let mut shapes: Vec<_> = findings.iter().map(shape).collect();
    shapes.sort();
    shapes
}

#[tokio::test]
async fn a_schema_that_keeps_tenants_apart_passes_clean() {
    for_each_backend(|conn| async move {
        create(&conn, CLEAN).await;
        let findings = audit_schema(&conn, &registry()).await.unwrap();
        assert_eq!(findings, [], "on {}", Backend::of(&conn));
        ensure_schema(&conn, &registry()).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn every_way_a_schema_leaks_is_a_finding() {
    for_each_backend(|conn| async move {
        create(
            &conn,
            &[
                "CREATE TABLE regions (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)",
                // Nullable tenant column, no index on it, a primary key and a
                // unique constraint without it.
                "CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, entity_id BIGINT NULL, \
                 name VARCHAR(40) NOT NULL, CONSTRAINT accounts_name UNIQUE (name))",
                // A foreign key that can point at another tenant's account.
                "CREATE TABLE leads (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, \
                 account_id BIGINT NOT NULL, PRIMARY KEY (entity_id, id), \
                 CONSTRAINT leads_account FOREIGN KEY (account_id) REFERENCES accounts (id))",
                // No tenant column at all.
                "CREATE TABLE calls (id BIGINT NOT NULL PRIMARY KEY, lead_id BIGINT NOT NULL)",
            ],
        )
        .await;
        let registry = TableRegistry::builder()
            .scoped_table("accounts")
            .scoped_table("leads")
            .scoped_table_by("calls", "company_id")
            .scoped_table("ghosts")
            .global_table("regions")
            .build()
            .unwrap();
        let findings = audit_schema(&conn, &registry).await.unwrap();
        let backend = Backend::of(&conn);
        assert_eq!(
            sorted_shapes(&findings),
            [
                "foreign key leads(account_id) -> accounts",
                "missing column calls.company_id",
                "missing table ghosts",
                "no index leads with accounts.entity_id",
                "nullable accounts.entity_id",
                "unique accounts(id)",
                "unique accounts(name)",
            ],
            "on {backend}"
        );
        // Where the backend names constraints, the finding names them.
        let names: Vec<&str> = findings
            .iter()
            .filter_map(|f| match f {
                SchemaFinding::UniqueWithoutTenant { name, .. }
                | SchemaFinding::ForeignKeyWithoutTenant { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        match backend {
            Backend::Postgres => {
                assert_eq!(names, ["accounts_name", "accounts_pkey", "leads_account"])
            }
            Backend::MySql => assert_eq!(names, ["PRIMARY", "accounts_name", "leads_account"]),
            Backend::Sqlite => assert_eq!(names.len(), 3),
        }

        match ensure_schema(&conn, &registry).await.unwrap_err() {
            SchemaAuditError::Findings(all) => assert_eq!(all, findings),
            other => panic!("expected findings, got {other}"),
        }
    })
    .await;
}

#[tokio::test]
async fn findings_read_as_sentences() {
    for_each_backend(|conn| async move {
        create(
            &conn,
            &[
                "CREATE TABLE accounts (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, \
               email VARCHAR(80) NOT NULL, PRIMARY KEY (entity_id, id), \
               CONSTRAINT accounts_email UNIQUE (email))",
            ],
        )
        .await;
        let registry = TableRegistry::builder()
            .scoped_table("accounts")
            .build()
            .unwrap();
        let err = ensure_schema(&conn, &registry).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("the schema audit found 1: unique key `")
                && message.ends_with(
                    "` on `accounts` (email) does not include the tenant column `entity_id`"
                ),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_foreign_key_must_pair_the_tenant_columns() {
    for_each_backend(|conn| async move {
        // Both columns are in the key, but the tenant column is matched
        // with the parent's id: still a path into another tenant's rows.
        create(
            &conn,
            &[
                "CREATE TABLE accounts (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, \
                 PRIMARY KEY (entity_id, id), CONSTRAINT accounts_id UNIQUE (id, entity_id))",
                "CREATE TABLE leads (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, \
                 account_id BIGINT NOT NULL, PRIMARY KEY (entity_id, id), \
                 CONSTRAINT leads_crossed FOREIGN KEY (account_id, entity_id) REFERENCES accounts (entity_id, id))",
            ],
        )
        .await;
        let registry = TableRegistry::builder()
            .scoped_table("accounts")
            .scoped_table("leads")
            .build()
            .unwrap();
        let findings = audit_schema(&conn, &registry).await.unwrap();
        assert_eq!(
            sorted_shapes(&findings),
            ["foreign key leads(account_id,entity_id) -> accounts"],
            "on {}",
            Backend::of(&conn)
        );
    })
    .await;
}

#[tokio::test]
async fn an_expression_key_without_the_tenant_is_a_finding() {
    // MariaDB has no expression indexes; SQLite and PostgreSQL do.
    for_each_backend(|conn| async move {
        if Backend::of(&conn) == Backend::MySql {
            return;
        }
        create(
            &conn,
            &[
                "CREATE TABLE accounts (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, \
                 name VARCHAR(40) NOT NULL, PRIMARY KEY (entity_id, id))",
                "CREATE UNIQUE INDEX accounts_lower_name ON accounts (lower(name))",
                "CREATE UNIQUE INDEX accounts_tenant_lower_name ON accounts (entity_id, lower(name))",
            ],
        )
        .await;
        let registry = TableRegistry::builder().scoped_table("accounts").build().unwrap();
        let findings = audit_schema(&conn, &registry).await.unwrap();
        assert_eq!(
            findings,
            [SchemaFinding::UniqueWithoutTenant {
                table: "accounts".into(),
                name: "accounts_lower_name".into(),
                columns: vec!["<expression>".into()],
                column: "entity_id".into(),
            }],
            "on {}",
            Backend::of(&conn)
        );
    })
    .await;
}

#[tokio::test]
async fn sqlite_rowid_primary_key_counts_as_a_unique_key() {
    tenancy_testkit::with_db(Backend::Sqlite, |conn| async move {
        create(
            &conn,
            &[
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL)",
                "CREATE INDEX accounts_tenant ON accounts (entity_id, id)",
            ],
        )
        .await;
        let registry = TableRegistry::builder()
            .scoped_table("accounts")
            .build()
            .unwrap();
        let findings = audit_schema(&conn, &registry).await.unwrap();
        assert_eq!(sorted_shapes(&findings), ["unique accounts(id)"]);
    })
    .await;
}

#[tokio::test]
async fn the_reference_crm_schema_passes_clean() {
    for_each_backend(|conn| async move {
        crm::schema::migrate(&conn).await.unwrap();
        let registry = crm::schema::tables().unwrap();
        assert_eq!(registry.scoped_tables().len(), crm::schema::SCOPED.len());
        let findings = audit_schema(&conn, &registry).await.unwrap();
        assert_eq!(findings, [], "on {}", Backend::of(&conn));
    })
    .await;
}
