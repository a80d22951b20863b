//! Answers of the routes that report on something rather than return one
//! stored record: health, the caller, stage moves, predictions, telemetry
//! and drift reports, webhooks. Typed so that the Worker, its OpenAPI
//! document (`web/openapi.json`, generated from these types) and the
//! clients cannot disagree about a field.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Role;
use crate::digest::Digest;
use crate::drift::DatasetDrift;
use crate::lifecycle::{Stage, StageState};
use crate::profile::FeatureReport;
use crate::signing::PublicKey;
use crate::telemetry::{PerformancePoint, PerformanceRow};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `ok`: the isolate answered.
    pub status: String,
    /// The Worker's crate version.
    pub version: String,
}

/// `GET /v1/admin/isolate` (bootstrap secret): counters of the isolate that
/// answered, since it started. Each isolate keeps its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IsolateStats {
    /// Requests answered, this one included.
    pub requests: u64,
    /// D1 statements prepared by requests (the cron's are not counted).
    pub d1_statements: u64,
    /// Artifact objects read from R2 (downloads, ranges, model loads and
    /// the copies that fill the Workers Cache API).
    pub r2_reads: u64,
    /// Resolution plans kept (`outpost_registry::routing::ResolutionPlan`).
    pub plans_kept: u64,
    /// Token rows kept.
    pub tokens_kept: u64,
}

/// `GET /v1/orgs/{org}/whoami`: the token that made the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WhoAmI {
    pub org: String,
    pub token_id: String,
    pub token_name: String,
    pub role: Role,
}

/// A list that is never paged (tokens of an organisation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ItemsOf{T}")]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// `GET /v1/keys`: the deployment's online public keys (TUF key objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentKeys {
    /// Signs snapshot and timestamp metadata.
    pub online: PublicKey,
    /// Signs resolutions.
    pub director: PublicKey,
}

/// `PUT …/trust/root` and `PUT …/trust/targets`: what was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrustStored {
    /// `root` or `targets`.
    pub role: String,
    pub version: u64,
}

/// A stage after a request that may have changed it: `changed` is false when
/// the stage already was in the asked state (a repeated promotion, a rollout
/// cleared twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageOutcome {
    pub model: String,
    pub stage: Stage,
    pub state: StageState,
    pub changed: bool,
}

/// `GET …/models/{model}/stages/{stage}`: the version a client asking for
/// `model@stage` gets, and the stage's whole state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageView {
    pub model: String,
    pub stage: Stage,
    pub version: String,
    pub state: StageState,
}

/// `PUT …/uploads/{upload}/parts/{part}`: the part as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PartStored {
    pub part: u64,
    /// Bytes.
    pub size: u64,
    pub sha256: Digest,
}

/// `DELETE …/uploads/{upload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UploadAborted {
    /// The upload's id.
    pub aborted: String,
}

/// `POST …/models/{model}/predict`: what the routed version answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Prediction {
    pub model: String,
    pub stage: Stage,
    pub device: Option<String>,
    pub version: String,
    /// The rollout arm the device fell in.
    pub arm: crate::lifecycle::ArmKind,
    pub digest: Digest,
    /// The model's outputs by name, as arrays of numbers or labels.
    pub outputs: Value,
    /// Names this prediction in `POST …/feedback` (row `r` of the inputs is
    /// `{prediction_id, row: r}`); absent when the outputs are not a
    /// classifier's (no `label` output), which feedback cannot score.
    #[serde(default)]
    pub prediction_id: Option<String>,
}

/// One recorded shadow run beside what the caller got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShadowResult {
    pub stage: String,
    pub device: Option<String>,
    pub version: String,
    pub outputs: Option<Value>,
    pub shadow_version: String,
    pub shadow_outputs: Option<Value>,
    pub shadow_error: Option<String>,
    /// Milliseconds.
    pub shadow_ms: f64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `GET …/models/{model}/shadow-results`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShadowResults {
    pub results: Vec<ShadowResult>,
}

/// `GET …/stages/{stage}/guardrails`: a canary's thresholds and the cron's
/// last check of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuardrailStatus {
    pub model: String,
    pub stage: Stage,
    pub canary: String,
    /// ms since the epoch.
    pub since: i64,
    pub guardrails: Option<crate::guardrail::Guardrails>,
    pub checked_at: Option<i64>,
    pub verdict: Option<crate::guardrail::Verdict>,
    pub measured: Option<crate::guardrail::Measured>,
}

/// `POST …/models/{model}/telemetry`: one window of aggregated sketches a
/// client measured while running `version` at `stage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryReport {
    pub version: String,
    pub stage: Stage,
    pub window: crate::telemetry::TelemetryWindow,
}

/// `POST …/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://` (plain `http://` only in development).
    pub url: String,
    /// Event names from `GET …/webhooks` `events`.
    pub events: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// `POST …/models/{model}/telemetry` (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TelemetryAccepted {
    pub accepted: bool,
    pub calls: u64,
    pub rows: u64,
}

