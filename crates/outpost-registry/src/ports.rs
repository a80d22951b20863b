//! The ports the use cases are written against: one small trait per
//! aggregate, shaped after the queries the Worker runs, so the D1 adapter
//! keeps its round trips (a port method may stand for one query or one
//! `batch()`). Every method takes the organisation first.
//!
//! Futures are not `Send`: the Worker's are not, and nothing here needs to
//! cross threads.

use outpost_core::api::ModelPolicies;
use outpost_core::auth::Role;
use outpost_core::content_coding::Coding;
use outpost_core::digest::Digest;
use outpost_core::guardrail::Guardrails;
use outpost_core::lifecycle::{Deployment, Stage, StageState};
use outpost_core::signing::SigningKey;
use outpost_core::trust::{Envelope, Targets};
use outpost_core::version::{ArtifactFormat, PrimaryMetric};

use crate::error::StoreError;

/// What the head of a stage's deployment history says, with the
/// organisation's current release when it was asked for (one read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageHead {
    /// `None`: nothing was ever deployed to the stage.
    pub state: Option<StageState>,
    /// The current release (TUF targets), if asked for and one exists.
    pub release: Option<Targets>,
    /// ms since the epoch: when the stage last moved or (if asked for) the
    /// organisation last released, whichever is later; 0 when neither.
    pub changed_at: i64,
}

/// A registered version's artifact: what routing needs of a version row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionArtifact {
    pub version: String,
    pub digest: Digest,
    /// Bytes.
    pub length: u64,
}

/// Tokens of an organisation (authentication reads them by id elsewhere).
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Tokens {
    async fn token(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<outpost_core::api::TokenRecord>, StoreError>;
}

/// Telemetry windows: aggregated sketches from clients and the Worker.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Telemetry {
    /// Stores one (validated) window for a version at a stage; `source` is
    /// `client` or `worker`.
    /// `at` is (model, version, stage, source).
    async fn insert_window(
        &self,
        org: &str,
        at: (&str, &str, Stage, &str),
        window: &outpost_core::telemetry::TelemetryWindow,
    ) -> Result<(), StoreError>;
    /// One version's windows (optionally at one stage) received since
    /// `since` (ms).
    async fn version_windows(
        &self,
        org: &str,
        model: &str,
        version: &str,
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<outpost_core::telemetry::TelemetryWindow>, StoreError>;
}

/// A Worker prediction kept so that feedback can name it: per row of the
/// inputs, what the classifier predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    pub id: String,
    pub model: String,
    pub version: String,
    pub stage: Stage,
    /// ms since the epoch.
    pub at: i64,
    pub rows: Vec<outpost_core::quality::Predicted>,
}

/// An outcome for one row of a kept prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRow {
    pub prediction_id: String,
    pub row: u32,
    pub version: String,
    pub stage: Stage,
    /// When the prediction was made (ms): windows of quality are by it.
    pub predicted_at: i64,
    pub outcome: outpost_core::quality::LabelledOutcome,
}

/// Ground truth: kept predictions, outcomes given for them, and outcome
/// windows devices aggregated.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Outcomes {
    async fn insert_prediction(
        &self,
        org: &str,
        record: &PredictionRecord,
    ) -> Result<(), StoreError>;
    /// The kept predictions of `model` among `ids` (those that exist).
    async fn predictions(
        &self,
        org: &str,
        model: &str,
        ids: &[&str],
    ) -> Result<Vec<PredictionRecord>, StoreError>;
    /// Stores the outcomes not stored before (by prediction id and row, in
    /// one transaction); how many were new.
    async fn insert_feedback(
        &self,
        org: &str,
        model: &str,
        rows: &[FeedbackRow],
    ) -> Result<u64, StoreError>;
    /// Stores a device's window under `id` unless one is stored under it
    /// already; whether it was stored now. `at` is (model, version, stage).
    async fn insert_outcome_window(
        &self,
        org: &str,
        at: (&str, &str, Stage),
        id: &str,
        window: &outpost_core::quality::OutcomeWindow,
    ) -> Result<bool, StoreError>;
    /// Outcomes given for one version's predictions (optionally at one
    /// stage) made since `since` (ms). `at` is (model, version).
    async fn version_outcomes(
        &self,
        org: &str,
        at: (&str, &str),
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<outpost_core::quality::LabelledOutcome>, StoreError>;
    /// Device windows of one version (optionally at one stage) received
    /// since `since` (ms). `at` is (model, version).
    async fn version_outcome_windows(
        &self,
        org: &str,
        at: (&str, &str),
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<outpost_core::quality::OutcomeWindow>, StoreError>;
}

/// One version's part of a monitor check: the API's own type.
pub use outpost_core::api::MonitorCheck;

/// A stage's monitor as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMonitor {
    pub org: String,
    pub model: String,
    pub stage: Stage,
    pub policy: outpost_core::monitor::MonitorPolicy,
    pub episodes: outpost_core::monitor::Episodes,
    /// When the cron last checked it (ms).
    pub checked_at: Option<i64>,
}

