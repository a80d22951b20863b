//! Tree ensembles as `ai.onnx.ml` TreeEnsembleRegressor and
//! TreeEnsembleClassifier define them, evaluated the way onnxruntime does.
//!
//! This is the hot path of the seed workloads (isolation forests, random
//! forests, gradient boosting), so the trees are flattened once at load time
//! into one array of nodes with resolved child indices, and a row walks each
//! tree without lookups. Validation happens at build time: every child exists
//! in the same tree, every tree has exactly one root and no node is reachable
//! from itself, so a hostile model cannot make evaluation loop or index out
//! of bounds.
//!
//! A node may have several parents: the ONNX operator describes each node
//! by its two child ids and nothing requires the children to be distinct
//! subtrees, so a leaf shared by two branches (a directed acyclic graph) is
//! a valid model and evaluates like the tree it unfolds to. Only cycles are
//! refused; one root and no cycle also mean that every node is reachable
//! from its tree's root (walking parents backwards from any node must end at
//! a node without parents, and the root is the only one).
//!
//! Where the ONNX specification is vague (one score for two classes, one base
//! value for two classes, post transforms on a single target), onnxruntime's
//! behaviour is the reference: models are exported and validated against it,
//! and the conformance fixtures in `tests/data/conformance` are its outputs.

use std::collections::HashMap;

/// The most targets (regression outputs or classes) an ensemble may have.
/// scikit-learn's models have a handful, at most thousands; the bound keeps
/// a hostile `n_targets` from allocating gigabytes of scores per row, and is
/// the same on every target, unlike a cast to a 32-bit `usize`.
pub const MAX_TARGETS: usize = 1 << 20;

/// `n_targets` (an ONNX int attribute) as a count, checked the same way on
/// every target: at least 1, at most [`MAX_TARGETS`].
pub fn target_count(n: i64) -> Result<usize, TreeError> {
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_TARGETS).contains(n))
        .ok_or_else(|| {
            TreeError::Attribute(format!(
                "n_targets {n} is out of range: an ensemble has 1 to {MAX_TARGETS} targets"
            ))
        })
}

/// How the leaves reached in each tree combine into one score per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    pub fn parse(name: &str) -> Result<Self, TreeError> {
        match name {
            "SUM" => Ok(Self::Sum),
            "AVERAGE" => Ok(Self::Average),
            "MIN" => Ok(Self::Min),
            "MAX" => Ok(Self::Max),
            other => Err(TreeError::Attribute(format!(
                "aggregate_function {other:?} is not one of SUM, AVERAGE, MIN, MAX"
            ))),
        }
    }
}

/// The function applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(name: &str) -> Result<Self, TreeError> {
        match name {
            "NONE" => Ok(Self::None),
            "SOFTMAX" => Ok(Self::Softmax),
            "LOGISTIC" => Ok(Self::Logistic),
            "SOFTMAX_ZERO" => Ok(Self::SoftmaxZero),
            "PROBIT" => Ok(Self::Probit),
            other => Err(TreeError::Attribute(format!(
                "post_transform {other:?} is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"
            ))),
        }
    }

    /// Applies the transform to a vector of two or more scores.
    fn apply(self, scores: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
            PostTransform::Softmax => softmax(scores),
            PostTransform::SoftmaxZero => softmax_zero(scores),
        }
    }
}

/// The comparison a branch node makes between a feature and its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeMode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl NodeMode {
    pub fn parse(name: &str) -> Result<Self, TreeError> {
        match name {
            "BRANCH_LEQ" => Ok(Self::Leq),
            "BRANCH_LT" => Ok(Self::Lt),
            "BRANCH_GTE" => Ok(Self::Gte),
            "BRANCH_GT" => Ok(Self::Gt),
            "BRANCH_EQ" => Ok(Self::Eq),
            "BRANCH_NEQ" => Ok(Self::Neq),
            "LEAF" => Ok(Self::Leaf),
            other => Err(TreeError::Attribute(format!(
                "node mode {other:?} is not supported"
            ))),
        }
    }
}

