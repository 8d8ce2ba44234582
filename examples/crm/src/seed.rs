//! Demo data: two companies that visibly differ, and one platform operator.
//! Every demo login's password is `demo`.

use sea_orm::sea_query::Query;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use tenancy_core::config::{ConfigError, Scope, Secret};
use tenancy_core::directory::{DirectoryStore, Tenant};
use tenancy_core::{Domain, TenantId};

use crate::auth::hash_password;
use crate::config::{
    BRAND_COLOR, CALLBACK_DISPOSITION, DISPOSITIONS, SEQUENTIAL_STAGES, SHOW_ACCOUNTS,
    SHOW_TALK_TIME, SYNC_TOKEN,
};
use crate::entities::{account, call, lead, pipeline, stage, user};
use crate::{AppState, now};

/// Golden Key, the wholesale real-estate company.
pub const GOLDEN_KEY: TenantId = TenantId::new(1);
/// Stone, the outbound sales company.
pub const STONE: TenantId = TenantId::new(2);

/// A demo login.
#[derive(Debug, Clone, Copy)]
pub struct Login {
    /// Which company (none: a platform operator).
    pub company: Option<TenantId>,
    /// Email.
    pub email: &'static str,
    /// Role.
    pub role: &'static str,
}

/// The demo logins (password `demo`).
pub const LOGINS: &[Login] = &[
    Login {
        company: Some(GOLDEN_KEY),
        email: "ann@goldenkey.example",
        role: "admin",
    },
    Login {
        company: Some(GOLDEN_KEY),
        email: "max@goldenkey.example",
        role: "manager",
    },
    Login {
        company: Some(GOLDEN_KEY),
        email: "ava@goldenkey.example",
        role: "agent",
    },
    Login {
        company: Some(STONE),
        email: "sam@stone.example",
        role: "admin",
    },
    Login {
        company: Some(STONE),
        email: "mia@stone.example",
        role: "manager",
    },
    Login {
        company: Some(STONE),
        email: "leo@stone.example",
        role: "agent",
    },
    Login {
        company: None,
        email: "ops@platform.example",
        role: "operator",
    },
];