/// Monitors of models' stages and their checks.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Monitors {
    async fn monitor(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Option<StoredMonitor>, StoreError>;
    /// Every monitor, across organisations (for the cron).
    async fn all_monitors(&self) -> Result<Vec<StoredMonitor>, StoreError>;
    /// The newest checks of a stage's monitor, newest first.
    async fn monitor_checks(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        limit: usize,
    ) -> Result<Vec<MonitorCheck>, StoreError>;
}

/// A registered webhook endpoint (never its secret): the API's own answer
/// type, so the port and the response cannot drift apart.
pub use outpost_core::api::Webhook as WebhookEndpoint;

/// Webhook endpoints of an organisation.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Webhooks {
    /// How many endpoints the organisation has (deleted ones excluded).
    async fn webhook_count(&self, org: &str) -> Result<usize, StoreError>;
    async fn webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;
}

/// What statistics read (`crate::stats`): holdings, what each stage routes
/// to, and the usage counted per hour.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Statistics {
    /// Every model of `org` with its versions' count, bytes and digests, by name.
    async fn model_holdings(
        &self,
        org: &str,
    ) -> Result<Vec<outpost_core::stats::ModelHoldings>, StoreError>;
    /// The organisation's version bytes and artifacts.
    async fn org_holdings(&self, org: &str)
    -> Result<outpost_core::stats::OrgHoldings, StoreError>;
    /// The newest history entry of every model's every stage.
    async fn all_stage_heads(&self, org: &str) -> Result<Vec<Deployment>, StoreError>;
    /// Usage summed per kind and subject over the hours from `day_from`
    /// and from `month_from` (ms, hour starts).
    async fn usage(
        &self,
        org: &str,
        day_from: i64,
        month_from: i64,
    ) -> Result<Vec<outpost_core::stats::UsageRow>, StoreError>;
}

/// Encryption at rest (`crate::encryption`): the deployment's secret, each
/// organisation's key version, and where its artifacts are stored now.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait AtRest {
    /// Whether the deployment has an at-rest secret.
    fn at_rest_configured(&self) -> bool;
    /// The organisation's key version; `None` while encryption is off.
    async fn org_encryption(
        &self,
        org: &str,
    ) -> Result<Option<outpost_core::at_rest::OrgEncryption>, StoreError>;
    /// The organisation's artifacts counted per key version (`None`:
    /// plaintext).
    async fn objects_at(
        &self,
        org: &str,
    ) -> Result<Vec<outpost_core::at_rest::ObjectsAt>, StoreError>;
}

/// Imports: what the registry recorded of each export it imported.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Imports {
    /// The record of the import of the export with this identity, if any.
    async fn import_record(
        &self,
        org: &str,
        model: &str,
        id: &Digest,
    ) -> Result<Option<outpost_core::bundle::ImportRecord>, StoreError>;
    /// Every import into the model, oldest first.
    async fn import_records(
        &self,
        org: &str,
        model: &str,
    ) -> Result<Vec<outpost_core::bundle::ImportRecord>, StoreError>;
}

/// Reference profiles: one per version.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Profiles {
    async fn reference_profile(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<outpost_core::profile::ReferenceProfile>, StoreError>;
}

/// Models: names inside an organisation.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Models {
    async fn model_exists(&self, org: &str, model: &str) -> Result<bool, StoreError>;
    /// `None` when the model does not exist; else its primary metric, if
    /// it has one (what `auto` bumps compare).
    async fn model_primary_metric(
        &self,
        org: &str,
        model: &str,
    ) -> Result<Option<Option<PrimaryMetric>>, StoreError>;
}

/// Stages: the head of each stage's append-only deployment history.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Stages {
    /// The stage's current state and, when `with_release`, the current
    /// release metadata, in one read.
    async fn stage_head(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        with_release: bool,
    ) -> Result<StageHead, StoreError>;
}

