//! Request and response bodies of the registry API, shared by the Worker (which
//! produces them), the CLI and the wasm client (which consume them).

mod answers;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::Role;
use crate::digest::Digest;
use crate::version::{ArtifactFormat, Bump, PrimaryMetric};

pub use answers::*;

/// `POST /v1/admin/init`: create the first organisation and its admin token,
/// authorised by the deployment's bootstrap secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InitRequest {
    #[schemars(regex(pattern = crate::auth::ORG_NAME_PATTERN))]
    pub org: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrgRecord {
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token just created: the only time its text is ever shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub record: TokenRecord,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InitResponse {
    pub org: OrgRecord,
    pub token: TokenCreated,
}

/// `POST /v1/orgs/{org}/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateTokenRequest {
    /// Not blank; at most 64 characters.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"\S"))]
    pub name: String,
    pub role: Role,
    /// Lifetime in seconds; none means it lasts until revoked.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub expires_in: Option<u64>,
}

/// `POST /v1/orgs/{org}/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateModelRequest {
    #[schemars(regex(pattern = crate::version::MODEL_NAME_PATTERN))]
    pub name: String,
    #[serde(default)]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::version::TAG_PATTERN)))]
    pub tags: Vec<String>,
    /// Drives `auto` bumps and "best" in comparisons.
    #[serde(default)]
    pub primary_metric: Option<PrimaryMetric>,
}

/// Why a model cannot be created as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelRequestError {
    #[error("{0}")]
    Name(crate::version::VersionError),
    #[error("{0}")]
    Tag(crate::version::VersionError),
    #[error("{0}")]
    MetricName(crate::query::QueryError),
    #[error("description is limited to 4096 characters")]
    DescriptionTooLong,
}

impl CreateModelRequest {
    /// Checks the name, tags, primary metric name and description length.
    pub fn validate(&self) -> Result<(), ModelRequestError> {
        crate::version::validate_model_name(&self.name).map_err(ModelRequestError::Name)?;
        for tag in &self.tags {
            crate::version::validate_tag(tag).map_err(ModelRequestError::Tag)?;
        }
        if let Some(metric) = &self.primary_metric {
            crate::query::validate_metric_name(&metric.name)
                .map_err(ModelRequestError::MetricName)?;
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ModelRequestError::DescriptionTooLong);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelRecord {
    pub name: String,
    pub description: String,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub primary_metric: Option<PrimaryMetric>,
    pub created_at: i64,
    pub created_by: Option<String>,
    #[serde(default)]
    pub version_count: u64,
    #[serde(default)]
    pub latest_version: Option<String>,
}

/// `PUT /v1/orgs/{org}/blobs/sha256/{hex}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlobRecord {
    pub digest: Digest,
    pub size: u64,
    /// False when identical content was already stored.
    pub created: bool,
}

/// `PUT /v1/orgs/{org}/blobs/sha256/{hex}/codings/{coding}` answer: the
/// artifact's compressed copy, kept next to its bytes and sent to clients
/// that accept the coding (`crate::content_coding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CodedCopyRecord {
    /// The artifact's digest (of its decoded bytes).
    pub digest: Digest,
    pub coding: crate::content_coding::Coding,
    /// The artifact's size (bytes).
    pub size: u64,
    /// The copy's size (bytes): what a download in this coding sends.
    pub encoded_size: u64,
    /// False when a copy in this coding was already kept (the body was not
    /// read).
    pub created: bool,
}

/// Longest model description, in characters (Unicode scalar values, as JSON
/// Schema's `maxLength` counts).
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// Longest release notes, in characters.
pub const MAX_NOTES_CHARS: usize = 16 * 1024;

