//! Telemetry: windows of aggregated sketches from clients
//! (`POST …/models/{model}/telemetry`) and from Worker-side predictions, and
//! the performance report over them (`GET …/models/{model}/performance`).
//! Windows are validated by `outpost_core::telemetry` before they are stored;
//! the report is the core's merge of what was stored.

use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::{TelemetryWindow, performance};
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
    for (key, value) in req.url()?.query_pairs() {
        match key.as_ref() {
            "since" => {
                since = value
                    .parse()
                    .map_err(|_| ApiError::bad_request("since is milliseconds since the epoch"))?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{other}`; use since"
                )));
            }
        }
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
    let windows: Vec<(&Row, TelemetryWindow)> = rows
        .iter()
        .filter_map(|row| serde_json::from_str(&row.window).ok().map(|w| (row, w)))
        .collect();
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
