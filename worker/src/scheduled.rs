//! The cron trigger: re-signs timestamps before they expire, applies every
//! model's retention policy, holds guarded canaries to their guardrails
//! (rolling back the ones that trip), compacts old telemetry into totals,
//! collects artifacts no version refers to, closes stale uploads, checks
//! every monitor, drops predictions past their feedback period, seals
//! artifacts at rest under their organisation's key version, delivers due webhooks, and
//! leaves a row in `scheduled_runs` so operators (and `/readyz`) can see that it fires.

use worker::{Env, ScheduledEvent};

use crate::ctx::Ctx;
use outpost_registry::ports::Actor;

pub async fn run(event: &ScheduledEvent, env: &Env) {
    let mut outcome = "ok";
    match refresh_timestamps(env).await {
        Ok(count) => worker::console_log!("cron `{}`: re-signed {count} timestamps", event.cron()),
        Err(err) => {
            worker::console_error!(
                "cron `{}`: timestamp re-signing failed: {err}",
                event.cron()
            );
            outcome = "failed";
        }
    }
    match apply_retention(env).await {
        Ok(deleted) => worker::console_log!(
            "cron `{}`: retention deleted {deleted} versions",
            event.cron()
        ),
        Err(err) => {
            worker::console_error!("cron `{}`: retention failed: {err}", event.cron());
            outcome = "failed";
        }
    }
    match check_guardrails(env).await {
        Ok((checked, rolled_back)) => worker::console_log!(
            "cron `{}`: checked {checked} guarded canaries, rolled back {rolled_back}",
            event.cron()
        ),
        Err(err) => {
            worker::console_error!("cron `{}`: guardrails failed: {err}", event.cron());
            outcome = "failed";
        }
    }
    match compact_telemetry(env).await {
        Ok(n) => worker::console_log!("cron `{}`: compacted {n} telemetry windows", event.cron()),
        Err(err) => {
            worker::console_error!(
                "cron `{}`: telemetry compaction failed: {err}",
                event.cron()
            );
            outcome = "failed";
        }
    }
    if let Err(err) = keep_usage(env).await {
        worker::console_error!("cron `{}`: usage counts failed: {err}", event.cron());
        outcome = "failed";
    }
    match collect_blobs(env).await {
        Ok(collected) => worker::console_log!(
            "cron `{}`: collected {} unreferenced artifacts ({} objects)",
            event.cron(),
            collected.rows,
            collected.objects
        ),
        Err(err) => {
            worker::console_error!("cron `{}`: artifact collection failed: {err}", event.cron());
            outcome = "failed";
        }
    }
    match expire_uploads(env).await {
        Ok(closed) => {
            worker::console_log!("cron `{}`: closed {closed} stale uploads", event.cron())
        }
        Err(err) => {
            worker::console_error!(
                "cron `{}`: closing stale uploads failed: {err}",
                event.cron()
            );
            outcome = "failed";
        }
    }
    match check_monitors(env).await {
        Ok((versions, raised)) => worker::console_log!(
            "cron `{}`: monitors checked {versions} versions, raised {raised} events",
            event.cron()
        ),
        Err(err) => {
            worker::console_error!("cron `{}`: monitor checks failed: {err}", event.cron());
            outcome = "failed";
        }
    }
    match drop_old_predictions(env).await {
        Ok(dropped) => worker::console_log!(
            "cron `{}`: dropped {dropped} predictions past their feedback period",
            event.cron()
        ),
        Err(err) => {
            worker::console_error!(
                "cron `{}`: dropping old predictions failed: {err}",
                event.cron()
            );
            outcome = "failed";
        }
    }
    // Last, so that what this run announced goes out in this run.
    match crate::handlers::webhooks::deliver_due(env).await {
        Ok((delivered, failed)) => worker::console_log!(
            "cron `{}`: delivered {delivered} webhooks, {failed} attempts failed",
            event.cron()
        ),
        Err(err) => {
            worker::console_error!("cron `{}`: webhook delivery failed: {err}", event.cron());
            outcome = "failed";
        }
    }
    // After everything else: re-sealing is the run's one long job.
    match keep_at_rest(env).await {
        Ok((sealed, deleted)) => worker::console_log!(
            "cron `{}`: sealed {sealed} artifacts under their organisation's key version, deleted {deleted} retired objects",
            event.cron()
        ),
        Err(err) => {
            worker::console_error!("cron `{}`: re-sealing failed: {err}", event.cron());
            outcome = "failed";
        }
    }
    if let Err(err) = record_run(event, env, outcome).await {
        worker::console_error!(
            "recording the scheduled run `{}` failed: {err}",
            event.cron()
        );
    }
}

/// Removes artifacts no version refers to once their grace period is over
/// (`outpost_registry::blobs::collect_unreferenced`), 100 per run.
async fn collect_blobs(env: &Env) -> Result<outpost_registry::blobs::Collected, String> {
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    outpost_registry::blobs::collect_unreferenced(&crate::store::D1Store::new(&ctx), 100)
        .await
        .map_err(|e| e.to_string())
}

