//! Ground truth: how right a classifier is, from outcomes (what actually
//! happened) paired with what it predicted.
//!
//! Outcomes arrive two ways and meet in one [`OutcomeWindow`]: labels for
//! predictions the Worker made (each [`LabelledOutcome`] observed once), and
//! windows devices aggregate themselves — confusion counts, per-class score
//! histograms over fixed bins, calibration bins, value totals, never raw
//! inputs. Windows merge by adding counts, so late and partial reports
//! combine in any order.
//!
//! [`QualityReport::of`] computes, from one window:
//! - accuracy, and per class precision, recall, F1 and support, with their
//!   macro averages: exactly `sklearn.metrics.precision_recall_fscore_support`
//!   (`labels` = the classes seen as actual or predicted, `zero_division=0`)
//!   and `accuracy_score`, since all of them are functions of the confusion
//!   counts;
//! - ROC AUC per class (one against the rest) and its macro average, from
//!   the score histograms: pairs in different bins are ordered as the exact
//!   AUC orders them, and pairs in the same bin count one half, so the
//!   binned value differs from `sklearn.metrics.roc_auc_score` by at most
//!   [`ClassQuality::roc_auc_error`] = ½·Σ_b P_b·N_b / (P·N) — computed from
//!   the histogram itself and reported beside each AUC;
//! - the expected calibration error over [`CALIBRATION_BINS`] equal-width
//!   bins of the top score (Guo et al., "On Calibration of Modern Neural
//!   Networks", ICML 2017, eq. 3), exact for that binning because each bin
//!   keeps the sum of its confidences;
//! - confidence: the mean top score and mean entropy (exact sums), quantiles
//!   of the top score (the upper edge of the [`SCORE_BINS`] bin holding the
//!   quantile) and the share of outcomes whose top score is below a
//!   threshold (exact for thresholds on the 1/[`SCORE_BINS`] grid; others
//!   are rounded down to it);
//! - the positive rate and the reported business value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Equal-width bins of a score in [0, 1] (score histograms and the
/// confidence histogram): bin `b` holds `[b/100, (b+1)/100)`, the last also 1.
pub const SCORE_BINS: usize = 100;
/// Equal-width bins of the top score for the expected calibration error.
pub const CALIBRATION_BINS: usize = 10;
/// Most classes one window may name (a bound on what a client can make the
/// registry store and compute).
pub const MAX_CLASSES: usize = 64;
/// Longest class label, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;

/// Why an outcome or a window was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutcomeError {
    #[error("score {score} for class {class:?} is not a number in [0, 1]")]
    Score { class: String, score: f64 },
    #[error("business value {0} is not a finite number")]
    Value(f64),
    #[error("class label {0:?} is empty or longer than {MAX_LABEL_BYTES} bytes")]
    Label(String),
    #[error("more than {MAX_CLASSES} classes")]
    TooManyClasses,
    #[error("{what} has {got} bins; it must have {want}")]
    Bins {
        what: String,
        got: usize,
        want: usize,
    },
    #[error("{0}")]
    Inconsistent(String),
}

/// One prediction with its outcome. `scores` are the model's probabilities
/// per class (absent for models without them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabelledOutcome {
    pub actual: String,
    pub predicted: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<BTreeMap<String, f64>>,
    /// Business value of this outcome (e.g. money saved), if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Scores given to one class, split by whether the class was the actual one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScoreHistogram {
    /// [`SCORE_BINS`] counts of outcomes whose actual class is this one.
    pub positive: Vec<u64>,
    /// [`SCORE_BINS`] counts of the others.
    pub negative: Vec<u64>,
}

impl Default for ScoreHistogram {
    fn default() -> Self {
        ScoreHistogram {
            positive: vec![0; SCORE_BINS],
            negative: vec![0; SCORE_BINS],
        }
    }
}

/// One calibration bin of the top score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalibrationBin {
    pub count: u64,
    /// Σ top score of the outcomes in this bin.
    pub confidence_sum: f64,
    /// How many of them were predicted right.
    pub correct: u64,
}

/// Confidence of scored outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfidenceBins {
    /// [`SCORE_BINS`] counts of the top score.
    pub top: Vec<u64>,
    /// [`CALIBRATION_BINS`] bins of the top score.
    pub calibration: Vec<CalibrationBin>,
    /// Σ Shannon entropy (nats) of the normalised scores.
    pub entropy_sum: f64,
}

