//! Why a statement was refused.
//!
//! Refusals travel through SeaORM as [`DbErr`], because that is what
//! [`ConnectionTrait`](sea_orm::ConnectionTrait) returns. They stay typed: the
//! `DbErr` carries the [`Refusal`] as its source, and [`Refusal::from_db_err`]
//! gets it back.

use std::sync::Arc;

use sea_orm::DbErr;

/// A statement that a [`TenantConnection`](crate::TenantConnection) will not
/// run, because it can't prove the statement stays inside its tenant.
///
/// Nothing of a refused statement reaches the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The SQL could not be parsed for this backend.
    #[error("refused: the statement could not be parsed: {0}")]
    Unparseable(String),
    /// The string held no statement.
    #[error("refused: the string holds no statement")]
    Empty,
    /// The string held more than one statement; none of them ran.
    #[error("refused: the string holds {0} statements; send one statement at a time")]
    MultipleStatements(usize),
    /// A kind of statement that is never allowed through a tenant connection
    /// (DDL, TRUNCATE, SET, transaction control, ...).
    #[error("refused: `{0}` statements are not allowed through a tenant connection")]
    Statement(String),
    /// A table that is registered neither as tenant-scoped nor as global.
    #[error("refused: table `{0}` is not registered as tenant-scoped or global")]
    UnregisteredTable(String),
    /// A write to a global (shared, read-only) table.
    #[error("refused: table `{0}` is global and read-only through a tenant connection")]
    GlobalTableWrite(String),
    /// A statement that sets the tenant column to something other than a
    /// value that can be checked against the connection's tenant.
    #[error(
        "refused: the tenant column `{column}` of `{table}` can only be set to the connection's tenant"
    )]
    TenantColumn {
        /// The table.
        table: String,
        /// Its tenant column.
        column: String,
    },
    /// A tenant whose key is of another kind than the tenant columns'
    /// declared type ([`TableRegistryBuilder::tenant_key`](crate::TableRegistryBuilder::tenant_key)):
    /// the column is never compared with a key of another type.
    #[error(
        "refused: a tenant keyed by {found} on tables whose tenant columns hold {expected} keys"
    )]
    TenantKeyKind {
        /// The kind the registry declares.
        expected: tenancy_core::TenantKeyKind,
        /// The connection's tenant's kind.
        found: tenancy_core::TenantKeyKind,
    },
    /// An explicit value for the tenant column named another tenant.
    #[error("refused: the statement names another tenant in `{table}`.`{column}`")]
    ForeignTenant {
        /// The table.
        table: String,
        /// Its tenant column.
        column: String,
    },
    /// A construct whose effect on other tenants' rows can't be bounded
    /// (`REPLACE`, `INSERT OR REPLACE`, data-modifying CTEs, table functions,
    /// functions that run SQL text or touch files, ...).
    #[error("refused: {0} is not supported through a tenant connection")]
    Construct(String),
    /// A table name inside a `WITH` clause that could mean either the table or
    /// a common table expression, depending on the backend.
    #[error("refused: `{0}` is ambiguous between a table and a common table expression")]
    AmbiguousCte(String),
    /// An alias that equals a registered table's name (ignoring ASCII case)
    /// but names something else: servers and the rewrite could disagree on
    /// which one a reference means.
    #[error("refused: the alias `{0}` is the name of a registered table")]
    AmbiguousName(String),
    /// A function that is not on the backend's allowlist of functions known
    /// to read nothing but their arguments, and that the application did not
    /// allow with [`allow_function`](crate::TableRegistryBuilder::allow_function).
    #[error("refused: function `{0}` is not on the allowlist")]
    Function(String),
    /// Text that this backend's server could read differently from the
    /// parse the rewrite checked: a token glued to a number (`1.5FROM`), a
    /// name that is not a plain identifier, a literal whose meaning depends
    /// on a server setting (backslashes, `"..."` strings on MySQL).
    #[error("refused: {0} could be read differently by the server")]
    Lexical(String),
    /// The statement text is longer than the registry's limit.
    #[error("refused: the statement is {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// The statement's length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The statement nests deeper than the registry's limit.
    #[error("refused: the statement nests {depth} levels deep, over the limit of {limit}")]
    TooDeep {
        /// The estimated depth (at least this deep).
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// The number of bound values does not match the placeholders.
    #[error("refused: the statement has {placeholders} placeholders but {values} values")]
    Parameters {
        /// Placeholders found in the SQL.
        placeholders: usize,
        /// Values bound.
        values: usize,
    },
    /// A placeholder style this backend's rewrite does not handle.
    #[error("refused: placeholder `{0}` is not supported for this backend")]
    Placeholder(String),
    /// Anything but a plain read through a read-only
    /// [`CrossTenantReader`](crate::CrossTenantReader).
    #[error("refused: `{0}` through a read-only cross-tenant handle")]
    ReadOnly(String),
    /// The audit record of a cross-tenant read could not be written, so the
    /// read did not run.
    #[error("refused: the cross-tenant read could not be audited: {0}")]
    Unaudited(String),
}

/// What the `DbErr` that carries a refusal says it was converting.
const FROM: &str = "SQL statement";
const INTO: &str = "tenant-scoped statement";

impl Refusal {
    /// Wraps the refusal in a [`DbErr`] that keeps it as its source.
    pub fn into_db_err(self) -> DbErr {
        DbErr::TryIntoErr {
            from: FROM,
            into: INTO,
            source: Arc::new(self),
        }
    }

    /// The refusal inside a `DbErr` returned by a tenant connection, if that
    /// is why the statement failed.
    ///
    /// ```
    /// use tenancy_seaorm::Refusal;
    ///
    /// let err = Refusal::UnregisteredTable("secrets".into()).into_db_err();
    /// assert_eq!(
    ///     Refusal::from_db_err(&err),
    ///     Some(&Refusal::UnregisteredTable("secrets".into()))
    /// );
    /// ```
    pub fn from_db_err(err: &DbErr) -> Option<&Refusal> {
        match err {
            DbErr::TryIntoErr {
                from: FROM,
                into: INTO,
                source,
            } => source.downcast_ref::<Refusal>(),
            _ => None,
        }
    }

    /// A short, stable name for the kind of refusal, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Unparseable(_) => "unparseable",
            Refusal::Empty => "empty",
            Refusal::MultipleStatements(_) => "multiple_statements",
            Refusal::Statement(_) => "statement",
            Refusal::UnregisteredTable(_) => "unregistered_table",
            Refusal::GlobalTableWrite(_) => "global_table_write",
            Refusal::TenantColumn { .. } => "tenant_column",
            Refusal::ForeignTenant { .. } => "foreign_tenant",
            Refusal::TenantKeyKind { .. } => "tenant_key_kind",
            Refusal::Construct(_) => "construct",
            Refusal::AmbiguousCte(_) => "ambiguous_cte",
            Refusal::AmbiguousName(_) => "ambiguous_name",
            Refusal::Function(_) => "function",
            Refusal::Lexical(_) => "lexical",
            Refusal::TooLarge { .. } => "too_large",
            Refusal::TooDeep { .. } => "too_deep",
            Refusal::Parameters { .. } => "parameters",
            Refusal::Placeholder(_) => "placeholder",
            Refusal::ReadOnly(_) => "read_only",
            Refusal::Unaudited(_) => "unaudited",
        }
    }
}
