//! Property tests of the isolation guarantee, on random data and random
//! statements, on every backend this run has.
//!
//! Each case is a random dataset, a tenant t and a random sequence of
//! statements. The dataset goes into D (every tenant) and D|t (only t's
//! rows). Each statement then runs through a `TenantConnection` for t on D
//! and directly on D|t, and the oracle is the guarantee itself:
//!
//! - a read returns the same rows on both;
//! - a write leaves every other tenant's rows in D byte-identical, and
//!   leaves t's rows in D as it leaves D|t;
//! - a refusal is accepted only for the constructs the library documents as
//!   refused (the generator says which), and nothing changes;
//! - an upsert that collides with another tenant's row (no collision
//!   exists in D|t) changes no row at all.
//!
//! `guarantee_holds_on_postgres_through_rls_alone` runs the same property
//! without the rewrite (statements go as written, through the testkit's
//! `PoliciesOnly`), as a non-superuser role under the row-level-security policies: the second
//! wall must keep every tenant apart on its own. There a statement the
//! rewrite would refuse may run or fail; either way no other tenant's row
//! may change.
//!
//! The `..._with_uuid_keys` and `..._with_text_keys` tests run the same
//! property with tenant keys of another kind ([`model::Keys`]): the tenant
//! columns are PostgreSQL `uuid` / MySQL `CHAR(36)` / SQLite `TEXT`, or
//! `VARCHAR(64)`, the registry declares that type, and every tenant the
//! dataset, the defaults and the raw SQL name is a fixed UUID or text key,
//! written as a string literal. The SeaORM-built statements that bind a
//! tenant are left out there: the fixture entities' tenant fields are
//! `i64` (see [`case`]). Those runs also write the tenant column with a key
//! in another form (upper case, padded, a number, braced), which must be
//! refused as `tenant_column`.
//!
//! `TENANCY_PROPTEST_CASES` sets the number of cases per backend (default
//! 48, and 16 for each run with UUID or text keys; a case runs up to 12
//! statements). A soak run raises it and prints the counts per construct,
//! refusals included.

mod adversarial;
mod built;
mod model;
mod rendered;
mod sql;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
    TransactionTrait,
};
use tenancy_seaorm::{Refusal, RowLevelSecurity, TableRegistry, TenantConnection, VerifiedRls};
use tenancy_testkit::fixtures::Schema;
use tenancy_testkit::{Backend, PoliciesOnly, TestDb, exec, fresh_db, try_rows, try_rows_of};

use model::{Dataset, Keys, TENANTS, Table};
use sql::Stmt;

/// The connection under test: the library's, or the policies alone.
enum Scoped {
    Rewrite(TenantConnection),
    PoliciesOnly(PoliciesOnly),
}

#[async_trait::async_trait]
impl ConnectionTrait for Scoped {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Scoped::Rewrite(c) => c.get_database_backend(),
            Scoped::PoliciesOnly(c) => c.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Scoped::Rewrite(c) => c.execute_raw(stmt).await,
            Scoped::PoliciesOnly(c) => c.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Scoped::Rewrite(c) => c.execute_unprepared(sql).await,
            Scoped::PoliciesOnly(c) => c.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Scoped::Rewrite(c) => c.query_one_raw(stmt).await,
            Scoped::PoliciesOnly(c) => c.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Scoped::Rewrite(c) => c.query_all_raw(stmt).await,
            Scoped::PoliciesOnly(c) => c.query_all_raw(stmt).await,
        }
    }
}

/// Outcomes per construct label.
#[derive(Debug, Default, Clone)]
struct Counts {
    /// Ran and matched the oracle.
    passed: u64,
    /// Refused as documented.
    refused: u64,
    /// Failed on D|t too (not valid SQL for this data or backend), with the
    /// same state on both sides afterwards.
    invalid: u64,
    /// The backend has no syntax for it.
    unsupported: u64,
}

type Stats = Arc<Mutex<BTreeMap<String, Counts>>>;

fn count(stats: &Stats, construct: &str, f: impl FnOnce(&mut Counts)) {
    let mut stats = stats.lock().expect("stats");
    f(stats.entry(construct.to_owned()).or_default());
}

/// One backend's databases: D, and D|t for each tenant t.
struct Env {
    backend: Backend,
    /// The kind of tenant key, and the key of each tenant number.
    keys: Keys,
    shared: TestDb,
    /// D|t for each of [`TENANTS`], in order.
    only: Vec<TestDb>,
    registry: TableRegistry,
    /// Set for the RLS-only run: D is reached as a non-superuser role under
    /// the policies, with the rewrite off.
    rls: Option<RlsOnly>,
}

