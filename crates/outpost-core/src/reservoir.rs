//! A bounded uniform sample of a stream of numbers (Vitter's algorithm R),
//! which merges with another one by weighted sampling (Efraimidis–Spirakis),
//! so that telemetry windows from many devices and intervals add up to one
//! sample that still represents all of them — what KS and Wasserstein need,
//! which histograms cannot give.
//!
//! The randomness is a SplitMix64 stream seeded from the values themselves
//! and combined by wrapping addition when merging: the core stays pure and
//! deterministic (same inputs, same sample), and merging stays associative
//! while the sample is below capacity.

use serde::{Deserialize, Serialize};

/// Most values one reservoir may hold.
pub const MAX_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reservoir {
    pub capacity: usize,
    /// Values offered so far (the population the sample stands for).
    pub seen: u64,
    pub values: Vec<f64>,
    #[serde(default)]
    pub state: u64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in (0, 1].
fn unit(state: &mut u64) -> f64 {
    ((splitmix(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

impl Reservoir {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.min(MAX_CAPACITY),
            seen: 0,
            values: Vec::new(),
            state: 0,
        }
    }

    /// Offers one value; NaN (a missing value) is not sampled.
    pub fn record(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        self.seen += 1;
        self.state = self.state.wrapping_add(value.to_bits());
        if self.values.len() < self.capacity {
            self.values.push(value);
            return;
        }
        let slot = splitmix(&mut self.state) % self.seen;
        if let Some(kept) = self.values.get_mut(slot as usize) {
            *kept = value;
        }
    }

    /// Combines two samples into one of this reservoir's capacity (or the
    /// other's, if larger). Below capacity the values are kept in order;
    /// above it each value is drawn with weight seen/len of its side.
    pub fn merge(&mut self, other: &Reservoir) {
        self.capacity = self.capacity.max(other.capacity);
        self.state = self.state.wrapping_add(other.state);
        let seen = self.seen + other.seen;
        if self.values.len() + other.values.len() <= self.capacity {
            self.values.extend_from_slice(&other.values);
            self.seen = seen;
            return;
        }
        let weight = |r: &Reservoir| {
            if r.values.is_empty() {
                0.0
            } else {
                r.seen as f64 / r.values.len() as f64
            }
        };
        let (wa, wb) = (weight(self), weight(other));
        let mut rng = self.state;
        // Efraimidis–Spirakis: key u^(1/w), keep the largest keys.
        let mut keyed: Vec<(f64, f64)> = self
            .values
            .iter()
            .map(|&v| (v, wa))
            .chain(other.values.iter().map(|&v| (v, wb)))
            .map(|(v, w)| (unit(&mut rng).ln() / w, v))
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        keyed.truncate(self.capacity);
        self.values = keyed.into_iter().map(|(_, v)| v).collect();
        self.seen = seen;
    }

    /// Checks a reservoir received from outside.
    pub fn validate(&self) -> Result<(), SampleError> {
        if self.capacity > MAX_CAPACITY {
            return Err(SampleError(format!(
                "a sample's capacity is at most {MAX_CAPACITY}, got {}",
                self.capacity
            )));
        }
        if self.values.len() > self.capacity {
            return Err(SampleError(format!(
                "a sample holds {} values over its capacity {}",
                self.values.len(),
                self.capacity
            )));
        }
        if (self.values.len() as u64) > self.seen {
            return Err(SampleError(format!(
                "a sample holds {} values but saw only {}",
                self.values.len(),
                self.seen
            )));
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return Err(SampleError(
                "a sample holds a value that is not a finite number".into(),
            ));
        }
        Ok(())
    }
}

/// Why a sample received from outside is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SampleError(String);

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_below_capacity_and_skips_missing_values() {
        let mut r = Reservoir::new(5);
        for v in [1.0, f64::NAN, 2.0, 3.0] {
            r.record(v);
        }
        assert_eq!(r.values, [1.0, 2.0, 3.0]);
        assert_eq!(r.seen, 3);
    }

    #[test]
    fn a_full_reservoir_is_a_uniform_sample() {
        // 100 000 values 0..100 000 into 2 000 slots: the sample's mean is
        // near the stream's (49 999.5) and every decile is represented.
        let mut r = Reservoir::new(2000);
        for i in 0..100_000 {
            r.record(i as f64);
        }
        assert_eq!(r.values.len(), 2000);
        assert_eq!(r.seen, 100_000);
        let mean = r.values.iter().sum::<f64>() / 2000.0;
        assert!((mean - 49_999.5).abs() < 2_500.0, "mean {mean}");
        for decile in 0..10 {
            let lo = decile as f64 * 10_000.0;
            let n = r
                .values
                .iter()
                .filter(|&&v| v >= lo && v < lo + 10_000.0)
                .count();
            assert!((120..=280).contains(&n), "decile {decile}: {n}");
        }
    }

    #[test]
    fn merging_weighs_each_side_by_what_it_saw() {
        // 90 000 zeros sampled into 100 slots, merged with 10 000 ones in
        // 100 slots: about 90 % of the merged 100 are zeros.
        let mut zeros = Reservoir::new(100);
        for _ in 0..90_000 {
            zeros.record(0.0);
        }
        let mut ones = Reservoir::new(100);
        for _ in 0..10_000 {
            ones.record(1.0);
        }
        zeros.merge(&ones);
        assert_eq!(zeros.seen, 100_000);
        assert_eq!(zeros.values.len(), 100);
        let share = zeros.values.iter().filter(|&&v| v == 0.0).count();
        assert!((80..=98).contains(&share), "{share} zeros");
    }

    #[test]
    fn merging_below_capacity_is_associative() {
        let sample = |vs: &[f64]| {
            let mut r = Reservoir::new(10);
            vs.iter().for_each(|&v| r.record(v));
            r
        };
        let (a, b, c) = (sample(&[1.0]), sample(&[2.0, 3.0]), sample(&[4.0]));
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a;
        right.merge(&bc);
        assert_eq!(left, right);
    }

    #[test]
    fn received_reservoirs_are_validated() {
        let mut r = Reservoir::new(2);
        r.record(1.0);
        assert!(r.validate().is_ok());
        r.values.push(2.0);
        assert!(r.validate().unwrap_err().to_string().contains("saw only 1"));
        r.seen = 5;
        r.values.push(3.0);
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("over its capacity")
        );
        r.values = vec![f64::INFINITY];
        assert!(r.validate().unwrap_err().to_string().contains("finite"));
    }
}
