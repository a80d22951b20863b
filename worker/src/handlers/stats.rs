//! `GET /v1/orgs/{org}/stats`: the organisation's holdings and usage
//! (`outpost_registry::stats`).

use worker::Response;

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::http;
use crate::store::D1Store;

/// Writes this isolate's held usage counts first (waiting for a write
/// under way), so that what it served is in the answer; its session reads
/// at the primary, where they were written. Other isolates' counts arrive
/// after their next request past a minute.
pub async fn get_stats(ctx: &Ctx) -> ApiResult<Response> {
    crate::usage::settle(&ctx.env).await;
    let stats = outpost_registry::stats::registry_stats(&D1Store::new(ctx), ctx.org()?).await?;
    Ok(http::json(&stats, 200)?)
}