/// Versions: immutable rows, one per registered version.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Versions {
    /// The artifacts of those of `versions` that exist (absent ones are
    /// simply missing from the answer).
    async fn version_artifacts(
        &self,
        org: &str,
        model: &str,
        versions: &[&str],
    ) -> Result<Vec<VersionArtifact>, StoreError>;
}

/// The deployment's online keys and the routing salt.
pub trait Keys {
    /// The director's signing key (resolutions).
    fn director(&self) -> Result<SigningKey, StoreError>;
    /// The salt of the routing buckets: stable for the deployment, unknown
    /// to anyone who could choose device ids.
    fn routing_salt(&self) -> Result<Digest, StoreError>;
}

/// Time and randomness, so tests can fix both.
pub trait Clock {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// A uniformly random `u32` (buckets of devices without an id).
    fn random_u32(&self) -> Result<u32, StoreError>;
    /// `n` cryptographically random bytes (ids, secrets).
    fn random_bytes(&self, n: usize) -> Result<Vec<u8>, StoreError>;
    /// The time now, read again (for work that outlasts a request, like a
    /// run of webhook deliveries); `now_ms` unless the runtime can tell.
    fn wall_clock_ms(&self) -> i64 {
        self.now_ms()
    }
}

/// Who made a change: the holder of a token, or the cron (which acts as the
/// organisation's operator, and is recorded as `cron`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// `name` is the token's name: what the deployment history shows.
    Caller {
        token_id: String,
        name: String,
        role: Role,
    },
    Cron,
    /// The deployment's bootstrap secret creating an organisation (it has
    /// no role inside any organisation).
    Bootstrap,
}

impl Actor {
    /// The name the deployment history records for this actor.
    pub fn history_name(&self) -> &str {
        match self {
            Actor::Caller { name, .. } => name,
            Actor::Cron => "cron",
            Actor::Bootstrap => "bootstrap",
        }
    }

    /// The role this actor acts with (the cron acts as an operator).
    pub fn role(&self) -> Role {
        match self {
            Actor::Caller { role, .. } => *role,
            Actor::Cron => Role::Operator,
            Actor::Bootstrap => Role::Admin,
        }
    }

    /// The audit log's `actor` and `role` for this actor.
    pub fn audit_fields(&self) -> (String, Option<String>) {
        match self {
            Actor::Caller { token_id, role, .. } => {
                (token_id.clone(), Some(role.as_str().to_owned()))
            }
            Actor::Cron => ("cron".to_owned(), Some(Role::Operator.as_str().to_owned())),
            Actor::Bootstrap => ("bootstrap".to_owned(), None),
        }
    }
}

/// The audit entry a change is committed with (the store chains it).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub actor: Actor,
    /// `trust.root`, `trust.release`, `trust.timestamp`, …
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
}

/// A TUF role whose metadata the registry stores, by version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrustRole {
    Root,
    Targets,
    Snapshot,
    Timestamp,
}

impl TrustRole {
    pub fn parse(name: &str) -> Option<Self> {
        [
            TrustRole::Root,
            TrustRole::Targets,
            TrustRole::Snapshot,
            TrustRole::Timestamp,
        ]
        .into_iter()
        .find(|role| role.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TrustRole::Root => "root",
            TrustRole::Targets => "targets",
            TrustRole::Snapshot => "snapshot",
            TrustRole::Timestamp => "timestamp",
        }
    }
}

