//! Monitors: what the cron holds every deployed version of a stage to —
//! production included, not only guarded canaries — and when it speaks up.
//!
//! A [`MonitorPolicy`] names lines (drift share, quality floors or a
//! relative drop against the metrics the version was registered with,
//! low-confidence rate, error rate, p95 latency) and the evidence needed
//! before each is judged. [`evaluate`] turns one version's measurements into
//! [`Signal`]s; [`advance`] raises an event only when a kind of
//! signal starts (an *episode*), not on every five-minute check while it
//! lasts, and lets it end when the signal clears.
//!
//! Events: `drift.detected`, `quality.degraded`, `confidence.low`,
//! `service.degraded` (error rate, latency) and `retraining.recommended`,
//! raised by [`MonitorPolicy::retrain_when`] (default: more than 30 % of the
//! features drifting, or a quality floor crossed).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::quality::QualityReport;

/// What a monitor holds a stage's versions to. Every line is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorPolicy {
    /// Share of drifted features (0–1) above which drift is signalled; needs
    /// a reference profile.
    #[serde(default)]
    pub max_drift_share: Option<f64>,
    /// Floors (0–1) of the positive class's (or macro) F1, precision, recall.
    #[serde(default)]
    pub min_f1: Option<f64>,
    #[serde(default)]
    pub min_precision: Option<f64>,
    #[serde(default)]
    pub min_recall: Option<f64>,
    /// Largest relative drop (0–1) of any registered metric that outcomes
    /// measure (accuracy, precision, recall, f1, auc): 0.1 signals a metric
    /// registered at 0.95 once it measures below 0.855.
    #[serde(default)]
    pub max_relative_drop: Option<f64>,
    /// Largest share (0–1) of scored outcomes whose top score is below
    /// `low_confidence`.
    #[serde(default)]
    pub max_low_confidence_rate: Option<f64>,
    /// The top score below which an outcome is low-confidence (0.6).
    #[serde(default = "default_low_confidence")]
    pub low_confidence: f64,
    /// Failed calls ÷ calls (0–1).
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    /// 95th percentile latency, in ms (the latency bins' upper bound).
    #[serde(default)]
    pub max_p95_ms: Option<f64>,
    /// Calls needed before drift, errors and latency are judged (100).
    #[serde(default = "default_min_calls")]
    pub min_calls: u64,
    /// Outcomes needed before quality and confidence are judged (50).
    #[serde(default = "default_min_outcomes")]
    pub min_outcomes: u64,
    /// How far back each check looks, e.g. `24h` (at most 30 d).
    #[serde(default = "default_window")]
    pub window: String,
    /// When retraining is recommended.
    #[serde(default)]
    pub retrain_when: RetrainRule,
}

/// When to recommend retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainRule {
    /// More than this share of features drifting (0.3).
    #[serde(default = "default_retrain_share")]
    pub drift_share_above: f64,
    /// Or any quality floor (or drop) crossed (true).
    #[serde(default = "yes")]
    pub on_quality: bool,
}

impl Default for RetrainRule {
    fn default() -> Self {
        RetrainRule {
            drift_share_above: default_retrain_share(),
            on_quality: true,
        }
    }
}

fn default_low_confidence() -> f64 {
    0.6
}
fn default_min_calls() -> u64 {
    100
}
fn default_min_outcomes() -> u64 {
    50
}
fn default_window() -> String {
    "24h".into()
}
fn default_retrain_share() -> f64 {
    0.3
}
fn yes() -> bool {
    true
}

/// Why a policy is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MonitorError {
    #[error("{0} must be between 0 and 1")]
    Share(&'static str),
    #[error("max_p95_ms must be a positive number of milliseconds")]
    Latency,
    #[error("window: {0}")]
    Window(String),
    #[error(
        "set at least one line to watch (a drift share, a quality floor or drop, a confidence, error or latency limit)"
    )]
    Empty,
}

