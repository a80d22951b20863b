//! Drift statistics, computed the way their reference implementations do so
//! that a report agrees with scipy and Evidently to the last digits:
//!
//! - two-sample Kolmogorov–Smirnov as `scipy.stats.ks_2samp` (statistic, and
//!   the exact two-sided p-value scipy uses up to 10 000 samples per side,
//!   its asymptotic one — [`crate::kolmogorov`] — beyond);
//! - Wasserstein-1 as `scipy.stats.wasserstein_distance`, and Evidently's
//!   normed form (÷ the reference's population standard deviation, at least
//!   0.001);
//! - PSI, KL divergence (`scipy.stats.entropy`) and Jensen–Shannon distance
//!   (`scipy.spatial.distance.jensenshannon`) over Evidently's binning: 30
//!   equal-width bins over both samples, empty bins counted as 0.0001;
//! - chi-square over categories as Evidently's (reference counts scaled to the
//!   current sample, `scipy.stats.chisquare`), and Evidently's two-proportion
//!   Z-test for binary features;
//! - the default test per feature as Evidently's `_get_default_stattest`,
//!   which counts the distinct values of the reference and the current
//!   sample together ([`StatTest::default_for`]).
//!
//! Test vectors: `crates/outpost-core/tests/data/drift-vectors.json`, made by
//! `scripts/gen-drift-vectors.py`. Edge cases (empty samples, NaN) are typed
//! errors, never panics.

use std::collections::BTreeMap;

/// Why a statistic cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriftError {
    #[error("the {0} sample is empty")]
    Empty(&'static str),
    #[error("the {0} sample contains NaN; drop or impute missing values first")]
    NaN(&'static str),
    #[error("{0} needs numbers, and this feature is categorical")]
    NotNumeric(&'static str),
    #[error("a Z-test needs at most two categories, got {0}")]
    NotBinary(usize),
}

fn checked(sample: &[f64], which: &'static str) -> Result<Vec<f64>, DriftError> {
    if sample.is_empty() {
        return Err(DriftError::Empty(which));
    }
    if sample.iter().any(|x| x.is_nan()) {
        return Err(DriftError::NaN(which));
    }
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(sorted)
}

/// `scipy.stats.ks_2samp(reference, current)`, two-sided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub statistic: f64,
    pub pvalue: f64,
}

/// Number of sorted values `<= x` (numpy's `searchsorted(side="right")`).
fn count_le(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|&v| v <= x)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// scipy's `_compute_prob_outside_square`: P(D ≥ h/n) for two samples of n.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h).floor();
    while k >= 0.0 {
        let mut p1 = 1.0;
        let mut j = 0.0;
        while j < h {
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1.0);
            j += 1.0;
        }
        p = p1 * (1.0 - p);
        k -= 1.0;
    }
    2.0 * p
}

/// P(D ≥ d) for samples of m ≠ n: the share of the C(m+n, n) lattice paths
/// from (0, 0) to (m, n) that leave the band |i/m − j/n| < d, i.e. (in
/// units of 1/lcm) |ng·i − mg·j| < h.
///
/// This is scipy's `_compute_outer_prob_inside_method` (scipy/stats/
/// `_stats_pythran.py`, used by `_attempt_exact_2kssamp`), after Viehmann,
/// "Numerically more stable computation of the p-values for the two-sample
/// Kolmogorov–Smirnov test" (arXiv:2102.08037): it computes the *outside*
/// share directly rather than 1 − the inside share, which cancels to 0 once
/// the p-value falls below machine epsilon (2.2e-16) — for 100 values against
/// 101 shifted by 60.5 scipy's 1.68e-18 became 0. With b(i, j) the share of
/// paths to (i, j) that have already left the band, b = 1 outside the band
/// and b(i, j) = (i·b(i−1, j) + j·b(i, j−1)) / (i + j) inside: a weighted
/// mean of non-negative numbers, so the relative error stays a few ulps per
/// step however small the result, down to the smallest normal doubles.
///
/// One column is kept, and only its in-band window is computed: the window
/// moves up monotonically with i, entries that leave it are reset to 1, and
/// entries above it were never inside, so they still hold their initial 1.
fn prob_outside_band(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m >= n { (m, n) } else { (n, m) };
    let (mg, ng) = (m / g, n / g);
    // The j with |ng·i − mg·j| < h: mg·j > ng·i − h and mg·j < ng·i + h.
    let window = |i: u64| {
        let centre = ng * i;
        let lo = if centre < h { 0 } else { (centre - h) / mg + 1 };
        let hi = ((centre + h - 1) / mg).min(n);
        (lo, hi)
    };
    let mut column = vec![1.0f64; n as usize + 1];
    let (mut lo, hi) = window(0);
    // Column 0: no path has left the band while it stays inside.
    for slot in &mut column[lo as usize..=hi as usize] {
        *slot = 0.0;
    }
    for i in 1..=m {
        let (new_lo, new_hi) = window(i);
        if new_lo > new_hi {
            // No point of this column is inside: every path leaves.
            return 1.0;
        }
        for slot in &mut column[lo as usize..new_lo as usize] {
            *slot = 1.0;
        }
        let i_f = i as f64;
        let mut below = 1.0; // b(i, new_lo − 1): outside, or unused at j = 0
        for j in new_lo..=new_hi {
            let j_f = j as f64;
            let value = (column[j as usize] * i_f + below * j_f) / (i_f + j_f);
            column[j as usize] = value;
            below = value;
        }
        lo = new_lo;
    }
    column[n as usize]
}

