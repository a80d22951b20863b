//! Imputer: replaces a missing marker (NaN by default for floats in
//! scikit-learn's SimpleImputer) with a per-column value.

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

pub(crate) fn imputer(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let rule = if let Some(floats) = node.get_attr_opt_slice::<f32>("imputed_value_floats")? {
        Rule::Float {
            imputed: floats.to_vec(),
            replaced: node
                .get_attr_opt::<f32>("replaced_value_float")?
                .unwrap_or(0.0),
        }
    } else if let Some(ints) = node.get_attr_opt_slice::<i64>("imputed_value_int64s")? {
        Rule::Int {
            imputed: ints.to_vec(),
            replaced: node
                .get_attr_opt::<i64>("replaced_value_int64")?
                .unwrap_or(0),
        }
    } else {
        bail!("Imputer needs imputed_value_floats or imputed_value_int64s");
    };
    let count = match &rule {
        Rule::Float { imputed, .. } => imputed.len(),
        Rule::Int { imputed, .. } => imputed.len(),
    };
    node.expect(count > 0, "at least one imputed value")?;
    Ok((expand(Imputer(Arc::new(rule))), vec![]))
}

#[derive(Debug)]
enum Rule {
    Float { imputed: Vec<f32>, replaced: f32 },
    Int { imputed: Vec<i64>, replaced: i64 },
}

impl Rule {
    fn datum_type(&self) -> DatumType {
        match self {
            Rule::Float { .. } => f32::datum_type(),
            Rule::Int { .. } => i64::datum_type(),
        }
    }
}

#[derive(Debug, Clone)]
struct Imputer(Arc<Rule>);

impl PartialEq for Imputer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Imputer {}

/// The value for column `column` of `columns`: one value for all, or one each.
fn per_column<T: Copy>(imputed: &[T], index: usize, columns: usize) -> T {
    if imputed.len() == 1 {
        imputed[0]
    } else {
        imputed[(index % columns).min(imputed.len() - 1)]
    }
}

impl Op for Imputer {
    fn name(&self) -> StaticName {
        "Imputer".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Imputer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let columns = input.shape().last().copied().unwrap_or(1).max(1);
        let mut out = input.cast_to_dt(self.0.datum_type())?.into_owned();
        match &*self.0 {
            Rule::Float { imputed, replaced } => {
                ensure!(
                    imputed.len() == 1 || imputed.len() == columns,
                    "Imputer has {} values for {columns} columns",
                    imputed.len()
                );
                let mut view = out.try_as_plain_ram_mut()?;
                for (at, x) in view.as_slice_mut::<f32>()?.iter_mut().enumerate() {
                    let missing = if replaced.is_nan() {
                        x.is_nan()
                    } else {
                        *x == *replaced
                    };
                    if missing {
                        *x = per_column(imputed, at, columns);
                    }
                }
            }
            Rule::Int { imputed, replaced } => {
                ensure!(
                    imputed.len() == 1 || imputed.len() == columns,
                    "Imputer has {} values for {columns} columns",
                    imputed.len()
                );
                let mut view = out.try_as_plain_ram_mut()?;
                for (at, x) in view.as_slice_mut::<i64>()?.iter_mut().enumerate() {
                    if *x == *replaced {
                        *x = per_column(imputed, at, columns);
                    }
                }
            }
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Imputer {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.0.datum_type().fact(inputs[0].shape.clone())))
    }

    as_op!();
}

impl Expansion for Imputer {
    fn name(&self) -> StaticName {
        "Imputer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::elementwise_rules(s, inputs, outputs, self.0.datum_type())
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
