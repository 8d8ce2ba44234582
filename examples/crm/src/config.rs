//! What differs between the companies: declared once here, valued per
//! company in the registry (seeded in `seed.rs`, editable by each company's
//! admins through `PUT /api/config/{key}`).

use tenancy_config::{Key, Secret};

/// The dispositions an agent may log a call with.
pub static DISPOSITIONS: Key<Vec<String>> = Key::new(
    "dialer.dispositions",
    "Call dispositions agents may choose from",
    || vec!["answered".into(), "no_answer".into(), "callback".into()],
)
.with_validator(|list| {
    if list.is_empty() {
        return Err("at least one disposition is needed".into());
    }
    match list.iter().find(|d| {
        d.is_empty() || d.len() > 40 || !d.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    }) {
        Some(bad) => Err(format!(
            "disposition {bad:?} must be 1-40 lowercase letters or underscores"
        )),
        None => Ok(()),
    }
});

/// The disposition that schedules a follow-up reminder.
pub static CALLBACK_DISPOSITION: Key<String> = Key::new(
    "dialer.callback_disposition",
    "Disposition that makes the follow-up job schedule a reminder",
    || "callback".into(),
);

/// Hours between a callback call and its reminder.
pub static CALLBACK_DELAY_HOURS: Key<u32> = Key::new(
    "dialer.callback_delay_hours",
    "Hours from a callback call to its reminder",
    || 24,
)
.with_validator(|h| {
    if *h == 0 || *h > 24 * 30 {
        Err("between 1 and 720 hours".into())
    } else {
        Ok(())
    }
});

/// Workflow: leads move through the pipeline one stage at a time.
pub static SEQUENTIAL_STAGES: Key<bool> = Key::new(
    "workflow.sequential_stages",
    "Leads must move through the pipeline one stage at a time",
    || false,
);

/// UI: the account column and account details.
pub static SHOW_ACCOUNTS: Key<bool> = Key::new(
    "ui.show_accounts",
    "Show the account (property owner) column on the leads page",
    || true,
);

/// UI: talk time on the report.
pub static SHOW_TALK_TIME: Key<bool> = Key::new(
    "ui.show_talk_time",
    "Show talk time on the report page",
    || true,
);

/// UI: the header colour.
pub static BRAND_COLOR: Key<String> = Key::new("ui.brand_color", "Header colour (CSS hex)", || {
    "#334155".into()
})
.with_validator(|c| {
    let hex = c.strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("a colour like #1d4ed8".into())
    }
});

/// The company's credential for the outside call-outcome sync service.
pub static SYNC_TOKEN: Key<Secret<String>> = Key::new(
    "integrations.sync_token",
    "API token for syncing call outcomes to the company's outside CRM",
    || Secret::new(String::new()),
);

/// Every key the CRM declares.
pub fn builder() -> tenancy_config::ConfigRegistryBuilder {
    tenancy_config::ConfigRegistry::builder()
        .key(&DISPOSITIONS)
        .key(&CALLBACK_DISPOSITION)
        .key(&CALLBACK_DELAY_HOURS)
        .key(&SEQUENTIAL_STAGES)
        .key(&SHOW_ACCOUNTS)
        .key(&SHOW_TALK_TIME)
        .key(&BRAND_COLOR)
        .key(&SYNC_TOKEN)
}