impl MonitorPolicy {
    /// Checks the bounds of every line and the window.
    pub fn validate(&self) -> Result<(), MonitorError> {
        let shares = [
            ("max_drift_share", self.max_drift_share),
            ("min_f1", self.min_f1),
            ("min_precision", self.min_precision),
            ("min_recall", self.min_recall),
            ("max_relative_drop", self.max_relative_drop),
            ("max_low_confidence_rate", self.max_low_confidence_rate),
            ("max_error_rate", self.max_error_rate),
            ("low_confidence", Some(self.low_confidence)),
            (
                "retrain_when.drift_share_above",
                Some(self.retrain_when.drift_share_above),
            ),
        ];
        for (name, value) in shares {
            if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                return Err(MonitorError::Share(name));
            }
        }
        if self
            .max_p95_ms
            .is_some_and(|ms| !(ms.is_finite() && ms > 0.0))
        {
            return Err(MonitorError::Latency);
        }
        crate::telemetry::parse_window(&self.window)
            .map_err(|err| MonitorError::Window(err.to_string()))?;
        let any = self.max_drift_share.is_some()
            || self.min_f1.is_some()
            || self.min_precision.is_some()
            || self.min_recall.is_some()
            || self.max_relative_drop.is_some()
            || self.max_low_confidence_rate.is_some()
            || self.max_error_rate.is_some()
            || self.max_p95_ms.is_some();
        if !any {
            return Err(MonitorError::Empty);
        }
        Ok(())
    }
}

/// The kinds of signal, each with its event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Drift,
    Quality,
    Confidence,
    Service,
    Retraining,
}

impl SignalKind {
    /// The webhook event an episode of this kind raises.
    pub fn event(self) -> &'static str {
        match self {
            SignalKind::Drift => "drift.detected",
            SignalKind::Quality => "quality.degraded",
            SignalKind::Confidence => "confidence.low",
            SignalKind::Service => "service.degraded",
            SignalKind::Retraining => "retraining.recommended",
        }
    }
}

/// One line crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signal {
    pub kind: SignalKind,
    /// What was measured: `drift_share`, `f1`, `f1_drop`, `low_confidence_rate`, `error_rate`, `p95_ms`.
    pub metric: String,
    pub measured: f64,
    pub threshold: f64,
}

/// What one version showed over the monitor's window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed<'a> {
    pub calls: u64,
    pub error_rate: f64,
    /// ms; `None` without calls, infinite past the last latency bin.
    pub p95_ms: Option<f64>,
    /// `None` without a reference profile or samples.
    pub drift_share: Option<f64>,
    pub quality: Option<&'a QualityReport>,
    /// The metrics the version was registered with.
    pub registered: Option<&'a BTreeMap<String, f64>>,
}

/// One check of one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evaluation {
    pub calls: u64,
    pub outcomes: u64,
    pub signals: Vec<Signal>,
    /// Lines not judged yet, and why (too little evidence, no reference).
    pub waiting: Vec<String>,
}

impl Evaluation {
    /// The kinds signalled.
    pub fn kinds(&self) -> BTreeSet<SignalKind> {
        self.signals.iter().map(|s| s.kind).collect()
    }
}

