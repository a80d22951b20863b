//! Telemetry: windows of aggregated sketches from clients
//! (`POST …/models/{model}/telemetry`) and from Worker-side predictions, and
//! the performance report over them (`GET …/models/{model}/performance`).
//! Windows are validated by `outpost_core::telemetry` before they are stored;
//! the report is the core's merge of what was stored.

use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::{
    Histogram, LATENCY_BOUNDS_US, MAX_WINDOW_MS, REPORT_SAMPLE, TelemetryWindow, merge_samples,
    merge_timing, parse_window, performance,
};
use serde_json::json;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryReport {
    version: String,
    stage: Stage,
    window: TelemetryWindow,
}

/// Stores one window (already validated).
pub async fn store(
    ctx: &Ctx,
    model: &str,
    version: &str,
    stage: Stage,
    source: &str,
    window: &TelemetryWindow,
) -> ApiResult<()> {
    ctx.db
        .prepare(
            "INSERT INTO telemetry_windows (org, model, version, stage, source, received_at, window)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&[
            db::text(ctx.org()?),
            db::text(model),
            db::text(version),
            db::text(stage.as_str()),
            db::text(source),
            db::int(ctx.now),
            db::text(&serde_json::to_string(window)?),
        ])?
        .run()
        .await?;
    Ok(())
}

