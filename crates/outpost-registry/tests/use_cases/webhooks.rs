//! Webhook endpoints against the in-memory adapters.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::auth::Role;
use outpost_core::webhook::Endpoint;
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::ports::Actor;
use outpost_registry::webhooks::{MAX_WEBHOOKS, NewWebhook, create_webhook, delete_webhook};
use pollster::block_on;

fn admin() -> Actor {
    Actor::Caller {
        token_id: "tok_admin".into(),
        name: "ci-admin".into(),
        role: Role::Admin,
    }
}

fn new<'a>(url: &'a str, scheme: &'a str, events: &'a [String]) -> NewWebhook<'a> {
    NewWebhook {
        url,
        endpoint: Endpoint {
            scheme,
            host: Some("hooks.example.com"),
            has_credentials: false,
        },
        events,
        description: "",
        allow_http: false,
    }
}

#[test]
fn an_endpoint_is_registered_with_a_secret_shown_once_and_deleted() {
    let registry = MemoryRegistry::new();
    let events = vec!["stage.promoted".to_owned(), "stage.promoted".to_owned()];
    let (endpoint, secret) = block_on(create_webhook(
        &registry,
        "acme",
        &admin(),
        &new("https://hooks.example.com/outpost", "https", &events),
    ))
    .unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(registry.webhook_secret("acme", &endpoint.id), Some(secret));
    assert_eq!(endpoint.events, ["stage.promoted"], "events are a set");
    assert_eq!(
        registry.audit_log("acme").pop().unwrap().action,
        "webhook.create"
    );
    block_on(delete_webhook(&registry, "acme", &admin(), &endpoint.id)).unwrap();
    assert_eq!(
        registry.audit_log("acme").pop().unwrap().action,
        "webhook.delete"
    );
    let again = block_on(delete_webhook(&registry, "acme", &admin(), &endpoint.id));
    insta::assert_json_snapshot!("deleted_twice", again.unwrap_err().to_problem());
}

#[test]
fn plain_http_and_unknown_events_are_refused() {
    let registry = MemoryRegistry::new();
    let events = vec!["stage.promoted".to_owned()];
    let http = block_on(create_webhook(
        &registry,
        "acme",
        &admin(),
        &new("http://hooks.example.com/", "http", &events),
    ));
    assert_eq!(http.unwrap_err().to_problem().status, 422);
    let unknown = vec!["stage.exploded".to_owned()];
    let bad = block_on(create_webhook(
        &registry,
        "acme",
        &admin(),
        &new("https://hooks.example.com/", "https", &unknown),
    ));
    assert_eq!(bad.unwrap_err().to_problem().status, 422);
    assert!(registry.audit_log("acme").is_empty());
}

#[test]
fn an_organisation_has_a_bounded_number_of_endpoints() {
    let registry = MemoryRegistry::new();
    let events = vec!["*".to_owned()];
    for _ in 0..MAX_WEBHOOKS {
        block_on(create_webhook(
            &registry,
            "acme",
            &admin(),
            &new("https://hooks.example.com/", "https", &events),
        ))
        .unwrap();
    }
    let one_more = block_on(create_webhook(
        &registry,
        "acme",
        &admin(),
        &new("https://hooks.example.com/", "https", &events),
    ));
    insta::assert_json_snapshot!("too_many", one_more.unwrap_err().to_problem());
}

fn delivery(id: &str, due_at: i64) -> outpost_registry::ports::DueDelivery {
    outpost_registry::ports::DueDelivery {
        id: id.into(),
        payload: r#"{"type":"stage.promoted"}"#.into(),
        attempts: 0,
        next_attempt_at: due_at,
        url: "https://hooks.example.com/outpost".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    }
}

#[test]
fn due_deliveries_are_signed_sent_and_retried_on_the_schedule() {
    use outpost_core::webhook::WebhookSecret;
    use outpost_registry::memory::NOW;
    use outpost_registry::ports::AttemptOutcome;
    use outpost_registry::webhooks::deliver_due;
    let registry = MemoryRegistry::new();
    registry.queue_delivery(delivery("msg_ok", NOW - 1));
    registry.queue_delivery(delivery("msg_flaky", NOW - 1));
    registry.queue_delivery(delivery("msg_later", NOW + 60_000));
    registry.respond_with(vec![Ok(204), Ok(503)]);
    let (delivered, failed) = block_on(deliver_due(&registry)).unwrap();
    assert_eq!((delivered, failed), (1, 1), "the later one is not due");
    // Each request carries a Standard Webhooks signature that verifies.
    let posted = registry.posted();
    let header = |name: &str| {
        posted[0]
            .1
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        header("webhook-signature"),
        secret.sign("msg_ok", timestamp, posted[0].2.as_bytes())
    );
    assert!(matches!(
        registry.delivery("msg_ok").unwrap().2,
        Some(AttemptOutcome::Delivered(204))
    ));
    // The 503 is retried 5 s later (the schedule's first step).
    let (attempts, next, outcome) = registry.delivery("msg_flaky").unwrap();
    assert_eq!(attempts, 1);
    assert_eq!(next, NOW + 5_000);
    assert!(matches!(
        outcome,
        Some(AttemptOutcome::Failed {
            status: Some(503),
            ..
        })
    ));
    // Nothing is due again before then.
    assert_eq!(block_on(deliver_due(&registry)).unwrap(), (0, 0));
}
