//! The schema audit: does the database's schema keep tenants apart by itself?
//!
//! The rewrite scopes statements, but a schema can leak on its own. A
//! unique key without the tenant column tells one tenant, through a
//! conflict, that another tenant has a value; a foreign key without it lets
//! one tenant's row point at another's; a nullable tenant column holds rows
//! that belong to nobody; and a table with no index that leads with the
//! tenant column makes every scoped query a scan. [`audit_schema`] reads the
//! catalogs (SQLite's `pragma_*` functions, PostgreSQL's `pg_catalog`,
//! MySQL's `information_schema`) and reports each of these for every scoped
//! table of a [`TableRegistry`], as a typed [`SchemaFinding`].
//!
//! Call [`ensure_schema`] at start-up to refuse to run on a schema with
//! findings, or [`audit_schema`] from a test to assert on them.
//!
//! ```
//! use sea_orm::{ConnectionTrait, Database};
//! use tenancy_seaorm::TableRegistry;
//! use tenancy_seaorm::schema_audit::{SchemaFinding, audit_schema};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.execute_unprepared(
//!     "CREATE TABLE leads (entity_id BIGINT NOT NULL, id BIGINT NOT NULL, email TEXT UNIQUE, \
//!      PRIMARY KEY (entity_id, id))",
//! )
//! .await?;
//! let registry = TableRegistry::builder().scoped_table("leads").build()?;
//!
//! let findings = audit_schema(&db, &registry).await?;
//! assert!(matches!(
//!     &findings[..],
//!     [SchemaFinding::UniqueWithoutTenant { table, columns, .. }] if table == "leads" && columns == &["email"]
//! ));
//! # Ok(()) }
//! ```

use std::fmt;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};
use tracing::Instrument;

use crate::{TableRegistry, TenantKeyType};

/// One way a scoped table's schema lets tenants reach each other, or
/// doesn't keep them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaFinding {
    /// The scoped table is not in the database.
    #[error("scoped table `{table}` does not exist")]
    MissingTable {
        /// The table.
        table: String,
    },
    /// The table has no tenant column.
    #[error("scoped table `{table}` has no tenant column `{column}`")]
    MissingColumn {
        /// The table.
        table: String,
        /// The tenant column it should have.
        column: String,
    },
    /// The tenant column allows NULL: rows that belong to no tenant.
    #[error("tenant column `{table}`.`{column}` allows null")]
    NullableColumn {
        /// The table.
        table: String,
        /// Its tenant column.
        column: String,
    },
    /// The tenant column's type does not hold the registry's
    /// [`TenantKeyType`] as the rewrite binds it (a `bigint` column for UUID
    /// keys, `char(36)` for bytes, ...): every statement would compare it
    /// with a value of another type.
    #[error(
        "tenant column `{table}`.`{column}` is `{found}`, which does not hold {expected:?} keys"
    )]
    KeyType {
        /// The table.
        table: String,
        /// Its tenant column.
        column: String,
        /// The registry's key type.
        expected: TenantKeyType,
        /// The column's type, as the catalog spells it.
        found: String,
    },
    /// No index starts with the tenant column.
    #[error("no index on `{table}` leads with its tenant column `{column}`")]
    NoLeadingIndex {
        /// The table.
        table: String,
        /// Its tenant column.
        column: String,
    },
    /// A primary key or unique constraint (or unique index) without the
    /// tenant column: a conflict reveals another tenant's value.
    #[error(
        "unique key `{name}` on `{table}` ({}) does not include the tenant column `{column}`",
        columns.join(", ")
    )]
    UniqueWithoutTenant {
        /// The table.
        table: String,
        /// The constraint or index.
        name: String,
        /// Its columns, in order (`<expression>` for an expression).
        columns: Vec<String>,
        /// The tenant column.
        column: String,
    },
    /// A foreign key to another scoped table that does not carry the tenant
    /// column to the referenced table's tenant column: a row can point at
    /// another tenant's row.
    #[error(
        "foreign key `{name}` from `{table}` ({}) to scoped table `{references}` does not match `{column}` to its tenant column",
        columns.join(", ")
    )]
    ForeignKeyWithoutTenant {
        /// The referencing table.
        table: String,
        /// The constraint (SQLite has no names: `fk<n>`).
        name: String,
        /// The referencing columns, in order.
        columns: Vec<String>,
        /// The referenced table.
        references: String,
        /// The referencing table's tenant column.
        column: String,
    },
}