impl Default for ConfidenceBins {
    fn default() -> Self {
        ConfidenceBins {
            top: vec![0; SCORE_BINS],
            calibration: vec![CalibrationBin::default(); CALIBRATION_BINS],
            entropy_sum: 0.0,
        }
    }
}

/// Reported business value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ValueTotals {
    pub sum: f64,
    pub count: u64,
}

/// Outcomes aggregated over a window: what devices report, and what the
/// registry builds from labelled Worker predictions. Merges associatively.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OutcomeWindow {
    /// `confusion[actual][predicted]` = outcomes.
    #[serde(default)]
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per class, the scores the model gave it.
    #[serde(default)]
    pub scores: BTreeMap<String, ScoreHistogram>,
    /// Top-score bins of the outcomes that carried scores.
    #[serde(default)]
    pub confidence: ConfidenceBins,
    #[serde(default)]
    pub value: ValueTotals,
}

/// The bin of a score in [0, 1] among `bins` equal-width bins.
fn bin(score: f64, bins: usize) -> usize {
    // In range by the callers' checks; 1.0 goes to the last bin.
    ((score * bins as f64) as usize).min(bins - 1)
}

fn check_label(label: &str) -> Result<(), OutcomeError> {
    if label.is_empty() || label.len() > MAX_LABEL_BYTES {
        return Err(OutcomeError::Label(label.to_owned()));
    }
    Ok(())
}

impl OutcomeWindow {
    /// Adds one outcome.
    ///
    /// Errors: a score outside [0, 1] or NaN, a non-finite value, an empty
    /// or too long label, more than [`MAX_CLASSES`] classes. Nothing is
    /// added on an error.
    pub fn observe(&mut self, outcome: &LabelledOutcome) -> Result<(), OutcomeError> {
        check_label(&outcome.actual)?;
        check_label(&outcome.predicted)?;
        if let Some(value) = outcome.value
            && !value.is_finite()
        {
            return Err(OutcomeError::Value(value));
        }
        if let Some(scores) = &outcome.scores {
            for (class, &score) in scores {
                check_label(class)?;
                if !(0.0..=1.0).contains(&score) {
                    return Err(OutcomeError::Score {
                        class: class.clone(),
                        score,
                    });
                }
            }
        }
        let mut classes: std::collections::BTreeSet<&str> = self.classes().collect();
        classes.insert(&outcome.actual);
        classes.insert(&outcome.predicted);
        if let Some(scores) = &outcome.scores {
            classes.extend(scores.keys().map(String::as_str));
        }
        if classes.len() > MAX_CLASSES {
            return Err(OutcomeError::TooManyClasses);
        }

        *self
            .confusion
            .entry(outcome.actual.clone())
            .or_default()
            .entry(outcome.predicted.clone())
            .or_default() += 1;
        if let Some(value) = outcome.value {
            self.value.sum += value;
            self.value.count += 1;
        }
        let Some(scores) = outcome.scores.as_ref().filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        for (class, &score) in scores {
            let histogram = self.scores.entry(class.clone()).or_default();
            let side = if *class == outcome.actual {
                &mut histogram.positive
            } else {
                &mut histogram.negative
            };
            side[bin(score, SCORE_BINS)] += 1;
        }
        let top = scores.values().copied().fold(0.0_f64, f64::max);
        self.confidence.top[bin(top, SCORE_BINS)] += 1;
        let calibration = &mut self.confidence.calibration[bin(top, CALIBRATION_BINS)];
        calibration.count += 1;
        calibration.confidence_sum += top;
        calibration.correct += u64::from(outcome.actual == outcome.predicted);
        self.confidence.entropy_sum += entropy(scores.values().copied());
        Ok(())
    }

