//! Models: a name inside an organisation, with a description, owner, tags and
//! the primary metric that `auto` bumps and comparisons use.

use outpost_core::api::{CreateModelRequest, Page};
use outpost_core::query;
use outpost_core::version::{validate_model_name, validate_tag};
use serde_json::json;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::audit::{self, CommitError, Event};
use crate::store::{self, models::ModelRow};

/// Loads a model of the caller's organisation, or 404.
pub async fn load(ctx: &Ctx, name: &str) -> ApiResult<ModelRow> {
    let org = ctx.org()?;
    store::models::model(ctx, org, name)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no model `{name}` in organisation `{org}`; create it first (POST /v1/orgs/{org}/models)"
            ))
        })
}

/// `POST /v1/orgs/{org}/models`.
pub async fn create_model(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: CreateModelRequest = http::read_json(req).await?;
    validate_model_name(&body.name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    for tag in &body.tags {
        validate_tag(tag).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    if let Some(metric) = &body.primary_metric {
        query::validate_metric_name(&metric.name)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    if body.description.len() > 4096 {
        return Err(ApiError::unprocessable(
            "description is limited to 4096 bytes",
        ));
    }
    let org = ctx.org()?.to_owned();
    let caller = ctx.caller()?;
    let tags = serde_json::to_string(&body.tags)?;
    let primary = body
        .primary_metric
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let insert = store::models::insert(
        ctx,
        &org,
        &body,
        &tags,
        primary.as_deref(),
        &caller.token_name,
    )?;
    let event = Event::by_caller(
        ctx,
        "model.create",
        format!("models/{}", body.name),
        json!({"tags": body.tags}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    match audit::commit(ctx, event, vec![insert]).await {
        Ok(_) => {}
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "models") => {
            return Err(ApiError::conflict(format!(
                "model `{}` already exists in organisation `{org}`",
                body.name
            )));
        }
        Err(err) => return Err(err.into()),
    }
    let record = load(ctx, &body.name).await?.record();
    Ok(http::created(
        &record,
        &format!("/v1/orgs/{org}/models/{}", body.name),
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}`.
pub async fn get_model(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    Ok(http::json(
        &load(ctx, matched.param("model")).await?.record(),
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