/// Why an ensemble's attributes do not describe a usable forest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("{0}")]
    Attribute(String),
    #[error(
        "tree {tree}: node {node} has child id {child}, which is out of range: the tree has no node {child}"
    )]
    MissingChild { tree: i64, node: i64, child: i64 },
    #[error("tree {tree}: node {node} is declared twice")]
    DuplicateNode { tree: i64, node: i64 },
    #[error("tree {tree} has {roots} nodes no other node points to; a tree has exactly one root")]
    Roots { tree: i64, roots: usize },
    #[error("tree {tree} has a cycle: node {node} leads back to node {child}")]
    Cycle { tree: i64, node: i64, child: i64 },
    #[error("a weight names tree {tree} node {node}, which is out of range: no such node")]
    WeightOutOfRange { tree: i64, node: i64 },
    #[error("a weight names tree {tree} node {node}, which is not a leaf")]
    WeightNotOnLeaf { tree: i64, node: i64 },
    #[error("a weight's target or class {target} is out of range: there are {targets}")]
    Target { target: i64, targets: usize },
    #[error("feature index {needed} is out of range: the input has {given} features per row")]
    Features { needed: u64, given: usize },
    #[error("{rows} rows of {targets} scores do not fit in memory on this target")]
    Output { rows: usize, targets: usize },
}

/// One node as the ONNX attributes describe it (the `nodes_*` arrays).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub tree: i64,
    pub id: i64,
    pub feature: i64,
    pub mode: NodeMode,
    pub threshold: f64,
    pub true_id: i64,
    pub false_id: i64,
    pub missing_tracks_true: bool,
}

/// One leaf contribution (the `target_*` or `class_*` arrays).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSpec {
    pub tree: i64,
    pub node: i64,
    pub target: i64,
    pub weight: f64,
}

/// Everything an ensemble is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleSpec {
    pub nodes: Vec<NodeSpec>,
    pub weights: Vec<WeightSpec>,
    /// `n_targets` for a regressor, the number of class labels for a classifier.
    pub n_targets: usize,
    pub aggregate: Aggregate,
    pub base_values: Vec<f64>,
    pub post_transform: PostTransform,
}

/// A flattened node. For a leaf, `next` is the range of its weights.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    mode: NodeMode,
    missing_tracks_true: bool,
    next: [u32; 2],
}

/// A validated, flattened ensemble ready to evaluate rows.
#[derive(Debug, Clone)]
pub struct TreeEnsemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    weights: Vec<(u32, f64)>,
    n_targets: usize,
    aggregate: Aggregate,
    base_values: Vec<f64>,
    post_transform: PostTransform,
    /// One more than the largest feature index a branch reads (u64, so the
    /// same on every target).
    features_needed: u64,
    /// Classifier facts onnxruntime's binary handling depends on.
    single_weight_class: bool,
    weights_all_positive: bool,
}

/// Per-target accumulator; `has` distinguishes "no leaf contributed" from 0.
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    value: f64,
    has: bool,
}