    /// Adds the outcomes of a batch a device predicted itself: row `i`
    /// predicted `predicted[i]` (from [`read_classifier_outputs`]) and turned
    /// out to be `actual[i]`, worth `values[i]` when given. All rows or
    /// none: the lengths must agree and every row must be valid
    /// ([`OutcomeWindow::observe`]'s errors, naming the row).
    pub fn observe_batch(
        &mut self,
        predicted: &[Predicted],
        actual: &[String],
        values: Option<&[f64]>,
    ) -> Result<(), OutcomeError> {
        if predicted.len() != actual.len() || values.is_some_and(|v| v.len() != actual.len()) {
            return Err(OutcomeError::Inconsistent(format!(
                "{} predictions, {} actual labels{}: give one of each per row",
                predicted.len(),
                actual.len(),
                values.map_or(String::new(), |v| format!(", {} values", v.len()))
            )));
        }
        let mut next = self.clone();
        for (row, (prediction, actual)) in predicted.iter().zip(actual).enumerate() {
            next.observe(&LabelledOutcome {
                actual: actual.clone(),
                predicted: prediction.label.clone(),
                scores: prediction.scores.clone(),
                value: values.map(|v| v[row]),
            })
            .map_err(|e| OutcomeError::Inconsistent(format!("row {row}: {e}")))?;
        }
        *self = next;
        Ok(())
    }

    /// Adds another window's counts to this one.
    pub fn merge(&mut self, other: &OutcomeWindow) {
        for (actual, row) in &other.confusion {
            let mine = self.confusion.entry(actual.clone()).or_default();
            for (predicted, n) in row {
                *mine.entry(predicted.clone()).or_default() += n;
            }
        }
        for (class, histogram) in &other.scores {
            let mine = self.scores.entry(class.clone()).or_default();
            add(&mut mine.positive, &histogram.positive);
            add(&mut mine.negative, &histogram.negative);
        }
        add(&mut self.confidence.top, &other.confidence.top);
        for (mine, theirs) in self
            .confidence
            .calibration
            .iter_mut()
            .zip(&other.confidence.calibration)
        {
            mine.count += theirs.count;
            mine.confidence_sum += theirs.confidence_sum;
            mine.correct += theirs.correct;
        }
        self.confidence.entropy_sum += other.confidence.entropy_sum;
        self.value.sum += other.value.sum;
        self.value.count += other.value.count;
    }

    /// Checks a window a client sent: bin counts, bounds, consistency.
    pub fn validate(&self) -> Result<(), OutcomeError> {
        let bins = |what: &str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(OutcomeError::Bins {
                    what: what.to_owned(),
                    got,
                    want,
                })
            }
        };
        bins("confidence.top", self.confidence.top.len(), SCORE_BINS)?;
        bins(
            "confidence.calibration",
            self.confidence.calibration.len(),
            CALIBRATION_BINS,
        )?;
        for (class, histogram) in &self.scores {
            bins(
                &format!("scores[{class:?}].positive"),
                histogram.positive.len(),
                SCORE_BINS,
            )?;
            bins(
                &format!("scores[{class:?}].negative"),
                histogram.negative.len(),
                SCORE_BINS,
            )?;
        }
        if self.classes().count() > MAX_CLASSES {
            return Err(OutcomeError::TooManyClasses);
        }
        for class in self.classes() {
            check_label(class)?;
        }
        let sums_ok = self.value.sum.is_finite()
            && std::iter::once(self.confidence.entropy_sum)
                .chain(self.confidence.calibration.iter().map(|b| b.confidence_sum))
                .all(|x| x.is_finite() && x >= 0.0);
        if !sums_ok {
            return Err(OutcomeError::Inconsistent(
                "sums must be finite (and, but for the value, not negative)".into(),
            ));
        }
        let scored: u64 = self.confidence.top.iter().sum();
        let calibrated: u64 = self.confidence.calibration.iter().map(|b| b.count).sum();
        if scored != calibrated {
            return Err(OutcomeError::Inconsistent(format!(
                "confidence.top counts {scored} outcomes but confidence.calibration {calibrated}"
            )));
        }
        for (i, b) in self.confidence.calibration.iter().enumerate() {
            if b.correct > b.count {
                return Err(OutcomeError::Inconsistent(format!(
                    "calibration bin {i} has more correct outcomes than outcomes"
                )));
            }
        }
        if scored > self.outcomes() {
            return Err(OutcomeError::Inconsistent(format!(
                "{scored} scored outcomes but only {} outcomes",
                self.outcomes()
            )));
        }
        Ok(())
    }

    /// Every class named as actual, predicted or scored.
    pub fn classes(&self) -> impl Iterator<Item = &str> {
        let mut all: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for (actual, row) in &self.confusion {
            all.insert(actual);
            all.extend(row.keys().map(String::as_str));
        }
        all.extend(self.scores.keys().map(String::as_str));
        all.into_iter()
    }

    /// Outcomes counted.
    pub fn outcomes(&self) -> u64 {
        self.confusion.values().flat_map(|row| row.values()).sum()
    }
}

