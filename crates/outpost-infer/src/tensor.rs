//! Typed tensors and their schema.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Element types Outpost's fixture models use (ONNX names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementType {
    Float,
    Double,
    Int64,
    Int32,
    String,
    Bool,
}

impl ElementType {
    /// The element type for an ONNX dtype name as `inspect` writes it.
    pub fn from_onnx(name: &str) -> Option<Self> {
        Some(match name {
            "float" => Self::Float,
            "double" => Self::Double,
            "int64" => Self::Int64,
            "int32" => Self::Int32,
            "string" => Self::String,
            "bool" => Self::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ElementType::Float => "float",
            ElementType::Double => "double",
            ElementType::Int64 => "int64",
            ElementType::Int32 => "int32",
            ElementType::String => "string",
            ElementType::Bool => "bool",
        };
        f.write_str(name)
    }
}

/// One dimension of a declared shape: fixed, or symbolic (`N` for batch size).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(u64),
    Symbolic(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(name) => f.write_str(name),
        }
    }
}

/// What a model declares for one input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub element_type: ElementType,
    pub shape: Vec<Dim>,
}

/// Row-major tensor contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "values", rename_all = "lowercase")]
pub enum TensorData {
    Float(Vec<f32>),
    Double(Vec<f64>),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    String(Vec<String>),
    Bool(Vec<bool>),
}

