//! Statement helpers that read any result as strings, so a scoped
//! connection and a plain one compare with the same call.

use std::fmt::Write as _;

use sea_orm::sqlx::postgres::PgValueFormat;
use sea_orm::sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};
use sea_orm::{ConnectionTrait, DbErr, JsonValue, QueryResult, Statement};

use crate::Backend;

/// Runs one raw statement (no parameters) with `execute_unprepared`.
///
/// # Panics
///
/// If the statement fails; the message carries the backend, the error and
/// the SQL. Tests that expect a failure call the connection directly.
pub async fn exec<C: ConnectionTrait>(conn: &C, sql: &str) {
    if let Err(e) = conn.execute_unprepared(sql).await {
        panic!(
            "statement failed on {}: {e}\n  sql: {sql}",
            Backend::of(conn)
        );
    }
}

/// Runs a query and renders every cell as a string, in result order.
///
/// Integers and floats render with Rust's `Display`, text as itself, booleans
/// as `true`/`false` (MySQL and SQLite have none: they show `1`/`0`), JSON as
/// compact JSON, bytes as `0x` and lowercase hex, decimals (`NUMERIC`,
/// `DECIMAL`, as `SUM` returns on PostgreSQL and MySQL) in plain notation with
/// their scale, and NULL as `NULL`. So results compare well within one
/// backend; across backends, cast where the engines differ.
///
/// Works on any [`ConnectionTrait`], so a scoped connection and a plain one
/// can be compared with the same call.
///
/// # Panics
///
/// If the query fails, or a column has a type it can't render (dates, times,
/// UUIDs: cast them to text in the SQL). The message carries the SQL.
pub async fn rows<C: ConnectionTrait>(conn: &C, sql: &str) -> Vec<Vec<String>> {
    try_rows(conn, sql)
        .await
        .unwrap_or_else(|e| panic!("query failed on {}: {e}\n  sql: {sql}", Backend::of(conn)))
}

/// [`rows`], sorted, for comparing result sets whose order is unspecified.
pub async fn rows_sorted<C: ConnectionTrait>(conn: &C, sql: &str) -> Vec<Vec<String>> {
    let mut rows = rows(conn, sql).await;
    rows.sort();
    rows
}

/// [`rows`], returning the database error instead of panicking on it, for
/// tests where refusing or failing is an acceptable outcome.
///
/// # Panics
///
/// If a column has a type it can't render, as [`rows`].
pub async fn try_rows<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<Vec<Vec<String>>, DbErr> {
    try_rows_of(
        conn,
        Statement::from_string(conn.get_database_backend(), sql),
    )
    .await
}

/// [`try_rows`] for a statement with bound values, as SeaORM builds them.
///
/// # Panics
///
/// If a column has a type it can't render, as [`rows`].
pub async fn try_rows_of<C: ConnectionTrait>(
    conn: &C,
    statement: Statement,
) -> Result<Vec<Vec<String>>, DbErr> {
    let sql = statement.sql.clone();
    let results = conn.query_all_raw(statement).await?;
    Ok(results.iter().map(|row| render_row(row, &sql)).collect())
}

/// Renders one result row; see [`rows`].
fn render_row(row: &QueryResult, sql: &str) -> Vec<String> {
    let columns = row.column_names();
    (0..columns.len())
        .map(|index| {
            render_cell(row, index).unwrap_or_else(|| {
                panic!(
                    "rows(): cannot render column {index} ({:?}) of type {}; cast it to text \
                     in the SQL\n  sql: {sql}",
                    columns[index],
                    column_type(row, index),
                )
            })
        })
        .collect()
}