/// Why the audit did not pass.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaAuditError {
    /// The schema has findings.
    #[error("the schema audit found {}: {}", .0.len(), Findings(.0))]
    Findings(Vec<SchemaFinding>),
    /// Reading the catalogs failed.
    #[error("database error during the schema audit")]
    Db(#[source] DbErr),
}

impl From<DbErr> for SchemaAuditError {
    fn from(err: DbErr) -> Self {
        SchemaAuditError::Db(err)
    }
}

/// Joins findings with `; ` for the error message.
struct Findings<'a>(&'a [SchemaFinding]);

impl fmt::Display for Findings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, finding) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// Audits every scoped table of `registry` on `conn` (the plain connection,
/// not a tenant's: the catalogs are not registered tables).
///
/// Findings come table by table in name order, and within a table in the
/// order of [`SchemaFinding`]'s variants. An empty list means the schema passes.
///
/// # Errors
///
/// [`SchemaAuditError::Db`] if a catalog query fails.
pub async fn audit_schema<C: ConnectionTrait>(
    conn: &C,
    registry: &TableRegistry,
) -> Result<Vec<SchemaFinding>, SchemaAuditError> {
    let backend = conn.get_database_backend();
    let span = tracing::debug_span!("tenancy.audit", backend = ?backend);
    audit(conn, backend, registry).instrument(span).await
}

async fn audit<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    registry: &TableRegistry,
) -> Result<Vec<SchemaFinding>, SchemaAuditError> {
    let scoped = registry.scoped_tables();
    let mut findings = Vec::new();
    for &(table, column) in &scoped {
        let Some(schema) = read_table(conn, backend, table).await? else {
            findings.push(SchemaFinding::MissingTable {
                table: table.to_owned(),
            });
            continue;
        };
        let same = |a: &str, b: &str| match backend {
            DbBackend::Postgres => a == b,
            _ => a.eq_ignore_ascii_case(b),
        };
        let Some((_, not_null, sql_type)) = schema
            .columns
            .iter()
            .find(|(name, _, _)| same(name, column))
        else {
            findings.push(SchemaFinding::MissingColumn {
                table: table.to_owned(),
                column: column.to_owned(),
            });
            continue;
        };
        if !not_null {
            findings.push(SchemaFinding::NullableColumn {
                table: table.to_owned(),
                column: column.to_owned(),
            });
        }
        let key = registry.tenant_key();
        if !fits(backend, key, sql_type) {
            findings.push(SchemaFinding::KeyType {
                table: table.to_owned(),
                column: column.to_owned(),
                expected: key,
                found: sql_type.clone(),
            });
        }
        let leads = |index: &Index| index.columns.first().is_some_and(|c| same(c, column));
        if !schema.indexes.iter().any(leads) {
            findings.push(SchemaFinding::NoLeadingIndex {
                table: table.to_owned(),
                column: column.to_owned(),
            });
        }
        for index in schema.indexes.iter().filter(|i| i.unique) {
            if !index.columns.iter().any(|c| same(c, column)) {
                findings.push(SchemaFinding::UniqueWithoutTenant {
                    table: table.to_owned(),
                    name: index.name.clone(),
                    columns: index.columns.clone(),
                    column: column.to_owned(),
                });
            }
        }
        for fk in &schema.foreign_keys {
            // Only references into another tenant's rows matter: a foreign
            // key to a global table is how tenants share reference data.
            let Some(&(_, their_column)) = scoped.iter().find(|(t, _)| same(t, &fk.references))
            else {
                continue;
            };
            let paired = fk
                .pairs
                .iter()
                .any(|(from, to)| same(from, column) && same(to, their_column));
            if !paired {
                findings.push(SchemaFinding::ForeignKeyWithoutTenant {
                    table: table.to_owned(),
                    name: fk.name.clone(),
                    columns: fk.pairs.iter().map(|(from, _)| from.clone()).collect(),
                    references: fk.references.clone(),
                    column: column.to_owned(),
                });
            }
        }
    }
    for finding in &findings {
        tracing::warn!(%finding, "tenancy: schema audit finding");
    }
    Ok(findings)
}

