//! A case's tasks: their connections and locks, the seeding, and the final check.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tenancy_core::TenantContext;
use tenancy_seaorm::{TableRegistry, TenantConnection};
use tenancy_testkit::{Backend, exec, rows_sorted};
use tokio::sync::Mutex;
use tokio::task::{JoinSet, yield_now};

use super::expected::{Fail, Model, is_sqlite_busy};
use super::plan::{Op, Scenario, Step, TaskPlan, Via};
use super::steps::{Running, Stats, bump, run_step, transaction};
use super::{ACTIVE, ALL, BUSY_RETRIES, BYSTANDER_ROWS, BYSTANDERS};

/// Everything a case shares between its tasks.
#[derive(Debug)]
pub(super) struct Env {
    pub(super) backend: Backend,
    /// The one pool every task uses.
    pub(super) pool: DatabaseConnection,
    /// The testkit's pool, for seeding and the final raw check.
    pub(super) raw: DatabaseConnection,
    pub(super) registry: TableRegistry,
    /// Expected rows per active tenant, in [`ACTIVE`] order; a task holds a
    /// tenant's lock for a whole operation.
    pub(super) models: Vec<Mutex<Model>>,
    /// Whether `SQLITE_BUSY` is an expected, retried outcome (the
    /// multi-connection SQLite pool).
    pub(super) retry_busy: bool,
    pub(super) stats: Arc<Stats>,
}

impl Env {
    /// A scoped connection for `tenant` as the task's [`Via`] makes it.
    pub(super) fn connect(&self, via: Via, tenant: i64) -> Result<TenantConnection, Fail> {
        match via {
            Via::New { .. } => Ok(TenantConnection::new(
                self.pool.clone(),
                self.registry.clone(),
                tenant,
            )),
            Via::FromCurrent => {
                TenantConnection::from_current(self.pool.clone(), self.registry.clone()).map_err(
                    |e| {
                        Fail::Bleed(format!(
                            "from_current failed where tenant {tenant} was in scope: {e}"
                        ))
                    },
                )
            }
        }
    }

