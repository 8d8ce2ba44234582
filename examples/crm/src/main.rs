//! `cargo run -p crm`: the reference CRM on an embedded SQLite database with
//! demo data, or on PostgreSQL / MariaDB with `DATABASE_URL`.
//!
//! Environment: `DATABASE_URL` (default: a SQLite file `crm-demo.db` in the
//! working directory), `CRM_ADDR` (default `127.0.0.1:3000`),
//! `RUST_LOG` (default `info`).

use std::time::Duration;

use crm::{AppState, app, jobs, seed};
use sea_orm::Database;
use tenancy_core::Domain;
use tenancy_seaorm::config_store::{SeaOrmConfigStore, WatchOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://crm-demo.db?mode=rwc".into());
    let addr = std::env::var("CRM_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let db = Database::connect(&url).await?;
    let state = AppState::open(db.clone(), Domain::parse("admin.localhost")?).await?;
    if !seed::seed(&state, &[]).await? {
        tracing::info!("demo data already present");
    }
    tokio::spawn(jobs::schedule(state.clone(), Duration::from_secs(60)));
    // Configuration changes made by other instances arrive here
    // (LISTEN/NOTIFY on PostgreSQL, polling elsewhere).
    let (store, registry) = (SeaOrmConfigStore::new(db), state.config.clone());
    tokio::spawn(async move { store.watch(&registry, WatchOptions::default()).await });

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let port = listener.local_addr()?.port();
    println!("\nReference CRM on {url}\n");
    println!("  Golden Key Wholesale   http://goldenkey.localhost:{port}/");
    println!("  Stone Outbound Sales   http://stone.localhost:{port}/");
    println!("  Platform operators     http://admin.localhost:{port}/   (cross-company report)");
    println!("\nDemo logins (password: demo):");
    for login in seed::LOGINS {
        println!("  {:<24} {}", login.email, login.role);
    }
    println!();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
