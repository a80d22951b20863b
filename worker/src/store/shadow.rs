//! Shadow runs the Worker recorded beside the answers it gave.

use outpost_core::lifecycle::Stage;

use crate::ctx::Ctx;
use crate::db;

/// One shadow run, as recorded.
#[derive(Debug)]
pub struct ShadowRun<'a> {
    pub org: &'a str,
    pub model: &'a str,
    pub stage: Stage,
    pub device: Option<&'a str>,
    pub version: &'a str,
    /// The served outputs (JSON), when small enough to keep.
    pub outputs: Option<&'a str>,
    pub shadow: &'a str,
    pub shadow_outputs: Option<&'a str>,
    pub shadow_error: Option<&'a str>,
    pub shadow_ms: f64,
}

pub async fn record(ctx: &Ctx, run: &ShadowRun<'_>) -> worker::Result<()> {
    ctx.db
        .prepare(
            "INSERT INTO shadow_results (org, model, stage, device, version, outputs, shadow_version, shadow_outputs, shadow_error, shadow_ms, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(&[
            db::text(run.org),
            db::text(run.model),
            db::text(run.stage.as_str()),
            db::opt_text(run.device),
            db::text(run.version),
            db::opt_text(run.outputs),
            db::text(run.shadow),
            db::opt_text(run.shadow_outputs),
            db::opt_text(run.shadow_error),
            db::real(run.shadow_ms),
            db::int(ctx.now),
        ])?
        .run()
        .await?;
    Ok(())
}

/// A recorded shadow run as stored.
#[derive(Debug, serde::Deserialize)]
pub struct Row {
    pub stage: String,
    pub device: Option<String>,
    pub version: String,
    pub outputs: Option<String>,
    pub shadow_version: String,
    pub shadow_outputs: Option<String>,
    pub shadow_error: Option<String>,
    pub shadow_ms: f64,
    pub created_at: f64,
}

/// The newest `limit` shadow runs of a model (optionally one stage).
pub async fn newest(
    ctx: &Ctx,
    org: &str,
    model: &str,
    stage: Option<Stage>,
    limit: i64,
) -> worker::Result<Vec<Row>> {
    db::all(
        &ctx.db
            .prepare(
                "SELECT stage, device, version, outputs, shadow_version, shadow_outputs, shadow_error, shadow_ms, created_at
                 FROM shadow_results WHERE org = ?1 AND model = ?2 AND (?3 IS NULL OR stage = ?3)
                 ORDER BY id DESC LIMIT ?4",
            )
            .bind(&[
                db::text(org),
                db::text(model),
                db::opt_text(stage.map(Stage::as_str)),
                db::int(limit),
            ])?,
    )
    .await
}
