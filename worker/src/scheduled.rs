//! The cron trigger. Lifecycle jobs (timestamp re-signing, guardrails,
//! retention) hang off this; each run leaves a row in `scheduled_runs` so
//! operators and `/readyz` can see that the cron fires.

use worker::{Env, ScheduledEvent, wasm_bindgen::JsValue};

use crate::ctx::D1_BINDING;

pub async fn run(event: &ScheduledEvent, env: &Env) {
    if let Err(err) = record_run(event, env).await {
        worker::console_error!("scheduled run for `{}` failed: {err}", event.cron());
    }
}

async fn record_run(event: &ScheduledEvent, env: &Env) -> worker::Result<()> {
    let db = env.d1(D1_BINDING)?;
    db.prepare(
        "INSERT INTO scheduled_runs (cron, scheduled_at, finished_at, outcome) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&[
        JsValue::from_str(&event.cron()),
        JsValue::from_f64(event.schedule()),
        JsValue::from_f64(worker::Date::now().as_millis() as f64),
        JsValue::from_str("ok"),
    ])?
    .run()
    .await?;
    Ok(())
}
