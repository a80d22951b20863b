//! Webhooks: endpoints registered per organisation, an outbox of deliveries
//! written in the same D1 batch as the change they announce (so a change is
//! never announced without happening, nor happens unannounced), and their
//! delivery — signed as Standard Webhooks (`outpost_core::webhook`), retried
//! on its schedule, listed per endpoint.

use outpost_core::api::{
    CreateWebhook, Deliveries, Delivery, Webhook, WebhookCreated, WebhookDeleted, Webhooks,
};
use outpost_core::webhook::{EVENTS, Endpoint};
use serde_json::Value;
use worker::{Env, Request, Response};

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::{self, webhooks::WebhookRow};
use outpost_registry::webhooks::{self, NewWebhook};

/// The public view of an endpoint (never its secret).
fn view(row: &WebhookRow) -> Webhook {
    Webhook {
        id: row.id.clone(),
        url: row.url.clone(),
        events: serde_json::from_str(&row.events).unwrap_or_default(),
        description: row.description.clone(),
        created_at: as_i64(row.created_at),
        created_by: row.created_by.clone(),
    }
}

/// Plain http endpoints are for local development only.
fn allow_http(env: &Env) -> bool {
    env.var("OUTPOST_ENV")
        .map(|v| v.to_string() == "development")
        .unwrap_or(false)
}

/// `POST /v1/orgs/{org}/webhooks` `{url, events, description?}` → 201 with
/// the signing secret, shown this once.
pub async fn create_webhook(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: CreateWebhook = http::read_json(req).await?;
    let url = worker::Url::parse(body.url.trim())
        .map_err(|err| ApiError::unprocessable(format!("`{}` is not a URL: {err}", body.url)))?;
    let normalised = url.to_string();
    let new = NewWebhook {
        url: &normalised,
        endpoint: Endpoint {
            scheme: url.scheme(),
            host: url.host_str(),
            has_credentials: !url.username().is_empty() || url.password().is_some(),
        },
        events: &body.events,
        description: &body.description,
        allow_http: allow_http(&ctx.env),
    };
    let org = ctx.org()?;
    let (endpoint, secret) =
        webhooks::create_webhook(&D1Store::new(ctx), org, &ctx.actor()?, &new).await?;
    let id = endpoint.id.clone();
    let created = WebhookCreated {
        webhook: endpoint,
        secret,
    };
    Ok(http::created(
        &created,
        &format!("/v1/orgs/{org}/webhooks/{id}"),
    )?)
}

/// `GET /v1/orgs/{org}/webhooks` (secrets are never listed).
pub async fn list_webhooks(ctx: &Ctx) -> ApiResult<Response> {
    let rows = store::webhooks::active(ctx, ctx.org()?).await?;
    Ok(http::json(
        &Webhooks {
            webhooks: rows.iter().map(view).collect(),
            events: EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        },
        200,
    )?)
}

async fn load(ctx: &Ctx, id: &str) -> ApiResult<WebhookRow> {
    store::webhooks::one(ctx, ctx.org()?, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook `{id}` in this organisation")))
}

/// `DELETE /v1/orgs/{org}/webhooks/{webhook}`: stops deliveries (pending
/// ones fail); the delivery log stays.
pub async fn delete_webhook(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let id = matched.param("webhook");
    webhooks::delete_webhook(&D1Store::new(ctx), ctx.org()?, &ctx.actor()?, id).await?;
    Ok(http::json(
        &WebhookDeleted {
            id: id.to_owned(),
            deleted: true,
        },
        200,
    )?)
}

/// `GET /v1/orgs/{org}/webhooks/{webhook}/deliveries?status=&limit=&cursor=`,
/// newest first.
pub async fn list_deliveries(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let id = matched.param("webhook");
    load(ctx, id).await?;
    let (paging, extra) = http::paging(req, &["status"])?;
    let status = extra
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.clone());
    if let Some(status) = &status
        && !["pending", "delivered", "failed"].contains(&status.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status is pending, delivered or failed, got `{status}`"
        )));
    }
    let rows = store::webhooks::deliveries(
        ctx,
        ctx.org()?,
        id,
        status.as_deref(),
        (paging.limit, paging.offset),
    )
    .await?;
    let deliveries = rows
        .iter()
        .map(|r| Delivery {
            id: r.id.clone(),
            event: r.event.clone(),
            payload: serde_json::from_str::<Value>(&r.payload).unwrap_or(Value::Null),
            created_at: as_i64(r.created_at),
            status: r.status.clone(),
            attempts: as_i64(r.attempts),
            next_attempt_at: r.next_attempt_at.map(as_i64),
            last_attempt_at: r.last_attempt_at.map(as_i64),
            response_status: r.response_status.map(as_i64),
            last_error: r.last_error.clone(),
        })
        .collect();
    Ok(http::json(
        &Deliveries {
            webhook: id.to_owned(),
            deliveries,
            next_cursor: paging.next_cursor(rows.len()),
        },
        200,
    )?)
}

/// Attempts the deliveries that are due (`outpost_registry::webhooks::
/// deliver_due`): after a response that announced something, and from the
/// cron. Returns (delivered, failed attempts).
pub async fn deliver_due(env: &Env) -> Result<(usize, usize), String> {
    let ctx = Ctx::new(env.clone()).map_err(|e| format!("{e:?}"))?;
    webhooks::deliver_due(&D1Store::new(&ctx))
        .await
        .map_err(|e| e.to_string())
}
