//! `outpost.Model`'s core: `outpost_infer::Model` (tract with Outpost's
//! `ai.onnx.ml` operators), the code the CLI's `predict --local`, the
//! inference Worker and the wasm client run.
//!
//! Tensors cross as `(name, element type, shape, data)`: data is the
//! row-major little-endian bytes of a numeric tensor (numpy's
//! `tobytes()`), or a list of `str` for a string tensor. The Python side
//! turns them into numpy arrays.

use std::sync::Arc;

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

/// An ONNX model, parsed, validated, optimised and planned once.
#[pyclass(module = "outpost._native", frozen)]
#[derive(Debug)]
pub struct Model {
    inner: Arc<outpost_infer::Model>,
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
    /// released while the model runs.
    fn run(&self, py: Python<'_>, inputs: Vec<TensorTuple>) -> PyResult<Vec<OutputTuple>> {
        let tensors = inputs
            .into_iter()
            .map(|t| tensor(py, t))
            .collect::<PyResult<Vec<_>>>()?;
        let model = Arc::clone(&self.inner);
        match py.detach(move || model.run(&tensors)) {
            Ok(outputs) => Ok(outputs.iter().map(output).collect()),
            Err(outpost_infer::RunError::Input(err)) => Err(input_error(py, err.to_string())),
            Err(outpost_infer::RunError::Runtime(message)) => {
                Err(error(py, "ModelError", ("run", message)))
            }
        }
    }
}
