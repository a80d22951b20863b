//! Telemetry windows (clients' reports and the Worker's own predictions)
//! and the totals the cron compacts old windows into.

use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::{Histogram, LATENCY_BOUNDS_US, TelemetryWindow};

use crate::ctx::Ctx;
use crate::db;

/// Stores one window (validated by the caller) as JSON text.
pub async fn insert_window(
    ctx: &Ctx,
    org: &str,
    (model, version, stage, source): (&str, &str, Stage, &str),
    window: &str,
) -> worker::Result<()> {
    ctx.db
        .prepare(
            "INSERT INTO telemetry_windows (org, model, version, stage, source, received_at, window)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&[
            db::text(org),
            db::text(model),
            db::text(version),
            db::text(stage.as_str()),
            db::text(source),
            db::int(ctx.now),
            db::text(window),
        ])?
        .run()
        .await?;
    Ok(())
}

/// A stored window with what it was reported for.
#[derive(Debug, serde::Deserialize)]
pub struct WindowRow {
    pub version: String,
    pub stage: String,
    pub source: String,
    pub window: String,
    /// When the window was received (ms since the epoch).
    #[serde(default)]
    pub received_at: f64,
}

/// A model's windows received since `since` (ms), oldest first, at most
/// 50 000.
pub async fn windows_since(
    ctx: &Ctx,
    org: &str,
    model: &str,
    since: i64,
) -> worker::Result<Vec<WindowRow>> {
    db::all(
        &ctx.db
            .prepare(
                "SELECT version, stage, source, window, received_at FROM telemetry_windows
                 WHERE org = ?1 AND model = ?2 AND received_at >= ?3 ORDER BY id LIMIT 50000",
            )
            .bind(&[db::text(org), db::text(model), db::int(since)])?,
    )
    .await
}

#[derive(Debug, serde::Deserialize)]
pub struct JustWindow {
    pub window: String,
}

/// One version's windows (optionally one stage) since `since`, newest
/// first, at most 20 000.
pub async fn version_windows(
    ctx: &Ctx,
    org: &str,
    (model, version): (&str, &str),
    stage: Option<&str>,
    since: i64,
) -> worker::Result<Vec<JustWindow>> {
    db::all(
        &ctx.db
            .prepare(
                "SELECT window FROM telemetry_windows
                 WHERE org = ?1 AND model = ?2 AND version = ?3 AND (?4 IS NULL OR stage = ?4)
                   AND received_at >= ?5
                 ORDER BY id DESC LIMIT 20000",
            )
            .bind(&[
                db::text(org),
                db::text(model),
                db::text(version),
                db::opt_text(stage),
                db::int(since),
            ])?,
    )
    .await
}

/// Sums per model, version, stage and source over every stored window and
/// total: calls, errors, rows, and the latency histogram (a JSON array over
/// `LATENCY_BOUNDS_US` plus the overflow bin).
#[derive(Debug, serde::Deserialize)]
pub struct PredictionRow {
    pub model: String,
    pub version: String,
    pub stage: String,
    pub source: String,
    pub calls: Option<f64>,
    pub errors: Option<f64>,
    pub rows: Option<f64>,
    pub latency: String,
}

pub async fn prediction_totals(ctx: &Ctx, org: &str) -> worker::Result<Vec<PredictionRow>> {
    let bins = 0..=LATENCY_BOUNDS_US.len();
    let window_bins: Vec<String> = bins
        .clone()
        .map(|i| format!("json_extract(window, '$.latency.counts[{i}]') AS l{i}"))
        .collect();
    let total_bins: Vec<String> = bins
        .clone()
        .map(|i| format!("json_extract(latency, '$[{i}]') AS l{i}"))
        .collect();
    let sums: Vec<String> = bins.map(|i| format!("sum(l{i})")).collect();
    db::all::<PredictionRow>(
        &ctx.db
            .prepare(format!(
                "SELECT model, version, stage, source, sum(calls) AS calls, sum(errors) AS errors,
                        sum(rows) AS rows, json_array({sums}) AS latency
                 FROM (
                   SELECT model, version, stage, source, json_extract(window, '$.calls') AS calls,
                          json_extract(window, '$.errors') AS errors, json_extract(window, '$.rows') AS rows,
                          {window_bins}
                   FROM telemetry_windows WHERE org = ?1
                   UNION ALL
                   SELECT model, version, stage, source, calls, errors, rows, {total_bins}
                   FROM telemetry_totals WHERE org = ?1
                 )
                 GROUP BY model, version, stage, source ORDER BY model, version, stage, source",
                sums = sums.join(", "),
                window_bins = window_bins.join(", "),
                total_bins = total_bins.join(", "),
            ))
            .bind(&[db::text(org)])?,
    )
    .await
}

