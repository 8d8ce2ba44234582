//! The functions a tenant statement may call: an allowlist per backend.
//!
//! A function call is the one place where the server runs code the rewrite
//! can't see. So instead of refusing the dangerous ones (a denylist always
//! misses one: `ts_rewrite` runs the SQL text it is given), only functions
//! known to read nothing but their arguments are allowed. How the lists were
//! chosen, from each server's manual of built-in functions:
//!
//! - in: aggregates, window functions, string, numeric, date/time, JSON
//!   accessors and builders, conditionals (`coalesce`, `nullif`, `if`, ...),
//!   and the few that report the session's own last insert id;
//! - out: anything that takes SQL, a query, a table or a type name as text
//!   (`query_to_xml`, `ts_rewrite`, `ts_stat`, `xpath` over a query,
//!   `dblink`, `json_populate_record` with a row type, ...); reads or writes
//!   files or large objects (`pg_read_file`, `lo_*`, `load_file`,
//!   `readfile`); talks to the network; takes locks or sleeps
//!   (`pg_advisory_lock`, `get_lock`, `sleep`, `pg_sleep`, `benchmark`);
//!   reads or changes settings, sequences or session state (`set_config`,
//!   `current_setting`, `setval`, `nextval`, `database`, `user`,
//!   `version`); loads code (`load_extension`); and whatever the lists
//!   don't name, including every function the application defined.
//!
//! An application that needs another function allows it on the registry
//! with [`allow_function`](crate::TableRegistryBuilder::allow_function), on
//! its own responsibility.

use crate::flavor::Flavor;

/// On every backend that has them.
const COMMON: &[&str] = &[
    // aggregates
    "avg",
    "count",
    "max",
    "min",
    "sum",
    // window functions
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // conditionals
    "coalesce",
    "nullif",
    // strings
    "lower",
    "upper",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "substr",
    "substring",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "concat",
    "concat_ws",
    "left",
    "right",
    "lpad",
    "rpad",
    "repeat",
    "reverse",
    "position",
    "instr",
    "ascii",
    "char",
    "hex",
    "format",
    // numbers
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "trunc",
    "truncate",
    "mod",
    "power",
    "pow",
    "sqrt",
    "exp",
    "ln",
    "log",
    "log2",
    "log10",
    "sign",
    "greatest",
    "least",
    "pi",
    "random",
    "rand",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    // dates and times
    "now",
    "date",
    "time",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    // JSON
    "json_extract",
    "json_object",
    "json_array",
    "json_array_length",
    "json_type",
    "json_valid",
    "json_quote",
];

/// Aggregates PostgreSQL and MySQL share and SQLite lacks.
const SERVER_AGGREGATES: &[&str] = &[
    "bit_and",
    "bit_or",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
];

const POSTGRES: &[&str] = &[
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "bool_and",
    "bool_or",
    "every",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "btrim",
    "strpos",
    "split_part",
    "initcap",
    "translate",
    "chr",
    "md5",
    "starts_with",
    "regexp_replace",
    "regexp_match",
    "regexp_matches",
    "regexp_split_to_array",
    "to_hex",
    "quote_literal",
    "quote_ident",
    "quote_nullable",
    "div",
    "cbrt",
    "width_bucket",
    "gen_random_uuid",
    "date_trunc",
    "date_part",
    "age",
    "to_char",
    "to_date",
    "to_number",
    "to_timestamp",
    "make_date",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "isfinite",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "array_length",
    "array_position",
    "array_positions",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_remove",
    "array_to_string",
    "string_to_array",
    "cardinality",
    "to_json",
    "to_jsonb",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "json_typeof",
    "jsonb_typeof",
    "jsonb_array_length",
    "json_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "jsonb_set",
    "jsonb_insert",
    "jsonb_strip_nulls",
    "json_strip_nulls",
    "jsonb_pretty",
    "to_tsvector",
    "to_tsquery",
    "plainto_tsquery",
    "phraseto_tsquery",
    "websearch_to_tsquery",
    "ts_rank",
    "ts_rank_cd",
    "ts_headline",
    "setweight",
    "num_nulls",
    "num_nonnulls",
];