/// Largest sample for which scipy (and so Outpost) computes the exact p-value.
pub const EXACT_KS_LIMIT: usize = 10_000;

/// Two-sided two-sample KS test, as `scipy.stats.ks_2samp` with its default
/// method: exact up to [`EXACT_KS_LIMIT`] values per side, asymptotic beyond.
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> Result<KsResult, DriftError> {
    let a = checked(reference, "reference")?;
    let b = checked(current, "current")?;
    let (n1, n2) = (a.len(), b.len());
    let mut d: f64 = 0.0;
    for &x in a.iter().chain(&b) {
        let diff = count_le(&a, x) as f64 / n1 as f64 - count_le(&b, x) as f64 / n2 as f64;
        d = d.max(diff.abs());
    }
    if n1.max(n2) > EXACT_KS_LIMIT {
        // scipy's asymptotic mode: the one-sample distribution at the
        // effective size n1·n2 / (n1 + n2), rounded.
        let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
        let en = (m * n / (m + n)).round() as u64;
        return Ok(KsResult {
            statistic: d,
            pvalue: crate::kolmogorov::kstwo_sf(en, d).clamp(0.0, 1.0),
        });
    }
    let (n1, n2) = (n1 as u64, n2 as u64);
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Ok(KsResult {
            statistic: d,
            pvalue: 1.0,
        });
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        prob_outside_band(n1, n2, g, h)
    };
    Ok(KsResult {
        statistic: d,
        pvalue: p.clamp(0.0, 1.0),
    })
}

/// `scipy.stats.wasserstein_distance(reference, current)`: the area between
/// the two empirical CDFs.
pub fn wasserstein(reference: &[f64], current: &[f64]) -> Result<f64, DriftError> {
    let a = checked(reference, "reference")?;
    let b = checked(current, "current")?;
    let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
    all.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for pair in all.windows(2) {
        let width = pair[1] - pair[0];
        if width == 0.0 {
            continue;
        }
        let ca = count_le(&a, pair[0]) as f64 / a.len() as f64;
        let cb = count_le(&b, pair[0]) as f64 / b.len() as f64;
        total += (ca - cb).abs() * width;
    }
    Ok(total)
}

