//! Drift statistics in the browser or an edge runtime: the same
//! `outpost_core::drift` tests the registry and `outpost drift compare` run,
//! on samples a page holds (a reference it fetched, what it has seen since).
//!
//! ```js
//! const report = driftCompare([refAmounts, refHours], [curAmounts, curHours]);
//! report.dataset.drifted; report.features[0].score;
//! ```

use outpost_core::drift::{Column, FeatureDrift, StatTest, dataset_drift, feature_drift};
use wasm_bindgen::prelude::*;

use crate::{ErrorCode, js_error};

/// A feature's values: a typed array or array of numbers, or an array of
/// strings (a categorical feature).
fn column(value: &JsValue, which: &str, index: usize) -> Result<Column, JsValue> {
    if let Some(array) = value.dyn_ref::<js_sys::Array>()
        && array.length() > 0
        && array.get(0).is_string()
    {
        return array
            .iter()
            .map(|v| {
                v.as_string().ok_or_else(|| {
                    js_error(
                        ErrorCode::InputInvalid,
                        &format!("{which} feature {index} mixes strings with other values"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Column::Labels);
    }
    if !(value.is_instance_of::<js_sys::Float64Array>()
        || value.is_instance_of::<js_sys::Float32Array>()
        || value.is_instance_of::<js_sys::Array>())
    {
        return Err(js_error(
            ErrorCode::InputInvalid,
            &format!("{which} feature {index} is not an array of numbers or strings"),
        ));
    }
    Ok(Column::Numbers(js_sys::Float64Array::new(value).to_vec()))
}

fn columns(features: &js_sys::Array, which: &str) -> Result<Vec<Column>, JsValue> {
    features
        .iter()
        .enumerate()
        .map(|(i, v)| column(&v, which, i))
        .collect()
}

/// Tests each feature of `current` against the same feature of `reference`
/// (arrays of features, each a Float64Array, number[] or string[]) with
/// Evidently's default test and threshold — or with every test named in
/// `tests` (`ks`, `chi_square`, `z_test`, `wasserstein`, `jensen_shannon`,
/// `psi`, `kl`) — and the dataset against `share` (0.5). Returns
/// `{features: [[{test, score, threshold, drifted} | {test, error}]…],
/// dataset, not_compared: [{feature, test, error}]}`.
///
/// The default test is `outpost_core::drift::StatTest::default_for`, the
/// one the CLI and the registry use: Evidently's, counting the categories of
/// both samples together (reference `a, b` against current `a, c` is three
/// categories: chi-square). The dataset share counts each feature's first
/// test; a feature whose first test cannot run is listed in `not_compared`
/// with the reason (and has `{test, error}` in `features`), left out of the
/// share as the registry's reports leave it out — never dropped silently.
#[wasm_bindgen(js_name = driftCompare)]
pub fn drift_compare(
    reference: js_sys::Array,
    current: js_sys::Array,
    tests: Option<Vec<String>>,
    share: Option<f64>,
) -> Result<JsValue, JsValue> {
    let invalid = |message: String| js_error(ErrorCode::InputInvalid, &message);
    if reference.length() != current.length() {
        return Err(invalid(format!(
            "{} reference features against {} current ones",
            reference.length(),
            current.length()
        )));
    }
    let tests: Vec<Option<StatTest>> = match tests {
        None => vec![None],
        Some(names) => names
            .iter()
            .map(|name| {
                serde_json::from_value::<StatTest>(serde_json::Value::String(name.clone()))
                    .map(Some)
                    .map_err(|_| {
                        invalid(format!(
                            "unknown test `{name}`; the tests are ks, chi_square, z_test, wasserstein, jensen_shannon, psi, kl"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let share = share.unwrap_or(0.5);
    let (reference, current) = (
        columns(&reference, "reference")?,
        columns(&current, "current")?,
    );
    let mut features = Vec::with_capacity(reference.len());
    let mut first: Vec<FeatureDrift> = Vec::new();
    let mut not_compared: Vec<serde_json::Value> = Vec::new();
    for (feature, (r, c)) in reference.iter().zip(&current).enumerate() {
        let results: Vec<serde_json::Value> = tests
            .iter()
            .enumerate()
            .map(|(i, test)| match feature_drift(r, c, *test, None) {
                Ok(verdict) => {
                    if i == 0 {
                        first.push(verdict.clone());
                    }
                    serde_json::to_value(verdict).unwrap_or_default()
                }
                Err(err) => {
                    let test = test.unwrap_or_else(|| StatTest::default_for(r, c));
                    let error = err.to_string();
                    if i == 0 {
                        not_compared.push(
                            serde_json::json!({"feature": feature, "test": test, "error": error}),
                        );
                    }
                    serde_json::json!({"test": test, "error": error})
                }
            })
            .collect();
        features.push(results);
    }
    let report = serde_json::json!({
        "features": features,
        "dataset": dataset_drift(&first, share),
        "not_compared": not_compared,
    });
    js_sys::JSON::parse(&report.to_string())
}