impl TreeEnsemble {
    pub fn build(spec: EnsembleSpec) -> Result<Self, TreeError> {
        if spec.nodes.is_empty() {
            return Err(TreeError::Attribute("the ensemble has no nodes".into()));
        }
        if spec.n_targets == 0 || spec.n_targets > MAX_TARGETS {
            return Err(TreeError::Attribute(format!(
                "{} targets is out of range: an ensemble has 1 to {MAX_TARGETS}",
                spec.n_targets
            )));
        }
        // Node positions and weight ranges are stored as u32.
        let too_many = |what: &str, n: usize| {
            TreeError::Attribute(format!(
                "{n} {what}; an ensemble holds at most {}",
                u32::MAX
            ))
        };
        let position = |at: usize| u32::try_from(at).map_err(|_| too_many("nodes", at));
        position(spec.nodes.len())?;
        u32::try_from(spec.weights.len()).map_err(|_| too_many("weights", spec.weights.len()))?;
        let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(spec.nodes.len());
        // Tree id → position in declaration order (a map, not a scan, so
        // that a million one-leaf trees stay linear).
        let mut tree_of: HashMap<i64, usize> = HashMap::new();
        let mut tree_order: Vec<i64> = Vec::new();
        for (at, node) in spec.nodes.iter().enumerate() {
            if index.insert((node.tree, node.id), at).is_some() {
                return Err(TreeError::DuplicateNode {
                    tree: node.tree,
                    node: node.id,
                });
            }
            tree_of.entry(node.tree).or_insert_with(|| {
                tree_order.push(node.tree);
                tree_order.len() - 1
            });
        }
        let child = |node: &NodeSpec, id: i64| {
            index
                .get(&(node.tree, id))
                .copied()
                .ok_or(TreeError::MissingChild {
                    tree: node.tree,
                    node: node.id,
                    child: id,
                })
        };
        let mut pointed = vec![false; spec.nodes.len()];
        let mut nodes = Vec::with_capacity(spec.nodes.len());
        let mut features_needed: u64 = 0;
        for node in &spec.nodes {
            let mut next = [0u32; 2];
            // A leaf reads no feature (the spec ignores its feature id);
            // 0 keeps evaluation inside every row.
            let mut feature = 0;
            if node.mode != NodeMode::Leaf {
                feature = u32::try_from(node.feature).map_err(|_| {
                    TreeError::Attribute(format!(
                        "feature index {} is out of range (0 to {})",
                        node.feature,
                        u32::MAX
                    ))
                })?;
                features_needed = features_needed.max(u64::from(feature) + 1);
                for (slot, id) in [node.true_id, node.false_id].into_iter().enumerate() {
                    let at = child(node, id)?;
                    pointed[at] = true;
                    next[slot] = position(at)?;
                }
            }
            nodes.push(Node {
                threshold: node.threshold,
                feature,
                mode: node.mode,
                missing_tracks_true: node.missing_tracks_true,
                next,
            });
        }
        // Exactly one root (a node no other node points to) per tree.
        let mut candidates: Vec<(usize, usize)> = vec![(0, 0); tree_order.len()];
        for (at, node) in spec.nodes.iter().enumerate() {
            if !pointed[at]
                && let Some(entry) = tree_of.get(&node.tree).and_then(|&t| candidates.get_mut(t))
            {
                if entry.0 == 0 {
                    entry.1 = at;
                }
                entry.0 += 1;
            }
        }
        let mut roots = Vec::with_capacity(tree_order.len());
        for (tree, &(count, root)) in tree_order.iter().zip(&candidates) {
            if count != 1 {
                return Err(TreeError::Roots {
                    tree: *tree,
                    roots: count,
                });
            }
            roots.push(position(root)?);
        }
        if let Some((at, child)) = find_cycle(&nodes) {
            return Err(TreeError::Cycle {
                tree: spec.nodes[at].tree,
                node: spec.nodes[at].id,
                child: spec.nodes[child].id,
            });
        }
        // Group the weights by leaf, keeping their declared order per leaf.
        let mut per_leaf: Vec<Vec<(u32, f64)>> = vec![Vec::new(); nodes.len()];
        for weight in &spec.weights {
            let at = index.get(&(weight.tree, weight.node)).copied().ok_or(
                TreeError::WeightOutOfRange {
                    tree: weight.tree,
                    node: weight.node,
                },
            )?;
            if nodes[at].mode != NodeMode::Leaf {
                return Err(TreeError::WeightNotOnLeaf {
                    tree: weight.tree,
                    node: weight.node,
                });
            }
            let target = usize::try_from(weight.target)
                .ok()
                .filter(|&t| t < spec.n_targets)
                .ok_or(TreeError::Target {
                    target: weight.target,
                    targets: spec.n_targets,
                })?;
            per_leaf[at].push((target as u32, weight.weight));
        }
        let mut weights = Vec::with_capacity(spec.weights.len());
        for (node, leaf_weights) in nodes.iter_mut().zip(per_leaf) {
            if node.mode == NodeMode::Leaf {
                // Both fit: the weight count was checked against u32 above.
                let start = u32::try_from(weights.len()).unwrap_or(u32::MAX);
                weights.extend(leaf_weights);
                node.next = [start, u32::try_from(weights.len()).unwrap_or(u32::MAX)];
            }
        }
        let first_class = spec.weights.first().map(|w| w.target);
        Ok(Self {
            single_weight_class: spec.weights.iter().all(|w| Some(w.target) == first_class),
            weights_all_positive: spec.weights.iter().all(|w| w.weight >= 0.0),
            nodes,
            roots,
            weights,
            n_targets: spec.n_targets,
            aggregate: spec.aggregate,
            base_values: spec.base_values,
            post_transform: spec.post_transform,
            features_needed,
        })
    }

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// How many features per row the ensemble reads.
    pub fn features_needed(&self) -> u64 {
        self.features_needed
    }

    fn check_features(&self, features: usize) -> Result<(), TreeError> {
        if (features as u64) < self.features_needed {
            return Err(TreeError::Features {
                needed: self.features_needed - 1,
                given: features,
            });
        }
        Ok(())
    }