/// `POST /v1/orgs/{org}/models/{model}/versions`: exactly one of `version`
/// and `bump`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(extend("oneOf" = [
    {"required": ["version"], "properties": {"version": {"type": "string"}}},
    {"required": ["bump"], "properties": {"bump": {"type": "string"}}}
]))]
pub struct RegisterVersionRequest {
    /// An explicit semantic version; or leave it out and give `bump`.
    #[serde(default)]
    #[schemars(regex(pattern = crate::version::VERSION_PATTERN))]
    pub version: Option<String>,
    #[serde(default)]
    pub bump: Option<Bump>,
    /// The artifact, uploaded before as a blob.
    pub digest: Digest,
    pub size: u64,
    /// Declared format; detected from the bytes when absent.
    #[serde(default)]
    pub format: Option<ArtifactFormat>,
    #[serde(default)]
    pub framework: Option<String>,
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": crate::query::METRIC_NAME_PATTERN}))]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub dataset_version: Option<String>,
    #[serde(default)]
    pub parent_version: Option<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::version::TAG_PATTERN)))]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schemars(length(max = MAX_NOTES_CHARS))]
    pub notes: String,
}

/// Why a registration request is refused before anything is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    Tag(crate::version::VersionError),
    #[error("{0}")]
    MetricName(crate::query::QueryError),
    #[error("metric `{0}` must be a finite number")]
    MetricNotFinite(String),
    #[error("notes are limited to 16 384 characters")]
    NotesTooLong,
    #[error("give either `version` or `bump`, not both")]
    VersionAndBump,
    #[error("{0}")]
    Version(crate::version::VersionError),
    #[error("give an explicit `version` (e.g. \"1.2.0\") or a `bump` (major, minor, patch, auto)")]
    NoVersion,
}

impl RegisterVersionRequest {
    /// Checks everything the caller said (tags, metric names and values,
    /// notes, version or bump) before anything is read; the explicit
    /// version, if one was given.
    pub fn validate(&self) -> Result<Option<semver::Version>, RegistrationError> {
        for tag in &self.tags {
            crate::version::validate_tag(tag).map_err(RegistrationError::Tag)?;
        }
        for (name, value) in &self.metrics {
            crate::query::validate_metric_name(name).map_err(RegistrationError::MetricName)?;
            if !value.is_finite() {
                return Err(RegistrationError::MetricNotFinite(name.clone()));
            }
        }
        if self.notes.chars().count() > MAX_NOTES_CHARS {
            return Err(RegistrationError::NotesTooLong);
        }
        if self.version.is_some() && self.bump.is_some() {
            return Err(RegistrationError::VersionAndBump);
        }
        let explicit = self
            .version
            .as_deref()
            .map(crate::version::parse_version)
            .transpose()
            .map_err(RegistrationError::Version)?;
        if explicit.is_none() && self.bump.is_none() {
            return Err(RegistrationError::NoVersion);
        }
        Ok(explicit)
    }
}

/// Whether a version may be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    Ready,
    /// Its artifact failed the safety scan; `status_reason` says why.
    Unsafe,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Ready => "ready",
            VersionStatus::Unsafe => "unsafe",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionRecord {
    pub model: String,
    pub version: String,
    pub digest: Digest,
    pub size: u64,
    pub format: ArtifactFormat,
    pub framework: Option<String>,
    pub schema: Option<Value>,
    pub metrics: BTreeMap<String, f64>,
    pub params: Map<String, Value>,
    pub dataset_version: Option<String>,
    pub parent_version: Option<String>,
    pub tags: Vec<String>,
    pub notes: String,
    pub author: String,
    pub created_at: i64,
    pub status: VersionStatus,
    pub status_reason: Option<String>,
}

/// The answer to a registration: the version, and how its number was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegisteredVersion {
    #[serde(flatten)]
    pub version: VersionRecord,
    pub version_reason: String,
}

/// `PATCH …/versions/{version}/tags`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TagChange {
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::version::TAG_PATTERN)))]
    pub add: Vec<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::version::TAG_PATTERN)))]
    pub remove: Vec<String>,
}