/// A typed write. The store turns a list of changes and their audit event
/// into one transaction (D1: one `batch()`).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Seals the organisation's new artifacts under `key_version` from now
    /// on (enabling encryption at rest, or rotating its key); the background
    /// job re-seals the others.
    SetKeyVersion { key_version: u32 },
    /// A new version of a role's metadata; `(org, role, version)` is unique.
    TrustFile {
        role: TrustRole,
        version: u64,
        envelope: Envelope,
    },
    /// A new entry of a stage's history; `(org, model, stage, seq)` is
    /// unique, which is what serialises concurrent moves of one stage.
    Deployment(Deployment),
    /// A move ends the rollout its stage's guardrails watched.
    ClearGuardrails { model: String, stage: Stage },
    /// Guardrails for the canary a rollout sets, watched from `since` (ms).
    SetGuardrails {
        model: String,
        stage: Stage,
        canary: String,
        since: i64,
        policy: Guardrails,
    },
    /// Replaces a version's tags if they still are `old` (compare-and-set,
    /// so concurrent edits cannot lose one).
    SetTags {
        model: String,
        version: String,
        old: Vec<String>,
        new: Vec<String>,
    },
    /// Stores a version's reference profile (one per version, written once).
    SetReference {
        model: String,
        version: String,
        profile: Box<outpost_core::profile::ReferenceProfile>,
        created_by: String,
    },
    /// Creates an organisation (`name` is unique).
    CreateOrg { name: String, display_name: String },
    /// Stores a minted token: its record and the hash of its secret.
    CreateToken {
        record: outpost_core::api::TokenRecord,
        secret_hash: Digest,
    },
    /// Revokes a token (permanent).
    RevokeToken { id: String },
    /// Records a guardrail check of the rollout watched since `since`:
    /// verdict and measurements (JSON), and whether drift was announced.
    RecordGuardrailCheck {
        model: String,
        stage: Stage,
        since: i64,
        verdict: serde_json::Value,
        measured: serde_json::Value,
        drift_notified: bool,
    },
    /// Sets (or replaces) the monitor of a model's stage; its episodes start over.
    SetMonitor {
        model: String,
        stage: Stage,
        policy: serde_json::Value,
        by: String,
    },
    /// Records one check of a monitor: the episodes after it, and per
    /// version its evaluation and the events it raised.
    RecordMonitorCheck {
        model: String,
        stage: Stage,
        episodes: serde_json::Value,
        checks: Vec<MonitorCheck>,
    },
    /// Registers a webhook endpoint with its signing secret.
    CreateWebhook(WebhookEndpoint, String),
    /// Deletes an endpoint: its pending deliveries fail, the log stays.
    DeleteWebhook { id: String },
    /// Creates a model (`(org, name)` is unique), recording who created it.
    CreateModel {
        request: outpost_core::api::CreateModelRequest,
        created_by: String,
    },
    /// Registers a version (`(org, model, version)` is unique: versions are
    /// immutable).
    RegisterVersion(outpost_core::api::VersionRecord),
    /// Records an import (`(org, model, id)` is unique: the same export
    /// imported concurrently commits once).
    RecordImport(Box<outpost_core::bundle::ImportRecord>),
    /// Sets (inserts or replaces) a model's policies.
    SetPolicies {
        model: String,
        policies: ModelPolicies,
    },
    /// Removes a version row.
    DeleteVersion { model: String, version: String },
    /// Removes an artifact's row (its R2 object goes after the commit).
    DeleteBlob { digest: Digest },
    /// Marks an artifact as just asked for again (an upload of content
    /// stored already, the start of one), so the collector gives the
    /// registration that follows its grace period anew.
    ClaimBlob { digest: Digest },
    /// Removes an artifact's row if it was recorded (or last claimed)
    /// before `before` (ms) and
    /// no version refers to it *at the time of the write* (a registration
    /// that took it meanwhile keeps it).
    CollectBlob { digest: Digest, before: i64 },
    /// Records an artifact whose object holds verified bytes; identical
    /// content recorded concurrently keeps the first row.
    RecordBlob {
        digest: Digest,
        size: u64,
        created_by: String,
    },
    /// Records an artifact's verified copy in `coding`, unless one is
    /// recorded already (the first wins), or the artifact is sealed at rest
    /// or its organisation has encryption on by the time of the write.
    RecordCodedCopy {
        digest: Digest,
        coding: Coding,
        copy: StoredCopy,
    },
    /// Opens a multipart upload (one per digest: `(org, digest)` is unique).
    OpenUpload {
        upload: OpenUpload,
        created_by: String,
    },
    /// Records (or replaces) a received part with its store etag, sha256
    /// and length.
    RecordPart {
        upload: String,
        number: u64,
        etag: String,
        digest: Digest,
        length: u64,
    },
    /// Forgets an upload and its parts.
    CloseUpload { id: String },
    /// An outbox delivery of `event` to every endpoint subscribed to it.
    Webhook {
        event: &'static str,
        data: serde_json::Value,
    },
}

/// Why a commit did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// A unique constraint of the named aggregate refused a change: someone
    /// else wrote first. Nothing was written; re-read and retry (or report).
    #[error("another write to {0} committed first")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommitError {
    /// For changes that cannot conflict (idempotent inserts): a conflict is
    /// a storage fault like any other.
    pub fn into_store(self) -> StoreError {
        match self {
            CommitError::Conflict(what) => {
                StoreError::new(format!("unexpected conflict on {what}"))
            }
            CommitError::Store(err) => err,
        }
    }
}