/// Evidently's normed Wasserstein: ÷ max(reference std (ddof 0), 0.001).
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> Result<f64, DriftError> {
    let distance = wasserstein(reference, current)?;
    let n = reference.len() as f64;
    let mean = reference.iter().sum::<f64>() / n;
    let std = (reference.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    Ok(distance / std.max(0.001))
}

/// Evidently's numerical binning: `n_bins` equal-width bins over both
/// samples (numpy's `histogram_bin_edges`), shares per bin, empty bins 0.0001.
pub fn evidently_bins(
    reference: &[f64],
    current: &[f64],
    n_bins: usize,
) -> Result<(Vec<f64>, Vec<f64>), DriftError> {
    let a = checked(reference, "reference")?;
    let b = checked(current, "current")?;
    let lo = a[0].min(b[0]);
    let hi = a[a.len() - 1].max(b[b.len() - 1]);
    // numpy widens a degenerate range to [lo - 0.5, hi + 0.5].
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let edges: Vec<f64> = (0..=n_bins)
        .map(|i| lo + (hi - lo) * i as f64 / n_bins as f64)
        .collect();
    let shares = |sorted: &[f64]| -> Vec<f64> {
        let mut counts = vec![0usize; n_bins];
        for &x in sorted {
            // numpy: bins are [e_i, e_{i+1}), the last one closed.
            let bin = edges
                .partition_point(|&e| e <= x)
                .saturating_sub(1)
                .min(n_bins - 1);
            counts[bin] += 1;
        }
        counts
            .iter()
            .map(|&c| {
                let share = c as f64 / sorted.len() as f64;
                if share == 0.0 { 0.0001 } else { share }
            })
            .collect()
    };
    Ok((shares(&a), shares(&b)))
}

/// Population Stability Index over shares (Evidently's form).
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

fn normalised(shares: &[f64]) -> Vec<f64> {
    let total: f64 = shares.iter().sum();
    shares.iter().map(|s| s / total).collect()
}

/// `scipy.stats.entropy(reference, current)`: KL divergence (nats) of the
/// normalised distributions.
pub fn kl_divergence(reference: &[f64], current: &[f64]) -> f64 {
    let (p, q) = (normalised(reference), normalised(current));
    p.iter()
        .zip(&q)
        .map(|(&p, &q)| if p == 0.0 { 0.0 } else { p * (p / q).ln() })
        .sum()
}

/// `scipy.spatial.distance.jensenshannon(reference, current)` (natural log).
pub fn jensen_shannon(reference: &[f64], current: &[f64]) -> f64 {
    let (p, q) = (normalised(reference), normalised(current));
    let rel = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
    let divergence: f64 = p
        .iter()
        .zip(&q)
        .map(|(&p, &q)| {
            let m = (p + q) / 2.0;
            rel(p, m) + rel(q, m)
        })
        .sum();
    (divergence / 2.0).max(0.0).sqrt()
}

fn counts(values: &[String]) -> BTreeMap<&str, f64> {
    let mut counts = BTreeMap::new();
    for v in values {
        *counts.entry(v.as_str()).or_insert(0.0) += 1.0;
    }
    counts
}

/// A statistic with its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub pvalue: f64,
}

/// Evidently's chi-square test for categorical features
/// (`evidently/legacy/calculations/stattests/chisquare_stattest.py`):
///
/// - the categories are the union of the distinct values of both samples
///   (`get_unique_not_nan_values_list_from_series`), each counted on each
///   side, 0 where a side lacks it (`{**dict.fromkeys(keys, 0),
///   **value_counts}`);
/// - expected = reference count × n_current / n_reference, observed = the
///   current count, and `scipy.stats.chisquare(observed, expected)` with
///   k − 1 degrees of freedom.
///
/// So a category the reference never saw has expected count 0 and observed
/// count > 0: its term (o − 0)² / 0 is +∞, the statistic is +∞ and the
/// p-value 0 (scipy's answer, with a division warning): a new category is
/// drift. A category the current sample lacks only adds its expected count
/// to the statistic. With a single category on both sides there is no degree
/// of freedom and scipy's p-value is NaN (never below a threshold, so no
/// drift); Evidently's default picks the Z-test there, which answers 1.
pub fn chi_square(reference: &[String], current: &[String]) -> Result<TestResult, DriftError> {
    if reference.is_empty() {
        return Err(DriftError::Empty("reference"));
    }
    if current.is_empty() {
        return Err(DriftError::Empty("current"));
    }
    let (r, c) = (counts(reference), counts(current));
    let keys: std::collections::BTreeSet<&str> = r.keys().chain(c.keys()).copied().collect();
    let scale = current.len() as f64 / reference.len() as f64;
    let mut statistic = 0.0;
    for key in &keys {
        let expected = r.get(key).copied().unwrap_or(0.0) * scale;
        let observed = c.get(key).copied().unwrap_or(0.0);
        statistic += (observed - expected).powi(2) / expected;
    }
    let df = keys.len().saturating_sub(1) as f64;
    let pvalue = if statistic.is_infinite() {
        0.0
    } else if df == 0.0 {
        f64::NAN
    } else {
        chi2_sf(statistic, df)
    };
    Ok(TestResult { statistic, pvalue })
}

