//! Telemetry: windows of aggregated sketches from clients
//! (`POST …/models/{model}/telemetry`) and from Worker-side predictions, and
//! the performance report over them (`GET …/models/{model}/performance`).
//! Windows are validated by `outpost_core::telemetry` before they are stored;
//! the report is the core's merge of what was stored.

use outpost_core::api::{DriftReportView, PerformanceReport, TelemetryAccepted, TelemetryReport};
use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::{
    MAX_WINDOW_MS, REPORT_SAMPLE, TelemetryWindow, merge_samples, merge_timing, parse_window,
    performance_series, series_buckets,
};
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store, telemetry::WindowRow};
use outpost_registry::ports::Profiles as _;
use outpost_registry::telemetry;

/// `POST /v1/orgs/{org}/models/{model}/telemetry` `{version, stage, window}`.
pub async fn post_telemetry(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let model = matched.param("model");
    let report: TelemetryReport = http::read_json(req).await?;
    telemetry::report_window(
        &D1Store::new(ctx),
        ctx.org()?,
        (model, &report.version, report.stage),
        &report.window,
    )
    .await?;
    Ok(http::json(
        &TelemetryAccepted {
            accepted: true,
            calls: report.window.calls,
            rows: report.window.rows,
        },
        202,
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}/performance?since=&step=`: calls,
/// errors, error rate and latency quantiles per version, stage and source;
/// with `step` (`5m`, `1h`, …) also per bucket of that width from `since`.
pub async fn performance(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let mut since = 0i64;
    let mut step_ms = None;
    for (name, value) in http::query(req, &["since", "step"])? {
        if name == "step" {
            step_ms = Some(parse_window(&value).map_err(ApiError::bad_request)?);
        } else {
            since = value
                .parse()
                .map_err(|_| ApiError::bad_request("since is milliseconds since the epoch"))?;
        }
    }
    if let Some(step_ms) = step_ms {
        // Well-formed, but not a series this answer can give: 422.
        series_buckets(since, ctx.now, step_ms).map_err(ApiError::unprocessable)?;
    }
    crate::lookup::model(ctx, model).await?;
    let rows = store::telemetry::windows_since(ctx, ctx.org()?, model, since).await?;
    let mut windows: Vec<(&WindowRow, TelemetryWindow)> = rows
        .iter()
        .filter_map(|row| serde_json::from_str(&row.window).ok().map(|w| (row, w)))
        .collect();
    // All time (the default) includes what the cron compacted.
    let totals = if since == 0 {
        compacted(ctx, model).await?
    } else {
        Vec::new()
    };
    let total_rows: Vec<WindowRow> = totals
        .iter()
        .map(|t| WindowRow {
            version: t.version.clone(),
            stage: t.stage.clone(),
            source: t.source.clone(),
            window: String::new(),
            received_at: 0.0,
        })
        .collect();
    for (row, total) in total_rows.iter().zip(&totals) {
        windows.push((row, total.window()));
    }
    // Compacted totals (appended above) have no time: the series leaves them out.
    let series = step_ms.map(|step_ms| {
        performance_series(
            windows
                .iter()
                .filter(|(row, _)| !row.window.is_empty())
                .map(|(row, w)| {
                    (
                        row.received_at as i64,
                        row.version.as_str(),
                        row.stage.as_str(),
                        row.source.as_str(),
                        w,
                    )
                }),
            since,
            step_ms,
        )
    });
    let report = outpost_core::telemetry::performance(windows.iter().map(|(row, w)| {
        (
            row.version.as_str(),
            row.stage.as_str(),
            row.source.as_str(),
            w,
        )
    }));
    Ok(http::json(
        &PerformanceReport {
            model: model.to_owned(),
            since,
            rows: report,
            step_ms,
            series,
        },
        200,
    )?)
}

/// Windows of one version (optionally one stage) received since `since`.
pub async fn windows_of(
    ctx: &Ctx,
    org: &str,
    model: &str,
    version: &str,
    stage: Option<&str>,
    since: i64,
) -> ApiResult<Vec<TelemetryWindow>> {
    let rows = store::telemetry::version_windows(ctx, org, (model, version), stage, since).await?;
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
    crate::lookup::model(ctx, model).await?;
    crate::lookup::version(ctx, model, &version).await?;
    let profile = D1Store::new(ctx)
        .reference_profile(ctx.org()?, model, &version)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "{model}@{version} has no reference profile to compare with; register one with `outpost push --reference sample.csv`"
            ))
        })?;
    let since = ctx.now - window_ms;
    let windows = windows_of(
        ctx,
        ctx.org()?,
        model,
        &version,
        stage.map(Stage::as_str),
        since,
    )
    .await?;
    let timing = merge_timing(&windows);
    let samples = merge_samples(&windows, REPORT_SAMPLE);
    let report = profile.drift(&samples, share);
    Ok(http::json(
        &DriftReportView {
            model: model.to_owned(),
            version,
            stage,
            window,
            since,
            windows: windows.len(),
            calls: timing.calls,
            rows: timing.rows,
            share_threshold: share,
            dataset: report.dataset,
            features: report.features,
        },
        200,
    )?)
}

/// Windows are kept this long — past the longest report window, so every
/// drift report and guardrail check sees all it asks for — then compacted.
pub const KEEP_MS: i64 = MAX_WINDOW_MS + 5 * 86_400_000;

pub use crate::store::telemetry::Total;

/// One model's compacted totals.
pub async fn compacted(ctx: &Ctx, model: &str) -> ApiResult<Vec<Total>> {
    Ok(store::telemetry::totals(ctx, ctx.org()?, model).await?)
}
