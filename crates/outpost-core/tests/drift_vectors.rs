//! outpost-core's drift statistics against the committed reference values of
//! `scripts/gen-drift-vectors.py` (scipy, and Evidently's formulas): statistics
//! within 1e-9 absolute, p-values within 1e-6 relative — tiny ones included
//! (exact KS p-values down to 1e-269), NaN where scipy gives NaN — and the
//! test Evidently's default picks for each categorical case.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::drift::{
    Column, StatTest, chi_square, evidently_bins, feature_drift, jensen_shannon, kl_divergence,
    ks_2samp, psi, wasserstein, wasserstein_normed, z_test,
};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("data/drift-vectors.json");
    serde_json::from_str(text).unwrap()
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn want(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "nan" => f64::NAN,
        other => other.as_f64().unwrap(),
    }
}

fn statistic(case: &str, what: &str, got: f64, want: f64, failures: &mut Vec<String>) {
    let ok = if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= 1e-9
    };
    if !ok {
        failures.push(format!("{case}: {what} = {got}, reference {want}"));
    }
}

/// Relative 1e-6; the absolute 1e-300 only matters for subnormal results,
/// so a tiny p-value computed as 0 fails.
fn pvalue(case: &str, what: &str, got: f64, want: f64, failures: &mut Vec<String>) {
    let ok = if want.is_nan() {
        got.is_nan()
    } else {
        (got - want).abs() <= 1e-6 * want.abs() || (got - want).abs() <= 1e-300
    };
    if !ok {
        failures.push(format!("{case}: {what} = {got:e}, reference {want:e}"));
    }
}

#[test]
fn numeric_features_match_scipy_and_evidently() {
    let doc = vectors();
    let mut failures = Vec::new();
    let cases = doc["numeric"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (r, c) = (numbers(&case["reference"]), numbers(&case["current"]));
        let ks = ks_2samp(&r, &c).unwrap();
        statistic(
            name,
            "KS statistic",
            ks.statistic,
            want(&case["ks_statistic"]),
            &mut failures,
        );
        pvalue(
            name,
            "KS p-value",
            ks.pvalue,
            want(&case["ks_pvalue"]),
            &mut failures,
        );
        statistic(
            name,
            "Wasserstein",
            wasserstein(&r, &c).unwrap(),
            want(&case["wasserstein"]),
            &mut failures,
        );
        statistic(
            name,
            "normed Wasserstein",
            wasserstein_normed(&r, &c).unwrap(),
            want(&case["wasserstein_normed"]),
            &mut failures,
        );
        let (rb, cb) = evidently_bins(&r, &c, 30).unwrap();
        statistic(
            name,
            "PSI",
            psi(&rb, &cb),
            want(&case["psi"]),
            &mut failures,
        );
        statistic(
            name,
            "KL",
            kl_divergence(&rb, &cb),
            want(&case["kl"]),
            &mut failures,
        );
        statistic(
            name,
            "Jensen-Shannon",
            jensen_shannon(&rb, &cb),
            want(&case["jensenshannon"]),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn categorical_features_match_scipy_and_evidently() {
    let doc = vectors();
    let mut failures = Vec::new();
    for case in doc["categorical"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (r, c) = (strings(&case["reference"]), strings(&case["current"]));
        let chi = chi_square(&r, &c).unwrap();
        statistic(
            name,
            "chi-square",
            chi.statistic,
            want(&case["chi2_statistic"]),
            &mut failures,
        );
        pvalue(
            name,
            "chi-square p-value",
            chi.pvalue,
            want(&case["chi2_pvalue"]),
            &mut failures,
        );
        if let Some(z) = case.get("z_statistic") {
            let test = z_test(&r, &c).unwrap();
            statistic(name, "Z", test.statistic, want(z), &mut failures);
            pvalue(
                name,
                "Z p-value",
                test.pvalue,
                want(&case["z_pvalue"]),
                &mut failures,
            );
        }
        // Evidently's default over both samples' categories.
        let verdict = feature_drift(&Column::Labels(r), &Column::Labels(c), None, None).unwrap();
        let test = serde_json::to_value(verdict.test).unwrap();
        if test != case["default_test"] {
            failures.push(format!(
                "{name}: default test {test}, Evidently picks {}",
                case["default_test"]
            ));
        }
        let key = if verdict.test == StatTest::ZTest {
            "z_pvalue"
        } else {
            "chi2_pvalue"
        };
        pvalue(
            name,
            "default test p-value",
            verdict.score,
            want(&case[key]),
            &mut failures,
        );
        if serde_json::Value::Bool(verdict.drifted) != case["drifted"] {
            failures.push(format!("{name}: drifted = {}", verdict.drifted));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn case<'a>(doc: &'a Value, group: &str, name: &str) -> &'a Value {
    doc[group]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {group} vector {name:?}"))
}

/// scipy 1.17.1 `ks_2samp(arange(100), arange(101) + 60.5)`: p = 1.68e-18 by
/// the exact method; computing 1 − P(inside the band) gave 0.
#[test]
fn tiny_exact_ks_p_values_keep_relative_precision() {
    let doc = vectors();
    let named = case(&doc, "numeric", "tiny p 100 vs 101");
    let want = named["ks_pvalue"].as_f64().unwrap();
    assert!((want - 1.678e-18).abs() < 1e-21, "{want:e}");
    let mut checked = 0;
    for case in doc["numeric"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if !name.starts_with("tiny p") {
            continue;
        }
        let (r, c) = (numbers(&case["reference"]), numbers(&case["current"]));
        let got = ks_2samp(&r, &c).unwrap().pvalue;
        let want = case["ks_pvalue"].as_f64().unwrap();
        assert!(want > 0.0 && want < 1e-15, "{name}: {want:e}");
        assert!(
            ((got - want) / want).abs() <= 1e-6,
            "{name}: {got:e}, scipy {want:e}"
        );
        checked += 1;
    }
    assert!(checked >= 5);
}

/// Reference `a, b`, current `a, c`: `drift compare` refused it ("a Z-test
/// needs at most two categories, got 3") and the wasm client dropped it.
/// Evidently counts three values together: chi-square, p = 0, drift.
#[test]
fn a_category_seen_on_one_side_only_is_chi_square_drift() {
    let doc = vectors();
    let named = case(&doc, "categorical", "a, b against a, c");
    assert_eq!(named["default_test"], "chi_square");
    assert_eq!(named["chi2_pvalue"].as_f64(), Some(0.0));
    let verdict = feature_drift(
        &Column::Labels(strings(&named["reference"])),
        &Column::Labels(strings(&named["current"])),
        None,
        None,
    )
    .unwrap();
    assert_eq!(verdict.test, StatTest::ChiSquare);
    assert_eq!(verdict.score, 0.0);
    assert!(verdict.drifted);
}

#[test]
fn the_kolmogorov_distribution_matches_scipys_kstwo() {
    let doc = vectors();
    let mut failures = Vec::new();
    let cases = doc["kstwo"].as_array().unwrap();
    assert!(cases.len() > 100);
    for case in cases {
        let n = case["n"].as_u64().unwrap();
        let x = case["x"].as_f64().unwrap();
        let got = outpost_core::kolmogorov::kstwo_sf(n, x);
        pvalue(
            &format!("kstwo n={n} x={x}"),
            "sf",
            got,
            want(&case["sf"]),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