/// Seals plaintext artifacts of organisations with encryption at rest on,
/// and re-seals those under an older key version
/// (`crate::store::at_rest::reseal_pending`), then deletes objects retired
/// longer ago than the grace period.
async fn keep_at_rest(env: &Env) -> Result<(usize, usize), String> {
    use crate::store::at_rest;
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let sealed = if at_rest::secret(env).is_some() {
        at_rest::reseal_pending(&ctx, at_rest::RESEAL_PER_RUN).await?
    } else {
        0
    };
    let deleted = at_rest::delete_retired(&ctx, ctx.now - at_rest::RETIRE_GRACE_MS).await?;
    Ok((sealed, deleted))
}

/// Closes multipart uploads open longer than R2 keeps them
/// (`outpost_registry::uploads::expire_stale`), 50 per run.
async fn expire_uploads(env: &Env) -> Result<usize, String> {
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    outpost_registry::uploads::expire_stale(&crate::store::D1Store::new(&ctx), 50)
        .await
        .map_err(|e| e.to_string())
}

/// Keeps every organisation's timestamp fresh, so devices never see the
/// online metadata expire (which they would rightly treat as a freeze).
async fn refresh_timestamps(env: &Env) -> Result<usize, String> {
    let base = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let orgs = crate::store::cron::orgs_with_timestamps(&base)
        .await
        .map_err(|e| e.to_string())?;
    let mut refreshed = 0;
    let mut failures = Vec::new();
    for row in orgs {
        // The cron acts as itself (actor `cron` in the audit log), no caller.
        match outpost_registry::trust::refresh_timestamp(
            &crate::store::D1Store::new(&base),
            &row.org,
        )
        .await
        {
            Ok(true) => refreshed += 1,
            Ok(false) => {}
            Err(err) => failures.push(format!("{}: {err:?}", row.org)),
        }
    }
    if failures.is_empty() {
        Ok(refreshed)
    } else {
        Err(failures.join("; "))
    }
}

/// Runs retention for every model that has a policy, as the `cron` actor of
/// its organisation. One model's failure does not stop the others.
async fn apply_retention(env: &Env) -> Result<usize, String> {
    let base = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let rows = crate::store::cron::models_with_retention(&base)
        .await
        .map_err(|e| e.to_string())?;
    let mut deleted = 0;
    let mut failures = Vec::new();
    for row in rows {
        // The cron acts as itself (actor `cron` in history and audit).
        match outpost_registry::deletion::retention(
            &crate::store::D1Store::new(&base),
            &row.org,
            &Actor::Cron,
            &row.model,
            false,
        )
        .await
        {
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

/// Checks every guarded canary, each as the `cron` operator of its
/// organisation; one failure does not stop the others.
async fn check_guardrails(env: &Env) -> Result<(usize, usize), String> {
    use crate::handlers::guardrails;
    use outpost_registry::guardrails::CheckOutcome as Outcome;
    let base = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let rows = guardrails::all(&base).await.map_err(|e| format!("{e:?}"))?;
    let (mut checked, mut rolled_back) = (0, 0);
    let mut failures = Vec::new();
    for row in rows {
        match guardrails::check(&base, &row).await {
            Ok(Outcome::Checked(verdict)) => {
                checked += 1;
                let verdict = serde_json::to_string(&verdict).unwrap_or_default();
                worker::console_log!("{}/{}@{}: {verdict}", row.org, row.model, row.stage);
            }
            Ok(Outcome::RolledBack { seq, reason }) => {
                checked += 1;
                rolled_back += 1;
                worker::console_log!(
                    "{}/{}@{} rolled back (#{seq}): {reason}",
                    row.org,
                    row.model,
                    row.stage
                );
            }
            Err(err) => failures.push(format!("{}/{}@{}: {err:?}", row.org, row.model, row.stage)),
        }
    }
    if failures.is_empty() {
        Ok((checked, rolled_back))
    } else {
        Err(failures.join("; "))
    }
}

/// Checks every monitor (`outpost_registry::monitors::check_monitor`).
async fn check_monitors(env: &Env) -> Result<(usize, usize), String> {
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    crate::handlers::monitors::check_all(&ctx).await
}

/// Drops kept predictions older than their feedback period
/// (`outpost_registry::quality::PREDICTIONS_KEPT_MS`); outcomes stay.
async fn drop_old_predictions(env: &Env) -> Result<u64, String> {
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let before = ctx.now - outpost_registry::quality::PREDICTIONS_KEPT_MS;
    crate::store::quality::drop_old_predictions(&ctx, before)
        .await
        .map_err(|e| format!("{e:?}"))
}

/// Writes the usage counts this isolate holds, and drops usage rows older
/// than statistics look back (30 days).
async fn keep_usage(env: &Env) -> Result<(), String> {
    crate::usage::write(env).await;
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    let (_, month_from) = outpost_core::stats::windows(ctx.now);
    crate::store::stats::drop_usage_before(&ctx.db, month_from)
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn compact_telemetry(env: &Env) -> Result<usize, String> {
    let base = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    crate::store::telemetry::compact(&base.db, base.now)
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn record_run(event: &ScheduledEvent, env: &Env, outcome: &str) -> worker::Result<()> {
    let db = env.d1(crate::ctx::D1_BINDING)?;
    crate::store::cron::record_run(&db, &event.cron(), event.schedule(), outcome).await
}