    /// Room for `rows` rows of scores, refused rather than overflowing.
    fn scores_len(&self, rows: usize) -> Result<usize, TreeError> {
        rows.checked_mul(self.n_targets).ok_or(TreeError::Output {
            rows,
            targets: self.n_targets,
        })
    }

    /// The leaf `row` reaches in the tree rooted at `root`.
    #[inline]
    fn leaf(&self, root: u32, row: &[f64]) -> &Node {
        let mut node = &self.nodes[root as usize];
        loop {
            let x = row[node.feature as usize];
            let t = node.threshold;
            let go_true = match node.mode {
                NodeMode::Leq => x <= t,
                NodeMode::Lt => x < t,
                NodeMode::Gte => x >= t,
                NodeMode::Gt => x > t,
                NodeMode::Eq => x == t,
                NodeMode::Neq => x != t,
                NodeMode::Leaf => return node,
            } || (node.missing_tracks_true && x.is_nan());
            node = &self.nodes[node.next[usize::from(!go_true)] as usize];
        }
    }

    /// Aggregated leaf weights of every tree for one row, before base values.
    fn accumulate(&self, row: &[f64], scores: &mut [Score]) {
        scores.iter_mut().for_each(|s| *s = Score::default());
        for &root in &self.roots {
            let leaf = self.leaf(root, row);
            let [start, end] = leaf.next;
            for &(target, weight) in &self.weights[start as usize..end as usize] {
                let score = &mut scores[target as usize];
                score.value = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => score.value + weight,
                    Aggregate::Min if score.has => score.value.min(weight),
                    Aggregate::Max if score.has => score.value.max(weight),
                    Aggregate::Min | Aggregate::Max => weight,
                };
                score.has = true;
            }
        }
        if self.aggregate == Aggregate::Average {
            let trees = self.roots.len() as f64;
            scores.iter_mut().for_each(|s| s.value /= trees);
        }
    }

    /// TreeEnsembleRegressor: `rows` is row-major with `features` columns;
    /// returns `n_targets` scores per row.
    pub fn regress(&self, rows: &[f64], features: usize) -> Result<Vec<f32>, TreeError> {
        self.check_features(features)?;
        let n_rows = rows.len().checked_div(features).unwrap_or(0);
        let mut out = Vec::with_capacity(self.scores_len(n_rows)?);
        let mut scores = vec![Score::default(); self.n_targets];
        for row in rows.chunks_exact(features.max(1)).take(n_rows) {
            self.accumulate(row, &mut scores);
            if self.n_targets == 1 {
                // onnxruntime's single-target path: one base value, and only
                // PROBIT of the post transforms applies to a lone score.
                let base = if self.base_values.len() == 1 {
                    self.base_values[0]
                } else {
                    0.0
                };
                let value = (scores[0].value + base) as f32;
                out.push(if self.post_transform == PostTransform::Probit {
                    probit(value)
                } else {
                    value
                });
                continue;
            }
            let start = out.len();
            for (target, score) in scores.iter().enumerate() {
                let base = self.base_values.get(target).copied().unwrap_or(0.0);
                out.push((base + score.value) as f32);
            }
            self.post_transform.apply(&mut out[start..]);
        }
        Ok(out)
    }

    /// TreeEnsembleClassifier: the winning class index and `n_targets` scores
    /// per row, following onnxruntime's handling of the binary cases.
    pub fn classify(
        &self,
        rows: &[f64],
        features: usize,
    ) -> Result<(Vec<usize>, Vec<f32>), TreeError> {
        self.check_features(features)?;
        let n_rows = rows.len().checked_div(features).unwrap_or(0);
        let mut labels = Vec::with_capacity(n_rows);
        let mut out = Vec::with_capacity(self.scores_len(n_rows)?);
        let mut scores = vec![Score::default(); self.n_targets];
        for row in rows.chunks_exact(features.max(1)).take(n_rows) {
            self.accumulate(row, &mut scores);
            let start = out.len();
            let label = if self.n_targets == 2 {
                self.finish_binary(&scores, &mut out)
            } else {
                for (score, base) in scores.iter_mut().zip(&self.base_values) {
                    score.value += base;
                    score.has = true;
                }
                let mut best: Option<(usize, f64)> = None;
                for (class, score) in scores.iter().enumerate() {
                    if score.has && best.is_none_or(|(_, value)| score.value > value) {
                        best = Some((class, score.value));
                    }
                }
                out.extend(scores.iter().map(|s| s.value as f32));
                self.post_transform.apply(&mut out[start..]);
                best.map_or(0, |(class, _)| class)
            };
            labels.push(label);
        }
        Ok((labels, out))
    }

    /// Two classes: scores for both, or (gradient boosting, one-class
    /// weights) a single margin that becomes two columns.
    fn finish_binary(&self, scores: &[Score], out: &mut Vec<f32>) -> usize {
        let (mut s0, mut s1) = (scores[0], scores[1]);
        match self.base_values[..] {
            [b0, b1] => {
                s0.value += b0;
                s1.value += b1;
            }
            [b0] => s0.value += b0,
            _ => {}
        }
        let both = s1.has || self.base_values.len() == 2;
        if both {
            let start = out.len();
            out.extend([s0.value as f32, s1.value as f32]);
            self.post_transform.apply(&mut out[start..]);
            return usize::from(s1.value > s0.value);
        }
        let margin = s0.value as f32;
        if self.post_transform == PostTransform::Probit {
            out.extend([probit(margin), 0.0]);
            return usize::from(margin > 0.0);
        }
        let positive = if self.single_weight_class && self.weights_all_positive {
            margin > 0.5
        } else {
            margin > 0.0
        };
        if self.single_weight_class && self.weights_all_positive {
            out.extend([1.0 - margin, margin]);
        } else if self.post_transform == PostTransform::Logistic {
            out.extend([logistic(-margin), logistic(margin)]);
        } else if positive || !self.single_weight_class {
            out.extend([-margin, margin]);
        } else {
            out.extend([margin, -margin]);
        }
        usize::from(positive)
    }
}

