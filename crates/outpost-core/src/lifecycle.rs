//! The model lifecycle: stages, their history, promotion gates, deletion and
//! retention rules.
//!
//! A stage's current state is never stored on its own: it is the newest entry
//! of that stage's append-only deployment history. So the state can always be
//! rebuilt from the history ([`replay`]), rollbacks are new entries, and
//! concurrent promotions are serialised by the history's unique sequence.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::query::{CompareOp, MetricFilter};

/// Where a version can be deployed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Development,
    Staging,
    Canary,
    Production,
    /// Deprecated versions kept for reference.
    Archived,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Development,
        Stage::Staging,
        Stage::Canary,
        Stage::Production,
        Stage::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Development => "development",
            Stage::Staging => "staging",
            Stage::Canary => "canary",
            Stage::Production => "production",
            Stage::Archived => "archived",
        }
    }

    /// Stages that serve devices for real: nothing reaches them without a
    /// release signature, so a compromised Worker cannot stage its own
    /// artifact there.
    pub fn requires_release(self) -> bool {
        matches!(self, Stage::Canary | Stage::Production)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage `{0}`; use development, staging, canary, production or archived")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| UnknownStage(s.chars().take(40).collect()))
    }
}

/// Weights are in basis points: 10 000 = 100 %.
pub const FULL_WEIGHT: u32 = 10_000;

/// Which arm of a rollout a target is: the stable version takes whatever the
/// canary and the A/B variants leave.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArmKind {
    #[default]
    Stable,
    Canary,
    Variant,
}

impl ArmKind {
    pub fn is_stable(&self) -> bool {
        *self == ArmKind::Stable
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ArmKind::Stable => "stable",
            ArmKind::Canary => "canary",
            ArmKind::Variant => "variant",
        }
    }
}

/// One version a stage sends traffic to, with its share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    pub version: String,
    pub weight: u32,
    #[serde(default, skip_serializing_if = "ArmKind::is_stable")]
    pub arm: ArmKind,
}

/// What a stage points at: one version today; a weighted set (canary, A/B)
/// and a shadow fit the same record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageState {
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

impl StageState {
    pub fn single(version: &str) -> Self {
        Self {
            targets: vec![Target {
                version: version.to_owned(),
                weight: FULL_WEIGHT,
                arm: ArmKind::Stable,
            }],
            shadow: None,
        }
    }

    /// The stable version: the one a rollout falls back to, and the only
    /// one for single targets.
    pub fn primary(&self) -> Option<&str> {
        self.targets
            .iter()
            .find(|t| t.arm.is_stable())
            .or_else(|| self.targets.iter().max_by_key(|t| t.weight))
            .map(|t| t.version.as_str())
    }

    /// Every version this state references.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.targets
            .iter()
            .map(|t| t.version.as_str())
            .chain(self.shadow.as_deref())
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.shadow.is_none()
    }

    /// This state with `version` gone from every arm and the shadow: what a
    /// force-deletion leaves of a stage that used it.
    pub fn without_version(&self, version: &str) -> StageState {
        StageState {
            targets: self
                .targets
                .iter()
                .filter(|t| t.version != version)
                .cloned()
                .collect(),
            shadow: self.shadow.clone().filter(|s| s != version),
        }
    }
}

/// Why a stage moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    Promote,
    Rollback,
    /// The stage's traffic split (canary, A/B variants, shadow) changed.
    Rollout,
    /// A version the stage pointed at was force-deleted.
    Cleared,
}

impl Move {
    pub const ALL: [Move; 4] = [Move::Promote, Move::Rollback, Move::Rollout, Move::Cleared];

    /// The stored and audited name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Move::Promote => "promote",
            Move::Rollback => "rollback",
            Move::Rollout => "rollout",
            Move::Cleared => "cleared",
        }
    }

    pub fn parse(name: &str) -> Option<Move> {
        Move::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// One entry of the append-only deployment history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deployment {
    pub model: String,
    pub stage: Stage,
    /// Position in this model and stage's history, from 1.
    pub seq: i64,
    pub kind: Move,
    pub from: StageState,
    pub to: StageState,
    pub actor: String,
    pub reason: String,
    pub at: i64,
    /// The gate checks that were skipped by an admin's force, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
}

