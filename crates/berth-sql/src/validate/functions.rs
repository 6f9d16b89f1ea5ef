//! The function rules: what may not be called, and why.
//!
//! Matching is on the last part of the name (`pg_catalog.pg_sleep` → `pg_sleep`), in lower
//! case whether or not the name was quoted (`"PG_SLEEP"` is refused too: a quoted name that
//! happens to differ in case is still a request for the same thing, and refusing costs a
//! legitimate query nothing).

/// Why a function family is refused, as the model and the user read it.
pub(crate) const STALL: &str = "it can stall the database";
const FILES: &str = "it reads or writes files on the database server";
const NETWORK: &str = "it reaches other databases or the network";
const SETTINGS: &str = "it reads or changes server settings";
const BACKENDS: &str = "it signals other database sessions";
const DYNAMIC: &str = "it runs SQL given as text, which berth cannot check";
const LOCKS: &str = "it takes locks that outlive the query";
const SEQUENCES: &str = "it changes or reads sequence state";
const ADMIN: &str = "PostgreSQL administration and system-information functions (pg_*) are not \
                     available to this app";
const EXTENSION: &str = "it loads native code into the database";
const CODE: &str = "it runs programs or code on the server";
const XID: &str = "it assigns transaction ids (a write)";
pub(crate) const SIZE: &str = "its size argument is too large (over 1,000,000)";

/// Exact names refused in every dialect, with the reason.
const DENIED: &[(&str, &str)] = &[
    // stalls
    ("sleep", STALL),
    ("benchmark", STALL),
    ("waitfor", STALL),
    // files
    ("readfile", FILES),
    ("writefile", FILES),
    ("edit", FILES),
    ("load_file", FILES),
    ("loread", FILES),
    ("lowrite", FILES),
    ("fts3_tokenizer", EXTENSION),
    ("load_extension", EXTENSION),
    // network
    ("http", NETWORK),
    // settings
    ("set_config", SETTINGS),
    ("current_setting", SETTINGS),
    ("version", SETTINGS),
    ("inet_server_addr", SETTINGS),
    ("inet_server_port", SETTINGS),
    // dynamic SQL
    ("query_to_xml", DYNAMIC),
    ("query_to_xmlschema", DYNAMIC),
    ("query_to_xml_and_xmlschema", DYNAMIC),
    ("cursor_to_xml", DYNAMIC),
    ("cursor_to_xmlschema", DYNAMIC),
    ("table_to_xml", DYNAMIC),
    ("table_to_xmlschema", DYNAMIC),
    ("table_to_xml_and_xmlschema", DYNAMIC),
    ("schema_to_xml", DYNAMIC),
    ("schema_to_xmlschema", DYNAMIC),
    ("schema_to_xml_and_xmlschema", DYNAMIC),
    ("database_to_xml", DYNAMIC),
    ("database_to_xmlschema", DYNAMIC),
    ("database_to_xml_and_xmlschema", DYNAMIC),
    ("ts_stat", DYNAMIC),
    ("ts_rewrite", DYNAMIC),
    ("exec", DYNAMIC),
    ("execute", DYNAMIC),
    ("eval", DYNAMIC),
    ("xpath_table", DYNAMIC),
    ("crosstab", DYNAMIC),
    ("crosstab2", DYNAMIC),
    ("crosstab3", DYNAMIC),
    ("crosstab4", DYNAMIC),
    ("connectby", DYNAMIC),
    // sequences
    ("nextval", SEQUENCES),
    ("setval", SEQUENCES),
    ("currval", SEQUENCES),
    ("lastval", SEQUENCES),
    // transaction ids
    ("txid_current", XID),
    ("txid_current_if_assigned", XID),
    ("txid_current_snapshot", XID),
    // code execution
    ("system", CODE),
    ("shell", CODE),
    ("sys_exec", CODE),
    ("sys_eval", CODE),
    ("plpython3u", CODE),
];

/// Prefixes refused in every dialect, with the reason; checked after [`DENIED`].
const DENIED_PREFIXES: &[(&str, &str)] = &[
    ("pg_sleep", STALL),
    ("pg_read_", FILES),
    ("pg_ls_", FILES),
    ("pg_stat_file", FILES),
    ("pg_file_", FILES),
    ("pg_logdir_ls", FILES),
    ("lo_", FILES),
    ("dblink", NETWORK),
    ("http_", NETWORK),
    ("pg_terminate_backend", BACKENDS),
    ("pg_cancel_backend", BACKENDS),
    ("pg_signal_backend", BACKENDS),
    ("pg_reload_conf", SETTINGS),
    ("pg_advisory", LOCKS),
    ("pg_try_advisory", LOCKS),
    ("pg_notify", BACKENDS),
    ("pg_current_xact_id", XID),
    ("pg_", ADMIN),
    ("sqlite_", ADMIN),
];

/// Table-valued functions accepted in FROM; every other function in FROM is refused.
const TABLE_FUNCTIONS: &[&str] = &[
    "generate_series",
    "generate_subscripts",
    "unnest",
    "json_each",
    "json_each_text",
    "jsonb_each",
    "jsonb_each_text",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_to_record",
    "json_to_recordset",
    "jsonb_to_record",
    "jsonb_to_recordset",
    "json_populate_record",
    "json_populate_recordset",
    "jsonb_populate_record",
    "jsonb_populate_recordset",
    "json_tree",
    "jsonb_each_text",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
];

/// Functions whose argument at the given index is a size that must be a literal of at most
/// [`MAX_SIZE`] when it is a literal (a non-literal size is left to the time limit).
pub(crate) const SIZED: &[(&str, usize)] = &[
    ("repeat", 1),
    ("lpad", 1),
    ("rpad", 1),
    ("randomblob", 0),
    ("zeroblob", 0),
    ("space", 0),
];

/// The largest literal size accepted by the functions of [`SIZED`].
pub(crate) const MAX_SIZE: i128 = 1_000_000;

/// The largest number of values a literal `generate_series` may produce.
pub(crate) const MAX_SERIES: i128 = 10_000_000;

/// Why `name` (lower case, unqualified) may not be called, or `None` when it may.
pub(crate) fn denied(name: &str, allowed: &[String]) -> Option<&'static str> {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return None;
    }
    if let Some((_, why)) = DENIED.iter().find(|(n, _)| *n == name) {
        return Some(why);
    }
    DENIED_PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|(_, why)| *why)
}

/// Whether `name` (lower case, unqualified) may be used as a table in FROM.
pub(crate) fn table_function_allowed(name: &str, allowed: &[String]) -> bool {
    TABLE_FUNCTIONS.contains(&name) || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_name_and_prefix_and_honours_explicit_allows() {
        assert_eq!(denied("pg_sleep_for", &[]), Some(STALL));
        assert_eq!(denied("pg_read_binary_file", &[]), Some(FILES));
        assert_eq!(denied("lo_import", &[]), Some(FILES));
        assert_eq!(denied("dblink_exec", &[]), Some(NETWORK));
        assert_eq!(denied("pg_typeof", &[]), Some(ADMIN));
        assert_eq!(denied("pg_typeof", &["PG_TYPEOF".into()]), None);
        assert_eq!(denied("lower", &[]), None);
        assert_eq!(denied("date_trunc", &[]), None);
        assert!(table_function_allowed("generate_series", &[]));
        assert!(!table_function_allowed("pragma_table_info", &[]));
    }
}
