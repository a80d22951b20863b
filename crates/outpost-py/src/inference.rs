//! `outpost.Model`'s core: `outpost_infer::Model` (tract with Outpost's
//! `ai.onnx.ml` operators), the code the CLI's `predict --local`, the
//! inference Worker and the wasm client run.
//!
//! Tensors cross as `(name, element type, shape, data)`: data is the
//! row-major little-endian bytes of a numeric tensor (numpy's
//! `tobytes()`), or a list of `str` for a string tensor. The Python side
//! turns them into numpy arrays.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use outpost_core::profile::ReferenceProfile;
use outpost_core::quality::{OutcomeWindow, read_classifier_outputs};
use outpost_core::telemetry::TelemetryWindow;
use outpost_infer::tensor::feature_rows;
use outpost_infer::{Dim, ElementType, Tensor, TensorData};
use pyo3::prelude::*;

use crate::{bytes, error, input_error};

/// A tensor's contents as Python hands them over.
#[derive(Debug, FromPyObject)]
pub enum Payload {
    Bytes(Vec<u8>),
    Texts(Vec<String>),
}

/// A tensor's contents as Python receives them.
#[derive(Debug, IntoPyObject)]
pub enum Output {
    Bytes(std::borrow::Cow<'static, [u8]>),
    Texts(Vec<String>),
}

type TensorTuple = (String, String, Vec<u64>, Payload);
type OutputTuple = (String, String, Vec<u64>, Output);

fn element_type(py: Python<'_>, name: &str) -> PyResult<ElementType> {
    ElementType::from_onnx(name).ok_or_else(|| {
        input_error(
            py,
            format!("unknown element type `{name}`; Outpost feeds float, double, int64, int32, string and bool"),
        )
    })
}

/// Little-endian fixed-size elements from bytes.
fn decode<const N: usize, T>(
    py: Python<'_>,
    name: &str,
    raw: &[u8],
    from: fn([u8; N]) -> T,
) -> PyResult<Vec<T>> {
    if !raw.len().is_multiple_of(N) {
        return Err(input_error(
            py,
            format!(
                "input `{name}`: {} bytes is not a whole number of {N}-byte elements",
                raw.len()
            ),
        ));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|chunk| {
            let mut element = [0u8; N];
            element.copy_from_slice(chunk);
            from(element)
        })
        .collect())
}

fn tensor(py: Python<'_>, (name, dtype, shape, payload): TensorTuple) -> PyResult<Tensor> {
    let data = match (element_type(py, &dtype)?, payload) {
        (ElementType::String, Payload::Texts(texts)) => TensorData::String(texts),
        (ElementType::String, Payload::Bytes(_)) => {
            return Err(input_error(
                py,
                format!("input `{name}` is a string tensor and needs a list of str"),
            ));
        }
        (_, Payload::Texts(_)) => {
            return Err(input_error(
                py,
                format!("input `{name}` ({dtype}) needs bytes, not a list of str"),
            ));
        }
        (ElementType::Float, Payload::Bytes(raw)) => {
            TensorData::Float(decode(py, &name, &raw, f32::from_le_bytes)?)
        }
        (ElementType::Double, Payload::Bytes(raw)) => {
            TensorData::Double(decode(py, &name, &raw, f64::from_le_bytes)?)
        }
        (ElementType::Int64, Payload::Bytes(raw)) => {
            TensorData::Int64(decode(py, &name, &raw, i64::from_le_bytes)?)
        }
        (ElementType::Int32, Payload::Bytes(raw)) => {
            TensorData::Int32(decode(py, &name, &raw, i32::from_le_bytes)?)
        }
        (ElementType::Bool, Payload::Bytes(raw)) => {
            TensorData::Bool(raw.iter().map(|&b| b != 0).collect())
        }
    };
    Tensor::new(name, shape, data).map_err(|e| input_error(py, e.to_string()))
}

