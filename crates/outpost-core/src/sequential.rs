//! A canary judged against its control: is the canary's error rate higher
//! than the stable arm's at the same stage over the same time? Asked again
//! on every cron run (every five minutes), so the test must stay valid when
//! it is peeked at: a fixed-sample z-test checked that often would raise a
//! false alarm on most equal canaries sooner or later.
//!
//! The test is the mixture sequential probability ratio test (mSPRT) of
//! Johari, Koomen, Pekelis and Walsh, "Peeking at A/B Tests: Why it matters,
//! and what to do about it" (KDD 2017), for the difference of two means
//! under the normal approximation: with θ̂ the difference of the error rates
//! (canary − control), V its variance under H₀ (the pooled rate p̄,
//! V = p̄(1 − p̄)(1/n_canary + 1/n_control)) and a normal mixing
//! distribution N(0, τ²) over the true difference,
//!
//! ```text
//! Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))
//! ```
//!
//! Λ is a nonnegative martingale under H₀, so by Ville's inequality the
//! chance that it *ever* reaches 1/α is at most α, however often it is
//! looked at. The canary is declared worse the first time Λ ≥ 1/α with
//! θ̂ > 0 (one-sided, so the false-alarm rate is at most α). The
//! guarantee rests on the normal approximation; `tests::
//! equal_canaries_trip_at_most_at_the_stated_rate` measures it by
//! simulation (and `docs/` states the figure).

use serde::{Deserialize, Serialize};

/// τ: the size of difference in error rates the test is tuned to find
/// (five percentage points). Larger differences are found faster, smaller
/// ones more slowly; none changes the false-alarm guarantee.
pub const MIXING_SD: f64 = 0.05;

/// Calls each arm needs before it is compared at all (the normal
/// approximation needs some).
pub const MIN_CALLS_PER_ARM: u64 = 30;

/// The comparison at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArmComparison {
    pub canary_rate: f64,
    pub control_rate: f64,
    /// The evidence ratio Λ (1 = no evidence either way).
    pub evidence: f64,
    /// 1/Λ, capped at 1: an always-valid p-value at this look.
    pub p_value: f64,
    /// Λ ≥ 1/α and the canary's rate is the higher.
    pub canary_worse: bool,
}

/// Compares the canary's `(errors, calls)` with the control's at false-alarm
/// rate `alpha` (0 < α < 1). `None` while either arm has fewer than
/// [`MIN_CALLS_PER_ARM`] calls.
pub fn compare_error_rates(
    canary: (u64, u64),
    control: (u64, u64),
    alpha: f64,
) -> Option<ArmComparison> {
    let ((ea, na), (eb, nb)) = (canary, control);
    if na < MIN_CALLS_PER_ARM || nb < MIN_CALLS_PER_ARM || ea > na || eb > nb {
        return None;
    }
    let (pa, pb) = (ea as f64 / na as f64, eb as f64 / nb as f64);
    let pooled = (ea + eb) as f64 / (na + nb) as f64;
    let v = pooled * (1.0 - pooled) * (1.0 / na as f64 + 1.0 / nb as f64);
    let theta = pa - pb;
    let tau2 = MIXING_SD * MIXING_SD;
    let evidence = if v > 0.0 {
        (v / (v + tau2)).sqrt() * (tau2 * theta * theta / (2.0 * v * (v + tau2))).exp()
    } else {
        // No errors (or only errors) on both sides: no evidence of a difference.
        1.0
    };
    Some(ArmComparison {
        canary_rate: pa,
        control_rate: pb,
        evidence,
        p_value: (1.0 / evidence).min(1.0),
        canary_worse: theta > 0.0 && evidence >= 1.0 / alpha,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// A small deterministic generator (SplitMix64) for the simulations.
    struct Rng(u64);
    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }
        fn errors(&mut self, calls: u64, rate: f64) -> u64 {
            (0..calls).filter(|_| self.unit() < rate).count() as u64
        }
    }

    /// Runs `runs` canaries for a day of five-minute checks (288), each arm
    /// getting 10 to 40 calls between checks; the share of runs in which the
    /// canary was ever declared worse.
    fn trip_rate(canary_rate: f64, control_rate: f64, alpha: f64, runs: u32) -> f64 {
        let mut rng = Rng(20_261_130);
        let mut tripped = 0;
        for _ in 0..runs {
            let (mut a, mut b) = ((0, 0), (0, 0));
            for _ in 0..288 {
                let (na, nb) = (
                    10 + (rng.unit() * 31.0) as u64,
                    10 + (rng.unit() * 31.0) as u64,
                );
                a = (a.0 + rng.errors(na, canary_rate), a.1 + na);
                b = (b.0 + rng.errors(nb, control_rate), b.1 + nb);
                if compare_error_rates(a, b, alpha).is_some_and(|c| c.canary_worse) {
                    tripped += 1;
                    break;
                }
            }
        }
        f64::from(tripped) / f64::from(runs)
    }

    #[test]
    fn equal_canaries_trip_at_most_at_the_stated_rate() {
        // 400 simulated days of 288 looks each: the share of equal canaries
        // ever rolled back stays under α = 0.05 (docs state the figure).
        let rate = trip_rate(0.05, 0.05, 0.05, 400);
        println!("equal canaries rolled back within a day: {rate}");
        assert!(rate <= 0.05, "false-alarm rate {rate}");
    }

    #[test]
    fn a_clearly_worse_canary_is_found() {
        let rate = trip_rate(0.12, 0.05, 0.05, 100);
        println!("12 % against 5 %: found in {rate} of days");
        assert!(rate >= 0.95, "power {rate}");
    }

    #[test]
    fn a_better_canary_is_never_worse() {
        assert_eq!(trip_rate(0.01, 0.08, 0.05, 100), 0.0);
    }

    #[test]
    fn small_arms_are_not_compared() {
        assert!(compare_error_rates((5, 29), (0, 1000), 0.05).is_none());
        let c = compare_error_rates((0, 100), (0, 100), 0.05).unwrap();
        assert_eq!((c.evidence, c.canary_worse), (1.0, false));
        assert!(compare_error_rates((11, 10), (0, 100), 0.05).is_none());
    }
}