fn add(mine: &mut [u64], theirs: &[u64]) {
    for (m, t) in mine.iter_mut().zip(theirs) {
        *m += t;
    }
}

/// Shannon entropy (nats) of scores normalised to sum to one.
fn entropy(scores: impl Iterator<Item = f64> + Clone) -> f64 {
    let total: f64 = scores.clone().sum();
    if total <= 0.0 {
        return 0.0;
    }
    scores
        .filter(|&p| p > 0.0)
        .map(|p| {
            let q = p / total;
            -q * q.ln()
        })
        .sum()
}

/// One class's quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClassQuality {
    pub class: String,
    /// Outcomes whose actual class this is.
    pub support: u64,
    /// Outcomes predicted as this class.
    pub predicted: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// One against the rest, from the score histograms; absent without
    /// scores for this class or without both positives and negatives.
    pub roc_auc: Option<f64>,
    /// Largest possible |binned AUC − exact AUC| (see the module docs).
    pub roc_auc_error: Option<f64>,
}

/// Unweighted means over the classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MacroAverage {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Over the classes that have an AUC.
    pub roc_auc: Option<f64>,
}

/// Confidence of the scored outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Confidence {
    pub scored: u64,
    pub mean_top_score: f64,
    /// Upper edges of the bins holding the 10th, 50th and 90th percentile
    /// of the top score.
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    /// The threshold asked for, on the 1/[`SCORE_BINS`] grid.
    pub low_threshold: f64,
    /// Share of scored outcomes whose top score is below `low_threshold`.
    pub low_rate: f64,
    /// Mean Shannon entropy of the scores, in nats.
    pub mean_entropy: f64,
}

/// Quality of one window of outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QualityReport {
    /// Labelled outcomes counted.
    pub outcomes: u64,
    pub accuracy: Option<f64>,
    /// Sorted by class label.
    pub classes: Vec<ClassQuality>,
    pub macro_avg: Option<MacroAverage>,
    /// The class whose metrics stand for the model's (scikit-learn's
    /// binary `pos_label`), when one applies.
    pub positive_class: Option<String>,
    /// Share of outcomes predicted as the positive class.
    pub positive_rate: Option<f64>,
    /// Expected calibration error over [`CALIBRATION_BINS`] bins.
    pub calibration_error: Option<f64>,
    pub confidence: Option<Confidence>,
    pub value_sum: Option<f64>,
    pub value_count: u64,
}