fn output(tensor: &Tensor) -> OutputTuple {
    let raw = |parts: Vec<u8>| Output::Bytes(bytes(parts));
    let data = match tensor.data() {
        TensorData::Float(v) => raw(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Double(v) => raw(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Int64(v) => raw(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Int32(v) => raw(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Bool(v) => raw(v.iter().map(|&b| u8::from(b)).collect()),
        TensorData::String(v) => Output::Texts(v.clone()),
    };
    (
        tensor.name().to_owned(),
        tensor.data().element_type().to_string(),
        tensor.shape().to_vec(),
        data,
    )
}

/// A declared dimension: an int, or the symbol's name (`"N"`).
#[derive(Debug, IntoPyObject)]
pub enum DimOut {
    Fixed(u64),
    Symbolic(String),
}

/// What a model handle recorded since its last report, over the bins it
/// records feature values into.
#[derive(Debug)]
struct Recording {
    window: TelemetryWindow,
    edges: Vec<Vec<f64>>,
    /// Outcomes of this handle's predictions, as the caller learns them.
    outcomes: OutcomeWindow,
}

/// An ONNX model, parsed, validated, optimised and planned once, with the
/// telemetry window of its calls (as the wasm client's `Model`).
#[pyclass(module = "outpost._native", frozen)]
#[derive(Debug)]
pub struct Model {
    inner: Arc<outpost_infer::Model>,
    recording: Mutex<Recording>,
}

impl Model {
    fn recording(&self) -> std::sync::MutexGuard<'_, Recording> {
        // A panic elsewhere cannot leave a window half-written in a way that
        // matters more than losing the count; keep recording.
        self.recording
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl Model {
    /// Loads an ONNX model from its bytes. Raises `ModelError` with the stage
    /// (`parse`, `validate`, `optimise`, …) when the model is refused.
    #[staticmethod]
    fn load(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let data = data.to_vec();
        let loaded = py.detach(move || outpost_infer::Model::load(&data));
        match loaded {
            Ok(model) => Ok(Self {
                inner: Arc::new(model),
                recording: Mutex::new(Recording {
                    window: TelemetryWindow::new(Vec::new()),
                    edges: Vec::new(),
                    outcomes: OutcomeWindow::default(),
                }),
            }),
            Err(err) => Err(error(py, "ModelError", (err.stage, err.message))),
        }
    }

    /// The declared inputs: `[(name, element type, [dim…])]`, a dim an int
    /// or a symbol such as `"N"`.
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Vec<DimOut>)> {
        self.inner
            .inputs()
            .iter()
            .map(|spec| {
                (
                    spec.name.clone(),
                    spec.element_type.to_string(),
                    spec.shape
                        .iter()
                        .map(|dim| match dim {
                            Dim::Fixed(n) => DimOut::Fixed(*n),
                            Dim::Symbolic(s) => DimOut::Symbolic(s.clone()),
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// Output names, in the order `run` returns them.
    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.inner.output_names().to_vec()
    }

    /// Runs the model on `(name, element type, shape, data)` inputs and
    /// returns its outputs the same way. Inputs are checked against the
    /// declared schema first (`InputError` names the input); a failure
    /// inside the runtime is a `ModelError` at stage `run`. The GIL is
    /// released while the model runs. The call is recorded in the telemetry
    /// window: its latency, and the first input's feature values when it is
    /// a numeric `[rows, features]` matrix.
    fn run(&self, py: Python<'_>, inputs: Vec<TensorTuple>) -> PyResult<Vec<OutputTuple>> {
        let tensors = inputs
            .into_iter()
            .map(|t| tensor(py, t))
            .collect::<PyResult<Vec<_>>>()?;
        let model = Arc::clone(&self.inner);
        let (result, tensors, micros) = py.detach(move || {
            let started = Instant::now();
            let result = model.run(&tensors);
            (result, tensors, started.elapsed().as_secs_f64() * 1e6)
        });
        {
            let mut recording = self.recording();
            match (&result, feature_rows(&tensors)) {
                (Ok(_), Some((values, columns))) => {
                    recording.window.record_call(&values, columns, micros);
                }
                (Ok(_), None) => recording.window.record_call(&[], 0, micros),
                (Err(_), _) => recording.window.record_error(micros),
            }
        }
        match result {
            Ok(outputs) => Ok(outputs.iter().map(output).collect()),
            Err(outpost_infer::RunError::Input(err)) => Err(input_error(py, err.to_string())),
            Err(outpost_infer::RunError::Runtime(message)) => {
                Err(error(py, "ModelError", ("run", message)))
            }
        }
    }

    /// Records feature values over the bins of the version's reference
    /// profile (its JSON, `GET …/reference`), as the registry's drift report
    /// reads them. Starts a new window. Raises `InputError` for a profile
    /// that is not one.
    fn set_reference_profile(&self, py: Python<'_>, profile: &str) -> PyResult<()> {
        let profile: ReferenceProfile = serde_json::from_str(profile)
            .map_err(|e| input_error(py, format!("not a reference profile: {e}")))?;
        profile
            .validate()
            .map_err(|e| input_error(py, e.to_string()))?;
        let edges = profile.edges();
        let mut recording = self.recording();
        recording.window = TelemetryWindow::new(edges.clone());
        recording.edges = edges;
        Ok(())
    }

    /// Records what actually happened to a batch this model predicted:
    /// `outputs` is the prediction's outputs as JSON (`{"label": [...],
    /// "probabilities": [[...]...]}`, read by
    /// `outpost_core::quality::read_classifier_outputs`), `actual` the true
    /// label of each row as a JSON array (numbers, strings or booleans, read
    /// by `outpost_core::quality::label_text` as the wasm client reads
    /// them: `1` not `1.0`, `true`; no null, no fraction), `values` each
    /// row's business value. All rows or none; raises `InputError` when the
    /// outputs are not a classifier's or a row is invalid.
    #[pyo3(signature = (outputs, actual, values = None))]
    fn record_outcomes(
        &self,
        py: Python<'_>,
        outputs: &str,
        actual: &str,
        values: Option<Vec<f64>>,
    ) -> PyResult<()> {
        let actual: serde_json::Value = serde_json::from_str(actual)
            .map_err(|e| input_error(py, format!("actual labels are not JSON: {e}")))?;
        let actual: Vec<String> = actual
            .as_array()
            .ok_or_else(|| input_error(py, "actual labels must be a list, one per row"))?
            .iter()
            .enumerate()
            .map(|(row, label)| {
                outpost_core::quality::label_text(label).ok_or_else(|| {
                    input_error(
                        py,
                        format!(
                            "row {row}: {label} is not a label (a missing or fractional value?)"
                        ),
                    )
                })
            })
            .collect::<PyResult<_>>()?;
        let outputs: serde_json::Value = serde_json::from_str(outputs)
            .map_err(|e| input_error(py, format!("outputs are not JSON: {e}")))?;
        let predicted = read_classifier_outputs(&outputs).ok_or_else(|| {
            input_error(
                py,
                "these outputs are not a classifier's: outcomes need a `label` output (and `probabilities` for AUC and calibration)",
            )
        })?;
        self.recording()
            .outcomes
            .observe_batch(&predicted, &actual, values.as_deref())
            .map_err(|e| input_error(py, e.to_string()))
    }

    /// The outcome window since the last call, as JSON (confusion counts,
    /// per-class score histograms, calibration and confidence bins, value
    /// totals — never inputs), and a fresh one started.
    fn take_outcomes(&self, py: Python<'_>) -> PyResult<String> {
        let window = std::mem::take(&mut self.recording().outcomes);
        serde_json::to_string(&window).map_err(|e| input_error(py, e.to_string()))
    }

    /// The telemetry window since the last report, as JSON — calls, rows,
    /// errors, a latency histogram (µs), per-feature summaries and
    /// histograms, and a bounded uniform sample of each feature's values
    /// (never whole rows) — and starts a new one.
    fn report(&self, py: Python<'_>) -> PyResult<String> {
        let mut recording = self.recording();
        let fresh = TelemetryWindow::new(recording.edges.clone());
        let window = std::mem::replace(&mut recording.window, fresh);
        serde_json::to_string(&window).map_err(|e| input_error(py, e.to_string()))
    }
}
