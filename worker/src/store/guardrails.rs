//! Guardrails of rollouts: set and cleared by stage moves (`Change`s), read
//! and marked as checked by the cron.

use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db;

#[derive(Debug, serde::Deserialize)]
pub struct GuardrailRow {
    pub org: String,
    pub model: String,
    pub stage: String,
    pub canary: String,
    pub since: f64,
    pub policy: String,
    pub checked_at: Option<f64>,
    pub verdict: Option<String>,
    pub measured: Option<String>,
    pub drift_notified: f64,
}

const COLUMNS: &str =
    "org, model, stage, canary, since, policy, checked_at, verdict, measured, drift_notified";

/// Every guarded rollout, across organisations: the cron's list, each row
/// then handled as its own organisation.
pub async fn all(ctx: &Ctx) -> worker::Result<Vec<GuardrailRow>> {
    db::all::<GuardrailRow>(&ctx.db.prepare(format!(
        "SELECT {COLUMNS} FROM guardrails ORDER BY org, model, stage"
    )))
    .await
}

/// The guardrails of one stage, if it has any.
pub async fn of_stage(
    ctx: &Ctx,
    org: &str,
    model: &str,
    stage: outpost_core::lifecycle::Stage,
) -> worker::Result<Option<GuardrailRow>> {
    db::first::<GuardrailRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM guardrails WHERE org = ?1 AND model = ?2 AND stage = ?3"
            ))
            .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])?,
    )
    .await
}

/// The statement recording a check's verdict and measurements (JSON), and
/// whether drift has been announced for this episode.
pub fn record_check(
    ctx: &Ctx,
    (org, model, stage, since): (&str, &str, outpost_core::lifecycle::Stage, i64),
    verdict: &str,
    measured: &str,
    drift_notified: bool,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "UPDATE guardrails SET checked_at = ?1, verdict = ?2, measured = ?3, drift_notified = ?4
             WHERE org = ?5 AND model = ?6 AND stage = ?7 AND since = ?8",
        )
        .bind(&[
            db::int(ctx.now),
            db::text(verdict),
            db::text(measured),
            db::int(i64::from(drift_notified)),
            db::text(org),
            db::text(model),
            db::text(stage.as_str()),
            db::int(since),
        ])
}
