//! The cron trigger: applies every model's retention policy, and leaves a row
//! in `scheduled_runs` so operators (and `/readyz`) can see that it fires.
//! Further lifecycle jobs (timestamp re-signing, guardrails) hang off this.

use outpost_core::auth::Role;
use worker::{Env, ScheduledEvent, wasm_bindgen::JsValue};

use crate::ctx::{Caller, Ctx};
use crate::db;
use crate::handlers::lifecycle::run_retention;

pub async fn run(event: &ScheduledEvent, env: &Env) {
    let outcome = match apply_retention(env).await {
        Ok(deleted) => {
            worker::console_log!(
                "cron `{}`: retention deleted {deleted} versions",
                event.cron()
            );
            "ok"
        }
        Err(err) => {
            worker::console_error!("cron `{}`: retention failed: {err}", event.cron());
            "failed"
        }
    };
    if let Err(err) = record_run(event, env, outcome).await {
        worker::console_error!(
            "recording the scheduled run `{}` failed: {err}",
            event.cron()
        );
    }
}

/// Runs retention for every model that has a policy, as the `cron` actor of
/// its organisation. One model's failure does not stop the others.
async fn apply_retention(env: &Env) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        org: String,
        model: String,
    }
    let base = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let rows = db::all::<Row>(&base.db.prepare(
        "SELECT org, model FROM model_policies WHERE retention IS NOT NULL ORDER BY org, model",
    ))
    .await
    .map_err(|e| e.to_string())?;
    let mut deleted = 0;
    let mut failures = Vec::new();
    for row in rows {
        let mut ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
        ctx.caller = Some(Caller {
            token_id: "cron".into(),
            token_name: "cron".into(),
            org: row.org.clone(),
            role: Role::Operator,
        });
        match run_retention(&ctx, &row.model, false).await {
            Ok(report) => deleted += report.drops.len(),
            Err(err) => failures.push(format!("{}/{}: {err:?}", row.org, row.model)),
        }
    }
    if failures.is_empty() {
        Ok(deleted)
    } else {
        Err(failures.join("; "))
    }
}

async fn record_run(event: &ScheduledEvent, env: &Env, outcome: &str) -> worker::Result<()> {
    let db = env.d1(crate::ctx::D1_BINDING)?;
    db.prepare(
        "INSERT INTO scheduled_runs (cron, scheduled_at, finished_at, outcome) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&[
        JsValue::from_str(&event.cron()),
        JsValue::from_f64(event.schedule()),
        JsValue::from_f64(worker::Date::now().as_millis() as f64),
        JsValue::from_str(outcome),
    ])?
    .run()
    .await?;
    Ok(())
}
