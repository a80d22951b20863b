//! Guardrails: the thresholds a rollout's canary must stay within — error
//! rate, p95 latency and dataset drift share — and the decision the cron
//! takes on what the canary's telemetry measured since the rollout began.
//! A tripped guardrail rolls the canary back; too little traffic decides
//! nothing (a canary is not judged on three calls).

use serde::{Deserialize, Serialize};

use crate::lifecycle::StageState;
use crate::routing::RolloutPolicy;
use crate::telemetry::{LATENCY_BOUNDS_US, TelemetryWindow};

fn default_min_calls() -> u64 {
    20
}

/// Thresholds for one rollout; at least one must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// Failed calls ÷ calls, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// 95th percentile of call latency, in milliseconds (at most 1 000: the
    /// latency bins end at one second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95_ms: Option<f64>,
    /// Share of drifted features, in [0, 1]; needs a reference profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drift_share: Option<f64>,
    /// Compare the canary's error rate with the stable arm's at the same
    /// stage since the rollout began, with this false-alarm rate α (0 < α ≤
    /// 0.2): an always-valid test (`crate::sequential`), so a canary worse
    /// than stable is rolled back however it compares with a fixed line,
    /// and an equal one is rolled back with probability at most α however
    /// often the cron looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_with_stable: Option<f64>,
    /// Floor (0–1) of the canary's F1 (its positive class's, or macro) from
    /// the outcomes given for its predictions since the rollout began
    /// (`crate::quality`); judged once there are `min_outcomes`. With
    /// `compare_with_stable`, the canary's misclassification rate is also
    /// compared with the stable arm's where both have outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_f1: Option<f64>,
    /// Floor (0–1) of the canary's precision (its positive class's, or
    /// macro), judged as `min_f1`: a fraud model that starts crying wolf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_precision: Option<f64>,
    /// Floor (0–1) of the canary's recall (its positive class's, or macro),
    /// judged as `min_f1`: a fraud model that starts missing fraud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_recall: Option<f64>,
    /// Outcomes needed before quality is judged (50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_outcomes: Option<u64>,
    /// Calls needed before the canary is judged at all.
    #[serde(default = "default_min_calls")]
    pub min_calls: u64,
}

/// Outcomes needed before a canary's quality is judged, unless set.
pub const DEFAULT_MIN_OUTCOMES: u64 = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardrailError {
    #[error(
        "guardrails need at least one of max_error_rate, max_p95_ms, max_drift_share, compare_with_stable, min_f1, min_precision, min_recall"
    )]
    Empty,
    #[error("{0}")]
    OutOfRange(String),
}

impl Guardrails {
    pub fn validate(&self) -> Result<(), GuardrailError> {
        if self.max_error_rate.is_none()
            && self.max_p95_ms.is_none()
            && self.max_drift_share.is_none()
            && self.compare_with_stable.is_none()
            && self.min_f1.is_none()
            && self.min_precision.is_none()
            && self.min_recall.is_none()
        {
            return Err(GuardrailError::Empty);
        }
        for (name, floor) in self.quality_floors() {
            if let Some(floor) = floor
                && !(0.0..=1.0).contains(&floor)
            {
                return Err(GuardrailError::OutOfRange(format!(
                    "{name} is between 0 and 1, got {floor}"
                )));
            }
        }
        if self.min_outcomes == Some(0) {
            return Err(GuardrailError::OutOfRange(
                "min_outcomes is at least 1".into(),
            ));
        }
        if let Some(alpha) = self.compare_with_stable
            && !(alpha > 0.0 && alpha <= 0.2)
        {
            return Err(GuardrailError::OutOfRange(format!(
                "compare_with_stable is a false-alarm rate above 0 and at most 0.2, got {alpha}"
            )));
        }
        let share = |name: &str, v: Option<f64>| match v {
            Some(v) if !(0.0..=1.0).contains(&v) => Err(GuardrailError::OutOfRange(format!(
                "{name} is a share between 0 and 1, got {v}"
            ))),
            _ => Ok(()),
        };
        share("max_error_rate", self.max_error_rate)?;
        share("max_drift_share", self.max_drift_share)?;
        let last_bound_ms = LATENCY_BOUNDS_US[LATENCY_BOUNDS_US.len() - 1] / 1e3;
        if let Some(ms) = self.max_p95_ms
            && !(ms > 0.0 && ms <= last_bound_ms)
        {
            return Err(GuardrailError::OutOfRange(format!(
                "max_p95_ms is between 0 and {last_bound_ms} ms (the latency bins end there), got {ms}"
            )));
        }
        if !(1..=1_000_000_000).contains(&self.min_calls) {
            return Err(GuardrailError::OutOfRange(format!(
                "min_calls is between 1 and 10⁹, got {}",
                self.min_calls
            )));
        }
        Ok(())
    }