/// Atomic writes with their audit entry (or, for bookkeeping that is not a
/// change of state — a check's verdict — without one).
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Commit {
    /// Applies `changes` all or nothing, with no audit entry.
    async fn apply(&self, org: &str, changes: Vec<Change>) -> Result<(), CommitError>;
    /// Applies `changes` and appends `event` to the organisation's audit
    /// chain, all or nothing.
    async fn commit(
        &self,
        org: &str,
        changes: Vec<Change>,
        event: AuditEvent,
    ) -> Result<(), CommitError>;
}

/// Trust metadata as stored: every version of every role.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait TrustFiles {
    /// The newest version of `role` and its envelope.
    async fn latest_trust_file(
        &self,
        org: &str,
        role: TrustRole,
    ) -> Result<Option<(u64, Envelope)>, StoreError>;
    /// One stored version of `role`.
    async fn trust_file(
        &self,
        org: &str,
        role: TrustRole,
        version: u64,
    ) -> Result<Option<Envelope>, StoreError>;
}

/// The online key (snapshot and timestamp), beside the director's.
pub trait OnlineKey {
    fn online(&self) -> Result<SigningKey, StoreError>;
}

/// Stage histories: append-only, one sequence per model and stage.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Deployments {
    /// The newest entry of one stage, if it ever moved.
    async fn stage_head_entry(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Option<Deployment>, StoreError>;
    /// One stage's whole history, oldest first.
    async fn stage_history(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Vec<Deployment>, StoreError>;
    /// The newest entry of every stage of a model (stages that never moved
    /// are absent).
    async fn stage_heads(&self, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError>;
    /// A model's whole history, every stage, oldest first.
    async fn model_history(&self, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError>;
    /// Whether `version` was ever part of the staging stage.
    async fn was_in_staging(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<bool, StoreError>;
}

/// What the promotion gates need of a version row.
#[derive(Debug, Clone, PartialEq)]
pub struct GateFacts {
    pub digest: Digest,
    /// Bytes.
    pub length: u64,
    /// `onnx`, `pickle`, … (`outpost_core::version::ArtifactFormat`).
    pub format: String,
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// `ok` or `unsafe` (with the scan's reason).
    pub status: String,
    pub status_reason: Option<String>,
}

/// What retention knows of one version row.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionAge {
    pub version: String,
    /// ms since the epoch.
    pub created_at: i64,
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// Version details beyond the artifact.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait VersionDetails {
    /// The version's digest and how many *other* versions of the
    /// organisation use the same artifact (the blob goes when none does).
    async fn deletion_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<(Digest, u64)>, StoreError>;
    /// The highest registered version (by semver) and its value of the
    /// metric `metric`, if any.
    async fn highest_version(
        &self,
        org: &str,
        model: &str,
        metric: Option<&str>,
    ) -> Result<Option<(semver::Version, Option<f64>)>, StoreError>;
    /// A version as the API shows it.
    async fn version_record(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<outpost_core::api::VersionRecord>, StoreError>;
    /// Every version of a model, for retention.
    async fn version_ages(&self, org: &str, model: &str) -> Result<Vec<VersionAge>, StoreError>;
    async fn gate_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<GateFacts>, StoreError>;
}

/// A model's promotion and retention policies.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Policies {
    async fn model_policies(&self, org: &str, model: &str) -> Result<ModelPolicies, StoreError>;
}

/// An artifact read back from storage and hashed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rehashed {
    /// Whether the stored bytes still hash to the digest.
    pub matches: bool,
    /// The bytes, when small enough to inspect (the runtime check).
    pub bytes: Option<Vec<u8>>,
}

/// What actually arrived of a declared artifact or part, hashed as it
/// streamed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes (at least this many when the store stopped reading early).
    pub length: u64,
    pub digest: Digest,
}

/// How an object store took a body declared to be of a given length (and,
/// for whole artifacts, digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// Stored; `etag` is the store's name for the bytes (multipart parts
    /// need it to be assembled, a whole object's is unused).
    Stored { etag: String, received: Received },
    /// The store refused the bytes against the declaration (length or
    /// sha256) and kept nothing.
    Refused(Received),
}

