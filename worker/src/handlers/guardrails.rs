//! Guardrails at work: the cron measures each guarded canary on the
//! telemetry its stage reported since the rollout began, asks
//! `outpost_core::guardrail::evaluate`, and rolls a tripped canary back — one
//! history entry, one audit entry carrying the measurements, and webhook
//! events, all in one D1 batch. `GET …/stages/{stage}/guardrails` shows the
//! thresholds and the last verdict.

use outpost_core::guardrail::{
    Guardrails, Measured, Verdict, evaluate, rollback_reason, without_canary,
};
use outpost_core::lifecycle::{Move, Stage, StageState};
use outpost_core::telemetry::{REPORT_SAMPLE, merge_samples, merge_timing};
use serde_json::{Value, json};
use worker::Response;

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{models, profiles, telemetry};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, guardrails::GuardrailRow};
use outpost_registry::ports::Actor;
use outpost_registry::stages::{MoveExtras, StageMove, append_move};

/// Every guarded rollout, across organisations (for the cron).
pub async fn all(ctx: &Ctx) -> ApiResult<Vec<GuardrailRow>> {
    Ok(store::guardrails::all(ctx).await?)
}

/// What one check did.
pub enum Outcome {
    Checked(Verdict),
    RolledBack { seq: i64, reason: String },
}

/// Measures and judges one guarded canary of the row's organisation (the
/// cron calls it; `ctx` carries no caller, and a trip is the cron's move).
pub async fn check(ctx: &Ctx, row: &GuardrailRow) -> ApiResult<Outcome> {
    let policy: Guardrails = serde_json::from_str(&row.policy)
        .map_err(|_| ApiError::internal("stored guardrails are corrupt"))?;
    let stage: Stage = row.stage.parse().map_err(ApiError::internal)?;
    let since = as_i64(row.since);
    let windows = telemetry::windows_of(
        ctx,
        &row.org,
        &row.model,
        &row.canary,
        Some(stage.as_str()),
        since,
    )
    .await?;
    let timing = merge_timing(&windows);
    let drift = profiles::load(ctx, &row.org, &row.model, &row.canary)
        .await?
        .map(|profile| profile.drift(&merge_samples(&windows, REPORT_SAMPLE), 0.5))
        .filter(|report| report.dataset.features > 0);
    let measured = Measured::from_window(&timing, drift.as_ref().map(|d| d.dataset.share));
    let verdict = evaluate(&policy, &measured);
    let drifted = drift.as_ref().is_some_and(|d| d.dataset.drifted);
    let drift_event = drift.as_ref().filter(|_| drifted).map(|d| {
        json!({
            "model": row.model, "version": row.canary, "stage": stage, "since": since,
            "dataset": d.dataset, "features": d.features,
        })
    });
    if let Verdict::Tripped { breaches } = &verdict {
        let reason = rollback_reason(&row.canary, breaches);
        let guardrail = json!({
            "canary": row.canary, "since": since, "policy": policy,
            "measured": measured, "breaches": breaches,
        });
        let mut extras = MoveExtras::default();
        extras.details.insert("guardrail".into(), guardrail.clone());
        let mut alert = guardrail;
        alert["model"] = json!(row.model);
        alert["stage"] = json!(stage);
        extras.events.push(("guardrail.tripped", alert));
        if let Some(event) = drift_event.filter(|_| as_i64(row.drift_notified) == 0) {
            extras.events.push(("drift.detected", event));
        }
        let canary = row.canary.clone();
        let decide = move |from: &StageState| Ok(without_canary(from, &canary));
        // The cron acts as itself: history and audit name `cron`.
        let entry = append_move(
            &crate::store::D1Store::new(ctx),
            &StageMove {
                org: &row.org,
                model: &row.model,
                stage,
                kind: Move::Rollback,
                actor: &Actor::Cron,
                reason: &reason,
                forced: &[],
            },
            &decide,
            extras,
        )
        .await?;
        return Ok(match entry {
            Some(entry) => Outcome::RolledBack {
                seq: entry.seq,
                reason,
            },
            None => Outcome::Checked(verdict),
        });
    }
    let mut statements = vec![store::guardrails::record_check(
        ctx,
        row,
        &serde_json::to_string(&verdict)?,
        &serde_json::to_string(&measured)?,
        drifted,
    )?];
    // Drift is announced once each time it appears, not on every check.
    if let Some(event) = drift_event.filter(|_| as_i64(row.drift_notified) == 0) {
        statements.push(crate::store::enqueue_webhook(
            ctx,
            &row.org,
            "drift.detected",
            &event,
        )?);
    }
    ctx.db.batch(statements).await?;
    Ok(Outcome::Checked(verdict))
}

/// `GET /v1/orgs/{org}/models/{model}/stages/{stage}/guardrails`.
pub async fn get_guardrails(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let stage: Stage = matched
        .param("stage")
        .parse()
        .map_err(ApiError::not_found)?;
    models::load(ctx, model).await?;
    let row = store::guardrails::of_stage(ctx, ctx.org()?, model, stage)
        .await?
    .ok_or_else(|| {
        ApiError::not_found(format!(
            "{model}@{stage} has no guardrails; set them with the rollout (PUT …/rollout with `guardrails`)"
        ))
    })?;
    let parse = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or(Value::Null)
    };
    Ok(http::json(
        &json!({
            "model": model,
            "stage": stage,
            "canary": row.canary,
            "since": as_i64(row.since),
            "guardrails": serde_json::from_str::<Value>(&row.policy).unwrap_or(Value::Null),
            "checked_at": row.checked_at.map(as_i64),
            "verdict": parse(&row.verdict),
            "measured": parse(&row.measured),
        }),
        200,
    )?)
}
