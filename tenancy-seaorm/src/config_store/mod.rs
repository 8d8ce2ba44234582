//! The config registry's store in the application's own database.
//!
//! Three platform tables hold what a
//! [`ConfigRegistry`](tenancy_config::ConfigRegistry) loads:
//!
//! | table | holds |
//! | --- | --- |
//! | `tenancy_config_overrides` | one row per (scope, key): the JSON value, the revision that wrote it, when and by whom |
//! | `tenancy_config_audit` | append-only: one row per write (revision, when, who, scope, key, old and new value; a fingerprint for secrets) |
//! | `tenancy_config_revision` | one row: the revision counter every write increments |
//!
//! These are platform tables, not tenant data: the store reads and writes
//! them with the plain connection, never through a
//! [`TenantConnection`](crate::TenantConnection) (a kill switch and a
//! global override belong to no tenant). Don't register them in a
//! [`TableRegistry`](crate::TableRegistry); a scoped connection refuses them.
//!
//! A write takes the revision row's lock first, so writes are serialised,
//! revisions have no gaps and commit in order, and a poller comparing
//! revisions can't miss one. The override, its audit row and the new
//! revision commit in one transaction. On PostgreSQL the same transaction
//! sends `NOTIFY` with the scope and revision, delivered on commit;
//! [`SeaOrmConfigStore::watch`] listens for it (feature `postgres`) and
//! polls as the reconciliation, and only polls on SQLite and MySQL.
//!
//! ```
//! use sea_orm::Database;
//! use tenancy_core::TenantId;
//! use tenancy_config::{AuditFilter, ConfigRegistry, Key, Scope};
//! use tenancy_seaorm::config_store::SeaOrmConfigStore;
//!
//! static DIALER: Key<bool> = Key::new("dialer.enabled", "Offer the predictive dialer", || false);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! let store = SeaOrmConfigStore::new(db);
//! store.migrate().await?;
//!
//! let registry = ConfigRegistry::builder().key(&DIALER).load(store.clone()).await?;
//! registry.set("ops@platform", Scope::Tenant(TenantId::new(1)), &DIALER, true).await?;
//! assert!(registry.get(TenantId::new(1), &DIALER)?);
//!
//! let audit = registry.audit(AuditFilter::all()).await?;
//! assert_eq!((audit[0].actor.as_str(), audit[0].revision), ("ops@platform", 1));
//! # Ok(()) }
//! ```

mod watch;

use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::sea_query::{
    ColumnDef, Expr, ExprTrait, Index, Order, Query, SelectStatement, SimpleExpr, Table,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, TransactionTrait,
};

use crate::{Refusal, TenantKeyType, flavor::Flavor};
use serde::{Deserialize, Serialize};
use tenancy_config::{
    AuditFilter, AuditRecord, AuditValue, Change, ConfigStore, Loaded, Override, Scope, Secrecy,
    StoreError,
};

pub use watch::WatchOptions;

/// The overrides table.
pub const OVERRIDES_TABLE: &str = "tenancy_config_overrides";
/// The append-only audit table.
pub const AUDIT_TABLE: &str = "tenancy_config_audit";
/// The one-row revision counter.
pub const REVISION_TABLE: &str = "tenancy_config_revision";
/// The PostgreSQL notification channel writes notify on, by default.
pub const DEFAULT_CHANNEL: &str = "tenancy_config";

/// What a write notifies on PostgreSQL: which scope changed, at which
/// revision. Sent as JSON: `{"scope":"tenant:7","revision":12}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeNotice {
    /// The scope written (as `forced`, `global`, `tenant:<id>`).
    #[serde(with = "scope_text")]
    pub scope: Scope,
    /// The revision of the write.
    pub revision: u64,
}

mod scope_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use tenancy_config::Scope;

    pub(super) fn serialize<S: Serializer>(scope: &Scope, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(scope)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// A [`ConfigStore`] on a SeaORM connection (SQLite, PostgreSQL, MySQL /
/// MariaDB). Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SeaOrmConfigStore {
    db: DatabaseConnection,
    channel: String,
    key: TenantKeyType,
}

