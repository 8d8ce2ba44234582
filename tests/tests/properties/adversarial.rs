//! Statements written the way an attacker writes them: token adjacencies
//! (`1.5FROM`), names in every quoting and case, look-alike Unicode
//! letters, comments between tokens, nested CTEs named like tables,
//! functions that run SQL, literals whose meaning depends on server
//! settings.
//!
//! The generator does not know which of them the library accepts: each is
//! judged by the oracle alone. A refusal (typed, changing nothing) passes;
//! a statement that runs must return what it returns on D|t. D also holds
//! `platform_secret`, which D|t lacks, so a statement that reads it
//! through the scoped connection can't match D|t.

use proptest::prelude::*;

use crate::model::Table;
use crate::rendered::Rendered;
use tenancy_testkit::Backend;

/// A scoped table as the attacker writes its name.
#[derive(Debug, Clone, Copy)]
pub enum Name {
    Plain,
    Upper,
    /// Quoted in the backend's quoting, as stored.
    Quoted,
    /// Quoted, with the first letter upper-case.
    QuotedWrongCase,
    /// One letter replaced by a Unicode letter whose full-Unicode
    /// lowercase is ASCII (KELVIN SIGN, LATIN CAPITAL I WITH DOT).
    LookAlike,
    /// In fullwidth letters.
    Fullwidth,
}

/// What sits between two tokens.
#[derive(Debug, Clone, Copy)]
pub enum Gap {
    Space,
    Newline,
    BlockComment,
    LineComment,
    /// MySQL's executable comment; a plain comment elsewhere.
    Executable,
}

/// One projected expression.
#[derive(Debug, Clone)]
pub enum Item {
    Column,
    /// `<number><keyword>(<table>)`, glued.
    Glued {
        number: &'static str,
        keyword: &'static str,
        secret: bool,
    },
    Function(&'static str),
    Literal(&'static str),
    /// `x IN <table>` (SQLite reads a relation).
    InTable {
        secret: bool,
    },
}

/// A WITH clause around the read.
#[derive(Debug, Clone)]
pub enum With {
    None,
    /// `WITH <name> AS (SELECT 1 AS id)` then reading the table.
    Shadow(Name),
    /// `WITH x AS (...) SELECT ... FROM (WITH y AS (SELECT * FROM x) ...)`.
    NestedOuterRef,
    /// `WITH platform_secret AS (...)` read from a nested WITH.
    NestedSecret,
    /// A CTE named like the table in another case.
    CteCase,
}

#[derive(Debug, Clone)]
pub struct Adversarial {
    table: Table,
    name: Name,
    gap: Gap,
    items: Vec<Item>,
    with: With,
    tenant_filter: bool,
}

const FUNCTIONS: &[&str] = &[
    "lower(a.{text})",
    "upper(a.{text})",
    "length(a.{text})",
    "coalesce(a.{text}, 'x')",
    "abs(a.id)",
    "max(a.id)",
    "count(*)",
    "concat(a.{text}, 'x')",
    "ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery FROM platform_secret')::text",
    "query_to_xml('SELECT * FROM platform_secret', true, false, '')::text",
    "set_config('tenancy.tenant', '1', false)",
    "current_setting('tenancy.tenant')",
    "pg_sleep(0)::text",
    "sleep(0)",
    "load_extension('x')",
    "load_file('/etc/hostname')",
    "\"lower\"(a.{text})",
    "pg_catalog.lower(a.{text})",
    "database()",
];

const LITERALS: &[&str] = &[
    "'it''s'",
    "'a\\'",
    "'a\\'' , (SELECT value FROM platform_secret) AS s -- '",
    "'a\\', (SELECT value FROM platform_secret) AS s -- '",
    "E'a\\\\b'",
    "\"dq\"",
    "N'n'",
    "$$dollar$$",
];

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        3 => Just(Name::Plain),
        1 => Just(Name::Upper),
        2 => Just(Name::Quoted),
        1 => Just(Name::QuotedWrongCase),
        2 => Just(Name::LookAlike),
        1 => Just(Name::Fullwidth),
    ]
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        4 => Just(Gap::Space),
        1 => Just(Gap::Newline),
        1 => Just(Gap::BlockComment),
        1 => Just(Gap::LineComment),
        1 => Just(Gap::Executable),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => Just(Item::Column),
        2 => (
            prop::sample::select(vec!["1.5", ".5", "1.", "1e5", "0x1", "1"]),
            prop::sample::select(vec!["FROM", "UNION", "JOIN", "AND", "OR"]),
            any::<bool>()
        )
            .prop_map(|(number, keyword, secret)| Item::Glued { number, keyword, secret }),
        3 => prop::sample::select(FUNCTIONS.to_vec()).prop_map(Item::Function),
        2 => prop::sample::select(LITERALS.to_vec()).prop_map(Item::Literal),
        1 => any::<bool>().prop_map(|secret| Item::InTable { secret }),
    ]
}

fn with() -> impl Strategy<Value = With> {
    prop_oneof![
        4 => Just(With::None),
        2 => name().prop_map(With::Shadow),
        1 => Just(With::NestedOuterRef),
        1 => Just(With::NestedSecret),
        1 => Just(With::CteCase),
    ]
}

pub fn adversarial() -> impl Strategy<Value = Adversarial> {
    (
        prop::sample::select(Table::ALL.to_vec()),
        name(),
        gap(),
        prop::collection::vec(item(), 1..3),
        with(),
        any::<bool>(),
    )
        .prop_map(
            |(table, name, gap, items, with, tenant_filter)| Adversarial {
                table,
                name,
                gap,
                items,
                with,
                tenant_filter,
            },
        )
}

