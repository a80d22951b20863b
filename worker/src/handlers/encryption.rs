//! `…/encryption`: an organisation's encryption at rest
//! (`outpost_registry::encryption`): its status, enabling it, rotating its
//! key. The cron re-seals existing artifacts (`crate::store::at_rest`).

use worker::Response;

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::http;
use crate::store::D1Store;

/// `GET /v1/orgs/{org}/encryption`.
pub async fn get_encryption(ctx: &Ctx) -> ApiResult<Response> {
    let status =
        outpost_registry::encryption::encryption_status(&D1Store::new(ctx), ctx.org()?).await?;
    Ok(http::json(&status, 200)?)
}

/// `PUT /v1/orgs/{org}/encryption`: on (idempotent).
pub async fn enable_encryption(ctx: &Ctx) -> ApiResult<Response> {
    let status = outpost_registry::encryption::enable_encryption(
        &D1Store::new(ctx),
        ctx.org()?,
        &ctx.actor()?,
    )
    .await?;
    Ok(http::json(&status, 200)?)
}

/// `POST /v1/orgs/{org}/encryption/rotate`.
pub async fn rotate_key(ctx: &Ctx) -> ApiResult<Response> {
    let status =
        outpost_registry::encryption::rotate_key(&D1Store::new(ctx), ctx.org()?, &ctx.actor()?)
            .await?;
    Ok(http::json(&status, 200)?)
}