impl SeaOrmConfigStore {
    /// A store on `db`, notifying on [`DEFAULT_CHANNEL`]. Call
    /// [`migrate`](Self::migrate) once before use.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            channel: DEFAULT_CHANNEL.to_owned(),
            key: TenantKeyType::BigInt,
        }
    }

    /// The same store for tenants keyed by `key` (as declared on the
    /// [`TableRegistry`](crate::TableRegistry)): the `tenant_id` columns
    /// have that type, a change for a tenant of another kind is refused,
    /// and a stored scope naming a key of another kind is a malformed row.
    pub fn with_key(mut self, key: TenantKeyType) -> Self {
        self.key = key;
        self
    }

    /// The SQL type of the tenant ids.
    pub fn key(&self) -> TenantKeyType {
        self.key
    }

    /// The same store notifying on another PostgreSQL channel. Channels are
    /// per database, not per schema: deployments that share a database in
    /// different schemas need one channel each.
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// The PostgreSQL channel writes notify on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The connection.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates the three tables and the revision row if they do not exist.
    /// Safe to run on every start.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        migrate(&txn, self.key).await?;
        txn.commit().await
    }
}

/// Creates the config tables and the revision row on `conn` if they do not
/// exist, so it can run inside a caller's own migration. Idempotent, and
/// built with sea-query, so the same call works on all three backends.
///
/// # Errors
///
/// The database's error.
pub async fn migrate<C: ConnectionTrait>(conn: &C, key: TenantKeyType) -> Result<(), DbErr> {
    let flavor = Flavor::of(conn.get_database_backend()).map_err(Refusal::into_db_err)?;
    let tenant_id = || {
        ColumnDef::new_with_type("tenant_id", key.column_type(flavor))
            .null()
            .to_owned()
    };
    let revision = Table::create()
        .table(REVISION_TABLE)
        .if_not_exists()
        .col(ColumnDef::new("id").integer().not_null().primary_key())
        .col(ColumnDef::new("revision").big_integer().not_null())
        .to_owned();
    let overrides = Table::create()
        .table(OVERRIDES_TABLE)
        .if_not_exists()
        .col(ColumnDef::new("scope").string_len(SCOPE_LEN).not_null())
        .col(ColumnDef::new("config_key").string_len(128).not_null())
        .col(tenant_id())
        .col(ColumnDef::new("value").text().not_null())
        .col(ColumnDef::new("revision").big_integer().not_null())
        .col(ColumnDef::new("updated_at_ms").big_integer().not_null())
        .col(ColumnDef::new("updated_by").string_len(255).not_null())
        .primary_key(Index::create().col("scope").col("config_key"))
        .to_owned();
    let audit = Table::create()
        .table(AUDIT_TABLE)
        .if_not_exists()
        .col(
            ColumnDef::new("revision")
                .big_integer()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new("at_ms").big_integer().not_null())
        .col(ColumnDef::new("actor").string_len(255).not_null())
        .col(ColumnDef::new("scope").string_len(SCOPE_LEN).not_null())
        .col(tenant_id())
        .col(ColumnDef::new("config_key").string_len(128).not_null())
        .col(ColumnDef::new("old_value").text().null())
        .col(ColumnDef::new("new_value").text().null())
        .col(ColumnDef::new("secret").boolean().not_null())
        .to_owned();
    conn.execute(&revision).await?;
    conn.execute(&overrides).await?;
    conn.execute(&audit).await?;
    let exists = Query::select()
        .column("id")
        .from(REVISION_TABLE)
        .and_where(Expr::col("id").eq(1))
        .to_owned();
    if conn.query_one(&exists).await?.is_none() {
        let first = Query::insert()
            .into_table(REVISION_TABLE)
            .columns(["id", "revision"])
            .values([1.into(), 0_i64.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        conn.execute(&first).await?;
    }
    Ok(())
}

fn unavailable(what: &str) -> impl FnOnce(DbErr) -> StoreError + '_ {
    move |e| StoreError::with_source(format!("{what} failed"), e)
}

fn malformed(what: impl Into<String>) -> StoreError {
    StoreError::new(what)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn to_u64(revision: i64) -> Result<u64, StoreError> {
    u64::try_from(revision).map_err(|_| malformed(format!("negative revision {revision}")))
}

fn to_i64(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision).map_err(|_| malformed(format!("revision {revision} out of range")))
}

/// Room for `tenant:` and the longest key (a 64-byte text key).
const SCOPE_LEN: u32 = 80;

/// A scope read back from a row: well formed, and naming a tenant of the
/// store's kind, or the row is malformed.
fn stored_scope(key: TenantKeyType, text: &str) -> Result<Scope, StoreError> {
    let scope: Scope = text
        .parse()
        .map_err(|e| StoreError::with_source("a stored config scope is malformed", e))?;
    if let Some(tenant) = scope.tenant() {
        key.kind().check(tenant).map_err(|e| {
            StoreError::with_source(
                "a stored config scope names a tenant of another key kind",
                e,
            )
        })?;
    }
    Ok(scope)
}

fn scope_filter(scope: Scope) -> SimpleExpr {
    Expr::col("scope").eq(scope.to_string())
}

async fn current_revision<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    let stmt = Query::select()
        .column("revision")
        .from(REVISION_TABLE)
        .and_where(Expr::col("id").eq(1))
        .to_owned();
    let row = conn
        .query_one(&stmt)
        .await
        .map_err(unavailable("reading the config revision"))?
        .ok_or_else(|| {
            malformed("the config revision row is missing (run SeaOrmConfigStore::migrate)")
        })?;
    let revision: i64 = row
        .try_get("", "revision")
        .map_err(unavailable("reading the config revision"))?;
    to_u64(revision)
}

