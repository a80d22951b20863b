//! Ground truth: `POST …/models/{model}/feedback` (outcomes for Worker
//! predictions), `POST …/models/{model}/outcomes` (windows devices
//! aggregated) and `GET …/models/{model}/quality` — each extracts, calls one
//! use case of `outpost_registry::quality`, and maps its answer.

use outpost_core::api::{FeedbackRequest, OutcomeReport};
use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::parse_window;
use outpost_registry::quality::{self, QualityQuery};
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;

/// `POST /v1/orgs/{org}/models/{model}/feedback` `{outcomes: [{prediction_id, row, label, value}]}`.
pub async fn post_feedback(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let request: FeedbackRequest = http::read_json(req).await?;
    let accepted = quality::give_feedback(
        &D1Store::new(ctx),
        ctx.org()?,
        matched.param("model"),
        &request,
    )
    .await?;
    Ok(http::json(&accepted, 202)?)
}

/// `POST /v1/orgs/{org}/models/{model}/outcomes` `{version, stage, id, window}`.
pub async fn post_outcomes(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let report: OutcomeReport = http::read_json(req).await?;
    let accepted = quality::report_outcomes(
        &D1Store::new(ctx),
        ctx.org()?,
        matched.param("model"),
        &report,
    )
    .await?;
    Ok(http::json(&accepted, 202)?)
}

/// `GET /v1/orgs/{org}/models/{model}/quality?version=&stage=&window=&positive=&low=`.
pub async fn get_quality(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let (mut version, mut window, mut stage, mut positive, mut low) =
        (None, "24h".to_owned(), None, None, 0.5);
    for (key, value) in http::query(req, &["version", "window", "stage", "positive", "low"])? {
        match key.as_str() {
            "version" => version = Some(value),
            "window" => window = value,
            "stage" => stage = Some(value.parse::<Stage>().map_err(ApiError::bad_request)?),
            "positive" => positive = Some(value),
            "low" => {
                low = value
                    .parse::<f64>()
                    .ok()
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| ApiError::bad_request("low is a number between 0 and 1"))?;
            }
            _ => {}
        }
    }
    let version = version.ok_or_else(|| {
        ApiError::bad_request("name the version whose outcomes to score: ?version=1.2.0")
    })?;
    let window_ms = parse_window(&window).map_err(ApiError::bad_request)?;
    let view = quality::version_quality(
        &D1Store::new(ctx),
        ctx.org()?,
        &QualityQuery {
            model: matched.param("model"),
            version: &version,
            stage,
            window: (&window, window_ms),
            positive: positive.as_deref(),
            low,
        },
    )
    .await?;
    Ok(http::json(&view, 200)?)
}
