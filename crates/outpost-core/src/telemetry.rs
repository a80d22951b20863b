//! Telemetry windows: what a client (or the Worker) reports about the
//! predictions it made, aggregated — counts, errors, a latency histogram,
//! per-feature histograms over the bins of the version's reference profile and
//! a bounded uniform sample of each feature's values (KS and Wasserstein need
//! values, not bins). Never rows or request logs: a window's size is bounded
//! whatever the traffic, and features are sampled independently.
//!
//! Windows merge (associatively below the samples' capacity), so the registry
//! can add up reports from many devices and intervals; drift reports then
//! test the merged samples against the reference profile's.

use serde::{Deserialize, Serialize};

use crate::reservoir::Reservoir;

/// Values each feature's sample keeps per window, and the most a received
/// window may carry per feature and in all.
pub const SAMPLE_CAPACITY: usize = 200;
pub const MAX_SAMPLE_PER_FEATURE: usize = 1_000;
pub const MAX_SAMPLE_VALUES: usize = 50_000;

/// Upper bounds of the latency bins, in microseconds (the last bin is open).
pub const LATENCY_BOUNDS_US: [f64; 14] = [
    50.0, 100.0, 250.0, 500.0, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6,
];

/// A histogram over fixed edges: `counts[i]` holds values in
/// `[edges[i-1], edges[i])`, with one open bin below the first edge and one
/// above the last, as the reference profile's quantile bins are laid out.
/// Missing values (NaN) are counted apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    pub missing: u64,
}

impl Histogram {
    pub fn new(edges: Vec<f64>) -> Self {
        let bins = edges.len() + 1;
        Self {
            edges,
            counts: vec![0; bins],
            missing: 0,
        }
    }

    pub fn record(&mut self, value: f64) {
        if value.is_nan() {
            self.missing += 1;
            return;
        }
        // The first edge greater than the value closes its bin.
        let bin = self.edges.partition_point(|&edge| edge <= value);
        self.counts[bin] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.missing
    }

    fn merge(&mut self, other: &Histogram) -> Result<(), TelemetryError> {
        if self.edges != other.edges {
            return Err(TelemetryError::Incompatible(
                "histogram edges differ".into(),
            ));
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.missing += other.missing;
        Ok(())
    }
}

/// Summary statistics of one feature, kept whether or not bins are known.
/// With no values, `min` and `max` are +∞ and −∞ (JSON `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeatureSummary {
    pub count: u64,
    pub sum: f64,
    pub sum_squares: f64,
    /// `null` for a feature with no values yet (+∞ in memory).
    #[serde(deserialize_with = "null_is_positive_infinity")]
    #[schemars(schema_with = "number_or_null")]
    pub min: f64,
    /// `null` for a feature with no values yet (−∞ in memory).
    #[serde(deserialize_with = "null_is_negative_infinity")]
    #[schemars(schema_with = "number_or_null")]
    pub max: f64,
}

/// Required, a number or `null` (what `deserialize_with` above reads).
fn number_or_null(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ["number", "null"]})
}

fn null_is_positive_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

fn null_is_negative_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
}