/// Evidently's two-proportion Z-test for binary features, two-sided
/// (`z_stattest.py`): the first of the sorted categories of both samples is
/// 0, the other 1, and the shares of 1 are compared with a pooled variance.
/// The same single category on both sides gives p = 1. More than two
/// categories are refused ([`DriftError::NotBinary`]): Evidently would fold
/// all but the first together, but its default never picks the Z-test then,
/// and Outpost does not either ([`StatTest::default_for`]).
pub fn z_test(reference: &[String], current: &[String]) -> Result<TestResult, DriftError> {
    if reference.is_empty() {
        return Err(DriftError::Empty("reference"));
    }
    if current.is_empty() {
        return Err(DriftError::Empty("current"));
    }
    let keys: std::collections::BTreeSet<&str> = reference
        .iter()
        .chain(current)
        .map(String::as_str)
        .collect();
    if keys.len() > 2 {
        return Err(DriftError::NotBinary(keys.len()));
    }
    if keys.len() == 1 {
        return Ok(TestResult {
            statistic: 0.0,
            pvalue: 1.0,
        });
    }
    let first = keys.iter().next().copied().unwrap_or_default();
    let share = |values: &[String]| {
        values.iter().filter(|v| v.as_str() != first).count() as f64 / values.len() as f64
    };
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let (p1, p2) = (share(reference), share(current));
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    // 2 · (1 − Φ(|z|)) as scipy computes it (not the erfc form, for equal digits).
    let cdf = 0.5 * libm::erfc(-z.abs() / std::f64::consts::SQRT_2);
    Ok(TestResult {
        statistic: z,
        pvalue: 2.0 * (1.0 - cdf),
    })
}

/// Survival function of the chi-square distribution: Q(df/2, x/2), the
/// regularised upper incomplete gamma function.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// Regularised upper incomplete gamma Q(a, x): the series below a + 1,
/// Lentz's continued fraction above (Numerical Recipes' gammq).
fn gamma_q(a: f64, x: f64) -> f64 {
    let ln_gamma = libm::lgamma(a);
    if x < a + 1.0 {
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - ln_gamma).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-17 {
                break;
            }
        }
        (-x + a * x.ln() - ln_gamma).exp() * h
    }
}

/// One feature's values: numbers, or category labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Numbers(Vec<f64>),
    Labels(Vec<String>),
}

impl Column {
    /// Types a column of text cells (a CSV column): numbers when every
    /// present cell parses as one, labels otherwise. Missing cells (empty,
    /// `NaN`, `NA`, `null`, as pandas reads them) are dropped, as Evidently
    /// drops missing values before testing.
    pub fn infer(cells: &[&str]) -> Column {
        let present: Vec<&str> = cells
            .iter()
            .map(|c| c.trim())
            .filter(|c| !is_missing(c))
            .collect();
        let numbers: Option<Vec<f64>> = present
            .iter()
            .map(|c| c.parse::<f64>().ok().filter(|x| !x.is_nan()))
            .collect();
        match numbers {
            Some(numbers) if !numbers.is_empty() => Column::Numbers(numbers),
            _ => Column::Labels(present.into_iter().map(str::to_owned).collect()),
        }
    }

