//! Webhook signatures as the Standard Webhooks scheme defines them, so that
//! receivers can use any of its libraries: headers `webhook-id`,
//! `webhook-timestamp` (seconds) and `webhook-signature` (`v1,<base64>` of
//! HMAC-SHA256 over `{id}.{timestamp}.{payload}`, space-separated when
//! several keys are live), secrets written `whsec_<base64>`; and the retry
//! schedule deliveries follow.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("a webhook secret is `whsec_` followed by base64")]
    BadSecret,
    #[error("the webhook timestamp is {0} s away from now; at most {TOLERANCE_S} s is accepted")]
    Stale(i64),
    #[error("no v1 signature in the header matches the payload")]
    NoMatch,
}

/// How far a receiver lets a timestamp drift (replay protection).
pub const TOLERANCE_S: i64 = 300;

/// A parsed `whsec_…` secret.
#[derive(Clone)]
pub struct WebhookSecret(hmac::Key);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text.strip_prefix("whsec_").ok_or(WebhookError::BadSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::BadSecret)?;
        if bytes.is_empty() {
            return Err(WebhookError::BadSecret);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    fn content(id: &str, timestamp_s: i64, payload: &[u8]) -> Vec<u8> {
        let mut content = format!("{id}.{timestamp_s}.").into_bytes();
        content.extend_from_slice(payload);
        content
    }

    /// The `webhook-signature` header value for one delivery.
    pub fn sign(&self, id: &str, timestamp_s: i64, payload: &[u8]) -> String {
        let tag = hmac::sign(&self.0, &Self::content(id, timestamp_s, payload));
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// What a receiver checks: a fresh timestamp and one matching v1
    /// signature (compared in constant time).
    pub fn verify(
        &self,
        id: &str,
        timestamp_s: i64,
        signatures: &str,
        payload: &[u8],
        now_s: i64,
    ) -> Result<(), WebhookError> {
        let drift = now_s - timestamp_s;
        if drift.abs() > TOLERANCE_S {
            return Err(WebhookError::Stale(drift));
        }
        let content = Self::content(id, timestamp_s, payload);
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .any(|tag| hmac::verify(&self.0, &content, &tag).is_ok());
        if matches {
            Ok(())
        } else {
            Err(WebhookError::NoMatch)
        }
    }
}

/// Seconds to wait before delivery attempt `attempt` (0 = the first, at
/// once), or `None` when the delivery has failed for good: Standard
/// Webhooks' suggested schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
pub fn retry_delay_s(attempt: usize) -> Option<u64> {
    const SCHEDULE: [u64; 8] = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
    SCHEDULE.get(attempt).copied()
}

/// The lifecycle events an endpoint can subscribe to (`*` is all of them).
pub const EVENTS: [&str; 10] = [
    "version.registered",
    "stage.promoted",
    "stage.rolled_back",
    "stage.rollout_changed",
    "guardrail.tripped",
    "drift.detected",
    "quality.degraded",
    "confidence.low",
    "service.degraded",
    "retraining.recommended",
];

/// Why an endpoint registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("webhook URLs use https{0}; got `{1}`")]
    Scheme(&'static str, String),
    #[error("the webhook URL has no host")]
    NoHost,
    #[error("the webhook URL must not carry credentials; put them in the signing secret's place")]
    Credentials,
    #[error("subscribe to at least one event: {events} or *", events = EVENTS.join(", "))]
    NoEvents,
    #[error("unknown event `{0}`; the events are {events} (or * for all)", events = EVENTS.join(", "))]
    UnknownEvent(String),
}

/// The parts of an endpoint URL that decide whether Outpost may call it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    pub scheme: &'a str,
    pub host: Option<&'a str>,
    pub has_credentials: bool,
}

