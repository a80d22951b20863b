//! Usage counted for registry statistics (`outpost_core::stats`): each
//! isolate holds its counts of resolves and downloads in memory and adds
//! them to D1's hourly `usage_counts` rows after a response once a minute
//! has passed or a thousand events are held (any request of the isolate's
//! checks), after the cron, and before `/stats` reads — never a write per
//! resolve (issue "Edge-native hot path"). An isolate evicted while it
//! holds counts loses them: these are statistics, not an audit.

use std::cell::{Cell, RefCell};

use outpost_core::stats::{Pending, UsageKind};
use worker::Env;

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::default();
    /// When this isolate's write under way began (ms), if one is.
    static WRITING_SINCE: Cell<Option<i64>> = const { Cell::new(None) };
}

/// A write under way for longer than this is taken to have been dropped
/// (its request's `waitUntil` cut short), so writing goes on (ms).
const WRITE_GIVEN_UP_AFTER_MS: i64 = 30_000;

/// Counts one event of `subject` (a model for resolves; `sha256:…` or
/// `model:NAME` for downloads) at `now_ms`.
pub fn count(org: &str, kind: UsageKind, subject: &str, now_ms: i64) {
    PENDING.with(|pending| pending.borrow_mut().count(org, kind, subject, now_ms));
}

fn writing(now_ms: i64) -> bool {
    WRITING_SINCE
        .with(Cell::get)
        .is_some_and(|since| now_ms - since < WRITE_GIVEN_UP_AFTER_MS)
}

/// Whether this isolate should write its counts now.
pub fn due(now_ms: i64) -> bool {
    !writing(now_ms) && PENDING.with(|pending| pending.borrow().due(now_ms))
}

/// Writes this isolate's counts (one D1 batch: all or none), adding to the
/// hours' rows; a failed batch's counts are lost, and logged.
pub async fn write(env: &Env) {
    let now = worker::Date::now().as_millis() as i64;
    if writing(now) {
        return;
    }
    let rows = PENDING.with(|pending| pending.borrow_mut().take());
    if rows.is_empty() {
        return;
    }
    WRITING_SINCE.with(|since| since.set(Some(now)));
    match env.d1(crate::ctx::D1_BINDING) {
        Ok(database) => {
            let mut db = crate::db::Db::new(database);
            // Counted as the requests' statements are: the benchmark's
            // statements per resolve include these writes.
            db.count_statements();
            if let Err(err) = crate::store::stats::add_usage(&db, &rows).await {
                worker::console_error!("writing {} usage counts: {err}", rows.len());
            }
        }
        Err(err) => worker::console_error!("usage counts not written: {err}"),
    }
    WRITING_SINCE.with(|since| since.set(None));
}

/// Waits (a few ms at a time, at most two seconds) for a write this
/// isolate has under way, so that what it took is in D1 before `/stats`
/// reads; then writes what is left.
pub async fn settle(env: &Env) {
    for _ in 0..400 {
        if !writing(worker::Date::now().as_millis() as i64) {
            break;
        }
        worker::Delay::from(std::time::Duration::from_millis(5)).await;
    }
    write(env).await;
}