/// A stored artifact's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFacts {
    /// Bytes.
    pub size: u64,
    /// ms since the epoch (the artifact's `Last-Modified`).
    pub created_at: i64,
    /// Its kept gzip copy, when one is kept and may be served (never while
    /// `sealed`).
    pub gzip: Option<StoredCopy>,
    /// Whether it is sealed at rest, or is about to be (its organisation
    /// has encryption on): no compressed copy is kept or sent for it, since
    /// a copy would be plaintext in R2.
    pub sealed: bool,
}

/// A compressed copy the store keeps for an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCopy {
    /// Bytes.
    pub size: u64,
    /// Which upload it is (the store's object of that copy).
    pub id: String,
}

/// What a compressed copy put into the store decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyArrival {
    /// Stored, and decoded to these bytes (hashing stops one byte past the
    /// limit the store was given); `trailer` is the copy's last 8 bytes.
    Decoded {
        received: Received,
        trailer: Vec<u8>,
    },
    /// Nothing was kept: the body was not `encoded_size` bytes, or did not
    /// decode (the runtime's words).
    Refused(String),
}

/// Artifacts (R2): content-addressed per organisation.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Blobs {
    /// A body on its way in (the Worker's request stream).
    type Incoming;
    /// A body on its way out (the Worker's R2 object body).
    type Object;
    /// The artifact's row, if it was uploaded (and finished uploading).
    async fn blob_facts(&self, org: &str, digest: &Digest)
    -> Result<Option<BlobFacts>, StoreError>;
    /// Streams `body` into the object of `digest`, which the store checks
    /// against `size` bytes and the digest as it writes: on a mismatch it
    /// keeps nothing and says what arrived.
    async fn put_object(
        &self,
        org: &str,
        digest: &Digest,
        size: u64,
        body: Self::Incoming,
    ) -> Result<Arrival, StoreError>;
    /// The object, or `range` of it (`None`: the object is missing).
    async fn open_object(
        &self,
        org: &str,
        digest: &Digest,
        range: Option<outpost_core::conditional::ByteRange>,
    ) -> Result<Option<Self::Object>, StoreError>;
    /// `range` of the object's bytes, read into memory (small parts of a
    /// multipart answer); `None`: the object is missing.
    async fn read_range(
        &self,
        org: &str,
        digest: &Digest,
        range: outpost_core::conditional::ByteRange,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Re-reads and re-hashes the artifact; `None` when it is missing.
    async fn rehash(&self, org: &str, digest: &Digest) -> Result<Option<Rehashed>, StoreError>;
    /// Artifacts, across organisations, recorded and last claimed before
    /// `before` (ms) that no version refers to: at most `limit`, oldest
    /// first.
    async fn unreferenced_blobs(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(String, Digest)>, StoreError>;
    /// Deletes the object if it was last written before `before` (ms);
    /// whether it did. An object written since (the same content uploaded
    /// again while its old row was being collected) stays.
    async fn delete_stale_object(
        &self,
        org: &str,
        digest: &Digest,
        before: i64,
    ) -> Result<bool, StoreError>;
    /// The artifact's bytes (`None`: its object is missing).
    async fn read(&self, org: &str, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes the artifact's object (after its row is gone: an object left
    /// behind by a failure is unreachable and harmless), and any coded copy.
    async fn delete_object(&self, org: &str, digest: &Digest) -> Result<(), StoreError>;
    /// Streams `body`, `copy.1` bytes coded with `copy.0`, into the
    /// artifact's copy `id` in that coding, then decodes what was stored and
    /// hashes it, stopping once more than `limit` decoded bytes came out
    /// (a decompression bomb costs one byte past the artifact's size).
    /// The copy stays in the store only as an object: it is served once
    /// recorded ([`Change::RecordCodedCopy`]). On an error nothing stays.
    async fn put_coded_copy(
        &self,
        org: &str,
        artifact: (&Digest, &str),
        copy: (Coding, u64),
        limit: u64,
        body: Self::Incoming,
    ) -> Result<CopyArrival, StoreError>;
    /// The artifact's whole copy `id` (`None`: it is missing).
    async fn open_coded_copy(
        &self,
        org: &str,
        digest: &Digest,
        copy: (Coding, &str),
    ) -> Result<Option<Self::Object>, StoreError>;
    /// Deletes the artifact's copy `id` (one that was refused, or lost a
    /// race).
    async fn discard_coded_copy(
        &self,
        org: &str,
        digest: &Digest,
        copy: (Coding, &str),
    ) -> Result<(), StoreError>;
}

/// What inspecting an artifact at registration found.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub format: ArtifactFormat,
    /// ONNX inputs/outputs, safetensors tensors, the pickle scan, or none.
    pub schema: Option<serde_json::Value>,
    /// Why the artifact must not be loaded, if it must not.
    pub unsafe_reason: Option<String>,
}

/// The model runtime: the promotion gate "it loads", and inspection at
/// registration (format, schema, safety scan).
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Runtime {
    /// Whether an ONNX model loads, optimises and plans (`Ok(Err(reason))`
    /// if not). The runtime may live elsewhere (the Worker asks the
    /// inference Worker), so not being able to ask is a `StoreError`, never
    /// an answer.
    async fn check_loadable(&self, bytes: &[u8]) -> Result<Result<(), String>, StoreError>;
    /// Inspects the bytes (the declared format, if any, is checked against
    /// them); the reason when they are not what they claim.
    fn inspect(&self, bytes: &[u8], declared: Option<ArtifactFormat>)
    -> Result<Inspection, String>;
}

/// An open multipart upload, with the parts received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    pub id: String,
    pub digest: Digest,
    pub plan: outpost_core::upload::PartPlan,
    /// The object store's id of the multipart upload.
    pub backend_id: String,
    /// Received parts (number, the store's etag), by number.
    pub parts: Vec<(u64, String)>,
}

