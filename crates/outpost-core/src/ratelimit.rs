//! Rate limits: which counters a request draws on, and the fixed-window
//! counter used where the platform's own limiter is not bound.
//!
//! Three limiters, each a Cloudflare rate-limiting binding (a fixed window
//! of 10 or 60 s per key, counted at the edge; `[[ratelimits]]` in
//! `wrangler.toml`, simulated in memory by `wrangler dev`):
//!
//! - [`Limiter::Address`]: per client address, drawn on by every request
//!   refused for want of a valid token (none, malformed, unknown or wrongly
//!   signed): unauthenticated traffic. Over the limit it is a 429 rather than
//!   a 401. Authenticated traffic never draws on it, so a fleet behind one
//!   address is not limited by its address;
//! - [`Limiter::Token`] and [`Limiter::Org`]: per token and per
//!   organisation, drawn on by the write and expensive routes (uploads,
//!   predictions, drift reports, telemetry) once the caller is known, so
//!   one token cannot starve its organisation and one organisation cannot
//!   starve the deployment.
//!
//! A refused request is a 429 with `Retry-After` set to the window (an
//! upper bound: the platform does not say when a key's window ends).

use std::collections::BTreeMap;

/// The expensive classes of routes; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Artifact and multipart uploads.
    Upload,
    /// Predictions (a model run each).
    Predict,
    /// Drift reports (statistics over stored windows).
    Report,
    /// Telemetry windows from clients.
    Telemetry,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Upload => "upload",
            Class::Predict => "predict",
            Class::Report => "report",
            Class::Telemetry => "telemetry",
        }
    }
}

/// A limiter: a binding name and its default window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limiter {
    Address,
    Token,
    Org,
}

impl Limiter {
    /// The binding's name in `wrangler.toml`.
    pub fn binding(self) -> &'static str {
        match self {
            Limiter::Address => "RATE_LIMIT_ADDRESS",
            Limiter::Token => "RATE_LIMIT_TOKEN",
            Limiter::Org => "RATE_LIMIT_ORG",
        }
    }

    /// The limit per window the fallback counter applies when the binding
    /// is absent (the same as the shipped `wrangler.toml`).
    pub fn fallback_limit(self) -> u64 {
        match self {
            Limiter::Address => 600,
            Limiter::Token => 1_200,
            Limiter::Org => 6_000,
        }
    }
}

/// The window of every limiter, seconds (one of the two the platform
/// offers).
pub const PERIOD_S: u64 = 60;

/// The (limiter, key) pairs a request of `class` by `token` of `org` draws
/// on, in the order they are checked.
pub fn counters(class: Class, org: &str, token: &str) -> Vec<(Limiter, String)> {
    vec![
        (Limiter::Token, format!("{}:token:{token}", class.as_str())),
        (Limiter::Org, format!("{}:org:{org}", class.as_str())),
    ]
}

/// The key an unauthenticated request draws on for a client `address`: an
/// IPv4 address as it is, an IPv6 address by its /64 (one subscriber's
/// prefix, which one client can rotate through freely), anything else as
/// given.
pub fn address_key(address: &str) -> String {
    let client = match address.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => address.trim().to_owned(),
    };
    format!("unauthenticated:addr:{client}")
}

/// A fixed-window counter per key, the platform limiter's semantics
/// (windows aligned to multiples of the period), for deployments where the
/// binding is missing. It counts per isolate, so it is a floor, not the
/// deployment-wide limit: documented as the local fallback only. Keys of
/// past windows are dropped, and at most `capacity` keys are kept (a key
/// that finds no room is allowed, never refused for want of memory).
#[derive(Debug, Clone)]
pub struct FixedWindow {
    capacity: usize,
    window: u64,
    counts: BTreeMap<String, u64>,
}

impl FixedWindow {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            window: 0,
            counts: BTreeMap::new(),
        }
    }

    /// Counts one request for `key` at `now_ms` against `limit` per
    /// [`PERIOD_S`]: whether it is allowed.
    pub fn allow(&mut self, key: &str, limit: u64, now_ms: i64) -> bool {
        let window = u64::try_from(now_ms).unwrap_or(0) / (PERIOD_S * 1000);
        if window != self.window {
            self.window = window;
            self.counts.clear();
        }
        let full = self.counts.len() >= self.capacity;
        match self.counts.get_mut(key) {
            Some(count) if *count >= limit => false,
            Some(count) => {
                *count += 1;
                true
            }
            None if full => true,
            None if limit == 0 => false,
            None => {
                self.counts.insert(key.to_owned(), 1);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_its_limit_then_refuses_until_the_next() {
        let mut counter = FixedWindow::new(10);
        let allowed = (0..5).filter(|_| counter.allow("k", 3, 1_000)).count();
        assert_eq!(allowed, 3);
        assert!(counter.allow("other", 3, 1_000), "keys count apart");
        assert!(counter.allow("k", 3, 60_000), "a new window");
        assert!(
            !counter.allow("nothing", 0, 60_000),
            "a limit of 0 allows none"
        );
    }

    #[test]
    fn a_full_counter_allows_rather_than_refuses() {
        let mut counter = FixedWindow::new(1);
        assert!(counter.allow("a", 1, 0));
        assert!(!counter.allow("a", 1, 0));
        for _ in 0..3 {
            assert!(counter.allow("b", 1, 0));
        }
    }

    #[test]
    fn each_class_counts_per_token_and_per_organisation() {
        assert_eq!(
            counters(Class::Upload, "acme", "tok_1"),
            vec![
                (Limiter::Token, "upload:token:tok_1".to_owned()),
                (Limiter::Org, "upload:org:acme".to_owned()),
            ]
        );
        assert_eq!(
            address_key("203.0.113.9"),
            "unauthenticated:addr:203.0.113.9"
        );
        // One /64, however the rest of the address is rotated.
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb:cccc:dddd:eeee")
        );
        assert_eq!(
            address_key("2001:db8:1:2::9"),
            "unauthenticated:addr:2001:db8:1:2::/64"
        );
    }
}
