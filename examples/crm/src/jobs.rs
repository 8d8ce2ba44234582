//! Shared automation, run per company: follow-up reminders for calls with
//! the company's callback disposition, and the sync of call outcomes to the
//! company's outside CRM with the company's own credential.
//!
//! The job is one piece of code for every company. The company travels with
//! each run explicitly (a `TenantId` argument, then the task-local scope),
//! never through a global, and a run for a company that is unknown or
//! suspended refuses to start.

use std::collections::HashSet;

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use tenancy_core::{TenantContext, TenantId};
use tenancy_seaorm::TenantConnection;
use tracing::Instrument;

use crate::config::{CALLBACK_DELAY_HOURS, CALLBACK_DISPOSITION, SYNC_TOKEN};
use crate::entities::{call, reminder, sync_log};
use crate::{AppState, new_id, now};

/// Why a job run did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// No company has this id.
    #[error("no company {0}: the job does not run")]
    UnknownTenant(TenantId),
    /// The company is suspended.
    #[error("company {0} is suspended: the job does not run")]
    Suspended(TenantId),
    /// The directory could not say.
    #[error("tenant directory unavailable")]
    Directory(#[from] tenancy_core::directory::StoreError),
    /// The configuration could not be read.
    #[error("configuration: {0}")]
    Config(#[from] tenancy_config::ConfigError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A record id could not be made.
    #[error("{0}")]
    Crypto(#[from] crate::CryptoError),
    /// No tenant in scope (cannot happen inside `follow_ups`).
    #[error("{0}")]
    NoTenant(#[from] tenancy_core::Error),
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// Reminders scheduled.
    pub reminders: usize,
    /// Calls synced.
    pub synced: usize,
    /// Whether the sync was skipped for want of a credential.
    pub sync_skipped: bool,
}

/// Runs the follow-up job for one company.
///
/// # Errors
///
/// [`JobError`]; nothing is written when the company is unknown or suspended.
pub async fn follow_ups(app: &AppState, tenant: TenantId) -> Result<JobReport, JobError> {
    match app.directory.by_id(tenant).await? {
        None => return Err(JobError::UnknownTenant(tenant)),
        Some(t) if !t.is_active() => return Err(JobError::Suspended(tenant)),
        Some(_) => {}
    }
    let span = tracing::info_span!("crm.job.follow_ups", tenant = %tenant);
    TenantContext::new(tenant)
        .scope(async {
            // From here on the company comes from the scope, as it would in
            // code deep inside a job that was handed no argument.
            let scoped = TenantConnection::from_current(app.db.clone(), app.tables.clone())?;
            run(app, tenant, &scoped).await
        })
        .instrument(span)
        .await
}

async fn run(
    app: &AppState,
    tenant: TenantId,
    scoped: &TenantConnection<sea_orm::DatabaseConnection>,
) -> Result<JobReport, JobError> {
    let config = app.config.tenant(tenant);
    let callback = config.get(&CALLBACK_DISPOSITION)?;
    let delay = i64::from(config.get(&CALLBACK_DELAY_HOURS)?) * 3600;
    let token = config.get(&SYNC_TOKEN)?;
    let mut report = JobReport::default();

    let calls = call::Entity::find().all(scoped).await?;
    let reminded: HashSet<i64> = reminder::Entity::find()
        .all(scoped)
        .await?
        .into_iter()
        .map(|r| r.call_id)
        .collect();
    for c in calls
        .iter()
        .filter(|c| c.disposition == callback && !reminded.contains(&c.id))
    {
        reminder::Entity::insert(reminder::ActiveModel {
            entity_id: Set(i64::try_from(tenant)?),
            id: Set(new_id()?),
            call_id: Set(c.id),
            lead_id: Set(c.lead_id),
            due_at: Set(c.created_at + delay),
        })
        .exec_without_returning(scoped)
        .await?;
        report.reminders += 1;
    }

    if token.expose().is_empty() {
        report.sync_skipped = true;
        return Ok(report);
    }
    // The outside service is simulated: the log records which credential
    // was used (its fingerprint, never the token).
    let credential = credential_fingerprint(token.expose());
    let synced: HashSet<i64> = sync_log::Entity::find()
        .filter(sync_log::Column::CallId.is_not_null())
        .all(scoped)
        .await?
        .into_iter()
        .map(|s| s.call_id)
        .collect();
    for c in calls.iter().filter(|c| !synced.contains(&c.id)) {
        sync_log::Entity::insert(sync_log::ActiveModel {
            entity_id: Set(i64::try_from(tenant)?),
            id: Set(new_id()?),
            call_id: Set(c.id),
            credential_fingerprint: Set(credential.clone()),
            synced_at: Set(now()),
        })
        .exec_without_returning(scoped)
        .await?;
        report.synced += 1;
    }
    Ok(report)
}

/// Runs the job for every active company, every `every`, until the task is
/// dropped. Each company's run is independent: one failing does not stop
/// the others.
pub async fn schedule(app: AppState, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let tenants = match app.directory_store.list_tenants().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "job: cannot list companies");
                continue;
            }
        };
        for t in tenants.into_iter().filter(|t| t.is_active()) {
            match follow_ups(&app, t.id).await {
                Ok(r) => tracing::info!(tenant = %t.id, ?r, "follow-up job ran"),
                Err(e) => tracing::warn!(tenant = %t.id, error = %e, "follow-up job failed"),
            }
        }
    }
}

/// The first 16 hex digits of the token's SHA-256: enough to tell which
/// credential was used, useless for calling the service.
pub fn credential_fingerprint(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
