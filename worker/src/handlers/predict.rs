//! Predictions in the Worker: `POST …/models/{model}/predict?stage=&device=`
//! picks the version exactly as a device resolving the stage would
//! (`outpost_registry::routing`: same rollout, same sticky bucket, the same
//! 409 when the stage names a version — primary or shadow — that no longer
//! exists), runs it with `outpost-infer`, and also runs the stage's shadow
//! version when one is set; the shadow's output is recorded for comparison,
//! never returned.
//!
//! Loaded models are cached per isolate by digest within a memory budget, so
//! a warm isolate only runs. Every artifact read from R2 is re-hashed against
//! its registered digest before it is loaded.

use std::cell::RefCell;

use outpost_core::ProblemKind;
use outpost_core::api::{Prediction, ShadowResult, ShadowResults};
use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::TelemetryWindow;
use outpost_infer::cache::ModelCache;
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use outpost_infer::{Model, RunError};
use serde_json::Value;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store};
use outpost_registry::ports::Telemetry as _;
use outpost_registry::ports::{Rehashed, VersionArtifact};
use outpost_registry::routing::{DeviceQuestion, Routed, route_device};

/// Artifact bytes of loaded models an isolate keeps (Workers have 128 MB).
const MODEL_CACHE_BYTES: u64 = 48 << 20;
/// Outputs larger than this are recorded as too large, not stored.
const MAX_RECORDED_OUTPUTS: usize = 64 << 10;

thread_local! {
    static MODELS: RefCell<ModelCache<Model>> = RefCell::new(ModelCache::new(MODEL_CACHE_BYTES));
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// How a model was obtained, for Server-Timing.
struct Loaded {
    model: Model,
    fetch_ms: f64,
    load_ms: f64,
    cached: bool,
}

/// The model for `row`: from the isolate's cache, or read from R2, re-hashed
/// against its digest, loaded and cached.
async fn loaded(ctx: &Ctx, model: &str, row: &VersionArtifact) -> ApiResult<Loaded> {
    let key = row.digest.to_string();
    if let Some(cached) = MODELS.with(|m| m.borrow_mut().get(&key)) {
        return Ok(Loaded {
            model: cached,
            fetch_ms: 0.0,
            load_ms: 0.0,
            cached: true,
        });
    }
    let name = format!("{model}@{}", row.version);
    let digest = row.digest;
    let started = now_ms();
    let fetched = crate::store::lifecycle::reverify(ctx, ctx.org()?, &digest).await?;
    let fetch_ms = now_ms() - started;
    let bytes = match fetched {
        None => {
            return Err(ApiError::new(
                ProblemKind::ServiceUnavailable,
                format!("the artifact of {name} is missing from storage"),
            ));
        }
        Some(Rehashed { matches: false, .. }) => {
            return Err(ApiError::new(
                ProblemKind::ServiceUnavailable,
                format!(
                    "the stored artifact of {name} does not match its digest {digest}; refusing to run it"
                ),
            ));
        }
        Some(Rehashed { bytes: None, .. }) => {
            return Err(ApiError::unprocessable(format!(
                "{name} is too large to run in the Worker ({} bytes)",
                row.length
            )));
        }
        Some(Rehashed {
            bytes: Some(bytes), ..
        }) => bytes,
    };
    let started = now_ms();
    let model = Model::load(&bytes)
        .map_err(|err| ApiError::unprocessable(format!("{name} cannot be run: {err}")))?;
    let load_ms = now_ms() - started;
    MODELS.with(|m| m.borrow_mut().insert(&key, model.clone(), row.length));
    Ok(Loaded {
        model,
        fetch_ms,
        load_ms,
        cached: false,
    })
}

/// What one run gave: outputs, and the first input's numbers for telemetry.
struct RunOutcome {
    outputs: Value,
    features: Option<(Vec<f64>, usize)>,
}

/// Runs `model` on the JSON inputs; a wrong input is a 422 naming it.
fn run(name: &str, model: &Model, inputs: &Value) -> ApiResult<RunOutcome> {
    let declared = || {
        model
            .inputs()
            .iter()
            .map(|spec| {
                let shape: Vec<String> = spec.shape.iter().map(ToString::to_string).collect();
                format!("{} {}[{}]", spec.name, spec.element_type, shape.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tensors = inputs_from_json(model.inputs(), inputs)
        .map_err(|err| ApiError::unprocessable(format!("{err} ({name} takes {})", declared())))?;
    match model.run(&tensors) {
        Ok(outputs) => Ok(RunOutcome {
            outputs: outputs_to_json(&outputs),
            features: outpost_infer::tensor::feature_rows(&tensors),
        }),
        Err(RunError::Input(err)) => Err(ApiError::unprocessable(format!(
            "{err} ({name} takes {})",
            declared()
        ))),
        Err(err) => Err(ApiError::unprocessable(format!("{name}: {err}"))),
    }
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
    let name = format!("{model}@{}", primary_row.version);
    let primary = loaded(ctx, &model, &primary_row).await?;
    crate::request_metrics::record_cache(
        (ctx.org()?.to_owned(), matched.spec.path, model.clone()),
        primary.cached,
    );
    let started = now_ms();
    let outcome = run(&name, &primary.model, &inputs)?;
    let run_ms = now_ms() - started;
    let outputs = outcome.outputs;
    // The Worker's own telemetry: one window per prediction.
    let mut window = TelemetryWindow::new(Vec::new());
    match &outcome.features {
        Some((values, columns)) => window.record_call(values, *columns, run_ms * 1e3),
        None => window.record_call(&[], 0, run_ms * 1e3),
    }
    D1Store::new(ctx)
        .insert_window(
            ctx.org()?,
            (&model, &assignment.version, stage, "worker"),
            &window,
        )
        .await?;

    let mut timing = vec![
        format!("fetch;dur={:.1}", primary.fetch_ms),
        format!("load;dur={:.1}", primary.load_ms),
        format!("run;dur={run_ms:.1}"),
        format!(
            "cache;desc=\"{}\"",
            if primary.cached { "hit" } else { "miss" }
        ),
    ];
    if let Some(shadow_row) = &shadow_row {
        let shadow = &shadow_row.version;
        let started = now_ms();
        let result = match loaded(ctx, &model, shadow_row).await {
            Ok(loaded) => run(&format!("{model}@{shadow}"), &loaded.model, &inputs)
                .map(|outcome| outcome.outputs),
            Err(err) => Err(err),
        };
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
