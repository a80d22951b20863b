//! TreeEnsembleRegressor and TreeEnsembleClassifier as tract operators: the
//! attributes become a [`TreeEnsemble`] once at load, and one typed op
//! evaluates it (no expansion into generic ops: the walk is the whole job).

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

use super::attrs;
use super::tree::{
    Aggregate, EnsembleSpec, NodeMode, NodeSpec, PostTransform, TreeEnsemble, WeightSpec,
};

pub(crate) fn regressor(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    // Read as i64 and bounded here: tract's `usize` attributes are cast
    // with `as`, which truncates on wasm32.
    let n_targets = super::tree::target_count(node.get_attr_opt::<i64>("n_targets")?.unwrap_or(1))?;
    let aggregate = Aggregate::parse(node.get_attr_opt("aggregate_function")?.unwrap_or("SUM"))?;
    let ensemble = build(ctx, node, "target", n_targets, aggregate)?;
    Ok((
        expand(TreeExpansion(TreeEnsembleOp {
            ensemble: Arc::new(ensemble),
            labels: None,
        })),
        vec![],
    ))
}

pub(crate) fn classifier(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = node.get_attr_opt_slice::<i64>("classlabels_int64s")?;
    let strings = node.get_attr_opt_tvec::<String>("classlabels_strings")?;
    let labels = match (ints, strings) {
        (Some(ints), None) => tensor1(ints),
        (None, Some(strings)) => tensor1(&strings),
        _ => bail!("exactly one of classlabels_int64s and classlabels_strings must be set"),
    };
    let ensemble = build(ctx, node, "class", labels.len(), Aggregate::Sum)?;
    Ok((
        expand(TreeExpansion(TreeEnsembleOp {
            ensemble: Arc::new(ensemble),
            labels: Some(Arc::new(labels)),
        })),
        vec![],
    ))
}

fn build(
    ctx: &ParsingContext,
    node: &NodeProto,
    weights_prefix: &str,
    n_targets: usize,
    aggregate: Aggregate,
) -> TractResult<TreeEnsemble> {
    let trees = attrs::ints(node, "nodes_treeids")?;
    let ids = attrs::ints(node, "nodes_nodeids")?;
    let features = attrs::ints(node, "nodes_featureids")?;
    let trues = attrs::ints(node, "nodes_truenodeids")?;
    let falses = attrs::ints(node, "nodes_falsenodeids")?;
    let modes = node.get_attr_tvec::<&str>("nodes_modes")?;
    let thresholds = attrs::floats(ctx, node, "nodes_values")?.unwrap_or_default();
    let missing = node
        .get_attr_opt_slice::<i64>("nodes_missing_value_tracks_true")?
        .map(<[i64]>::to_vec)
        .unwrap_or_else(|| vec![0; trees.len()]);
    attrs::same_length(
        node,
        trees.len(),
        &[
            ("nodes_nodeids", ids.len()),
            ("nodes_featureids", features.len()),
            ("nodes_truenodeids", trues.len()),
            ("nodes_falsenodeids", falses.len()),
            ("nodes_modes", modes.len()),
            ("nodes_values", thresholds.len()),
            ("nodes_missing_value_tracks_true", missing.len()),
        ],
    )?;
    let nodes = (0..trees.len())
        .map(|i| {
            Ok(NodeSpec {
                tree: trees[i],
                id: ids[i],
                feature: features[i],
                mode: NodeMode::parse(modes[i])?,
                threshold: thresholds[i],
                true_id: trues[i],
                false_id: falses[i],
                missing_tracks_true: missing[i] != 0,
            })
        })
        .collect::<Result<Vec<_>, super::tree::TreeError>>()?;

    let name = |suffix: &str| format!("{weights_prefix}_{suffix}");
    let w_trees = attrs::ints(node, &name("treeids"))?;
    let w_nodes = attrs::ints(node, &name("nodeids"))?;
    let w_targets = attrs::ints(node, &name("ids"))?;
    let w_values = attrs::floats(ctx, node, &name("weights"))?.unwrap_or_default();
    attrs::same_length(
        node,
        w_trees.len(),
        &[
            (&name("nodeids"), w_nodes.len()),
            (&name("ids"), w_targets.len()),
            (&name("weights"), w_values.len()),
        ],
    )?;
    let weights = (0..w_trees.len())
        .map(|i| WeightSpec {
            tree: w_trees[i],
            node: w_nodes[i],
            target: w_targets[i],
            weight: w_values[i],
        })
        .collect();
    let post_transform =
        PostTransform::parse(node.get_attr_opt("post_transform")?.unwrap_or("NONE"))?;
    let base_values = attrs::floats(ctx, node, "base_values")?.unwrap_or_default();
    Ok(TreeEnsemble::build(EnsembleSpec {
        nodes,
        weights,
        n_targets,
        aggregate,
        base_values,
        post_transform,
    })?)
}