/// Whether a column declared `sql_type` (as the catalog spells it) holds
/// the keys of `key` as the rewrite binds them (see [`TenantKeyType`]).
fn fits(backend: DbBackend, key: TenantKeyType, sql_type: &str) -> bool {
    let t = sql_type.to_ascii_lowercase();
    let t = t.trim();
    match (backend, key) {
        (DbBackend::Postgres, TenantKeyType::BigInt) => t == "bigint",
        (DbBackend::Postgres, TenantKeyType::Uuid | TenantKeyType::UuidBinary) => t == "uuid",
        (DbBackend::Postgres, TenantKeyType::Text) => {
            t == "text" || t.starts_with("character varying")
        }
        // MySQL's `COLUMN_TYPE`: `bigint(20)` before 8.0.19, `bigint` after.
        (DbBackend::MySql, TenantKeyType::BigInt) => t.starts_with("bigint"),
        (DbBackend::MySql, TenantKeyType::Uuid) => t == "char(36)",
        (DbBackend::MySql, TenantKeyType::UuidBinary) => t == "binary(16)",
        (DbBackend::MySql, TenantKeyType::Text) => {
            t.starts_with("varchar(") || t.starts_with("char(")
        }
        // SQLite's type affinity rules (section 3.1 of its datatype page).
        (DbBackend::Sqlite, TenantKeyType::BigInt) => t.contains("int"),
        (DbBackend::Sqlite, TenantKeyType::Uuid | TenantKeyType::Text) => {
            t.contains("char") || t.contains("clob") || t.contains("text")
        }
        (DbBackend::Sqlite, TenantKeyType::UuidBinary) => t.contains("blob") || t.is_empty(),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

impl TableRegistry {
    /// The same registry, with the column order of every registered table
    /// read from `conn` (tables missing there are left without one), so an
    /// `INSERT` without a column list can be scoped; see
    /// [`TableRegistryBuilder::columns`](crate::TableRegistryBuilder::columns).
    /// Call it once at start-up, after migrations: a column added later
    /// needs a new registry.
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, Database};
    /// use tenancy_seaorm::{TableRegistry, TenantConnection};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.execute_unprepared("CREATE TABLE leads (id INTEGER PRIMARY KEY, entity_id BIGINT NOT NULL, name TEXT)").await?;
    /// let registry = TableRegistry::builder().scoped_table("leads").build()?.with_columns_from(&db).await?;
    ///
    /// let golden_key = TenantConnection::new(db.clone(), registry, 1);
    /// golden_key.execute_unprepared("INSERT INTO leads VALUES (7, 1, 'Ada')").await?;
    /// // Another tenant's id in the tenant column's position is refused.
    /// assert!(golden_key.execute_unprepared("INSERT INTO leads VALUES (8, 2, 'Eve')").await.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SchemaAuditError::Db`] if a catalog query fails.
    pub async fn with_columns_from<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<TableRegistry, SchemaAuditError> {
        let backend = conn.get_database_backend();
        let mut orders = std::collections::HashMap::new();
        for table in self.table_names() {
            if let Some(schema) = read_table(conn, backend, table).await? {
                let names = schema
                    .columns
                    .into_iter()
                    .map(|(name, _, _)| name)
                    .collect();
                orders.insert(table.to_ascii_lowercase(), names);
            }
        }
        Ok(self.with_column_orders(orders))
    }
}

/// [`audit_schema`], as a start-up check: `Ok` only for a clean schema.
///
/// ```no_run
/// # async fn boot(db: sea_orm::DatabaseConnection, registry: tenancy_seaorm::TableRegistry)
/// # -> Result<(), tenancy_seaorm::schema_audit::SchemaAuditError> {
/// tenancy_seaorm::schema_audit::ensure_schema(&db, &registry).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`SchemaAuditError::Findings`] with every finding, or [`SchemaAuditError::Db`].
pub async fn ensure_schema<C: ConnectionTrait>(
    conn: &C,
    registry: &TableRegistry,
) -> Result<(), SchemaAuditError> {
    let findings = audit_schema(conn, registry).await?;
    if findings.is_empty() {
        Ok(())
    } else {
        Err(SchemaAuditError::Findings(findings))
    }
}

/// What the audit needs to know about one table.
#[derive(Debug, Default)]
pub(crate) struct TableSchema {
    /// (name, NOT NULL, declared type as the catalog spells it)
    columns: Vec<(String, bool, String)>,
    indexes: Vec<Index>,
    pub(crate) foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug)]
