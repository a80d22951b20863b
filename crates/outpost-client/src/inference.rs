//! Running models in JS runtimes: the same `outpost-infer` code as the Worker
//! and the CLI, so the same model gives the same outputs everywhere.
//!
//! ```js
//! const model = Model.load(bytes);             // throws { code: "MODEL_INVALID" }
//! const { outputs } = model.predict({ X: [[0.1, 2.0, 3.5, 1.0]] });
//! ```
//!
//! `predict` takes and returns plain objects of nested arrays (row-major),
//! the format `outpost predict` reads (`null` stands for NaN). `run` takes
//! and returns typed arrays with shapes, `{X: {data: Float32Array, shape: [rows, 4]}}`,
//! for callers that score many rows and want no conversion.

use std::cell::{Cell, RefCell};

use js_sys::{
    Array, BigInt64Array, Float32Array, Float64Array, Int32Array, Object, Reflect, Uint8Array,
};
use outpost_core::quality::{Given, OutcomeWindow, PredictionLog, read_classifier_outputs};
use outpost_core::telemetry::TelemetryWindow;
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use outpost_infer::tensor::feature_rows;
use outpost_infer::{ElementType, Tensor, TensorData};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::{ErrorCode, js_error};

/// A loaded, optimised model; reusable across calls.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Model {
    inner: outpost_infer::Model,
    /// What this handle predicted since the last `report()`.
    telemetry: RefCell<TelemetryWindow>,
    reference_edges: RefCell<Vec<Vec<f64>>>,
    /// Outcomes of this handle's predictions, as the page learns them.
    outcomes: RefCell<OutcomeWindow>,
    /// `predictTracked`'s predictions awaiting their outcome.
    awaiting: RefCell<PredictionLog>,
    /// This handle's prediction ids: a random prefix and a counter, so an
    /// id kept from an earlier page never names a new prediction.
    id_prefix: String,
    next_id: Cell<u64>,
}

/// Predictions `predictTracked` keeps for their outcome, newest first.
pub const KEPT_PREDICTIONS: usize = 10_000;

