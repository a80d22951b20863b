//! Webhook endpoints and their outbox of deliveries (the statement that
//! enqueues a delivery is `super::enqueue_webhook`, committed with the
//! change it announces).

use outpost_registry::ports::AttemptOutcome;
use worker::{D1Database, D1PreparedStatement};

use crate::ctx::Ctx;
use crate::db;

#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    /// JSON array of event names.
    pub events: String,
    pub description: String,
    pub created_at: f64,
    pub created_by: String,
}

const COLUMNS: &str = "id, url, events, description, created_at, created_by";

/// How many endpoints `org` has (not deleted).
pub async fn active_count(ctx: &Ctx, org: &str) -> worker::Result<usize> {
    Ok(db::all::<serde_json::Value>(
        &ctx.db
            .prepare("SELECT id FROM webhooks WHERE org = ?1 AND deleted_at IS NULL")
            .bind(&[db::text(org)])?,
    )
    .await?
    .len())
}

/// The statement registering an endpoint with its signing secret.
pub fn insert(
    ctx: &Ctx,
    org: &str,
    row: &WebhookRow,
    secret: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO webhooks (id, org, url, secret, events, description, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            db::text(&row.id),
            db::text(org),
            db::text(&row.url),
            db::text(secret),
            db::text(&row.events),
            db::text(&row.description),
            db::real(row.created_at),
            db::text(&row.created_by),
        ])
}

/// `org`'s endpoints, oldest first.
pub async fn active(ctx: &Ctx, org: &str) -> worker::Result<Vec<WebhookRow>> {
    db::all::<WebhookRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM webhooks WHERE org = ?1 AND deleted_at IS NULL ORDER BY created_at, id"
            ))
            .bind(&[db::text(org)])?,
    )
    .await
}

pub async fn one(ctx: &Ctx, org: &str, id: &str) -> worker::Result<Option<WebhookRow>> {
    db::first::<WebhookRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM webhooks WHERE org = ?1 AND id = ?2 AND deleted_at IS NULL"
            ))
            .bind(&[db::text(org), db::text(id)])?,
    )
    .await
}

/// The statements deleting an endpoint: its pending deliveries fail, the
/// delivery log stays.
pub fn delete(ctx: &Ctx, org: &str, id: &str) -> worker::Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        ctx.db
            .prepare("UPDATE webhooks SET deleted_at = ?1 WHERE org = ?2 AND id = ?3")
            .bind(&[db::int(ctx.now), db::text(org), db::text(id)])?,
        ctx.db
            .prepare(
                "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,
                 last_error = 'the webhook was deleted' WHERE org = ?1 AND webhook = ?2 AND status = 'pending'",
            )
            .bind(&[db::text(org), db::text(id)])?,
    ])
}

#[derive(Debug, serde::Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub event: String,
    pub payload: String,
    pub created_at: f64,
    pub status: String,
    pub attempts: f64,
    pub next_attempt_at: Option<f64>,
    pub last_attempt_at: Option<f64>,
    pub response_status: Option<f64>,
    pub last_error: Option<String>,
}

/// One endpoint's deliveries, newest first, optionally of one status.
pub async fn deliveries(
    ctx: &Ctx,
    org: &str,
    webhook: &str,
    status: Option<&str>,
    (limit, offset): (u32, u64),
) -> worker::Result<Vec<DeliveryRow>> {
    db::all::<DeliveryRow>(
        &ctx.db
            .prepare(
                "SELECT id, event, payload, created_at, status, attempts, next_attempt_at, last_attempt_at,
                        response_status, last_error
                 FROM webhook_deliveries WHERE org = ?1 AND webhook = ?2 AND (?3 IS NULL OR status = ?3)
                 ORDER BY created_at DESC, id LIMIT ?4 OFFSET ?5",
            )
            .bind(&[
                db::text(org),
                db::text(webhook),
                db::opt_text(status),
                db::int(i64::from(limit)),
                db::int(offset as i64),
            ])?,
    )
    .await
}

#[derive(Debug, serde::Deserialize)]
pub struct DueRow {
    pub id: String,
    pub payload: String,
    pub attempts: f64,
    pub next_attempt_at: f64,
    pub url: String,
    pub secret: String,
}

/// Pending deliveries due at `now`, across organisations (the cron and a
/// request's tail deliver them), oldest first.
pub async fn due(db: &D1Database, now: i64, limit: usize) -> worker::Result<Vec<DueRow>> {
    db::all::<DueRow>(
        &db.prepare(
            "SELECT d.id, d.payload, d.attempts, d.next_attempt_at, w.url, w.secret
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook AND w.org = d.org
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND w.deleted_at IS NULL
             ORDER BY d.next_attempt_at LIMIT ?2",
        )
        .bind(&[db::int(now), db::int(limit as i64)])?,
    )
    .await
}

/// Claims a due delivery by pushing its next attempt out to `lease`;
/// false when another run claimed it first.
pub async fn claim(
    db: &D1Database,
    id: &str,
    next_attempt_at: i64,
    lease: i64,
) -> worker::Result<bool> {
    let claimed = db
        .prepare(
            "UPDATE webhook_deliveries SET next_attempt_at = ?1
             WHERE id = ?2 AND status = 'pending' AND next_attempt_at = ?3",
        )
        .bind(&[db::int(lease), db::text(id), db::int(next_attempt_at)])?
        .run()
        .await?;
    Ok(claimed
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0)
        > 0)
}

/// Records attempt number `attempts` at `at`.
pub async fn record_attempt(
    db: &D1Database,
    id: &str,
    attempts: i64,
    at: i64,
    outcome: &AttemptOutcome,
) -> worker::Result<()> {
    let statement = match outcome {
        AttemptOutcome::Delivered(status) => db
            .prepare(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = ?1, last_attempt_at = ?2,
                 response_status = ?3, next_attempt_at = NULL, last_error = NULL WHERE id = ?4",
            )
            .bind(&[
                db::int(attempts),
                db::int(at),
                db::int(i64::from(*status)),
                db::text(id),
            ])?,
        AttemptOutcome::Failed {
            status,
            next,
            error,
        } => db
            .prepare(
                "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, last_attempt_at = ?3,
                 response_status = ?4, next_attempt_at = ?5, last_error = ?6 WHERE id = ?7",
            )
            .bind(&[
                db::text(if next.is_some() { "pending" } else { "failed" }),
                db::int(attempts),
                db::int(at),
                db::opt_int(status.map(i64::from)),
                db::opt_int(*next),
                db::text(error),
                db::text(id),
            ])?,
    };
    statement.run().await?;
    Ok(())
}