impl Default for FeatureSummary {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            sum_squares: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl FeatureSummary {
    pub(crate) fn record(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        self.count += 1;
        self.sum += value;
        self.sum_squares += value * value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &FeatureSummary) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_squares += other.sum_squares;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// One feature's telemetry: its summary, its histogram over the reference
/// bins when the client was given them, and a bounded uniform sample of its
/// values (for KS and Wasserstein, which need values, not bins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeatureWindow {
    pub summary: FeatureSummary,
    #[serde(default)]
    pub histogram: Option<Histogram>,
    #[serde(default)]
    pub sample: Option<Reservoir>,
}

impl FeatureWindow {
    fn new(histogram: Option<Histogram>) -> Self {
        Self {
            summary: FeatureSummary::default(),
            histogram,
            sample: Some(Reservoir::new(SAMPLE_CAPACITY)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelemetryError {
    #[error("windows cannot be merged: {0}")]
    Incompatible(String),
    #[error("the window is not valid: {0}")]
    Invalid(String),
}

/// Largest window the registry accepts: features, and bin edges per feature.
pub const MAX_FEATURES: usize = 256;
pub const MAX_EDGES: usize = 100;

/// What one model version did over a window of time on one client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TelemetryWindow {
    /// Predictions made (one per row).
    pub rows: u64,
    /// Calls made, and calls that failed.
    pub calls: u64,
    pub errors: u64,
    /// Per-call latency over [`LATENCY_BOUNDS_US`] (+ one open bin).
    pub latency: Histogram,
    /// Per input feature (column of the first input), in column order.
    pub features: Vec<FeatureWindow>,
}

impl TelemetryWindow {
    /// An empty window; `reference_edges` are the version's reference bins
    /// per feature (empty when unknown: summaries only).
    pub fn new(reference_edges: Vec<Vec<f64>>) -> Self {
        Self {
            rows: 0,
            calls: 0,
            errors: 0,
            latency: Histogram::new(LATENCY_BOUNDS_US.to_vec()),
            features: reference_edges
                .into_iter()
                .map(|edges| FeatureWindow::new(Some(Histogram::new(edges))))
                .collect(),
        }
    }

    /// Records a successful call over `rows` rows of `columns` features
    /// (row-major), which took `latency_us`.
    pub fn record_call(&mut self, values: &[f64], columns: usize, latency_us: f64) {
        self.calls += 1;
        self.latency.record(latency_us);
        if columns == 0 {
            return;
        }
        if self.features.len() < columns {
            self.features.resize(columns, FeatureWindow::new(None));
        }
        for row in values.chunks_exact(columns) {
            self.rows += 1;
            for (feature, &value) in self.features.iter_mut().zip(row) {
                feature.summary.record(value);
                if let Some(histogram) = &mut feature.histogram {
                    histogram.record(value);
                }
                if let Some(sample) = &mut feature.sample {
                    sample.record(value);
                }
            }
        }
    }

    pub fn record_error(&mut self, latency_us: f64) {
        self.calls += 1;
        self.errors += 1;
        self.latency.record(latency_us);
    }

    /// Adds `other` into this window (both over the same bins); on error
    /// this window is unchanged.
    pub fn merge(&mut self, other: &TelemetryWindow) -> Result<(), TelemetryError> {
        let mut merged = self.clone();
        merged.merge_into(other)?;
        *self = merged;
        Ok(())
    }

    fn merge_into(&mut self, other: &TelemetryWindow) -> Result<(), TelemetryError> {
        if self.features.len() != other.features.len()
            && !other.features.is_empty()
            && !self.features.is_empty()
        {
            return Err(TelemetryError::Incompatible(format!(
                "{} features against {}",
                self.features.len(),
                other.features.len()
            )));
        }
        self.latency.merge(&other.latency)?;
        if self.features.is_empty() {
            self.features = other.features.clone();
        } else {
            for (a, b) in self.features.iter_mut().zip(&other.features) {
                a.summary.merge(&b.summary);
                match (&mut a.histogram, &b.histogram) {
                    (Some(a), Some(b)) => a.merge(b)?,
                    (None, None) => {}
                    _ => {
                        return Err(TelemetryError::Incompatible(
                            "one side has bins, the other not".into(),
                        ));
                    }
                }
                match (&mut a.sample, &b.sample) {
                    (Some(a), Some(b)) => a.merge(b),
                    (a @ None, Some(b)) => *a = Some(b.clone()),
                    _ => {}
                }
            }
        }
        self.rows += other.rows;
        self.calls += other.calls;
        self.errors += other.errors;
        Ok(())
    }

    /// Checks a window received from outside: bounded, consistent counts,
    /// the standard latency bins, increasing edges, finite statistics.
    pub fn validate(&self) -> Result<(), TelemetryError> {
        let invalid = |what: String| Err(TelemetryError::Invalid(what));
        if self.latency.edges != LATENCY_BOUNDS_US {
            return invalid("latency bins must be the standard ones (outpost_core::telemetry::LATENCY_BOUNDS_US)".into());
        }
        if self.features.len() > MAX_FEATURES {
            return invalid(format!(
                "{} features; at most {MAX_FEATURES}",
                self.features.len()
            ));
        }
        if self.errors > self.calls {
            return invalid(format!("{} errors in {} calls", self.errors, self.calls));
        }
        let histograms = std::iter::once(("latency".to_owned(), &self.latency)).chain(
            self.features
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.histogram.as_ref().map(|h| (format!("feature {i}"), h))),
        );
        for (name, histogram) in histograms {
            if histogram.edges.len() > MAX_EDGES {
                return invalid(format!(
                    "{name} has {} bin edges; at most {MAX_EDGES}",
                    histogram.edges.len()
                ));
            }
            if histogram.counts.len() != histogram.edges.len() + 1 {
                return invalid(format!(
                    "{name} has {} counts for {} edges",
                    histogram.counts.len(),
                    histogram.edges.len()
                ));
            }
            if histogram.edges.windows(2).any(|w| w[0] >= w[1])
                || histogram.edges.iter().any(|e| !e.is_finite())
            {
                return invalid(format!("{name}'s edges must be finite and increasing"));
            }
        }
        let latency_calls: u64 = self.latency.counts.iter().sum();
        if latency_calls != self.calls {
            return invalid(format!(
                "{latency_calls} latencies for {} calls",
                self.calls
            ));
        }
        let mut sampled = 0;
        for (i, feature) in self.features.iter().enumerate() {
            if let Some(sample) = &feature.sample {
                if sample.capacity > MAX_SAMPLE_PER_FEATURE {
                    return invalid(format!(
                        "feature {i}'s sample capacity is {}; at most {MAX_SAMPLE_PER_FEATURE}",
                        sample.capacity
                    ));
                }
                sample
                    .validate()
                    .or_else(|why| invalid(format!("feature {i}: {why}")))?;
                sampled += sample.values.len();
            }
            let s = &feature.summary;
            if s.count > self.rows {
                return invalid(format!(
                    "feature {i} has {} values in {} rows",
                    s.count, self.rows
                ));
            }
            if s.count > 0
                && ![s.sum, s.sum_squares, s.min, s.max]
                    .iter()
                    .all(|x| x.is_finite())
            {
                return invalid(format!("feature {i} has non-finite statistics"));
            }
        }
        if sampled > MAX_SAMPLE_VALUES {
            return invalid(format!(
                "{sampled} sampled values; at most {MAX_SAMPLE_VALUES} per window"
            ));
        }
        Ok(())
    }

    /// Failed calls ÷ calls (0 without calls).
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }

    /// Latency below which `q` of the calls fell (the upper bound of that
    /// bin; `None` in the open bin or with no calls).
    pub fn latency_quantile_us(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, &count) in self.latency.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return self.latency.edges.get(bin).copied();
            }
        }
        None
    }
}