/// Checks an endpoint and its events. Plain http is only for local
/// development (`allow_http`), where receivers run on localhost.
pub fn check_subscription(
    endpoint: &Endpoint<'_>,
    events: &[String],
    allow_http: bool,
) -> Result<(), SubscriptionError> {
    match endpoint.scheme {
        "https" => {}
        "http" if allow_http => {}
        other => {
            let also = if allow_http {
                " (or http, in development)"
            } else {
                ""
            };
            return Err(SubscriptionError::Scheme(also, other.to_owned()));
        }
    }
    if endpoint.host.is_none_or(str::is_empty) {
        return Err(SubscriptionError::NoHost);
    }
    if endpoint.has_credentials {
        return Err(SubscriptionError::Credentials);
    }
    if events.is_empty() {
        return Err(SubscriptionError::NoEvents);
    }
    for event in events {
        if event != "*" && !EVENTS.contains(&event.as_str()) {
            return Err(SubscriptionError::UnknownEvent(event.clone()));
        }
    }
    Ok(())
}

/// The body every endpoint receives: `{type, timestamp, data}`.
pub fn payload(event: &str, timestamp_ms: i64, data: &serde_json::Value) -> String {
    serde_json::json!({
        "type": event,
        "timestamp": crate::timefmt::format_utc(timestamp_ms),
        "data": data,
    })
    .to_string()
}

/// A fresh `whsec_` secret from 24 random bytes.
pub fn secret_from_bytes(bytes: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(bytes))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    // The Standard Webhooks specification's example.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, PAYLOAD), SIGNATURE);
    }

    #[test]
    fn receivers_accept_a_fresh_match_among_several_signatures() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let header = format!("v1,bm90IGl0 {SIGNATURE}");
        secret
            .verify(ID, TIMESTAMP, &header, PAYLOAD, TIMESTAMP + 10)
            .unwrap();
        assert_eq!(
            secret.verify(ID, TIMESTAMP, SIGNATURE, br#"{"test": 1}"#, TIMESTAMP),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            secret.verify(ID, TIMESTAMP, SIGNATURE, PAYLOAD, TIMESTAMP + 301),
            Err(WebhookError::Stale(301))
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_not base64!",
        ] {
            assert_eq!(
                WebhookSecret::parse(bad).unwrap_err(),
                WebhookError::BadSecret
            );
        }
        assert!(!format!("{:?}", WebhookSecret::parse(SECRET).unwrap()).contains("MfKQ"));
    }

    #[test]
    fn retries_back_off_then_stop() {
        assert_eq!(retry_delay_s(0), Some(0));
        assert_eq!(retry_delay_s(2), Some(300));
        assert_eq!(retry_delay_s(7), Some(36_000));
        assert_eq!(retry_delay_s(8), None);
    }

    #[test]
    fn subscriptions_need_https_a_host_and_known_events() {
        let endpoint = |scheme, host| Endpoint {
            scheme,
            host,
            has_credentials: false,
        };
        let events = vec!["guardrail.tripped".to_owned()];
        check_subscription(&endpoint("https", Some("hooks.example")), &events, false).unwrap();
        assert!(matches!(
            check_subscription(&endpoint("http", Some("127.0.0.1")), &events, false),
            Err(SubscriptionError::Scheme(..))
        ));
        check_subscription(&endpoint("http", Some("127.0.0.1")), &events, true).unwrap();
        assert_eq!(
            check_subscription(&endpoint("https", None), &events, false),
            Err(SubscriptionError::NoHost)
        );
        let with_credentials = Endpoint {
            has_credentials: true,
            ..endpoint("https", Some("hooks.example"))
        };
        assert_eq!(
            check_subscription(&with_credentials, &events, false),
            Err(SubscriptionError::Credentials)
        );
        assert_eq!(
            check_subscription(&endpoint("https", Some("h")), &[], false),
            Err(SubscriptionError::NoEvents)
        );
        let err = check_subscription(
            &endpoint("https", Some("h")),
            &["stage.promote".into()],
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("stage.promoted"), "{err}");
        check_subscription(&endpoint("https", Some("h")), &["*".into()], false).unwrap();
    }

    #[test]
    fn payloads_and_secrets_have_the_standard_shape() {
        let body = payload("stage.rolled_back", 0, &serde_json::json!({"model": "m"}));
        assert_eq!(
            body,
            r#"{"data":{"model":"m"},"timestamp":"1970-01-01T00:00:00Z","type":"stage.rolled_back"}"#
        );
        let secret = secret_from_bytes(&[7u8; 24]);
        assert!(secret.starts_with("whsec_"));
        WebhookSecret::parse(&secret).unwrap();
    }
}
