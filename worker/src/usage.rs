//! Usage counted for registry statistics (`outpost_core::stats`): each
//! isolate holds its counts of resolves and downloads in memory and writes
//! them to D1's `usage_counts` after the response, at most every minute or
//! thousand events — never a write per resolve (issue "Edge-native hot
//! path"). An isolate evicted before it writes loses what it held: these are
//! statistics, not an audit.

use std::cell::{Cell, RefCell};

use outpost_core::stats::{Pending, UsageKind};
use worker::Env;

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::default();
    /// Whether a write of this isolate is under way (one at a time).
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

/// Rows per statement: five parameters each, within D1's 100.
const ROWS_PER_STATEMENT: usize = 20;

/// Counts one event of `subject` (a model for resolves; `sha256:…` or
/// `model:NAME` for downloads) at `now_ms`.
pub fn count(org: &str, kind: UsageKind, subject: &str, now_ms: i64) {
    PENDING.with(|pending| pending.borrow_mut().count(org, kind, subject, now_ms));
}

/// Whether this isolate should write its counts now.
pub fn due(now_ms: i64) -> bool {
    !WRITING.with(Cell::get) && PENDING.with(|pending| pending.borrow().due(now_ms))
}

/// Writes this isolate's counts, adding to the hours' rows. A failed
/// statement's counts are lost (logged); the others are written.
pub async fn write(env: &Env) {
    if WRITING.with(|writing| writing.replace(true)) {
        return;
    }
    let rows = PENDING.with(|pending| pending.borrow_mut().take());
    if !rows.is_empty() {
        match env.d1(crate::ctx::D1_BINDING) {
            Ok(database) => {
                let mut db = crate::db::Db::new(database);
                // Counted as the requests' statements are: the benchmark's
                // statements per resolve include these writes.
                db.count_statements();
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    if let Err(err) = write_rows(&db, chunk).await {
                        worker::console_error!("writing {} usage counts: {err}", chunk.len());
                    }
                }
            }
            Err(err) => worker::console_error!("usage counts not written: {err}"),
        }
    }
    WRITING.with(|writing| writing.set(false));
}

async fn write_rows(
    db: &crate::db::Db,
    rows: &[(String, UsageKind, String, i64, u64)],
) -> worker::Result<()> {
    let values: Vec<String> = (0..rows.len())
        .map(|i| {
            let n = i * 5;
            format!(
                "(?{}, ?{}, ?{}, ?{}, ?{})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    let mut params = Vec::with_capacity(rows.len() * 5);
    for (org, kind, subject, hour, count) in rows {
        params.extend([
            crate::db::text(org),
            crate::db::text(kind.as_str()),
            crate::db::text(subject),
            crate::db::int(*hour),
            crate::db::int(*count as i64),
        ]);
    }
    db.prepare(format!(
        "INSERT INTO usage_counts (org, kind, subject, hour, count) VALUES {}
         ON CONFLICT (org, kind, subject, hour) DO UPDATE SET count = count + excluded.count",
        values.join(", ")
    ))
    .bind(&params)?
    .run()
    .await?;
    Ok(())
}