/// Compacted telemetry of one (model, version, stage, source).
#[derive(serde::Deserialize)]
pub struct Total {
    pub version: String,
    pub stage: String,
    pub source: String,
    pub calls: f64,
    pub errors: f64,
    pub rows: f64,
    pub latency: String,
}

impl Total {
    /// As a window of calls, errors, rows and latency (no features).
    pub fn window(&self) -> TelemetryWindow {
        let mut window = TelemetryWindow::new(Vec::new());
        window.calls = db::as_i64(self.calls) as u64;
        window.errors = db::as_i64(self.errors) as u64;
        window.rows = db::as_i64(self.rows) as u64;
        let counts: Vec<u64> = serde_json::from_str::<Vec<Option<f64>>>(&self.latency)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.unwrap_or(0.0) as u64)
            .collect();
        if counts.len() == LATENCY_BOUNDS_US.len() + 1 {
            window.latency = Histogram {
                edges: LATENCY_BOUNDS_US.to_vec(),
                counts,
                missing: 0,
            };
        }
        window
    }
}

/// One model's compacted totals.
pub async fn totals(ctx: &Ctx, org: &str, model: &str) -> worker::Result<Vec<Total>> {
    db::all::<Total>(
        &ctx.db
            .prepare(
                "SELECT version, stage, source, calls, errors, rows, latency FROM telemetry_totals
                 WHERE org = ?1 AND model = ?2 ORDER BY version, stage, source",
            )
            .bind(&[db::text(org), db::text(model)])?,
    )
    .await
}

/// Folds windows received before `now − KEEP_MS` into `telemetry_totals`
/// and deletes them, in one batch (so nothing is counted twice or lost).
/// Returns how many windows were compacted.
pub async fn compact(database: &worker::D1Database, now: i64) -> worker::Result<usize> {
    let cutoff = now - crate::handlers::telemetry::KEEP_MS;
    let bins = LATENCY_BOUNDS_US.len() + 1;
    let sums: Vec<String> = (0..bins)
        .map(|i| format!("sum(json_extract(window, '$.latency.counts[{i}]'))"))
        .collect();
    let merged: Vec<String> = (0..bins)
        .map(|i| {
            format!(
                "coalesce(json_extract(telemetry_totals.latency, '$[{i}]'), 0) + coalesce(json_extract(excluded.latency, '$[{i}]'), 0)"
            )
        })
        .collect();
    #[derive(serde::Deserialize)]
    struct Count {
        n: f64,
    }
    let old = db::first::<Count>(
        &database
            .prepare("SELECT count(*) AS n FROM telemetry_windows WHERE received_at < ?1")
            .bind(&[db::int(cutoff)])?,
    )
    .await?
    .map_or(0, |c| db::as_i64(c.n) as usize);
    if old == 0 {
        return Ok(0);
    }
    let fold = database
        .prepare(format!(
            "INSERT INTO telemetry_totals (org, model, version, stage, source, calls, errors, rows, latency, compacted_through)
             SELECT org, model, version, stage, source,
                    sum(json_extract(window, '$.calls')), sum(json_extract(window, '$.errors')),
                    sum(json_extract(window, '$.rows')), json_array({}), ?1
             FROM telemetry_windows WHERE received_at < ?1
             GROUP BY org, model, version, stage, source
             ON CONFLICT (org, model, version, stage, source) DO UPDATE SET
               calls = telemetry_totals.calls + excluded.calls,
               errors = telemetry_totals.errors + excluded.errors,
               rows = telemetry_totals.rows + excluded.rows,
               latency = json_array({}),
               compacted_through = excluded.compacted_through",
            sums.join(", "),
            merged.join(", ")
        ))
        .bind(&[db::int(cutoff)])?;
    let delete = database
        .prepare("DELETE FROM telemetry_windows WHERE received_at < ?1")
        .bind(&[db::int(cutoff)])?;
    database.batch(vec![fold, delete]).await?;
    Ok(old)
}
