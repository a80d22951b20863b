//! Sticky rollout routing: which version a device gets for `model@stage`.
//!
//! A device's bucket is a keyed hash of (org, model, device id) mod 10 000, so
//! the same device always lands in the same bucket, buckets are uniform, and
//! nobody without the salt can steer a device id into a chosen bucket. A
//! rollout maps bucket ranges to versions: the canary takes buckets
//! `0 .. w·100`, then each A/B variant the next range, and the stable version
//! the rest. Because the ranges are cumulative from 0, raising the canary
//! weight only moves devices from stable to canary, never back.

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Hasher;
use crate::lifecycle::{ArmKind, FULL_WEIGHT, StageState, Target};

/// Number of buckets; weights are in the same unit (basis points).
pub const BUCKETS: u32 = FULL_WEIGHT;

/// The bucket of a device, in `0..BUCKETS`.
pub fn bucket_for(salt: &[u8], org: &str, model: &str, device: &str) -> u32 {
    let mut hasher = Sha256Hasher::new();
    hasher.update(b"outpost-bucket-v1\0");
    for part in [salt, org.as_bytes(), model.as_bytes(), device.as_bytes()] {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finish().digest;
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    // 2^64 is not a multiple of 10 000, but the bias is below 1e-15.
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u32
}

/// A weighted arm of a rollout (canary or an A/B variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Arm {
    pub version: String,
    /// Basis points (0–10 000, 1 = 0.01 %).
    pub weight: u32,
}

/// How one stage of one model splits its traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RolloutPolicy {
    pub stable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Arm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Arm>,
    /// Run by clients alongside the answer, reporting telemetry only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    #[error(
        "weights add up to {0} basis points; at most 10000 (100 %) can be split off the stable version"
    )]
    Overweight(u32),
    #[error("arm `{0}` has weight 0; remove it instead")]
    ZeroWeight(String),
    #[error("version {0} appears twice in the rollout")]
    Duplicate(String),
    #[error(
        "the shadow {0} already serves traffic in this rollout; a shadow runs beside the answer"
    )]
    ShadowServes(String),
}

/// Where a device was routed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Assignment {
    pub version: String,
    pub bucket: u32,
    pub arm: ArmKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

impl RolloutPolicy {
    pub fn stable(version: &str) -> Self {
        Self {
            stable: version.to_owned(),
            canary: None,
            variants: Vec::new(),
            shadow: None,
        }
    }

    fn arms(&self) -> impl Iterator<Item = (&Arm, ArmKind)> {
        self.canary
            .iter()
            .map(|arm| (arm, ArmKind::Canary))
            .chain(self.variants.iter().map(|arm| (arm, ArmKind::Variant)))
    }

    /// The rollout a stage's state describes (None: nothing deployed).
    /// Inverse of [`RolloutPolicy::stage_state`].
    pub fn from_state(state: &StageState) -> Option<Self> {
        let stable = state.primary()?.to_owned();
        let arm = |t: &Target| Arm {
            version: t.version.clone(),
            weight: t.weight,
        };
        Some(Self {
            stable,
            canary: state
                .targets
                .iter()
                .find(|t| t.arm == ArmKind::Canary)
                .map(arm),
            variants: state
                .targets
                .iter()
                .filter(|t| t.arm == ArmKind::Variant)
                .map(arm)
                .collect(),
            shadow: state.shadow.clone(),
        })
    }