fn override_columns() -> SelectStatement {
    Query::select()
        .columns(["scope", "config_key", "value", "revision"])
        .from(OVERRIDES_TABLE)
        .order_by("scope", Order::Asc)
        .order_by("config_key", Order::Asc)
        .to_owned()
}

fn override_from(key_type: TenantKeyType, row: &QueryResult) -> Result<Override, StoreError> {
    let read = unavailable("reading a config override");
    let (scope, key, value, revision): (String, String, String, i64) = (|| {
        Ok::<_, DbErr>((
            row.try_get("", "scope")?,
            row.try_get("", "config_key")?,
            row.try_get("", "value")?,
            row.try_get("", "revision")?,
        ))
    })()
    .map_err(read)?;
    let scope = stored_scope(key_type, &scope)?;
    // Not quoted: the value may be a secret.
    let value = serde_json::from_str(&value).map_err(|_| {
        malformed(format!(
            "the stored value of {key:?} in {scope} is not valid JSON"
        ))
    })?;
    Ok(Override::new(scope, key, value, to_u64(revision)?))
}

/// Stores a change prepared with
/// [`ConfigRegistry::prepare`](tenancy_config::ConfigRegistry::prepare)
/// on `conn`, which should be the caller's transaction: the override, its
/// audit row and the revision commit (or roll back) with the caller's other
/// writes, and on PostgreSQL the change notice goes out on commit. Returns
/// the revision. Call `refresh_scope` on the registry after the commit.
///
/// # Errors
///
/// [`StoreError`] when the database fails; roll the transaction back.
pub async fn write_change_in<C: ConnectionTrait>(
    conn: &C,
    store: &SeaOrmConfigStore,
    change: &Change,
) -> Result<u64, StoreError> {
    write_in(conn, change, &store.channel, store.key).await
}