/// Rebuilds every (model, stage) state from the history alone: the newest
/// entry of each wins. Entries may come in any order.
pub fn replay(history: &[Deployment]) -> BTreeMap<(String, Stage), StageState> {
    let mut newest: BTreeMap<(String, Stage), &Deployment> = BTreeMap::new();
    for entry in history {
        let key = (entry.model.clone(), entry.stage);
        match newest.get(&key) {
            Some(current) if current.seq >= entry.seq => {}
            _ => {
                newest.insert(key, entry);
            }
        }
    }
    newest
        .into_iter()
        .map(|(key, entry)| (key, entry.to.clone()))
        .collect()
}

/// The state to roll back to: the entry before the current one, or the newest
/// earlier entry that pointed at `version`.
pub fn rollback_target(
    stage_history: &[Deployment],
    version: Option<&str>,
) -> Result<StageState, LifecycleError> {
    let mut ordered: Vec<&Deployment> = stage_history.iter().collect();
    ordered.sort_by_key(|d| d.seq);
    let Some(current) = ordered.last() else {
        return Err(LifecycleError::NothingToRollBack);
    };
    match version {
        None => {
            // The state before the current one: its `from`.
            if current.from.is_empty() {
                Err(LifecycleError::NothingToRollBack)
            } else {
                Ok(current.from.clone())
            }
        }
        Some(version) => {
            let earlier = ordered
                .iter()
                .rev()
                .skip(1)
                .find(|d| d.to.versions().any(|v| v == version));
            match earlier {
                Some(entry) => Ok(entry.to.clone()),
                None => Err(LifecycleError::NeverDeployed(version.to_owned())),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("there is no earlier state to roll back to")]
    NothingToRollBack,
    #[error("version {0} was never deployed to this stage before, so it cannot be rolled back to")]
    NeverDeployed(String),
}

/// A model's promotion policy: metrics a version must reach, per stage (or
/// for every stage when `stages` is empty).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromotionPolicy {
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PolicyRule {
    /// `f1>=0.85`.
    pub requirement: String,
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// Why a promotion or retention policy is refused when it is set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Requirement(crate::query::QueryError),
    #[error("min_metric `{0}` must use >=, >, <= or <")]
    MinMetricOperator(String),
    #[error("a retention policy needs keep_last, min_metric or max_age_days")]
    NothingToRetainBy,
}

impl PromotionPolicy {
    /// Parses every requirement, so a bad policy is refused when it is set.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for rule in &self.rules {
            MetricFilter::parse(&rule.requirement).map_err(PolicyError::Requirement)?;
        }
        Ok(())
    }
}

/// The facts a promotion is judged on, gathered by the Worker.
#[derive(Debug, Clone, PartialEq)]
pub struct GateInputs<'a> {
    pub stage: Stage,
    pub version: &'a str,
    /// Whether the artifact was found in storage.
    pub artifact_present: bool,
    /// Whether its bytes hash to the registered digest (None: not checked
    /// because absent).
    pub digest_verified: Option<bool>,
    pub status_unsafe: Option<&'a str>,
    /// For ONNX artifacts: whether the runtime loaded and optimised it (the
    /// error if not). None for other formats.
    pub loadable: Option<Result<(), String>>,
    pub metrics: &'a BTreeMap<String, f64>,
    pub policy: &'a PromotionPolicy,
    /// Whether this version has ever been deployed to staging.
    pub was_in_staging: bool,
    /// Whether the current release (targets) metadata names this version's
    /// exact digest and length.
    pub released: bool,
}

/// One gate that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateFailure {
    /// Stable name: `artifact`, `digest`, `safety`, `loadable`, `release`,
    /// `policy`, `staging`.
    pub gate: String,
    pub detail: String,
}

fn failure(gate: &str, detail: String) -> GateFailure {
    GateFailure {
        gate: gate.to_owned(),
        detail,
    }
}

/// Gates an admin may override with a reason; the others guard integrity
/// and safety and never yield.
pub const FORCEABLE_GATES: &[&str] = &["policy", "staging"];

