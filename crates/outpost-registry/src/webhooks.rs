//! Webhook endpoints: registered (checked by the core: https outside local
//! development, known events; at most [`MAX_WEBHOOKS`] per organisation)
//! with a secret shown once, and deleted (pending deliveries fail), each
//! with its audit entry. Delivery itself is the Worker's outbox loop.

use outpost_core::webhook::{Endpoint, check_subscription, secret_from_bytes};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Change, Clock, Commit, CommitError, WebhookEndpoint, Webhooks,
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