async fn write_in<C: ConnectionTrait>(
    conn: &C,
    change: &Change,
    channel: &str,
    key: TenantKeyType,
) -> Result<u64, StoreError> {
    let failed = || unavailable("writing a config change");
    // The tenant as a parameter of the column's type; a tenant of another
    // kind is refused before anything is written.
    let tenant_id = Flavor::of(conn.get_database_backend())
        .and_then(|flavor| match change.scope.tenant() {
            Some(tenant) => key.bind(flavor, tenant),
            None => Ok(key.null(flavor)),
        })
        .map_err(|e| StoreError::with_source("a config change for this tenant", e))?;
    // Taking the revision row's lock first serialises writers.
    let bump = Query::update()
        .table(REVISION_TABLE)
        .value("revision", Expr::col("revision").add(1))
        .and_where(Expr::col("id").eq(1))
        .to_owned();
    if conn.execute(&bump).await.map_err(failed())?.rows_affected() != 1 {
        return Err(malformed(
            "the config revision row is missing (run SeaOrmConfigStore::migrate)",
        ));
    }
    let revision = current_revision(conn).await?;
    let revision_i64 = to_i64(revision)?;
    let scope_text = change.scope.to_string();
    let this_row = Expr::col("scope")
        .eq(scope_text.as_str())
        .and(Expr::col("config_key").eq(change.key.as_str()));

    let old_stmt = Query::select()
        .column("value")
        .from(OVERRIDES_TABLE)
        .and_where(this_row.clone())
        .to_owned();
    let old: Option<serde_json::Value> = match conn.query_one(&old_stmt).await.map_err(failed())? {
        Some(row) => {
            let text: String = row.try_get("", "value").map_err(failed())?;
            Some(serde_json::from_str(&text).map_err(|_| {
                malformed(format!(
                    "the stored value of {:?} in {} is not valid JSON",
                    change.key, change.scope
                ))
            })?)
        }
        None => None,
    };

    let at = now_ms();
    match (&change.value, &old) {
        (Some(value), Some(_)) => {
            let stmt = Query::update()
                .table(OVERRIDES_TABLE)
                .values([
                    ("value", value.to_string().into()),
                    ("revision", revision_i64.into()),
                    ("updated_at_ms", at.into()),
                    ("updated_by", change.actor.as_str().into()),
                ])
                .and_where(this_row)
                .to_owned();
            conn.execute(&stmt).await.map_err(failed())?;
        }
        (Some(value), None) => {
            let stmt = Query::insert()
                .into_table(OVERRIDES_TABLE)
                .columns([
                    "scope",
                    "config_key",
                    "tenant_id",
                    "value",
                    "revision",
                    "updated_at_ms",
                    "updated_by",
                ])
                .values([
                    scope_text.as_str().into(),
                    change.key.as_str().into(),
                    tenant_id.clone().into(),
                    value.to_string().into(),
                    revision_i64.into(),
                    at.into(),
                    change.actor.as_str().into(),
                ])
                .map_err(|e| malformed(e.to_string()))?
                .to_owned();
            conn.execute(&stmt).await.map_err(failed())?;
        }
        (None, _) => {
            let stmt = Query::delete()
                .from_table(OVERRIDES_TABLE)
                .and_where(this_row)
                .to_owned();
            conn.execute(&stmt).await.map_err(failed())?;
        }
    }

    let record = AuditRecord::new(revision, at, change, old.as_ref());
    let audit = Query::insert()
        .into_table(AUDIT_TABLE)
        .columns([
            "revision",
            "at_ms",
            "actor",
            "scope",
            "tenant_id",
            "config_key",
            "old_value",
            "new_value",
            "secret",
        ])
        .values([
            revision_i64.into(),
            at.into(),
            change.actor.as_str().into(),
            scope_text.as_str().into(),
            tenant_id.clone().into(),
            change.key.as_str().into(),
            record.old.as_ref().map(AuditValue::to_column).into(),
            record.new.as_ref().map(AuditValue::to_column).into(),
            change.secrecy.is_secret().into(),
        ])
        .map_err(|e| malformed(e.to_string()))?
        .to_owned();
    conn.execute(&audit).await.map_err(failed())?;

    if conn.get_database_backend() == DbBackend::Postgres {
        let notice = ChangeNotice {
            scope: change.scope,
            revision,
        };
        let payload = serde_json::to_string(&notice)
            .map_err(|e| StoreError::with_source("encoding a change notice", e))?;
        // Delivered when (and only if) the transaction commits.
        let notify = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [channel.into(), payload.into()],
        );
        conn.execute_raw(notify).await.map_err(failed())?;
    }
    Ok(revision)
}

