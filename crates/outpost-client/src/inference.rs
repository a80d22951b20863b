//! Running models in JS runtimes: the same `outpost-infer` code as the Worker
//! and the CLI, so the same model gives the same outputs everywhere.
//!
//! ```js
//! const model = Model.load(bytes);             // throws { code: "MODEL_INVALID" }
//! const { outputs } = model.predict({ X: [[0.1, 2.0, 3.5, 1.0]] });
//! ```
//!
//! Inputs and outputs are plain objects of nested arrays (row-major), the
//! format `outpost predict` reads; `null` stands for NaN.

use outpost_infer::json::{inputs_from_json, outputs_to_json};
use wasm_bindgen::prelude::*;

use crate::{ErrorCode, js_error};

/// A loaded, optimised model; reusable across calls.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Model {
    inner: outpost_infer::Model,
}

#[wasm_bindgen]
impl Model {
    /// Parses, optimises and plans an ONNX model from its bytes.
    pub fn load(bytes: &[u8]) -> Result<Model, JsValue> {
        outpost_infer::Model::load(bytes)
            .map(|inner| Model { inner })
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
        let outputs = self.inner.run(&tensors).map_err(|err| match err {
            outpost_infer::RunError::Input(err) => {
                js_error(ErrorCode::InputInvalid, &err.to_string())
            }
            other => js_error(ErrorCode::RunFailed, &other.to_string()),
        })?;
        Ok(outputs_to_json(&outputs).to_string())
    }
}
