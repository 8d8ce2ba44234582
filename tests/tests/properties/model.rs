//! The schema the properties run on (the testkit's
//! [`tenancy_testkit::fixtures`]), as the raw-SQL grammar sees it, and
//! random datasets for it.
//!
//! Three scoped tables linked by foreign keys (which may point into another
//! tenant's rows), one global table, three tenants, NULLs and repeated
//! values. Ids are unique across tenants, as with a plain autoincrement key.

use proptest::prelude::*;
use tenancy_core::uuid::Uuid;
use tenancy_core::{TenantId, TenantKeyKind};
use tenancy_seaorm::TenantKeyType;

/// The tenants that own rows, as the generators number them; [`Keys`] says
/// which key each number stands for.
pub const TENANTS: [i64; 3] = [1, 2, 3];

/// The kind of tenant key a run uses: tenant number n of [`TENANTS`] is
/// the key [`Keys::id`]`(n)`, written in SQL as [`Keys::literal`]`(n)`.
///
/// Integer keys are the numbers themselves, so the integer run renders the
/// same SQL it always has. The UUIDs and text keys are fixed and distinct;
/// one text key is a prefix of another, and one equals an account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    Int,
    /// PostgreSQL `uuid`, MySQL `CHAR(36)`, SQLite `TEXT`.
    Uuid,
    /// `VARCHAR(64)`.
    Text,
}

/// A tenant's key written in another form than its column's, for
/// [`Keys::in_form`]. Each differs from the lowercase string literal of
/// every UUID and text key of [`Keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `'6F1C9A2E-…'`, `'GOLDEN-KEY'`
    Upper,
    /// `'golden-key '`
    Padded,
    /// `1`: the tenant number as a number.
    Number,
    /// `'{6f1c9a2e-…}'`
    Braced,
}

impl Form {
    pub const ALL: [Form; 4] = [Form::Upper, Form::Padded, Form::Number, Form::Braced];

    pub fn label(self) -> &'static str {
        match self {
            Form::Upper => "upper-case",
            Form::Padded => "padded",
            Form::Number => "number",
            Form::Braced => "braced",
        }
    }
}

const UUIDS: [u128; 3] = [
    0x6f1c9a2e_3b4d_4c8e_9f10_2a3b4c5d6e7f,
    0x0b5c1e2d_8a9f_4b3c_a1d2_e3f405162738,
    0xf47ac10b_58cc_4372_a567_0e02b2c3d479,
];

const TEXT_KEYS: [&str; 3] = ["golden-key", "acme", "acme.eu:west_2"];

impl Keys {
    /// The key of tenant number `n`.
    pub fn id(self, n: i64) -> TenantId {
        let i = TENANTS
            .iter()
            .position(|t| *t == n)
            .unwrap_or_else(|| panic!("tenant number {n} is not one of {TENANTS:?}"));
        match self {
            Keys::Int => TenantId::new(n),
            Keys::Uuid => TenantId::uuid(Uuid::from_u128(UUIDS[i])),
            Keys::Text => TenantId::text(TEXT_KEYS[i]).expect("a valid text key"),
        }
    }

    /// Tenant number `n`'s key as a SQL literal of the column's form: a
    /// number, or a string (whose characters need no escaping).
    pub fn literal(self, n: i64) -> String {
        match self {
            Keys::Int => n.to_string(),
            Keys::Uuid | Keys::Text => format!("'{}'", self.id(n)),
        }
    }

    pub fn kind(self) -> TenantKeyKind {
        match self {
            Keys::Int => TenantKeyKind::Int,
            Keys::Uuid => TenantKeyKind::Uuid,
            Keys::Text => TenantKeyKind::Text,
        }
    }

    /// The registry's declaration of the tenant columns' type.
    pub fn key_type(self) -> TenantKeyType {
        match self {
            Keys::Int => TenantKeyType::BigInt,
            Keys::Uuid => TenantKeyType::Uuid,
            Keys::Text => TenantKeyType::Text,
        }
    }

    /// Tenant number `n`'s key as a SQL literal in `form`, never the
    /// column's own form.
    pub fn in_form(self, n: i64, form: Form) -> String {
        let key = self.id(n).to_string();
        match form {
            Form::Upper => format!("'{}'", key.to_uppercase()),
            // MySQL's PAD SPACE collations compare it equal to the key.
            Form::Padded => format!("'{key} '"),
            Form::Number => n.to_string(),
            Form::Braced => format!("'{{{key}}}'"),
        }
    }
}

/// A scoped table of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Accounts,
    Leads,
    Calls,
}

