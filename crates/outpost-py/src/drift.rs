//! `outpost.drift.compare`'s core: `outpost_core::drift::compare_samples`.

use outpost_core::drift::{Column, compare_samples};
use pyo3::prelude::*;

use crate::input_error;

/// One feature's values as Python gives them: numbers (a numeric column,
/// missing values as NaN) or text cells (typed as `outpost drift compare`
/// types a CSV column: numbers when every present cell is one).
#[derive(Debug, FromPyObject)]
pub enum Cells {
    Numbers(Vec<f64>),
    Texts(Vec<Option<String>>),
}

impl Cells {
    /// The column, typed on its own (a reference) or like `reference`
    /// (`Column::like`, as the CLI types a current CSV column).
    fn column(&self, reference: Option<&Column>) -> Column {
        match self {
            // Missing values are dropped, as Evidently drops them.
            Cells::Numbers(values) => {
                Column::Numbers(values.iter().copied().filter(|x| !x.is_nan()).collect())
            }
            Cells::Texts(cells) => {
                let present: Vec<&str> = cells.iter().flatten().map(String::as_str).collect();
                match reference {
                    Some(reference) => Column::like(reference, &present),
                    None => Column::infer(&present),
                }
            }
        }
    }
}

/// Compares `current` with `reference` feature by feature (each a list of
/// `(name, values)`), Evidently's default test and threshold per feature and
/// the dataset against `share`. Returns the comparison as JSON:
/// `{"features": [{"feature", "type", "test", "score", "threshold",
/// "drifted"}…], "dataset": {"features", "drifted_features", "share",
/// "drifted"}}`. Raises `InputError` naming the feature that cannot be
/// compared (missing, empty, or a test that cannot run).
#[pyfunction]
#[pyo3(signature = (reference, current, share = 0.5))]
pub fn drift_compare(
    py: Python<'_>,
    reference: Vec<(String, Cells)>,
    current: Vec<(String, Cells)>,
    share: f64,
) -> PyResult<String> {
    if !(0.0..=1.0).contains(&share) {
        return Err(input_error(
            py,
            format!("share must be between 0 and 1, got {share}"),
        ));
    }
    let reference: Vec<(String, Column)> = reference
        .iter()
        .map(|(name, cells)| (name.clone(), cells.column(None)))
        .collect();
    let current: Vec<(String, Column)> = current
        .iter()
        .map(|(name, cells)| {
            let like = reference.iter().find(|(n, _)| n == name).map(|(_, c)| c);
            (name.clone(), cells.column(like))
        })
        .collect();
    let comparison = py
        .detach(|| compare_samples(&reference, &current, share))
        .map_err(|e| input_error(py, e.to_string()))?;
    serde_json::to_string(&comparison).map_err(|e| input_error(py, e.to_string()))
}