struct Index {
    name: String,
    unique: bool,
    columns: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct ForeignKey {
    name: String,
    pub(crate) references: String,
    /// (referencing column, referenced column), in key order.
    pairs: Vec<(String, String)>,
}

const EXPRESSION: &str = "<expression>";

pub(crate) async fn read_table<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    table: &str,
) -> Result<Option<TableSchema>, DbErr> {
    let mut schema = match backend {
        DbBackend::Sqlite => read_sqlite(conn, table).await,
        DbBackend::Postgres => read_postgres(conn, table).await,
        _ => read_mysql(conn, table).await,
    }?;
    // Catalog order follows each backend's collation; findings shouldn't.
    if let Some(schema) = &mut schema {
        schema.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        schema.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(schema)
}

async fn query<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
}

fn text(row: &QueryResult, column: &str) -> Result<String, DbErr> {
    row.try_get("", column)
}

fn opt_text(row: &QueryResult, column: &str) -> Result<Option<String>, DbErr> {
    row.try_get("", column)
}

fn int(row: &QueryResult, column: &str) -> Result<i64, DbErr> {
    row.try_get::<i64>("", column)
        .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
}

/// Groups rows `(key, column)` that arrive ordered by key into lists.
fn group<T>(rows: Vec<(String, T)>) -> Vec<(String, Vec<T>)> {
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    for (key, item) in rows {
        match out.last_mut() {
            Some((last, items)) if *last == key => items.push(item),
            _ => out.push((key, vec![item])),
        }
    }
    out
}

