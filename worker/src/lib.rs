//! Outpost's Cloudflare Worker.
//!
//! A thin shell: it extracts what a request says, asks `outpost-core` to decide,
//! moves bytes between HTTP, D1 and R2, and renders every failure as RFC 9457
//! problem+json. Errors never escape as panics or plain-text 500s: the fetch
//! handler turns anything unexpected into a generic problem and logs the cause.

mod authn;
mod ctx;
mod db;
mod download;
mod error;
mod handlers;
mod health;
mod http;
mod inference;
mod isolate_cache;
mod lookup;
#[cfg(not(target_arch = "wasm32"))]
pub mod openapi_document;
mod operations;
mod ratelimit;
mod request_metrics;
mod routes;
mod scheduled;
mod store;
mod strict_json;
mod usage;

use outpost_core::Problem;
use worker::{Context, Env, Request, Response, ScheduleContext, ScheduledEvent, event};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{
    admin, audit_log, blobs, guardrails, metrics, models, monitors, openapi, policies, predict,
    profiles, quality, stages, telemetry, trust, uploads, versions, webhooks,
};
use crate::routes::{Dispatch, Matched, Route};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Requests this isolate has answered (`GET /v1/admin/isolate`).
static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn requests_answered() -> u64 {
    REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let ctx = std::rc::Rc::new(ctx);
    // The method's own text: workers-rs reads unknown methods as GET.
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = req.inner().method();
    let path = req.path();
    let started = worker::Date::now().as_millis();
    let range = req.headers().get("range").ok().flatten();
    let mut series = None;
    let result = match routes::dispatch(&method, &path) {
        Dispatch::Found(matched) => {
            if matched.params.contains_key("org") {
                series = Some((
                    matched.param("org").to_owned(),
                    matched.spec.path,
                    matched.params.get("model").cloned().unwrap_or_default(),
                    announces(matched.spec.route),
                    used(matched.spec.route, &matched.params),
                ));
            }
            handle(&matched, &mut req, env.clone(), ctx.clone()).await
        }
        Dispatch::MethodNotAllowed(allowed) => Err(ApiError::from(Problem::method_not_allowed(
            &method, &path, &allowed,
        ))),
        Dispatch::NotFound => Err(ApiError::from(Problem::not_found_route(&method, &path))),
    };
    let response = match result {
        Ok(response) => Ok(response),
        Err(ApiError::Problem(problem)) => http::problem(&problem),
        Err(ApiError::Internal(cause)) => {
            worker::console_error!("{method} {path} failed: {cause}");
            http::problem(&Problem::internal())
        }
    };
    if let (Some((org, route, model, announcing, use_of)), Ok(response)) = (series, &response) {
        let status = response.status_code();
        // Statistics: resolves answered and artifact bytes served (not a
        // HEAD, a 304, a refusal or a range past the first byte: a download
        // resumed in parts counts once), held in memory and written in
        // batches, checked after every request of the isolate.
        let now = worker::Date::now().as_millis() as i64;
        if let Some((kind, subject)) = use_of
            && outpost_core::stats::is_counted(method == "GET", status, range.as_deref())
        {
            usage::count(&org, kind, &subject, now);
        }
        if usage::due(now) {
            let env = env.clone();
            ctx.wait_until(async move { usage::write(&env).await });
        }
        let seconds = (worker::Date::now().as_millis() - started) as f64 / 1e3;
        // Refused requests are not counted under the organisation they
        // named: anyone can name any organisation (they are audited instead).
        if status != 401 && status != 403 {
            request_metrics::record_request((org, route, model), status, seconds);
        }
        // Changes that announce themselves left deliveries in the outbox:
        // send them once the response is on its way.
        if announcing && status < 300 {
            ctx.wait_until(async move {
                if let Err(err) = handlers::webhooks::deliver_due(&env).await {
                    worker::console_error!("webhook delivery failed: {err}");
                }
            });
        }
    }
    response
}

/// What a request to `route` counts for registry statistics, if anything:
/// a resolve of its model, or a download of an artifact (by digest through
/// the blobs route, by model through the TUF targets route).
fn used(
    route: Route,
    params: &std::collections::BTreeMap<String, String>,
) -> Option<(outpost_core::stats::UsageKind, String)> {
    use outpost_core::stats::UsageKind;
    match route {
        Route::Resolve => Some((UsageKind::Resolve, params.get("model")?.clone())),
        Route::GetBlob => Some((
            UsageKind::Download,
            format!("sha256:{}", params.get("hex")?),
        )),
        Route::GetTarget => Some((
            UsageKind::Download,
            format!("model:{}", params.get("model")?),
        )),
        _ => None,
    }
}