    /// The quality floors by name (`min_f1`, `min_precision`, `min_recall`).
    fn quality_floors(&self) -> [(&'static str, Option<f64>); 3] {
        [
            ("min_f1", self.min_f1),
            ("min_precision", self.min_precision),
            ("min_recall", self.min_recall),
        ]
    }
}

/// What the canary's telemetry showed. `p95_ms` is the upper bound of the
/// latency bin holding the 95th percentile, infinite past the last bin;
/// `drift_share` is absent without a reference profile or samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Measured {
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p95_ms: Option<f64>,
    pub drift_share: Option<f64>,
    /// What the outcomes of the canary's predictions showed, if any were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<OutcomeFacts>,
}

/// An arm's outcomes: how many, how many were predicted wrong, and its F1,
/// precision and recall (the positive class's, or macro).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OutcomeFacts {
    pub outcomes: u64,
    pub wrong: u64,
    pub f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
}

impl OutcomeFacts {
    /// The facts of a quality report (`None` without outcomes).
    pub fn of(report: &crate::quality::QualityReport) -> Option<Self> {
        let accuracy = report.accuracy?;
        Some(OutcomeFacts {
            outcomes: report.outcomes,
            wrong: report.outcomes - (accuracy * report.outcomes as f64).round() as u64,
            f1: report.measured("f1"),
            precision: report.measured("precision"),
            recall: report.measured("recall"),
        })
    }
}

/// The control arm of a comparison: the stable version's `(errors, calls)`
/// and, where outcomes were given, `(wrong, outcomes)`, over the same time.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub calls: (u64, u64),
    pub outcomes: Option<(u64, u64)>,
}

impl Measured {
    pub fn from_window(window: &TelemetryWindow, drift_share: Option<f64>) -> Self {
        let p95_ms = (window.calls > 0).then(|| {
            window
                .latency_quantile_us(0.95)
                .map_or(f64::INFINITY, |us| us / 1e3)
        });
        Self {
            calls: window.calls,
            errors: window.errors,
            error_rate: window.error_rate(),
            p95_ms,
            drift_share,
            outcomes: None,
        }
    }

    /// The same, with what the outcomes showed.
    pub fn with_outcomes(mut self, outcomes: Option<OutcomeFacts>) -> Self {
        self.outcomes = outcomes;
        self
    }
}

/// One threshold the canary crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Breach {
    pub metric: String,
    /// Infinite (serialised as null) when the p95 lies past the last bin.
    pub measured: f64,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    NotEnoughData { calls: u64, needed: u64 },
    Tripped { breaches: Vec<Breach> },
}