impl TensorData {
    pub fn element_type(&self) -> ElementType {
        match self {
            TensorData::Float(_) => ElementType::Float,
            TensorData::Double(_) => ElementType::Double,
            TensorData::Int64(_) => ElementType::Int64,
            TensorData::Int32(_) => ElementType::Int32,
            TensorData::String(_) => ElementType::String,
            TensorData::Bool(_) => ElementType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::Float(v) => v.len(),
            TensorData::Double(v) => v.len(),
            TensorData::Int64(v) => v.len(),
            TensorData::Int32(v) => v.len(),
            TensorData::String(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named input or output with its shape; constructed only through
/// [`Tensor::new`], so its element count always matches its shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tensor {
    name: String,
    shape: Vec<u64>,
    data: TensorData,
}

/// Why an input was refused. Every variant names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input `{name}`: shape {shape:?} holds {expected} elements but {given} were given")]
    ElementCount {
        name: String,
        shape: Vec<u64>,
        expected: u128,
        given: usize,
    },
    #[error("input `{name}`: expected dtype {expected}, given {given}")]
    ElementType {
        name: String,
        expected: ElementType,
        given: ElementType,
    },
    #[error("input `{name}`: expected rank {expected} (shape [{declared}]), given shape {given:?}")]
    Rank {
        name: String,
        expected: usize,
        declared: String,
        given: Vec<u64>,
    },
    #[error("input `{name}`: dimension {axis} must be {expected}, given {given}")]
    Dimension {
        name: String,
        axis: usize,
        expected: u64,
        given: u64,
    },
    #[error("input `{name}` is not declared by the model; it takes {declared}")]
    Unknown { name: String, declared: String },
    #[error("input `{name}` is required but was not given")]
    Missing { name: String },
    #[error("input `{name}`: {detail}")]
    Value { name: String, detail: String },
    #[error("inputs must be a JSON object mapping input names to nested arrays")]
    NotAnObject,
}

impl Tensor {
    pub fn new(
        name: impl Into<String>,
        shape: Vec<u64>,
        data: TensorData,
    ) -> Result<Self, InputError> {
        let name = name.into();
        // u128 so that hostile shapes cannot overflow the product.
        let expected = shape.iter().map(|&d| u128::from(d)).product::<u128>();
        if expected != data.len() as u128 {
            return Err(InputError::ElementCount {
                name,
                shape,
                expected,
                given: data.len(),
            });
        }
        Ok(Self { name, shape, data })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }
}

impl TensorSpec {
    /// Checks that `tensor` fits this declaration: same dtype, same rank, and
    /// every fixed dimension equal. Symbolic dimensions accept any size.
    pub fn check(&self, tensor: &Tensor) -> Result<(), InputError> {
        let given = tensor.data.element_type();
        if given != self.element_type {
            return Err(InputError::ElementType {
                name: self.name.clone(),
                expected: self.element_type,
                given,
            });
        }
        if tensor.shape.len() != self.shape.len() {
            return Err(InputError::Rank {
                name: self.name.clone(),
                expected: self.shape.len(),
                declared: self.declared_shape(),
                given: tensor.shape.clone(),
            });
        }
        for (axis, (dim, &size)) in self.shape.iter().zip(&tensor.shape).enumerate() {
            if let Dim::Fixed(expected) = dim
                && *expected != size
            {
                return Err(InputError::Dimension {
                    name: self.name.clone(),
                    axis,
                    expected: *expected,
                    given: size,
                });
            }
        }
        Ok(())
    }

    fn declared_shape(&self) -> String {
        self.shape
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first input as row-major numbers with its column count, for telemetry
/// feature histograms (`[rows, columns]` or one row of `[columns]`).
pub fn feature_rows(tensors: &[Tensor]) -> Option<(Vec<f64>, usize)> {
    let first = tensors.first()?;
    let columns = match first.shape() {
        [_, columns] | [columns] => usize::try_from(*columns).ok()?,
        _ => return None,
    };
    let values = match first.data() {
        TensorData::Float(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Double(v) => v.clone(),
        TensorData::Int64(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::Int32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        _ => return None,
    };
    Some((values, columns))
}

/// Checks a full set of named inputs against a model's declared inputs: every
/// declared input given, nothing undeclared, each one fitting its spec.
pub fn check_inputs(specs: &[TensorSpec], inputs: &[Tensor]) -> Result<(), InputError> {
    for input in inputs {
        let Some(spec) = specs.iter().find(|spec| spec.name == input.name) else {
            return Err(InputError::Unknown {
                name: input.name.clone(),
                declared: specs
                    .iter()
                    .map(|spec| format!("`{}`", spec.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        spec.check(input)?;
    }
    if let Some(missing) = specs
        .iter()
        .find(|spec| !inputs.iter().any(|input| input.name == spec.name))
    {
        return Err(InputError::Missing {
            name: missing.name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn features_spec() -> TensorSpec {
        TensorSpec {
            name: "X".into(),
            element_type: ElementType::Float,
            shape: vec![Dim::Symbolic("N".into()), Dim::Fixed(4)],
        }
    }

    fn batch(rows: u64) -> Tensor {
        Tensor::new(
            "X",
            vec![rows, 4],
            TensorData::Float(vec![0.5; (rows * 4) as usize]),
        )
        .unwrap()
    }

    #[test]
    fn any_batch_size_fits_a_symbolic_dimension() {
        let spec = features_spec();
        for rows in [1, 2, 64] {
            spec.check(&batch(rows)).unwrap();
        }
    }

    #[test]
    fn element_count_must_match_the_shape() {
        let err = Tensor::new("X", vec![2, 4], TensorData::Float(vec![0.0; 7])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `X`: shape [2, 4] holds 8 elements but 7 were given"
        );
        // A shape whose product overflows u64 is refused, not wrapped.
        let huge = Tensor::new("X", vec![u64::MAX, 2], TensorData::Float(vec![]));
        assert!(matches!(huge, Err(InputError::ElementCount { .. })));
    }

    #[test]
    fn wrong_dtype_rank_and_dimension_are_named() {
        let spec = features_spec();
        let doubles = Tensor::new("X", vec![1, 4], TensorData::Double(vec![0.0; 4])).unwrap();
        assert_eq!(
            spec.check(&doubles).unwrap_err().to_string(),
            "input `X`: expected dtype float, given double"
        );
        let flat = Tensor::new("X", vec![4], TensorData::Float(vec![0.0; 4])).unwrap();
        assert_eq!(
            spec.check(&flat).unwrap_err().to_string(),
            "input `X`: expected rank 2 (shape [N, 4]), given shape [4]"
        );
        let three = Tensor::new("X", vec![1, 3], TensorData::Float(vec![0.0; 3])).unwrap();
        assert_eq!(
            spec.check(&three).unwrap_err().to_string(),
            "input `X`: dimension 1 must be 4, given 3"
        );
    }

    #[test]
    fn input_sets_must_match_the_declaration() {
        let specs = [features_spec()];
        check_inputs(&specs, &[batch(3)]).unwrap();
        assert_eq!(
            check_inputs(&specs, &[]).unwrap_err(),
            InputError::Missing { name: "X".into() }
        );
        let stray = Tensor::new("Y", vec![1], TensorData::Int64(vec![1])).unwrap();
        assert_eq!(
            check_inputs(&specs, &[batch(1), stray])
                .unwrap_err()
                .to_string(),
            "input `Y` is not declared by the model; it takes `X`"
        );
    }

    #[test]
    fn specs_serialise_with_symbolic_dims_as_strings() {
        let json = serde_json::to_string(&features_spec()).unwrap();
        assert_eq!(
            json,
            r#"{"name":"X","element_type":"float","shape":["N",4]}"#
        );
        let back: TensorSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, features_spec());
    }
}