/// The default positive class: `1` or `true` when the window has it.
pub fn default_positive(window: &OutcomeWindow) -> Option<String> {
    ["1", "true"]
        .into_iter()
        .find(|c| window.classes().any(|x| x == *c))
        .map(str::to_owned)
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        // scikit-learn's zero_division=0.
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Binned one-against-the-rest AUC and its error bound.
fn binned_auc(histogram: &ScoreHistogram) -> Option<(f64, f64)> {
    let p: u64 = histogram.positive.iter().sum();
    let n: u64 = histogram.negative.iter().sum();
    if p == 0 || n == 0 {
        return None;
    }
    let (mut below, mut wins, mut ties) = (0u128, 0u128, 0u128);
    for (pos, neg) in histogram.positive.iter().zip(&histogram.negative) {
        wins += u128::from(*pos) * below;
        ties += u128::from(*pos) * u128::from(*neg);
        below += u128::from(*neg);
    }
    let pairs = (u128::from(p) * u128::from(n)) as f64;
    Some((
        (wins as f64 + ties as f64 / 2.0) / pairs,
        ties as f64 / 2.0 / pairs,
    ))
}

impl QualityReport {
    /// Quality of `window`, with `positive` as the positive class (its
    /// default: [`default_positive`]) and `low_threshold` for the
    /// low-confidence rate.
    pub fn of(window: &OutcomeWindow, positive: Option<&str>, low_threshold: f64) -> Self {
        let outcomes = window.outcomes();
        let classes: Vec<&str> = window
            .classes()
            .filter(|c| {
                // Classes only ever scored (never actual or predicted) do not
                // count in scikit-learn's labels.
                window.confusion.contains_key(*c)
                    || window.confusion.values().any(|row| row.contains_key(*c))
            })
            .collect();
        let correct: u64 = window
            .confusion
            .iter()
            .filter_map(|(actual, row)| row.get(actual))
            .sum();
        let per_class: Vec<ClassQuality> = classes
            .iter()
            .map(|&class| {
                let support: u64 = window
                    .confusion
                    .get(class)
                    .map(|row| row.values().sum())
                    .unwrap_or(0);
                let predicted: u64 = window
                    .confusion
                    .values()
                    .filter_map(|row| row.get(class))
                    .sum();
                let hits = window
                    .confusion
                    .get(class)
                    .and_then(|row| row.get(class))
                    .copied()
                    .unwrap_or(0);
                let precision = ratio(hits, predicted);
                let recall = ratio(hits, support);
                // scikit-learn: F1 = 2·tp / (2·tp + fp + fn), 0 when that is 0/0.
                let f1 = ratio(2 * hits, support + predicted);
                let auc = window.scores.get(class).and_then(binned_auc);
                ClassQuality {
                    class: class.to_owned(),
                    support,
                    predicted,
                    precision,
                    recall,
                    f1,
                    roc_auc: auc.map(|a| a.0),
                    roc_auc_error: auc.map(|a| a.1),
                }
            })
            .collect();
        let mean = |f: fn(&ClassQuality) -> f64| {
            per_class.iter().map(f).sum::<f64>() / per_class.len() as f64
        };
        let aucs: Vec<f64> = per_class.iter().filter_map(|c| c.roc_auc).collect();
        let macro_avg = (!per_class.is_empty()).then(|| MacroAverage {
            precision: mean(|c| c.precision),
            recall: mean(|c| c.recall),
            f1: mean(|c| c.f1),
            roc_auc: (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64),
        });
        let positive_class = positive
            .map(str::to_owned)
            .or_else(|| default_positive(window));
        let positive_rate = positive_class.as_ref().map(|class| {
            ratio(
                window
                    .confusion
                    .values()
                    .filter_map(|row| row.get(class))
                    .sum(),
                outcomes,
            )
        });

        let scored: u64 = window.confidence.top.iter().sum();
        let calibration_error = (scored > 0).then(|| {
            window
                .confidence
                .calibration
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| {
                    let accuracy = b.correct as f64 / b.count as f64;
                    let confidence = b.confidence_sum / b.count as f64;
                    b.count as f64 / scored as f64 * (accuracy - confidence).abs()
                })
                .sum()
        });
        let confidence = (scored > 0).then(|| {
            let step = 1.0 / SCORE_BINS as f64;
            let quantile = |q: f64| {
                let rank = (q * scored as f64).ceil().max(1.0) as u64;
                let mut seen = 0;
                for (b, n) in window.confidence.top.iter().enumerate() {
                    seen += n;
                    if seen >= rank {
                        return (b + 1) as f64 * step;
                    }
                }
                1.0
            };
            let edge = (low_threshold.clamp(0.0, 1.0) * SCORE_BINS as f64 + 1e-9).floor() as usize;
            let low: u64 = window.confidence.top[..edge.min(SCORE_BINS)].iter().sum();
            let confidence_sum: f64 = window
                .confidence
                .calibration
                .iter()
                .map(|b| b.confidence_sum)
                .sum();
            Confidence {
                scored,
                mean_top_score: confidence_sum / scored as f64,
                p10: quantile(0.1),
                p50: quantile(0.5),
                p90: quantile(0.9),
                low_threshold: edge as f64 * step,
                low_rate: low as f64 / scored as f64,
                mean_entropy: window.confidence.entropy_sum / scored as f64,
            }
        });
        QualityReport {
            outcomes,
            accuracy: (outcomes > 0).then(|| ratio(correct, outcomes)),
            classes: per_class,
            macro_avg,
            positive_class,
            positive_rate,
            calibration_error,
            confidence,
            value_sum: (window.value.count > 0).then_some(window.value.sum),
            value_count: window.value.count,
        }
    }

    /// The measured value standing for a registered metric's name:
    /// `accuracy`; `precision`, `recall`, `f1` and `auc`/`roc_auc` of the
    /// positive class when there is one, their macro average otherwise.
    pub fn measured(&self, metric: &str) -> Option<f64> {
        let positive = self
            .positive_class
            .as_ref()
            .and_then(|p| self.classes.iter().find(|c| &c.class == p));
        match metric {
            "accuracy" => self.accuracy,
            "precision" => positive
                .map(|c| c.precision)
                .or(self.macro_avg.as_ref().map(|m| m.precision)),
            "recall" => positive
                .map(|c| c.recall)
                .or(self.macro_avg.as_ref().map(|m| m.recall)),
            "f1" => positive
                .map(|c| c.f1)
                .or(self.macro_avg.as_ref().map(|m| m.f1)),
            "auc" | "roc_auc" => match positive {
                Some(c) => c.roc_auc,
                None => self.macro_avg.as_ref().and_then(|m| m.roc_auc),
            },
            _ => None,
        }
    }
}