/// The type of a column, for generating comparable literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Accounts, Table::Leads, Table::Calls];

    pub fn name(self) -> &'static str {
        match self {
            Table::Accounts => "accounts",
            Table::Leads => "leads",
            Table::Calls => "calls",
        }
    }

    /// The tenant column (`calls` has its own name for it).
    pub fn tenant_column(self) -> &'static str {
        match self {
            Table::Calls => "company_id",
            _ => "entity_id",
        }
    }

    /// Columns other than the tenant column: (name, kind, nullable).
    pub fn columns(self) -> &'static [(&'static str, Kind, bool)] {
        match self {
            Table::Accounts => &[
                ("id", Kind::Int, false),
                ("name", Kind::Text, false),
                ("region_id", Kind::Int, true),
            ],
            Table::Leads => &[
                ("id", Kind::Int, false),
                ("account_id", Kind::Int, true),
                ("name", Kind::Text, false),
                ("status", Kind::Text, false),
                ("score", Kind::Int, true),
            ],
            Table::Calls => &[
                ("id", Kind::Int, false),
                ("lead_id", Kind::Int, true),
                ("disposition", Kind::Text, false),
                ("seconds", Kind::Int, false),
            ],
        }
    }

    /// The foreign key to the parent table, if any: (column, parent).
    pub fn parent(self) -> Option<(&'static str, Table)> {
        match self {
            Table::Accounts => None,
            Table::Leads => Some(("account_id", Table::Accounts)),
            Table::Calls => Some(("lead_id", Table::Leads)),
        }
    }

    /// A text column and the values it takes (few, so they repeat).
    pub fn text_values(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Table::Accounts => ("name", &["acme", "globex", "initech"]),
            Table::Leads => ("status", &["new", "hot", "lost"]),
            Table::Calls => ("disposition", &["callback", "no_answer", "sale"]),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub tenant: i64,
    pub name: &'static str,
    pub region_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Lead {
    pub id: i64,
    pub tenant: i64,
    pub account_id: Option<i64>,
    pub name: &'static str,
    pub status: &'static str,
    pub score: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub id: i64,
    pub tenant: i64,
    pub lead_id: Option<i64>,
    pub disposition: &'static str,
    pub seconds: i64,
}

/// Rows of every table; `regions` is fixed.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub accounts: Vec<Account>,
    pub leads: Vec<Lead>,
    pub calls: Vec<Call>,
}

fn tenant() -> impl Strategy<Value = i64> {
    prop::sample::select(TENANTS.to_vec())
}

/// A reference to one of `1..=n` (any tenant's row), a dangling id, or NULL.
fn reference(n: i64) -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        6 => (1..=n.max(1)).prop_map(Some),
        1 => Just(Some(999)),
        2 => Just(None),
    ]
}

/// A random dataset: up to 8 accounts, 12 leads and 14 calls spread over
/// three tenants. Ids run 1..n per table (so a row's id says nothing about
/// its tenant); references pick any row of the parent table.
pub fn dataset() -> impl Strategy<Value = Dataset> {
    (0..=8_i64, 0..=12_i64, 0..=14_i64).prop_flat_map(|(na, nl, nc)| {
        let accounts = prop::collection::vec(
            (
                tenant(),
                prop::sample::select(vec!["acme", "globex", "initech"]),
                prop::option::of(1..=2_i64),
            ),
            na as usize,
        );
        let leads = prop::collection::vec(
            (
                tenant(),
                reference(na),
                prop::sample::select(vec!["ann", "bob", "cy"]),
                prop::sample::select(vec!["new", "hot", "lost"]),
                prop::option::of(0..100_i64),
            ),
            nl as usize,
        );
        let calls = prop::collection::vec(
            (
                tenant(),
                reference(nl),
                prop::sample::select(vec!["callback", "no_answer", "sale"]),
                0..300_i64,
            ),
            nc as usize,
        );
        (accounts, leads, calls).prop_map(|(accounts, leads, calls)| Dataset {
            accounts: accounts
                .into_iter()
                .zip(1..)
                .map(|((tenant, name, region_id), id)| Account {
                    id,
                    tenant,
                    name,
                    region_id,
                })
                .collect(),
            leads: leads
                .into_iter()
                .zip(1..)
                .map(|((tenant, account_id, name, status, score), id)| Lead {
                    id,
                    tenant,
                    account_id,
                    name,
                    status,
                    score,
                })
                .collect(),
            calls: calls
                .into_iter()
                .zip(1..)
                .map(|((tenant, lead_id, disposition, seconds), id)| Call {
                    id,
                    tenant,
                    lead_id,
                    disposition,
                    seconds,
                })
                .collect(),
        })
    })
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}

impl Dataset {
    /// INSERT statements loading the dataset, only tenant `only`'s rows if
    /// given, with the tenants written as `keys`.
    pub fn inserts(&self, only: Option<i64>, keys: Keys) -> Vec<String> {
        let keep = |t: i64| only.is_none_or(|o| o == t);
        let mut sql =
            vec!["INSERT INTO regions (id, name) VALUES (1, 'north'), (2, 'south')".to_owned()];
        let accounts: Vec<String> = self
            .accounts
            .iter()
            .filter(|r| keep(r.tenant))
            .map(|r| {
                format!(
                    "({}, {}, '{}', {})",
                    r.id,
                    keys.literal(r.tenant),
                    r.name,
                    opt(r.region_id)
                )
            })
            .collect();
        if !accounts.is_empty() {
            sql.push(format!(
                "INSERT INTO accounts (id, entity_id, name, region_id) VALUES {}",
                accounts.join(", ")
            ));
        }
        let leads: Vec<String> = self
            .leads
            .iter()
            .filter(|r| keep(r.tenant))
            .map(|r| {
                format!(
                    "({}, {}, {}, '{}', '{}', {})",
                    r.id,
                    keys.literal(r.tenant),
                    opt(r.account_id),
                    r.name,
                    r.status,
                    opt(r.score)
                )
            })
            .collect();
        if !leads.is_empty() {
            sql.push(format!(
                "INSERT INTO leads (id, entity_id, account_id, name, status, score) VALUES {}",
                leads.join(", ")
            ));
        }
        let calls: Vec<String> = self
            .calls
            .iter()
            .filter(|r| keep(r.tenant))
            .map(|r| {
                format!(
                    "({}, {}, {}, '{}', {})",
                    r.id,
                    keys.literal(r.tenant),
                    opt(r.lead_id),
                    r.disposition,
                    r.seconds
                )
            })
            .collect();
        if !calls.is_empty() {
            sql.push(format!(
                "INSERT INTO calls (id, company_id, lead_id, disposition, seconds) VALUES {}",
                calls.join(", ")
            ));
        }
        sql
    }
}
