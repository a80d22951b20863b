//! Webhooks: endpoints registered per organisation, an outbox of deliveries
//! written in the same D1 batch as the change they announce (so a change is
//! never announced without happening, nor happens unannounced), and their
//! delivery — signed as Standard Webhooks (`outpost_core::webhook`), retried
//! on its schedule, listed per endpoint.

use outpost_core::webhook::{EVENTS, Endpoint, WebhookSecret, retry_delay_s};
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::{
    self,
    webhooks::{DueRow, WebhookRow},
};
use outpost_registry::webhooks::{self, NewWebhook};

/// Deliveries attempted per run (a request's tail, or the cron).
const DELIVERIES_PER_RUN: usize = 25;
/// How long an attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT_MS: u64 = 10_000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateWebhook {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: String,
}

/// The public view of an endpoint (never its secret).
fn view(row: &WebhookRow) -> Value {
    json!({
        "id": row.id,
        "url": row.url,
        "events": serde_json::from_str::<Value>(&row.events).unwrap_or(Value::Null),
        "description": row.description,
        "created_at": as_i64(row.created_at),
        "created_by": row.created_by,
    })
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
    let mut view = json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "created_at": endpoint.created_at,
        "created_by": endpoint.created_by,
    });
    view["secret"] = json!(secret);
    Ok(http::created(
        &view,
        &format!("/v1/orgs/{org}/webhooks/{}", endpoint.id),
    )?)
}

/// `GET /v1/orgs/{org}/webhooks` (secrets are never listed).
pub async fn list_webhooks(ctx: &Ctx) -> ApiResult<Response> {
    let rows = store::webhooks::active(ctx, ctx.org()?).await?;
    let webhooks: Vec<Value> = rows.iter().map(view).collect();
    Ok(http::json(
        &json!({"webhooks": webhooks, "events": EVENTS}),
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
    Ok(http::json(&json!({"id": id, "deleted": true}), 200)?)
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
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "event": r.event,
                "payload": serde_json::from_str::<Value>(&r.payload).unwrap_or(Value::Null),
                "created_at": as_i64(r.created_at),
                "status": r.status,
                "attempts": as_i64(r.attempts),
                "next_attempt_at": r.next_attempt_at.map(as_i64),
                "last_attempt_at": r.last_attempt_at.map(as_i64),
                "response_status": r.response_status.map(as_i64),
                "last_error": r.last_error,
            })
        })
        .collect();
    Ok(http::json(
        &json!({"webhook": id, "deliveries": items, "next_cursor": paging.next_cursor(rows.len())}),
        200,
    )?)
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    Failed(Option<u16>, String),
}

async fn attempt(row: &DueRow, now_ms: i64) -> Attempt {
    let secret = match WebhookSecret::parse(&row.secret) {
        Ok(secret) => secret,
        Err(err) => return Attempt::Failed(None, format!("stored secret unusable: {err}")),
    };
    let timestamp = now_ms.div_euclid(1000);
    let signature = secret.sign(&row.id, timestamp, row.payload.as_bytes());
    match send(row, timestamp, &signature).await {
        Ok(status) if (200..300).contains(&status) => Attempt::Delivered(status),
        Ok(status) => Attempt::Failed(Some(status), format!("the endpoint answered {status}")),
        Err(err) => Attempt::Failed(None, err),
    }
}

async fn send(row: &DueRow, timestamp: i64, signature: &str) -> Result<u16, String> {
    use futures_util::future::{Either, select};
    let headers = worker::Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("content-type", "application/json")?;
    set("user-agent", "Outpost-Webhooks/1")?;
    set("webhook-id", &row.id)?;
    set("webhook-timestamp", &timestamp.to_string())?;
    set("webhook-signature", signature)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        // A redirect is not followed: the endpoint is what was registered.
        .with_redirect(worker::RequestRedirect::Manual)
        .with_body(Some(row.payload.as_str().into()));
    let request = Request::new_with_init(&row.url, &init).map_err(|e| e.to_string())?;
    let fetcher = worker::Fetch::Request(request);
    let fetch = Box::pin(fetcher.send());
    let timeout = Box::pin(worker::Delay::from(std::time::Duration::from_millis(
        ATTEMPT_TIMEOUT_MS,
    )));
    match select(fetch, timeout).await {
        Either::Left((Ok(response), _)) => Ok(response.status_code()),
        Either::Left((Err(err), _)) => Err(format!("the request failed: {err}")),
        Either::Right(_) => Err(format!("no answer within {ATTEMPT_TIMEOUT_MS} ms")),
    }
}

/// Attempts the deliveries that are due, oldest first; each is claimed
/// first (its next attempt pushed out) so that two runs never send it twice
/// at once. Returns (delivered, failed attempts).
pub async fn deliver_due(env: &Env) -> Result<(usize, usize), String> {
    let db = env.d1(crate::ctx::D1_BINDING).map_err(|e| e.to_string())?;
    let now = worker::Date::now().as_millis() as i64;
    let due = store::webhooks::due(&db, now, DELIVERIES_PER_RUN)
        .await
        .map_err(|e| e.to_string())?;
    let (mut delivered, mut failed) = (0, 0);
    for row in due {
        let lease = now + 2 * ATTEMPT_TIMEOUT_MS as i64;
        if !store::webhooks::claim(&db, &row, lease)
            .await
            .map_err(|e| e.to_string())?
        {
            continue;
        }
        let attempts = as_i64(row.attempts) + 1;
        let at = worker::Date::now().as_millis() as i64;
        let outcome = match attempt(&row, at).await {
            Attempt::Delivered(status) => {
                delivered += 1;
                store::webhooks::Outcome::Delivered(status)
            }
            Attempt::Failed(status, error) => {
                failed += 1;
                let next = retry_delay_s(attempts as usize).map(|s| at + s as i64 * 1000);
                store::webhooks::Outcome::Failed {
                    status,
                    next,
                    error,
                }
            }
        };
        store::webhooks::record_attempt(&db, &row.id, attempts, at, &outcome)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((delivered, failed))
}