/// What a classifier predicted for one row: its label, and its
/// probabilities per class when it gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Predicted {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<BTreeMap<String, f64>>,
}

/// A label as text: integral numbers without a fraction (`1`, not `1.0`).
pub fn label_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| format!("{}", f as i64))
            }
        }
        _ => None,
    }
}

/// Reads a classifier's per-row predictions from a model's outputs (the
/// `outputs` of a prediction: arrays by output name): the `label` output
/// (one label per row, or a one-column matrix of them),
/// and the `probabilities` output when its columns can be named — one
/// column per class `0…C−1`, as scikit-learn classifiers converted by
/// skl2onnx with integer classes give them. `None` when the outputs are not
/// a classifier's.
pub fn read_classifier_outputs(outputs: &Value) -> Option<Vec<Predicted>> {
    // One label per row: `[1, 0]`, or a column `[[1], [0]]` as an
    // isolation forest's `label` output has shape [N, 1].
    let labels: Vec<String> = outputs
        .get("label")?
        .as_array()?
        .iter()
        .map(|row| match row.as_array().map(Vec::as_slice) {
            Some([only]) => label_text(only),
            _ => label_text(row),
        })
        .collect::<Option<_>>()?;
    let probabilities = outputs
        .get("probabilities")
        .and_then(Value::as_array)
        .filter(|rows| rows.len() == labels.len());
    let columns = probabilities
        .and_then(|rows| rows.first())
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let integer_classes = columns > 0
        && labels
            .iter()
            .all(|l| l.parse::<usize>().is_ok_and(|i| i < columns));
    let rows = labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| {
            let scores = probabilities
                .filter(|_| integer_classes)
                .and_then(|rows| rows[i].as_array())
                .filter(|row| row.len() == columns)
                .and_then(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(c, p)| Some((c.to_string(), p.as_f64()?.clamp(0.0, 1.0))))
                        .collect::<Option<BTreeMap<_, _>>>()
                });
            Predicted { label, scores }
        })
        .collect();
    Some(rows)
}

/// Predictions a device made, kept by prediction id until their outcome
/// is known, so that an application can give the outcome later (a
/// chargeback days after the payment) by id alone. Only what the classifier
/// predicted is kept — labels and scores, never inputs — and only the
/// newest `capacity` predictions: an outcome for an older one is refused.
/// Each prediction counts once: an outcome given again for the same id is a
/// duplicate and changes nothing (as `POST …/feedback` is idempotent per
/// prediction and row on the registry).
#[derive(Debug, Clone)]
pub struct PredictionLog {
    capacity: usize,
    /// Oldest first: (id, rows predicted, whether their outcome was given).
    kept: std::collections::VecDeque<(String, Vec<Predicted>, bool)>,
}

/// What became of an outcome given by prediction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    /// Counted in the window.
    Counted,
    /// That prediction's outcome was given before; nothing changed.
    Duplicate,
}

impl PredictionLog {
    /// Keeps at most `capacity` predictions (at least one).
    pub fn new(capacity: usize) -> Self {
        PredictionLog {
            capacity: capacity.max(1),
            kept: std::collections::VecDeque::new(),
        }
    }

    /// Keeps `rows` under `id`, dropping the oldest prediction when full.
    pub fn keep(&mut self, id: String, rows: Vec<Predicted>) {
        if self.kept.len() == self.capacity {
            self.kept.pop_front();
        }
        self.kept.push_back((id, rows, false));
    }