/// Every gate a promotion fails, in a fixed order (empty: it may proceed).
pub fn evaluate_gates(inputs: &GateInputs<'_>) -> Vec<GateFailure> {
    let mut failures = Vec::new();
    if !inputs.artifact_present {
        failures.push(failure(
            "artifact",
            format!("the artifact of {} is missing from storage", inputs.version),
        ));
    } else if inputs.digest_verified == Some(false) {
        failures.push(failure(
            "digest",
            format!(
                "the stored artifact of {} no longer matches its digest",
                inputs.version
            ),
        ));
    }
    if let Some(reason) = inputs.status_unsafe {
        failures.push(failure(
            "safety",
            format!("{} is marked unsafe: {reason}", inputs.version),
        ));
    }
    if let Some(Err(err)) = &inputs.loadable {
        failures.push(failure(
            "loadable",
            format!("the ONNX runtime cannot load {}: {err}", inputs.version),
        ));
    }
    if inputs.stage.requires_release() && !inputs.released {
        failures.push(failure(
            "release",
            format!(
                "{} has no release signature; sign it with the offline release key (`outpost release sign`) before it goes to {}",
                inputs.version, inputs.stage
            ),
        ));
    }
    for rule in &inputs.policy.rules {
        if !rule.stages.is_empty() && !rule.stages.contains(&inputs.stage) {
            continue;
        }
        let Ok(filter) = MetricFilter::parse(&rule.requirement) else {
            failures.push(failure(
                "policy",
                format!("policy requirement `{}` is malformed", rule.requirement),
            ));
            continue;
        };
        match inputs.metrics.get(&filter.metric) {
            Some(&value) if filter.op.holds(value, filter.value) => {}
            Some(&value) => failures.push(failure(
                "policy",
                format!(
                    "{} has {} = {value}, the policy requires {}",
                    inputs.version, filter.metric, rule.requirement
                ),
            )),
            None => failures.push(failure(
                "policy",
                format!(
                    "{} has no `{}` metric, the policy requires {}",
                    inputs.version, filter.metric, rule.requirement
                ),
            )),
        }
    }
    if inputs.stage == Stage::Production && !inputs.was_in_staging {
        failures.push(failure(
            "staging",
            format!(
                "{} has never been in staging; promote it to staging first",
                inputs.version
            ),
        ));
    }
    failures
}

/// Whether `failures` may be overridden by an admin's force.
pub fn all_forceable(failures: &[GateFailure]) -> bool {
    failures
        .iter()
        .all(|f| FORCEABLE_GATES.contains(&f.gate.as_str()))
}

/// Why a version may not be deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeletionRefusal {
    #[error(
        "{version} is deployed to {stages}; roll those stages to another version first, or (admin) force-delete with a reason"
    )]
    Deployed { version: String, stages: String },
    #[error(
        "{version} is deployed to production and can never be force-deleted; move production to another version first"
    )]
    Production { version: String },
    #[error("force-deleting needs a reason")]
    NoReason,
}

/// Decides a deletion: which stages must be cleared, or why not at all.
pub fn plan_deletion(
    version: &str,
    current: &BTreeMap<Stage, StageState>,
    force: bool,
    reason: &str,
) -> Result<Vec<Stage>, DeletionRefusal> {
    let deployed: Vec<Stage> = current
        .iter()
        .filter(|(_, state)| state.versions().any(|v| v == version))
        .map(|(stage, _)| *stage)
        .collect();
    if deployed.is_empty() {
        return Ok(Vec::new());
    }
    if deployed.contains(&Stage::Production) {
        return Err(DeletionRefusal::Production {
            version: version.to_owned(),
        });
    }
    if !force {
        return Err(DeletionRefusal::Deployed {
            version: version.to_owned(),
            stages: deployed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if reason.trim().is_empty() {
        return Err(DeletionRefusal::NoReason);
    }
    Ok(deployed)
}

/// A model's retention policy. Every rule is optional; a version goes only if
/// some rule drops it and no protection keeps it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetentionPolicy {
    /// Keep the newest N versions (by semver) whatever else holds.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Drop versions whose metric is below this (`f1>=0.8` keeps f1 ≥ 0.8).
    #[serde(default)]
    pub min_metric: Option<String>,
    /// Drop versions older than this many days.
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// Keep versions deployed to any stage within this many days.
    #[serde(default)]
    pub keep_deployed_within_days: Option<u32>,
}

impl RetentionPolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(rule) = &self.min_metric {
            let filter = MetricFilter::parse(rule).map_err(PolicyError::Requirement)?;
            if !matches!(
                filter.op,
                CompareOp::Ge | CompareOp::Gt | CompareOp::Le | CompareOp::Lt
            ) {
                return Err(PolicyError::MinMetricOperator(rule.clone()));
            }
        }
        if self.keep_last.is_none() && self.min_metric.is_none() && self.max_age_days.is_none() {
            return Err(PolicyError::NothingToRetainBy);
        }
        Ok(())
    }
}