/// A random prefix for prediction ids (`crypto.getRandomValues` where the
/// runtime has it; ids need to be unlikely to repeat, not secret).
fn id_prefix() -> String {
    let mut bytes = [0u8; 8];
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok();
    let filled = crypto.filter(|c| c.is_object()).and_then(|crypto| {
        let fill: js_sys::Function = Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))
            .ok()?
            .dyn_into()
            .ok()?;
        let array = Uint8Array::new_with_length(8);
        fill.call1(&crypto, &array).ok()?;
        array.copy_to(&mut bytes);
        Some(())
    });
    if filled.is_none() {
        for chunk in bytes.chunks_mut(4) {
            let word = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A high-resolution clock where the runtime has one (`performance.now`).
fn now_ms() -> f64 {
    let global = js_sys::global();
    Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .filter(|p| p.is_object())
        .and_then(|p| {
            let now: js_sys::Function = Reflect::get(&p, &JsValue::from_str("now"))
                .ok()?
                .dyn_into()
                .ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

impl Model {
    /// Runs and records the call in the telemetry window.
    fn run_recorded(&self, tensors: &[Tensor]) -> Result<Vec<Tensor>, outpost_infer::RunError> {
        let started = now_ms();
        let result = self.inner.run(tensors);
        let micros = (now_ms() - started) * 1e3;
        let mut window = self.telemetry.borrow_mut();
        match (&result, feature_rows(tensors)) {
            (Ok(_), Some((values, columns))) => window.record_call(&values, columns, micros),
            (Ok(_), None) => window.record_call(&[], 0, micros),
            (Err(_), _) => window.record_error(micros),
        }
        result
    }
}

#[wasm_bindgen]
impl Model {
    /// Parses, optimises and plans an ONNX model from its bytes.
    pub fn load(bytes: &[u8]) -> Result<Model, JsValue> {
        outpost_infer::Model::load(bytes)
            .map(|inner| Model {
                inner,
                telemetry: RefCell::new(TelemetryWindow::new(Vec::new())),
                reference_edges: RefCell::new(Vec::new()),
                outcomes: RefCell::new(OutcomeWindow::default()),
                awaiting: RefCell::new(PredictionLog::new(KEPT_PREDICTIONS)),
                id_prefix: id_prefix(),
                next_id: Cell::new(1),
            })
            .map_err(|err| js_error(ErrorCode::ModelInvalid, &err.to_string()))
    }

    /// The declared inputs: `[{name, element_type, shape}]`.
    #[wasm_bindgen(getter)]
    pub fn inputs(&self) -> Result<JsValue, JsValue> {
        let json = serde_json::to_string(self.inner.inputs())
            .map_err(|err| js_error(ErrorCode::InputInvalid, &err.to_string()))?;
        js_sys::JSON::parse(&json)
    }

    /// Output names, in the model's order.
    #[wasm_bindgen(getter, js_name = outputNames)]
    pub fn output_names(&self) -> Vec<String> {
        self.inner.output_names().to_vec()
    }

    /// Runs the model on `{inputName: nestedArray}` and returns
    /// `{outputName: nestedArray}`. A wrong input throws `INPUT_INVALID`
    /// naming it; a failure inside the model throws `RUN_FAILED`.
    pub fn predict(&self, inputs: &JsValue) -> Result<JsValue, JsValue> {
        let text: String = js_sys::JSON::stringify(inputs)?.into();
        let outputs = self.predict_json(&text)?;
        js_sys::JSON::parse(&outputs)
    }

    /// Runs the model on typed arrays: `{name: {data, shape}}` in, the same
    /// out. `data` is the typed array of the input's element type
    /// (Float32Array for float, Float64Array for double, BigInt64Array for
    /// int64, Int32Array for int32, Uint8Array for bool, an Array of strings
    /// for string), row-major; `shape` an array of dimensions.
    pub fn run(&self, inputs: &JsValue) -> Result<JsValue, JsValue> {
        let invalid = |message: String| js_error(ErrorCode::InputInvalid, &message);
        if !inputs.is_object() {
            return Err(invalid(
                "inputs must be an object of {data, shape} by input name".into(),
            ));
        }
        let declared = self.inner.inputs();
        for key in Object::keys(inputs.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if !declared.iter().any(|spec| spec.name == key) {
                let names: Vec<String> = declared.iter().map(|s| format!("`{}`", s.name)).collect();
                return Err(invalid(format!(
                    "input `{key}` is not declared by the model; it takes {}",
                    names.join(", ")
                )));
            }
        }
        let mut tensors = Vec::with_capacity(declared.len());
        for spec in declared {
            let entry = Reflect::get(inputs, &JsValue::from_str(&spec.name))?;
            if entry.is_undefined() {
                return Err(invalid(format!(
                    "input `{}` is required but was not given",
                    spec.name
                )));
            }
            let data = Reflect::get(&entry, &JsValue::from_str("data"))?;
            let shape = Reflect::get(&entry, &JsValue::from_str("shape"))?;
            let shape: Vec<u64> = shape
                .dyn_into::<Array>()
                .ok()
                .and_then(|dims| {
                    dims.iter()
                        .map(|d| {
                            d.as_f64()
                                .filter(|d| *d >= 0.0 && d.fract() == 0.0)
                                .map(|d| d as u64)
                        })
                        .collect()
                })
                .ok_or_else(|| {
                    invalid(format!(
                        "input `{}`: shape must be an array of dimensions",
                        spec.name
                    ))
                })?;
            let wrong = |wanted: &str| {
                invalid(format!(
                    "input `{}` ({}) takes its data as {wanted}",
                    spec.name, spec.element_type
                ))
            };
            let data = match spec.element_type {
                ElementType::Float => TensorData::Float(
                    data.dyn_into::<Float32Array>()
                        .map_err(|_| wrong("a Float32Array"))?
                        .to_vec(),
                ),
                ElementType::Double => TensorData::Double(
                    data.dyn_into::<Float64Array>()
                        .map_err(|_| wrong("a Float64Array"))?
                        .to_vec(),
                ),
                ElementType::Int64 => TensorData::Int64(
                    data.dyn_into::<BigInt64Array>()
                        .map_err(|_| wrong("a BigInt64Array"))?
                        .to_vec(),
                ),
                ElementType::Int32 => TensorData::Int32(
                    data.dyn_into::<Int32Array>()
                        .map_err(|_| wrong("an Int32Array"))?
                        .to_vec(),
                ),
                ElementType::Bool => TensorData::Bool(
                    data.dyn_into::<Uint8Array>()
                        .map_err(|_| wrong("a Uint8Array"))?
                        .to_vec()
                        .into_iter()
                        .map(|b| b != 0)
                        .collect(),
                ),
                ElementType::String => TensorData::String(
                    data.dyn_into::<Array>()
                        .map_err(|_| wrong("an Array of strings"))?
                        .iter()
                        .map(|v| v.as_string().ok_or_else(|| wrong("an Array of strings")))
                        .collect::<Result<_, _>>()?,
                ),
            };
            tensors.push(
                Tensor::new(spec.name.clone(), shape, data)
                    .map_err(|err| invalid(err.to_string()))?,
            );
        }
        let outputs = self.run_recorded(&tensors).map_err(|err| match err {
            outpost_infer::RunError::Input(err) => {
                js_error(ErrorCode::InputInvalid, &err.to_string())
            }
            other => js_error(ErrorCode::RunFailed, &other.to_string()),
        })?;
        let result = Object::new();
        for output in &outputs {
            let data: JsValue = match output.data() {
                TensorData::Float(v) => Float32Array::from(&v[..]).into(),
                TensorData::Double(v) => Float64Array::from(&v[..]).into(),
                TensorData::Int64(v) => BigInt64Array::from(&v[..]).into(),
                TensorData::Int32(v) => Int32Array::from(&v[..]).into(),
                TensorData::Bool(v) => {
                    Uint8Array::from(&v.iter().map(|&b| u8::from(b)).collect::<Vec<_>>()[..]).into()
                }
                TensorData::String(v) => v
                    .iter()
                    .map(|s| JsValue::from_str(s))
                    .collect::<Array>()
                    .into(),
            };
            let shape: Array = output
                .shape()
                .iter()
                .map(|&d| JsValue::from_f64(d as f64))
                .collect();
            let entry = Object::new();
            Reflect::set(&entry, &JsValue::from_str("data"), &data)?;
            Reflect::set(&entry, &JsValue::from_str("shape"), &shape)?;
            Reflect::set(&result, &JsValue::from_str(output.name()), &entry)?;
        }
        Ok(result.into())
    }

    /// Bins for the per-feature histograms of the telemetry window: one array
    /// of edges per feature of the first input, from the version's reference
    /// profile. Starts a new window.
    #[wasm_bindgen(js_name = setReferenceBins)]
    pub fn set_reference_bins(&self, edges: JsValue) -> Result<(), JsValue> {
        let text: String = js_sys::JSON::stringify(&edges)?.into();
        let edges: Vec<Vec<f64>> = serde_json::from_str(&text).map_err(|err| {
            js_error(
                ErrorCode::InputInvalid,
                &format!("reference bins must be arrays of numbers per feature: {err}"),
            )
        })?;
        if edges.iter().any(|e| e.windows(2).any(|w| w[0] >= w[1])) {
            return Err(js_error(
                ErrorCode::InputInvalid,
                "reference bin edges must increase",
            ));
        }
        *self.telemetry.borrow_mut() = TelemetryWindow::new(edges.clone());
        *self.reference_edges.borrow_mut() = edges;
        Ok(())
    }

    /// The telemetry window since the last report — calls, rows, errors, a
    /// latency histogram (µs), per-feature summaries and histograms, and a
    /// bounded uniform sample of each feature's values (never whole rows) —
    /// and starts a new one.
    pub fn report(&self) -> Result<JsValue, JsValue> {
        let fresh = TelemetryWindow::new(self.reference_edges.borrow().clone());
        let window = self.telemetry.replace(fresh);
        let text = serde_json::to_string(&window)
            .map_err(|err| js_error(ErrorCode::RunFailed, &err.to_string()))?;
        js_sys::JSON::parse(&text)
    }

    /// Records what actually happened to rows this classifier predicted:
    /// `outputs` as `predict` returned them (`label`, and `probabilities`
    /// for AUC and calibration), `actual` the true label of each row
    /// (numbers or strings), `values` an optional business value per row.
    /// Aggregated at once into the handle's outcome window (confusion
    /// counts, score histograms — never inputs); `takeOutcomes()` hands it
    /// over for `client.reportOutcomes`. All rows or none: throws
    /// `INPUT_INVALID` for outputs that are not a classifier's, lengths that
    /// differ or an invalid row. The same code as the Python SDK's
    /// (`OutcomeWindow::observe_batch`).
    #[wasm_bindgen(js_name = recordOutcomes)]
    pub fn record_outcomes(
        &self,
        outputs: &JsValue,
        actual: &JsValue,
        values: Option<Vec<f64>>,
    ) -> Result<(), JsValue> {
        let invalid = |message: String| js_error(ErrorCode::InputInvalid, &message);
        let outputs: serde_json::Value =
            serde_json::from_str(&String::from(js_sys::JSON::stringify(outputs)?))
                .map_err(|err| invalid(format!("outputs are not JSON: {err}")))?;
        let predicted = read_classifier_outputs(&outputs).ok_or_else(|| {
            invalid(
                "these outputs are not a classifier's: outcomes need a `label` output (and `probabilities` for AUC and calibration)".into(),
            )
        })?;
        let actual = actual_labels(actual)?;
        self.outcomes
            .borrow_mut()
            .observe_batch(&predicted, &actual, values.as_deref())
            .map_err(|err| invalid(err.to_string()))
    }

    /// The outcome window since the last call (the registry's
    /// `OutcomeWindow`), and a fresh one started.
    #[wasm_bindgen(js_name = takeOutcomes)]
    pub fn take_outcomes(&self) -> Result<JsValue, JsValue> {
        let window = self.outcomes.take();
        let text = serde_json::to_string(&window)
            .map_err(|err| js_error(ErrorCode::RunFailed, &err.to_string()))?;
        js_sys::JSON::parse(&text)
    }

    /// [`Model::predict`] for a classifier whose outcome will be known
    /// later: returns `{predictionId, outputs}` and keeps the predicted
    /// labels and scores (never the inputs) under `predictionId`, so that
    /// `recordOutcome(predictionId, actual)` can count them once the truth
    /// arrives. The newest 10 000 predictions are kept. Throws as `predict`,
    /// and `INPUT_INVALID` when the outputs are not a classifier's.
    #[wasm_bindgen(js_name = predictTracked, unchecked_return_type = "{predictionId: string, outputs: Record<string, unknown>}")]
    pub fn predict_tracked(&self, inputs: &JsValue) -> Result<JsValue, JsValue> {
        let text: String = js_sys::JSON::stringify(inputs)?.into();
        let outputs = self.predict_json(&text)?;
        let parsed: serde_json::Value = serde_json::from_str(&outputs)
            .map_err(|err| js_error(ErrorCode::RunFailed, &err.to_string()))?;
        let rows = read_classifier_outputs(&parsed).ok_or_else(|| {
            js_error(
                ErrorCode::InputInvalid,
                "this model's outputs are not a classifier's (a `label` output): predictions without labels have no outcome to track; use predict",
            )
        })?;
        let id = format!("{}-{}", self.id_prefix, self.next_id.get());
        self.next_id.set(self.next_id.get() + 1);
        self.awaiting.borrow_mut().keep(id.clone(), rows);
        let result = Object::new();
        Reflect::set(
            &result,
            &JsValue::from_str("predictionId"),
            &JsValue::from_str(&id),
        )?;
        Reflect::set(
            &result,
            &JsValue::from_str("outputs"),
            &js_sys::JSON::parse(&outputs)?,
        )?;
        Ok(result.into())
    }

    /// Gives the outcome of a `predictTracked` prediction: `actual` the true
    /// label of each of its rows, `values` an optional business value per
    /// row. Counted into the outcome window (`takeOutcomes`) and `true`; an
    /// outcome given again for the same id counts nothing and is `false`.
    /// Throws `INPUT_INVALID` for an id this handle does not keep (not made
    /// here, or older than its newest 10 000 predictions) or rows that do
    /// not match; nothing is counted then.
    #[wasm_bindgen(js_name = recordOutcome)]
    pub fn record_outcome(
        &self,
        prediction_id: &str,
        actual: &JsValue,
        values: Option<Vec<f64>>,
    ) -> Result<bool, JsValue> {
        let invalid = |message: String| js_error(ErrorCode::InputInvalid, &message);
        let actual = actual_labels(actual)?;
        let given = self
            .awaiting
            .borrow_mut()
            .give(
                &mut self.outcomes.borrow_mut(),
                prediction_id,
                &actual,
                values.as_deref(),
            )
            .map_err(|err| invalid(err.to_string()))?;
        Ok(given == Given::Counted)
    }

    /// [`Model::predict`] on JSON text, for callers that already hold it.
    #[wasm_bindgen(js_name = predictJson)]
    pub fn predict_json(&self, inputs: &str) -> Result<String, JsValue> {
        let value: serde_json::Value = serde_json::from_str(inputs).map_err(|err| {
            js_error(
                ErrorCode::InputInvalid,
                &format!("inputs are not JSON: {err}"),
            )
        })?;
        let tensors = inputs_from_json(self.inner.inputs(), &value)
            .map_err(|err| js_error(ErrorCode::InputInvalid, &err.to_string()))?;
        let outputs = self.run_recorded(&tensors).map_err(|err| match err {
            outpost_infer::RunError::Input(err) => {
                js_error(ErrorCode::InputInvalid, &err.to_string())
            }
            other => js_error(ErrorCode::RunFailed, &other.to_string()),
        })?;
        Ok(outputs_to_json(&outputs).to_string())
    }
}

/// Actual labels from JS: an array, one label (number or string) per row.
fn actual_labels(actual: &JsValue) -> Result<Vec<String>, JsValue> {
    let invalid = |message: String| js_error(ErrorCode::InputInvalid, &message);
    let actual: serde_json::Value =
        serde_json::from_str(&String::from(js_sys::JSON::stringify(actual)?))
            .map_err(|err| invalid(format!("actual labels are not JSON: {err}")))?;
    actual
        .as_array()
        .ok_or_else(|| invalid("actual labels must be an array, one per row".into()))?
        .iter()
        .map(|label| {
            outpost_core::quality::label_text(label)
                .ok_or_else(|| invalid(format!("{label} is not a label")))
        })
        .collect()
}