    /// Runs `unit` until it succeeds or fails with anything but an expected
    /// `SQLITE_BUSY`. `unit` starts from the model each time and returns the
    /// model after it; only a success is kept.
    pub(super) async fn atomically<F, Fut>(
        &self,
        model: &mut Model,
        mut unit: F,
    ) -> Result<(), Fail>
    where
        F: FnMut(Model) -> Fut,
        Fut: Future<Output = Result<Model, Fail>>,
    {
        let _running = Running::start(&self.stats);
        let mut attempt = 0;
        loop {
            match unit(model.clone()).await {
                Ok(after) => {
                    *model = after;
                    return Ok(());
                }
                Err(Fail::Db(e)) if self.retry_busy && is_sqlite_busy(&e) => {
                    attempt += 1;
                    if attempt > BUSY_RETRIES {
                        return Err(Fail::Db(e));
                    }
                    bump(&self.stats.busy_retries);
                    tokio::time::sleep(Duration::from_millis(1 + u64::from(attempt % 8))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One step outside a transaction, as its own atomic unit.
    pub(super) async fn single(
        &self,
        conn: &TenantConnection,
        model: &mut Model,
        s: &Step,
    ) -> Result<(), Fail> {
        self.atomically(model, |mut m| async move {
            run_step(conn, &self.stats, &mut m, s).await.map(|()| m)
        })
        .await
    }

    /// Runs one operation of `task`, holding the locks of the tenants it
    /// touches. `own` is the task's connection for [`Via::New`].
    pub(super) async fn op(
        &self,
        task: &TaskPlan,
        own: Option<&TenantConnection>,
        op: &Op,
    ) -> Result<(), Fail> {
        bump(&self.stats.ops);
        let tenant = ACTIVE[task.tenant];
        let connect = || match own {
            Some(conn) => Ok(conn.clone()),
            None => self.connect(task.via, tenant),
        };
        match op {
            Op::Single(s) => {
                let mut model = self.models[task.tenant].lock().await;
                let conn = connect()?;
                self.single(&conn, &mut model, s).await
            }
            Op::Txn(kind, list) => {
                let mut model = self.models[task.tenant].lock().await;
                let conn = connect()?;
                self.atomically(&mut model, |m| {
                    let conn = &conn;
                    async move { transaction(conn, &self.stats, &m, *kind, list).await }
                })
                .await
            }
            Op::Nested(offset, list) => {
                let other_index = (task.tenant + offset) % ACTIVE.len();
                let other = ACTIVE[other_index];
                // Both locks, lower index first, so two nested operations
                // can't wait on each other.
                let (mut model, mut other_model) = if task.tenant < other_index {
                    let a = self.models[task.tenant].lock().await;
                    let b = self.models[other_index].lock().await;
                    (a, b)
                } else {
                    let b = self.models[other_index].lock().await;
                    let a = self.models[task.tenant].lock().await;
                    (a, b)
                };
                match task.via {
                    Via::New { .. } => {
                        let conn = connect()?;
                        let other_conn = self.connect(task.via, other)?;
                        for s in list {
                            self.single(&other_conn, &mut other_model, s).await?;
                            yield_now().await;
                            self.single(&conn, &mut model, &Step::Read).await?;
                            yield_now().await;
                        }
                        Ok(())
                    }
                    Via::FromCurrent => {
                        let inner = async {
                            for s in list {
                                let conn = self.connect(task.via, other)?;
                                self.single(&conn, &mut other_model, s).await?;
                                yield_now().await;
                            }
                            // A spawned task does not inherit the scope.
                            let (pool, registry) = (self.pool.clone(), self.registry.clone());
                            let orphan = tokio::spawn(async move {
                                TenantConnection::from_current(pool, registry)
                                    .map(|c| c.tenant())
                                    .ok()
                            })
                            .await
                            .expect("the spawned task");
                            if let Some(seen) = orphan {
                                return Err(Fail::Bleed(format!(
                                    "a task spawned in tenant {other}'s scope got tenant {seen}"
                                )));
                            }
                            Ok(())
                        };
                        TenantContext::new(other).scope(inner).await?;
                        // Back in the task's own scope.
                        let conn = self.connect(task.via, tenant)?;
                        self.single(&conn, &mut model, &Step::Read).await
                    }
                }
            }
        }
    }

    /// Runs a whole task in its scope (if any).
    pub(super) async fn task(self: Arc<Self>, index: usize, task: TaskPlan) -> Result<(), String> {
        bump(&self.stats.tasks);
        let tenant = ACTIVE[task.tenant];
        let body = async {
            let own = match task.via {
                Via::New { .. } => Some(TenantConnection::new(
                    self.pool.clone(),
                    self.registry.clone(),
                    tenant,
                )),
                Via::FromCurrent => None,
            };
            for (i, op) in task.ops.iter().enumerate() {
                self.op(&task, own.as_ref(), op).await.map_err(|e| {
                    format!(
                        "task {index} (tenant {tenant}, {:?}), operation {i} {op:?}:\n  {e}",
                        task.via
                    )
                })?;
                yield_now().await;
            }
            Ok(())
        };
        match task.via {
            Via::FromCurrent => TenantContext::new(tenant).scope(body).await,
            Via::New {
                ambient: Some(ambient),
            } => TenantContext::new(ACTIVE[ambient]).scope(body).await,
            Via::New { ambient: None } => body.await,
        }
    }

    /// Empties the table and seeds it for `scenario`.
    pub(super) async fn reset(&self, scenario: &Scenario) {
        exec(&self.raw, "DELETE FROM notes").await;
        let mut models = Vec::new();
        for (i, tenant) in ACTIVE.into_iter().enumerate() {
            let model = Model::seeded(tenant, i64::from(scenario.seeds[i]));
            models.push(model.clone());
            *self.models[i].lock().await = model;
        }
        models.extend(bystanders());
        let values: Vec<String> = models
            .iter()
            .flat_map(|m| {
                m.rows.iter().map(move |(id, (body, counter))| {
                    format!("({}, {id}, '{body}', {counter})", m.tenant)
                })
            })
            .collect();
        let sql = format!(
            "INSERT INTO notes (entity_id, id, body, counter) VALUES {}",
            values.join(", ")
        );
        exec(&self.raw, &sql).await;
    }

    /// Reads the whole table through the raw connection and compares it with
    /// every tenant's expected rows.
    pub(super) async fn check_final(&self) -> Result<(), String> {
        let mut models = Vec::new();
        for m in &self.models {
            models.push(m.lock().await.clone());
        }
        models.extend(bystanders());
        let got = rows_sorted(&self.raw, "SELECT entity_id, id, body, counter FROM notes").await;
        let known: BTreeSet<String> = ALL.iter().map(i64::to_string).collect();
        let unknown: BTreeSet<&String> = got
            .iter()
            .map(|row| &row[0])
            .filter(|t| !known.contains(*t))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "CONTEXT BLEED: the table holds rows of tenant(s) {unknown:?}, which no one used"
            ));
        }
        let mut problems = Vec::new();
        for model in &models {
            let tenant = model.tenant.to_string();
            let mut mine: Vec<Vec<String>> =
                got.iter().filter(|row| row[0] == tenant).cloned().collect();
            let mut expected = model.raw();
            mine.sort();
            expected.sort();
            if mine != expected {
                problems.push(format!(
                    "tenant {tenant}:\n    got      {mine:?}\n    expected {expected:?}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "CONTEXT BLEED: after the run, the raw table differs from the expected rows of \
                 {} tenant(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ))
        }
    }
}

pub(super) fn bystanders() -> impl Iterator<Item = Model> {
    BYSTANDERS
        .into_iter()
        .map(|t| Model::seeded(t, BYSTANDER_ROWS))
}

/// One case: seed, run every task at once, check the table.
pub(super) async fn run_case(env: &Arc<Env>, scenario: Scenario) -> Result<(), String> {
    env.reset(&scenario).await;
    let mut tasks = JoinSet::new();
    for (index, task) in scenario.tasks.into_iter().enumerate() {
        tasks.spawn(Arc::clone(env).task(index, task));
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("a task panicked: {e}")),
        }
    }
    if !failures.is_empty() {
        let shown = failures.len().min(5);
        return Err(format!(
            "{} of the tasks failed on {}; the first {shown}:\n{}",
            failures.len(),
            env.backend,
            failures[..shown].join("\n")
        ));
    }
    env.check_final().await
}
