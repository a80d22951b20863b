//! `GET /v1/orgs/{org}/metrics`: the organisation's metrics in OpenMetrics
//! text, for Prometheus-compatible scrapers (bearer token of the org).
//!
//! Two sources: per-isolate request series (`request_metrics`: requests by
//! route, model and status class, latency, model-cache hits; labelled with
//! the isolate, since each isolate counts its own) and, across every isolate
//! and client, prediction counters and latency histograms summed from the
//! telemetry windows in D1 per model, version, stage and source; and the
//! monitors' open episodes per version.

use outpost_core::monitor::SignalKind;
use outpost_core::openmetrics::{CONTENT_TYPE, Exposition};
use outpost_core::telemetry::LATENCY_BOUNDS_US;
use worker::{Headers, Response};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::request_metrics::{self, BOUNDS_S};
use crate::store::{self, telemetry::PredictionRow};

pub async fn metrics(ctx: &Ctx) -> ApiResult<Response> {
    let org = ctx.org()?;
    let isolate = request_metrics::isolate();
    let mut e = Exposition::new();
    let series = request_metrics::snapshot(org);

    e.family(
        "outpost_http_requests",
        "counter",
        None,
        "Requests this isolate served, per route, model and status class.",
    );
    for ((_, route, model), s) in &series {
        for (class, n) in &s.by_status {
            e.counter(
                "outpost_http_requests",
                &[
                    ("route", route),
                    ("model", model),
                    ("status", class),
                    ("isolate", &isolate),
                ],
                *n as f64,
            );
        }
    }
    e.family(
        "outpost_http_request_errors",
        "counter",
        None,
        "Requests this isolate answered with a 5xx problem, per route and model.",
    );
    for ((_, route, model), s) in &series {
        let errors = s.by_status.get("5xx").copied().unwrap_or(0);
        e.counter(
            "outpost_http_request_errors",
            &[("route", route), ("model", model), ("isolate", &isolate)],
            errors as f64,
        );
    }
    e.family(
        "outpost_http_request_duration_seconds",
        "histogram",
        Some("seconds"),
        "Time from request to response in this isolate.",
    );
    for ((_, route, model), s) in &series {
        e.histogram(
            "outpost_http_request_duration_seconds",
            &[("route", route), ("model", model), ("isolate", &isolate)],
            &BOUNDS_S,
            &s.latency.counts,
            s.latency_sum_s,
        );
    }
    type Refusals = fn(&request_metrics::Series) -> u64;
    let refusals: [(&str, &str, Refusals); 2] = [
        (
            "outpost_requests_refused_unauthenticated",
            "Requests naming this organisation that this isolate refused for want of a valid token (counted, not audited: anyone can send them).",
            |s| s.refused_unauthenticated,
        ),
        (
            "outpost_requests_refused_token_holder",
            "Requests of a valid token this isolate refused for what the token is (audited once per token, action and minute).",
            |s| s.refused_token_holder,
        ),
    ];
    for (name, help, count) in refusals {
        e.family(name, "counter", None, help);
        for ((_, route, _), s) in series.iter().filter(|(_, s)| count(s) > 0) {
            e.counter(
                name,
                &[("route", route), ("isolate", &isolate)],
                count(s) as f64,
            );
        }
    }
    type Count = fn(&request_metrics::Series) -> u64;
    let cache: [(&str, &str, Count); 2] = [
        (
            "outpost_model_cache_hits",
            "Predictions whose model this isolate had loaded already.",
            |s| s.cache_hits,
        ),
        (
            "outpost_model_cache_misses",
            "Predictions that had to fetch, verify and load their model first.",
            |s| s.cache_misses,
        ),
    ];
    for (name, help, count) in cache {
        e.family(name, "counter", None, help);
        for ((_, _, model), s) in series
            .iter()
            .filter(|(_, s)| s.cache_hits + s.cache_misses > 0)
        {
            e.counter(
                name,
                &[("model", model), ("isolate", &isolate)],
                count(s) as f64,
            );
        }
    }
    // Across isolates and clients: sums over the stored telemetry windows
    // and the totals the cron compacted older ones into.
    let rows = store::telemetry::prediction_totals(ctx, org).await?;
    let labels = |r: &PredictionRow| {
        [
            ("model", r.model.clone()),
            ("version", r.version.clone()),
            ("stage", r.stage.clone()),
            ("source", r.source.clone()),
        ]
    };
    for (name, help, value) in [
        (
            "outpost_predictions",
            "Prediction calls reported by clients and recorded by the Worker.",
            (|r: &PredictionRow| r.calls) as fn(&PredictionRow) -> Option<f64>,
        ),
        (
            "outpost_prediction_errors",
            "Prediction calls that failed.",
            |r: &PredictionRow| r.errors,
        ),
        (
            "outpost_prediction_rows",
            "Rows predicted.",
            |r: &PredictionRow| r.rows,
        ),
    ] {
        e.family(name, "counter", None, help);
        for r in &rows {
            let l = labels(r);
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            e.counter(name, &l, value(r).unwrap_or(0.0));
        }
    }
    e.family(
        "outpost_prediction_duration_seconds",
        "histogram",
        Some("seconds"),
        "Prediction call latency as clients and the Worker measured it (bins of outpost_core::telemetry; the sum is not kept).",
    );
    let bounds_s: Vec<f64> = LATENCY_BOUNDS_US.iter().map(|us| us / 1e6).collect();
    for r in &rows {
        let counts: Vec<u64> = serde_json::from_str::<Vec<Option<f64>>>(&r.latency)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.unwrap_or(0.0) as u64)
            .collect();
        let l = labels(r);
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        e.histogram(
            "outpost_prediction_duration_seconds",
            &l,
            &bounds_s,
            &counts,
            f64::NAN,
        );
    }
    // Monitors: which signals are in an episode now, per deployed version
    // the cron last checked (1 in an episode, 0 not), and when it checked.
    let monitors = store::monitors::of_org(ctx, org).await?;
    e.family(
        "outpost_monitor_signal",
        "gauge",
        None,
        "1 while a monitor's signal is in an episode for a version (drift, quality, confidence, service, retraining), else 0.",
    );
    for m in &monitors {
        let stage = m.stage.as_str();
        for (version, open) in &m.episodes {
            for kind in [
                SignalKind::Drift,
                SignalKind::Quality,
                SignalKind::Confidence,
                SignalKind::Service,
                SignalKind::Retraining,
            ] {
                let signal = serde_json::to_value(kind).unwrap_or_default();
                e.gauge(
                    "outpost_monitor_signal",
                    &[
                        ("model", &m.model),
                        ("stage", stage),
                        ("version", version),
                        ("signal", signal.as_str().unwrap_or_default()),
                    ],
                    if open.contains(&kind) { 1.0 } else { 0.0 },
                );
            }
        }
    }
    e.family(
        "outpost_monitor_last_check_timestamp_seconds",
        "gauge",
        Some("seconds"),
        "When the cron last checked a stage's monitor.",
    );
    for m in monitors.iter().filter(|m| m.checked_at.is_some()) {
        e.gauge(
            "outpost_monitor_last_check_timestamp_seconds",
            &[("model", &m.model), ("stage", m.stage.as_str())],
            m.checked_at.unwrap_or_default() as f64 / 1e3,
        );
    }
    let headers = Headers::new();
    headers.set("content-type", CONTENT_TYPE)?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(e.finish())?.with_headers(headers))
}