/// Routes whose changes may enqueue webhook deliveries.
fn announces(route: Route) -> bool {
    matches!(
        route,
        Route::RegisterVersion
            | Route::Promote
            | Route::Rollback
            | Route::PutRollout
            | Route::ClearRollout
    )
}

async fn handle(
    matched: &Matched,
    req: &mut Request,
    env: Env,
    context: std::rc::Rc<Context>,
) -> ApiResult<Response> {
    // Probes and the API description need no database handle of their own.
    match matched.spec.route {
        Route::Healthz => return Ok(health::healthz()?),
        Route::Readyz => return Ok(health::readyz(&env).await?),
        Route::OpenApi => return openapi::serve(&env, req.clone()?).await,
        Route::DeploymentKeys => return trust::deployment_keys(&env),
        _ => {}
    }
    // The operations Worker answers only what the registry Worker forwards
    // to it (`crate::operations`), whatever else its code could serve.
    #[cfg(feature = "operations")]
    if !operations::FORWARDED.contains(&matched.spec.route) {
        return Err(ApiError::not_found(
            "the operations Worker answers backups and restores only; send other requests to the registry Worker",
        ));
    }
    let mut ctx = Ctx::new(env)?;
    ctx.background = Some(context);
    ctx.host = req
        .url()
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    #[cfg(feature = "operations")]
    {
        ctx.seals = operations::deployment_seals(req);
    }
    ctx.db.count_statements();
    authn::authenticate(&mut ctx, req, matched).await?;
    if let (Some(class), Some(caller)) = (routes::rate_class(matched.spec.route), &ctx.caller) {
        for (limiter, key) in
            outpost_core::ratelimit::counters(class, &caller.org, &caller.token_id)
        {
            ratelimit::draw(&ctx.env, ctx.now, limiter, key).await?;
        }
    }
    // D1 sessions (read replicas, read-your-writes by bookmark) for every
    // route of an organisation, once the caller is known (the token row is
    // read at the primary, through the plain binding).
    let org_route = matches!(matched.spec.access, routes::Access::Org(_));
    if org_route {
        let bookmark = req.headers().get(db::BOOKMARK_HEADER).ok().flatten();
        if let Some(bookmark) = &bookmark
            && !db::is_bookmark(bookmark)
        {
            return Err(ApiError::bad_request(format!(
                "{}: `{bookmark}` is not a D1 bookmark (send back the value a previous answer carried, or nothing)",
                db::BOOKMARK_HEADER
            )));
        }
        // `/stats` writes its isolate's usage counts, then reads them back.
        let writes = matched.spec.route == Route::Stats
            || !matches!(
                matched.spec.method,
                worker::Method::Get | worker::Method::Head
            );
        ctx.db.open_session(bookmark.as_deref(), writes);
    }
    let answer = match matched.spec.route {
        Route::Healthz | Route::Readyz | Route::OpenApi | Route::DeploymentKeys => {
            Err(ApiError::internal("unreachable"))
        }
        Route::AdminInit => admin::admin_init(&ctx, req).await,
        Route::IsolateStats => admin::isolate_stats(),
        Route::GetOrg => admin::get_org(&ctx).await,
        Route::WhoAmI => admin::who_am_i(&ctx),
        Route::ListTokens => admin::list_tokens(&ctx).await,
        Route::CreateToken => admin::create_token(&ctx, req).await,
        Route::RevokeToken => admin::revoke_token(&ctx, matched).await,
        Route::ListModels => models::list_models(&ctx, req).await,
        Route::CreateModel => models::create_model(&ctx, req).await,
        Route::GetModel => models::get_model(&ctx, matched).await,
        Route::PutBlob => blobs::put_blob(&ctx, req, matched).await,
        Route::PutCodedCopy => blobs::put_coded_copy(&ctx, req, matched).await,
        Route::GetBlob => blobs::get_blob(&ctx, req, matched).await,
        Route::StartUpload => uploads::start_upload(&ctx, req).await,
        Route::UploadStatus => uploads::upload_status(&ctx, matched).await,
        Route::PutUploadPart => uploads::put_upload_part(&ctx, req, matched).await,
        Route::CompleteUpload => uploads::complete_upload(&ctx, matched).await,
        Route::AbortUpload => uploads::abort_upload(&ctx, matched).await,
        Route::ListVersions | Route::SearchVersions => {
            versions::search_versions(&ctx, req, matched).await
        }
        Route::RegisterVersion => versions::register_version(&ctx, req, matched).await,
        Route::GetVersion => versions::get_version(&ctx, matched).await,
        Route::ChangeTags => versions::change_tags(&ctx, req, matched).await,
        Route::LatestVersion => versions::latest_version(&ctx, req).await,
        Route::CompareVersions => versions::compare_versions(&ctx, req).await,
        Route::ListStages => stages::list_stages(&ctx, matched).await,
        Route::GetStage => stages::get_stage(&ctx, matched).await,
        Route::Promote => stages::promote(&ctx, req, matched).await,
        Route::Rollback => stages::rollback(&ctx, req, matched).await,
        Route::GetRollout => stages::get_rollout(&ctx, matched).await,
        Route::PutRollout => stages::put_rollout(&ctx, req, matched).await,
        Route::ClearRollout => stages::clear_rollout(&ctx, req, matched).await,
        Route::History => stages::history(&ctx, req, matched).await,
        Route::DeleteVersion => versions::delete_version(&ctx, req, matched).await,
        Route::GetPolicy => policies::get_policy(&ctx, matched).await,
        Route::PutPolicy => policies::put_policy(&ctx, req, matched).await,
        Route::PlanRetention => policies::plan_retention(&ctx, matched).await,
        Route::ApplyRetention => policies::apply_retention(&ctx, matched).await,
        Route::ListAudit => audit_log::list_audit(&ctx, req).await,
        Route::PutRoot => trust::put_root(&ctx, req).await,
        Route::PutTargets => trust::put_targets(&ctx, req).await,
        Route::GetTrustFile => trust::get_trust_file(&ctx, matched).await,
        Route::GetTarget => trust::get_target(&ctx, req, matched).await,
        Route::Resolve => trust::resolve(&ctx, req, matched).await,
        Route::Predict => predict::predict(&ctx, req, matched).await,
        Route::ShadowResults => predict::shadow_results(&ctx, req, matched).await,
        Route::PostTelemetry => telemetry::post_telemetry(&ctx, req, matched).await,
        Route::Performance => telemetry::performance(&ctx, req, matched).await,
        Route::PostFeedback => quality::post_feedback(&ctx, req, matched).await,
        Route::PostOutcomes => quality::post_outcomes(&ctx, req, matched).await,
        Route::Quality => quality::get_quality(&ctx, req, matched).await,
        Route::Stats => handlers::stats::get_stats(&ctx).await,
        Route::GetEncryption => handlers::encryption::get_encryption(&ctx).await,
        Route::EnableEncryption => handlers::encryption::enable_encryption(&ctx).await,
        Route::RotateKey => handlers::encryption::rotate_key(&ctx).await,
        Route::ImportModel => handlers::imports::import_model(&ctx, req, matched).await,
        #[cfg(feature = "operations")]
        Route::BackupTable => handlers::backup::backup_page(&ctx, req, matched).await,
        #[cfg(feature = "operations")]
        Route::StartRestore => handlers::backup::start_restore(&ctx, matched).await,
        #[cfg(feature = "operations")]
        Route::RestoreTable => handlers::backup::restore_page(&ctx, req, matched).await,
        #[cfg(feature = "operations")]
        Route::RestoreArtifact => handlers::backup::restore_artifact(&ctx, req, matched).await,
        #[cfg(feature = "operations")]
        Route::FinishRestore => handlers::backup::finish_restore(&ctx, matched).await,
        // Checked here, answered by the operations Worker.
        #[cfg(not(feature = "operations"))]
        Route::BackupTable
        | Route::StartRestore
        | Route::RestoreTable
        | Route::RestoreArtifact
        | Route::FinishRestore => operations::forward(&ctx.env, req).await,
        Route::ListImports => handlers::imports::list_imports(&ctx, matched).await,
        Route::PutMonitor => monitors::put_monitor(&ctx, req, matched).await,
        Route::GetMonitor => monitors::get_monitor(&ctx, matched).await,
        Route::MonitorHistory => monitors::monitor_history(&ctx, req, matched).await,
        Route::PutReference => profiles::put_reference(&ctx, req, matched).await,
        Route::GetReference => profiles::get_reference(&ctx, matched).await,
        Route::DriftReport => telemetry::drift_report(&ctx, req, matched).await,
        Route::GetGuardrails => guardrails::get_guardrails(&ctx, matched).await,
        Route::ListWebhooks => webhooks::list_webhooks(&ctx).await,
        Route::CreateWebhook => webhooks::create_webhook(&ctx, req).await,
        Route::DeleteWebhook => webhooks::delete_webhook(&ctx, matched).await,
        Route::ListDeliveries => webhooks::list_deliveries(&ctx, req, matched).await,
        Route::Metrics => metrics::metrics(&ctx).await,
    };
    // The session's newest bookmark, for a client that must read at least
    // what this answer saw.
    if let (Ok(response), Some(bookmark)) = (&answer, ctx.db.bookmark()) {
        response.headers().set(db::BOOKMARK_HEADER, &bookmark)?;
    }
    answer
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(&event, &env).await;
}
