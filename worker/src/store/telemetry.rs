//! Telemetry windows (clients' reports and the Worker's own predictions)
//! and the totals the cron compacts old windows into.

use outpost_core::telemetry::LATENCY_BOUNDS_US;

use crate::ctx::Ctx;
use crate::db;

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