const MYSQL: &[&str] = &[
    "group_concat",
    "json_arrayagg",
    "json_objectagg",
    "bit_xor",
    "std",
    "if",
    "ifnull",
    "isnull",
    "field",
    "elt",
    "locate",
    "lcase",
    "ucase",
    "mid",
    "space",
    "strcmp",
    "substring_index",
    "md5",
    "unhex",
    "bin",
    "oct",
    "conv",
    "crc32",
    "regexp_replace",
    "regexp_substr",
    "regexp_instr",
    "regexp_like",
    "uuid",
    "curdate",
    "curtime",
    "sysdate",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "date_add",
    "date_sub",
    "adddate",
    "subdate",
    "addtime",
    "subtime",
    "datediff",
    "timediff",
    "timestampdiff",
    "timestampadd",
    "date_format",
    "time_format",
    "str_to_date",
    "from_unixtime",
    "unix_timestamp",
    "from_days",
    "to_days",
    "makedate",
    "maketime",
    "last_day",
    "year",
    "month",
    "day",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "dayname",
    "monthname",
    "hour",
    "minute",
    "second",
    "microsecond",
    "week",
    "weekday",
    "weekofyear",
    "yearweek",
    "quarter",
    "json_unquote",
    "json_contains",
    "json_contains_path",
    "json_keys",
    "json_length",
    "json_depth",
    "json_search",
    "json_set",
    "json_insert",
    "json_replace",
    "json_remove",
    "json_merge_patch",
    "json_merge_preserve",
    "last_insert_id",
    // `ON DUPLICATE KEY UPDATE c = VALUES(c)`: the row being inserted.
    "values",
];

const SQLITE: &[&str] = &[
    "group_concat",
    "string_agg",
    "total",
    "json_group_array",
    "json_group_object",
    "iif",
    "ifnull",
    "printf",
    "unicode",
    "quote",
    "glob",
    "like",
    "likelihood",
    "likely",
    "unlikely",
    "typeof",
    "zeroblob",
    "randomblob",
    "unhex",
    "julianday",
    "datetime",
    "strftime",
    "unixepoch",
    "timediff",
    "json",
    "jsonb",
    "json_insert",
    "json_replace",
    "json_set",
    "json_remove",
    "json_patch",
    "last_insert_rowid",
];

/// Table-valued functions that read no table.
const TABLE_FUNCTIONS_POSTGRES: &[&str] = &[
    "generate_series",
    "unnest",
    "json_each",
    "jsonb_each",
    "json_each_text",
    "jsonb_each_text",
    "json_array_elements",
    "jsonb_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements_text",
];
const TABLE_FUNCTIONS_SQLITE: &[&str] = &["generate_series", "json_each", "json_tree"];

/// Whether a scalar or aggregate function may be called on `backend`.
/// `name` is the call's name as written, unquoted, one part.
pub(crate) fn allowed(backend: Flavor, name: &str, extra: &[String]) -> bool {
    let name = name.to_ascii_lowercase();
    let (own, shared): (&[&str], &[&str]) = match backend {
        Flavor::Postgres => (POSTGRES, SERVER_AGGREGATES),
        Flavor::MySql => (MYSQL, SERVER_AGGREGATES),
        Flavor::Sqlite => (SQLITE, &[]),
    };
    [COMMON, own, shared]
        .iter()
        .any(|list| list.contains(&name.as_str()))
        || extra.contains(&name)
}

/// Whether a table-valued function may appear in FROM on `backend`.
pub(crate) fn table_function_allowed(backend: Flavor, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let list = match backend {
        Flavor::Postgres => TABLE_FUNCTIONS_POSTGRES,
        Flavor::Sqlite => TABLE_FUNCTIONS_SQLITE,
        Flavor::MySql => &[],
    };
    list.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_aggregates_are_allowed_where_the_server_has_them() {
        assert!(allowed(Flavor::Postgres, "STDDEV", &[]));
        assert!(allowed(Flavor::MySql, "var_pop", &[]));
        assert!(allowed(Flavor::MySql, "bit_and", &[]));
        assert!(!allowed(Flavor::Sqlite, "stddev", &[]));
    }

    #[test]
    fn lists_hold_plain_lowercase_names_without_dangerous_ones() {
        let all = [
            COMMON,
            SERVER_AGGREGATES,
            POSTGRES,
            MYSQL,
            SQLITE,
            TABLE_FUNCTIONS_POSTGRES,
        ];
        for name in all.iter().flat_map(|l| l.iter()) {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        for bad in [
            "ts_rewrite",
            "ts_stat",
            "query_to_xml",
            "set_config",
            "current_setting",
            "pg_sleep",
            "sleep",
            "benchmark",
            "get_lock",
            "load_file",
            "load_extension",
            "readfile",
            "dblink",
            "nextval",
            "setval",
            "database",
            "version",
        ] {
            for backend in [Flavor::Postgres, Flavor::MySql, Flavor::Sqlite] {
                assert!(!allowed(backend, bad, &[]), "{bad} on {backend:?}");
            }
        }
    }
}