impl OpenUpload {
    /// The numbers of the parts received.
    pub fn parts_done(&self) -> Vec<u64> {
        self.parts.iter().map(|(number, _)| *number).collect()
    }
}

/// Resumable multipart uploads: rows in D1, parts in R2.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Uploads {
    /// A part's body on its way in.
    type Part;
    async fn open_upload(&self, org: &str, id: &str) -> Result<Option<OpenUpload>, StoreError>;
    /// The open upload of `digest` (at most one: asking again resumes it).
    async fn open_upload_of(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<OpenUpload>, StoreError>;
    /// Open uploads, across organisations, started before `before` (ms):
    /// at most `limit`, oldest first.
    async fn stale_uploads(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(String, OpenUpload)>, StoreError>;
    /// Starts a multipart upload of the object of `digest` in the object
    /// store; its id.
    async fn begin_multipart(&self, org: &str, digest: &Digest) -> Result<String, StoreError>;
    /// Abandons a multipart upload in the object store (best effort: an
    /// abandoned one expires there on its own).
    async fn abort_multipart(&self, org: &str, digest: &Digest, backend_id: &str);
    /// Streams part `number` of `length` bytes into the upload, hashing it.
    async fn put_part(
        &self,
        org: &str,
        upload: &OpenUpload,
        number: u64,
        length: u64,
        body: Self::Part,
    ) -> Result<Arrival, StoreError>;
    /// Assembles the received parts (away from the artifact's key), hashes
    /// all of it again end to end, and moves it to the artifact's object
    /// only if it is the declared digest and size: on a mismatch nothing is
    /// written there. Returns what was assembled.
    async fn complete_multipart(
        &self,
        org: &str,
        upload: &OpenUpload,
    ) -> Result<Received, StoreError>;
}

/// A delivery of the webhook outbox that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The message id (`webhook-id`), the same on every retry.
    pub id: String,
    pub payload: String,
    pub attempts: u64,
    pub next_attempt_at: i64,
    pub url: String,
    /// `whsec_…`.
    pub secret: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered(u16),
    /// The status if one came back, when to try again (`None`: given up),
    /// and why.
    Failed {
        status: Option<u16>,
        next: Option<i64>,
        error: String,
    },
}

/// The webhook outbox, across organisations (deliveries are made by the
/// cron and after responses).
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Outbox {
    async fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<DueDelivery>, StoreError>;
    /// Claims a due delivery by pushing its next attempt out to `lease`;
    /// false when another run claimed it first.
    async fn claim_delivery(&self, due: &DueDelivery, lease: i64) -> Result<bool, StoreError>;
    async fn record_attempt(
        &self,
        id: &str,
        attempts: u64,
        at: i64,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;
}

/// Sends an HTTP POST (webhooks): the status, or why nothing came back.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Sender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &str,
        timeout_ms: u64,
    ) -> Result<u16, String>;
}