async fn read_sqlite<C: ConnectionTrait>(
    conn: &C,
    table: &str,
) -> Result<Option<TableSchema>, DbErr> {
    let db = DbBackend::Sqlite;
    let info = query(
        conn,
        db,
        r#"SELECT name, "notnull" AS not_null, pk, type FROM pragma_table_info(?) ORDER BY cid"#,
        vec![table.into()],
    )
    .await?;
    if info.is_empty() {
        return Ok(None);
    }
    let mut schema = TableSchema::default();
    let mut rowid_pk = Vec::new();
    for row in &info {
        let name = text(row, "name")?;
        // SQLite lets a non-integer primary key column hold NULL unless it
        // says NOT NULL, so `pk` does not imply it.
        schema
            .columns
            .push((name.clone(), int(row, "not_null")? != 0, text(row, "type")?));
        let pk = int(row, "pk")?;
        if pk > 0 {
            rowid_pk.push((pk, name));
        }
    }
    let rows = query(
        conn,
        db,
        r#"SELECT l.name AS name, l."unique" AS uniq, l.origin AS origin, i.name AS col
           FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS i
           ORDER BY l.name, i.seqno"#,
        vec![table.into()],
    )
    .await?;
    let mut has_pk_index = false;
    let mut flat = Vec::new();
    for row in &rows {
        let name = text(row, "name")?;
        has_pk_index |= text(row, "origin")? == "pk";
        let col = opt_text(row, "col")?.unwrap_or_else(|| EXPRESSION.to_owned());
        flat.push((name, (int(row, "uniq")? != 0, col)));
    }
    for (name, cols) in group(flat) {
        schema.indexes.push(Index {
            name,
            unique: cols.first().is_some_and(|(u, _)| *u),
            columns: cols.into_iter().map(|(_, c)| c).collect(),
        });
    }
    // An `INTEGER PRIMARY KEY` is the rowid itself: no index in the list,
    // but a unique key all the same.
    if !has_pk_index && !rowid_pk.is_empty() {
        rowid_pk.sort();
        schema.indexes.push(Index {
            name: "PRIMARY KEY".to_owned(),
            unique: true,
            columns: rowid_pk.into_iter().map(|(_, c)| c).collect(),
        });
    }
    let rows = query(
        conn,
        db,
        r#"SELECT id, "table" AS refs, "from" AS col, "to" AS ref_col
           FROM pragma_foreign_key_list(?) ORDER BY id, seq"#,
        vec![table.into()],
    )
    .await?;
    let mut flat = Vec::new();
    for row in &rows {
        let id = int(row, "id")?;
        flat.push((
            format!("fk{id}"),
            (
                text(row, "refs")?,
                text(row, "col")?,
                opt_text(row, "ref_col")?,
            ),
        ));
    }
    for (name, cols) in group(flat) {
        let references = cols.first().map(|c| c.0.clone()).unwrap_or_default();
        // `REFERENCES parent` without columns means the parent's primary key.
        let implicit = if cols.iter().any(|c| c.2.is_none()) {
            let parent = query(
                conn,
                db,
                "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                vec![references.clone().into()],
            )
            .await?;
            parent
                .iter()
                .map(|row| text(row, "name"))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let pairs = cols
            .into_iter()
            .enumerate()
            .map(|(i, (_, from, to))| {
                let to = to.or_else(|| implicit.get(i).cloned()).unwrap_or_default();
                (from, to)
            })
            .collect();
        schema.foreign_keys.push(ForeignKey {
            name,
            references,
            pairs,
        });
    }
    Ok(Some(schema))
}

async fn read_postgres<C: ConnectionTrait>(
    conn: &C,
    table: &str,
) -> Result<Option<TableSchema>, DbErr> {
    let db = DbBackend::Postgres;
    // The table as the search path finds it, like an unqualified name in a
    // query.
    let columns = query(
        conn,
        db,
        "SELECT a.attname::text AS name, a.attnotnull AS not_null,
                format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_attribute a
         WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum",
        vec![table.into()],
    )
    .await?;
    let exists = query(
        conn,
        db,
        "SELECT 1 AS one WHERE to_regclass(quote_ident($1)) IS NOT NULL",
        vec![table.into()],
    )
    .await?;
    if exists.is_empty() {
        return Ok(None);
    }
    let mut schema = TableSchema::default();
    for row in &columns {
        schema.columns.push((
            text(row, "name")?,
            row.try_get::<bool>("", "not_null")?,
            text(row, "type")?,
        ));
    }
    // Key columns only (not INCLUDE): they decide uniqueness and order.
    let rows = query(
        conn,
        db,
        "SELECT i.relname::text AS name, x.indisunique AS uniq, a.attname::text AS col
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
         LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum > 0
         WHERE x.indrelid = to_regclass(quote_ident($1)) AND k.ord <= x.indnkeyatts
         ORDER BY i.relname, k.ord",
        vec![table.into()],
    )
    .await?;
    let mut flat = Vec::new();
    for row in &rows {
        let col = opt_text(row, "col")?.unwrap_or_else(|| EXPRESSION.to_owned());
        flat.push((text(row, "name")?, (row.try_get::<bool>("", "uniq")?, col)));
    }
    for (name, cols) in group(flat) {
        schema.indexes.push(Index {
            name,
            unique: cols.first().is_some_and(|(u, _)| *u),
            columns: cols.into_iter().map(|(_, c)| c).collect(),
        });
    }
    let rows = query(
        conn,
        db,
        "SELECT c.conname::text AS name, r.relname::text AS refs,
                a.attname::text AS col, ra.attname::text AS ref_col
         FROM pg_constraint c
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
         JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.refnum
         JOIN pg_class r ON r.oid = c.confrelid
         WHERE c.contype = 'f' AND c.conrelid = to_regclass(quote_ident($1))
         ORDER BY c.conname, k.ord",
        vec![table.into()],
    )
    .await?;
    push_foreign_keys(&mut schema, &rows)?;
    Ok(Some(schema))
}

async fn read_mysql<C: ConnectionTrait>(
    conn: &C,
    table: &str,
) -> Result<Option<TableSchema>, DbErr> {
    let db = DbBackend::MySql;
    let columns = query(
        conn,
        db,
        "SELECT COLUMN_NAME AS name, IS_NULLABLE AS nullable, COLUMN_TYPE AS type
         FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
         ORDER BY ORDINAL_POSITION",
        vec![table.into()],
    )
    .await?;
    if columns.is_empty() {
        return Ok(None);
    }
    let mut schema = TableSchema::default();
    for row in &columns {
        schema.columns.push((
            text(row, "name")?,
            text(row, "nullable")? == "NO",
            text(row, "type")?,
        ));
    }
    let rows = query(
        conn,
        db,
        "SELECT INDEX_NAME AS name, CAST(NON_UNIQUE AS SIGNED) AS non_unique, COLUMN_NAME AS col
         FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
         ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        vec![table.into()],
    )
    .await?;
    let mut flat = Vec::new();
    for row in &rows {
        let col = opt_text(row, "col")?.unwrap_or_else(|| EXPRESSION.to_owned());
        flat.push((text(row, "name")?, (int(row, "non_unique")? == 0, col)));
    }
    for (name, cols) in group(flat) {
        schema.indexes.push(Index {
            name,
            unique: cols.first().is_some_and(|(u, _)| *u),
            columns: cols.into_iter().map(|(_, c)| c).collect(),
        });
    }
    let rows = query(
        conn,
        db,
        "SELECT CONSTRAINT_NAME AS name, REFERENCED_TABLE_NAME AS refs,
                COLUMN_NAME AS col, REFERENCED_COLUMN_NAME AS ref_col
         FROM information_schema.KEY_COLUMN_USAGE
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL
         ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
        vec![table.into()],
    )
    .await?;
    push_foreign_keys(&mut schema, &rows)?;
    Ok(Some(schema))
}

/// Rows `(name, refs, col, ref_col)`, ordered by constraint and position.
fn push_foreign_keys(schema: &mut TableSchema, rows: &[QueryResult]) -> Result<(), DbErr> {
    let mut flat = Vec::new();
    for row in rows {
        flat.push((
            text(row, "name")?,
            (text(row, "refs")?, text(row, "col")?, text(row, "ref_col")?),
        ));
    }
    for (name, cols) in group(flat) {
        schema.foreign_keys.push(ForeignKey {
            name,
            references: cols.first().map(|c| c.0.clone()).unwrap_or_default(),
            pairs: cols.into_iter().map(|(_, from, to)| (from, to)).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_consecutive_keys() {
        let rows = vec![
            ("a".to_owned(), 1),
            ("a".to_owned(), 2),
            ("b".to_owned(), 3),
        ];
        assert_eq!(
            group(rows),
            [("a".to_owned(), vec![1, 2]), ("b".to_owned(), vec![3])]
        );
    }

    #[test]
    fn the_error_lists_every_finding() {
        let err = SchemaAuditError::Findings(vec![
            SchemaFinding::NullableColumn {
                table: "leads".into(),
                column: "entity_id".into(),
            },
            SchemaFinding::UniqueWithoutTenant {
                table: "leads".into(),
                name: "leads_email".into(),
                columns: vec!["email".into(), "kind".into()],
                column: "entity_id".into(),
            },
        ]);
        assert_eq!(
            err.to_string(),
            "the schema audit found 2: tenant column `leads`.`entity_id` allows null; \
             unique key `leads_email` on `leads` (email, kind) does not include the tenant column `entity_id`"
        );
    }
}