/// The role and pool of the RLS-only run.
struct RlsOnly {
    role: String,
    app: DatabaseConnection,
    verified: VerifiedRls,
    admin_url: String,
}

impl Env {
    /// Puts the policies on D and connects to it as a fresh non-superuser
    /// role that may read the global table and write the scoped ones.
    async fn rls_only(mut self) -> Self {
        let admin_url = std::env::var(tenancy_testkit::POSTGRES_URL_VAR)
            .expect("checked by tenancy_testkit::backends()");
        let (root, schema) = (&self.shared.conn, self.shared.name().to_owned());
        let role = format!("tenancy_prop_{schema}");
        exec(
            root,
            &format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"),
        )
        .await;
        exec(root, &format!("GRANT USAGE ON SCHEMA {schema} TO {role}")).await;
        exec(root, &format!("GRANT SELECT ON regions TO {role}")).await;
        exec(
            root,
            &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, leads, calls TO {role}"),
        )
        .await;
        // The tenant column defaults to the setting, as D|t's defaults to t.
        RowLevelSecurity::new()
            .stamp_default(true)
            .apply(root, &self.registry)
            .await
            .expect("apply the policies");
        let (scheme, rest) = admin_url.split_once("://").expect("a URL");
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let mut options = sea_orm::ConnectOptions::new(format!("{scheme}://{role}@{host}"));
        options
            .set_schema_search_path(schema)
            .max_connections(2)
            .sqlx_logging(false);
        let app = sea_orm::Database::connect(options)
            .await
            .expect("connect as the application role");
        let verified = RowLevelSecurity::new()
            .boot_check(&app, &self.registry)
            .await
            .expect("the boot check passes for the application role");
        self.rls = Some(RlsOnly {
            role,
            app,
            verified,
            admin_url,
        });
        self
    }

    /// The connection under test for tenant number `tenant`.
    fn scoped(&self, tenant: i64) -> Scoped {
        let id = self.keys.id(tenant);
        match &self.rls {
            None => Scoped::Rewrite(TenantConnection::new(
                self.shared.conn.clone(),
                self.registry.clone(),
                id,
            )),
            Some(rls) => Scoped::PoliciesOnly(PoliciesOnly::new(
                rls.app.clone(),
                rls.verified.setting(),
                id,
            )),
        }
    }

    async fn new(backend: Backend, keys: Keys) -> Self {
        let shared = fresh_db(backend).await;
        let schema = Schema::new().tenant_keys(keys.kind());
        // No default tenant in D, so an insert left unstamped fails.
        schema.create(&shared.conn).await;
        // In D only: a statement that reads it through the scoped
        // connection gets rows where D|t gets an error.
        exec(
            &shared.conn,
            "CREATE TABLE platform_secret (id INTEGER PRIMARY KEY, value VARCHAR(40) NOT NULL)",
        )
        .await;
        exec(
            &shared.conn,
            "INSERT INTO platform_secret (id, value) VALUES (1, 'hunter2')",
        )
        .await;
        let mut only = Vec::new();
        for t in TENANTS {
            let db = fresh_db(backend).await;
            // D|t's tenant columns default to t, so an insert that leaves
            // the column out lands in t, as the scoped one must.
            schema.tenant_default(keys.id(t)).create(&db.conn).await;
            only.push(db);
        }
        let registry = TableRegistry::builder()
            .tenant_key(keys.key_type())
            .scoped_table("accounts")
            .scoped_table("leads")
            .scoped_table_by("calls", "company_id")
            .global_table("regions")
            .build()
            .expect("registry")
            // Column orders, for INSERT without a column list.
            .with_columns_from(&shared.conn)
            .await
            .expect("column orders");
        Self {
            backend,
            keys,
            shared,
            only,
            registry,
            rls: None,
        }
    }

    fn only(&self, tenant: i64) -> &DatabaseConnection {
        &self.only[TENANTS
            .iter()
            .position(|t| *t == tenant)
            .expect("known tenant")]
        .conn
    }

