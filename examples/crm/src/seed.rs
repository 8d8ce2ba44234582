//! Demo data: two companies that visibly differ, and one platform operator.
//! Every demo login's password is `demo`.

use sea_orm::sea_query::Query;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use tenancy_config::{Change, ConfigError, Scope, Secret};
use tenancy_core::directory::{DirectoryStore, Tenant};
use tenancy_core::{Domain, TenantId};
use tenancy_seaorm::TenantTransaction;
use tenancy_seaorm::lifecycle::{InitialConfig, LifecycleError, onboard_with_config};

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

/// One demo company: its directory entry, configuration and first data.
struct DemoCompany {
    id: TenantId,
    slug: &'static str,
    name: &'static str,
    domain: &'static str,
    pipeline: &'static str,
    stages: &'static [&'static str],
    accounts: &'static [&'static str],
    leads: &'static [(&'static str, &'static str)],
    first_call: (&'static str, i32),
}

const COMPANIES: [DemoCompany; 2] = [
    // Golden Key: acquisitions pipeline, property-owner accounts, a strict
    // one-stage-at-a-time workflow, its own dispositions.
    DemoCompany {
        id: GOLDEN_KEY,
        slug: "goldenkey",
        name: "Golden Key Wholesale",
        domain: "goldenkey.localhost",
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
        first_call: ("appointment_set", 240),
    },
    // Stone: a short outbound pipeline, no accounts, stages may be skipped.
    DemoCompany {
        id: STONE,
        slug: "stone",
        name: "Stone Outbound Sales",
        domain: "stone.localhost",
        pipeline: "Outbound",
        stages: &["Prospect", "Pitched", "Sold"],
        accounts: &[],
        leads: &[("Gus Ward", "+1 555 0201"), ("Hal Moss", "+1 555 0202")],
        first_call: ("sale", 95),
    },
];

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
    /// Onboarding a company failed (nothing of it was written).
    #[error(transparent)]
    Onboarding(#[from] LifecycleError),
    /// The registry refused a value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The directory could not be read.
    #[error(transparent)]
    Directory(#[from] tenancy_core::directory::StoreError),
    /// A password hash could not be made.
    #[error(transparent)]
    Crypto(#[from] crate::CryptoError),
}

/// Seeds the demo data unless the companies already exist. Returns whether
/// it seeded.
///
/// Each company is onboarded the way a new operating company would be:
/// `tenancy_seaorm::lifecycle::onboard_with_config` writes its directory
/// entry and domain, its configuration overrides and its first users,
/// pipeline, accounts, leads and call in one transaction, the data through a
/// transaction scoped to the new company (so none of it names `entity_id`).
/// Ids deliberately overlap between the companies (both have lead 1): only
/// the tenant column tells them apart.
///
/// # Errors
///
/// [`SeedError`].
pub async fn seed(app: &AppState, domains: &[(&str, &str)]) -> Result<bool, SeedError> {
    if app
        .directory_store
        .tenant_by_id(GOLDEN_KEY)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    for (n, login) in LOGINS.iter().enumerate() {
        if login.company.is_none() {
            let stmt = Query::insert()
                .into_table("operators")
                .columns(["id", "email", "name", "password_hash"])
                .values_panic([
                    (100 + n as i64).into(),
                    login.email.into(),
                    display_name(login.email).into(),
                    hash_password("demo")?.into(),
                ])
                .to_owned();
            app.db.execute(&stmt).await?;
        }
    }
    for company in &COMPANIES {
        let domain = domains
            .iter()
            .find(|d| d.0 == company.slug)
            .map_or(company.domain, |d| d.1);
        let domain = Domain::parse(domain).map_err(|e| DbErr::Custom(e.to_string()))?;
        // Hash outside the transaction: it is slow on purpose.
        let users: Vec<(i64, &'static str, String, &'static str, String)> = LOGINS
            .iter()
            .enumerate()
            .filter(|(_, l)| l.company == Some(company.id))
            .map(|(n, l)| {
                Ok((
                    100 + n as i64,
                    l.email,
                    display_name(l.email),
                    l.role,
                    hash_password("demo")?,
                ))
            })
            .collect::<Result<_, crate::CryptoError>>()?;
        let changes = demo_config(app, company.id)?;
        onboard_with_config(
            &app.db,
            &app.tables,
            &Tenant::new(company.id, company.slug, company.name),
            &[domain],
            InitialConfig {
                registry: &app.config,
                store: &app.config_store,
                changes,
            },
            move |txn| Box::pin(first_data(txn, company, users)),
        )
        .await?;
    }
    Ok(true)
}

fn display_name(email: &str) -> String {
    let name = email.split('@').next().unwrap_or_default();
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A company's first rows, through its onboarding transaction.
async fn first_data(
    txn: &TenantTransaction,
    company: &DemoCompany,
    users: Vec<(i64, &'static str, String, &'static str, String)>,
) -> Result<(), DbErr> {
    let tenant = i64::try_from(company.id).map_err(|e| DbErr::Custom(e.to_string()))?;
    for (id, email, name, role, hash) in users {
        user::Entity::insert(user::ActiveModel {
            entity_id: Set(tenant),
            id: Set(id),
            email: Set(email.into()),
            name: Set(name),
            role: Set(role.into()),
            password_hash: Set(hash),
        })
        .exec_without_returning(txn)
        .await?;
    }
    let owner = LOGINS
        .iter()
        .position(|l| l.company == Some(company.id) && l.role == "agent")
        .map_or(0, |n| 100 + n as i64);
    pipeline::Entity::insert(pipeline::ActiveModel {
        entity_id: Set(tenant),
        id: Set(1),
        name: Set(company.pipeline.into()),
    })
    .exec_without_returning(txn)
    .await?;
    for (i, name) in company.stages.iter().enumerate() {
        stage::Entity::insert(stage::ActiveModel {
            entity_id: Set(tenant),
            id: Set(10 + i as i64),
            pipeline_id: Set(1),
            ord: Set(i as i32),
            name: Set((*name).into()),
        })
        .exec_without_returning(txn)
        .await?;
    }
    for (i, name) in company.accounts.iter().enumerate() {
        account::Entity::insert(account::ActiveModel {
            entity_id: Set(tenant),
            id: Set(1 + i as i64),
            name: Set((*name).into()),
        })
        .exec_without_returning(txn)
        .await?;
    }
    let accounts = company.accounts.len() as i64;
    for (i, (name, phone)) in company.leads.iter().enumerate() {
        lead::Entity::insert(lead::ActiveModel {
            entity_id: Set(tenant),
            id: Set(1 + i as i64),
            account_id: Set((accounts > 0).then(|| 1 + i as i64 % accounts)),
            stage_id: Set(10),
            owner_id: Set(owner),
            name: Set((*name).into()),
            phone: Set((*phone).into()),
            created_at: Set(now() - 3600 * (10 - i as i64)),
        })
        .exec_without_returning(txn)
        .await?;
    }
    let (disposition, seconds) = company.first_call;
    call::Entity::insert(call::ActiveModel {
        entity_id: Set(tenant),
        id: Set(1),
        lead_id: Set(1),
        agent_id: Set(owner),
        disposition: Set(disposition.into()),
        duration_s: Set(seconds),
        outcome: Set("first contact".into()),
        created_at: Set(now() - 1800),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// The demo company's configuration overrides, checked by the registry.
fn demo_config(app: &AppState, tenant: TenantId) -> Result<Vec<Change>, ConfigError> {
    let cfg = &app.config;
    let scope = Scope::Tenant(tenant);
    let who = "onboarding";
    let strings = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Ok(if tenant == GOLDEN_KEY {
        vec![
            cfg.prepare(
                who,
                scope,
                &DISPOSITIONS,
                strings(&[
                    "appointment_set",
                    "call_back_later",
                    "not_interested",
                    "wrong_number",
                    "no_answer",
                ]),
            )?,
            cfg.prepare(who, scope, &CALLBACK_DISPOSITION, "call_back_later".into())?,
            cfg.prepare(who, scope, &SEQUENTIAL_STAGES, true)?,
            cfg.prepare(who, scope, &BRAND_COLOR, "#a16207".into())?,
            cfg.prepare(who, scope, &SYNC_TOKEN, Secret::new("gk-demo-token".into()))?,
        ]
    } else {
        vec![
            cfg.prepare(
                who,
                scope,
                &DISPOSITIONS,
                strings(&["sale", "callback", "voicemail", "do_not_call", "no_answer"]),
            )?,
            cfg.prepare(who, scope, &SHOW_ACCOUNTS, false)?,
            cfg.prepare(who, scope, &SHOW_TALK_TIME, false)?,
            cfg.prepare(who, scope, &BRAND_COLOR, "#1d4ed8".into())?,
        ]
    })
}