fn audit_from(key_type: TenantKeyType, row: &QueryResult) -> Result<AuditRecord, StoreError> {
    let read = unavailable("reading a config audit record");
    #[allow(clippy::type_complexity)]
    let (revision, at_ms, actor, scope, key, old, new, secret): (
        i64,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        bool,
    ) = (|| {
        Ok::<_, DbErr>((
            row.try_get("", "revision")?,
            row.try_get("", "at_ms")?,
            row.try_get("", "actor")?,
            row.try_get("", "scope")?,
            row.try_get("", "config_key")?,
            row.try_get("", "old_value")?,
            row.try_get("", "new_value")?,
            row.try_get("", "secret")?,
        ))
    })()
    .map_err(read)?;
    let scope = stored_scope(key_type, &scope)?;
    let column = |text: Option<String>| {
        text.map(|t| AuditValue::from_column(&t, Secrecy::secret_if(secret)))
            .transpose()
            .map_err(|_| malformed(format!("an audit value of {key:?} is not valid JSON")))
    };
    let change = Change::new(actor, scope, key.clone(), None, Secrecy::secret_if(secret));
    let mut record = AuditRecord::new(to_u64(revision)?, at_ms, &change, None);
    record.old = column(old)?;
    record.new = column(new)?;
    Ok(record)
}

#[async_trait::async_trait]
impl ConfigStore for SeaOrmConfigStore {
    async fn revision(&self) -> Result<u64, StoreError> {
        current_revision(&self.db).await
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        // The revision first: the overrides read next are at least as new.
        let revision = current_revision(&self.db).await?;
        let rows = self
            .db
            .query_all(&override_columns())
            .await
            .map_err(unavailable("loading config overrides"))?;
        let overrides = rows
            .iter()
            .map(|row| override_from(self.key, row))
            .collect::<Result<_, _>>()?;
        Ok(Loaded::new(revision, overrides))
    }

    async fn load_scope(&self, scope: Scope) -> Result<Vec<Override>, StoreError> {
        let stmt = override_columns().and_where(scope_filter(scope)).to_owned();
        let rows = self
            .db
            .query_all(&stmt)
            .await
            .map_err(unavailable("loading config overrides"))?;
        rows.iter()
            .map(|row| override_from(self.key, row))
            .collect()
    }

    async fn write(&self, change: Change) -> Result<u64, StoreError> {
        let txn = self
            .db
            .begin()
            .await
            .map_err(unavailable("starting a config write"))?;
        // On error `txn` is dropped, which rolls back: nothing is written.
        let revision = write_in(&txn, &change, &self.channel, self.key).await?;
        txn.commit()
            .await
            .map_err(unavailable("committing a config write"))?;
        Ok(revision)
    }

    async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut stmt = Query::select()
            .columns([
                "revision",
                "at_ms",
                "actor",
                "scope",
                "config_key",
                "old_value",
                "new_value",
                "secret",
            ])
            .from(AUDIT_TABLE)
            .order_by("revision", Order::Desc)
            .to_owned();
        if let Some(scope) = filter.scope {
            stmt.and_where(scope_filter(scope));
        }
        if let Some(key) = &filter.key {
            stmt.and_where(Expr::col("config_key").eq(key.as_str()));
        }
        if let Some(limit) = filter.limit {
            stmt.limit(limit);
        }
        let rows = self
            .db
            .query_all(&stmt)
            .await
            .map_err(unavailable("reading the config audit"))?;
        rows.iter().map(|row| audit_from(self.key, row)).collect()
    }
}