/// What retention knows about one version.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionCandidate {
    pub version: semver::Version,
    pub created_at: i64,
    pub metrics: BTreeMap<String, f64>,
    /// Currently referenced by a stage.
    pub deployed_now: bool,
    /// Last time it was referenced by any stage (ms), if ever.
    pub last_deployed_at: Option<i64>,
}

/// One version retention would delete, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetentionDrop {
    pub version: String,
    pub reasons: Vec<String>,
}

const DAY_MS: i64 = 86_400_000;

/// The exact list of versions a retention run deletes at `now`.
pub fn plan_retention(
    policy: &RetentionPolicy,
    candidates: &[RetentionCandidate],
    now: i64,
) -> Vec<RetentionDrop> {
    let mut by_version: Vec<&RetentionCandidate> = candidates.iter().collect();
    by_version.sort_by(|a, b| b.version.cmp(&a.version));
    let newest: BTreeSet<String> = by_version
        .iter()
        .take(policy.keep_last.unwrap_or(0) as usize)
        .map(|c| c.version.to_string())
        .collect();
    let metric_rule = policy
        .min_metric
        .as_deref()
        .and_then(|rule| MetricFilter::parse(rule).ok());
    let mut drops = Vec::new();
    for candidate in by_version {
        let version = candidate.version.to_string();
        if candidate.deployed_now {
            continue;
        }
        if let (Some(days), Some(at)) =
            (policy.keep_deployed_within_days, candidate.last_deployed_at)
            && now - at <= i64::from(days) * DAY_MS
        {
            continue;
        }
        let mut reasons = Vec::new();
        if policy.keep_last.is_some() && !newest.contains(&version) {
            reasons.push(format!(
                "not among the newest {}",
                policy.keep_last.unwrap_or(0)
            ));
        }
        if let Some(filter) = &metric_rule {
            match candidate.metrics.get(&filter.metric) {
                Some(&value) if filter.op.holds(value, filter.value) => {}
                Some(&value) => reasons.push(format!(
                    "{} = {value} fails {}",
                    filter.metric,
                    policy.min_metric.as_deref().unwrap_or_default()
                )),
                None => reasons.push(format!("no `{}` metric", filter.metric)),
            }
        }
        if let Some(days) = policy.max_age_days
            && now - candidate.created_at > i64::from(days) * DAY_MS
        {
            reasons.push(format!("older than {days} days"));
        }
        // keep_last protects the newest even when another rule would drop them.
        if !reasons.is_empty() && (policy.keep_last.is_none() || !newest.contains(&version)) {
            drops.push(RetentionDrop { version, reasons });
        }
    }
    drops
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_version_leaves_every_arm_and_the_shadow() {
        let state = crate::routing::RolloutPolicy {
            canary: Some(crate::routing::Arm {
                version: "2.0.0".into(),
                weight: 1_000,
            }),
            shadow: Some("2.0.0".into()),
            ..crate::routing::RolloutPolicy::stable("1.0.0")
        }
        .stage_state();
        assert_eq!(state.without_version("2.0.0").targets.len(), 1);
        assert_eq!(state.without_version("2.0.0").shadow, None);
        assert_eq!(state.without_version("1.0.0").primary(), Some("2.0.0"));
        assert!(
            StageState::single("1.0.0")
                .without_version("1.0.0")
                .is_empty()
        );
    }

    fn entry(stage: Stage, seq: i64, from: &StageState, to: &StageState) -> Deployment {
        Deployment {
            model: "m".into(),
            stage,
            seq,
            kind: Move::Promote,
            from: from.clone(),
            to: to.clone(),
            actor: "t".into(),
            reason: String::new(),
            at: seq,
            forced: Vec::new(),
        }
    }

    #[test]
    fn replay_takes_the_newest_entry_per_stage_in_any_order() {
        let empty = StageState::default();
        let v1 = StageState::single("1.0.0");
        let v2 = StageState::single("2.0.0");
        let history = vec![
            entry(Stage::Production, 2, &v1, &v2),
            entry(Stage::Staging, 1, &empty, &v2),
            entry(Stage::Production, 1, &empty, &v1),
        ];
        let state = replay(&history);
        assert_eq!(state[&("m".into(), Stage::Production)], v2);
        assert_eq!(state[&("m".into(), Stage::Staging)], v2);
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn rollback_to_previous_and_to_a_named_version() {
        let empty = StageState::default();
        let v1 = StageState::single("1.0.0");
        let v2 = StageState::single("2.0.0");
        let v3 = StageState::single("3.0.0");
        let history = vec![
            entry(Stage::Production, 1, &empty, &v1),
            entry(Stage::Production, 2, &v1, &v2),
            entry(Stage::Production, 3, &v2, &v3),
        ];
        assert_eq!(rollback_target(&history, None).unwrap(), v2);
        assert_eq!(rollback_target(&history, Some("1.0.0")).unwrap(), v1);
        assert_eq!(
            rollback_target(&history, Some("9.9.9")),
            Err(LifecycleError::NeverDeployed("9.9.9".into()))
        );
        assert_eq!(
            rollback_target(&history[..1], None),
            Err(LifecycleError::NothingToRollBack)
        );
        assert_eq!(
            rollback_target(&[], None),
            Err(LifecycleError::NothingToRollBack)
        );
    }

    fn inputs<'a>(
        stage: Stage,
        metrics: &'a BTreeMap<String, f64>,
        policy: &'a PromotionPolicy,
    ) -> GateInputs<'a> {
        GateInputs {
            stage,
            version: "1.2.0",
            artifact_present: true,
            digest_verified: Some(true),
            status_unsafe: None,
            loadable: Some(Ok(())),
            metrics,
            policy,
            was_in_staging: true,
            released: true,
        }
    }

    #[test]
    fn each_gate_fails_on_its_own() {
        let metrics: BTreeMap<String, f64> = [("f1".to_owned(), 0.9)].into();
        let policy = PromotionPolicy {
            rules: vec![PolicyRule {
                requirement: "f1>=0.85".into(),
                stages: vec![],
            }],
        };
        let gates = |i: &GateInputs<'_>| {
            evaluate_gates(i)
                .into_iter()
                .map(|f| f.gate)
                .collect::<Vec<_>>()
        };
        assert!(gates(&inputs(Stage::Production, &metrics, &policy)).is_empty());

        let mut i = inputs(Stage::Staging, &metrics, &policy);
        i.artifact_present = false;
        assert_eq!(gates(&i), vec!["artifact"]);
        let mut i = inputs(Stage::Staging, &metrics, &policy);
        i.digest_verified = Some(false);
        assert_eq!(gates(&i), vec!["digest"]);
        let mut i = inputs(Stage::Staging, &metrics, &policy);
        i.status_unsafe = Some("imports os.system");
        assert_eq!(gates(&i), vec!["safety"]);
        let mut i = inputs(Stage::Staging, &metrics, &policy);
        i.loadable = Some(Err("unsupported op".into()));
        assert_eq!(gates(&i), vec!["loadable"]);
        let low: BTreeMap<String, f64> = [("f1".to_owned(), 0.8)].into();
        assert_eq!(
            gates(&inputs(Stage::Staging, &low, &policy)),
            vec!["policy"]
        );
        let none = BTreeMap::new();
        let failures = evaluate_gates(&inputs(Stage::Staging, &none, &policy));
        assert!(
            failures[0].detail.contains("no `f1` metric"),
            "{failures:?}"
        );
        let mut i = inputs(Stage::Production, &metrics, &policy);
        i.was_in_staging = false;
        assert_eq!(gates(&i), vec!["staging"]);
        // Only the serving stages need a release signature, and no force
        // overrides it.
        for (stage, needed) in [
            (Stage::Development, false),
            (Stage::Staging, false),
            (Stage::Canary, true),
            (Stage::Production, true),
            (Stage::Archived, false),
        ] {
            let mut i = inputs(stage, &metrics, &policy);
            i.released = false;
            let failures = evaluate_gates(&i);
            assert_eq!(failures.is_empty(), !needed, "{stage}");
            if needed {
                assert_eq!(gates(&i), vec!["release"]);
                assert!(failures[0].detail.contains("outpost release sign"));
                assert!(!all_forceable(&failures));
            }
        }
    }

    #[test]
    fn every_failing_gate_is_listed_and_only_some_are_forceable() {
        let low: BTreeMap<String, f64> = [("f1".to_owned(), 0.5)].into();
        let policy = PromotionPolicy {
            rules: vec![PolicyRule {
                requirement: "f1>=0.85".into(),
                stages: vec![Stage::Production],
            }],
        };
        let mut i = inputs(Stage::Production, &low, &policy);
        i.was_in_staging = false;
        let failures = evaluate_gates(&i);
        assert_eq!(failures.len(), 2);
        assert!(all_forceable(&failures));
        i.status_unsafe = Some("x");
        assert!(!all_forceable(&evaluate_gates(&i)));
        // The production-only rule does not apply to staging.
        assert!(evaluate_gates(&inputs(Stage::Staging, &low, &policy)).is_empty());
    }

    #[test]
    fn deletion_rules() {
        let mut current = BTreeMap::new();
        current.insert(Stage::Staging, StageState::single("1.0.0"));
        current.insert(Stage::Production, StageState::single("2.0.0"));
        assert_eq!(plan_deletion("3.0.0", &current, false, ""), Ok(vec![]));
        assert!(matches!(
            plan_deletion("1.0.0", &current, false, ""),
            Err(DeletionRefusal::Deployed { .. })
        ));
        assert_eq!(
            plan_deletion("1.0.0", &current, true, ""),
            Err(DeletionRefusal::NoReason)
        );
        assert_eq!(
            plan_deletion("1.0.0", &current, true, "bad data"),
            Ok(vec![Stage::Staging])
        );
        assert!(matches!(
            plan_deletion("2.0.0", &current, true, "x"),
            Err(DeletionRefusal::Production { .. })
        ));
    }

    fn candidate(
        version: &str,
        age_days: i64,
        f1: f64,
        deployed: Option<i64>,
    ) -> RetentionCandidate {
        RetentionCandidate {
            version: semver::Version::parse(version).unwrap(),
            created_at: 100 * DAY_MS - age_days * DAY_MS,
            metrics: [("f1".to_owned(), f1)].into(),
            deployed_now: false,
            last_deployed_at: deployed.map(|days_ago| 100 * DAY_MS - days_ago * DAY_MS),
        }
    }

    #[test]
    fn retention_keeps_the_newest_deployed_and_recently_deployed() {
        let now = 100 * DAY_MS;
        let mut candidates = vec![
            candidate("1.0.0", 60, 0.90, None),
            candidate("1.1.0", 50, 0.70, None),
            candidate("1.2.0", 40, 0.91, Some(3)),
            candidate("1.3.0", 30, 0.60, None),
            candidate("1.4.0", 2, 0.95, None),
        ];
        candidates[0].deployed_now = true;
        let policy = RetentionPolicy {
            keep_last: Some(1),
            min_metric: Some("f1>=0.8".into()),
            max_age_days: Some(45),
            keep_deployed_within_days: Some(7),
        };
        policy.validate().unwrap();
        let plan = plan_retention(&policy, &candidates, now);
        let dropped: Vec<&str> = plan.iter().map(|d| d.version.as_str()).collect();
        assert_eq!(dropped, vec!["1.3.0", "1.1.0"]);
        assert!(
            plan[1]
                .reasons
                .iter()
                .any(|r| r.contains("older than 45 days")),
            "{plan:?}"
        );
        assert!(
            plan[0]
                .reasons
                .iter()
                .any(|r| r.contains("f1 = 0.6 fails f1>=0.8")),
            "{plan:?}"
        );
    }

    #[test]
    fn retention_policies_are_validated() {
        assert!(RetentionPolicy::default().validate().is_err());
        assert!(
            RetentionPolicy {
                min_metric: Some("f1=0.8".into()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            RetentionPolicy {
                keep_last: Some(3),
                ..Default::default()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn stage_names_parse() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>().unwrap(), stage);
        }
        assert!("prod".parse::<Stage>().is_err());
    }
}
