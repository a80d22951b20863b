//! What this isolate served, per organisation, route and model: requests by
//! status class, latency, and model-cache hits. Kept in the isolate's memory
//! (a Worker has no shared memory across isolates, and a D1 write per request
//! would cost more than the request), so `/metrics` labels these series with
//! the isolate; prediction counts across all isolates come from D1 telemetry.

use std::cell::RefCell;
use std::collections::BTreeMap;

use outpost_core::telemetry::Histogram;

/// Latency bins of requests, in seconds.
pub const BOUNDS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone)]
pub struct Series {
    pub by_status: BTreeMap<&'static str, u64>,
    pub latency: Histogram,
    pub latency_sum_s: f64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Requests refused without a valid token.
    pub refused_unauthenticated: u64,
    /// Requests of a valid token refused for what the token is (role,
    /// organisation, expiry, revocation).
    pub refused_token_holder: u64,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            by_status: BTreeMap::new(),
            latency: Histogram::new(BOUNDS_S.to_vec()),
            latency_sum_s: 0.0,
            cache_hits: 0,
            cache_misses: 0,
            refused_unauthenticated: 0,
            refused_token_holder: 0,
        }
    }
}

/// (org, route, model); model is "" on routes without one.
pub type Key = (String, &'static str, String);

thread_local! {
    static SERIES: RefCell<BTreeMap<Key, Series>> = const { RefCell::new(BTreeMap::new()) };
    static ISOLATE: String = crate::ctx::random_bytes(6).map(hex::encode).unwrap_or_else(|_| "unknown".into());
}

/// Most series kept per organisation, and in all (bounds on memory whatever
/// paths are requested; one organisation cannot crowd out the others).
const MAX_SERIES_PER_ORG: usize = 1_000;
const MAX_SERIES: usize = 20_000;

fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn with_series(key: Key, f: impl FnOnce(&mut Series)) {
    SERIES.with(|series| {
        let mut series = series.borrow_mut();
        if !series.contains_key(&key) {
            let org = &key.0;
            let of_org = series
                .range((org.clone(), "", String::new())..)
                .take_while(|((o, _, _), _)| o == org)
                .count();
            if series.len() >= MAX_SERIES || of_org >= MAX_SERIES_PER_ORG {
                return;
            }
        }
        f(series.entry(key).or_default());
    });
}

pub fn record_request(key: Key, status: u16, seconds: f64) {
    with_series(key, |s| {
        *s.by_status.entry(status_class(status)).or_default() += 1;
        s.latency.record(seconds);
        s.latency_sum_s += seconds;
    });
}

/// A refused request: of a token holder (audited once per window, see
/// `authn::deny`) or for want of a valid token (never audited).
pub fn record_refusal(key: Key, by_token_holder: bool) {
    with_series(key, |s| {
        if by_token_holder {
            s.refused_token_holder += 1;
        } else {
            s.refused_unauthenticated += 1;
        }
    });
}

pub fn record_cache(key: Key, hit: bool) {
    with_series(key, |s| {
        if hit {
            s.cache_hits += 1;
        } else {
            s.cache_misses += 1;
        }
    });
}

/// The series of one organisation.
pub fn snapshot(org: &str) -> Vec<(Key, Series)> {
    SERIES.with(|series| {
        series
            .borrow()
            .iter()
            .filter(|((o, _, _), _)| o == org)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

pub fn isolate() -> String {
    ISOLATE.with(Clone::clone)
}
