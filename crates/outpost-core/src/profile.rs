//! Reference profiles: what a version's training data looked like, made once
//! at registration (`outpost push --reference sample.csv`) and stored with
//! the version — per feature its type, quantile bin edges and histogram,
//! summary statistics and a bounded uniform sample. Clients bin their
//! telemetry over the profile's edges; the registry's drift report tests the
//! profile's sample against the telemetry's merged samples with the same
//! statistics as `outpost drift compare`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::drift::{Column, DatasetDrift, DriftError, StatTest, dataset_drift, feature_drift};
use crate::reservoir::Reservoir;
use crate::telemetry::{FeatureSummary, Histogram, MAX_FEATURES};

/// Quantile bins per numeric feature (so at most this many − 1 inner edges).
pub const BINS: usize = 10;
/// Sampled values per feature, and in all (keeps a profile well under D1's
/// row size).
pub const SAMPLE_PER_FEATURE: usize = 1_000;
pub const SAMPLE_VALUES: usize = 30_000;
/// Categories kept per categorical feature (the most frequent); the rest
/// are counted together as `other`.
pub const MAX_CATEGORIES: usize = 100;
const MAX_LABEL: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("a reference profile needs at least one feature")]
    NoFeatures,
    #[error("{0} features; a profile holds at most {MAX_FEATURES}")]
    TooManyFeatures(usize),
    #[error("feature `{0}` has no values")]
    EmptyFeature(String),
    #[error("feature names must be unique; `{0}` appears twice")]
    DuplicateName(String),
    #[error("the profile is not valid: {0}")]
    Invalid(String),
}