impl TagChange {
    /// Every tag added or removed must be a valid tag.
    pub fn validate(&self) -> Result<(), crate::version::VersionError> {
        for tag in self.add.iter().chain(&self.remove) {
            crate::version::validate_tag(tag)?;
        }
        Ok(())
    }

    /// The tags after this change: `current` plus `add` minus `remove`, as a
    /// sorted set (removal wins when a tag is in both).
    pub fn apply(&self, current: &[String]) -> Vec<String> {
        let mut tags: std::collections::BTreeSet<String> = current.iter().cloned().collect();
        tags.extend(self.add.iter().cloned());
        for tag in &self.remove {
            tags.remove(tag);
        }
        tags.into_iter().collect()
    }
}

/// A page of results with the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One row of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ComparedVersion {
    pub model: String,
    pub version: String,
    pub created_at: i64,
    pub format: ArtifactFormat,
    /// The chosen metrics; `null` where a version lacks one.
    pub metrics: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    pub metrics: Vec<String>,
    pub versions: Vec<ComparedVersion>,
    /// Per metric, the `model@version` with the best value (higher is better
    /// unless it is the model's primary metric declared lower-is-better).
    pub best: BTreeMap<String, String>,
}

/// Picks, per metric, the best of the compared versions.
pub fn best_per_metric(
    metrics: &[String],
    versions: &[ComparedVersion],
    lower_is_better: &[String],
) -> BTreeMap<String, String> {
    let mut best = BTreeMap::new();
    for metric in metrics {
        let lower = lower_is_better.contains(metric);
        let winner = versions
            .iter()
            .filter_map(|v| {
                v.metrics
                    .get(metric)
                    .copied()
                    .flatten()
                    .map(|value| (v, value))
            })
            .fold(
                None::<(&ComparedVersion, f64)>,
                |acc, (v, value)| match acc {
                    Some((_, best)) if (lower && value >= best) || (!lower && value <= best) => acc,
                    _ => Some((v, value)),
                },
            );
        if let Some((v, _)) = winner {
            best.insert(metric.clone(), format!("{}@{}", v.model, v.version));
        }
    }
    best
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_tag_change_is_a_set_operation() {
        let change = TagChange {
            add: vec!["b".into(), "c".into()],
            remove: vec!["a".into(), "c".into()],
        };
        assert_eq!(change.apply(&["a".into(), "d".into()]), ["b", "d"]);
        assert!(change.validate().is_ok());
        let bad = TagChange {
            add: vec!["no spaces".into()],
            ..TagChange::default()
        };
        assert!(bad.validate().is_err());
    }

    fn registration(extra: serde_json::Value) -> RegisterVersionRequest {
        let mut body = serde_json::json!({"digest": crate::Digest::of(b"m"), "size": 1});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn registrations_are_checked_before_anything_is_read() {
        let ok = registration(serde_json::json!({"version": "1.2.0", "metrics": {"f1": 0.9}}));
        assert_eq!(
            ok.validate().map(|v| v.map(|v| v.to_string())),
            Ok(Some("1.2.0".into()))
        );
        assert_eq!(
            registration(serde_json::json!({"bump": "auto"})).validate(),
            Ok(None)
        );
        for (body, code) in [
            (
                serde_json::json!({"bump": "patch", "tags": ["no spaces"]}),
                "tag",
            ),
            (
                serde_json::json!({"bump": "patch", "metrics": {"f 1": 1.0}}),
                "metric name",
            ),
            (
                serde_json::json!({"version": "1.0.0", "bump": "patch"}),
                "both",
            ),
            (serde_json::json!({"version": "one"}), "not semver"),
            (serde_json::json!({}), "neither"),
            (
                serde_json::json!({"bump": "patch", "notes": "x".repeat(16 * 1024 + 1)}),
                "notes",
            ),
        ] {
            assert!(registration(body).validate().is_err(), "{code}");
        }
        let mut infinite = registration(serde_json::json!({"bump": "patch"}));
        infinite.metrics.insert("f1".into(), f64::INFINITY);
        assert_eq!(
            infinite.validate(),
            Err(RegistrationError::MetricNotFinite("f1".into()))
        );
    }

    fn compared(version: &str, f1: Option<f64>, loss: Option<f64>) -> ComparedVersion {
        let mut metrics = BTreeMap::new();
        metrics.insert("f1".into(), f1);
        metrics.insert("loss".into(), loss);
        ComparedVersion {
            model: "m".into(),
            version: version.into(),
            created_at: 0,
            format: ArtifactFormat::Onnx,
            metrics,
        }
    }

    #[test]
    fn best_respects_direction_and_missing_values() {
        let versions = [
            compared("1.0.0", Some(0.8), Some(0.3)),
            compared("1.1.0", Some(0.9), None),
            compared("1.2.0", None, Some(0.2)),
        ];
        let best = best_per_metric(&["f1".into(), "loss".into()], &versions, &["loss".into()]);
        assert_eq!(best["f1"], "m@1.1.0");
        assert_eq!(best["loss"], "m@1.2.0");
        let none = best_per_metric(&["auc".into()], &versions, &[]);
        assert!(none.is_empty());
    }

    #[test]
    fn register_request_defaults() {
        let req: RegisterVersionRequest = serde_json::from_str(
            r#"{"bump":"auto","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":3}"#,
        )
        .unwrap();
        assert_eq!(req.bump, Some(Bump::Auto));
        assert!(req.metrics.is_empty() && req.tags.is_empty() && req.version.is_none());
    }
}

/// `POST …/models/{model}/stages/{stage}/promote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromoteRequest {
    pub version: String,
    #[serde(default)]
    pub reason: String,
    /// Admins only, with a reason: override the policy and staging gates.
    #[serde(default)]
    pub force: bool,
}

