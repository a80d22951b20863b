//! Small helpers over D1: bound parameters and constraint errors.
//!
//! Every statement binds its values (`?1`, `?2`, ...); nothing from a request is
//! ever formatted into SQL text.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// Statements this isolate has prepared through a request's [`Db`] (every
/// route's reads and writes; the cron's own queries are not counted): the
/// figure `scripts/bench.sh` reads as D1 statements per resolve.
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A request's D1 database, counting the statements it prepares. It
/// dereferences to the binding for everything else (`batch`, and the
/// functions that take `&D1Database`).
#[derive(Debug)]
pub struct Db(D1Database);

impl Db {
    pub fn new(database: D1Database) -> Self {
        Self(database)
    }

    pub fn prepare<T: Into<String>>(&self, query: T) -> D1PreparedStatement {
        STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.prepare(query)
    }
}

impl std::ops::Deref for Db {
    type Target = D1Database;

    fn deref(&self) -> &D1Database {
        &self.0
    }
}

/// How many statements this isolate has prepared through requests.
pub fn statements_prepared() -> u64 {
    STATEMENTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// How often a read is retried when D1 reports a passing condition.
const READ_ATTEMPTS: u32 = 6;

async fn pause(attempt: u32) {
    worker::Delay::from(std::time::Duration::from_millis(u64::from(
        10 * (attempt + 1),
    )))
    .await;
}

/// The first row of a read, retrying transient failures.
pub async fn first<T: DeserializeOwned>(
    statement: &D1PreparedStatement,
) -> worker::Result<Option<T>> {
    let mut attempt = 0;
    loop {
        match statement.first::<T>(None).await {
            Err(err) if is_transient(&err) && attempt + 1 < READ_ATTEMPTS => {
                pause(attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// All rows of a read, retrying transient failures.
pub async fn all<T: DeserializeOwned>(statement: &D1PreparedStatement) -> worker::Result<Vec<T>> {
    let mut attempt = 0;
    loop {
        match statement.all().await {
            Err(err) if is_transient(&err) && attempt + 1 < READ_ATTEMPTS => {
                pause(attempt).await;
                attempt += 1;
            }
            Ok(result) => return result.results::<T>(),
            Err(err) => return Err(err),
        }
    }
}

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
