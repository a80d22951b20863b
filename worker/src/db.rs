//! Small helpers over D1: bound parameters and constraint errors.
//!
//! Every statement binds its values (`?1`, `?2`, ...); nothing from a request is
//! ever formatted into SQL text.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1DatabaseSession, D1PreparedStatement};

/// Statements this isolate has prepared through a request's [`Db`] (every
/// route's reads and writes, once its session is open; the cron's are not
/// counted): the
/// figure `scripts/bench.sh` reads as D1 statements per resolve.
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The request header that carries a D1 Sessions API bookmark both ways:
/// answered after every organisation route, and sent back by a client that
/// must read at least what it has seen (its own writes included).
pub const BOOKMARK_HEADER: &str = "x-outpost-d1-bookmark";

/// What a bookmark may look like: D1's are groups of hex digits joined by
/// `-` (opaque otherwise). Anything else is refused before it reaches D1.
#[cfg_attr(
    target_arch = "wasm32",
    expect(dead_code, reason = "only the native OpenAPI generator declares it")
)]
pub const BOOKMARK_PATTERN: &str = "^[0-9a-f]{1,64}(-[0-9a-f]{1,64}){0,7}$";

/// Whether `text` has the shape of a bookmark ([`BOOKMARK_PATTERN`]).
pub fn is_bookmark(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() <= 8
        && groups.iter().all(|group| {
            (1..=64).contains(&group.len())
                && group
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// A request's D1 database, counting the statements it prepares, and read
/// through a D1 session once [`Db::open_session`] ran (the Sessions API:
/// reads may be served by read replicas, never older than the session's
/// bookmark). It dereferences to the binding for what runs outside a
/// request's session (the cron's functions that take `&D1Database`).
#[derive(Debug)]
pub struct Db {
    database: D1Database,
    session: Option<D1DatabaseSession>,
    /// Whether statements count in [`statements_prepared`] (a request's;
    /// the cron's do not).
    counted: bool,
}

thread_local! {
    /// The newest bookmark any of this isolate's sessions has seen: every
    /// later session of the isolate starts there, so it never reads older
    /// than what it has written or read (its own commits included).
    static ISOLATE_BOOKMARK: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

impl Db {
    pub fn new(database: D1Database) -> Self {
        Self {
            database,
            session: None,
            counted: false,
        }
    }

    /// Counts this request's statements from now on.
    pub fn count_statements(&mut self) {
        self.counted = true;
    }

    /// Opens the request's session. A request
    /// that writes starts at the primary (which is past any bookmark); one
    /// that only reads starts from the newer of the client's `bookmark`
    /// and this isolate's, or, with neither, at any replica. A runtime
    /// without sessions keeps the plain binding (always the primary).
    pub fn open_session(&mut self, bookmark: Option<&str>, writes: bool) {
        let isolate = ISOLATE_BOOKMARK.with(|b| b.borrow().clone());
        let newest = match (bookmark, isolate.as_deref()) {
            (Some(client), Some(own)) => Some(if client > own { client } else { own }),
            (one, other) => one.or(other),
        };
        let constraint = match (writes, newest) {
            (true, _) => "first-primary",
            (false, Some(bookmark)) => bookmark,
            (false, None) => "first-unconstrained",
        };
        match self.database.with_session(Some(constraint)) {
            Ok(session) => self.session = Some(session),
            Err(err) => worker::console_warn!("D1 sessions are unavailable: {err}"),
        }
    }

    /// The newest bookmark the session has seen, if any; also remembered
    /// as the isolate's when it is newer.
    pub fn bookmark(&self) -> Option<String> {
        let bookmark = self.session.as_ref()?.get_bookmark().ok().flatten()?;
        ISOLATE_BOOKMARK.with(|kept| {
            let mut kept = kept.borrow_mut();
            if kept.as_deref().is_none_or(|old| old < bookmark.as_str()) {
                *kept = Some(bookmark.clone());
            }
        });
        Some(bookmark)
    }

    pub fn prepare<T: Into<String>>(&self, query: T) -> D1PreparedStatement {
        if self.counted {
            STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match &self.session {
            Some(session) => session.prepare(query),
            None => self.database.prepare(query),
        }
    }

    /// Runs `statements` as one transaction, in the session if one is open.
    pub async fn batch(
        &self,
        statements: Vec<D1PreparedStatement>,
    ) -> worker::Result<Vec<worker::D1Result>> {
        match &self.session {
            Some(session) => session.batch(statements).await,
            None => self.database.batch(statements).await,
        }
    }
}

impl std::ops::Deref for Db {
    type Target = D1Database;

    fn deref(&self) -> &D1Database {
        &self.database
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
