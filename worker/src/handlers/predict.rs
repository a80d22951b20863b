//! Predictions in the Worker: `POST …/models/{model}/predict?stage=&device=`
//! picks the version exactly as a device resolving the stage would
//! (`outpost_registry::routing`: same rollout, same sticky bucket, the same
//! 409 when the stage names a version — primary or shadow — that no longer
//! exists), has the inference Worker run it (`crate::inference`), and also
//! runs the stage's shadow version when one is set; the shadow's output is
//! recorded for comparison, never returned.
//!
//! The inference Worker re-hashes every artifact it reads from R2 against
//! its registered digest before loading it, and keeps loaded models per
//! isolate, so a warm isolate only runs.

use outpost_core::api::{Prediction, ShadowResult, ShadowResults};
use outpost_core::lifecycle::Stage;
use outpost_infer::remote::{RunRequest, RunResult, SealedArtifact};
use serde_json::Value;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store};
use outpost_registry::ports::Telemetry as _;
use outpost_registry::ports::VersionArtifact;
use outpost_registry::routing::{DeviceQuestion, Routed, route_device};

/// Outputs larger than this are recorded as too large, not stored.
const MAX_RECORDED_OUTPUTS: usize = 64 << 10;

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// Has the inference Worker run `row` on `inputs`.
async fn run(
    ctx: &Ctx,
    org: &str,
    model: &str,
    row: &VersionArtifact,
    inputs: &Value,
) -> ApiResult<RunResult> {
    let sealed = store::at_rest::for_inference(ctx, org, &row.digest)
        .await?
        .map(|key| SealedArtifact {
            key_version: key.version(),
            key: key.to_hex(),
        });
    crate::inference::run(
        &ctx.env,
        &RunRequest {
            org: org.to_owned(),
            name: format!("{model}@{}", row.version),
            digest: row.digest,
            length: row.length,
            inputs: inputs.clone(),
            sealed,
        },
    )
    .await
}

/// `POST /v1/orgs/{org}/models/{model}/predict?stage=&device=`.
pub async fn predict(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model").to_owned();
    let (stage, device) = http::stage_and_device(req, "predict with")?;
    let inputs: Value = http::read_json(req).await?;
    let org = ctx.org()?.to_owned();
    // The same routing as resolve (outpost_registry::routing): predict runs
    // exactly what resolve would sign for this device.
    let Routed {
        assignment,
        primary: primary_row,
        shadow: shadow_row,
    } = route_device(
        &D1Store::new(ctx),
        &DeviceQuestion {
            org: &org,
            model: &model,
            stage,
            device: device.as_deref(),
        },
    )
    .await?;
    let started = now_ms();
    let primary = run(ctx, &org, &model, &primary_row, &inputs).await?;
    let inference_ms = now_ms() - started;
    crate::request_metrics::record_cache(
        (org.clone(), matched.spec.path, model.clone()),
        primary.cached,
    );
    // The Worker's own telemetry: one window per prediction.
    D1Store::new(ctx)
        .insert_window(
            &org,
            (&model, &assignment.version, stage, "worker"),
            &primary.window,
        )
        .await?;

    let mut timing = vec![
        // The whole call to the inference Worker, the hop included.
        format!("inference;dur={inference_ms:.1}"),
        format!("fetch;dur={:.1}", primary.fetch_ms),
        format!("load;dur={:.1}", primary.load_ms),
        format!("run;dur={:.1}", primary.run_ms),
        format!(
            "cache;desc=\"{}\"",
            if primary.cached { "hit" } else { "miss" }
        ),
    ];
    let outputs = primary.outputs;
    // A classifier's prediction is kept for the outcomes given later.
    let prediction_id = outpost_registry::quality::keep_prediction(
        &D1Store::new(ctx),
        &org,
        (&model, &assignment.version, stage),
        &outputs,
    )
    .await?;
    if let Some(shadow_row) = &shadow_row {
        let shadow = &shadow_row.version;
        let started = now_ms();
        let result = run(ctx, &org, &model, shadow_row, &inputs)
            .await
            .map(|ran| ran.outputs);
        let shadow_ms = now_ms() - started;
        timing.push(format!("shadow;dur={shadow_ms:.1}"));
        record_shadow(
            ctx,
            &model,
            stage,
            device.as_deref(),
            &assignment.version,
            shadow,
            &outputs,
            result,
            shadow_ms,
        )
        .await?;
    }

    let body = Prediction {
        model,
        stage,
        device,
        version: assignment.version,
        arm: assignment.arm,
        digest: primary_row.digest,
        outputs,
        prediction_id,
    };
    let mut response = http::json(&body, 200)?;
    response
        .headers_mut()
        .set("server-timing", &timing.join(", "))?;
    Ok(response)
}

fn bounded(value: &Value) -> Option<String> {
    let text = value.to_string();
    (text.len() <= MAX_RECORDED_OUTPUTS).then_some(text)
}

/// Stores what the shadow version answered next to what the caller got.
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
async fn record_shadow(
    ctx: &Ctx,
    model: &str,
    stage: Stage,
    device: Option<&str>,
    version: &str,
    shadow: &str,
    outputs: &Value,
    result: ApiResult<Value>,
    shadow_ms: f64,
) -> ApiResult<()> {
    let (shadow_outputs, error) = match result {
        Ok(value) => (bounded(&value), None),
        Err(ApiError::Problem(problem)) => (None, problem.detail.clone()),
        Err(ApiError::Internal(cause)) => {
            worker::console_error!("shadow run of {model}@{shadow} failed: {cause}");
            (None, Some("internal error".to_owned()))
        }
    };
    store::shadow::record(
        ctx,
        &store::shadow::ShadowRun {
            org: ctx.org()?,
            model,
            stage,
            device,
            version,
            outputs: bounded(outputs).as_deref(),
            shadow,
            shadow_outputs: shadow_outputs.as_deref(),
            shadow_error: error.as_deref(),
            shadow_ms,
        },
    )
    .await?;
    Ok(())
}

/// `GET /v1/orgs/{org}/models/{model}/shadow-results?stage=&limit=`: the
/// newest recorded shadow runs, each beside what the caller got.
pub async fn shadow_results(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let mut stage: Option<Stage> = None;
    let mut limit = 50i64;
    for (key, value) in http::query(req, &["stage", "limit"])? {
        match key.as_str() {
            "stage" => stage = Some(value.parse::<Stage>().map_err(ApiError::bad_request)?),
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=500).contains(n))
                    .ok_or_else(|| ApiError::bad_request("limit is a number from 1 to 500"))?;
            }
            _ => {}
        }
    }
    crate::lookup::model(ctx, model).await?;
    let rows = store::shadow::newest(ctx, ctx.org()?, model, stage, limit).await?;
    let parse = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
    };
    let results = rows
        .iter()
        .map(|row| ShadowResult {
            stage: row.stage.clone(),
            device: row.device.clone(),
            version: row.version.clone(),
            outputs: parse(&row.outputs),
            shadow_version: row.shadow_version.clone(),
            shadow_outputs: parse(&row.shadow_outputs),
            shadow_error: row.shadow_error.clone(),
            shadow_ms: row.shadow_ms,
            created_at: outpost_core::timefmt::format_utc(as_i64(row.created_at)),
        })
        .collect();
    Ok(http::json(&ShadowResults { results }, 200)?)
}