    /// The same cells typed like `reference` (numbers only if it is numeric
    /// and they all parse).
    pub fn like(reference: &Column, cells: &[&str]) -> Column {
        match (reference, Column::infer(cells)) {
            (Column::Labels(_), Column::Numbers(_)) => Column::Labels(
                cells
                    .iter()
                    .map(|c| c.trim())
                    .filter(|c| !is_missing(c))
                    .map(str::to_owned)
                    .collect(),
            ),
            (_, column) => column,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Column::Numbers(_) => "numerical",
            Column::Labels(_) => "categorical",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Column::Numbers(v) => v.len(),
            Column::Labels(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numbers with few distinct values are tested as categories, as
    /// Evidently does; their labels are the numbers' shortest decimal form,
    /// with −0 written as 0 (pandas counts them as one value).
    fn labels(&self) -> Vec<String> {
        match self {
            Column::Numbers(v) => v
                .iter()
                .map(|&x| if x == 0.0 { 0.0f64 } else { x }.to_string())
                .collect(),
            Column::Labels(v) => v.clone(),
        }
    }

    /// Distinct values of two columns together (pandas' `nunique` of
    /// `concat([reference, current])`: NaN not counted, −0 equal to 0).
    fn distinct_together(reference: &Column, current: &Column) -> usize {
        match (reference, current) {
            (Column::Numbers(r), Column::Numbers(c)) => {
                let mut all: Vec<f64> =
                    r.iter().chain(c).copied().filter(|x| !x.is_nan()).collect();
                all.sort_by(f64::total_cmp);
                all.dedup();
                all.len()
            }
            _ => {
                let (r, c) = (reference.labels(), current.labels());
                r.iter()
                    .chain(&c)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            }
        }
    }
}

fn is_missing(cell: &str) -> bool {
    matches!(cell, "" | "NaN" | "nan" | "NA" | "null")
}

/// The statistical tests of Evidently's data-drift preset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StatTest {
    Ks,
    ChiSquare,
    ZTest,
    Wasserstein,
    JensenShannon,
    Psi,
    Kl,
}

impl StatTest {
    /// Evidently's default threshold: a p-value below it, or a distance at
    /// or above it, means drift.
    pub fn default_threshold(self) -> f64 {
        match self {
            StatTest::Ks | StatTest::ChiSquare | StatTest::ZTest => 0.05,
            StatTest::Wasserstein | StatTest::JensenShannon | StatTest::Psi | StatTest::Kl => 0.1,
        }
    }

    fn uses_pvalue(self) -> bool {
        matches!(self, StatTest::Ks | StatTest::ChiSquare | StatTest::ZTest)
    }

    /// Evidently's default choice (`_get_default_stattest` in
    /// `evidently/legacy/calculations/stattests/registry.py`), where the
    /// number of distinct values is that of the reference and the current
    /// sample *together* (`pd.concat([reference, current]).nunique()`):
    /// for up to 1 000 reference values, KS for numbers with more than 5
    /// distinct values, chi-square above 2, Z-test for 1 or 2; for larger
    /// references, normed Wasserstein for numbers with more than 5 distinct
    /// values, else Jensen–Shannon. Counting both sides matters: reference
    /// `a, b` against current `a, c` has three categories, so chi-square
    /// (which sees the new `c`), not a Z-test that cannot take three.
    /// The feature's type is the reference's, as Evidently takes it from
    /// the reference data: a numeric reference against text cells still
    /// gets a numeric test, which then reports that it needs numbers.
    pub fn default_for(reference: &Column, current: &Column) -> StatTest {
        let unique = Column::distinct_together(reference, current);
        let numeric = matches!(reference, Column::Numbers(_));
        if reference.len() <= 1000 {
            if numeric && unique > 5 {
                StatTest::Ks
            } else if unique > 2 {
                StatTest::ChiSquare
            } else {
                StatTest::ZTest
            }
        } else if numeric && unique > 5 {
            StatTest::Wasserstein
        } else {
            StatTest::JensenShannon
        }
    }
}

/// One feature's verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FeatureDrift {
    pub test: StatTest,
    /// The p-value for KS, chi-square and Z; the distance otherwise.
    pub score: f64,
    pub threshold: f64,
    pub drifted: bool,
}

/// Evidently's categorical binning: shares per category over the union of
/// categories, empty ones 0.0001.
fn category_shares(reference: &[String], current: &[String]) -> (Vec<f64>, Vec<f64>) {
    let (r, c) = (counts(reference), counts(current));
    let keys: std::collections::BTreeSet<&str> = r.keys().chain(c.keys()).copied().collect();
    let share = |counts: &BTreeMap<&str, f64>, n: usize| -> Vec<f64> {
        keys.iter()
            .map(|k| {
                let s = counts.get(k).copied().unwrap_or(0.0) / n as f64;
                if s == 0.0 { 0.0001 } else { s }
            })
            .collect()
    };
    (share(&r, reference.len()), share(&c, current.len()))
}

/// Tests one feature with `test` (Evidently's default for the two samples,
/// [`StatTest::default_for`], when `None`) against `threshold` (the test's
/// default when `None`). An error says why the feature could not be
/// compared; callers report it with the feature (the registry's
/// `FeatureReport::error`, the wasm client's `not_compared`), never drop it.
pub fn feature_drift(
    reference: &Column,
    current: &Column,
    test: Option<StatTest>,
    threshold: Option<f64>,
) -> Result<FeatureDrift, DriftError> {
    // Every test needs values on both sides; checked here once so that no
    // test divides by an empty sample's length.
    if reference.is_empty() {
        return Err(DriftError::Empty("reference"));
    }
    if current.is_empty() {
        return Err(DriftError::Empty("current"));
    }
    let test = test.unwrap_or_else(|| StatTest::default_for(reference, current));
    let threshold = threshold.unwrap_or_else(|| test.default_threshold());
    let shares = || match (reference, current) {
        (Column::Numbers(r), Column::Numbers(c)) => evidently_bins(r, c, 30),
        _ => Ok(category_shares(&reference.labels(), &current.labels())),
    };
    let numbers = |name: &'static str| match (reference, current) {
        (Column::Numbers(r), Column::Numbers(c)) => Ok((r, c)),
        _ => Err(DriftError::NotNumeric(name)),
    };
    let score = match test {
        StatTest::Ks => {
            let (r, c) = numbers("a KS test")?;
            ks_2samp(r, c)?.pvalue
        }
        StatTest::Wasserstein => {
            let (r, c) = numbers("Wasserstein distance")?;
            wasserstein_normed(r, c)?
        }
        StatTest::ChiSquare => chi_square(&reference.labels(), &current.labels())?.pvalue,
        StatTest::ZTest => z_test(&reference.labels(), &current.labels())?.pvalue,
        StatTest::JensenShannon => {
            let (r, c) = shares()?;
            jensen_shannon(&r, &c)
        }
        StatTest::Psi => {
            let (r, c) = shares()?;
            psi(&r, &c)
        }
        StatTest::Kl => {
            let (r, c) = shares()?;
            kl_divergence(&r, &c)
        }
    };
    let drifted = if test.uses_pvalue() {
        score < threshold
    } else {
        score >= threshold
    };
    Ok(FeatureDrift {
        test,
        score,
        threshold,
        drifted,
    })
}

