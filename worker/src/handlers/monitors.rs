//! Monitors: `PUT`/`GET …/models/{model}/stages/{stage}/monitor` and
//! `GET …/monitor/history`; the cron checks every monitor
//! (`outpost_registry::monitors::check_monitor`).

use outpost_core::lifecycle::Stage;
use outpost_core::monitor::MonitorPolicy;
use outpost_registry::monitors::{self, Checked};
use outpost_registry::ports::Monitors as _;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;

fn stage(matched: &Matched) -> ApiResult<Stage> {
    matched.param("stage").parse().map_err(ApiError::not_found)
}

/// `PUT /v1/orgs/{org}/models/{model}/stages/{stage}/monitor`.
pub async fn put_monitor(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let stage = stage(matched)?;
    let policy: MonitorPolicy = http::read_json(req).await?;
    let store = D1Store::new(ctx);
    let at = (matched.param("model"), stage);
    monitors::set_monitor(&store, ctx.org()?, &ctx.actor()?, at, &policy).await?;
    let view = monitors::get_monitor(&store, ctx.org()?, at).await?;
    Ok(http::json(&view, 200)?)
}

/// `GET /v1/orgs/{org}/models/{model}/stages/{stage}/monitor`.
pub async fn get_monitor(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let view = monitors::get_monitor(
        &D1Store::new(ctx),
        ctx.org()?,
        (matched.param("model"), stage(matched)?),
    )
    .await?;
    Ok(http::json(&view, 200)?)
}

/// `GET /v1/orgs/{org}/models/{model}/stages/{stage}/monitor/history?limit=`.
pub async fn monitor_history(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let mut limit = 50usize;
    for (_, value) in http::query(req, &["limit"])? {
        limit = value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit is a number from 1 to 500"))?;
    }
    let history = monitors::monitor_history(
        &D1Store::new(ctx),
        ctx.org()?,
        (matched.param("model"), stage(matched)?),
        limit,
    )
    .await?;
    Ok(http::json(&history, 200)?)
}

/// Checks every monitor, each in its organisation; one failure does not
/// stop the others. (Checked versions, events raised.)
pub async fn check_all(ctx: &Ctx) -> Result<(usize, usize), String> {
    let store = D1Store::new(ctx);
    let all = store.all_monitors().await.map_err(|e| e.to_string())?;
    let (mut versions, mut raised) = (0, 0);
    let mut failures = Vec::new();
    for monitor in &all {
        match monitors::check_monitor(&store, monitor).await {
            Ok(Checked {
                versions: v,
                raised: r,
            }) => {
                versions += v;
                raised += r.len();
                for (version, event) in r {
                    worker::console_log!(
                        "{}/{}@{} ({version}): {event}",
                        monitor.org,
                        monitor.model,
                        monitor.stage
                    );
                }
            }
            Err(err) => failures.push(format!(
                "{}/{}@{}: {err}",
                monitor.org, monitor.model, monitor.stage
            )),
        }
    }
    if failures.is_empty() {
        Ok((versions, raised))
    } else {
        Err(failures.join("; "))
    }
}