/// Judges one version's measurements against `policy`.
pub fn evaluate(policy: &MonitorPolicy, seen: &Observed<'_>) -> Evaluation {
    let mut signals = Vec::new();
    let mut waiting = Vec::new();
    let mut push = |kind, metric: &str, measured: f64, threshold: f64| {
        signals.push(Signal {
            kind,
            metric: metric.to_owned(),
            measured,
            threshold,
        });
    };
    let enough_calls = seen.calls >= policy.min_calls;
    let watches_calls = policy.max_drift_share.is_some()
        || policy.max_error_rate.is_some()
        || policy.max_p95_ms.is_some();
    if watches_calls && !enough_calls {
        waiting.push(format!(
            "drift, errors and latency: {} of {} calls",
            seen.calls, policy.min_calls
        ));
    }
    let mut drift_share = None;
    if enough_calls {
        if let Some(max) = policy.max_drift_share {
            match seen.drift_share {
                Some(share) => {
                    drift_share = Some(share);
                    if share > max {
                        push(SignalKind::Drift, "drift_share", share, max);
                    }
                }
                None => waiting.push("drift: no reference profile or no samples".into()),
            }
        }
        if let Some(max) = policy.max_error_rate
            && seen.error_rate > max
        {
            push(SignalKind::Service, "error_rate", seen.error_rate, max);
        }
        if let (Some(max), Some(p95)) = (policy.max_p95_ms, seen.p95_ms)
            && p95 > max
        {
            push(SignalKind::Service, "p95_ms", p95, max);
        }
    }
    let outcomes = seen.quality.map_or(0, |q| q.outcomes);
    let watches_outcomes = policy.min_f1.is_some()
        || policy.min_precision.is_some()
        || policy.min_recall.is_some()
        || policy.max_relative_drop.is_some()
        || policy.max_low_confidence_rate.is_some();
    let mut quality_crossed = false;
    match seen.quality {
        Some(q) if outcomes >= policy.min_outcomes => {
            for (metric, floor) in [
                ("f1", policy.min_f1),
                ("precision", policy.min_precision),
                ("recall", policy.min_recall),
            ] {
                if let (Some(floor), Some(value)) = (floor, q.measured(metric))
                    && value < floor
                {
                    push(SignalKind::Quality, metric, value, floor);
                    quality_crossed = true;
                }
            }
            if let (Some(max_drop), Some(registered)) = (policy.max_relative_drop, seen.registered)
            {
                for (metric, &was) in registered {
                    let Some(now) = q.measured(metric) else {
                        continue;
                    };
                    if was > 0.0 && (was - now) / was > max_drop {
                        push(
                            SignalKind::Quality,
                            &format!("{metric}_drop"),
                            (was - now) / was,
                            max_drop,
                        );
                        quality_crossed = true;
                    }
                }
            }
            if let (Some(max), Some(c)) = (policy.max_low_confidence_rate, &q.confidence)
                && c.low_rate > max
            {
                push(
                    SignalKind::Confidence,
                    "low_confidence_rate",
                    c.low_rate,
                    max,
                );
            }
        }
        _ if watches_outcomes => waiting.push(format!(
            "quality and confidence: {outcomes} of {} outcomes",
            policy.min_outcomes
        )),
        _ => {}
    }
    let rule = &policy.retrain_when;
    if let Some(share) = drift_share
        && share > rule.drift_share_above
    {
        push(
            SignalKind::Retraining,
            "drift_share",
            share,
            rule.drift_share_above,
        );
    } else if rule.on_quality && quality_crossed {
        push(SignalKind::Retraining, "quality_floor", 1.0, 0.0);
    }
    Evaluation {
        calls: seen.calls,
        outcomes,
        signals,
        waiting,
    }
}

/// The kinds of signal currently in an episode, per version, as stored
/// between checks.
pub type Episodes = BTreeMap<String, BTreeSet<SignalKind>>;