    /// Loads the dataset into D and t's rows into D|t.
    ///
    /// One transaction per database: on MariaDB each autocommitted statement
    /// waits for its own log flush, which made the reload most of a case.
    async fn load(&self, data: &Dataset, tenant: i64) {
        for (conn, rows_of) in [(&self.shared.conn, None), (self.only(tenant), Some(tenant))] {
            let txn = conn.begin().await.expect("begin the reload");
            for table in ["calls", "leads", "accounts", "regions"] {
                exec(&txn, &format!("DELETE FROM {table}")).await;
            }
            for sql in data.inserts(rows_of, self.keys) {
                exec(&txn, &sql).await;
            }
            txn.commit().await.expect("commit the reload");
        }
    }

    async fn cleanup(self) {
        if let Some(rls) = &self.rls {
            let _ = rls.app.clone().close().await;
        }
        self.shared.cleanup().await;
        for db in self.only {
            db.cleanup().await;
        }
        if let Some(rls) = self.rls {
            let admin = sea_orm::Database::connect(&rls.admin_url)
                .await
                .expect("admin connection");
            exec(&admin, &format!("DROP ROLE IF EXISTS {}", rls.role)).await;
            let _ = admin.close().await;
        }
    }
}

/// Every row of every table (of tenant number `tenant`, or all), table by
/// table, with the tenants as `keys`.
async fn dump(conn: &DatabaseConnection, keys: Keys, tenant: Option<i64>) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for table in Table::ALL {
        let filter = tenant
            .map(|t| format!(" WHERE {} = {}", table.tenant_column(), keys.literal(t)))
            .unwrap_or_default();
        let sql = format!("SELECT * FROM {}{filter} ORDER BY id", table.name());
        for mut row in try_rows(conn, &sql)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
        {
            row.insert(0, table.name().to_owned());
            all.push(row);
        }
    }
    all.extend(
        try_rows(conn, "SELECT * FROM regions ORDER BY id")
            .await
            .expect("regions"),
    );
    all
}

