//! Tree-ensemble construction and evaluation from arbitrary node and
//! weight arrays (what the `ai.onnx.ml` attributes carry): cycles, shared
//! children, out-of-range indices, huge feature ids, NaN thresholds.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use outpost_infer::ml::tree::{
    Aggregate, EnsembleSpec, NodeMode, NodeSpec, PostTransform, TreeEnsemble, WeightSpec,
};

fn small(u: &mut Unstructured<'_>) -> Result<i64> {
    // Mostly small indices (so trees connect), sometimes anything.
    Ok(if u.ratio(7, 8)? {
        i64::from(u.int_in_range(-1..=12)?)
    } else {
        u.arbitrary()?
    })
}

fn spec(u: &mut Unstructured<'_>) -> Result<(EnsembleSpec, Vec<f64>, usize)> {
    let modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF"];
    let mut nodes = Vec::new();
    for _ in 0..u.int_in_range(0..=24)? {
        nodes.push(NodeSpec {
            tree: small(u)?,
            id: small(u)?,
            feature: small(u)?,
            mode: NodeMode::parse(u.choose(&modes)?).unwrap_or(NodeMode::Leaf),
            threshold: u.arbitrary()?,
            true_id: small(u)?,
            false_id: small(u)?,
            missing_tracks_true: u.arbitrary()?,
        });
    }
    let mut weights = Vec::new();
    for _ in 0..u.int_in_range(0..=24)? {
        weights.push(WeightSpec {
            tree: small(u)?,
            node: small(u)?,
            target: small(u)?,
            weight: u.arbitrary()?,
        });
    }
    let aggregate = Aggregate::parse(u.choose(&["SUM", "AVERAGE", "MIN", "MAX"])?)
        .unwrap_or(Aggregate::Sum);
    let post = PostTransform::parse(u.choose(&["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"])?)
        .unwrap_or(PostTransform::None);
    let n_targets = usize::from(u.int_in_range(1..=4u8)?);
    let base_values = (0..u.int_in_range(0..=4)?)
        .map(|_| u.arbitrary())
        .collect::<Result<Vec<f64>>>()?;
    let features = usize::from(u.int_in_range(0..=8u8)?);
    let rows = (0..features * usize::from(u.int_in_range(0..=3u8)?))
        .map(|_| u.arbitrary())
        .collect::<Result<Vec<f64>>>()?;
    Ok((
        EnsembleSpec {
            nodes,
            weights,
            n_targets,
            aggregate,
            base_values,
            post_transform: post,
        },
        rows,
        features,
    ))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((spec, rows, features)) = spec(&mut u) else {
        return;
    };
    if let Ok(ensemble) = TreeEnsemble::build(spec) {
        let _ = ensemble.regress(&rows, features);
    }
});