/// Dataset drift: the share of drifted features, and whether it reaches
/// `share_threshold` (Evidently's default 0.5).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DatasetDrift {
    pub features: usize,
    pub drifted_features: usize,
    pub share: f64,
    pub drifted: bool,
}

pub fn dataset_drift(features: &[FeatureDrift], share_threshold: f64) -> DatasetDrift {
    let drifted_features = features.iter().filter(|f| f.drifted).count();
    let share = if features.is_empty() {
        0.0
    } else {
        drifted_features as f64 / features.len() as f64
    };
    DatasetDrift {
        features: features.len(),
        drifted_features,
        share,
        drifted: !features.is_empty() && share >= share_threshold,
    }
}

/// One named feature's verdict in a [`compare_samples`] result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NamedDrift {
    pub feature: String,
    /// `numerical` or `categorical` ([`Column::kind`] of the reference).
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub drift: FeatureDrift,
}

/// Two samples compared feature by feature: what `outpost drift compare`
/// prints and the Python SDK's `outpost.drift.compare` returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// In the reference's feature order.
    pub features: Vec<NamedDrift>,
    pub dataset: DatasetDrift,
}

/// Why two samples could not be compared. Every variant names the feature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    #[error(
        "feature `{0}` of the reference is missing from the current sample; both need the same features"
    )]
    Missing(String),
    #[error("feature `{0}` has no values in the reference or in the current sample")]
    Empty(String),
    #[error("feature `{feature}` cannot be compared: {error}")]
    Test { feature: String, error: DriftError },
}

