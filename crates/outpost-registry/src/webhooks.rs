//! Webhook endpoints: registered (checked by the core: https outside local
//! development, known events; at most [`MAX_WEBHOOKS`] per organisation)
//! with a secret shown once, and deleted (pending deliveries fail), each
//! with its audit entry. Delivery itself is the Worker's outbox loop.

use outpost_core::webhook::{
    Endpoint, WebhookSecret, check_subscription, retry_delay_s, secret_from_bytes,
};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AttemptOutcome, AuditEvent, Change, Clock, Commit, CommitError, DueDelivery, Outbox,
    Sender, WebhookEndpoint, Webhooks,
};

/// Endpoints per organisation.
pub const MAX_WEBHOOKS: usize = 20;

/// What a caller asks to register; the shell parsed the URL into
/// `endpoint` and knows whether plain http is allowed here.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    /// The URL as parsed and normalised.
    pub url: &'a str,
    pub endpoint: Endpoint<'a>,
    pub events: &'a [String],
    pub description: &'a str,
    pub allow_http: bool,
}

fn committed(result: Result<(), CommitError>) -> Result<(), RegistryError> {
    match result {
        Ok(()) => Ok(()),
        Err(CommitError::Conflict(what)) => Err(StoreError::new(format!("{what} conflict")).into()),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// `POST …/webhooks`: the endpoint and its signing secret (shown this once).
///
/// Errors: `InvalidSubscription`, `WebhookDescriptionTooLong` (422),
/// `TooManyWebhooks` (409), `Store`.
pub async fn create_webhook(
    ports: &(impl Webhooks + Clock + Commit),
    org: &str,
    actor: &Actor,
    new: &NewWebhook<'_>,
) -> Result<(WebhookEndpoint, String), RegistryError> {
    check_subscription(&new.endpoint, new.events, new.allow_http)
        .map_err(RegistryError::InvalidSubscription)?;
    if new.description.len() > 200 {
        return Err(RegistryError::WebhookDescriptionTooLong);
    }
    if ports.webhook_count(org).await? >= MAX_WEBHOOKS {
        return Err(RegistryError::TooManyWebhooks {
            org: org.to_owned(),
            max: MAX_WEBHOOKS,
        });
    }
    let id = format!("wh_{}", hex::encode(ports.random_bytes(12)?));
    let secret = secret_from_bytes(&ports.random_bytes(24)?);
    let mut events = new.events.to_vec();
    events.sort();
    events.dedup();
    let endpoint = WebhookEndpoint {
        id: id.clone(),
        url: new.url.to_owned(),
        events: events.clone(),
        description: new.description.to_owned(),
        created_at: ports.now_ms(),
        created_by: actor.history_name().to_owned(),
    };
    let event = AuditEvent {
        actor: actor.clone(),
        action: "webhook.create".into(),
        target: format!("webhooks/{id}"),
        details: json!({"url": endpoint.url, "events": events}),
    };
    let change = Change::CreateWebhook(endpoint.clone(), secret.clone());
    committed(ports.commit(org, vec![change], event).await)?;
    Ok((endpoint, secret))
}

/// `DELETE …/webhooks/{id}`: stops deliveries (pending ones fail); the
/// delivery log stays.
///
/// Errors: `WebhookNotFound` (404), `Store`.
pub async fn delete_webhook(
    ports: &(impl Webhooks + Commit),
    org: &str,
    actor: &Actor,
    id: &str,
) -> Result<(), RegistryError> {
    let endpoint = ports
        .webhook(org, id)
        .await?
        .ok_or_else(|| RegistryError::WebhookNotFound { id: id.to_owned() })?;
    let event = AuditEvent {
        actor: actor.clone(),
        action: "webhook.delete".into(),
        target: format!("webhooks/{id}"),
        details: json!({"url": endpoint.url}),
    };
    let change = Change::DeleteWebhook { id: id.to_owned() };
    committed(ports.commit(org, vec![change], event).await)
}

/// Deliveries attempted per run (a request's tail, or the cron).
pub const DELIVERIES_PER_RUN: usize = 25;
/// How long an attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT_MS: u64 = 10_000;

/// One attempt: signed as Standard Webhooks (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`), redirects not followed.
async fn attempt(
    ports: &impl Sender,
    due: &DueDelivery,
    now_ms: i64,
) -> (Option<u16>, Result<u16, String>) {
    let secret = match WebhookSecret::parse(&due.secret) {
        Ok(secret) => secret,
        Err(err) => return (None, Err(format!("stored secret unusable: {err}"))),
    };
    let timestamp = now_ms.div_euclid(1000);
    let signature = secret.sign(&due.id, timestamp, due.payload.as_bytes());
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("user-agent", "Outpost-Webhooks/1".to_owned()),
        ("webhook-id", due.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    match ports
        .post(&due.url, &headers, &due.payload, ATTEMPT_TIMEOUT_MS)
        .await
    {
        Ok(status) if (200..300).contains(&status) => (Some(status), Ok(status)),
        Ok(status) => (Some(status), Err(format!("the endpoint answered {status}"))),
        Err(err) => (None, Err(err)),
    }
}

/// Attempts the deliveries that are due, oldest first; each is claimed
/// first (its next attempt pushed out) so that two runs never send it
/// twice at once; a failure is retried on `outpost_core::webhook`'s
/// schedule, then given up. Returns (delivered, failed attempts).
pub async fn deliver_due(
    ports: &(impl Outbox + Sender + Clock),
) -> Result<(usize, usize), RegistryError> {
    let now = ports.wall_clock_ms();
    let due = ports.due_deliveries(now, DELIVERIES_PER_RUN).await?;
    let (mut delivered, mut failed) = (0, 0);
    for delivery in due {
        let lease = now + 2 * ATTEMPT_TIMEOUT_MS as i64;
        if !ports.claim_delivery(&delivery, lease).await? {
            continue;
        }
        let attempts = delivery.attempts + 1;
        let at = ports.wall_clock_ms();
        let outcome = match attempt(ports, &delivery, at).await {
            (_, Ok(status)) => {
                delivered += 1;
                AttemptOutcome::Delivered(status)
            }
            (status, Err(error)) => {
                failed += 1;
                let next = retry_delay_s(attempts as usize).map(|s| at + s as i64 * 1000);
                AttemptOutcome::Failed {
                    status,
                    next,
                    error,
                }
            }
        };
        ports
            .record_attempt(&delivery.id, attempts, at, &outcome)
            .await?;
    }
    Ok((delivered, failed))
}