/// Calls, rows, errors and latency of many windows, their features left
/// out (windows over other bins still count).
pub fn merge_timing<'a>(windows: impl IntoIterator<Item = &'a TelemetryWindow>) -> TelemetryWindow {
    let mut total = TelemetryWindow::new(Vec::new());
    for window in windows {
        total.rows += window.rows;
        total.calls += window.calls;
        total.errors += window.errors;
        if total.latency.edges == window.latency.edges {
            for (a, b) in total.latency.counts.iter_mut().zip(&window.latency.counts) {
                *a += b;
            }
        }
    }
    total
}

/// Longest look-back a report accepts.
pub const MAX_WINDOW_MS: i64 = 30 * 86_400_000;

/// A look-back that is not a number and a unit within 1 s to 30 d, or a
/// series request out of bounds ([`series_buckets`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WindowError(String);

/// What [`parse_window`] accepts, for API documents: a number without
/// leading zeros and a unit, within 1 s to 30 d (2 592 000 s, 43 200 m,
/// 720 h, 30 d). A test holds the two to each other.
pub const WINDOW_PATTERN: &str = concat!(
    "^(?:(?:[1-9][0-9]{0,5}|1[0-9]{6}|2[0-4][0-9]{5}|25[0-8][0-9]{4}|259[01][0-9]{3}|2592000)s",
    "|(?:[1-9][0-9]{0,3}|[1-3][0-9]{4}|4[0-2][0-9]{3}|43[01][0-9]{2}|43200)m",
    "|(?:[1-9][0-9]?|[1-6][0-9]{2}|7[01][0-9]|720)h",
    "|(?:[1-9]|[12][0-9]|30)d)$"
);