/// `POST /v1/orgs/{org}/models/{model}/telemetry` `{version, stage, window}`.
pub async fn post(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let report: TelemetryReport = http::read_json(req).await?;
    report
        .window
        .validate()
        .map_err(|err| ApiError::unprocessable(err.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Row {
        #[allow(dead_code)]
        hit: f64,
    }
    let known = db::first::<Row>(
        &ctx.db
            .prepare("SELECT 1 AS hit FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3")
            .bind(&[
                db::text(ctx.org()?),
                db::text(model),
                db::text(&report.version),
            ])?,
    )
    .await?;
    if known.is_none() {
        crate::handlers::models::load(ctx, model).await?;
        return Err(ApiError::unprocessable(format!(
            "{model} has no version `{}`; telemetry is reported for registered versions",
            report.version
        )));
    }
    store(
        ctx,
        model,
        &report.version,
        report.stage,
        "client",
        &report.window,
    )
    .await?;
    Ok(http::json(
        &json!({"accepted": true, "calls": report.window.calls, "rows": report.window.rows}),
        202,
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}/performance?since=`: calls, errors,
/// error rate and latency quantiles per version, stage and source.
pub async fn performance_report(
    ctx: &Ctx,
    req: &Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let model = matched.param("model");
    let mut since = 0i64;
    for (_, value) in http::query(req, &["since"])? {
        since = value
            .parse()
            .map_err(|_| ApiError::bad_request("since is milliseconds since the epoch"))?;
    }
    crate::handlers::models::load(ctx, model).await?;
    #[derive(serde::Deserialize)]
    struct Row {
        version: String,
        stage: String,
        source: String,
        window: String,
    }
    let rows: Vec<Row> = db::all(
        &ctx.db
            .prepare(
                "SELECT version, stage, source, window FROM telemetry_windows
                 WHERE org = ?1 AND model = ?2 AND received_at >= ?3 ORDER BY id LIMIT 50000",
            )
            .bind(&[db::text(ctx.org()?), db::text(model), db::int(since)])?,
    )
    .await?;
    let mut windows: Vec<(&Row, TelemetryWindow)> = rows
        .iter()
        .filter_map(|row| serde_json::from_str(&row.window).ok().map(|w| (row, w)))
        .collect();
    // All time (the default) includes what the cron compacted.
    let totals = if since == 0 {
        compacted(ctx, model).await?
    } else {
        Vec::new()
    };
    let total_rows: Vec<Row> = totals
        .iter()
        .map(|t| Row {
            version: t.version.clone(),
            stage: t.stage.clone(),
            source: t.source.clone(),
            window: String::new(),
        })
        .collect();
    for (row, total) in total_rows.iter().zip(&totals) {
        windows.push((row, total.window()));
    }
    let report = performance(windows.iter().map(|(row, w)| {
        (
            row.version.as_str(),
            row.stage.as_str(),
            row.source.as_str(),
            w,
        )
    }));
    Ok(http::json(
        &json!({"model": model, "since": since, "rows": report}),
        200,
    )?)
}

/// Windows of one version (optionally one stage) received since `since`.
pub async fn windows_of(
    ctx: &Ctx,
    model: &str,
    version: &str,
    stage: Option<&str>,
    since: i64,
) -> ApiResult<Vec<TelemetryWindow>> {
    #[derive(serde::Deserialize)]
    struct Row {
        window: String,
    }
    let rows: Vec<Row> = db::all(
        &ctx.db
            .prepare(
                "SELECT window FROM telemetry_windows
                 WHERE org = ?1 AND model = ?2 AND version = ?3 AND (?4 IS NULL OR stage = ?4)
                   AND received_at >= ?5
                 ORDER BY id DESC LIMIT 20000",
            )
            .bind(&[
                db::text(ctx.org()?),
                db::text(model),
                db::text(version),
                db::opt_text(stage),
                db::int(since),
            ])?,
    )
    .await?;
    Ok(rows
        .iter()
        .filter_map(|row| serde_json::from_str(&row.window).ok())
        .collect())
}

/// `GET /v1/orgs/{org}/models/{model}/drift?version=&window=1h&stage=&share=0.5`:
/// the version's reference profile against the samples its telemetry carried
/// over the window — per feature the test, its p-value or distance, the
/// threshold and the verdict, and dataset drift.
pub async fn drift_report(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let (mut version, mut window, mut stage, mut share) = (None, "1h".to_owned(), None, 0.5);
    for (key, value) in http::query(req, &["version", "window", "stage", "share"])? {
        match key.as_str() {
            "version" => version = Some(value),
            "window" => window = value,
            "stage" => {
                let parsed: Stage = value.parse().map_err(ApiError::bad_request)?;
                stage = Some(parsed);
            }
            "share" => {
                share = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .ok_or_else(|| ApiError::bad_request("share is a number between 0 and 1"))?;
            }
            _ => {}
        }
    }
    let version = version.ok_or_else(|| {
        ApiError::bad_request("name the version whose telemetry to test: ?version=1.2.0")
    })?;
    let window_ms = parse_window(&window).map_err(ApiError::bad_request)?;
    crate::handlers::models::load(ctx, model).await?;
    let org = ctx.org()?;
    crate::handlers::versions::load(ctx, model, &version)
        .await?
        .ok_or_else(|| crate::handlers::versions::not_found(org, model, &version))?;
    let profile = crate::handlers::profiles::load(ctx, model, &version)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "{model}@{version} has no reference profile to compare with; register one with `outpost push --reference sample.csv`"
            ))
        })?;
    let since = ctx.now - window_ms;
    let windows = windows_of(ctx, model, &version, stage.map(Stage::as_str), since).await?;
    let timing = merge_timing(&windows);
    let samples = merge_samples(&windows, REPORT_SAMPLE);
    let report = profile.drift(&samples, share);
    Ok(http::json(
        &json!({
            "model": model,
            "version": version,
            "stage": stage,
            "window": window,
            "since": since,
            "windows": windows.len(),
            "calls": timing.calls,
            "rows": timing.rows,
            "share_threshold": share,
            "dataset": report.dataset,
            "features": report.features,
        }),
        200,
    )?)
}

/// Windows are kept this long — past the longest report window, so every
/// drift report and guardrail check sees all it asks for — then compacted.
pub const KEEP_MS: i64 = MAX_WINDOW_MS + 5 * 86_400_000;

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
pub async fn compacted(ctx: &Ctx, model: &str) -> ApiResult<Vec<Total>> {
    Ok(db::all::<Total>(
        &ctx.db
            .prepare(
                "SELECT version, stage, source, calls, errors, rows, latency FROM telemetry_totals
                 WHERE org = ?1 AND model = ?2 ORDER BY version, stage, source",
            )
            .bind(&[db::text(ctx.org()?), db::text(model)])?,
    )
    .await?)
}

/// Folds windows received before `now − KEEP_MS` into `telemetry_totals`
/// and deletes them, in one batch (so nothing is counted twice or lost).
/// Returns how many windows were compacted.
pub async fn compact(database: &worker::D1Database, now: i64) -> ApiResult<usize> {
    let cutoff = now - KEEP_MS;
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