/// `POST …/models/{model}/stages/{stage}/rollback`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RollbackRequest {
    /// An earlier version of this stage; the previous state when absent.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub reason: String,
}

/// `PUT …/models/{model}/stages/{stage}/rollout`: how a stage splits its
/// traffic. Weights are basis points (1 000 = 10 %).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// The version everything else falls back to; the stage's current
    /// stable version when absent.
    #[serde(default)]
    pub stable: Option<String>,
    #[serde(default)]
    pub canary: Option<crate::routing::Arm>,
    /// A/B variants, each taking its weight after the canary's.
    #[serde(default)]
    pub variants: Vec<crate::routing::Arm>,
    /// Run beside the answer by clients, for telemetry only.
    #[serde(default)]
    pub shadow: Option<String>,
    /// Thresholds the cron holds the canary to; a tripped one rolls it back.
    #[serde(default)]
    pub guardrails: Option<crate::guardrail::Guardrails>,
    #[serde(default)]
    pub reason: String,
    /// Admins only, with a reason: override the policy and staging gates.
    #[serde(default)]
    pub force: bool,
}

/// A stage's rollout as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RolloutView {
    pub model: String,
    pub stage: crate::lifecycle::Stage,
    /// None when nothing is deployed to the stage.
    pub rollout: Option<crate::routing::RolloutPolicy>,
}

/// Every stage of a model as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StagesView {
    pub model: String,
    pub stages: BTreeMap<crate::lifecycle::Stage, crate::lifecycle::StageState>,
}

/// A model's promotion and retention policies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelPolicies {
    #[serde(default)]
    pub promotion: crate::lifecycle::PromotionPolicy,
    #[serde(default)]
    pub retention: Option<crate::lifecycle::RetentionPolicy>,
}

/// What a retention run deletes (or, as a plan, would delete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetentionReport {
    pub model: String,
    pub dry_run: bool,
    pub drops: Vec<crate::lifecycle::RetentionDrop>,
}

/// The result of deleting a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deleted {
    pub model: String,
    pub version: String,
    /// Stages that pointed at it and were cleared (force only).
    pub cleared: Vec<crate::lifecycle::Stage>,
    /// Whether its artifact was removed (no other version used it).
    pub blob_removed: bool,
}