fn quote(backend: Backend, name: &str) -> String {
    match backend {
        Backend::MySql => format!("`{name}`"),
        Backend::Postgres | Backend::Sqlite => format!("\"{name}\""),
    }
}

fn written(backend: Backend, table: &str, name: Name) -> String {
    match name {
        Name::Plain => table.to_owned(),
        Name::Upper => table.to_uppercase(),
        Name::Quoted => quote(backend, table),
        Name::QuotedWrongCase => {
            let mut chars = table.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or('x');
            quote(backend, &format!("{first}{}", chars.as_str()))
        }
        // `k`/`s`/`i` replaced by KELVIN SIGN, LONG S, CAPITAL I WITH DOT,
        // else the last letter by KELVIN SIGN.
        Name::LookAlike => {
            let replaced = table
                .replacen('k', "\u{212a}", 1)
                .replacen('s', "\u{17f}", 1)
                .replacen('i', "\u{130}", 1);
            if replaced == table {
                format!("{table}\u{212a}")
            } else {
                replaced
            }
        }
        Name::Fullwidth => table
            .chars()
            .map(|c| match c {
                'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xff41).unwrap_or(c),
                other => other,
            })
            .collect(),
    }
}

fn gap_text(backend: Backend, gap: Gap) -> &'static str {
    match (gap, backend) {
        (Gap::Space, _) => " ",
        (Gap::Newline, _) => "\n",
        (Gap::BlockComment, _) => " /* ) UNION SELECT value FROM platform_secret -- */ ",
        (Gap::LineComment, _) => " -- ' UNION SELECT 1\n",
        (Gap::Executable, Backend::MySql) => {
            " /*!99999 UNION SELECT value FROM platform_secret */ "
        }
        (Gap::Executable, _) => " /*! x */ ",
    }
}

impl Adversarial {
    pub fn render(&self, backend: Backend) -> Rendered {
        let t = self.table.name();
        let text = self.table.text_values().0;
        let g = gap_text(backend, self.gap);
        let items: Vec<String> = self
            .items
            .iter()
            .map(|item| match item {
                Item::Column => format!("a.{text}"),
                Item::Glued {
                    number,
                    keyword,
                    secret,
                } => {
                    let target = if *secret { "platform_secret" } else { t };
                    format!("{number}{keyword}({target})")
                }
                Item::Function(f) => f.replace("{text}", text),
                // SQLite reads an unresolvable `"dq"` as a string; the
                // library renders every name backquoted, as the name it
                // checked, so there it is an error instead (documented).
                Item::Literal("\"dq\"") if backend == Backend::Sqlite => "'dq'".to_owned(),
                Item::Literal(l) => (*l).to_owned(),
                Item::InTable { secret } => {
                    format!("a.id IN {}", if *secret { "platform_secret" } else { t })
                }
            })
            .collect();
        let filter = if self.tenant_filter {
            format!("{g}WHERE{g}a.id > 0 OR 1 = 1")
        } else {
            String::new()
        };
        let from = written(backend, t, self.name);
        let body = match self.items.first() {
            // The attack's own shape: the glued token is the whole FROM
            // clause as MariaDB reads it, `SELECT 1.5 FROM(t)`.
            Some(Item::Glued { number, secret, .. }) => {
                let target = if *secret { "platform_secret" } else { t };
                format!("SELECT{g}{number}FROM({target})")
            }
            _ => format!("SELECT{g}{}{g}FROM{g}{from} a{filter}", items.join(", ")),
        };
        let sql = match &self.with {
            With::None => body,
            With::Shadow(name) => format!(
                "WITH {} AS (SELECT 1 AS id, 'x' AS {text}){g}{body}",
                written(backend, t, *name)
            ),
            With::NestedOuterRef => format!(
                "WITH x AS (SELECT id FROM {t}) SELECT q.id FROM (WITH y AS (SELECT id FROM x) SELECT id FROM y) q"
            ),
            With::NestedSecret => "WITH platform_secret AS (SELECT 1 AS value) SELECT * FROM (WITH x AS (SELECT value FROM platform_secret) SELECT value FROM x) q".to_owned(),
            With::CteCase => format!(
                "WITH {} AS (SELECT 1 AS id, 'x' AS {text}){g}{body}",
                t.to_uppercase()
            ),
        };
        Rendered {
            sql,
            values: None,
            construct: format!("adversarial/{}", self.label()),
            refusal: Some(ANY_REFUSAL),
            is_read: true,
            upsert_id: None,
        }
    }

    fn label(&self) -> &'static str {
        match (&self.with, self.items.first()) {
            (With::Shadow(_) | With::CteCase, _) => "cte-named-like-a-table",
            (With::NestedOuterRef | With::NestedSecret, _) => "nested-with",
            (_, Some(Item::Glued { .. })) => "glued-number",
            (_, Some(Item::Function(_))) => "function",
            (_, Some(Item::Literal(_))) => "literal",
            (_, Some(Item::InTable { .. })) => "in-table",
            _ => match self.name {
                Name::LookAlike | Name::Fullwidth => "unicode-name",
                Name::Quoted | Name::QuotedWrongCase | Name::Upper => "quoting-and-case",
                Name::Plain => "comment-or-plain",
            },
        }
    }
}

/// The refusal "kind" of a statement the generator does not predict: any
/// typed refusal that changes nothing passes, and so does a result equal to
/// D|t's.
pub const ANY_REFUSAL: &str = "any";