/// A node reachable from itself, as (the node, its child on the cycle).
///
/// Depth-first search with white/grey/black colouring on an explicit stack:
/// each node turns grey when entered and black when both children are done,
/// so each node is entered once and each edge followed once (linear time,
/// no recursion for a hostile depth to overflow). A child met again while
/// black is a shared subtree, which is fine; a grey child is on the current
/// path, so following it would come back: a cycle. Runs before leaves'
/// `next` become weight ranges.
fn find_cycle(nodes: &[Node]) -> Option<(usize, usize)> {
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut colour = vec![WHITE; nodes.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..nodes.len() {
        if colour[start] != WHITE {
            continue;
        }
        colour[start] = GREY;
        stack.push((start, 0));
        while let Some(top) = stack.last_mut() {
            let (at, slot) = *top;
            if nodes[at].mode == NodeMode::Leaf || slot == 2 {
                colour[at] = BLACK;
                stack.pop();
                continue;
            }
            top.1 += 1;
            let child = nodes[at].next[slot] as usize;
            match colour[child] {
                WHITE => {
                    colour[child] = GREY;
                    stack.push((child, 0));
                }
                GREY => return Some((at, child)),
                _ => {}
            }
        }
    }
    None
}

/// 1 / (1 + e^-x), computed on |x| so that large margins do not overflow.
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's probit: √2 · erfinv(2x − 1) with the same closed-form
/// approximation of erfinv, so that outputs agree with the exporter's checks.
pub fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(x * 2.0 - 1.0)
}

