//! LabelEncoder: maps each key (int64, float or string) to a value through a
//! table, with a default for keys not in it. Isolation forests use it to turn
//! the leaf a sample reached into that leaf's path length.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ndarray::ArrayD;
use tract_onnx::tract_hir::internal::*;

use super::attrs;

/// A key as the table compares it: floats by value (so -0.0 equals 0.0, and
/// every NaN is one key), integers and strings exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Float(u32),
    Str(String),
}

fn float_key(x: f32) -> Key {
    if x.is_nan() {
        Key::Float(f32::NAN.to_bits())
    } else if x == 0.0 {
        Key::Float(0)
    } else {
        Key::Float(x.to_bits())
    }
}

fn keys_of(tensor: &Tensor) -> TractResult<Vec<Key>> {
    let view = tensor.try_as_plain_ram()?;
    Ok(match tensor.datum_type() {
        DatumType::I64 => view
            .as_slice::<i64>()?
            .iter()
            .map(|&k| Key::Int(k))
            .collect(),
        DatumType::F32 => view
            .as_slice::<f32>()?
            .iter()
            .map(|&k| float_key(k))
            .collect(),
        DatumType::String => view
            .as_slice::<String>()?
            .iter()
            .map(|k| Key::Str(k.clone()))
            .collect(),
        other => bail!("LabelEncoder keys of type {other:?} are not supported"),
    })
}

/// The first of `name_int64s`, `name_floats`, `name_strings`, `name_tensor`
/// that is set, as a 1-D tensor.
fn list(ctx: &ParsingContext, node: &NodeProto, name: &str) -> TractResult<Option<Tensor>> {
    if let Some(ints) = node.get_attr_opt_slice::<i64>(&format!("{name}_int64s"))? {
        return Ok(Some(tensor1(ints)));
    }
    if let Some(floats) = node.get_attr_opt_slice::<f32>(&format!("{name}_floats"))? {
        return Ok(Some(tensor1(floats)));
    }
    if let Some(strings) = node.get_attr_opt_tvec::<String>(&format!("{name}_strings"))? {
        return Ok(Some(tensor1(&strings)));
    }
    attrs::tensor(ctx, node, &format!("{name}_tensor"))
}

pub(crate) fn label_encoder(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let keys = list(ctx, node, "keys")?.context("LabelEncoder needs keys")?;
    let values = list(ctx, node, "values")?.context("LabelEncoder needs values")?;
    node.expect(keys.len() == values.len(), "as many values as keys")?;
    let values = if values.datum_type() == f64::datum_type() {
        values.cast_to::<f32>()?.into_owned()
    } else {
        values
    };
    let default = match attrs::tensor(ctx, node, "default_tensor")? {
        Some(default) => default
            .cast_to_dt(values.datum_type())?
            .into_owned()
            .into_shape(&[])?,
        None => match values.datum_type() {
            DatumType::I64 => tensor0(node.get_attr_opt::<i64>("default_int64")?.unwrap_or(-1)),
            DatumType::F32 => tensor0(node.get_attr_opt::<f32>("default_float")?.unwrap_or(-0.0)),
            DatumType::String => tensor0(
                node.get_attr_opt::<String>("default_string")?
                    .unwrap_or_else(|| "_Unused".to_owned()),
            ),
            other => bail!("LabelEncoder values of type {other:?} are not supported"),
        },
    };
    let mut table = HashMap::with_capacity(keys.len());
    for (at, key) in keys_of(&keys)?.into_iter().enumerate() {
        // onnxruntime keeps the first value for a repeated key.
        table.entry(key).or_insert(at);
    }
    let encoder = LabelEncoder(Arc::new(Table {
        key_type: keys.datum_type(),
        table,
        values,
        default,
    }));
    Ok((expand(encoder), vec![]))
}

#[derive(Debug)]
struct Table {
    key_type: DatumType,
    table: HashMap<Key, usize>,
    values: Tensor,
    default: Tensor,
}

#[derive(Debug, Clone)]
struct LabelEncoder(Arc<Table>);

impl PartialEq for LabelEncoder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LabelEncoder {}

fn lookup<T: Datum + Clone>(
    table: &Table,
    indices: &[Option<usize>],
    shape: &[usize],
) -> TractResult<Tensor> {
    let values = table.values.try_as_plain_ram()?;
    let values = values.as_slice::<T>()?;
    let default = table.default.try_as_plain_ram()?;
    let default = &default.as_slice::<T>()?[0];
    let out: Vec<T> = indices
        .iter()
        .map(|i| i.map_or_else(|| default.clone(), |i| values[i].clone()))
        .collect();
    Ok(ArrayD::from_shape_vec(shape, out)?.into_tensor())
}

impl Op for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LabelEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let table = &self.0;
        let keys = input.cast_to_dt(table.key_type)?;
        let indices: Vec<Option<usize>> = keys_of(&keys)?
            .into_iter()
            .map(|key| table.table.get(&key).copied())
            .collect();
        let shape = input.shape();
        let out = match table.values.datum_type() {
            DatumType::I64 => lookup::<i64>(table, &indices, shape)?,
            DatumType::F32 => lookup::<f32>(table, &indices, shape)?,
            _ => lookup::<String>(table, &indices, shape)?,
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for LabelEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(
            self.0.values.datum_type().fact(inputs[0].shape.clone())
        ))
    }

    as_op!();
}

impl Expansion for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::elementwise_rules(s, inputs, outputs, self.0.values.datum_type())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}