/// Renders one cell, trying each type SeaORM can decode without extra
/// features; `None` if none fits.
fn render_cell(row: &QueryResult, index: usize) -> Option<String> {
    /// Tries `Option<$ty>`: a NULL of any type decodes as `None` on the first
    /// attempt, a value only as a type the driver considers compatible.
    macro_rules! attempt {
        ($ty:ty, $render:expr) => {
            if let Ok(value) = row.try_get_by_index::<Option<$ty>>(index) {
                let render: fn($ty) -> String = $render;
                return Some(value.map_or_else(|| "NULL".to_owned(), render));
            }
        };
    }
    // Integers before booleans: SQLite would happily read 5 as `true`.
    attempt!(i64, |v| v.to_string());
    attempt!(i32, |v| v.to_string());
    attempt!(i16, |v| v.to_string());
    attempt!(i8, |v| v.to_string());
    attempt!(u64, |v| v.to_string());
    attempt!(u32, |v| v.to_string());
    attempt!(f64, |v| v.to_string());
    attempt!(f32, |v| v.to_string());
    attempt!(bool, |v| v.to_string());
    attempt!(String, |v| v);
    // PostgreSQL `uuid`, lowercase hyphenated, as a UUID key prints (only
    // there: elsewhere 16 bytes are bytes, rendered below).
    if row.try_as_pg_row().is_some() {
        attempt!(sea_orm::prelude::Uuid, |v| v.hyphenated().to_string());
    }
    attempt!(JsonValue, |v| v.to_string());
    attempt!(Vec<u8>, |bytes| {
        bytes.iter().fold("0x".to_owned(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    });
    render_decimal(row, index)
}

/// Decimals, which SeaORM decodes only with its `with-rust_decimal` or
/// `with-bigdecimal` features, read straight from the driver's value.
fn render_decimal(row: &QueryResult, index: usize) -> Option<String> {
    if let Some(row) = row.try_as_mysql_row() {
        // MySQL sends DECIMAL as its decimal text, even in the binary protocol.
        if row.columns().get(index)?.type_info().name() != "DECIMAL" {
            return None;
        }
        let text: Option<String> = row.try_get_unchecked(index).ok()?;
        return Some(text.unwrap_or_else(|| "NULL".to_owned()));
    }
    if let Some(row) = row.try_as_pg_row() {
        if row.columns().get(index)?.type_info().name() != "NUMERIC" {
            return None;
        }
        let value = row.try_get_raw(index).ok()?;
        if value.is_null() {
            return Some("NULL".to_owned());
        }
        return match value.format() {
            PgValueFormat::Text => value.as_str().ok().map(str::to_owned),
            PgValueFormat::Binary => pg_numeric_text(value.as_bytes().ok()?),
        };
    }
    None
}

/// Renders PostgreSQL's binary `NUMERIC` as PostgreSQL prints it.
///
/// The format: digit count, weight (the power of 10000 of the first digit),
/// sign, display scale, then the base-10000 digits, all big-endian 16-bit.
pub fn pg_numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| {
        let pair = bytes.get(2 * i..2 * i + 2)?;
        Some(u16::from_be_bytes([pair[0], pair[1]]))
    };
    let ndigits = usize::from(word(0)?);
    // The weight is a signed 16-bit value stored in the same bits.
    let weight = i32::from(word(1)?.cast_signed());
    let sign = word(2)?;
    let scale = usize::from(word(3)?);
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        _ => return None,
    };
    let digits = (0..ndigits)
        .map(|k| word(4 + k))
        .collect::<Option<Vec<u16>>>()?;
    let digit = |k: i32| usize::try_from(k).ok().and_then(|k| digits.get(k)).copied();

    let mut text = String::new();
    if negative {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        // The first group prints without leading zeros, the others as four
        // decimal digits; groups past the last stored one are zero.
        let _ = write!(text, "{}", digit(0).unwrap_or(0));
        for k in 1..=weight {
            let _ = write!(text, "{:04}", digit(k).unwrap_or(0));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut k = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(k).unwrap_or(0));
            k += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

/// The driver's name for a column's type, for error messages.
fn column_type(row: &QueryResult, index: usize) -> String {
    let name = if let Some(row) = row.try_as_sqlite_row() {
        row.columns()
            .get(index)
            .map(|c| c.type_info().name().to_owned())
    } else if let Some(row) = row.try_as_pg_row() {
        row.columns()
            .get(index)
            .map(|c| c.type_info().name().to_owned())
    } else if let Some(row) = row.try_as_mysql_row() {
        row.columns()
            .get(index)
            .map(|c| c.type_info().name().to_owned())
    } else {
        None
    };
    name.unwrap_or_else(|| "unknown".to_owned())
}
