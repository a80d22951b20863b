//! Ground truth against the in-memory adapters: predictions kept for
//! feedback, idempotent outcomes, refused batches that store nothing,
//! device windows kept once per id, and quality over a window.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::api::{FeedbackItem, FeedbackRequest, OutcomeReport};
use outpost_core::lifecycle::Stage;
use outpost_core::quality::{LabelledOutcome, OutcomeWindow};
use outpost_registry::error::RegistryError;
use outpost_registry::memory::{MemoryRegistry, NOW};
use outpost_registry::quality::{
    QualityQuery, give_feedback, keep_prediction, report_outcomes, version_quality,
};
use pollster::block_on;
use serde_json::json;

const DAY: i64 = 86_400_000;

fn registry() -> MemoryRegistry {
    let registry = MemoryRegistry::new();
    registry.add_model("acme", "fraud");
    registry.add_version("acme", "fraud", "1.0.0", b"model bytes");
    registry
}

fn item(id: &str, row: u32, label: serde_json::Value) -> FeedbackItem {
    FeedbackItem {
        prediction_id: id.into(),
        row,
        label,
        value: None,
    }
}

fn predict(registry: &MemoryRegistry) -> String {
    let outputs =
        json!({"label": [1, 0, 1], "probabilities": [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]]});
    block_on(keep_prediction(
        registry,
        "acme",
        ("fraud", "1.0.0", Stage::Production),
        &outputs,
    ))
    .unwrap()
    .unwrap()
}

fn quality(registry: &MemoryRegistry) -> outpost_core::api::QualityView {
    block_on(version_quality(
        registry,
        "acme",
        &QualityQuery {
            model: "fraud",
            version: "1.0.0",
            stage: None,
            window: ("24h", DAY),
            positive: None,
            low: 0.5,
        },
    ))
    .unwrap()
}

#[test]
fn outcomes_for_worker_predictions_count_once() {
    let registry = registry();
    let id = predict(&registry);
    assert!(id.starts_with("pred_"));
    let request = FeedbackRequest {
        outcomes: vec![
            item(&id, 0, json!(1)),
            item(&id, 1, json!("1")),
            item(&id, 2, json!(0)),
        ],
    };
    let first = block_on(give_feedback(&registry, "acme", "fraud", &request)).unwrap();
    assert_eq!((first.accepted, first.duplicates), (3, 0));
    // Retried (and a late repeat of one row with another label): nothing changes.
    let again = block_on(give_feedback(&registry, "acme", "fraud", &request)).unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 3));
    let late = FeedbackRequest {
        outcomes: vec![item(&id, 2, json!(1))],
    };
    block_on(give_feedback(&registry, "acme", "fraud", &late)).unwrap();

    let view = quality(&registry);
    assert_eq!(view.feedback, 3);
    let q = &view.quality;
    assert_eq!(q.outcomes, 3);
    // actual 1,1,0 vs predicted 1,0,1: one right.
    assert_eq!(q.accuracy, Some(1.0 / 3.0));
    assert_eq!(q.positive_class.as_deref(), Some("1"));
}

#[test]
fn a_batch_with_an_unknown_prediction_or_row_stores_nothing() {
    let registry = registry();
    let id = predict(&registry);
    for (bad, says) in [
        (item("pred_nope", 0, json!(1)), "no prediction `pred_nope`"),
        (item(&id, 3, json!(1)), "has rows 0 to 2, not 3"),
        (item(&id, 0, json!([1])), "label must be text"),
        (item(&id, 0, json!("")), "empty or longer"),
    ] {
        let request = FeedbackRequest {
            outcomes: vec![item(&id, 0, json!(1)), bad],
        };
        let err = block_on(give_feedback(&registry, "acme", "fraud", &request)).unwrap_err();
        assert!(
            matches!(&err, RegistryError::InvalidFeedback(why) if why.contains(says)),
            "{err}"
        );
    }
    assert_eq!(quality(&registry).feedback, 0, "nothing stored");
    let err = block_on(give_feedback(
        &registry,
        "acme",
        "other",
        &FeedbackRequest {
            outcomes: vec![item(&id, 0, json!(1))],
        },
    ))
    .unwrap_err();
    assert!(matches!(err, RegistryError::ModelNotFound { .. }), "{err}");
}

#[test]
fn outputs_that_are_not_a_classifiers_keep_nothing() {
    let registry = registry();
    let kept = block_on(keep_prediction(
        &registry,
        "acme",
        ("fraud", "1.0.0", Stage::Production),
        &json!({"variable": [[0.3]]}),
    ))
    .unwrap();
    assert_eq!(kept, None);
}

#[test]
fn device_windows_merge_with_feedback_and_count_once_per_id() {
    let registry = registry();
    let id = predict(&registry);
    block_on(give_feedback(
        &registry,
        "acme",
        "fraud",
        &FeedbackRequest {
            outcomes: vec![item(&id, 0, json!(1))],
        },
    ))
    .unwrap();
    let mut window = OutcomeWindow::default();
    for (actual, predicted) in [("1", "1"), ("0", "0"), ("0", "1")] {
        window
            .observe(&LabelledOutcome {
                actual: actual.into(),
                predicted: predicted.into(),
                scores: None,
                value: Some(2.5),
            })
            .unwrap();
    }
    let report = OutcomeReport {
        version: "1.0.0".into(),
        stage: Stage::Production,
        id: "kiosk-7:2026-11-30T10".into(),
        window,
    };
    let stored = block_on(report_outcomes(&registry, "acme", "fraud", &report)).unwrap();
    assert!(stored.stored);
    let again = block_on(report_outcomes(&registry, "acme", "fraud", &report)).unwrap();
    assert!(!again.stored, "the same id is kept once");
    let view = quality(&registry);
    assert_eq!((view.feedback, view.reported_windows), (1, 1));
    assert_eq!(view.quality.outcomes, 4);
    assert_eq!(view.quality.accuracy, Some(0.75));
    assert_eq!(view.quality.value_sum, Some(7.5));

    // Outside the window: a day later, nothing.
    registry.set_now(NOW + 2 * DAY);
    assert_eq!(quality(&registry).quality.outcomes, 0);

    let mut bad = report.clone();
    bad.id = "has space".into();
    assert!(matches!(
        block_on(report_outcomes(&registry, "acme", "fraud", &bad)).unwrap_err(),
        RegistryError::InvalidFeedback(_)
    ));
    bad.id = "ok".into();
    bad.version = "9.9.9".into();
    assert!(matches!(
        block_on(report_outcomes(&registry, "acme", "fraud", &bad)).unwrap_err(),
        RegistryError::TelemetryForUnknownVersion { .. }
    ));
}
