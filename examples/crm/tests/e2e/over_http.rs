//! The reference CRM end to end over HTTP (`ServiceExt::oneshot` on the real
//! router), on every backend the run has: domains, sessions, roles, the
//! route matrix, per-company behaviour, the job, the platform view, and
//! concurrent load with no bleed.

use axum::Router;
use axum::body::Body;
use crm::seed::{GOLDEN_KEY, STONE};
use crm::{AppState, app, jobs, seed};
use http::{Request, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tenancy_core::Domain;
use tenancy_core::directory::TenantStatus;
use tenancy_testkit::{for_each_backend, rows};
use tower::ServiceExt;

const GK: &str = "goldenkey.localhost";
const ST: &str = "stone.localhost";
const ADMIN: &str = "admin.localhost";

async fn state(conn: DatabaseConnection) -> AppState {
    let state = AppState::open(conn, Domain::parse(ADMIN).unwrap())
        .await
        .unwrap();
    assert!(seed::seed(&state, &[]).await.unwrap());
    state
}

struct Res {
    status: StatusCode,
    cookie: Option<String>,
    body: String,
}

impl Res {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn call(
    app: &Router,
    method: &str,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> Res {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("crm_session={c}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix("crm_session=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        });
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    Res {
        status,
        cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn login(app: &Router, host: &str, email: &str) -> String {
    let res = call(
        app,
        "POST",
        host,
        "/api/login",
        None,
        Some(json!({"email": email, "password": "demo"})),
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{email} at {host}: {}",
        res.body
    );
    res.cookie.expect("a session cookie")
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn each_company_sees_only_its_own_data_on_its_own_domain() {
    for_each_backend(|conn| async move {
        let state = state(conn).await;
        let app = app(state.clone());
        let gk = login(&app, GK, "ava@goldenkey.example").await;
        let st = login(&app, ST, "leo@stone.example").await;
        let gk_leads = call(&app, "GET", GK, "/api/leads", Some(&gk), None)
            .await
            .json();
        let st_leads = call(&app, "GET", ST, "/api/leads", Some(&st), None)
            .await
            .json();
        assert_eq!(names(&gk_leads), ["Dana Porter", "Eli Brooks", "Fay Lin"]);
        assert_eq!(names(&st_leads), ["Gus Ward", "Hal Moss"]);
        // Both have a lead 1: the id alone tells nothing.
        assert_eq!(
            call(&app, "GET", GK, "/api/leads/1", Some(&gk), None)
                .await
                .json()["name"],
            "Dana Porter"
        );
        assert_eq!(
            call(&app, "GET", ST, "/api/leads/1", Some(&st), None)
                .await
                .json()["name"],
            "Gus Ward"
        );
        // A user of one company cannot sign in on the other's domain.
        let wrong = call(
            &app,
            "POST",
            ST,
            "/api/login",
            None,
            Some(json!({"email": "ava@goldenkey.example", "password": "demo"})),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        // Domains are data: a new one works once added to the directory.
        let extra = Domain::parse("stone-sales.localhost").unwrap();
        assert_eq!(
            call(&app, "GET", extra.as_str(), "/", None, None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        state
            .directory_store
            .add_domain(STONE, &extra)
            .await
            .unwrap();
        state.directory.invalidate_domain(&extra);
        let via_new = call(&app, "GET", extra.as_str(), "/api/leads", Some(&st), None)
            .await
            .json();
        assert_eq!(names(&via_new), ["Gus Ward", "Hal Moss"]);
    })
    .await;
}

#[tokio::test]
async fn a_session_belongs_to_its_company() {
    for_each_backend(|conn| async move {
        let app = app(state(conn).await);
        let gk = login(&app, GK, "ann@goldenkey.example").await;
        let away = call(&app, "GET", ST, "/api/leads", Some(&gk), None).await;
        assert_eq!(away.status, StatusCode::FORBIDDEN);
        assert!(
            away.body.contains("this session belongs to another site"),
            "{}",
            away.body
        );
        assert!(away.cookie.is_none(), "the other session is not touched");
        // Also on the HTML pages and on writes.
        assert_eq!(
            call(&app, "GET", ST, "/leads", Some(&gk), None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let write = call(
            &app,
            "POST",
            ST,
            "/api/leads",
            Some(&gk),
            Some(json!({"name": "x", "phone": "1"})),
        )
        .await;
        assert_eq!(write.status, StatusCode::FORBIDDEN);
        // The session still works at home, and nothing was written at Stone.
        assert_eq!(
            call(&app, "GET", GK, "/api/me", Some(&gk), None)
                .await
                .status,
            StatusCode::OK
        );
        let st = login(&app, ST, "sam@stone.example").await;
        assert_eq!(
            call(&app, "GET", ST, "/api/leads", Some(&st), None)
                .await
                .json()
                .as_array()
                .unwrap()
                .len(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn route_matrix_the_other_companys_ids_are_404() {
    for_each_backend(|conn| async move {
        let app = app(state(conn).await);
        let gk = login(&app, GK, "ann@goldenkey.example").await;
        let st = login(&app, ST, "sam@stone.example").await;
        // Stone records whose ids Golden Key does not have.
        let lead = call(&app, "POST", ST, "/api/leads", Some(&st), Some(json!({"name": "Stone secret", "phone": "9"}))).await.json();
        let lead_id = lead["id"].as_i64().unwrap();
        let c = call(&app, "POST", ST, "/api/calls", Some(&st), Some(json!({"lead_id": lead_id, "disposition": "sale", "duration_s": 30, "outcome": "stone only"}))).await;
        assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
        let call_id = c.json()["id"].as_i64().unwrap();
        // Golden Key's admin asks for them on every route that takes an id.
        let probes: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/api/leads/{lead_id}"), None),
            ("GET", format!("/api/calls/{call_id}"), None),
            ("GET", "/api/accounts/999999".to_owned(), None),
            ("POST", format!("/api/leads/{lead_id}/stage"), Some(json!({"stage_id": 11}))),
            ("POST", "/api/calls".to_owned(), Some(json!({"lead_id": lead_id, "disposition": "no_answer", "duration_s": 1}))),
        ];
        for (method, path, body) in probes {
            let res = call(&app, method, GK, &path, Some(&gk), body).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{method} {path}: {}", res.body);
            assert!(!res.body.contains("Stone secret") && !res.body.contains("stone only"));
        }
        // Overlapping ids give Golden Key's own rows, never Stone's.
        let own_call = call(&app, "GET", GK, "/api/calls/1", Some(&gk), None).await.json();
        assert_eq!(own_call["disposition"], "appointment_set");
        // Stone's rows are unchanged by all that.
        let still = call(&app, "GET", ST, &format!("/api/leads/{lead_id}"), Some(&st), None).await.json();
        assert_eq!(still["stage_id"], 10);
        assert_eq!(call(&app, "GET", ST, "/api/report", Some(&st), None).await.json()["calls"], 2);
    })
    .await;
}

#[tokio::test]
async fn roles_are_enforced_on_every_route() {
    for_each_backend(|conn| async move {
        let app = app(state(conn).await);
        let agent = login(&app, GK, "ava@goldenkey.example").await;
        let manager = login(&app, GK, "max@goldenkey.example").await;
        let admin = login(&app, GK, "ann@goldenkey.example").await;
        let new_lead = || Some(json!({"name": "Role test", "phone": "1"}));
        let routes: Vec<(&str, &str, Option<Value>, [StatusCode; 4])> = {
            use StatusCode as S;
            // anonymous, agent, manager, admin
            vec![
                (
                    "GET",
                    "/api/me",
                    None,
                    [S::UNAUTHORIZED, S::OK, S::OK, S::OK],
                ),
                (
                    "GET",
                    "/api/leads",
                    None,
                    [S::UNAUTHORIZED, S::OK, S::OK, S::OK],
                ),
                (
                    "GET",
                    "/api/leads/1",
                    None,
                    [S::UNAUTHORIZED, S::OK, S::OK, S::OK],
                ),
                (
                    "GET",
                    "/api/calls/1",
                    None,
                    [S::UNAUTHORIZED, S::OK, S::OK, S::OK],
                ),
                (
                    "GET",
                    "/api/stages",
                    None,
                    [S::UNAUTHORIZED, S::OK, S::OK, S::OK],
                ),
                (
                    "POST",
                    "/api/leads",
                    new_lead(),
                    [S::UNAUTHORIZED, S::FORBIDDEN, S::CREATED, S::CREATED],
                ),
                (
                    "GET",
                    "/api/report",
                    None,
                    [S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK],
                ),
                (
                    "GET",
                    "/report",
                    None,
                    [S::UNAUTHORIZED, S::FORBIDDEN, S::OK, S::OK],
                ),
                (
                    "GET",
                    "/api/config",
                    None,
                    [S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::OK],
                ),
                (
                    "PUT",
                    "/api/config/ui.show_talk_time",
                    Some(json!(true)),
                    [S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::OK],
                ),
            ]
        };
        for (method, path, body, want) in routes {
            for (who, cookie) in [
                (0, None),
                (1, Some(&agent)),
                (2, Some(&manager)),
                (3, Some(&admin)),
            ] {
                let res = call(
                    &app,
                    method,
                    GK,
                    path,
                    cookie.map(String::as_str),
                    body.clone(),
                )
                .await;
                assert_eq!(
                    res.status, want[who],
                    "{method} {path} as {who}: {}",
                    res.body
                );
            }
        }
        let refused = call(&app, "POST", GK, "/api/leads", Some(&agent), new_lead()).await;
        assert!(
            refused.body.contains("agent") && refused.body.contains("create leads"),
            "{}",
            refused.body
        );
    })
    .await;
}

#[tokio::test]
async fn dispositions_workflow_and_ui_differ_by_company() {
    for_each_backend(|conn| async move {
        let app = app(state(conn).await);
        let gk = login(&app, GK, "max@goldenkey.example").await;
        let st = login(&app, ST, "mia@stone.example").await;
        // Dispositions: each company's own set; 422 names the allowed ones.
        let sale = json!({"lead_id": 1, "disposition": "sale", "duration_s": 60});
        let refused = call(
            &app,
            "POST",
            GK,
            "/api/calls",
            Some(&gk),
            Some(sale.clone()),
        )
        .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.body.contains("appointment_set, call_back_later"),
            "{}",
            refused.body
        );
        assert_eq!(
            call(&app, "POST", ST, "/api/calls", Some(&st), Some(sale))
                .await
                .status,
            StatusCode::CREATED
        );
        // Workflow: Golden Key moves one stage at a time, Stone may skip.
        let skip = Some(json!({"stage_id": 12}));
        let gk_skip = call(
            &app,
            "POST",
            GK,
            "/api/leads/1/stage",
            Some(&gk),
            skip.clone(),
        )
        .await;
        assert_eq!(
            gk_skip.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            gk_skip.body
        );
        assert!(gk_skip.body.contains("one stage at a time"));
        assert_eq!(
            call(
                &app,
                "POST",
                GK,
                "/api/leads/1/stage",
                Some(&gk),
                Some(json!({"stage_id": 11}))
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "POST", ST, "/api/leads/1/stage", Some(&st), skip)
                .await
                .json()["stage_id"],
            12
        );
        // UI: the account column and talk time show for Golden Key only, and
        // each call form offers only the company's dispositions.
        let gk_page = call(&app, "GET", GK, "/leads", Some(&gk), None).await.body;
        let st_page = call(&app, "GET", ST, "/leads", Some(&st), None).await.body;
        assert!(
            gk_page.contains("<th class=\"account\">Account</th>")
                && gk_page.contains("Maple St Holdings")
        );
        assert!(!st_page.contains("class=\"account\""));
        assert!(
            gk_page.contains("value=\"call_back_later\"")
                && !gk_page.contains("value=\"voicemail\"")
        );
        assert!(
            st_page.contains("value=\"voicemail\"")
                && !st_page.contains("value=\"call_back_later\"")
        );
        assert!(gk_page.contains("#a16207") && st_page.contains("#1d4ed8"));
        let gk_report = call(&app, "GET", GK, "/report", Some(&gk), None).await.body;
        let st_report = call(&app, "GET", ST, "/report", Some(&st), None).await.body;
        assert!(gk_report.contains("Talk time") && !st_report.contains("Talk time"));
        // The HTML call form refuses the same way, with the page and message.
        let form = Request::builder()
            .method("POST")
            .uri("/calls")
            .header("host", GK)
            .header("cookie", format!("crm_session={gk}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(
                "lead_id=1&disposition=voicemail&duration_s=5&outcome=",
            ))
            .unwrap();
        let res = app.clone().oneshot(form).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn config_writes_are_validated_per_company() {
    for_each_backend(|conn| async move {
        let app = app(state(conn).await);
        let admin = login(&app, ST, "sam@stone.example").await;
        let agent = login(&app, ST, "leo@stone.example").await;
        for bad in [
            json!([]),
            json!(["Bad Value"]),
            json!("not a list"),
            json!(7),
        ] {
            let res = call(
                &app,
                "PUT",
                ST,
                "/api/config/dialer.dispositions",
                Some(&admin),
                Some(bad.clone()),
            )
            .await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}: {}",
                res.body
            );
        }
        assert_eq!(
            call(
                &app,
                "PUT",
                ST,
                "/api/config/no.such.key",
                Some(&admin),
                Some(json!(1))
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        // Nothing was stored by the refused writes.
        let me = call(&app, "GET", ST, "/api/me", Some(&agent), None)
            .await
            .json();
        assert_eq!(me["dispositions"][0], "sale");
        // A valid write changes Stone's behaviour, and only Stone's.
        let ok = call(
            &app,
            "PUT",
            ST,
            "/api/config/dialer.dispositions",
            Some(&admin),
            Some(json!(["sale", "hung_up"])),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let hung = json!({"lead_id": 1, "disposition": "hung_up", "duration_s": 3});
        assert_eq!(
            call(
                &app,
                "POST",
                ST,
                "/api/calls",
                Some(&agent),
                Some(hung.clone())
            )
            .await
            .status,
            StatusCode::CREATED
        );
        let gk = login(&app, GK, "ava@goldenkey.example").await;
        assert_eq!(
            call(&app, "POST", GK, "/api/calls", Some(&gk), Some(hung))
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // The listing shows sources and never the secret.
        let gk_admin = login(&app, GK, "ann@goldenkey.example").await;
        let listing = call(&app, "GET", GK, "/api/config", Some(&gk_admin), None)
            .await
            .body;
        assert!(!listing.contains("gk-demo-token"), "{listing}");
    })
    .await;
}

#[tokio::test]
async fn the_follow_up_job_runs_per_company_with_its_own_credentials() {
    for_each_backend(|conn| async move {
        let state = state(conn.clone()).await;
        let app = app(state.clone());
        let gk = login(&app, GK, "ava@goldenkey.example").await;
        let st = login(&app, ST, "leo@stone.example").await;
        for (host, cookie, disposition) in [
            (GK, &gk, "call_back_later"),
            (GK, &gk, "no_answer"),
            (ST, &st, "callback"),
        ] {
            let body = json!({"lead_id": 2, "disposition": disposition, "duration_s": 20});
            assert_eq!(
                call(&app, "POST", host, "/api/calls", Some(cookie), Some(body))
                    .await
                    .status,
                StatusCode::CREATED
            );
        }
        let report = jobs::follow_ups(&state, GOLDEN_KEY).await.unwrap();
        assert_eq!(
            (report.reminders, report.synced, report.sync_skipped),
            (1, 3, false)
        );
        // Only Golden Key's rows were written, with Golden Key's credential.
        assert_eq!(
            rows(
                &conn,
                "SELECT entity_id, COUNT(*) FROM reminders GROUP BY entity_id"
            )
            .await,
            [["1", "1"]]
        );
        let fp = jobs::credential_fingerprint("gk-demo-token");
        assert_eq!(
            rows(
                &conn,
                "SELECT DISTINCT entity_id, credential_fingerprint FROM sync_log"
            )
            .await,
            [["1".to_owned(), fp]]
        );
        // Stone has no credential: reminders yes, sync skipped.
        let report = jobs::follow_ups(&state, STONE).await.unwrap();
        assert_eq!(
            (report.reminders, report.synced, report.sync_skipped),
            (1, 0, true)
        );
        // Running again does nothing new.
        assert_eq!(
            jobs::follow_ups(&state, GOLDEN_KEY)
                .await
                .unwrap()
                .reminders,
            0
        );
        // Suspended and unknown companies: refused, nothing written.
        state
            .directory_store
            .set_status(STONE, TenantStatus::Suspended)
            .await
            .unwrap();
        state.directory.invalidate_tenant(STONE);
        assert!(matches!(
            jobs::follow_ups(&state, STONE).await,
            Err(jobs::JobError::Suspended(_))
        ));
        assert!(matches!(
            jobs::follow_ups(&state, tenancy_core::TenantId::new(77)).await,
            Err(jobs::JobError::UnknownTenant(_))
        ));
        assert_eq!(rows(&conn, "SELECT COUNT(*) FROM reminders").await, [["2"]]);
        // And a suspended company's domain is refused.
        assert_eq!(
            call(&app, "GET", ST, "/api/leads", Some(&st), None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    })
    .await;
}

#[tokio::test]
async fn the_platform_report_needs_an_operator_and_is_audited() {
    for_each_backend(|conn| async move {
        let app = app(state(conn.clone()).await);
        let gk = login(&app, GK, "ann@goldenkey.example").await;
        // A company session is no operator session, even an admin's.
        assert_eq!(
            call(&app, "GET", ADMIN, "/api/report", Some(&gk), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let req = Request::builder()
            .method("POST")
            .uri("/login")
            .header("host", ADMIN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("email=ops%40platform.example&password=demo"))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("crm_session=")
            .to_owned();
        // The operator session does nothing on a company domain.
        assert_eq!(
            call(&app, "GET", GK, "/api/leads", Some(&cookie), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let report = call(&app, "GET", ADMIN, "/api/report", Some(&cookie), None)
            .await
            .json();
        let companies: Vec<(&str, u64)> = report
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["company"].as_str().unwrap(),
                    l["report"]["calls"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            companies,
            [("Golden Key Wholesale", 1), ("Stone Outbound Sales", 1)]
        );
        // Every statement of the report was audited before it ran.
        let audit = rows(&conn, "SELECT action, detail FROM operator_audit").await;
        assert_eq!(audit.len(), 3, "{audit:?}");
        assert!(
            audit.iter().all(|r| r[0] == "cross_company_read"
                && r[1].starts_with("cross-company report: SELECT"))
        );
    })
    .await;
}

#[tokio::test]
async fn both_companies_under_concurrent_load_see_no_bleed() {
    for_each_backend(|conn| async move {
        let app = app(state(conn).await);
        let gk = login(&app, GK, "max@goldenkey.example").await;
        let st = login(&app, ST, "mia@stone.example").await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (app, host, cookie, tag) = if i % 2 == 0 {
                (app.clone(), GK, gk.clone(), "GK")
            } else {
                (app.clone(), ST, st.clone(), "ST")
            };
            tasks.push(tokio::spawn(async move {
                let created = call(
                    &app,
                    "POST",
                    host,
                    "/api/leads",
                    Some(&cookie),
                    Some(json!({"name": format!("{tag} load {i}"), "phone": "0"})),
                )
                .await;
                assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
                let leads = call(&app, "GET", host, "/api/leads", Some(&cookie), None)
                    .await
                    .json();
                for name in names(&leads) {
                    assert!(
                        !name.contains(" load ") || name.starts_with(tag),
                        "{tag} saw {name}"
                    );
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let gk_leads = names(
            &call(&app, "GET", GK, "/api/leads", Some(&gk), None)
                .await
                .json(),
        );
        assert_eq!(
            gk_leads.iter().filter(|n| n.starts_with("GK load")).count(),
            20
        );
        assert!(gk_leads.iter().all(|n| !n.starts_with("ST")));
    })
    .await;
}