async fn others(conn: &DatabaseConnection, keys: Keys, tenant: i64) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for t in TENANTS.into_iter().filter(|t| *t != tenant) {
        all.extend(dump(conn, keys, Some(t)).await);
    }
    all
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// Runs one case; `Err` is a broken guarantee.
async fn check_case(
    env: &Env,
    stats: &Stats,
    data: &Dataset,
    tenant: i64,
    stmts: &[Stmt],
) -> Result<(), String> {
    env.load(data, tenant).await;
    let scoped = env.scoped(tenant);
    let rls_only = env.rls.is_some();
    let (shared, only) = (&env.shared.conn, env.only(tenant));
    let keys = env.keys;
    let key = keys.id(tenant);
    for (i, stmt) in stmts.iter().enumerate() {
        // Inserts use ids fresh..fresh+14 (INSERT ... SELECT adds row ids).
        let fresh = 1_000 + 100 * i as i64;
        let Some(r) = stmt.render(env.backend, keys, tenant, fresh) else {
            count(stats, "(no syntax on this backend)", |c| c.unsupported += 1);
            continue;
        };
        let fail = |why: String| {
            Err(format!(
                "{why}\n  tenant {key}, statement {i}: {} {:?}",
                r.sql, r.values
            ))
        };
        let statement = Statement {
            sql: r.sql.clone(),
            values: r.values.clone(),
            db_backend: env.backend.db_backend(),
        };

        // Through the policies alone, what the rewrite refuses may run or
        // fail; either way no other tenant's row may change. The databases
        // may differ afterwards (D|t has no policies), so the case ends.
        if let (true, Some(kind)) = (rls_only, r.refusal) {
            let before = dump(shared, keys, None).await;
            let before_others = others(shared, keys, tenant).await;
            let got = try_rows_of(&scoped, statement.clone()).await;
            if got.is_err() {
                if dump(shared, keys, None).await != before {
                    return fail(format!("`{kind}` failed under RLS but changed rows"));
                }
                count(stats, &format!("{} (rls: failed)", r.construct), |c| {
                    c.refused += 1
                });
                continue;
            }
            if others(shared, keys, tenant).await != before_others {
                return fail(format!(
                    "`{kind}` RAN UNDER RLS AND CHANGED ANOTHER TENANT'S ROWS"
                ));
            }
            if r.is_read {
                let expected = try_rows_of(only, statement.clone()).await.map(sorted);
                let got = got.map(sorted);
                if expected.is_ok() && expected != got {
                    return fail(format!(
                        "READ DIFFERS from D|t under RLS\n  expected {expected:?}\n       got {got:?}"
                    ));
                }
            }
            count(stats, &format!("{} (rls: ran)", r.construct), |c| {
                c.passed += 1
            });
            return Ok(());
        }

        if r.refusal == Some(adversarial::ANY_REFUSAL) {
            let before = dump(shared, keys, None).await;
            let got = try_rows_of(&scoped, statement.clone()).await;
            match got {
                Err(err) => match Refusal::from_db_err(&err) {
                    Some(refusal) => {
                        let kind = refusal.kind();
                        count(stats, &format!("{} (refused: {kind})", r.construct), |c| {
                            c.refused += 1
                        });
                    }
                    None => {
                        if try_rows_of(only, statement.clone()).await.is_ok() {
                            return fail(format!("failed in the database, but runs on D|t: {err}"));
                        }
                        count(stats, &r.construct, |c| c.invalid += 1);
                    }
                },
                Ok(got) => {
                    let expected = try_rows_of(only, statement.clone()).await;
                    let got = sorted(got);
                    match expected {
                        Ok(expected) if sorted(expected.clone()) == got => {
                            count(stats, &r.construct, |c| c.passed += 1)
                        }
                        expected => {
                            return fail(format!(
                                "AN ADVERSARIAL READ DIFFERS from D|t\n  expected {expected:?}\n       got {got:?}"
                            ));
                        }
                    }
                }
            }
            if dump(shared, keys, None).await != before {
                return fail("an adversarial read changed rows".into());
            }
            continue;
        }

        if let Some(kind) = r.refusal {
            let before = dump(shared, keys, None).await;
            let result = scoped.execute_raw(statement.clone()).await;
            match result {
                Err(err) => match Refusal::from_db_err(&err) {
                    Some(refusal) if refusal.kind() == kind => {}
                    Some(refusal) => {
                        return fail(format!(
                            "refused as `{}` ({refusal}), documented as `{kind}`",
                            refusal.kind()
                        ));
                    }
                    None => {
                        return fail(format!(
                            "failed in the database instead of being refused: {err}"
                        ));
                    }
                },
                Ok(_) => {
                    return fail(format!(
                        "ran, but the library documents `{kind}` as refused"
                    ));
                }
            }
            if dump(shared, keys, None).await != before {
                return fail("a refused statement changed rows".into());
            }
            count(stats, &r.construct, |c| c.refused += 1);
            continue;
        }

        if r.is_read {
            let expected = try_rows_of(only, statement.clone()).await;
            let got = try_rows_of(&scoped, statement.clone()).await;
            match (expected, got) {
                (Ok(expected), Ok(got)) => {
                    let (expected, got) = (sorted(expected), sorted(got));
                    if expected != got {
                        return fail(format!(
                            "READ DIFFERS from D|t\n  expected {expected:?}\n       got {got:?}"
                        ));
                    }
                    count(stats, &r.construct, |c| c.passed += 1);
                }
                // The policies' grants may deny more than the rewrite
                // refuses (`FOR UPDATE` on a read-only global table).
                (Ok(_), Err(e)) if rls_only && denied(&e) => {
                    count(stats, &format!("{} (rls: denied)", r.construct), |c| {
                        c.refused += 1
                    })
                }
                (Err(_), Err(e)) if not_a_refusal_of_valid_sql(&e) => {
                    count(stats, &r.construct, |c| c.invalid += 1)
                }
                (expected, got) => {
                    return fail(format!(
                        "outcomes differ\n  D|t: {expected:?}\n  scoped: {got:?}"
                    ));
                }
            }
            continue;
        }

        // An upsert whose id belongs to another tenant's row: there is no such
        // row in D|t, so the oracle is that nothing changes at all.
        if let Some(id) = r.upsert_id {
            let owner = try_rows(
                shared,
                &format!("SELECT entity_id FROM leads WHERE id = {id}"),
            )
            .await
            .map_err(|e| e.to_string())?;
            if owner.first().is_some_and(|row| row[0] != key.to_string()) {
                let before = dump(shared, keys, None).await;
                // The policies make it an error rather than a no-op.
                if let (Err(e), false) = (try_rows_of(&scoped, statement.clone()).await, rls_only) {
                    return fail(format!("upsert on another tenant's key failed: {e}"));
                }
                if dump(shared, keys, None).await != before {
                    return fail("AN UPSERT CHANGED ANOTHER TENANT'S ROW".into());
                }
                count(stats, "upsert/other-tenants-key", |c| c.passed += 1);
                continue;
            }
        }

        let before = others(shared, keys, tenant).await;
        let expected = try_rows_of(only, statement.clone()).await;
        let got = try_rows_of(&scoped, statement).await;
        if others(shared, keys, tenant).await != before {
            return fail("A WRITE CHANGED ANOTHER TENANT'S ROWS".into());
        }
        match (&expected, &got) {
            (Ok(_), Ok(_)) => count(stats, &r.construct, |c| c.passed += 1),
            // Denied by a grant, after D|t ran it: the databases now differ,
            // so the case ends (no other tenant's rows changed, checked above).
            (Ok(_), Err(e)) if rls_only && denied(e) => {
                count(stats, &format!("{} (rls: denied)", r.construct), |c| {
                    c.refused += 1
                });
                return Ok(());
            }
            (Err(_), Err(e)) if not_a_refusal_of_valid_sql(e) => {
                count(stats, &r.construct, |c| c.invalid += 1)
            }
            _ => {
                return fail(format!(
                    "outcomes differ\n  D|t: {expected:?}\n  scoped: {got:?}"
                ));
            }
        }
        let (mine, oracle) = (
            dump(shared, keys, Some(tenant)).await,
            dump(only, keys, None).await,
        );
        if mine != oracle {
            return fail(format!(
                "tenant rows differ from D|t after the write\n  expected {oracle:?}\n       got {mine:?}"
            ));
        }
    }
    Ok(())
}

