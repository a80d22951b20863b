//! outpost-core's drift statistics against the committed reference values of
//! `scripts/gen-drift-vectors.py` (scipy, and Evidently's formulas): statistics
//! within 1e-9 absolute, p-values within 1e-6 relative.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::drift::{
    chi_square, evidently_bins, jensen_shannon, kl_divergence, ks_2samp, psi, wasserstein,
    wasserstein_normed, z_test,
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

fn pvalue(case: &str, what: &str, got: f64, want: f64, failures: &mut Vec<String>) {
    let ok = (got - want).abs() <= 1e-6 * want.abs() || (got - want).abs() <= 1e-300;
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
