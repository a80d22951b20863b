//! Inputs and outputs as JSON: an object mapping each input name to nested
//! arrays in row-major order (`{"X": [[0.1, 2.0, 3.5, 1.0]]}`), the element
//! type taken from the model's schema. The CLI, the Worker's predict endpoint
//! and the wasm client all read and write this one format.
//!
//! `null` stands for NaN in float inputs and outputs (JSON has no NaN), which
//! is how a missing feature reaches an Imputer or a tree's missing-value rule.

use serde_json::{Map, Value};

use crate::tensor::{ElementType, InputError, Tensor, TensorData, TensorSpec};

/// Reads every input of `specs` from a JSON object, in the order of `specs`.
pub fn inputs_from_json(specs: &[TensorSpec], value: &Value) -> Result<Vec<Tensor>, InputError> {
    let object = value.as_object().ok_or(InputError::NotAnObject)?;
    if let Some(unknown) = object
        .keys()
        .find(|name| !specs.iter().any(|spec| &spec.name == *name))
    {
        return Err(InputError::Unknown {
            name: unknown.clone(),
            declared: specs
                .iter()
                .map(|spec| format!("`{}`", spec.name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    specs
        .iter()
        .map(|spec| {
            let value = object.get(&spec.name).ok_or_else(|| InputError::Missing {
                name: spec.name.clone(),
            })?;
            tensor_from_json(spec, value)
        })
        .collect()
}

/// One input: the shape comes from the nesting, which must be rectangular.
pub fn tensor_from_json(spec: &TensorSpec, value: &Value) -> Result<Tensor, InputError> {
    let name = &spec.name;
    let fail = |detail: String| InputError::Value {
        name: name.clone(),
        detail,
    };
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(items.len() as u64);
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut leaves = Vec::new();
    collect_leaves(value, &shape, &mut Vec::new(), &mut leaves).map_err(fail)?;
    let convert = |at: usize, leaf: &Value, what: &str| {
        format!("element {at} is {}, expected {what}", describe(leaf))
    };
    let data = match spec.element_type {
        ElementType::Float | ElementType::Double => {
            let mut values = Vec::with_capacity(leaves.len());
            for (at, leaf) in leaves.iter().enumerate() {
                values.push(match leaf {
                    Value::Null => f64::NAN,
                    Value::Number(n) => n
                        .as_f64()
                        .ok_or_else(|| fail(convert(at, leaf, "a number")))?,
                    _ => return Err(fail(convert(at, leaf, "a number"))),
                });
            }
            if spec.element_type == ElementType::Float {
                TensorData::Float(values.into_iter().map(|v| v as f32).collect())
            } else {
                TensorData::Double(values)
            }
        }
        ElementType::Int64 | ElementType::Int32 => {
            let mut values = Vec::with_capacity(leaves.len());
            for (at, leaf) in leaves.iter().enumerate() {
                values.push(
                    leaf.as_i64()
                        .ok_or_else(|| fail(convert(at, leaf, "an integer")))?,
                );
            }
            if spec.element_type == ElementType::Int64 {
                TensorData::Int64(values)
            } else {
                TensorData::Int32(
                    values
                        .into_iter()
                        .enumerate()
                        .map(|(at, v)| {
                            i32::try_from(v)
                                .map_err(|_| fail(format!("element {at} ({v}) does not fit int32")))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
        }
        ElementType::String => TensorData::String(
            leaves
                .iter()
                .enumerate()
                .map(|(at, leaf)| {
                    leaf.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| fail(convert(at, leaf, "a string")))
                })
                .collect::<Result<_, _>>()?,
        ),
        ElementType::Bool => TensorData::Bool(
            leaves
                .iter()
                .enumerate()
                .map(|(at, leaf)| {
                    leaf.as_bool()
                        .ok_or_else(|| fail(convert(at, leaf, "true or false")))
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let tensor = Tensor::new(name.clone(), shape, data)?;
    spec.check(&tensor)?;
    Ok(tensor)
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Walks the nesting, checking every level has the length `shape` says.
fn collect_leaves<'v>(
    value: &'v Value,
    shape: &[u64],
    path: &mut Vec<usize>,
    leaves: &mut Vec<&'v Value>,
) -> Result<(), String> {
    let depth = path.len();
    match (value, shape.get(depth)) {
        (Value::Array(items), Some(&len)) => {
            if items.len() as u64 != len {
                return Err(format!(
                    "not rectangular: {} has {} elements where {len} were expected",
                    at(path),
                    items.len()
                ));
            }
            for (i, item) in items.iter().enumerate() {
                path.push(i);
                collect_leaves(item, shape, path, leaves)?;
                path.pop();
            }
            Ok(())
        }
        (Value::Array(_), None) => Err(format!(
            "not rectangular: {} nests deeper than the first row",
            at(path)
        )),
        (_, Some(_)) => Err(format!(
            "not rectangular: {} is {} where an array was expected",
            at(path),
            describe(value)
        )),
        (leaf, None) => {
            leaves.push(leaf);
            Ok(())
        }
    }
}

fn at(path: &[usize]) -> String {
    if path.is_empty() {
        "the value".into()
    } else {
        path.iter().map(|i| format!("[{i}]")).collect()
    }
}

/// A tensor as nested arrays (NaN and infinities become `null`).
pub fn tensor_to_json(tensor: &Tensor) -> Value {
    let leaves: Vec<Value> = match tensor.data() {
        TensorData::Float(v) => v.iter().map(|&x| float(f64::from(x), Some(x))).collect(),
        TensorData::Double(v) => v.iter().map(|&x| float(x, None)).collect(),
        TensorData::Int64(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::Int32(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::String(v) => v.iter().map(|x| Value::from(x.as_str())).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| Value::from(x)).collect(),
    };
    nest(&mut leaves.into_iter(), tensor.shape())
}

/// f32 values print with f32's shortest representation (0.1, not 0.10000000149).
fn float(x: f64, single: Option<f32>) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    let x = single.map_or(x, |s| s.to_string().parse::<f64>().unwrap_or(x));
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn nest(leaves: &mut impl Iterator<Item = Value>, shape: &[u64]) -> Value {
    match shape.split_first() {
        None => leaves.next().unwrap_or(Value::Null),
        Some((&len, rest)) => Value::Array((0..len).map(|_| nest(leaves, rest)).collect()),
    }
}

/// Outputs by name, as the `outputs` object of a prediction.
pub fn outputs_to_json(outputs: &[Tensor]) -> Value {
    Value::Object(
        outputs
            .iter()
            .map(|t| (t.name().to_owned(), tensor_to_json(t)))
            .collect::<Map<String, Value>>(),
    )
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tensor::Dim;

    fn spec(element_type: ElementType) -> TensorSpec {
        TensorSpec {
            name: "X".into(),
            element_type,
            shape: vec![Dim::Symbolic("N".into()), Dim::Fixed(2)],
        }
    }

    #[test]
    fn nested_rows_become_a_row_major_tensor() {
        let t =
            tensor_from_json(&spec(ElementType::Float), &json!([[0.1, 2.0], [3.5, null]])).unwrap();
        assert_eq!(t.shape(), [2, 2]);
        let TensorData::Float(values) = t.data() else {
            panic!()
        };
        assert_eq!(values[..3], [0.1, 2.0, 3.5]);
        assert!(values[3].is_nan());
        assert_eq!(tensor_to_json(&t), json!([[0.1, 2.0], [3.5, null]]));
    }

    #[test]
    fn dtype_comes_from_the_schema() {
        let t = tensor_from_json(&spec(ElementType::Int64), &json!([[1, 2]])).unwrap();
        assert_eq!(t.data(), &TensorData::Int64(vec![1, 2]));
        let err = tensor_from_json(&spec(ElementType::Int64), &json!([[1, 2.5]])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `X`: element 1 is 2.5, expected an integer"
        );
        let err = tensor_from_json(&spec(ElementType::Float), &json!([["a", 1]])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `X`: element 0 is the string \"a\", expected a number"
        );
    }

    #[test]
    fn ragged_and_misshapen_inputs_are_named() {
        let err = tensor_from_json(&spec(ElementType::Float), &json!([[1, 2], [3]])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `X`: not rectangular: [1] has 1 elements where 2 were expected"
        );
        let err = tensor_from_json(&spec(ElementType::Float), &json!([[1, 2, 3]])).unwrap_err();
        assert_eq!(err.to_string(), "input `X`: dimension 1 must be 2, given 3");
        let err = tensor_from_json(&spec(ElementType::Float), &json!([1, 2])).unwrap_err();
        assert!(err.to_string().contains("expected rank 2"), "{err}");
    }

    #[test]
    fn unknown_and_missing_inputs() {
        let specs = [spec(ElementType::Float)];
        assert_eq!(
            inputs_from_json(&specs, &json!({"Y": [[1, 2]]}))
                .unwrap_err()
                .to_string(),
            "input `Y` is not declared by the model; it takes `X`"
        );
        assert_eq!(
            inputs_from_json(&specs, &json!({})).unwrap_err(),
            InputError::Missing { name: "X".into() }
        );
        assert_eq!(
            inputs_from_json(&specs, &json!([1])).unwrap_err(),
            InputError::NotAnObject
        );
    }
}