/// When D|t rejects a statement too, the scoped connection may fail in the
/// database or refuse it as unparseable; any other refusal of it would be
/// refusing a construct the library claims to handle.
fn not_a_refusal_of_valid_sql(err: &sea_orm::DbErr) -> bool {
    matches!(
        Refusal::from_db_err(err),
        None | Some(Refusal::Unparseable(_))
    )
}

/// PostgreSQL's "permission denied" (SQLSTATE 42501).
fn denied(err: &sea_orm::DbErr) -> bool {
    err.to_string().contains("permission denied")
}

/// `TENANCY_PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("TENANCY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Cases per backend by default: integer keys, and each other kind (CI
/// time is short; a soak sets `TENANCY_PROPTEST_CASES`).
const CASES_INT: u32 = 48;
const CASES_OTHER_KEYS: u32 = 16;

/// A dataset, a tenant number and statements, for a run with `keys`.
///
/// With integer keys, every statement of the grammar. With UUID or text
/// keys, the SeaORM-built statements that bind a tenant (a tenant column
/// `Set`, or `Column::EntityId.eq(t)`) are left out: the fixture entities'
/// tenant fields are `i64`, and binding an `i64` for a `uuid` or text
/// column is a statement no application of that kind can write. The raw
/// SQL names those tenants as string literals instead. (The other built
/// statements still run: every read, filters on the other columns, and
/// the writes that leave the tenant column to the connection.)
fn case(keys: Keys) -> BoxedStrategy<(Dataset, i64, Vec<Stmt>)> {
    if keys == Keys::Int {
        return (
            model::dataset(),
            prop::sample::select(TENANTS.to_vec()),
            prop::collection::vec(sql::stmt(), 1..=12),
        )
            .boxed();
    }
    let built = built::built().prop_filter("binds an i64 tenant", |b| !b.binds_tenant());
    // Plus, now and then, the tenant column set to a key in another form
    // (upper case, padded, a number, braced), which must be refused.
    let stmt = prop_oneof![
        18 => sql::stmt_of(built),
        1 => sql::tenant_in_another_form().prop_map(Stmt::Write),
    ];
    (
        model::dataset(),
        prop::sample::select(TENANTS.to_vec()),
        prop::collection::vec(stmt, 1..=12),
    )
        .boxed()
}

/// Runs the property on `backend`, if this run has it.
fn guarantee_on(backend: Backend) {
    guarantee_with(backend, Keys::Int, false);
}

/// Runs the property on `backend` with tenant keys of another kind.
fn guarantee_with_keys(backend: Backend, keys: Keys) {
    guarantee_with(backend, keys, false);
}