/// `GET …/models/{model}/performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PerformanceReport {
    pub model: String,
    /// ms since the epoch; 0 is all time.
    pub since: i64,
    pub rows: Vec<PerformanceRow>,
    /// Width of the buckets in `series` (ms), when `?step=` asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_ms: Option<i64>,
    /// The same, per bucket of `step_ms` from `since`: oldest first, buckets
    /// without calls left out. What the cron compacted (windows older than
    /// 35 days) has no time and is not in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<PerformancePoint>>,
}

/// `GET …/models/{model}/drift`: a version's reference profile against the
/// samples its telemetry carried over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftReportView {
    pub model: String,
    pub version: String,
    pub stage: Option<Stage>,
    /// As asked, e.g. `1h`.
    pub window: String,
    /// ms since the epoch.
    pub since: i64,
    /// Telemetry windows read.
    pub windows: usize,
    pub calls: u64,
    pub rows: u64,
    /// Dataset drift is declared above this share of drifted features.
    pub share_threshold: f64,
    pub dataset: DatasetDrift,
    pub features: Vec<FeatureReport>,
}

/// A webhook endpoint as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Sorted, without repeats.
    pub events: Vec<String>,
    pub description: String,
    /// ms since the epoch.
    pub created_at: i64,
    pub created_by: String,
}

/// A webhook just created: the only time its signing secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

/// `GET …/webhooks`: the endpoints and every event one may subscribe to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Webhooks {
    pub webhooks: Vec<Webhook>,
    pub events: Vec<String>,
}

/// `DELETE …/webhooks/{webhook}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeleted {
    pub id: String,
    pub deleted: bool,
}

/// One delivery attempt record of a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub payload: Value,
    pub created_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub response_status: Option<i64>,
    pub last_error: Option<String>,
}

/// `GET …/webhooks/{webhook}/deliveries`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deliveries {
    pub webhook: String,
    pub deliveries: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

/// One outcome for a Worker prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackItem {
    /// `prediction_id` of the prediction.
    pub prediction_id: String,
    /// Which row of that prediction's inputs (from 0).
    #[serde(default)]
    pub row: u32,
    /// What actually happened: the true class, as text or a number.
    pub label: Value,
    /// Business value of this outcome (e.g. money saved), if any.
    #[serde(default)]
    pub value: Option<f64>,
}

/// `POST …/models/{model}/feedback`: outcomes for Worker predictions, at
/// most [`MAX_FEEDBACK_ITEMS`]. Idempotent: an outcome given again for the
/// same prediction and row is counted once (the first one stands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub outcomes: Vec<FeedbackItem>,
}

/// Most outcomes one feedback request may carry.
pub const MAX_FEEDBACK_ITEMS: usize = 1000;

/// The answer to feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedbackAccepted {
    /// Outcomes stored now.
    pub accepted: u64,
    /// Outcomes that were already stored (a retry, a duplicate).
    pub duplicates: u64,
}

/// `POST …/models/{model}/outcomes`: outcomes a device aggregated itself
/// while running `version` at `stage` — never raw inputs. `id` makes the
/// report idempotent: a window sent again under the same id is kept once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeReport {
    pub version: String,
    pub stage: Stage,
    /// 1 to 64 characters of `[A-Za-z0-9._:-]`, unique per model.
    pub id: String,
    pub window: crate::quality::OutcomeWindow,
}

/// The answer to an outcome report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutcomesAccepted {
    /// False when a window with this id was stored before (nothing changed).
    pub stored: bool,
    pub outcomes: u64,
}

/// A metric the version was registered with, beside what outcomes measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegisteredMetric {
    pub metric: String,
    pub registered: f64,
    pub measured: f64,
    /// measured − registered.
    pub change: f64,
}

/// `GET …/models/{model}/quality?version=&stage=&window=&positive=&low=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QualityView {
    pub model: String,
    pub version: String,
    pub stage: Option<Stage>,
    /// As asked, e.g. `24h`.
    pub window: String,
    /// ms since the epoch.
    pub since: i64,
    /// Outcomes given for Worker predictions made in the window.
    pub feedback: u64,
    /// Device windows received in the window.
    pub reported_windows: u64,
    pub quality: crate::quality::QualityReport,
    /// The version's registered metrics that outcomes measure.
    pub registered: Vec<RegisteredMetric>,
}

/// One version's part of a monitor check, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorCheck {
    pub version: String,
    /// ms since the epoch.
    pub at: i64,
    pub evaluation: crate::monitor::Evaluation,
    /// The events this check raised (a new episode each).
    pub raised: Vec<String>,
}

/// `GET …/models/{model}/stages/{stage}/monitor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorView {
    pub model: String,
    pub stage: Stage,
    pub policy: crate::monitor::MonitorPolicy,
    /// When the cron last checked (ms since the epoch).
    pub checked_at: Option<i64>,
    /// Per version, the kinds of signal in an episode now.
    pub episodes: crate::monitor::Episodes,
    /// The last check of each version it covered.
    pub last: Vec<MonitorCheck>,
}

/// `GET …/models/{model}/stages/{stage}/monitor/history`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorHistory {
    pub model: String,
    pub stage: Stage,
    pub checks: Vec<MonitorCheck>,
}
