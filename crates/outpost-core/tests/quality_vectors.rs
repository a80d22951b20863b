//! Quality metrics against scikit-learn, on the vectors
//! `scripts/gen-quality-vectors.py` wrote: accuracy, per-class and macro
//! precision, recall and F1 to 1e-9; ROC AUC from the score histograms
//! within the error bound each one reports (and the bound itself small on
//! these cases); calibration error, mean top score and mean entropy to 1e-9.
#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::quality::{LabelledOutcome, OutcomeWindow, QualityReport};
use serde_json::Value;

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9,
        "{what}: {got} vs scikit-learn {want}"
    );
}

#[test]
fn quality_matches_scikit_learn() {
    let vectors: Value = serde_json::from_str(include_str!("data/quality-vectors.json")).unwrap();
    let mut worst_auc_error: f64 = 0.0;
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let outcomes: Vec<LabelledOutcome> =
            serde_json::from_value(case["outcomes"].clone()).unwrap();
        let mut window = OutcomeWindow::default();
        for o in &outcomes {
            window.observe(o).unwrap();
        }
        let report = QualityReport::of(&window, None, 0.5);
        let want = &case["expected"];
        close(
            report.accuracy.unwrap(),
            want["accuracy"].as_f64().unwrap(),
            &format!("{name} accuracy"),
        );
        let classes = want["classes"].as_object().unwrap();
        assert_eq!(report.classes.len(), classes.len(), "{name}: classes");
        for got in &report.classes {
            let w = &classes[&got.class];
            let what = |m: &str| format!("{name} class {} {m}", got.class);
            close(
                got.precision,
                w["precision"].as_f64().unwrap(),
                &what("precision"),
            );
            close(got.recall, w["recall"].as_f64().unwrap(), &what("recall"));
            close(got.f1, w["f1"].as_f64().unwrap(), &what("f1"));
            assert_eq!(
                got.support,
                w["support"].as_u64().unwrap(),
                "{}",
                what("support")
            );
            if let Some(exact) = w.get("roc_auc").and_then(Value::as_f64) {
                let (auc, bound) = (got.roc_auc.unwrap(), got.roc_auc_error.unwrap());
                let error = (auc - exact).abs();
                assert!(
                    error <= bound + 1e-12,
                    "{}: binned {auc} vs exact {exact}: error {error} above its bound {bound}",
                    what("roc_auc")
                );
                worst_auc_error = worst_auc_error.max(error);
            }
        }
        let macro_avg = report.macro_avg.as_ref().unwrap();
        close(
            macro_avg.precision,
            want["macro"]["precision"].as_f64().unwrap(),
            &format!("{name} macro precision"),
        );
        close(
            macro_avg.recall,
            want["macro"]["recall"].as_f64().unwrap(),
            &format!("{name} macro recall"),
        );
        close(
            macro_avg.f1,
            want["macro"]["f1"].as_f64().unwrap(),
            &format!("{name} macro f1"),
        );
        if let Some(ece) = want.get("calibration_error").and_then(Value::as_f64) {
            close(
                report.calibration_error.unwrap(),
                ece,
                &format!("{name} calibration error"),
            );
            let confidence = report.confidence.as_ref().unwrap();
            close(
                confidence.mean_top_score,
                want["mean_top_score"].as_f64().unwrap(),
                &format!("{name} mean top score"),
            );
            close(
                confidence.mean_entropy,
                want["mean_entropy"].as_f64().unwrap(),
                &format!("{name} mean entropy"),
            );
        } else {
            assert!(
                report.calibration_error.is_none() && report.confidence.is_none(),
                "{name}"
            );
        }
    }
    // What README states: on these vectors the binned AUC is within 0.005
    // of scikit-learn's exact value.
    assert!(worst_auc_error < 0.005, "worst AUC error {worst_auc_error}");
    println!("worst binned-AUC error on the vectors: {worst_auc_error:.2e}");
}
