//! Models: a name inside an organisation, with a description, owner, tags and
//! the primary metric that `auto` bumps and comparisons use.

use outpost_core::api::{CreateModelRequest, Page};
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store, models::ModelRow};
use outpost_registry::models;

/// `POST /v1/orgs/{org}/models`.
pub async fn create_model(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: CreateModelRequest = http::read_json(req).await?;
    let org = ctx.org()?;
    models::create_model(&D1Store::new(ctx), org, &ctx.actor()?, &body).await?;
    let record = crate::lookup::model(ctx, &body.name).await?.record();
    Ok(http::created(
        &record,
        &format!("/v1/orgs/{org}/models/{}", body.name),
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}`.
pub async fn get_model(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    Ok(http::json(
        &crate::lookup::model(ctx, matched.param("model"))
            .await?
            .record(),
        200,
    )?)
}

/// `GET /v1/orgs/{org}/models?limit=&cursor=`.
pub async fn list_models(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let (paging, _) = http::paging(req, &[])?;
    let (limit, offset) = (paging.limit, paging.offset);
    let rows = store::models::page(ctx, ctx.org()?, limit, offset).await?;
    let returned = rows.len();
    let page = Page {
        items: rows.into_iter().map(ModelRow::record).collect(),
        next_cursor: paging.next_cursor(returned),
    };
    Ok(http::json(&page, 200)?)
}
