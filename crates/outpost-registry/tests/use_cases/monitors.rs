//! Monitors against the in-memory adapters: a production version whose
//! outcomes fall below a floor raises `quality.degraded` and
//! `retraining.recommended` once per episode, with an audit entry; checks
//! are recorded; bad policies are refused.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::api::{FeedbackItem, FeedbackRequest};
use outpost_core::auth::Role;
use outpost_core::lifecycle::{Stage, StageState};
use outpost_core::monitor::MonitorPolicy;
use outpost_registry::error::RegistryError;
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::monitors::{check_monitor, get_monitor, monitor_history, set_monitor};
use outpost_registry::ports::{Actor, Monitors as _};
use outpost_registry::quality::{give_feedback, keep_prediction};
use pollster::block_on;
use serde_json::json;

fn operator() -> Actor {
    Actor::Caller {
        token_id: "tok_op".into(),
        name: "ops".into(),
        role: Role::Operator,
    }
}

fn policy() -> MonitorPolicy {
    serde_json::from_value(json!({"min_f1": 0.8, "min_outcomes": 4})).unwrap()
}

/// Four outcomes for production predictions: two of them wrong.
pub(crate) fn poor_outcomes(
    registry: &MemoryRegistry,
    (org, model): (&str, &str),
    at: (&str, Stage),
) {
    let outputs = json!({"label": [1, 0, 1, 0]});
    let id = block_on(keep_prediction(
        registry,
        org,
        (model, at.0, at.1),
        &outputs,
    ))
    .unwrap()
    .unwrap();
    let outcomes = [0, 1, 1, 0]
        .iter()
        .enumerate()
        .map(|(row, label)| FeedbackItem {
            prediction_id: id.clone(),
            row: row as u32,
            label: json!(label),
            value: None,
        })
        .collect();
    block_on(give_feedback(
        registry,
        org,
        model,
        &FeedbackRequest { outcomes },
    ))
    .unwrap();
}

fn check(registry: &MemoryRegistry) -> Vec<&'static str> {
    let monitor = block_on(registry.monitor("acme", "fraud", Stage::Production))
        .unwrap()
        .unwrap();
    block_on(check_monitor(registry, &monitor))
        .unwrap()
        .raised
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

#[test]
fn a_production_version_below_its_floor_raises_once_per_episode() {
    let registry = MemoryRegistry::new();
    registry.add_model("acme", "fraud");
    registry.add_version("acme", "fraud", "1.0.0", b"model");
    registry.deploy(
        "acme",
        "fraud",
        Stage::Production,
        StageState::single("1.0.0"),
    );
    block_on(set_monitor(
        &registry,
        "acme",
        &operator(),
        ("fraud", Stage::Production),
        &policy(),
    ))
    .unwrap();
    // Nothing to judge yet: no signal, no event.
    assert!(check(&registry).is_empty());
    poor_outcomes(&registry, ("acme", "fraud"), ("1.0.0", Stage::Production));
    assert_eq!(
        check(&registry),
        vec!["quality.degraded", "retraining.recommended"]
    );
    assert!(check(&registry).is_empty(), "the same episode");
    let events: Vec<&str> = registry.outbox("acme").iter().map(|(e, _)| *e).collect();
    assert_eq!(events, vec!["quality.degraded", "retraining.recommended"]);
    let (_, data) = &registry.outbox("acme")[0];
    assert_eq!(data["signals"][0]["metric"], "f1");
    let alerts: Vec<_> = registry
        .audit_log("acme")
        .into_iter()
        .filter(|e| e.action == "monitor.alert")
        .collect();
    assert_eq!(alerts.len(), 1, "one audit entry per episode start");

    let view = block_on(get_monitor(&registry, "acme", ("fraud", Stage::Production))).unwrap();
    assert_eq!(view.last.len(), 1);
    assert!(view.episodes["1.0.0"].len() == 2, "{view:?}");
    let history = block_on(monitor_history(
        &registry,
        "acme",
        ("fraud", Stage::Production),
        10,
    ))
    .unwrap();
    assert_eq!(history.checks.len(), 3);
    assert_eq!(
        history.checks[1].raised,
        vec!["quality.degraded", "retraining.recommended"]
    );
}

#[test]
fn bad_policies_and_unknown_monitors_are_refused() {
    let registry = MemoryRegistry::new();
    registry.add_model("acme", "fraud");
    let mut bad = policy();
    bad.min_f1 = Some(2.0);
    let err = block_on(set_monitor(
        &registry,
        "acme",
        &operator(),
        ("fraud", Stage::Production),
        &bad,
    ))
    .unwrap_err();
    assert!(matches!(err, RegistryError::InvalidMonitor(_)), "{err}");
    let err = block_on(get_monitor(&registry, "acme", ("fraud", Stage::Staging))).unwrap_err();
    assert!(
        matches!(err, RegistryError::MonitorNotFound { .. }),
        "{err}"
    );
    let err = block_on(set_monitor(
        &registry,
        "acme",
        &operator(),
        ("ghost", Stage::Production),
        &policy(),
    ))
    .unwrap_err();
    assert!(matches!(err, RegistryError::ModelNotFound { .. }), "{err}");
}
