//! What the cron lists across organisations (each item is then handled as
//! its own organisation) and its run log.

use worker::D1Database;

use crate::ctx::Ctx;
use crate::db;

#[derive(Debug, serde::Deserialize)]
pub struct OrgRow {
    pub org: String,
}

/// Organisations whose timestamp the cron keeps fresh.
pub async fn orgs_with_timestamps(ctx: &Ctx) -> worker::Result<Vec<OrgRow>> {
    db::all::<OrgRow>(
        &ctx.db
            .prepare("SELECT DISTINCT org FROM trust_metadata WHERE role = 'timestamp'"),
    )
    .await
}

#[derive(Debug, serde::Deserialize)]
pub struct ModelRow {
    pub org: String,
    pub model: String,
}

/// Models with a retention policy.
pub async fn models_with_retention(ctx: &Ctx) -> worker::Result<Vec<ModelRow>> {
    db::all::<ModelRow>(&ctx.db.prepare(
        "SELECT org, model FROM model_policies WHERE retention IS NOT NULL ORDER BY org, model",
    ))
    .await
}

/// Records one cron run (`/readyz` shows the last).
pub async fn record_run(
    db: &D1Database,
    cron: &str,
    scheduled_at: f64,
    outcome: &str,
) -> worker::Result<()> {
    db.prepare(
        "INSERT INTO scheduled_runs (cron, scheduled_at, finished_at, outcome) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&[
        db::text(cron),
        db::real(scheduled_at),
        db::real(worker::Date::now().as_millis() as f64),
        db::text(outcome),
    ])?
    .run()
    .await?;
    Ok(())
}