/// A report's look-back, `90s`, `15m`, `1h` or `7d`, in ms (1 s to 30 d):
/// decimal digits without a sign or leading zeros, then the unit.
pub fn parse_window(text: &str) -> Result<i64, WindowError> {
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at_checked(split).unwrap_or((text, ""));
    let digits_only = !number.is_empty()
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit());
    let number = if digits_only { number } else { "" };
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    let ms = number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && unit_ms > 0)
        .map(|n| n.saturating_mul(unit_ms))
        .ok_or_else(|| {
            WindowError(format!(
                "window is a number and a unit (s, m, h or d), like 15m or 24h; got `{text}`"
            ))
        })?;
    if ms > MAX_WINDOW_MS {
        return Err(WindowError(format!("window is at most 30d, got `{text}`")));
    }
    Ok(ms)
}

/// Most values per feature a report merges windows' samples into.
pub const REPORT_SAMPLE: usize = 5_000;

/// Each feature's samples across many windows, merged into one uniform
/// sample of at most `capacity` values (feature i of every window).
pub fn merge_samples<'a>(
    windows: impl IntoIterator<Item = &'a TelemetryWindow>,
    capacity: usize,
) -> Vec<Reservoir> {
    let mut merged: Vec<Reservoir> = Vec::new();
    for window in windows {
        for (i, feature) in window.features.iter().enumerate() {
            let Some(sample) = &feature.sample else {
                continue;
            };
            if merged.len() <= i {
                merged.resize(i + 1, Reservoir::new(capacity));
            }
            merged[i].merge(sample);
        }
    }
    merged
}

/// One line of a performance report: a version at a stage, as reported by
/// clients or measured in the Worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PerformanceRow {
    pub version: String,
    pub stage: String,
    pub source: String,
    pub calls: u64,
    pub rows: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Upper bounds of the latency bins holding the quantile (µs); `None`
    /// when it lies beyond the last bound or there were no calls.
    pub p50_us: Option<f64>,
    pub p95_us: Option<f64>,
    pub p99_us: Option<f64>,
}

/// Merges windows per (version, stage, source) into a performance report,
/// sorted by version, stage and source. Windows that do not merge (other
/// feature bins) still count toward calls, errors and latency.
pub fn performance<'a>(
    windows: impl IntoIterator<Item = (&'a str, &'a str, &'a str, &'a TelemetryWindow)>,
) -> Vec<PerformanceRow> {
    let mut merged: std::collections::BTreeMap<(String, String, String), TelemetryWindow> =
        std::collections::BTreeMap::new();
    for (version, stage, source, window) in windows {
        let key = (version.to_owned(), stage.to_owned(), source.to_owned());
        let entry = merged
            .entry(key)
            .or_insert_with(|| TelemetryWindow::new(Vec::new()));
        let mut timing_only = window.clone();
        if entry.merge(window).is_err() {
            timing_only.features.clear();
            entry.features.clear();
            let _ = entry.merge(&timing_only);
        }
    }
    merged
        .into_iter()
        .map(|((version, stage, source), w)| PerformanceRow {
            version,
            stage,
            source,
            calls: w.calls,
            rows: w.rows,
            errors: w.errors,
            error_rate: w.error_rate(),
            p50_us: w.latency_quantile_us(0.5),
            p95_us: w.latency_quantile_us(0.95),
            p99_us: w.latency_quantile_us(0.99),
        })
        .collect()
}

/// Most buckets a performance series has: 30 days of hours is 720.
pub const MAX_SERIES_POINTS: i64 = 720;

/// One point of a performance series: the windows received in
/// `[start_ms, start_ms + step)` for one version, stage and source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PerformancePoint {
    /// Start of the bucket, ms since the epoch: `since + k × step`.
    pub start_ms: i64,
    #[serde(flatten)]
    pub row: PerformanceRow,
}

