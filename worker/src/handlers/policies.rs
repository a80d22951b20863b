//! A model's policies (promotion requirements, retention) and retention
//! runs, over `outpost_registry::stages::set_policies` and
//! `outpost_registry::deletion::retention`.

use outpost_core::api::ModelPolicies;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store};
use outpost_registry::{deletion, stages};

async fn policies(ctx: &Ctx, model: &str) -> ApiResult<ModelPolicies> {
    Ok(store::lifecycle::policies(ctx, ctx.org()?, model).await?)
}

/// `GET /v1/orgs/{org}/models/{model}/policy`.
pub async fn get_policy(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    crate::lookup::model(ctx, model).await?;
    Ok(http::json(&policies(ctx, model).await?, 200)?)
}

/// `PUT /v1/orgs/{org}/models/{model}/policy`.
pub async fn put_policy(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: ModelPolicies = http::read_json(req).await?;
    let set = stages::set_policies(
        &D1Store::new(ctx),
        ctx.org()?,
        &ctx.actor()?,
        matched.param("model"),
        body,
    )
    .await?;
    Ok(http::json(&set, 200)?)
}

/// `GET …/models/{model}/retention`: what retention would delete now.
pub async fn plan_retention(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    retention(ctx, matched, true).await
}

/// `POST …/models/{model}/retention`: delete exactly what the plan lists.
pub async fn apply_retention(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    retention(ctx, matched, false).await
}

async fn retention(ctx: &Ctx, matched: &Matched, dry_run: bool) -> ApiResult<Response> {
    let model = matched.param("model");
    let report = deletion::retention(
        &D1Store::new(ctx),
        ctx.org()?,
        &ctx.actor()?,
        model,
        dry_run,
    )
    .await?;
    Ok(http::json(&report, 200)?)
}
