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
            confidence_matches_the_top_scores(name, &window, &outcomes);
        } else {
            assert!(
                report.calibration_error.is_none() && report.confidence.is_none(),
                "{name}"
            );
        }
        // The positive rate: the share of outcomes predicted as the positive
        // class (each class in turn), counted here from the rows themselves.
        for class in &report.classes {
            let as_positive = QualityReport::of(&window, Some(&class.class), 0.5);
            let predicted = outcomes
                .iter()
                .filter(|o| o.predicted == class.class)
                .count();
            close(
                as_positive.positive_rate.unwrap(),
                predicted as f64 / outcomes.len() as f64,
                &format!("{name} positive rate of {}", class.class),
            );
        }
    }
    // What README states: on these vectors the binned AUC is within 0.005
    // of scikit-learn's exact value.
    assert!(worst_auc_error < 0.005, "worst AUC error {worst_auc_error}");
    println!("worst binned-AUC error on the vectors: {worst_auc_error:.2e}");
}

/// The confidence summary against the rows' own top scores: the share
/// below a threshold on the 1/100 grid is exact, and each quantile is the
/// upper edge of the 1/100 bin that holds the order statistic
/// `x_(⌈q·n⌉)` (the "inverted CDF" quantile).
fn confidence_matches_the_top_scores(name: &str, window: &OutcomeWindow, rows: &[LabelledOutcome]) {
    let mut tops: Vec<f64> = rows
        .iter()
        .filter_map(|o| o.scores.as_ref())
        .map(|scores| scores.values().copied().fold(f64::NEG_INFINITY, f64::max))
        .collect();
    tops.sort_by(f64::total_cmp);
    let n = tops.len();
    for threshold in [0.55, 0.7, 0.8, 0.9, 0.99] {
        let report = QualityReport::of(window, None, threshold);
        let c = report.confidence.as_ref().unwrap();
        let below = tops.iter().filter(|&&t| t < threshold).count();
        close(
            c.low_rate,
            below as f64 / n as f64,
            &format!("{name} low-confidence rate below {threshold}"),
        );
        close(c.low_threshold, threshold, &format!("{name} threshold"));
        assert_eq!(c.scored, n as u64, "{name}");
        for (q, edge) in [(0.1, c.p10), (0.5, c.p50), (0.9, c.p90)] {
            let rank = ((q * n as f64).ceil() as usize).max(1);
            let order_statistic = tops[rank - 1];
            assert!(
                order_statistic < edge + 1e-12 && order_statistic >= edge - 0.01 - 1e-12
                    || (edge == 1.0 && order_statistic == 1.0),
                "{name}: quantile {q} is the bin ending {edge}, but x_({rank}) = {order_statistic}"
            );
        }
    }
}