    /// The versions this rollout would newly bring into a stage now in
    /// `current`: the ones that must pass the promotion gates first.
    pub fn entering<'a>(&'a self, current: &StageState) -> Vec<&'a str> {
        self.versions()
            .filter(|v| !current.versions().any(|c| c == *v))
            .collect()
    }

    /// Every version this rollout sends traffic or shadow copies to.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.stable.as_str())
            .chain(self.arms().map(|(arm, _)| arm.version.as_str()))
            .chain(self.shadow.as_deref())
    }

    pub fn validate(&self) -> Result<(), RolloutError> {
        let mut total = 0u32;
        let mut seen = vec![self.stable.as_str()];
        for (arm, _) in self.arms() {
            if arm.weight == 0 {
                return Err(RolloutError::ZeroWeight(arm.version.clone()));
            }
            if seen.contains(&arm.version.as_str()) {
                return Err(RolloutError::Duplicate(arm.version.clone()));
            }
            seen.push(&arm.version);
            total = total.saturating_add(arm.weight);
        }
        if let Some(shadow) = &self.shadow
            && seen.contains(&shadow.as_str())
        {
            return Err(RolloutError::ShadowServes(shadow.clone()));
        }
        if total > BUCKETS {
            return Err(RolloutError::Overweight(total));
        }
        Ok(())
    }

    /// The version for a bucket: canary first, then variants, then stable.
    pub fn route(&self, bucket: u32) -> Assignment {
        let mut upper = 0u32;
        for (arm, kind) in self.arms() {
            upper = upper.saturating_add(arm.weight);
            if bucket < upper {
                return self.assignment(&arm.version, bucket, kind);
            }
        }
        self.assignment(&self.stable, bucket, ArmKind::Stable)
    }

    /// A shadow equal to the version a device runs would only run it twice:
    /// such a device gets no shadow (resolve and predict alike).
    fn assignment(&self, version: &str, bucket: u32, arm: ArmKind) -> Assignment {
        Assignment {
            version: version.to_owned(),
            bucket,
            arm,
            shadow: self.shadow.clone().filter(|shadow| shadow != version),
        }
    }

    /// The stage record this rollout corresponds to: the stable version
    /// first (kept at weight 0 when the arms take everything, so it is still
    /// what the stage falls back to), then the arms in routing order.
    pub fn stage_state(&self) -> StageState {
        let split: u32 = self.arms().map(|(arm, _)| arm.weight).sum();
        let stable = Target {
            version: self.stable.clone(),
            weight: BUCKETS.saturating_sub(split),
            arm: ArmKind::Stable,
        };
        let targets = std::iter::once(stable)
            .chain(self.arms().map(|(arm, kind)| Target {
                version: arm.version.clone(),
                weight: arm.weight,
                arm: kind,
            }))
            .collect();
        StageState {
            targets,
            shadow: self.shadow.clone(),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const SALT: &[u8] = b"test salt";

    fn devices() -> impl Iterator<Item = String> {
        (0..10_000).map(|i| format!("device-{i:05}"))
    }

    fn canary(weight: u32) -> RolloutPolicy {
        RolloutPolicy {
            canary: Some(Arm {
                version: "2.0.0".into(),
                weight,
            }),
            ..RolloutPolicy::stable("1.0.0")
        }
    }

    #[test]
    fn buckets_are_sticky_and_keyed() {
        let a = bucket_for(SALT, "acme", "fraud", "device-1");
        assert_eq!(a, bucket_for(SALT, "acme", "fraud", "device-1"));
        assert!(a < BUCKETS);
        // Another salt, org or model reshuffles devices.
        let moved = devices()
            .filter(|d| {
                bucket_for(SALT, "acme", "fraud", d) != bucket_for(b"other", "acme", "fraud", d)
            })
            .count();
        assert!(moved > 9_900, "{moved}");
        let across_models = devices()
            .filter(|d| {
                bucket_for(SALT, "acme", "fraud", d) != bucket_for(SALT, "acme", "anomaly", d)
            })
            .count();
        assert!(across_models > 9_900, "{across_models}");
        // Field boundaries matter: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            bucket_for(SALT, "ab", "c", "d"),
            bucket_for(SALT, "a", "bc", "d")
        );
    }

    #[test]
    fn ten_percent_canary_gets_ten_percent_of_devices() {
        let policy = canary(1_000);
        policy.validate().unwrap();
        let on_canary = devices()
            .filter(|d| policy.route(bucket_for(SALT, "acme", "fraud", d)).version == "2.0.0")
            .count();
        assert!(
            (900..=1_100).contains(&on_canary),
            "10 % ± 1 pp of 10 000: {on_canary}"
        );
    }

    #[test]
    fn raising_the_weight_never_moves_a_device_back_to_stable() {
        let (ten, twenty) = (canary(1_000), canary(2_000));
        let mut gained = 0;
        for device in devices() {
            let bucket = bucket_for(SALT, "acme", "fraud", &device);
            let before = ten.route(bucket);
            let after = twenty.route(bucket);
            if before.arm == ArmKind::Canary {
                assert_eq!(after.arm, ArmKind::Canary, "{device} left the canary");
            } else if after.arm == ArmKind::Canary {
                gained += 1;
            }
            assert_eq!(ten.route(bucket), before, "sticky");
        }
        assert!(
            (800..=1_200).contains(&gained),
            "about another 10 %: {gained}"
        );
    }

    #[test]
    fn a_shadow_equal_to_the_routed_version_is_no_shadow() {
        // Stored states may carry one (validate refuses it for new rollouts):
        // devices on that version get no shadow, the others keep it.
        let policy = RolloutPolicy {
            canary: Some(Arm {
                version: "2.0.0".into(),
                weight: 1_000,
            }),
            shadow: Some("1.0.0".into()),
            ..RolloutPolicy::stable("1.0.0")
        };
        assert_eq!(policy.route(9_999).shadow, None);
        assert_eq!(policy.route(0).shadow.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn ab_variants_split_after_the_canary_and_shadow_rides_along() {
        let policy = RolloutPolicy {
            stable: "1.0.0".into(),
            canary: Some(Arm {
                version: "2.0.0".into(),
                weight: 500,
            }),
            variants: vec![
                Arm {
                    version: "3.0.0-a".into(),
                    weight: 2_500,
                },
                Arm {
                    version: "3.0.0-b".into(),
                    weight: 2_500,
                },
            ],
            shadow: Some("4.0.0".into()),
        };
        policy.validate().unwrap();
        assert_eq!(policy.route(0).version, "2.0.0");
        assert_eq!(policy.route(499).version, "2.0.0");
        assert_eq!(policy.route(500).version, "3.0.0-a");
        assert_eq!(policy.route(2_999).version, "3.0.0-a");
        assert_eq!(policy.route(3_000).version, "3.0.0-b");
        assert_eq!(policy.route(5_500).version, "1.0.0");
        assert_eq!(policy.route(9_999).shadow.as_deref(), Some("4.0.0"));
        let state = policy.stage_state();
        assert_eq!(state.targets.iter().map(|t| t.weight).sum::<u32>(), BUCKETS);
        assert_eq!(state.primary(), Some("1.0.0"));
        assert_eq!(RolloutPolicy::from_state(&state), Some(policy.clone()));
        // The whole split off stable: stable is kept at weight 0.
        let all_canary = canary(10_000);
        let state = all_canary.stage_state();
        assert_eq!(state.primary(), Some("1.0.0"));
        assert_eq!(state.targets[0].weight, 0);
        assert_eq!(RolloutPolicy::from_state(&state), Some(all_canary));
        // Only versions new to the stage face the gates.
        let current = canary(1_000).stage_state();
        assert_eq!(
            policy.entering(&current),
            vec!["3.0.0-a", "3.0.0-b", "4.0.0"]
        );
        assert!(canary(2_000).entering(&current).is_empty());
        // A plain promotion's state is a stable-only rollout.
        assert_eq!(
            RolloutPolicy::from_state(&StageState::single("1.0.0")),
            Some(RolloutPolicy::stable("1.0.0"))
        );
        assert_eq!(RolloutPolicy::from_state(&StageState::default()), None);
        // The stored JSON of a single target stays as before rollouts existed.
        assert_eq!(
            serde_json::to_value(StageState::single("1.0.0")).unwrap(),
            serde_json::json!({"targets": [{"version": "1.0.0", "weight": 10_000}]})
        );
    }

    #[test]
    fn weights_are_validated() {
        assert_eq!(
            canary(10_001).validate(),
            Err(RolloutError::Overweight(10_001))
        );
        assert_eq!(
            canary(0).validate(),
            Err(RolloutError::ZeroWeight("2.0.0".into()))
        );
        let dup = RolloutPolicy {
            canary: Some(Arm {
                version: "1.0.0".into(),
                weight: 1,
            }),
            ..RolloutPolicy::stable("1.0.0")
        };
        assert_eq!(dup.validate(), Err(RolloutError::Duplicate("1.0.0".into())));
        let shadow_serves = RolloutPolicy {
            shadow: Some("2.0.0".into()),
            ..canary(1_000)
        };
        assert_eq!(
            shadow_serves.validate(),
            Err(RolloutError::ShadowServes("2.0.0".into()))
        );
        // 0.01 % steps: a single bucket.
        let tiny = canary(1);
        assert_eq!(tiny.route(0).arm, ArmKind::Canary);
        assert_eq!(tiny.route(1).arm, ArmKind::Stable);
        assert_eq!(canary(10_000).route(9_999).arm, ArmKind::Canary);
    }
}