fn erf_inv(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sign * v3.sqrt()
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// Softmax over the non-zero scores; zeros stay zero.
fn softmax_zero(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        if s.abs() > 1e-7 {
            *s = (*s - max).exp();
            sum += *s;
        } else {
            *s = 0.0;
        }
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|s| *s /= sum);
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn branch(tree: i64, id: i64, feature: i64, threshold: f64, t: i64, f: i64) -> NodeSpec {
        NodeSpec {
            tree,
            id,
            feature,
            mode: NodeMode::Leq,
            threshold,
            true_id: t,
            false_id: f,
            missing_tracks_true: false,
        }
    }

    fn leaf(tree: i64, id: i64) -> NodeSpec {
        NodeSpec {
            mode: NodeMode::Leaf,
            ..branch(tree, id, 0, 0.0, 0, 0)
        }
    }

    fn weight(tree: i64, node: i64, target: i64, weight: f64) -> WeightSpec {
        WeightSpec {
            tree,
            node,
            target,
            weight,
        }
    }

    /// Two stumps: tree 0 splits feature 0 at 1.0 (leaves 1.0 / 3.0), tree 1
    /// splits feature 1 at 0.0 (leaves 10.0 / 20.0).
    fn stumps(aggregate: Aggregate) -> EnsembleSpec {
        EnsembleSpec {
            nodes: vec![
                branch(0, 0, 0, 1.0, 1, 2),
                leaf(0, 1),
                leaf(0, 2),
                branch(1, 0, 1, 0.0, 1, 2),
                leaf(1, 1),
                leaf(1, 2),
            ],
            weights: vec![
                weight(0, 1, 0, 1.0),
                weight(0, 2, 0, 3.0),
                weight(1, 1, 0, 10.0),
                weight(1, 2, 0, 20.0),
            ],
            n_targets: 1,
            aggregate,
            base_values: vec![],
            post_transform: PostTransform::None,
        }
    }

    #[test]
    fn every_aggregate_function() {
        let rows = [0.5, -1.0, 2.0, 1.0];
        let cases = [
            (Aggregate::Sum, [11.0, 23.0]),
            (Aggregate::Average, [5.5, 11.5]),
            (Aggregate::Min, [1.0, 3.0]),
            (Aggregate::Max, [10.0, 20.0]),
        ];
        for (aggregate, expected) in cases {
            let ensemble = TreeEnsemble::build(stumps(aggregate)).unwrap();
            assert_eq!(
                ensemble.regress(&rows, 2).unwrap(),
                expected,
                "{aggregate:?}"
            );
        }
    }

    #[test]
    fn thresholds_are_inclusive_and_nan_follows_missing_tracks_true() {
        let ensemble = TreeEnsemble::build(stumps(Aggregate::Sum)).unwrap();
        // x == threshold takes the true branch of BRANCH_LEQ.
        assert_eq!(ensemble.regress(&[1.0, 0.0], 2).unwrap(), [11.0]);
        // NaN compares false: the false branch, unless missing tracks true.
        assert_eq!(ensemble.regress(&[f64::NAN, 0.0], 2).unwrap(), [13.0]);
        let mut spec = stumps(Aggregate::Sum);
        spec.nodes[0].missing_tracks_true = true;
        let ensemble = TreeEnsemble::build(spec).unwrap();
        assert_eq!(ensemble.regress(&[f64::NAN, 0.0], 2).unwrap(), [11.0]);
    }

    #[test]
    fn base_values_and_probit_on_a_single_target() {
        let mut spec = stumps(Aggregate::Sum);
        spec.base_values = vec![0.5];
        let ensemble = TreeEnsemble::build(spec.clone()).unwrap();
        assert_eq!(ensemble.regress(&[0.0, 0.0], 2).unwrap(), [11.5]);
        spec.post_transform = PostTransform::Probit;
        spec.base_values = vec![-10.75];
        let ensemble = TreeEnsemble::build(spec).unwrap();
        // probit(0.25) ≈ -0.674 (the approximation is within 1e-3).
        let got = ensemble.regress(&[0.0, 0.0], 2).unwrap()[0];
        assert!((got + 0.6745).abs() < 2e-3, "{got}");
    }

    #[test]
    fn multi_target_post_transforms() {
        let mut spec = stumps(Aggregate::Sum);
        spec.n_targets = 2;
        spec.weights[2].target = 1;
        spec.weights[3].target = 1;
        spec.post_transform = PostTransform::Softmax;
        let ensemble = TreeEnsemble::build(spec.clone()).unwrap();
        let got = ensemble.regress(&[0.0, 0.0], 2).unwrap();
        let e = (1.0f32 - 10.0).exp();
        assert!((got[0] - e / (1.0 + e)).abs() < 1e-7, "{got:?}");
        assert!((got[0] + got[1] - 1.0).abs() < 1e-6);
        spec.post_transform = PostTransform::Logistic;
        let got = TreeEnsemble::build(spec)
            .unwrap()
            .regress(&[0.0, 0.0], 2)
            .unwrap();
        assert_eq!(got, [logistic(1.0), logistic(10.0)]);
    }

    #[test]
    fn binary_margin_becomes_two_probabilities() {
        // Gradient boosting: one class's weights, a base value, LOGISTIC.
        let mut spec = stumps(Aggregate::Sum);
        spec.n_targets = 2;
        spec.base_values = vec![-12.0];
        spec.weights[2].weight = -10.0;
        spec.post_transform = PostTransform::Logistic;
        let ensemble = TreeEnsemble::build(spec).unwrap();
        let (labels, scores) = ensemble.classify(&[0.0, 0.0, 2.0, 1.0], 2).unwrap();
        // Row 0: 1 - 10 - 12 = -21 → negative; row 1: 3 + 20 - 12 = 11.
        assert_eq!(labels, [0, 1]);
        assert_eq!(
            scores,
            [
                logistic(21.0),
                logistic(-21.0),
                logistic(-11.0),
                logistic(11.0)
            ]
        );
    }

    #[test]
    fn multiclass_label_is_the_first_best_class() {
        let spec = EnsembleSpec {
            nodes: vec![leaf(0, 0)],
            weights: vec![weight(0, 0, 1, 0.5), weight(0, 0, 2, 0.5)],
            n_targets: 3,
            aggregate: Aggregate::Sum,
            base_values: vec![],
            post_transform: PostTransform::None,
        };
        let (labels, scores) = TreeEnsemble::build(spec)
            .unwrap()
            .classify(&[7.0], 1)
            .unwrap();
        assert_eq!(labels, [1]);
        assert_eq!(scores, [0.0, 0.5, 0.5]);
    }

    /// The shape of `tests/data/hostile/tree-shared-child.onnx`: node 0
    /// (x == 1) → leaf 1 or node 2; node 2 (x == 2) → the same leaf 1 or
    /// leaf 3. Leaf 1 has two parents.
    fn shared_leaf() -> EnsembleSpec {
        let eq = |id, threshold, t, f| NodeSpec {
            mode: NodeMode::Eq,
            ..branch(0, id, 0, threshold, t, f)
        };
        EnsembleSpec {
            nodes: vec![eq(0, 1.0, 1, 2), leaf(0, 1), eq(2, 2.0, 1, 3), leaf(0, 3)],
            weights: vec![weight(0, 1, 0, 10.0), weight(0, 3, 0, 20.0)],
            n_targets: 1,
            aggregate: Aggregate::Sum,
            base_values: vec![],
            post_transform: PostTransform::None,
        }
    }

    #[test]
    fn a_shared_child_is_a_dag_not_a_cycle() {
        let ensemble = TreeEnsemble::build(shared_leaf()).unwrap();
        let rows = [0.0, 1.0, 0.5, 2.0, 3.0, f64::NAN];
        assert_eq!(
            ensemble.regress(&rows, 1).unwrap(),
            [20.0, 10.0, 20.0, 10.0, 20.0, 20.0]
        );
    }

    #[test]
    fn cycles_are_refused_as_cycles() {
        // A node that is its own child.
        let mut own = stumps(Aggregate::Sum);
        own.nodes[0].true_id = 0;
        let err = TreeEnsemble::build(own).unwrap_err();
        assert_eq!(
            err,
            TreeError::Cycle {
                tree: 0,
                node: 0,
                child: 0
            }
        );
        assert_eq!(
            err.to_string(),
            "tree 0 has a cycle: node 0 leads back to node 0"
        );
        // A longer loop below a shared child: 0 → 2 → 4 → 2.
        let mut spec = shared_leaf();
        spec.nodes[3] = branch(0, 3, 0, 0.0, 1, 1);
        spec.nodes[2].false_id = 4;
        spec.nodes.push(branch(0, 4, 0, 0.0, 2, 3));
        assert!(matches!(
            TreeEnsemble::build(spec),
            Err(TreeError::Cycle { child: 2, .. })
        ));
        // A loop the root does not reach: 1 ↔ 2 beside a one-leaf tree 0.
        let mut unreachable = stumps(Aggregate::Sum);
        unreachable.nodes[0] = leaf(0, 0);
        unreachable.nodes[1] = branch(0, 1, 0, 0.0, 2, 2);
        unreachable.nodes[2] = branch(0, 2, 0, 0.0, 1, 1);
        assert_eq!(
            TreeEnsemble::build(unreachable).unwrap_err(),
            TreeError::Cycle {
                tree: 0,
                node: 2,
                child: 1
            }
        );
    }

    #[test]
    fn indices_out_of_range_say_so() {
        let mut dangling = stumps(Aggregate::Sum);
        dangling.nodes[3].false_id = 9;
        let err = TreeEnsemble::build(dangling).unwrap_err();
        assert_eq!(
            err,
            TreeError::MissingChild {
                tree: 1,
                node: 0,
                child: 9
            }
        );
        assert!(err.to_string().contains("out of range"), "{err}");
        assert!(!err.to_string().contains("cycle"), "{err}");
        let mut negative = stumps(Aggregate::Sum);
        negative.nodes[0].true_id = -1;
        assert!(matches!(
            TreeEnsemble::build(negative),
            Err(TreeError::MissingChild { child: -1, .. })
        ));
        let mut off_leaf = stumps(Aggregate::Sum);
        off_leaf.weights[0].node = 0;
        assert!(matches!(
            TreeEnsemble::build(off_leaf),
            Err(TreeError::WeightNotOnLeaf { .. })
        ));
        let mut nowhere = stumps(Aggregate::Sum);
        nowhere.weights[0].node = 7;
        let err = TreeEnsemble::build(nowhere).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let mut target = stumps(Aggregate::Sum);
        target.weights[0].target = 1;
        let err = TreeEnsemble::build(target).unwrap_err();
        assert!(matches!(err, TreeError::Target { .. }));
        assert!(err.to_string().contains("out of range"), "{err}");
        let mut feature = stumps(Aggregate::Sum);
        feature.nodes[0].feature = -3;
        let err = TreeEnsemble::build(feature).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        for n in [0, -1, (MAX_TARGETS as i64) + 1, 1 << 32] {
            let err = target_count(n).unwrap_err();
            assert!(err.to_string().contains("out of range"), "{n}: {err}");
        }
        assert_eq!(target_count(3), Ok(3));
    }

    #[test]
    fn a_leafs_feature_id_is_ignored_not_read() {
        let mut spec = stumps(Aggregate::Sum);
        spec.nodes[1].feature = 1_000_000;
        let ensemble = TreeEnsemble::build(spec).unwrap();
        assert_eq!(ensemble.features_needed(), 2);
        assert_eq!(ensemble.regress(&[0.0, 0.0], 2).unwrap(), [11.0]);
    }

    #[test]
    fn hostile_shapes_build_in_linear_time_without_recursion() {
        // A chain 200 000 branches deep: no recursion to overflow.
        let depth = 200_000;
        let mut nodes: Vec<NodeSpec> = (0..depth)
            .map(|i| branch(0, i, 0, 0.0, i + 1, depth))
            .collect();
        nodes.push(leaf(0, depth));
        let chain = EnsembleSpec {
            weights: vec![weight(0, depth, 0, 1.0)],
            ..stumps(Aggregate::Sum)
        };
        let chain = EnsembleSpec { nodes, ..chain };
        let ensemble = TreeEnsemble::build(chain).unwrap();
        assert_eq!(ensemble.regress(&[1.0], 1).unwrap(), [1.0]);
        // The same chain closed into a loop at the bottom.
        let mut looped: Vec<NodeSpec> = (0..depth)
            .map(|i| branch(0, i, 0, 0.0, i + 1, i + 1))
            .collect();
        looped.push(branch(0, depth, 0, 0.0, 1, 1));
        let looped = EnsembleSpec {
            nodes: looped,
            weights: vec![],
            ..stumps(Aggregate::Sum)
        };
        assert!(matches!(
            TreeEnsemble::build(looped),
            Err(TreeError::Cycle { child: 1, .. })
        ));
        // 200 000 one-leaf trees.
        let trees = EnsembleSpec {
            nodes: (0..depth).map(|t| leaf(t, 0)).collect(),
            weights: (0..depth).map(|t| weight(t, 0, 0, 1.0)).collect(),
            ..stumps(Aggregate::Sum)
        };
        let ensemble = TreeEnsemble::build(trees).unwrap();
        assert_eq!(ensemble.regress(&[0.0], 1).unwrap(), [depth as f32]);
    }

    #[test]
    fn too_few_features_is_an_error_not_a_panic() {
        let ensemble = TreeEnsemble::build(stumps(Aggregate::Sum)).unwrap();
        assert_eq!(
            ensemble.regress(&[1.0, 2.0, 3.0], 1).unwrap_err(),
            TreeError::Features {
                needed: 1,
                given: 1
            }
        );
    }

    #[test]
    fn softmax_zero_keeps_zeros() {
        let mut scores = [0.0, 1.0, 1.0];
        softmax_zero(&mut scores);
        assert_eq!(scores, [0.0, 0.5, 0.5]);
    }
}
