//! Reading `ai.onnx.ml` attributes, which come either as typed lists
//! (`nodes_values`) or, since ai.onnx.ml 3, as tensors (`nodes_values_as_tensor`).

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::{NodeProto, TensorProto};
use tract_onnx::prelude::*;

/// A list of numbers from `name` (floats) or `name_as_tensor`, as f64.
pub(crate) fn floats(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Vec<f64>>> {
    let tensor_name = format!("{name}_as_tensor");
    if let Some(proto) = node.get_attr_opt::<&TensorProto>(&tensor_name)? {
        let tensor = tract_onnx::tensor::load_tensor(&*ctx.framework.provider, proto, None)?;
        let tensor = tensor.cast_to::<f64>()?;
        return Ok(Some(tensor.try_as_plain_ram()?.as_slice::<f64>()?.to_vec()));
    }
    Ok(node
        .get_attr_opt_slice::<f32>(name)?
        .map(|values| values.iter().map(|&v| f64::from(v)).collect()))
}

/// A list of integers that must be present.
pub(crate) fn ints<'a>(node: &'a NodeProto, name: &str) -> TractResult<&'a [i64]> {
    node.get_attr_slice::<i64>(name)
}

/// Checks that the parallel arrays describing one set of nodes agree in length.
pub(crate) fn same_length(
    node: &NodeProto,
    expected: usize,
    arrays: &[(&str, usize)],
) -> TractResult<()> {
    for (name, len) in arrays {
        node.expect_attr(name, *len == expected, || {
            format!("{expected} entries like the other arrays, got {len}")
        })?;
    }
    Ok(())
}

/// A tensor attribute, loaded.
pub(crate) fn tensor(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Tensor>> {
    node.get_attr_opt::<&TensorProto>(name)?
        .map(|proto| tract_onnx::tensor::load_tensor(&*ctx.framework.provider, proto, None))
        .transpose()
}
