//! Drawing on the rate limiters (`outpost_core::ratelimit` decides which):
//! the platform's rate-limiting bindings where bound, else a fixed-window
//! counter per isolate (the documented local fallback; `wrangler dev`
//! simulates the bindings, so it is only used where they are missing).

use std::cell::RefCell;

use outpost_core::ProblemKind;
use outpost_core::ratelimit::{FixedWindow, Limiter, PERIOD_S};
use worker::Env;

use crate::error::{ApiError, ApiResult};

thread_local! {
    static FALLBACK: RefCell<FixedWindow> = RefCell::new(FixedWindow::new(10_000));
}

/// Counts one request against `key` of `limiter`; a 429 problem with
/// `retry_after` (seconds) when the key is over its limit. A limiter that
/// fails to answer lets the request through (and says so in the log): an
/// outage of rate limiting must not become an outage of the API.
pub async fn draw(env: &Env, now_ms: i64, limiter: Limiter, key: String) -> ApiResult<()> {
    let allowed = match env.rate_limiter(limiter.binding()) {
        Ok(binding) => match binding.limit(key.clone()).await {
            Ok(outcome) => outcome.success,
            Err(err) => {
                worker::console_warn!("rate limiter {} failed: {err}", limiter.binding());
                true
            }
        },
        Err(_) => FALLBACK.with(|counter| {
            counter
                .borrow_mut()
                .allow(&key, limiter.fallback_limit(), now_ms)
        }),
    };
    if allowed {
        return Ok(());
    }
    let whose = match limiter {
        Limiter::Address => "this client address",
        Limiter::Token => "this token",
        Limiter::Org => "this organisation",
    };
    Err(ApiError::from(
        outpost_core::Problem::new(
            ProblemKind::TooManyRequests,
            format!(
                "{whose} sent more requests of this kind than its limit per {PERIOD_S} s; retry after {PERIOD_S} s"
            ),
        )
        .with_extension("retry_after", PERIOD_S)
        .with_extension("limit", limiter.binding()),
    ))
}