/// The next episodes of `version` after `evaluation`, and the events to
/// raise now: one per kind that was not signalled at the last check. A kind
/// that clears (or can no longer be judged) ends its episode, so it is
/// raised again if it comes back.
pub fn advance(
    episodes: &Episodes,
    version: &str,
    evaluation: &Evaluation,
) -> (BTreeSet<SignalKind>, Vec<SignalKind>) {
    let before = episodes.get(version).cloned().unwrap_or_default();
    let now = evaluation.kinds();
    let raised = now.difference(&before).copied().collect();
    (now, raised)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::quality::{LabelledOutcome, OutcomeWindow};

    fn policy() -> MonitorPolicy {
        serde_json::from_value(serde_json::json!({
            "max_drift_share": 0.5, "min_f1": 0.8, "max_error_rate": 0.05,
            "min_calls": 10, "min_outcomes": 4,
        }))
        .unwrap()
    }

    fn report(pairs: &[(&str, &str)]) -> QualityReport {
        let mut window = OutcomeWindow::default();
        for (actual, predicted) in pairs {
            window
                .observe(&LabelledOutcome {
                    actual: (*actual).into(),
                    predicted: (*predicted).into(),
                    scores: None,
                    value: None,
                })
                .unwrap();
        }
        QualityReport::of(&window, None, 0.5)
    }

    #[test]
    fn a_healthy_version_signals_nothing_and_a_failing_one_recommends_retraining() {
        let good = report(&[("1", "1"), ("1", "1"), ("0", "0"), ("0", "0")]);
        let seen = Observed {
            calls: 50,
            error_rate: 0.0,
            drift_share: Some(0.25),
            quality: Some(&good),
            ..Observed::default()
        };
        let e = evaluate(&policy(), &seen);
        assert!(e.signals.is_empty(), "{e:?}");

        let bad = report(&[("1", "0"), ("1", "1"), ("0", "1"), ("0", "0")]);
        let seen = Observed {
            calls: 50,
            error_rate: 0.1,
            drift_share: Some(0.75),
            quality: Some(&bad),
            ..Observed::default()
        };
        let kinds = evaluate(&policy(), &seen).kinds();
        assert_eq!(
            kinds,
            BTreeSet::from([
                SignalKind::Drift,
                SignalKind::Quality,
                SignalKind::Service,
                SignalKind::Retraining
            ])
        );
    }

    #[test]
    fn too_little_evidence_waits_instead_of_judging() {
        let bad = report(&[("1", "0")]);
        let seen = Observed {
            calls: 3,
            error_rate: 1.0,
            drift_share: Some(1.0),
            quality: Some(&bad),
            ..Observed::default()
        };
        let e = evaluate(&policy(), &seen);
        assert!(e.signals.is_empty(), "{e:?}");
        assert_eq!(e.waiting.len(), 2, "{e:?}");
    }

    #[test]
    fn a_relative_drop_against_registration_is_quality() {
        let measured = report(&[("1", "1"), ("1", "0"), ("0", "0"), ("0", "0")]);
        let registered = BTreeMap::from([("recall".to_owned(), 0.9)]);
        let policy: MonitorPolicy = serde_json::from_value(
            serde_json::json!({"max_relative_drop": 0.1, "min_outcomes": 4}),
        )
        .unwrap();
        let e = evaluate(
            &policy,
            &Observed {
                quality: Some(&measured),
                registered: Some(&registered),
                ..Observed::default()
            },
        );
        assert_eq!(e.signals[0].metric, "recall_drop");
        assert!((e.signals[0].measured - (0.9 - 0.5) / 0.9).abs() < 1e-12);
        assert_eq!(e.kinds().len(), 2, "quality and retraining: {e:?}");
    }

    /// Outcomes all right, each scored with `top` as its top score.
    fn scored(tops: &[f64], low: f64) -> QualityReport {
        let mut window = OutcomeWindow::default();
        for (i, &top) in tops.iter().enumerate() {
            let class = if i % 2 == 0 { "1" } else { "0" };
            let other = if i % 2 == 0 { "0" } else { "1" };
            window
                .observe(&LabelledOutcome {
                    actual: class.into(),
                    predicted: class.into(),
                    scores: Some(BTreeMap::from([
                        (class.to_owned(), top),
                        (other.to_owned(), 1.0 - top),
                    ])),
                    value: None,
                })
                .unwrap();
        }
        QualityReport::of(&window, None, low)
    }

    #[test]
    fn low_confidence_is_its_own_signal_and_does_not_recommend_retraining() {
        let policy: MonitorPolicy = serde_json::from_value(serde_json::json!({
            "max_low_confidence_rate": 0.25, "low_confidence": 0.7, "min_outcomes": 4,
        }))
        .unwrap();
        policy.validate().unwrap();
        // Two of four below 0.7: a rate of 0.5, over 0.25.
        let unsure = scored(&[0.55, 0.65, 0.9, 0.95], policy.low_confidence);
        let e = evaluate(
            &policy,
            &Observed {
                quality: Some(&unsure),
                ..Observed::default()
            },
        );
        assert_eq!(
            e.signals,
            [Signal {
                kind: SignalKind::Confidence,
                metric: "low_confidence_rate".into(),
                measured: 0.5,
                threshold: 0.25,
            }]
        );
        assert_eq!(SignalKind::Confidence.event(), "confidence.low");
        // One of four: within the line.
        let sure = scored(&[0.65, 0.8, 0.9, 0.95], policy.low_confidence);
        let e = evaluate(
            &policy,
            &Observed {
                quality: Some(&sure),
                ..Observed::default()
            },
        );
        assert!(e.signals.is_empty(), "{e:?}");
    }

    #[test]
    fn p95_latency_precision_and_recall_have_lines_of_their_own() {
        let policy: MonitorPolicy = serde_json::from_value(serde_json::json!({
            "max_p95_ms": 50.0, "min_precision": 0.9, "min_recall": 0.9,
            "min_calls": 10, "min_outcomes": 4,
        }))
        .unwrap();
        // Precision of "1" is 1/2, its recall 1/1.
        let q = report(&[("1", "1"), ("0", "1"), ("0", "0"), ("0", "0")]);
        let e = evaluate(
            &policy,
            &Observed {
                calls: 20,
                p95_ms: Some(120.0),
                quality: Some(&q),
                ..Observed::default()
            },
        );
        let lines: Vec<(SignalKind, &str, f64)> = e
            .signals
            .iter()
            .map(|s| (s.kind, s.metric.as_str(), s.measured))
            .collect();
        assert_eq!(
            lines,
            [
                (SignalKind::Service, "p95_ms", 120.0),
                (SignalKind::Quality, "precision", 0.5),
                (SignalKind::Retraining, "quality_floor", 1.0),
            ]
        );
        // Recall alone under its floor: "1" predicted once of two.
        let q = report(&[("1", "1"), ("1", "0"), ("0", "0"), ("0", "0")]);
        let e = evaluate(
            &policy,
            &Observed {
                calls: 20,
                p95_ms: Some(20.0),
                quality: Some(&q),
                ..Observed::default()
            },
        );
        assert_eq!(e.signals[0].metric, "recall");
        assert_eq!(e.signals[0].measured, 0.5);
    }

    #[test]
    fn the_retraining_rule_is_the_policys() {
        let bad = report(&[("1", "0"), ("1", "1"), ("0", "1"), ("0", "0")]);
        let seen = Observed {
            calls: 50,
            drift_share: Some(0.75),
            quality: Some(&bad),
            ..Observed::default()
        };
        // The default: 75 % drifting is over 30 %.
        assert!(
            evaluate(&policy(), &seen)
                .kinds()
                .contains(&SignalKind::Retraining)
        );
        // Only past 80 % drift, and never for quality alone.
        let mut patient = policy();
        patient.retrain_when = RetrainRule {
            drift_share_above: 0.8,
            on_quality: false,
        };
        patient.validate().unwrap();
        let kinds = evaluate(&patient, &seen).kinds();
        assert_eq!(
            kinds,
            BTreeSet::from([SignalKind::Drift, SignalKind::Quality]),
            "drift and quality are signalled, retraining is not"
        );
        // Quality alone, with the rule on: retraining for the floor crossed.
        patient.retrain_when.on_quality = true;
        let e = evaluate(&patient, &seen);
        let retraining: Vec<&Signal> = e
            .signals
            .iter()
            .filter(|s| s.kind == SignalKind::Retraining)
            .collect();
        assert_eq!(retraining.len(), 1);
        assert_eq!(retraining[0].metric, "quality_floor");
        patient.retrain_when.drift_share_above = 1.5;
        assert_eq!(
            patient.validate(),
            Err(MonitorError::Share("retrain_when.drift_share_above"))
        );
    }

    #[test]
    fn an_episode_raises_once_and_again_only_after_it_ended() {
        let signalled = Evaluation {
            calls: 1,
            outcomes: 0,
            signals: vec![Signal {
                kind: SignalKind::Drift,
                metric: "drift_share".into(),
                measured: 0.9,
                threshold: 0.5,
            }],
            waiting: vec![],
        };
        let quiet = Evaluation {
            signals: vec![],
            ..signalled.clone()
        };
        let mut episodes = Episodes::new();
        let (now, raised) = advance(&episodes, "1.0.0", &signalled);
        assert_eq!(raised, vec![SignalKind::Drift]);
        episodes.insert("1.0.0".into(), now);
        let (now, raised) = advance(&episodes, "1.0.0", &signalled);
        assert!(raised.is_empty(), "the same episode");
        episodes.insert("1.0.0".into(), now);
        let (now, _) = advance(&episodes, "1.0.0", &quiet);
        episodes.insert("1.0.0".into(), now);
        let (_, raised) = advance(&episodes, "1.0.0", &signalled);
        assert_eq!(raised, vec![SignalKind::Drift], "a new episode");
    }

    #[test]
    fn policies_out_of_bounds_are_refused() {
        let mut p = policy();
        p.min_f1 = Some(1.5);
        assert_eq!(p.validate(), Err(MonitorError::Share("min_f1")));
        let empty: MonitorPolicy = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty.validate(), Err(MonitorError::Empty));
        let mut p = policy();
        p.window = "2y".into();
        assert!(matches!(p.validate(), Err(MonitorError::Window(_))));
    }
}