/// Judges the canary: tripped when any set threshold is exceeded (strictly),
/// once it has served `min_calls` calls.
pub fn evaluate(guardrails: &Guardrails, measured: &Measured) -> Verdict {
    if measured.calls < guardrails.min_calls {
        return Verdict::NotEnoughData {
            calls: measured.calls,
            needed: guardrails.min_calls,
        };
    }
    let checks = [
        (
            "error_rate",
            Some(measured.error_rate),
            guardrails.max_error_rate,
        ),
        ("p95_ms", measured.p95_ms, guardrails.max_p95_ms),
        (
            "drift_share",
            measured.drift_share,
            guardrails.max_drift_share,
        ),
    ];
    let mut breaches: Vec<Breach> = checks
        .into_iter()
        .filter_map(|(metric, value, threshold)| {
            let (value, threshold) = (value?, threshold?);
            (value > threshold).then(|| Breach {
                metric: metric.to_owned(),
                measured: value,
                threshold,
            })
        })
        .collect();
    // Quality, once enough outcomes were given: F1, precision or recall
    // below its floor.
    let enough = guardrails.min_outcomes.unwrap_or(DEFAULT_MIN_OUTCOMES);
    if let Some(facts) = &measured.outcomes
        && facts.outcomes >= enough
    {
        let floors = [
            ("f1", facts.f1, guardrails.min_f1),
            ("precision", facts.precision, guardrails.min_precision),
            ("recall", facts.recall, guardrails.min_recall),
        ];
        for (metric, value, floor) in floors {
            if let (Some(value), Some(floor)) = (value, floor)
                && value < floor
            {
                breaches.push(Breach {
                    metric: metric.into(),
                    measured: value,
                    threshold: floor,
                });
            }
        }
    }
    if breaches.is_empty() {
        Verdict::Healthy
    } else {
        Verdict::Tripped { breaches }
    }
}

/// The metric of a breach found by comparing the canary's error rate with
/// stable's.
pub const WORSE_THAN_STABLE: &str = "error_rate_vs_stable";
/// The metric of a breach found by comparing the canary's
/// misclassification rate (from outcomes) with stable's.
pub const LESS_RIGHT_THAN_STABLE: &str = "misclassification_vs_stable";

/// [`evaluate`], and — when the guardrails ask for it and both arms have
/// enough calls — the comparison of the canary's error rate with the
/// stable arm's `(errors, calls)` over the same time: a canary worse than
/// stable is tripped (metric [`WORSE_THAN_STABLE`], `measured` the evidence
/// ratio, `threshold` 1/α).
pub fn evaluate_against_stable(
    guardrails: &Guardrails,
    measured: &Measured,
    stable: Option<&Control>,
) -> Verdict {
    let verdict = evaluate(guardrails, measured);
    let (Some(alpha), Some(stable)) = (guardrails.compare_with_stable, stable) else {
        return verdict;
    };
    if matches!(verdict, Verdict::NotEnoughData { .. }) {
        return verdict;
    }
    let compare = |canary, control, metric: &str| {
        crate::sequential::compare_error_rates(canary, control, alpha)
            .filter(|c| c.canary_worse)
            .map(|c| Breach {
                metric: metric.to_owned(),
                measured: c.evidence,
                threshold: 1.0 / alpha,
            })
    };
    let mut found: Vec<Breach> = Vec::new();
    found.extend(compare(
        (measured.errors, measured.calls),
        stable.calls,
        WORSE_THAN_STABLE,
    ));
    // Quality only once both arms have enough outcomes, as the floor.
    let enough = guardrails.min_outcomes.unwrap_or(DEFAULT_MIN_OUTCOMES);
    if let (Some(facts), Some(control)) = (&measured.outcomes, stable.outcomes)
        && facts.outcomes >= enough
        && control.1 >= enough
    {
        found.extend(compare(
            (facts.wrong, facts.outcomes),
            control,
            LESS_RIGHT_THAN_STABLE,
        ));
    }
    if found.is_empty() {
        return verdict;
    }
    match verdict {
        Verdict::Tripped { mut breaches } => {
            breaches.extend(found);
            Verdict::Tripped { breaches }
        }
        _ => Verdict::Tripped { breaches: found },
    }
}

