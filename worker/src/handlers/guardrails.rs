//! Guardrails at work: the cron measures each guarded canary on the
//! telemetry its stage reported since the rollout began, asks
//! `outpost_core::guardrail::evaluate`, and rolls a tripped canary back — one
//! history entry, one audit entry carrying the measurements, and webhook
//! events, all in one D1 batch. `GET …/stages/{stage}/guardrails` shows the
//! thresholds and the last verdict.

use outpost_core::api::GuardrailStatus;
use outpost_core::lifecycle::Stage;
use worker::Response;

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store, guardrails::GuardrailRow};
use outpost_registry::guardrails::{CheckOutcome, WatchedCanary, check_guardrail};

/// Every guarded rollout, across organisations (for the cron).
pub async fn all(ctx: &Ctx) -> ApiResult<Vec<GuardrailRow>> {
    Ok(store::guardrails::all(ctx).await?)
}

/// Checks one guarded canary of the row's organisation (the cron calls it;
/// `ctx` carries no caller, and a trip is the cron's own move).
pub async fn check(ctx: &Ctx, row: &GuardrailRow) -> ApiResult<CheckOutcome> {
    let watched = WatchedCanary {
        org: row.org.clone(),
        model: row.model.clone(),
        stage: row.stage.parse().map_err(ApiError::internal)?,
        canary: row.canary.clone(),
        since: as_i64(row.since),
        policy: serde_json::from_str(&row.policy)
            .map_err(|_| ApiError::internal("stored guardrails are corrupt"))?,
        drift_notified: as_i64(row.drift_notified) != 0,
    };
    Ok(check_guardrail(&D1Store::new(ctx), &watched).await?)
}

/// `GET /v1/orgs/{org}/models/{model}/stages/{stage}/guardrails`.
pub async fn get_guardrails(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let stage: Stage = matched
        .param("stage")
        .parse()
        .map_err(ApiError::not_found)?;
    crate::lookup::model(ctx, model).await?;
    let row = store::guardrails::of_stage(ctx, ctx.org()?, model, stage)
        .await?
    .ok_or_else(|| {
        ApiError::not_found(format!(
            "{model}@{stage} has no guardrails; set them with the rollout (PUT …/rollout with `guardrails`)"
        ))
    })?;
    // Stored as JSON by the cron; a row it cannot read shows as not checked.
    fn parse<T: serde::de::DeserializeOwned>(text: Option<&str>) -> Option<T> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }
    Ok(http::json(
        &GuardrailStatus {
            model: model.to_owned(),
            stage,
            canary: row.canary.clone(),
            since: as_i64(row.since),
            guardrails: parse(Some(&row.policy)),
            checked_at: row.checked_at.map(as_i64),
            verdict: parse(row.verdict.as_deref()),
            measured: parse(row.measured.as_deref()),
        },
        200,
    )?)
}