/// One demo company's data.
struct DemoCompany {
    id: TenantId,
    pipeline: &'static str,
    stages: &'static [&'static str],
    accounts: &'static [&'static str],
    leads: &'static [(&'static str, &'static str)],
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The directory refused a write.
    #[error(transparent)]
    Directory(#[from] tenancy_seaorm::DirectoryWriteError),
    /// The registry refused a value.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Seeds the demo data unless the companies already exist. Returns whether
/// it seeded.
///
/// # Errors
///
/// [`SeedError`].
pub async fn seed(app: &AppState, domains: &[(&str, &str)]) -> Result<bool, SeedError> {
    if app
        .directory_store
        .tenant_by_id(GOLDEN_KEY)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .is_some()
    {
        return Ok(false);
    }
    let gk_domain = domains
        .iter()
        .find(|d| d.0 == "goldenkey")
        .map_or("goldenkey.localhost", |d| d.1);
    let stone_domain = domains
        .iter()
        .find(|d| d.0 == "stone")
        .map_or("stone.localhost", |d| d.1);
    let domain = |d: &str| Domain::parse(d).map_err(|e| DbErr::Custom(e.to_string()));
    app.directory_store
        .create_tenant(
            &Tenant::new(GOLDEN_KEY, "goldenkey", "Golden Key Wholesale"),
            &[domain(gk_domain)?],
        )
        .await?;
    app.directory_store
        .create_tenant(
            &Tenant::new(STONE, "stone", "Stone Outbound Sales"),
            &[domain(stone_domain)?],
        )
        .await?;

    // Users.
    let mut ids = std::collections::HashMap::new();
    for (n, login) in LOGINS.iter().enumerate() {
        let id = 100 + n as i64;
        ids.insert(login.email, id);
        let hash = hash_password("demo");
        let name = login.email.split('@').next().unwrap_or_default();
        let name = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
        match login.company {
            Some(company) => {
                user::Entity::insert(user::ActiveModel {
                    entity_id: Set(company.get()),
                    id: Set(id),
                    email: Set(login.email.into()),
                    name: Set(name),
                    role: Set(login.role.into()),
                    password_hash: Set(hash),
                })
                .exec_without_returning(&app.scoped(company))
                .await?;
            }
            None => {
                let stmt = Query::insert()
                    .into_table("operators")
                    .columns(["id", "email", "name", "password_hash"])
                    .values_panic([id.into(), login.email.into(), name.into(), hash.into()])
                    .to_owned();
                app.db.execute(&stmt).await?;
            }
        }
    }

    // Golden Key: acquisitions pipeline, property-owner accounts, a strict
    // one-stage-at-a-time workflow, its own dispositions.
    // Stone: a short outbound pipeline, no accounts, stages may be skipped.
    // Ids deliberately overlap between the companies (both have lead 1):
    // only the tenant column tells them apart.
    let companies = [
        DemoCompany {
            id: GOLDEN_KEY,
            pipeline: "Acquisitions",
            stages: &[
                "New lead",
                "Contacted",
                "Offer made",
                "Under contract",
                "Closed",
            ],
            accounts: &["Maple St Holdings", "Riverside Estates"],
            leads: &[
                ("Dana Porter", "+1 555 0101"),
                ("Eli Brooks", "+1 555 0102"),
                ("Fay Lin", "+1 555 0103"),
            ],
        },
        DemoCompany {
            id: STONE,
            pipeline: "Outbound",
            stages: &["Prospect", "Pitched", "Sold"],
            accounts: &[],
            leads: &[("Gus Ward", "+1 555 0201"), ("Hal Moss", "+1 555 0202")],
        },
    ];
    for DemoCompany {
        id: company,
        pipeline: pipeline_name,
        stages,
        accounts,
        leads,
    } in companies
    {
        let scoped = app.scoped(company);
        pipeline::Entity::insert(pipeline::ActiveModel {
            entity_id: Set(company.get()),
            id: Set(1),
            name: Set(pipeline_name.into()),
        })
        .exec_without_returning(&scoped)
        .await?;
        for (i, name) in stages.iter().enumerate() {
            stage::Entity::insert(stage::ActiveModel {
                entity_id: Set(company.get()),
                id: Set(10 + i as i64),
                pipeline_id: Set(1),
                ord: Set(i as i32),
                name: Set((*name).into()),
            })
            .exec_without_returning(&scoped)
            .await?;
        }
        for (i, name) in accounts.iter().enumerate() {
            account::Entity::insert(account::ActiveModel {
                entity_id: Set(company.get()),
                id: Set(1 + i as i64),
                name: Set((*name).into()),
            })
            .exec_without_returning(&scoped)
            .await?;
        }
        let owner = if company == GOLDEN_KEY {
            ids["ava@goldenkey.example"]
        } else {
            ids["leo@stone.example"]
        };
        for (i, (name, phone)) in leads.iter().enumerate() {
            lead::Entity::insert(lead::ActiveModel {
                entity_id: Set(company.get()),
                id: Set(1 + i as i64),
                account_id: Set(
                    (!accounts.is_empty()).then_some(1 + (i % accounts.len().max(1)) as i64)
                ),
                stage_id: Set(10),
                owner_id: Set(owner),
                name: Set((*name).into()),
                phone: Set((*phone).into()),
                created_at: Set(now() - 3600 * (10 - i as i64)),
            })
            .exec_without_returning(&scoped)
            .await?;
        }
        let (disposition, seconds) = if company == GOLDEN_KEY {
            ("appointment_set", 240)
        } else {
            ("sale", 95)
        };
        call::Entity::insert(call::ActiveModel {
            entity_id: Set(company.get()),
            id: Set(1),
            lead_id: Set(1),
            agent_id: Set(owner),
            disposition: Set(disposition.into()),
            duration_s: Set(seconds),
            outcome: Set("first contact".into()),
            created_at: Set(now() - 1800),
        })
        .exec_without_returning(&scoped)
        .await?;
    }

    seed_config(app).await?;
    Ok(true)
}

/// Sets the demo companies' configuration where a company has no value of
/// its own yet (so it is idempotent, and a store that forgets, such as the
/// in-memory one, gets it back at start-up).
///
/// # Errors
///
/// [`SeedError::Config`].
pub async fn seed_config(app: &AppState) -> Result<(), SeedError> {
    async fn set_default<T: tenancy_core::config::ConfigValue + Clone>(
        app: &AppState,
        tenant: TenantId,
        key: &'static tenancy_core::config::Key<T>,
        value: T,
    ) -> Result<(), ConfigError> {
        let (_, source) = app.config.get_with_source(tenant, key)?;
        if source != tenancy_core::config::Source::Tenant {
            app.config
                .set("seed", Scope::Tenant(tenant), key, value)
                .await?;
        }
        Ok(())
    }
    let strings = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    set_default(
        app,
        GOLDEN_KEY,
        &DISPOSITIONS,
        strings(&[
            "appointment_set",
            "call_back_later",
            "not_interested",
            "wrong_number",
            "no_answer",
        ]),
    )
    .await?;
    set_default(
        app,
        GOLDEN_KEY,
        &CALLBACK_DISPOSITION,
        "call_back_later".into(),
    )
    .await?;
    set_default(app, GOLDEN_KEY, &SEQUENTIAL_STAGES, true).await?;
    set_default(app, GOLDEN_KEY, &BRAND_COLOR, "#a16207".into()).await?;
    set_default(
        app,
        GOLDEN_KEY,
        &SYNC_TOKEN,
        Secret::new("gk-demo-token".into()),
    )
    .await?;
    set_default(
        app,
        STONE,
        &DISPOSITIONS,
        strings(&["sale", "callback", "voicemail", "do_not_call", "no_answer"]),
    )
    .await?;
    set_default(app, STONE, &SHOW_ACCOUNTS, false).await?;
    set_default(app, STONE, &SHOW_TALK_TIME, false).await?;
    set_default(app, STONE, &BRAND_COLOR, "#1d4ed8".into()).await?;
    Ok(())
}
