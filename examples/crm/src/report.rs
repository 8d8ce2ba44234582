//! The per-company report: calls by disposition, talk time, and how many
//! leads sit in each pipeline stage. Computed from rows read through the
//! company's scoped connection.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder};
use serde::Serialize;

use crate::entities::{call, lead, stage};

/// One company's report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Calls and talk time (seconds) per disposition.
    pub dispositions: Vec<DispositionRow>,
    /// Calls in all.
    pub calls: u64,
    /// Talk time in all, in seconds.
    pub talk_time_s: i64,
    /// Leads per stage, in pipeline order, with the share of all leads that
    /// reached at least that stage.
    pub stages: Vec<StageRow>,
}

/// Calls with one disposition.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DispositionRow {
    /// The disposition.
    pub disposition: String,
    /// How many calls.
    pub calls: u64,
    /// Their talk time, in seconds.
    pub talk_time_s: i64,
}

/// Leads in one stage.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StageRow {
    /// The stage.
    pub stage: String,
    /// Leads now in it.
    pub leads: u64,
    /// Percent of all leads at this stage or later.
    pub reached_pct: u64,
}

/// Builds the report for whichever company `conn` is scoped to.
///
/// # Errors
///
/// The database's error.
pub async fn build<C: ConnectionTrait>(conn: &C) -> Result<Report, DbErr> {
    let calls = call::Entity::find().all(conn).await?;
    let stages = stage::Entity::find()
        .order_by_asc(stage::Column::PipelineId)
        .order_by_asc(stage::Column::Ord)
        .all(conn)
        .await?;
    let leads = lead::Entity::find().all(conn).await?;
    Ok(from_rows(&calls, &stages, &leads))
}

/// The report over these rows (one company's; `stages` in pipeline order).
pub fn from_rows(calls: &[call::Model], stages: &[stage::Model], leads: &[lead::Model]) -> Report {
    let mut by_disposition: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for c in calls {
        let e = by_disposition.entry(c.disposition.clone()).or_default();
        e.0 += 1;
        e.1 += i64::from(c.duration_s);
    }
    let total = leads.len() as u64;
    let mut rows = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        let here = leads.iter().filter(|l| l.stage_id == s.id).count() as u64;
        let later: u64 = stages[i..]
            .iter()
            .filter(|t| t.pipeline_id == s.pipeline_id)
            .map(|t| leads.iter().filter(|l| l.stage_id == t.id).count() as u64)
            .sum();
        rows.push(StageRow {
            stage: s.name.clone(),
            leads: here,
            reached_pct: (later * 100).checked_div(total).unwrap_or(0),
        });
    }
    Report {
        dispositions: by_disposition
            .into_iter()
            .map(|(disposition, (calls, talk_time_s))| DispositionRow {
                disposition,
                calls,
                talk_time_s,
            })
            .collect(),
        calls: calls.len() as u64,
        talk_time_s: calls.iter().map(|c| i64::from(c.duration_s)).sum(),
        stages: rows,
    }
}
