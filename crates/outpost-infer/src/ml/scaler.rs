//! Scaler: `(x - offset) * scale` per column, in f32 (StandardScaler and
//! friends). Expanded into tract's own cast, sub and mul so that the optimiser
//! can fold it into the layer that follows.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::{cast::cast, change_axes::wire_with_rank_broadcast, math};
use tract_onnx::tract_hir::internal::*;

pub(crate) fn scaler(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset = node
        .get_attr_opt_slice::<f32>("offset")?
        .map_or_else(|| vec![0.0], <[f32]>::to_vec);
    let scale = node
        .get_attr_opt_slice::<f32>("scale")?
        .map_or_else(|| vec![1.0], <[f32]>::to_vec);
    node.expect_attr("offset", !offset.is_empty(), "at least one value")?;
    node.expect_attr("scale", !scale.is_empty(), "at least one value")?;
    Ok((expand(Scaler { offset, scale }), vec![]))
}

#[derive(Debug, Clone)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::elementwise_rules(s, inputs, outputs, f32::datum_type())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut x = inputs[0];
        let fact = model.outlet_fact(x)?.clone();
        if let Some(columns) = fact.shape.last().and_then(|d| d.to_usize().ok()) {
            for (name, values) in [("offset", &self.offset), ("scale", &self.scale)] {
                ensure!(
                    values.len() == 1 || values.len() == columns,
                    "Scaler {name} has {} values for {columns} columns",
                    values.len()
                );
            }
        }
        if fact.datum_type != f32::datum_type() {
            x = model.wire_node(format!("{prefix}.cast"), cast(f32::datum_type()), &[x])?[0];
        }
        let offset = model.add_const(format!("{prefix}.offset"), tensor1(&self.offset))?;
        x = wire_with_rank_broadcast(format!("{prefix}.sub"), model, math::sub(), &[x, offset])?[0];
        let scale = model.add_const(format!("{prefix}.scale"), tensor1(&self.scale))?;
        wire_with_rank_broadcast(format!("{prefix}.mul"), model, math::mul(), &[x, scale])
    }
}