/// Compares each reference feature with the current feature of the same
/// name, with Evidently's default test and threshold
/// ([`StatTest::default_for`]), and the dataset against `share_threshold`
/// (Evidently's 0.5). A current feature that came as numbers where the
/// reference is categorical is compared as labels (the numbers' shortest
/// decimal form). Features only the current sample has are ignored.
///
/// Errors: [`CompareError`]; nothing is compared partially.
pub fn compare_samples(
    reference: &[(String, Column)],
    current: &[(String, Column)],
    share_threshold: f64,
) -> Result<Comparison, CompareError> {
    let mut features = Vec::with_capacity(reference.len());
    for (name, reference_column) in reference {
        let current_column = current
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| CompareError::Missing(name.clone()))?;
        let current_column = match (reference_column, current_column) {
            (Column::Labels(_), Column::Numbers(_)) => Column::Labels(current_column.labels()),
            _ => current_column.clone(),
        };
        if reference_column.is_empty() || current_column.is_empty() {
            return Err(CompareError::Empty(name.clone()));
        }
        let drift =
            feature_drift(reference_column, &current_column, None, None).map_err(|error| {
                CompareError::Test {
                    feature: name.clone(),
                    error,
                }
            })?;
        features.push(NamedDrift {
            feature: name.clone(),
            kind: reference_column.kind(),
            drift,
        });
    }
    let verdicts: Vec<FeatureDrift> = features.iter().map(|f| f.drift.clone()).collect();
    Ok(Comparison {
        dataset: dataset_drift(&verdicts, share_threshold),
        features,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn samples_compare_by_feature_name() {
        let numbers = |v: &[f64]| Column::Numbers(v.to_vec());
        let labels = |v: &[&str]| Column::Labels(v.iter().map(|s| s.to_string()).collect());
        let reference = vec![
            ("amount".to_owned(), numbers(&[1.0, 2.0, 3.0, 4.0, 5.0])),
            ("country".to_owned(), labels(&["1", "1", "2", "2"])),
        ];
        // Current in another order; the country codes came as numbers.
        let current = vec![
            ("country".to_owned(), numbers(&[1.0, 1.0, 2.0, 2.0])),
            ("amount".to_owned(), numbers(&[1.0, 2.0, 3.0, 4.0, 5.0])),
        ];
        let result = compare_samples(&reference, &current, 0.5).unwrap();
        let names: Vec<&str> = result.features.iter().map(|f| f.feature.as_str()).collect();
        assert_eq!(names, ["amount", "country"]);
        assert_eq!(result.features[1].kind, "categorical");
        assert!(!result.dataset.drifted && result.features.iter().all(|f| !f.drift.drifted));
        assert_eq!(
            compare_samples(&reference, &current[..1], 0.5).unwrap_err(),
            CompareError::Missing("amount".into())
        );
        let empty = vec![("amount".to_owned(), numbers(&[])), current[0].clone()];
        assert_eq!(
            compare_samples(&reference, &empty, 0.5).unwrap_err(),
            CompareError::Empty("amount".into())
        );
    }

    #[test]
    fn empty_and_nan_samples_are_errors() {
        assert_eq!(ks_2samp(&[], &[1.0]), Err(DriftError::Empty("reference")));
        assert_eq!(
            wasserstein(&[1.0], &[f64::NAN]),
            Err(DriftError::NaN("current"))
        );
        assert_eq!(
            z_test(&["a".into(), "b".into()], &["c".into()]),
            Err(DriftError::NotBinary(3))
        );
    }

    #[test]
    fn identical_samples_do_not_drift() {
        let x = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(
            ks_2samp(&x, &x).unwrap(),
            KsResult {
                statistic: 0.0,
                pvalue: 1.0
            }
        );
        assert_eq!(wasserstein(&x, &x).unwrap(), 0.0);
        let (r, c) = evidently_bins(&x, &x, 30).unwrap();
        assert_eq!(psi(&r, &c), 0.0);
    }

    #[test]
    fn evidently_default_tests_by_size_and_cardinality() {
        let many = Column::Numbers((0..100).map(f64::from).collect());
        let few = Column::Numbers((0..100).map(|i| f64::from(i % 4)).collect());
        let binary = Column::Labels(
            (0..100)
                .map(|i| if i % 3 == 0 { "y" } else { "n" }.into())
                .collect(),
        );
        let big = Column::Numbers((0..2000).map(f64::from).collect());
        let big_labels = Column::Labels((0..2000).map(|i| format!("c{}", i % 7)).collect());
        let default = |c: &Column| StatTest::default_for(c, c);
        assert_eq!(default(&many), StatTest::Ks);
        assert_eq!(default(&few), StatTest::ChiSquare);
        assert_eq!(default(&binary), StatTest::ZTest);
        assert_eq!(default(&big), StatTest::Wasserstein);
        assert_eq!(default(&big_labels), StatTest::JensenShannon);
    }

    fn labels(values: &[&str]) -> Column {
        Column::Labels(values.iter().map(|v| (*v).to_owned()).collect())
    }

    /// Reference `a, b`, current `a, c`: three categories together, so
    /// chi-square (Evidently), and the new `c` makes p = 0. It was a Z-test
    /// refusing three categories (CLI) or a dropped column (wasm client).
    #[test]
    fn categories_are_counted_over_both_samples() {
        let (reference, current) = (labels(&["a", "b"]), labels(&["a", "c"]));
        assert_eq!(
            StatTest::default_for(&reference, &current),
            StatTest::ChiSquare
        );
        let verdict = feature_drift(&reference, &current, None, None).unwrap();
        assert_eq!(
            (verdict.test, verdict.score, verdict.drifted),
            (StatTest::ChiSquare, 0.0, true)
        );
        let chi = chi_square(&reference.labels(), &current.labels()).unwrap();
        assert_eq!(chi.statistic, f64::INFINITY);
        // Numbers with few values count the same way: 0, 1 against 0, 2.
        let (r, c) = (
            Column::Numbers(vec![0.0, 1.0]),
            Column::Numbers(vec![0.0, 2.0]),
        );
        assert_eq!(StatTest::default_for(&r, &c), StatTest::ChiSquare);
        // −0 and 0 are one value, as in pandas.
        let signed = Column::Numbers(vec![-0.0, 1.0]);
        assert_eq!(
            StatTest::default_for(&signed, &Column::Numbers(vec![0.0, 1.0])),
            StatTest::ZTest
        );
        assert_eq!(signed.labels(), ["0", "1"]);
    }

    #[test]
    fn one_or_two_categories_take_the_z_test() {
        let same = labels(&["a", "a", "a"]);
        let verdict = feature_drift(&same, &labels(&["a", "a"]), None, None).unwrap();
        assert_eq!(
            (verdict.test, verdict.score, verdict.drifted),
            (StatTest::ZTest, 1.0, false)
        );
        // One category each side, different ones: two together.
        let verdict = feature_drift(&same, &labels(&["b", "b"]), None, None).unwrap();
        assert_eq!(verdict.test, StatTest::ZTest);
        assert!(verdict.drifted, "{verdict:?}");
        // Chi-square asked for on one category: no degree of freedom, NaN
        // as scipy, and NaN is never drift.
        let chi = feature_drift(&same, &same, Some(StatTest::ChiSquare), None).unwrap();
        assert!(chi.score.is_nan() && !chi.drifted, "{chi:?}");
        // A Z-test asked for on three categories says why it cannot run.
        assert_eq!(
            feature_drift(
                &labels(&["a", "b"]),
                &labels(&["a", "c"]),
                Some(StatTest::ZTest),
                None
            ),
            Err(DriftError::NotBinary(3))
        );
    }

    /// scipy 1.17.1: ks_2samp(arange(100), arange(101) + 60.5) has
    /// p = 1.6782380462357522e-18; 1 − P(inside) gave 0.
    #[test]
    fn tiny_exact_ks_p_values_keep_their_digits() {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = (0..101).map(|i| f64::from(i) + 60.5).collect();
        let ks = ks_2samp(&x, &y).unwrap();
        let want = 1.678_238_046_235_752_2e-18;
        assert!(
            (ks.pvalue - want).abs() <= 1e-9 * want,
            "{:e} vs {want:e}",
            ks.pvalue
        );
        // Symmetric in the samples.
        assert_eq!(ks_2samp(&y, &x).unwrap().pvalue, ks.pvalue);
    }

    #[test]
    fn the_outside_band_probability_is_a_probability() {
        // Large p agrees with the complement of the inside count; every
        // value is within [0, 1] and falls as h grows.
        for (m, n) in [(7u64, 5u64), (30, 17), (60, 45), (101, 100)] {
            let g = gcd(m, n);
            let lcm = m / g * n;
            let mut last = 1.0;
            for h in 1..=lcm {
                let p = prob_outside_band(m, n, g, h);
                assert!((0.0..=1.0).contains(&p), "{m} {n} {h}: {p}");
                assert!(p <= last + 1e-15, "{m} {n} {h}: {p} after {last}");
                last = p;
            }
            assert!(prob_outside_band(m, n, g, lcm) > 0.0);
        }
    }

    #[test]
    fn features_and_the_dataset_drift_by_their_thresholds() {
        let reference = Column::Numbers((0..200).map(|i| f64::from(i % 50)).collect());
        let same = feature_drift(&reference, &reference, None, None).unwrap();
        assert_eq!((same.test, same.drifted), (StatTest::Ks, false));
        let shifted = Column::Numbers((0..200).map(|i| f64::from(i % 50) + 30.0).collect());
        let moved = feature_drift(&reference, &shifted, None, None).unwrap();
        assert!(moved.drifted && moved.score < 0.05, "{moved:?}");
        let psi = feature_drift(&reference, &shifted, Some(StatTest::Psi), Some(0.2)).unwrap();
        assert!(psi.drifted && psi.threshold == 0.2);
        let report = dataset_drift(&[same.clone(), moved.clone()], 0.5);
        assert_eq!(
            (report.drifted_features, report.share, report.drifted),
            (1, 0.5, true)
        );
        assert!(!dataset_drift(&[same], 0.5).drifted);
        assert!(!dataset_drift(&[], 0.5).drifted);
        let labels = Column::Labels(vec!["a".into()]);
        assert_eq!(
            feature_drift(&labels, &labels, Some(StatTest::Ks), None),
            Err(DriftError::NotNumeric("a KS test"))
        );
    }

    #[test]
    fn csv_cells_are_typed_as_numbers_or_labels() {
        assert_eq!(
            Column::infer(&["1", " 2.5", "", "3e2"]),
            Column::Numbers(vec![1.0, 2.5, 300.0])
        );
        assert_eq!(
            Column::infer(&["a", "1", ""]),
            Column::Labels(vec!["a".into(), "1".into()])
        );
        let labels = Column::Labels(vec!["x".into()]);
        assert_eq!(
            Column::like(&labels, &["1", "2"]),
            Column::Labels(vec!["1".into(), "2".into()])
        );
        assert_eq!(
            Column::infer(&["NaN", "1", "NA"]),
            Column::Numbers(vec![1.0])
        );
    }

    #[test]
    fn chi2_survival_function_known_values() {
        // scipy.stats.chi2.sf(3.84145882069412, 1) = 0.05; chi2.sf(10, 4) = 0.04042768199451279
        assert!((chi2_sf(3.841_458_820_694_12, 1.0) - 0.05).abs() < 1e-12);
        assert!((chi2_sf(10.0, 4.0) - 0.040_427_681_994_512_79).abs() < 1e-15);
    }
}