/// The stage's state with `canary` taken out of its rollout — stable,
/// variants and shadow kept — or `None` when the stage no longer runs that
/// canary (the rollout changed since it was judged: nothing to undo).
pub fn without_canary(state: &StageState, canary: &str) -> Option<StageState> {
    let mut policy = RolloutPolicy::from_state(state)?;
    if policy.canary.as_ref()?.version != canary {
        return None;
    }
    policy.canary = None;
    Some(policy.stage_state())
}

/// The metrics guardrails hold to a floor rather than a ceiling.
const QUALITY_FLOORS: [&str; 3] = ["f1", "precision", "recall"];

/// The history entry's reason for an automatic rollback.
pub fn rollback_reason(canary: &str, breaches: &[Breach]) -> String {
    let parts: Vec<String> = breaches
        .iter()
        .map(|b| {
            if b.metric == WORSE_THAN_STABLE || b.metric == LESS_RIGHT_THAN_STABLE {
                let what = if b.metric == WORSE_THAN_STABLE {
                    "error rate"
                } else {
                    "misclassification rate"
                };
                format!(
                    "{what} worse than stable's (evidence {} ≥ {}, always-valid p {})",
                    round(b.measured),
                    round(b.threshold),
                    round(1.0 / b.measured)
                )
            } else if QUALITY_FLOORS.contains(&b.metric.as_str()) {
                // A floor: crossed from above.
                format!("{} {} < {}", b.metric, round(b.measured), b.threshold)
            } else if b.measured.is_finite() {
                format!("{} {} > {}", b.metric, round(b.measured), b.threshold)
            } else {
                format!(
                    "{} over {} > {}",
                    b.metric,
                    LATENCY_BOUNDS_US[LATENCY_BOUNDS_US.len() - 1] / 1e3,
                    b.threshold
                )
            }
        })
        .collect();
    format!(
        "guardrail tripped for canary {canary}: {}",
        parts.join(", ")
    )
}

fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn rails() -> Guardrails {
        Guardrails {
            max_error_rate: Some(0.05),
            max_p95_ms: Some(100.0),
            max_drift_share: Some(0.5),
            compare_with_stable: None,
            min_f1: None,
            min_precision: None,
            min_recall: None,
            min_outcomes: None,
            min_calls: 20,
        }
    }

    fn window(calls: u64, errors: u64, latency_us: f64) -> TelemetryWindow {
        let mut w = TelemetryWindow::new(vec![]);
        for i in 0..calls {
            if i < errors {
                w.record_error(latency_us);
            } else {
                w.record_call(&[], 0, latency_us);
            }
        }
        w
    }

    #[test]
    fn a_healthy_canary_passes() {
        let m = Measured::from_window(&window(100, 2, 900.0), Some(0.0));
        assert_eq!(m.p95_ms, Some(1.0));
        assert_eq!(evaluate(&rails(), &m), Verdict::Healthy);
    }

    #[test]
    fn too_few_calls_decide_nothing() {
        let m = Measured::from_window(&window(5, 5, 900.0), None);
        assert_eq!(
            evaluate(&rails(), &m),
            Verdict::NotEnoughData {
                calls: 5,
                needed: 20
            }
        );
    }

    #[test]
    fn every_crossed_threshold_is_reported_with_its_measurement() {
        let m = Measured::from_window(&window(40, 10, 2e6), Some(0.75));
        let Verdict::Tripped { breaches } = evaluate(&rails(), &m) else {
            panic!("should trip")
        };
        let metrics: Vec<&str> = breaches.iter().map(|b| b.metric.as_str()).collect();
        assert_eq!(metrics, ["error_rate", "p95_ms", "drift_share"]);
        assert_eq!(breaches[0].measured, 0.25);
        assert!(breaches[1].measured.is_infinite());
        let reason = rollback_reason("1.1.0", &breaches);
        assert_eq!(
            reason,
            "guardrail tripped for canary 1.1.0: error_rate 0.25 > 0.05, p95_ms over 1000 > 100, drift_share 0.75 > 0.5"
        );
    }

    #[test]
    fn thresholds_are_exclusive_and_unset_ones_are_ignored() {
        let only_errors = Guardrails {
            max_error_rate: Some(0.25),
            max_p95_ms: None,
            max_drift_share: None,
            compare_with_stable: None,
            min_f1: None,
            min_precision: None,
            min_recall: None,
            min_outcomes: None,
            min_calls: 1,
        };
        let m = Measured::from_window(&window(40, 10, 2e6), None);
        assert_eq!(evaluate(&only_errors, &m), Verdict::Healthy);
    }

    #[test]
    fn a_canary_worse_than_stable_trips_and_an_equal_one_does_not() {
        let compare = Guardrails {
            max_error_rate: None,
            max_p95_ms: None,
            max_drift_share: None,
            compare_with_stable: Some(0.05),
            min_f1: None,
            min_precision: None,
            min_recall: None,
            min_outcomes: None,
            min_calls: 30,
        };
        let canary = Measured::from_window(&window(400, 60, 2e3), None);
        let Verdict::Tripped { breaches } =
            evaluate_against_stable(&compare, &canary, Some(&control((8, 400), None)))
        else {
            panic!("a canary at 15 % against stable at 2 % must trip");
        };
        assert_eq!(breaches[0].metric, WORSE_THAN_STABLE);
        assert!(rollback_reason("1.1.0", &breaches).contains("worse than stable's"));
        let equal = Measured::from_window(&window(400, 12, 2e3), None);
        assert_eq!(
            evaluate_against_stable(&compare, &equal, Some(&control((12, 400), None))),
            Verdict::Healthy
        );
        // No stable telemetry: nothing to compare, nothing decided by it.
        assert_eq!(
            evaluate_against_stable(&compare, &canary, None),
            Verdict::Healthy
        );
        let mut bad = compare.clone();
        bad.compare_with_stable = Some(0.5);
        assert!(matches!(bad.validate(), Err(GuardrailError::OutOfRange(_))));
    }

    fn control(calls: (u64, u64), outcomes: Option<(u64, u64)>) -> Control {
        Control { calls, outcomes }
    }

    #[test]
    fn quality_floors_and_the_quality_comparison_need_outcomes() {
        let floor = Guardrails {
            max_error_rate: None,
            max_p95_ms: None,
            max_drift_share: None,
            compare_with_stable: Some(0.05),
            min_f1: Some(0.8),
            min_precision: None,
            min_recall: None,
            min_outcomes: Some(40),
            min_calls: 30,
        };
        floor.validate().unwrap();
        let facts = |outcomes, wrong, f1| OutcomeFacts {
            outcomes,
            wrong,
            f1: Some(f1),
            precision: None,
            recall: None,
        };
        let calls = Measured::from_window(&window(400, 12, 2e3), None);
        // Too few outcomes: quality is not judged yet.
        let few = calls.clone().with_outcomes(Some(facts(39, 30, 0.1)));
        assert_eq!(
            evaluate_against_stable(&floor, &few, Some(&control((12, 400), Some((1, 39))))),
            Verdict::Healthy
        );
        // F1 under its floor, and wrong far more often than stable.
        let poor = calls.with_outcomes(Some(facts(300, 90, 0.6)));
        let Verdict::Tripped { breaches } =
            evaluate_against_stable(&floor, &poor, Some(&control((12, 400), Some((9, 300)))))
        else {
            panic!("a canary under its F1 floor must trip");
        };
        let metrics: Vec<&str> = breaches.iter().map(|b| b.metric.as_str()).collect();
        assert_eq!(metrics, ["f1", LESS_RIGHT_THAN_STABLE]);
        assert!(rollback_reason("1.1.0", &breaches).contains("misclassification rate worse"));
        let mut bad = floor.clone();
        bad.min_f1 = Some(1.2);
        assert!(bad.validate().is_err());
    }

    #[test]
    fn precision_and_recall_floors_trip_on_their_own() {
        let floors: Guardrails = serde_json::from_value(serde_json::json!({
            "min_precision": 0.9, "min_recall": 0.7, "min_outcomes": 10, "min_calls": 1
        }))
        .unwrap();
        floors.validate().unwrap();
        let calls = Measured::from_window(&window(100, 0, 2e3), None);
        let with = |precision, recall| {
            calls.clone().with_outcomes(Some(OutcomeFacts {
                outcomes: 100,
                wrong: 10,
                f1: Some(0.99),
                precision: Some(precision),
                recall: Some(recall),
            }))
        };
        assert_eq!(evaluate(&floors, &with(0.95, 0.8)), Verdict::Healthy);
        let breached = |measured: &Measured| match evaluate(&floors, measured) {
            Verdict::Tripped { breaches } => breaches
                .iter()
                .map(|b| (b.metric.clone(), b.measured, b.threshold))
                .collect::<Vec<_>>(),
            other => panic!("expected a trip, got {other:?}"),
        };
        assert_eq!(
            breached(&with(0.5, 0.8)),
            [("precision".to_owned(), 0.5, 0.9)]
        );
        assert_eq!(
            breached(&with(0.95, 0.6)),
            [("recall".to_owned(), 0.6, 0.7)]
        );
        // A floor alone is a guardrail; out of [0, 1] it is refused by name.
        let mut bad = floors.clone();
        bad.min_recall = Some(-0.1);
        assert_eq!(
            bad.validate(),
            Err(GuardrailError::OutOfRange(
                "min_recall is between 0 and 1, got -0.1".into()
            ))
        );
    }

    #[test]
    fn a_rollback_takes_out_the_judged_canary_and_keeps_the_rest() {
        use crate::routing::Arm;
        let arm = |version: &str, weight| Arm {
            version: version.into(),
            weight,
        };
        let rollout = RolloutPolicy {
            stable: "1.0.0".into(),
            canary: Some(arm("1.1.0", 2000)),
            variants: vec![arm("1.2.0", 1000)],
            shadow: Some("2.0.0".into()),
        };
        let state = rollout.stage_state();
        let expected = RolloutPolicy {
            canary: None,
            ..rollout
        }
        .stage_state();
        assert_eq!(without_canary(&state, "1.1.0"), Some(expected.clone()));
        // Another canary, no canary any more, nothing deployed: no change.
        assert_eq!(without_canary(&state, "1.3.0"), None);
        assert_eq!(without_canary(&expected, "1.1.0"), None);
        assert_eq!(without_canary(&StageState::default(), "1.1.0"), None);
    }

    #[test]
    fn guardrails_are_validated() {
        rails().validate().unwrap();
        let none = Guardrails {
            max_error_rate: None,
            max_p95_ms: None,
            max_drift_share: None,
            compare_with_stable: None,
            min_f1: None,
            min_precision: None,
            min_recall: None,
            min_outcomes: None,
            min_calls: 1,
        };
        assert_eq!(none.validate(), Err(GuardrailError::Empty));
        let mut bad = rails();
        bad.max_error_rate = Some(1.5);
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("between 0 and 1")
        );
        let mut bad = rails();
        bad.max_p95_ms = Some(5000.0);
        assert!(bad.validate().unwrap_err().to_string().contains("1000 ms"));
        let mut bad = rails();
        bad.min_calls = 0;
        assert!(bad.validate().is_err());
        let parsed: Guardrails = serde_json::from_str(r#"{"max_error_rate": 0.1}"#).unwrap();
        assert_eq!(parsed.min_calls, 20);
        assert!(serde_json::from_str::<Guardrails>(r#"{"max_errors": 0.1}"#).is_err());
    }
}