/// Runs the property on `backend` with `keys`; `rls_only`: with the rewrite
/// off, under the row-level-security policies alone (PostgreSQL).
fn guarantee_with(backend: Backend, keys: Keys, rls_only: bool) {
    if !tenancy_testkit::backends().contains(&backend) {
        return;
    }
    // Integer runs keep their plain name, so soak logs compare.
    let label = match keys {
        Keys::Int => backend.to_string(),
        _ => format!("{backend} with {} keys", keys.kind()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let env = rt.block_on(async {
        let env = Env::new(backend, keys).await;
        if rls_only { env.rls_only().await } else { env }
    });
    let env = Arc::new(Mutex::new(Some(env)));
    let stats: Stats = Arc::default();
    let config = Config {
        cases: cases(if keys == Keys::Int {
            CASES_INT
        } else {
            CASES_OTHER_KEYS
        }),
        // `TestRunner::new` knows no source file, so `SourceParallel` would
        // neither save nor replay seeds: name the file outright.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        )))),
        // Each case talks to a database; shrinking still gets a minimal
        // dataset and statement list, within this bound.
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let (ran, failed) = (std::cell::Cell::new(0_u64), std::cell::Cell::new(0_u64));
    let result = runner.run(&case(keys), |(data, tenant, stmts)| {
        let guard = env.lock().expect("env");
        let env = guard.as_ref().expect("env");
        let outcome = rt
            .block_on(check_case(env, &stats, &data, tenant, &stmts))
            .map_err(TestCaseError::fail);
        // A soak can run for hours: say how far it got, so a run that is
        // stopped early still reports what it checked.
        // (While shrinking, the runs are counted too.)
        ran.set(ran.get() + 1);
        failed.set(failed.get() + u64::from(outcome.is_err()));
        if ran.get() % PROGRESS_EVERY == 0 {
            progress(&label, &stats, ran.get(), failed.get(), started.elapsed());
        }
        outcome
    });
    if let Some(env) = env.lock().expect("env").take() {
        rt.block_on(env.cleanup());
    }
    report(&label, &stats);
    if let Err(e) = result {
        panic!("the isolation guarantee failed on {label}:\n{e}");
    }
}

/// Cases between two progress lines.
const PROGRESS_EVERY: u64 = 500;

fn progress(label: &str, stats: &Stats, cases: u64, failed: u64, elapsed: std::time::Duration) {
    let stats = stats.lock().expect("stats");
    let (mut checked, mut refused) = (0, 0);
    for c in stats.values() {
        checked += c.passed + c.refused + c.invalid;
        refused += c.refused;
    }
    let _ = writeln!(
        std::io::stderr(),
        "{label}: {cases} cases, {checked} statements checked ({refused} refused as documented), {failed} failing cases, {:.0} s",
        elapsed.as_secs_f64()
    );
}

/// Prints the counts per construct (straight to stderr, so a passing run
/// shows them too).
fn report(label: &str, stats: &Stats) {
    let stats = stats.lock().expect("stats");
    let total: u64 = stats
        .values()
        .map(|c| c.passed + c.refused + c.invalid)
        .sum();
    let mut out = format!("\n{label}: {total} statements checked against the guarantee\n");
    out.push_str(&format!(
        "  {:<36} {:>8} {:>8} {:>8} {:>8}\n",
        "construct", "passed", "refused", "invalid", "n/a"
    ));
    for (construct, c) in stats.iter() {
        out.push_str(&format!(
            "  {construct:<36} {:>8} {:>8} {:>8} {:>8}\n",
            c.passed, c.refused, c.invalid, c.unsupported
        ));
    }
    let _ = std::io::stderr().write_all(out.as_bytes());
}

#[test]
fn guarantee_holds_on_sqlite() {
    guarantee_on(Backend::Sqlite);
}

#[test]
fn guarantee_holds_on_postgres() {
    guarantee_on(Backend::Postgres);
}

#[test]
fn guarantee_holds_on_postgres_through_rls_alone() {
    guarantee_with(Backend::Postgres, Keys::Int, true);
}

#[test]
fn guarantee_holds_on_mysql() {
    guarantee_on(Backend::MySql);
}

#[test]
fn guarantee_holds_on_sqlite_with_uuid_keys() {
    guarantee_with_keys(Backend::Sqlite, Keys::Uuid);
}

#[test]
fn guarantee_holds_on_postgres_with_uuid_keys() {
    guarantee_with_keys(Backend::Postgres, Keys::Uuid);
}

#[test]
fn guarantee_holds_on_mysql_with_uuid_keys() {
    guarantee_with_keys(Backend::MySql, Keys::Uuid);
}

#[test]
fn guarantee_holds_on_sqlite_with_text_keys() {
    guarantee_with_keys(Backend::Sqlite, Keys::Text);
}

#[test]
fn guarantee_holds_on_postgres_with_text_keys() {
    guarantee_with_keys(Backend::Postgres, Keys::Text);
}

#[test]
fn guarantee_holds_on_mysql_with_text_keys() {
    guarantee_with_keys(Backend::MySql, Keys::Text);
}