    /// How many predictions are kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Gives the outcome of prediction `id` — one actual label per row it
    /// predicted, and optionally a business value per row — into `window`.
    /// All rows or none.
    ///
    /// # Errors
    /// [`OutcomeError::Inconsistent`] for an id not kept (never made here,
    /// or older than the newest `capacity`), or rows that do not match.
    pub fn give(
        &mut self,
        window: &mut OutcomeWindow,
        id: &str,
        actual: &[String],
        values: Option<&[f64]>,
    ) -> Result<Given, OutcomeError> {
        let capacity = self.capacity;
        let (_, rows, given) = self
            .kept
            .iter_mut()
            .rev()
            .find(|(kept, _, _)| kept == id)
            .ok_or_else(|| {
                OutcomeError::Inconsistent(format!(
                    "no prediction `{id}` is kept here: it was not made by this model handle, or it is older than the newest {capacity}"
                ))
            })?;
        if *given {
            return Ok(Given::Duplicate);
        }
        window.observe_batch(rows, actual, values)?;
        *given = true;
        Ok(Given::Counted)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_label_column_reads_like_a_label_list() {
        let column = serde_json::json!({"label": [[1], [-1]], "scores": [[0.2], [-0.1]]});
        let labels: Vec<String> = read_classifier_outputs(&column)
            .unwrap()
            .into_iter()
            .map(|p| p.label)
            .collect();
        assert_eq!(labels, ["1", "-1"]);
        assert!(read_classifier_outputs(&serde_json::json!({"label": [[1, 2]]})).is_none());
    }

    #[test]
    fn a_batch_is_observed_whole_or_not_at_all() {
        let outputs = serde_json::json!({"label": [1, 0, 1], "probabilities": [[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]]});
        let predicted = read_classifier_outputs(&outputs).unwrap();
        let actual: Vec<String> = ["1", "1", "0"].map(String::from).to_vec();
        let mut window = OutcomeWindow::default();
        window
            .observe_batch(&predicted, &actual, Some(&[5.0, -2.0, 0.0]))
            .unwrap();
        assert_eq!(window.outcomes(), 3);
        assert_eq!(window.confusion["1"]["0"], 1);
        assert_eq!((window.value.sum, window.value.count), (3.0, 3));
        let before = window.clone();
        let err = window
            .observe_batch(&predicted, &actual[..2], None)
            .unwrap_err();
        assert!(
            err.to_string().contains("3 predictions, 2 actual labels"),
            "{err}"
        );
        let bad = window
            .observe_batch(&predicted, &actual, Some(&[1.0, f64::NAN, 2.0]))
            .unwrap_err();
        assert!(bad.to_string().starts_with("row 1:"), "{bad}");
        assert_eq!(window, before);
    }

    fn outcome(actual: &str, predicted: &str, p1: Option<f64>) -> LabelledOutcome {
        LabelledOutcome {
            actual: actual.into(),
            predicted: predicted.into(),
            scores: p1.map(|p| BTreeMap::from([("0".into(), 1.0 - p), ("1".into(), p)])),
            value: None,
        }
    }

    #[test]
    fn merging_windows_is_observing_everything_in_one() {
        let all = [
            outcome("1", "1", Some(0.9)),
            outcome("0", "1", Some(0.6)),
            outcome("1", "0", Some(0.3)),
            outcome("0", "0", Some(0.05)),
        ];
        let mut whole = OutcomeWindow::default();
        all.iter().for_each(|o| whole.observe(o).unwrap());
        let (mut a, mut b) = (OutcomeWindow::default(), OutcomeWindow::default());
        all[..1].iter().for_each(|o| a.observe(o).unwrap());
        all[1..].iter().for_each(|o| b.observe(o).unwrap());
        b.merge(&a);
        // Counts merge exactly; sums of floats up to rounding.
        assert_eq!(b.confusion, whole.confusion);
        assert_eq!(b.scores, whole.scores);
        assert_eq!(b.confidence.top, whole.confidence.top);
        let (mut merged, mut direct) = (
            QualityReport::of(&b, None, 0.5),
            QualityReport::of(&whole, None, 0.5),
        );
        let (x, y) = (
            merged.confidence.take().unwrap(),
            direct.confidence.take().unwrap(),
        );
        assert!((x.mean_entropy - y.mean_entropy).abs() < 1e-12);
        assert!((x.mean_top_score - y.mean_top_score).abs() < 1e-12);
        assert_eq!(merged, direct);
        assert_eq!(b.outcomes(), 4);
    }

    #[test]
    fn a_bad_outcome_adds_nothing() {
        let mut window = OutcomeWindow::default();
        let err = window.observe(&outcome("1", "1", Some(1.5))).unwrap_err();
        assert!(matches!(err, OutcomeError::Score { .. }), "{err}");
        assert_eq!(window, OutcomeWindow::default());
        let err = window
            .observe(&LabelledOutcome {
                value: Some(f64::NAN),
                ..outcome("1", "1", None)
            })
            .unwrap_err();
        assert!(matches!(err, OutcomeError::Value(_)), "{err}");
    }

    #[test]
    fn auc_of_separable_bins_is_exact_and_its_bound_zero() {
        let mut window = OutcomeWindow::default();
        for (actual, p) in [("1", 0.95), ("1", 0.85), ("0", 0.2), ("0", 0.1)] {
            window
                .observe(&outcome(actual, if p > 0.5 { "1" } else { "0" }, Some(p)))
                .unwrap();
        }
        let report = QualityReport::of(&window, None, 0.5);
        let one = report.classes.iter().find(|c| c.class == "1").unwrap();
        assert_eq!(one.roc_auc, Some(1.0));
        assert_eq!(one.roc_auc_error, Some(0.0));
        assert_eq!(report.positive_class.as_deref(), Some("1"));
        assert_eq!(report.measured("f1"), Some(1.0));
    }

    #[test]
    fn a_client_window_with_wrong_bins_is_refused() {
        let mut window = OutcomeWindow::default();
        window.observe(&outcome("1", "1", Some(0.7))).unwrap();
        window.confidence.top.pop();
        assert!(matches!(
            window.validate().unwrap_err(),
            OutcomeError::Bins { .. }
        ));
        let mut window = OutcomeWindow::default();
        window.observe(&outcome("1", "1", Some(0.7))).unwrap();
        window.confidence.calibration[7].correct = 5;
        assert!(matches!(
            window.validate().unwrap_err(),
            OutcomeError::Inconsistent(_)
        ));
    }

    #[test]
    fn classifier_outputs_are_read_with_named_columns() {
        let outputs = serde_json::json!({
            "label": [1, 0],
            "probabilities": [[0.2, 0.8], [0.9, 0.1]],
        });
        let rows = read_classifier_outputs(&outputs).unwrap();
        assert_eq!(rows[0].label, "1");
        assert_eq!(rows[0].scores.as_ref().unwrap()["1"], 0.8);
        // An anomaly detector's -1/1 labels with a one-column score: labels only.
        let outputs = serde_json::json!({"label": [-1, 1], "scores": [[-0.1], [0.2]]});
        let rows = read_classifier_outputs(&outputs).unwrap();
        assert_eq!(rows[0].label, "-1");
        assert!(rows[0].scores.is_none());
        assert!(read_classifier_outputs(&serde_json::json!({"variable": [[0.5]]})).is_none());
    }

    #[test]
    fn outcomes_given_by_prediction_id_count_once_and_only_while_kept() {
        let row = |label: &str, one: f64| Predicted {
            label: label.into(),
            scores: Some(BTreeMap::from([
                ("0".to_owned(), 1.0 - one),
                ("1".to_owned(), one),
            ])),
        };
        let mut log = PredictionLog::new(2);
        let mut window = OutcomeWindow::default();
        log.keep("a".into(), vec![row("1", 0.9), row("0", 0.2)]);
        log.keep("b".into(), vec![row("0", 0.4)]);
        let labels = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            log.give(&mut window, "a", &labels(&["1", "1"]), None)
                .unwrap(),
            Given::Counted
        );
        assert_eq!(window.outcomes(), 2);
        assert_eq!(window.confusion["1"]["0"], 1);
        // Again: a duplicate, nothing counted.
        assert_eq!(
            log.give(&mut window, "a", &labels(&["1", "1"]), None)
                .unwrap(),
            Given::Duplicate
        );
        assert_eq!(window.outcomes(), 2);
        // Rows that do not match count nothing, and the id stays open.
        assert!(
            log.give(&mut window, "b", &labels(&["0", "0"]), None)
                .is_err()
        );
        assert_eq!(window.outcomes(), 2);
        // A third prediction pushes out the oldest.
        log.keep("c".into(), vec![row("1", 0.8)]);
        assert_eq!(log.len(), 2);
        let err = log
            .give(&mut window, "a", &labels(&["1", "1"]), None)
            .unwrap_err();
        assert!(err.to_string().contains("older than the newest 2"), "{err}");
        assert_eq!(
            log.give(&mut window, "b", &labels(&["0"]), Some(&[3.5]))
                .unwrap(),
            Given::Counted
        );
        assert_eq!((window.outcomes(), window.value.sum), (3, 3.5));
    }
}
