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
}
