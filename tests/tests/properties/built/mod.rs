//! Random statements built with SeaORM's query builders (and sea-query's,
//! for subqueries), as an application writes them.
//!
//! The raw-SQL grammar in [`crate::sql`] covers what a person types; this
//! covers what SeaORM renders: quoted identifiers, table-qualified columns,
//! bound values (`$1` on PostgreSQL, `?` elsewhere), `Condition` trees with
//! empty `all()`/`any()` (TRUE/FALSE) and `.not()`, `find_also_related`
//! joins with aliased columns, `ON CONFLICT` / `ON DUPLICATE KEY UPDATE`.
//! Every statement is built with SeaORM and turned into SQL and values with
//! `QueryTrait::build` (or `StatementBuilder::build`); the oracle runs it.
//!
//! The entities are the testkit's [`tenancy_testkit::fixtures`], whose DDL
//! is the property schema.

use std::str::FromStr;

use sea_orm::EntityTrait;

pub use statements::{Built, built};

/// A table of the schema, the global one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ent {
    Regions,
    Accounts,
    Leads,
    Calls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

/// Runs `$body` with `$E` the SeaORM entity of `$ent`.
macro_rules! on_entity {
    ($ent:expr, $E:ident => $body:expr) => {
        match $ent {
            Ent::Regions => {
                type $E = tenancy_testkit::fixtures::region::Entity;
                $body
            }
            Ent::Accounts => {
                type $E = tenancy_testkit::fixtures::account::Entity;
                $body
            }
            Ent::Leads => {
                type $E = tenancy_testkit::fixtures::lead::Entity;
                $body
            }
            Ent::Calls => {
                type $E = tenancy_testkit::fixtures::call::Entity;
                $body
            }
        }
    };
}

impl Ent {
    const ALL: [Ent; 4] = [Ent::Regions, Ent::Accounts, Ent::Leads, Ent::Calls];
    const SCOPED: [Ent; 3] = [Ent::Accounts, Ent::Leads, Ent::Calls];

    /// The tenant column; `None` for the global table.
    fn tenant_column(self) -> Option<&'static str> {
        match self {
            Ent::Regions => None,
            Ent::Calls => Some("company_id"),
            Ent::Accounts | Ent::Leads => Some("entity_id"),
        }
    }

    /// Columns other than the tenant column: (name, kind, nullable).
    fn columns(self) -> &'static [(&'static str, Kind, bool)] {
        match self {
            Ent::Regions => &[("id", Kind::Int, false), ("name", Kind::Text, false)],
            Ent::Accounts => &[
                ("id", Kind::Int, false),
                ("name", Kind::Text, false),
                ("region_id", Kind::Int, true),
            ],
            Ent::Leads => &[
                ("id", Kind::Int, false),
                ("account_id", Kind::Int, true),
                ("name", Kind::Text, false),
                ("status", Kind::Text, false),
                ("score", Kind::Int, true),
            ],
            Ent::Calls => &[
                ("id", Kind::Int, false),
                ("lead_id", Kind::Int, true),
                ("disposition", Kind::Text, false),
                ("seconds", Kind::Int, false),
            ],
        }
    }

    /// The values a text column takes in the dataset (few, so they repeat).
    fn pool(self, col: &str) -> &'static [&'static str] {
        match (self, col) {
            (Ent::Regions, _) => &["north", "south"],
            (Ent::Accounts, _) => &["acme", "globex", "initech"],
            (Ent::Leads, "status") => &["new", "hot", "lost"],
            (Ent::Leads, _) => &["ann", "bob", "cy"],
            (Ent::Calls, _) => &["callback", "no_answer", "sale"],
        }
    }

    /// The text column that groups well.
    fn text_column(self) -> &'static str {
        match self {
            Ent::Regions | Ent::Accounts => "name",
            Ent::Leads => "status",
            Ent::Calls => "disposition",
        }
    }

    /// An integer column other than the id, for sums and updates.
    fn int_column(self) -> &'static str {
        match self {
            Ent::Regions => "id",
            Ent::Accounts => "region_id",
            Ent::Leads => "score",
            Ent::Calls => "seconds",
        }
    }

    /// The foreign key to the parent table: (column, parent).
    fn parent(self) -> Option<(&'static str, Ent)> {
        match self {
            Ent::Regions => None,
            Ent::Accounts => Some(("region_id", Ent::Regions)),
            Ent::Leads => Some(("account_id", Ent::Accounts)),
            Ent::Calls => Some(("lead_id", Ent::Leads)),
        }
    }

    /// The child table and its foreign key to this one.
    fn child(self) -> Option<(Ent, &'static str)> {
        Ent::ALL.into_iter().find_map(|c| {
            c.parent()
                .filter(|(_, p)| *p == self)
                .map(|(fk, _)| (c, fk))
        })
    }
}

/// The column of `E` called `name`.
fn column<E: EntityTrait>(name: &str) -> E::Column {
    E::Column::from_str(name)
        .unwrap_or_else(|_| panic!("`{}` has no column `{name}`", E::default().table_name()))
}

// Declared after `on_entity!`, so they can use it.
mod conditions;
mod render;
mod statements;