/// What is known of one feature's distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureShape {
    Numerical {
        /// Inner quantile edges (deciles, duplicates dropped).
        edges: Vec<f64>,
        histogram: Vec<u64>,
        summary: FeatureSummary,
        median: f64,
        sample: Vec<f64>,
    },
    Categorical {
        categories: BTreeMap<String, u64>,
        other: u64,
        sample: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeatureProfile {
    pub name: String,
    /// Values present, and missing (empty, NaN, NA, null).
    pub count: u64,
    pub missing: u64,
    #[serde(flatten)]
    pub shape: FeatureShape,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReferenceProfile {
    pub rows: u64,
    pub features: Vec<FeatureProfile>,
}

/// numpy's default (linear) quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Indices of a uniform sample of `k` out of `n`, in order (deterministic).
fn sample_indices(n: usize, k: usize) -> Vec<usize> {
    let mut reservoir = Reservoir::new(k);
    for i in 0..n {
        reservoir.record(i as f64);
    }
    let mut picked: Vec<usize> = reservoir.values.iter().map(|&i| i as usize).collect();
    picked.sort_unstable();
    picked
}

impl ReferenceProfile {
    /// Profiles named columns of text cells (a CSV's, or JSON columns'),
    /// each typed as `outpost_core::drift::Column::infer` does.
    pub fn from_columns(columns: &[(String, Vec<String>)]) -> Result<Self, ProfileError> {
        if columns.is_empty() {
            return Err(ProfileError::NoFeatures);
        }
        if columns.len() > MAX_FEATURES {
            return Err(ProfileError::TooManyFeatures(columns.len()));
        }
        let per_feature = SAMPLE_PER_FEATURE.min(SAMPLE_VALUES / columns.len());
        let rows = columns.iter().map(|(_, c)| c.len()).max().unwrap_or(0) as u64;
        let mut seen = std::collections::BTreeSet::new();
        let mut features = Vec::with_capacity(columns.len());
        for (name, cells) in columns {
            if !seen.insert(name.as_str()) {
                return Err(ProfileError::DuplicateName(name.clone()));
            }
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            let column = Column::infer(&refs);
            if column.is_empty() {
                return Err(ProfileError::EmptyFeature(name.clone()));
            }
            let count = column.len() as u64;
            let missing = cells.len() as u64 - count;
            let shape = match column {
                Column::Numbers(values) => numerical(values, per_feature),
                Column::Labels(labels) => categorical(labels, per_feature),
            };
            features.push(FeatureProfile {
                name: name.clone(),
                count,
                missing,
                shape,
            });
        }
        Ok(Self { rows, features })
    }

    /// The bin edges a client records telemetry over, per feature (empty
    /// for categorical ones).
    pub fn edges(&self) -> Vec<Vec<f64>> {
        self.features
            .iter()
            .map(|f| match &f.shape {
                FeatureShape::Numerical { edges, .. } => edges.clone(),
                FeatureShape::Categorical { .. } => Vec::new(),
            })
            .collect()
    }

    /// Checks a profile received from outside: bounded and consistent.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |why: String| Err(ProfileError::Invalid(why));
        if self.features.is_empty() {
            return Err(ProfileError::NoFeatures);
        }
        if self.features.len() > MAX_FEATURES {
            return Err(ProfileError::TooManyFeatures(self.features.len()));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut sampled = 0;
        for f in &self.features {
            if f.name.is_empty() || f.name.len() > MAX_LABEL {
                return invalid(format!(
                    "feature names are 1 to {MAX_LABEL} bytes, got `{}`",
                    f.name
                ));
            }
            if !names.insert(f.name.as_str()) {
                return Err(ProfileError::DuplicateName(f.name.clone()));
            }
            let n = match &f.shape {
                FeatureShape::Numerical {
                    edges,
                    histogram,
                    sample,
                    ..
                } => {
                    if edges.len() >= BINS || histogram.len() != edges.len() + 1 {
                        return invalid(format!(
                            "`{}` needs fewer than {BINS} edges and one more histogram count",
                            f.name
                        ));
                    }
                    if edges.windows(2).any(|w| w[0] >= w[1])
                        || edges.iter().chain(sample).any(|x| !x.is_finite())
                    {
                        return invalid(format!(
                            "`{}` has edges out of order or values that are not finite",
                            f.name
                        ));
                    }
                    sample.len()
                }
                FeatureShape::Categorical {
                    categories, sample, ..
                } => {
                    if categories.len() > MAX_CATEGORIES
                        || categories
                            .keys()
                            .chain(sample)
                            .any(|label| label.len() > MAX_LABEL)
                    {
                        return invalid(format!(
                            "`{}` has over {MAX_CATEGORIES} categories or a label over {MAX_LABEL} bytes",
                            f.name
                        ));
                    }
                    sample.len()
                }
            };
            if n == 0 || n > SAMPLE_PER_FEATURE || n as u64 > f.count {
                return invalid(format!(
                    "`{}` has a sample of {n} values (1 to {SAMPLE_PER_FEATURE}, at most its count {})",
                    f.name, f.count
                ));
            }
            sampled += n;
        }
        if sampled > SAMPLE_VALUES {
            return invalid(format!("{sampled} sampled values; at most {SAMPLE_VALUES}"));
        }
        Ok(())
    }

    /// Tests each feature's reference sample against the telemetry's
    /// merged sample of it (`telemetry::merge_samples`; Evidently's default
    /// test and threshold), and the dataset against `share_threshold`.
    /// Features without current values are reported with the reason and
    /// left out of the dataset share.
    pub fn drift(&self, current: &[Reservoir], share_threshold: f64) -> DriftReport {
        let mut features = Vec::with_capacity(self.features.len());
        let mut verdicts = Vec::new();
        for (i, reference) in self.features.iter().enumerate() {
            let current = current.get(i).map(|s| s.values.as_slice()).unwrap_or(&[]);
            let reference_column = match &reference.shape {
                FeatureShape::Numerical { sample, .. } => Column::Numbers(sample.clone()),
                FeatureShape::Categorical { sample, .. } => Column::Labels(sample.clone()),
            };
            let current_column = match reference_column {
                Column::Numbers(_) => Column::Numbers(current.to_vec()),
                // Models take numbers; a categorical reference column is
                // compared with the numbers' shortest decimal form.
                Column::Labels(_) => {
                    Column::Labels(current.iter().map(|x| x.to_string()).collect())
                }
            };
            let result = if current_column.is_empty() {
                Err(DriftError::Empty("current"))
            } else {
                feature_drift(&reference_column, &current_column, None, None)
            };
            let (test, score, threshold, drifted, error) = match result {
                Ok(v) => {
                    verdicts.push(v.clone());
                    (
                        Some(v.test),
                        Some(v.score),
                        Some(v.threshold),
                        Some(v.drifted),
                        None,
                    )
                }
                Err(err) => (None, None, None, None, Some(err.to_string())),
            };
            features.push(FeatureReport {
                name: reference.name.clone(),
                kind: reference_column.kind().to_owned(),
                reference_values: reference_column.len(),
                current_values: current_column.len(),
                test,
                score,
                threshold,
                drifted,
                error,
            });
        }
        DriftReport {
            dataset: dataset_drift(&verdicts, share_threshold),
            features,
        }
    }
}

fn numerical(mut values: Vec<f64>, per_feature: usize) -> FeatureShape {
    let sample: Vec<f64> = sample_indices(values.len(), per_feature)
        .into_iter()
        .map(|i| values[i])
        .collect();
    values.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..BINS)
        .map(|k| quantile(&values, k as f64 / BINS as f64))
        .collect();
    edges.dedup();
    let mut histogram = Histogram::new(edges.clone());
    let mut summary = FeatureSummary::default();
    for &v in &values {
        histogram.record(v);
        summary.record(v);
    }
    FeatureShape::Numerical {
        median: quantile(&values, 0.5),
        edges,
        histogram: histogram.counts,
        summary,
        sample,
    }
}

fn categorical(labels: Vec<String>, per_feature: usize) -> FeatureShape {
    let sample: Vec<String> = sample_indices(labels.len(), per_feature)
        .into_iter()
        .map(|i| truncate(&labels[i]))
        .collect();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for label in &labels {
        *counts.entry(truncate(label)).or_default() += 1;
    }
    let mut by_count: Vec<(String, u64)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other = by_count.iter().skip(MAX_CATEGORIES).map(|(_, n)| n).sum();
    by_count.truncate(MAX_CATEGORIES);
    FeatureShape::Categorical {
        categories: by_count.into_iter().collect(),
        other,
        sample,
    }
}

fn truncate(label: &str) -> String {
    let mut end = label.len().min(MAX_LABEL);
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    label[..end].to_owned()
}

/// One feature of a drift report. `error` says why a feature could not be
/// tested (no current values yet, say); the verdict fields are then absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeatureReport {
    pub name: String,
    pub kind: String,
    pub reference_values: usize,
    pub current_values: usize,
    pub test: Option<StatTest>,
    /// p-value for KS, chi-square and Z; the distance otherwise.
    pub score: Option<f64>,
    pub threshold: Option<f64>,
    pub drifted: Option<bool>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DriftReport {
    pub features: Vec<FeatureReport>,
    pub dataset: DatasetDrift,
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::telemetry::TelemetryWindow;

    fn column(name: &str, cells: impl IntoIterator<Item = String>) -> (String, Vec<String>) {
        (name.to_owned(), cells.into_iter().collect())
    }

    fn profile() -> ReferenceProfile {
        ReferenceProfile::from_columns(&[
            column("amount", (0..2000).map(|i| (i % 100).to_string())),
            column(
                "channel",
                (0..2000).map(|i| ["web", "pos", "atm"][i % 3].to_owned()),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn a_profile_has_deciles_histogram_summary_and_a_bounded_sample() {
        let p = profile();
        p.validate().unwrap();
        assert_eq!(p.rows, 2000);
        let FeatureShape::Numerical {
            edges,
            histogram,
            summary,
            median,
            sample,
        } = &p.features[0].shape
        else {
            panic!("amount is numerical")
        };
        // numpy: np.quantile(np.arange(2000) % 100, [.1, ..., .9])
        let numpy = [9.9, 19.8, 29.7, 39.6, 49.5, 59.4, 69.3, 79.2, 89.1];
        assert_eq!(edges.len(), numpy.len());
        for (got, want) in edges.iter().zip(numpy) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert_eq!(histogram.iter().sum::<u64>(), 2000);
        assert_eq!(histogram[0], 200, "0..=9 twenty times each");
        assert_eq!(summary.count, 2000);
        assert_eq!(*median, 49.5);
        assert_eq!(sample.len(), SAMPLE_PER_FEATURE);
        let FeatureShape::Categorical {
            categories,
            other,
            sample,
        } = &p.features[1].shape
        else {
            panic!("channel is categorical")
        };
        assert_eq!(categories["web"], 667);
        assert_eq!(*other, 0);
        assert_eq!(sample.len(), SAMPLE_PER_FEATURE);
        assert_eq!(p.edges()[1], Vec::<f64>::new());
    }

    #[test]
    fn missing_cells_are_counted_and_bad_input_is_an_error() {
        let p = ReferenceProfile::from_columns(&[column(
            "x",
            ["1", "", "NaN", "2"].map(str::to_owned),
        )])
        .unwrap();
        assert_eq!((p.features[0].count, p.features[0].missing), (2, 2));
        assert_eq!(
            ReferenceProfile::from_columns(&[]),
            Err(ProfileError::NoFeatures)
        );
        assert_eq!(
            ReferenceProfile::from_columns(&[column("x", [String::new()])]),
            Err(ProfileError::EmptyFeature("x".into()))
        );
        let twice = [column("x", ["1".into()]), column("x", ["2".into()])];
        assert!(matches!(
            ReferenceProfile::from_columns(&twice),
            Err(ProfileError::DuplicateName(_))
        ));
    }

    #[test]
    fn a_tampered_profile_is_refused() {
        let mut p = profile();
        if let FeatureShape::Numerical { edges, .. } = &mut p.features[0].shape {
            edges.swap(0, 1);
        }
        assert!(p.validate().is_err());
        let mut p = profile();
        if let FeatureShape::Numerical { sample, .. } = &mut p.features[0].shape {
            sample.extend(vec![1.0; SAMPLE_PER_FEATURE]);
        }
        assert!(p.validate().is_err());
    }

    #[test]
    fn the_report_tests_telemetry_samples_against_the_reference() {
        let p = profile();
        let mut same = TelemetryWindow::new(p.edges());
        let mut shifted = TelemetryWindow::new(p.edges());
        for i in 0..150 {
            same.record_call(&[(i * 7 % 100) as f64, (i % 3) as f64], 2, 100.0);
            shifted.record_call(&[(i * 7 % 100) as f64 + 60.0, 0.0], 2, 100.0);
        }
        let sample = |w: &TelemetryWindow| crate::telemetry::merge_samples([w], 1000);
        let calm = p.drift(&sample(&same), 0.5);
        assert_eq!(calm.features[0].test, Some(StatTest::Ks));
        assert_eq!(calm.features[0].drifted, Some(false));
        assert_eq!(calm.features[0].current_values, 150);
        let report = p.drift(&sample(&shifted), 0.5);
        assert_eq!(report.features[0].drifted, Some(true));
        assert!(report.features[0].score.unwrap() < 1e-6);
        // The channel's labels never match the numbers the model was given:
        // chi-square sees a wholly different distribution.
        assert_eq!(report.features[1].test, Some(StatTest::ChiSquare));
        assert_eq!(report.dataset.drifted_features, 2);
        assert!(report.dataset.drifted);
        // No telemetry: every feature says why, and nothing drifts.
        let empty = p.drift(&[], 0.5);
        assert!(empty.features.iter().all(|f| f.error.is_some()));
        assert!(!empty.dataset.drifted);
    }

    #[test]
    fn profiles_round_trip_through_json() {
        let p = profile();
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains(r#""kind":"numerical""#));
        let back: ReferenceProfile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }
}
