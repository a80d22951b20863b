//! Small helpers over D1: bound parameters and constraint errors.
//!
//! Every statement binds its values (`?1`, `?2`, ...); nothing from a request is
//! ever formatted into SQL text.

use wasm_bindgen::JsValue;

pub fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

pub fn opt_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// D1 numbers are JS numbers: exact up to 2^53, which covers ms timestamps,
/// sizes and sequence numbers.
pub fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

pub fn opt_int(value: Option<i64>) -> JsValue {
    value.map_or(JsValue::NULL, int)
}

pub fn real(value: f64) -> JsValue {
    JsValue::from_f64(value)
}

/// Whether a failed statement or batch hit a UNIQUE/PRIMARY KEY constraint of
/// `table` (D1 reports SQLite's message, naming the columns as table.column).
pub fn is_unique_violation(err: &worker::Error, table: &str) -> bool {
    let message = err.to_string();
    message.contains("UNIQUE constraint failed") && message.contains(&format!("{table}."))
}

/// Whether D1 reported a passing condition worth retrying (the database was
/// busy or locked by another writer).
pub fn is_transient(err: &worker::Error) -> bool {
    let message = err.to_string();
    message.contains("SQLITE_BUSY") || message.contains("database is locked")
}

/// Rows come back with numbers as f64; these read them as the integers they are.
pub fn as_i64(value: f64) -> i64 {
    value as i64
}
