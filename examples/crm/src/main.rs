//! `cargo run -p crm`: the reference CRM on an embedded SQLite database with
//! demo data, or on PostgreSQL / MariaDB with `DATABASE_URL`.
//!
//! Environment: `DATABASE_URL` (default: a SQLite file `crm-demo.db` in the
//! working directory), `CRM_ADDR` (default `127.0.0.1:3000`),
//! `RUST_LOG` (default `info`).

use std::sync::Arc;
use std::time::Duration;

use crm::{AppState, app, jobs, schema, seed};
use sea_orm::Database;
use tenancy_core::Domain;
use tenancy_core::config::InMemoryConfigStore;
use tenancy_core::directory::TenantDirectory;
use tenancy_seaorm::SeaOrmDirectory;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://crm-demo.db?mode=rwc".into());
    let addr = std::env::var("CRM_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let db = Database::connect(&url).await?;
    schema::migrate(&db).await?;

    let directory_store = SeaOrmDirectory::new(db.clone());
    let state = AppState {
        db: db.clone(),
        tables: schema::tables()?,
        directory: TenantDirectory::new(directory_store.clone()),
        directory_store,
        config: Arc::new(
            crm::config::builder()
                .load(InMemoryConfigStore::new())
                .await?,
        ),
        admin_domain: Domain::parse("admin.localhost")?,
    };
    if !seed::seed(&state, &[]).await? {
        tracing::info!("demo data already present");
        seed::seed_config(&state).await?;
    }
    tokio::spawn(jobs::schedule(state.clone(), Duration::from_secs(60)));

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