/// Checks a series request: `since` (ms since the epoch) must be given, and
/// `[since, now)` in buckets of `step_ms` must number at most
/// [`MAX_SERIES_POINTS`]. Returns how many buckets it spans.
///
/// # Errors
/// A [`WindowError`] saying what to change.
pub fn series_buckets(since: i64, now: i64, step_ms: i64) -> Result<i64, WindowError> {
    if since <= 0 {
        return Err(WindowError(
            "a series needs since (ms since the epoch) as well as step".to_owned(),
        ));
    }
    if step_ms <= 0 {
        return Err(WindowError("step is at least 1s".to_owned()));
    }
    let span = now.saturating_sub(since).max(1);
    let buckets = (span + step_ms - 1) / step_ms;
    if buckets > MAX_SERIES_POINTS {
        return Err(WindowError(format!(
            "{buckets} buckets of {step_ms} ms from since to now; at most {MAX_SERIES_POINTS}: \
             ask for a longer step or a later since"
        )));
    }
    Ok(buckets)
}

/// A performance series: windows (received at, version, stage, source,
/// window) grouped into buckets of `step_ms` from `since` and merged per
/// version, stage and source as [`performance`] does; ordered by bucket,
/// then version, stage and source. Buckets without windows are left out, and
/// windows received before `since` are ignored. Quantiles are those of each
/// bucket's merged latency histogram, so they are exact to the bin, never
/// averages of averages.
pub fn performance_series<'a>(
    windows: impl IntoIterator<Item = (i64, &'a str, &'a str, &'a str, &'a TelemetryWindow)>,
    since: i64,
    step_ms: i64,
) -> Vec<PerformancePoint> {
    let step_ms = step_ms.max(1);
    let mut buckets: std::collections::BTreeMap<i64, Vec<(&str, &str, &str, &TelemetryWindow)>> =
        std::collections::BTreeMap::new();
    for (received_at, version, stage, source, window) in windows {
        if received_at < since {
            continue;
        }
        let start = since + (received_at - since) / step_ms * step_ms;
        buckets
            .entry(start)
            .or_default()
            .push((version, stage, source, window));
    }
    buckets
        .into_iter()
        .flat_map(|(start_ms, windows)| {
            performance(windows)
                .into_iter()
                .map(move |row| PerformancePoint { start_ms, row })
        })
        .collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn bins_are_closed_below_and_open_above() {
        let mut h = Histogram::new(vec![0.0, 1.0, 2.0]);
        for v in [-5.0, 0.0, 0.5, 1.0, 1.99, 2.0, 7.0, f64::NAN] {
            h.record(v);
        }
        assert_eq!(h.counts, [1, 2, 2, 2]);
        assert_eq!(h.missing, 1);
        assert_eq!(h.total(), 8);
    }

    #[test]
    fn a_call_records_rows_features_and_latency() {
        let mut w = TelemetryWindow::new(vec![vec![10.0, 100.0], vec![0.5]]);
        w.record_call(&[5.0, 0.1, 50.0, 0.9, 500.0, f64::NAN], 2, 120.0);
        assert_eq!((w.rows, w.calls, w.errors), (3, 1, 0));
        assert_eq!(w.features[0].histogram.as_ref().unwrap().counts, [1, 1, 1]);
        assert_eq!(w.features[1].histogram.as_ref().unwrap().counts, [1, 1]);
        assert_eq!(w.features[1].histogram.as_ref().unwrap().missing, 1);
        assert_eq!(w.features[0].summary.mean(), Some(185.0));
        assert_eq!(
            w.features[0].sample.as_ref().unwrap().values,
            [5.0, 50.0, 500.0]
        );
        assert_eq!(w.features[1].sample.as_ref().unwrap().values, [0.1, 0.9]);
        assert_eq!(w.latency.counts[2], 1, "120 µs falls in [100, 250)");
        w.record_error(3e6);
        assert_eq!((w.calls, w.errors), (2, 1));
        assert_eq!(w.latency.counts[14], 1, "beyond the last bound");
    }

    #[test]
    fn windows_merge_associatively() {
        let edges = vec![vec![1.0, 2.0]];
        let sample = |values: &[f64], us: f64| {
            let mut w = TelemetryWindow::new(edges.clone());
            w.record_call(values, 1, us);
            w
        };
        let (a, b, c) = (
            sample(&[0.5, 1.5], 40.0),
            sample(&[2.5], 700.0),
            sample(&[1.0, 9.0], 60.0),
        );
        let mut left = a.clone();
        left.merge(&b).unwrap();
        left.merge(&c).unwrap();
        let mut bc = b.clone();
        bc.merge(&c).unwrap();
        let mut right = a.clone();
        right.merge(&bc).unwrap();
        assert_eq!(left, right);
        assert_eq!(left.rows, 5);
        assert_eq!(
            left.features[0].histogram.as_ref().unwrap().counts,
            [1, 2, 2]
        );
        let other_bins = TelemetryWindow::new(vec![vec![3.0]]);
        assert!(left.merge(&other_bins).is_err());
    }

    #[test]
    fn performance_merges_per_version_stage_and_source() {
        let mut a = TelemetryWindow::new(vec![]);
        a.record_call(&[1.0, 2.0], 1, 80.0);
        a.record_error(300.0);
        let mut b = TelemetryWindow::new(vec![vec![1.0]]);
        b.record_call(&[1.0], 1, 2000.0);
        let report = performance([
            ("1.0.0", "production", "client", &a),
            ("1.0.0", "production", "client", &b),
            ("1.1.0", "canary", "worker", &a),
        ]);
        assert_eq!(report.len(), 2);
        let first = &report[0];
        assert_eq!((first.calls, first.rows, first.errors), (3, 3, 1));
        assert!((first.error_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(first.p50_us, Some(500.0));
        assert_eq!(first.p99_us, Some(2500.0));
        // A failed merge leaves the window as it was.
        let mut kept = a.clone();
        assert!(kept.merge(&b).is_err());
        assert_eq!(kept, a);
        assert_eq!(report[1].stage, "canary");
    }

    #[test]
    fn received_windows_are_validated() {
        let mut w = TelemetryWindow::new(vec![vec![1.0, 2.0]]);
        w.record_call(&[0.5, 1.5], 1, 80.0);
        w.validate().unwrap();
        let mut bad = w.clone();
        bad.errors = 5;
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("5 errors in 1 calls")
        );
        let mut bad = w.clone();
        bad.latency.counts[0] += 3;
        assert!(bad.validate().is_err());
        let mut bad = w.clone();
        bad.features[0].histogram.as_mut().unwrap().edges = vec![2.0, 1.0];
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("increasing")
        );
        let mut bad = w.clone();
        bad.latency.edges.pop();
        assert!(bad.validate().is_err());
        let mut bad = w;
        bad.features = vec![bad.features[0].clone(); MAX_FEATURES + 1];
        assert!(bad.validate().is_err());
    }

    #[test]
    fn reports_merge_timing_and_samples_across_any_windows() {
        let mut client = TelemetryWindow::new(vec![vec![1.0]]);
        client.record_call(&[0.5, 2.0], 1, 80.0);
        let mut worker = TelemetryWindow::new(vec![]);
        worker.record_call(&[7.0, 8.0, 9.0, 10.0], 2, 300.0);
        worker.record_error(90.0);
        let timing = merge_timing([&client, &worker]);
        assert_eq!((timing.calls, timing.errors, timing.rows), (3, 1, 4));
        assert_eq!(timing.latency.counts[1], 2, "80 and 90 µs");
        let samples = merge_samples([&client, &worker], 10);
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].values, [0.5, 2.0, 7.0, 9.0]);
        assert_eq!(samples[1].values, [8.0, 10.0]);
        assert_eq!(samples[0].capacity, SAMPLE_CAPACITY.max(10));
    }

    #[test]
    fn a_window_without_values_survives_json() {
        let mut w = TelemetryWindow::new(vec![vec![1.0]]);
        w.record_error(50.0);
        let text = serde_json::to_string(&w).unwrap();
        assert!(text.contains(r#""min":null"#), "{text}");
        let back: TelemetryWindow = serde_json::from_str(&text).unwrap();
        assert_eq!(back, w);
        back.validate().unwrap();
    }

    #[test]
    fn windows_are_a_number_and_a_unit() {
        assert_eq!(parse_window("15m"), Ok(900_000));
        assert_eq!(parse_window("24h"), Ok(86_400_000));
        assert_eq!(parse_window("30d"), Ok(MAX_WINDOW_MS));
        assert_eq!(parse_window("90s"), Ok(90_000));
        for bad in ["", "h", "0h", "-1h", "1w", "31d", "1.5h"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn latency_quantiles_come_from_the_bins() {
        let mut w = TelemetryWindow::new(vec![]);
        for us in [
            30.0, 40.0, 80.0, 90.0, 120.0, 600.0, 700.0, 800.0, 900.0, 2000.0,
        ] {
            w.record_call(&[], 0, us);
        }
        assert_eq!(w.latency_quantile_us(0.5), Some(250.0));
        assert_eq!(w.latency_quantile_us(0.95), Some(2500.0));
        assert_eq!(TelemetryWindow::new(vec![]).latency_quantile_us(0.5), None);
    }

    #[test]
    fn a_series_merges_each_bucket_on_its_own() {
        let window = |latencies_us: &[f64], errors: u64| {
            let mut w = TelemetryWindow::new(vec![]);
            for l in latencies_us {
                w.record_call(&[], 0, *l);
            }
            for _ in 0..errors {
                w.record_error(40.0);
            }
            w
        };
        let (fast, slow, failing) = (
            window(&[40.0; 10], 0),
            window(&[3_000.0; 10], 0),
            window(&[40.0; 3], 1),
        );
        let since = 1_000_000;
        let step = 60_000;
        let series = performance_series(
            [
                (since - 1, "1.0.0", "production", "worker", &fast),
                (since, "1.0.0", "production", "worker", &fast),
                (since + 59_999, "1.0.0", "production", "worker", &failing),
                (since + 60_000, "1.0.0", "production", "worker", &slow),
                (since + 60_001, "1.1.0", "canary", "device", &fast),
                (since + 300_000, "1.0.0", "production", "worker", &slow),
            ],
            since,
            step,
        );
        let points: Vec<(i64, &str, u64, u64, Option<f64>)> = series
            .iter()
            .map(|p| {
                (
                    p.start_ms - since,
                    p.row.version.as_str(),
                    p.row.calls,
                    p.row.errors,
                    p.row.p95_us,
                )
            })
            .collect();
        assert_eq!(
            points,
            [
                // The window before `since` is left out; the first bucket
                // merges two windows: 13 calls and 1 error.
                (0, "1.0.0", 14, 1, Some(50.0)),
                (60_000, "1.0.0", 10, 0, Some(5_000.0)),
                (60_000, "1.1.0", 10, 0, Some(50.0)),
                // No bucket for the empty minutes between.
                (300_000, "1.0.0", 10, 0, Some(5_000.0)),
            ]
        );
        // A point reads like a performance row, with its start beside it.
        let json = serde_json::to_value(&series[0]).unwrap();
        assert_eq!(json["start_ms"], since);
        assert_eq!(json["version"], "1.0.0");
    }

    #[test]
    fn series_requests_are_bounded() {
        assert_eq!(
            series_buckets(1_000, 1_000 + 3_600_000, 300_000).unwrap(),
            12
        );
        assert_eq!(
            series_buckets(1_000, 1_000 + 3_600_001, 300_000).unwrap(),
            13
        );
        assert_eq!(series_buckets(1_000, 1_000, 60_000).unwrap(), 1);
        let too_many = series_buckets(1_000, 1_000 + 30 * 86_400_000, 60_000).unwrap_err();
        assert!(too_many.to_string().contains("at most 720"), "{too_many}");
        assert!(
            series_buckets(0, 5, 1_000)
                .unwrap_err()
                .to_string()
                .contains("since")
        );
    }
}
