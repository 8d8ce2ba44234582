//! Rewritten statements, cached by their text.
//!
//! A plan does not depend on the tenant: the tenant is a bind parameter, so
//! one plan serves every tenant and the hot path is a cache lookup plus
//! pushing one value.

use std::sync::Arc;

use sea_orm::{DbBackend, Statement, Value, Values};
use tenancy_core::TenantId;

use crate::{Refusal, flavor::Flavor, key::TenantKeyType};

/// Where each parameter of the rewritten SQL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Params {
    /// The caller's values in order, then the tenant (numbered placeholders:
    /// `$n` on PostgreSQL, `?n` on SQLite).
    AppendTenant,
    /// The caller's values only: the SQL does not use the tenant.
    AsGiven,
    /// Positional `?` placeholders (MySQL): slot `i` takes the caller's value
    /// `Some(k)` (0-based) or the tenant (`None`).
    Positional(Vec<Option<usize>>),
}

/// A value the caller supplied for the tenant column; it must equal the
/// connection's tenant or the statement is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantCheck {
    /// The caller's value at this 0-based index.
    Param(usize),
    /// A literal written in the SQL, read as a key of the columns' type.
    Literal(TenantId),
}

/// What a statement does, for tracing and for the read-only check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
}

impl StatementKind {
    /// Lowercase, as the `kind` field of the `tenancy.statement` span.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// A statement rewritten for its tenant, ready to bind.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) sql: String,
    pub(crate) params: Params,
    /// How many values the caller must bind.
    pub(crate) expected_values: usize,
    pub(crate) checks: Vec<TenantCheck>,
    /// The target table and column of the checks, for the refusal message.
    pub(crate) checked_column: Option<(String, String)>,
    pub(crate) kind: StatementKind,
}

impl Plan {
    /// Binds the caller's values and the tenant into a runnable statement.
    pub(crate) fn bind(
        &self,
        backend: DbBackend,
        key: TenantKeyType,
        values: Option<Values>,
        tenant: TenantId,
    ) -> Result<Statement, Refusal> {
        self.bind_values(backend, key, values, Some(tenant))
    }

    /// Binds the caller's values into a plan that does not use the tenant
    /// (a cross-tenant read). A plan that does is refused, never run with a
    /// guess.
    pub(crate) fn bind_unscoped(
        &self,
        backend: DbBackend,
        values: Option<Values>,
    ) -> Result<Statement, Refusal> {
        // The key type is never consulted without a tenant.
        self.bind_values(backend, TenantKeyType::default(), values, None)
    }

    fn bind_values(
        &self,
        backend: DbBackend,
        key: TenantKeyType,
        values: Option<Values>,
        tenant: Option<TenantId>,
    ) -> Result<Statement, Refusal> {
        // Only `bind_unscoped` passes no tenant, and its plans have no
        // tenant slot and no checks: reaching one is a planning bug, refused.
        let no_tenant = || Refusal::Construct("a cross-tenant read that uses the tenant".into());
        let values = values.map(|v| v.0).unwrap_or_default();
        // The tenant as a parameter of the column's type; a tenant of
        // another kind is refused here, before anything is sent.
        let flavor = Flavor::of(backend)?;
        let tenant_value = tenant.map(|t| key.bind(flavor, t)).transpose()?;
        if values.len() != self.expected_values {
            return Err(Refusal::Parameters {
                placeholders: self.expected_values,
                values: values.len(),
            });
        }
        if !self.checks.is_empty() {
            let tenant = tenant.ok_or_else(no_tenant)?;
            for check in &self.checks {
                let ok = match check {
                    TenantCheck::Param(i) => values
                        .get(*i)
                        .is_some_and(|v| key.matches(flavor, v, tenant)),
                    TenantCheck::Literal(v) => *v == tenant,
                };
                if !ok {
                    let (table, column) = self.checked_column.clone().unwrap_or_default();
                    return Err(Refusal::ForeignTenant { table, column });
                }
            }
        }
        let values =
            match &self.params {
                Params::AppendTenant => {
                    let mut values = values;
                    values.push(tenant_value.ok_or_else(no_tenant)?);
                    values
                }
                Params::AsGiven => values,
                Params::Positional(slots) => {
                    let mut given: Vec<Option<Value>> = values.into_iter().map(Some).collect();
                    slots
                        .iter()
                        .map(|slot| match slot {
                            // Each caller value fills exactly one slot: `take` is
                            // enough, and a second use would be a planning bug
                            // that we turn into a refusal rather than a panic.
                            Some(k) => given.get_mut(*k).and_then(Option::take).ok_or(
                                Refusal::Parameters {
                                    placeholders: slots.len(),
                                    values: self.expected_values,
                                },
                            ),
                            None => tenant_value.clone().ok_or_else(no_tenant),
                        })
                        .collect::<Result<Vec<_>, _>>()?
                }
            };
        Ok(Statement {
            sql: self.sql.clone(),
            values: Some(Values(values)),
            db_backend: backend,
        })
    }
}

/// Plans keyed by SQL text, one map per backend (the same text means
/// different things to different parsers).
pub(crate) struct PlanCache {
    caches: [quick_cache::sync::Cache<String, Arc<Plan>>; 3],
    capacity: usize,
}

impl PlanCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            caches: std::array::from_fn(|_| quick_cache::sync::Cache::new(capacity)),
            capacity,
        }
    }

    fn slot(&self, backend: Flavor) -> &quick_cache::sync::Cache<String, Arc<Plan>> {
        &self.caches[backend.index()]
    }

    pub(crate) fn get(&self, backend: Flavor, sql: &str) -> Option<Arc<Plan>> {
        self.slot(backend).get(sql)
    }

    pub(crate) fn insert(&self, backend: Flavor, sql: String, plan: Arc<Plan>) {
        self.slot(backend).insert(sql, plan);
    }

    /// How many plans each backend's map keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.caches.iter().map(|c| c.len()).sum()
    }
}
