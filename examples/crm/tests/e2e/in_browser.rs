//! The CRM in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), driven over WebDriver.
//!
//! A person signs in at each company's domain, sees that company's own
//! leads, dispositions, columns and colours, logs a call, and is refused a
//! disposition of the other company. Chromium resolves `*.localhost` to the
//! loopback address itself, so the two companies are two real hosts.
//!
//! It runs on every backend the run has, like the HTTP tests. Without
//! Chromium the test says SKIPPED; under `CI=true` it fails.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crm::{AppState, app, seed};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tenancy_core::Domain;
use tenancy_testkit::for_each_backend;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills chromedriver (and its browser) when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Serves the CRM on a free loopback port until the returned task is aborted.
async fn serve(db: DatabaseConnection) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let state = AppState::open(db, Domain::parse("admin.localhost").unwrap())
        .await
        .expect("state");
    seed::seed(&state, &[]).await.expect("seed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    (addr, server)
}

async fn browser(dir: &std::path::Path) -> (Driver, Client) {
    let port = free_port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}/profile", dir.display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for attempt in 0.. {
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps.clone());
        match builder.connect(&url).await {
            Ok(client) => return (driver, client),
            Err(e) if attempt < 50 => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a WebDriver session: {e}"),
        }
    }
    unreachable!()
}

async fn click(client: &Client, at: Locator<'_>) {
    client
        .find(at)
        .await
        .unwrap_or_else(|e| panic!("{at:?}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn options(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for option in client
        .find_all(Locator::Css("#disposition option"))
        .await
        .unwrap()
    {
        out.push(option.attr("value").await.unwrap().unwrap_or_default());
    }
    out
}

async fn sign_in(client: &Client, base: &str, email: &str) {
    client.goto(base).await.unwrap();
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("demo")
        .await
        .unwrap();
    click(client, Locator::Id("signin")).await;
    client
        .wait()
        .for_element(Locator::Id("leads"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_companies_look_and_behave_differently_in_a_browser() {
    if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but Chromium is missing: .ci/run installs chromium and chromium-driver"
            );
        }
        eprintln!(
            "SKIPPED: browser test (install Debian's chromium and chromium-driver; `bash .ci/run` does)"
        );
        return;
    }
    // On every backend the run has: SQLite always, PostgreSQL and MariaDB
    // when their URLs are set (always under `.ci/run`).
    for_each_backend(journey).await;
}

/// One person's visit to both companies, against a CRM on `db`.
async fn journey(db: DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let (addr, server) = serve(db).await;
    let (_driver, client) = browser(dir.path()).await;
    let gk = format!("http://goldenkey.localhost:{}/", addr.port());
    let st = format!("http://stone.localhost:{}/", addr.port());

    // Golden Key: its name, its leads with the account column, its dispositions.
    sign_in(&client, &gk, "ava@goldenkey.example").await;
    assert_eq!(text(&client, "#company").await, "Golden Key Wholesale");
    assert_eq!(text(&client, "#who").await, "Ava (agent)");
    let leads = text(&client, "#leads").await;
    assert!(
        leads.contains("Dana Porter") && leads.contains("Maple St Holdings"),
        "{leads}"
    );
    assert!(!leads.contains("Gus Ward"), "{leads}");
    let gk_options = options(&client).await;
    assert!(
        gk_options.contains(&"call_back_later".to_owned())
            && !gk_options.contains(&"voicemail".to_owned())
    );

    // Log a call with one of Golden Key's dispositions.
    click(
        &client,
        Locator::Css("#disposition option[value='call_back_later']"),
    )
    .await;
    click(&client, Locator::Id("save-call")).await;
    client
        .wait()
        .for_element(Locator::Id("leads"))
        .await
        .unwrap();
    assert!(
        client.find(Locator::Id("error")).await.is_err(),
        "no error after a valid call"
    );

    // Stone: another host, so another cookie jar; its own look and options.
    sign_in(&client, &st, "leo@stone.example").await;
    assert_eq!(text(&client, "#company").await, "Stone Outbound Sales");
    let leads = text(&client, "#leads").await;
    assert!(
        leads.contains("Gus Ward") && !leads.contains("Dana Porter"),
        "{leads}"
    );
    assert!(
        client.find(Locator::Css("th.account")).await.is_err(),
        "Stone hides accounts"
    );
    let st_options = options(&client).await;
    assert!(
        st_options.contains(&"voicemail".to_owned())
            && !st_options.contains(&"call_back_later".to_owned())
    );
    let header_style = client
        .find(Locator::Css("header"))
        .await
        .unwrap()
        .attr("style")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(header_style.contains("#1d4ed8"), "{header_style}");

    // A disposition of the other company, forced into the form, is refused
    // with the allowed list on the page.
    client
        .execute(
            "document.querySelector('#disposition').innerHTML = '<option value=\"call_back_later\">x</option>';",
            vec![],
        )
        .await
        .unwrap();
    click(&client, Locator::Id("save-call")).await;
    let error = client
        .wait()
        .for_element(Locator::Id("error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        error.contains("not one of this company's") && error.contains("voicemail"),
        "{error}"
    );

    client.close().await.unwrap();
    // Stop serving so the test database's pool can close.
    server.abort();
    let _ = server.await;
}