/// The inference-time face of the op: shapes and types for tract's solver.
#[derive(Debug, Clone)]
struct TreeExpansion(TreeEnsembleOp);

impl Expansion for TreeExpansion {
    fn name(&self) -> StaticName {
        self.0.name()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.0.labels.is_some() { 2 } else { 1 })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        let scores = match &self.0.labels {
            Some(labels) => {
                check_output_arity(outputs, 2)?;
                s.equals(&outputs[0].datum_type, labels.datum_type())?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                &outputs[1]
            }
            None => {
                check_output_arity(outputs, 1)?;
                &outputs[0]
            }
        };
        s.equals(&scores.datum_type, f32::datum_type())?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.0.ensemble.n_targets().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }
}

/// Evaluates a tree ensemble on `[rows, features]` of any numeric type.
#[derive(Debug, Clone)]
pub(crate) struct TreeEnsembleOp {
    ensemble: Arc<TreeEnsemble>,
    /// Class labels (int64 or string) for a classifier; `None` for a regressor.
    labels: Option<Arc<Tensor>>,
}

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ensemble, &other.ensemble)
    }
}

impl Eq for TreeEnsembleOp {}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        if self.labels.is_some() {
            "TreeEnsembleClassifier".into()
        } else {
            "TreeEnsembleRegressor".into()
        }
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} trees, {} targets",
            self.ensemble.n_trees(),
            self.ensemble.n_targets()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let &[n_rows, n_features] = input.shape() else {
            bail!(
                "a tree ensemble takes [rows, features], got {:?}",
                input.shape()
            );
        };
        let rows = input.cast_to::<f64>()?;
        let rows = rows.try_as_plain_ram()?.as_slice::<f64>()?;
        let n_targets = self.ensemble.n_targets();
        match &self.labels {
            None => {
                let scores = self.ensemble.regress(rows, n_features)?;
                Ok(tvec!(
                    Tensor::from_shape(&[n_rows, n_targets], &scores)?.into_tvalue()
                ))
            }
            Some(labels) => {
                let (winners, scores) = self.ensemble.classify(rows, n_features)?;
                let labels = if labels.datum_type() == String::datum_type() {
                    let names = labels.try_as_plain_ram()?.as_slice::<String>()?;
                    tensor1(
                        &winners
                            .iter()
                            .map(|&w| names[w].clone())
                            .collect::<Vec<_>>(),
                    )
                } else {
                    let ids = labels.try_as_plain_ram()?.as_slice::<i64>()?;
                    tensor1(&winners.iter().map(|&w| ids[w]).collect::<Vec<_>>())
                };
                Ok(tvec!(
                    labels.into_tvalue(),
                    Tensor::from_shape(&[n_rows, n_targets], &scores)?.into_tvalue()
                ))
            }
        }
    }
}

impl TypedOp for TreeEnsembleOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].rank() == 2,
            "a tree ensemble takes [rows, features]"
        );
        let rows = inputs[0].shape[0].clone();
        let scores = f32::fact([rows.clone(), self.ensemble.n_targets().to_dim()]);
        Ok(match &self.labels {
            None => tvec!(scores),
            Some(labels) => tvec!(labels.datum_type().fact([rows]), scores),
        })
    }

    as_op!();
}
