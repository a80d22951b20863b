//! A loaded model: parsed with Outpost's extra `ai.onnx.ml` operators,
//! optimised and planned once, then run as many times as needed. The same
//! code runs natively, in the Worker and in the wasm client.

use std::sync::Arc;

use tract_onnx::prelude::{
    DatumType, TValue, TVec, Tensor as TractTensor, TractResult, TypedRunnableModel, tvec,
};
use tract_onnx::tract_core::ndarray::ArrayD;

use crate::inspect::summarise_onnx;
use crate::load::{LoadError, load_onnx};
use crate::tensor::{Dim, ElementType, InputError, Tensor, TensorData, TensorSpec, check_inputs};

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("the model failed while running: {0}")]
    Runtime(String),
}

/// A model ready to run.
#[derive(Debug, Clone)]
pub struct Model {
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<String>,
    /// Declared output element types; tract may compute a declared int64 as
    /// its symbolic-dimension type, and the declaration is what callers see.
    output_types: Vec<Option<ElementType>>,
}

fn spec_of(value: &crate::inspect::OnnxValue) -> Result<TensorSpec, LoadError> {
    let element_type = ElementType::from_onnx(&value.dtype).ok_or_else(|| LoadError {
        stage: "parse",
        message: format!(
            "input `{}` has type {}, which Outpost cannot feed",
            value.name, value.dtype
        ),
    })?;
    Ok(TensorSpec {
        name: value.name.clone(),
        element_type,
        shape: value
            .shape
            .iter()
            .map(|dim| match dim {
                Dim::Symbolic(name) if name == "?" => Dim::Symbolic("N".into()),
                other => other.clone(),
            })
            .collect(),
    })
}

impl Model {
    /// Parses, optimises and plans an ONNX model from its bytes, after
    /// [`crate::validate::validate_onnx`] has checked every tensor (inside
    /// [`load_onnx`]), so every runtime refuses the same files.
    pub fn load(bytes: &[u8]) -> Result<Self, LoadError> {
        let summary = summarise_onnx(bytes).map_err(|err| LoadError {
            stage: "parse",
            message: err.to_string(),
        })?;
        let inputs = summary
            .inputs
            .iter()
            .map(spec_of)
            .collect::<Result<_, _>>()?;
        let plan = load_onnx(bytes)?;
        Ok(Self {
            plan,
            inputs,
            output_types: summary
                .outputs
                .iter()
                .map(|o| ElementType::from_onnx(&o.dtype))
                .collect(),
            outputs: summary.outputs.into_iter().map(|o| o.name).collect(),
        })
    }

    /// What the model takes, in its declared order.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The declared inputs in words, for errors that say what the model
    /// takes: `X float[N, 4], mask int64[N]`. One wording for the CLI and
    /// the inference Worker.
    pub fn describe_inputs(&self) -> String {
        self.inputs
            .iter()
            .map(|spec| {
                let dims: Vec<String> = spec.shape.iter().map(ToString::to_string).collect();
                format!("{} {}[{}]", spec.name, spec.element_type, dims.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Output names, in the order `run` returns them.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Runs the model. Inputs are matched by name and checked against the
    /// schema first, so a mistake is reported as such rather than as a
    /// failure deep in the runtime.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        check_inputs(&self.inputs, inputs)?;
        let mut ordered: TVec<TValue> = tvec!();
        for spec in &self.inputs {
            let Some(input) = inputs.iter().find(|t| t.name() == spec.name) else {
                return Err(InputError::Missing {
                    name: spec.name.clone(),
                }
                .into());
            };
            ordered.push(to_tract(input).map_err(runtime)?.into());
        }
        let results = self.plan.run(ordered).map_err(runtime)?;
        results
            .into_iter()
            .zip(self.outputs.iter().zip(&self.output_types))
            .map(|(value, (name, declared))| from_tract(name, &value, *declared).map_err(runtime))
            .collect()
    }
}

fn runtime(err: tract_onnx::prelude::TractError) -> RunError {
    RunError::Runtime(
        format!("{err:#}")
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" / "),
    )
}

fn to_tract(tensor: &Tensor) -> TractResult<TractTensor> {
    // A dimension past this target's usize would wrap on wasm32 (an empty
    // input of shape [2^32, 0] becoming [0, 0]); refuse it instead.
    let shape: Vec<usize> = tensor
        .shape()
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                tract_onnx::tract_core::internal::format_err!(
                    "input `{}`: dimension {d} does not fit this target",
                    tensor.name()
                )
            })
        })
        .collect::<TractResult<_>>()?;
    Ok(match tensor.data() {
        TensorData::Float(v) => TractTensor::from_shape(&shape, v)?,
        TensorData::Double(v) => TractTensor::from_shape(&shape, v)?,
        TensorData::Int64(v) => TractTensor::from_shape(&shape, v)?,
        TensorData::Int32(v) => TractTensor::from_shape(&shape, v)?,
        TensorData::Bool(v) => TractTensor::from_shape(&shape, v)?,
        TensorData::String(v) => ArrayD::from_shape_vec(shape, v.clone())?.into(),
    })
}

fn from_tract(
    name: &str,
    tensor: &TractTensor,
    declared: Option<ElementType>,
) -> TractResult<Tensor> {
    let wanted = match declared {
        Some(ElementType::Float) => Some(DatumType::F32),
        Some(ElementType::Double) => Some(DatumType::F64),
        Some(ElementType::Int64) => Some(DatumType::I64),
        Some(ElementType::Int32) => Some(DatumType::I32),
        Some(ElementType::Bool) => Some(DatumType::Bool),
        Some(ElementType::String) => Some(DatumType::String),
        None => None,
    };
    let tensor = match wanted {
        Some(dt) if dt != tensor.datum_type() => tensor.cast_to_dt(dt)?,
        _ => std::borrow::Cow::Borrowed(tensor),
    };
    let shape: Vec<u64> = tensor.shape().iter().map(|&d| d as u64).collect();
    let view = tensor.try_as_plain_ram()?;
    let data = match tensor.datum_type() {
        DatumType::F32 => TensorData::Float(view.as_slice::<f32>()?.to_vec()),
        DatumType::F64 => TensorData::Double(view.as_slice::<f64>()?.to_vec()),
        DatumType::I64 => TensorData::Int64(view.as_slice::<i64>()?.to_vec()),
        DatumType::I32 => TensorData::Int32(view.as_slice::<i32>()?.to_vec()),
        DatumType::Bool => TensorData::Bool(view.as_slice::<bool>()?.to_vec()),
        DatumType::String => TensorData::String(view.as_slice::<String>()?.to_vec()),
        // Narrow integer and half-precision outputs widen to what JSON and
        // the clients handle.
        dt if dt.is_integer() || dt == DatumType::TDim => {
            let cast = tensor.cast_to::<i64>()?;
            TensorData::Int64(cast.try_as_plain_ram()?.as_slice::<i64>()?.to_vec())
        }
        _ => {
            let cast = tensor.cast_to::<f32>()?;
            TensorData::Float(cast.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
        }
    };
    Tensor::new(name, shape, data).map_err(|e| tract_onnx::tract_core::internal::format_err!("{e}"))
}
