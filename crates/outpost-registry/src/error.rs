//! The use cases' one error type. Each variant is a domain outcome with a
//! stable problem kind; the shells turn it into their own form (the Worker
//! into RFC 9457 problem+json in `worker/src/error.rs`) without deciding
//! anything about it.

use outpost_core::api::{ModelRequestError, RegistrationError};
use outpost_core::content_coding::Coding;
use outpost_core::digest::Digest;
use outpost_core::guardrail::GuardrailError;
use outpost_core::lifecycle::{DeletionRefusal, GateFailure, LifecycleError, PolicyError, Stage};
use outpost_core::routing::RolloutError;
use outpost_core::trust::TrustError;
use outpost_core::upload::{PartPlan, PlanError};
use outpost_core::{Problem, ProblemKind};

use crate::ports::Received;

/// A port failed under a use case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Storage failed (D1, R2, …): never the caller's fault, so it becomes a
    /// generic 500 and its text goes to the log only.
    #[error("{0}")]
    Failed(String),
    /// The deployment lacks something it needs (a secret, a binding): 503
    /// with the detail, since the operator can fix it.
    #[error("{0}")]
    NotConfigured(String),
    /// A stored object cannot be read back as it was stored (an encrypted
    /// chunk fails authentication): 503 with the detail, and never the
    /// bytes; the operator restores the object from a backup.
    #[error("{0}")]
    Damaged(String),
}

impl StoreError {
    pub fn new(cause: impl std::fmt::Display) -> Self {
        Self::Failed(cause.to_string())
    }
}

/// Why a use case refused, or that storage failed under it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "no model `{model}` in organisation `{org}`; create it first (POST /v1/orgs/{org}/models)"
    )]
    ModelNotFound { org: String, model: String },
    #[error("nothing is deployed to {model}@{stage}")]
    NothingDeployed { model: String, stage: Stage },
    /// The stage's history names a version whose row is gone (deleted out of
    /// band, or a restore that lost it): refuse rather than guess.
    #[error("{model}@{stage} points at {version}, which no longer exists")]
    VersionVanished {
        model: String,
        stage: Stage,
        version: String,
    },
    #[error(
        "{model}@{version} is deployed to {stage} but not released: sign a release naming `{target}` (outpost release sign) first"
    )]
    NotReleased {
        model: String,
        version: String,
        stage: Stage,
        target: String,
    },
    /// Uploaded trust metadata failed the device-side checks (its code, e.g.
    /// `BAD_SIGNATURE`, travels as the problem's `code`).
    #[error("{0}")]
    TrustRefused(TrustError),
    #[error("organisation `{org}` has no root yet; upload one with `outpost trust upload`")]
    NoRoot { org: String },
    /// A root that does not let this deployment sign: devices would reject
    /// everything the Worker serves.
    #[error(
        "the root's {role} role does not include this deployment's {which} key {key_id} (GET /v1/keys)"
    )]
    RootLacksKey {
        role: &'static str,
        which: &'static str,
        key_id: String,
    },
    #[error("target `{path}` must be named MODEL/VERSION")]
    TargetUnnamed { path: String },
    #[error("target `{path}` is not a registered version")]
    TargetNotRegistered { path: String },
    #[error(
        "target `{path}` says {declared} / {length} bytes, but the registry holds {digest} / {size} bytes"
    )]
    TargetMismatch {
        path: String,
        declared: String,
        length: u64,
        digest: String,
        size: u64,
    },
    #[error("another root or release was stored concurrently; fetch the current one and retry")]
    ConcurrentRoot,
    #[error("another release was stored concurrently; fetch targets.json again, re-sign and retry")]
    ConcurrentRelease,
    #[error("only an admin may force a promotion past its gates")]
    ForceNeedsAdmin,
    #[error("a forced promotion needs a reason")]
    ForceNeedsReason,
    #[error("no version `{version}` of model `{model}`")]
    VersionNotFound { model: String, version: String },
    /// The gates a version failed on its way into a stage (each with its
    /// stable name), and whether an admin's force could override them all.
    #[error("{model}@{version} cannot go to {stage}: {}", gate_details(.failures))]
    GatesFailed {
        model: String,
        version: String,
        stage: Stage,
        failures: Vec<GateFailure>,
        forceable: bool,
    },
    #[error(
        "nothing is deployed to {model}@{stage}: promote a stable version first, or name one with `stable`"
    )]
    NoStableVersion { model: String, stage: Stage },
    #[error("{model}@{stage}: {error}")]
    InvalidRollout {
        model: String,
        stage: Stage,
        error: RolloutError,
    },
    #[error("guardrails: {0}")]
    InvalidGuardrails(GuardrailError),
    #[error("guardrails watch a canary: give the rollout a `canary` arm, or leave guardrails out")]
    GuardrailsWithoutCanary,
    /// Clearing a rollout of a stage that never had a version.
    #[error("nothing is deployed to {model}@{stage}")]
    NothingToClear { model: String, stage: Stage },
    #[error("{model}@{stage}: {error}")]
    NoRollbackTarget {
        model: String,
        stage: Stage,
        error: LifecycleError,
    },
    #[error("{model}@{version} has been deleted, so {stage} cannot roll back to it")]
    RollbackToDeleted {
        model: String,
        version: String,
        stage: Stage,
    },
    #[error("{model}@{stage} kept moving under this request; retry")]
    StageKeptMoving { model: String, stage: Stage },
    #[error("{0}")]
    DeletionRefused(DeletionRefusal),
    #[error("a stage moved while deleting; retry")]
    StageMovedWhileDeleting,
    #[error("model `{model}` has no retention policy; set one first (PUT …/models/{model}/policy)")]
    NoRetentionPolicy { model: String },
    #[error("{0}")]
    InvalidModel(ModelRequestError),
    /// A version asked for by path that does not exist.
    #[error("no version `{version}` of model `{model}` in organisation `{org}`")]
    NoSuchVersion {
        org: String,
        model: String,
        version: String,
    },
    #[error("{0}")]
    InvalidTag(outpost_core::version::VersionError),
    #[error("the tags changed concurrently; read them again and retry")]
    TagsChangedConcurrently,
    #[error("{0}")]
    InvalidProfile(outpost_core::profile::ProfileError),
    #[error("{0}")]
    InvalidSubscription(outpost_core::webhook::SubscriptionError),
    #[error("{0}")]
    InvalidWindow(outpost_core::telemetry::TelemetryError),
    #[error("{0}")]
    InvalidOrgName(outpost_core::auth::AuthError),
    #[error("organisation `{org}` already exists; ask one of its admins for a token")]
    OrgExists { org: String },
    #[error("token name must be 1-64 characters")]
    TokenName,
    #[error("expires_in must be at least 1 second")]
    TokenLifetime,
    #[error("no token `{id}` in organisation `{org}`")]
    TokenNotFound { org: String, id: String },
    #[error("{model} has no version `{version}`; telemetry is reported for registered versions")]
    TelemetryForUnknownVersion { model: String, version: String },
    #[error("{0}")]
    InvalidFeedback(String),
    #[error("{0}")]
    InvalidMonitor(String),
    #[error(
        "{model}@{stage} has no monitor; set one with `outpost monitor set {model} --stage {stage} …`"
    )]
    MonitorNotFound { model: String, stage: Stage },
    #[error("a description is at most 200 bytes")]
    WebhookDescriptionTooLong,
    #[error("{org} has {max} webhooks already; delete one first")]
    TooManyWebhooks { org: String, max: usize },
    #[error("no webhook `{id}` in this organisation")]
    WebhookNotFound { id: String },
    #[error(
        "encryption at rest is off in organisation `{org}`; enable it first (outpost org encryption enable)"
    )]
    EncryptionOff { org: String },
    #[error(
        "{model}@{version} has a reference profile already; profiles are immutable like versions — register a new version to change it"
    )]
    ReferenceExists { model: String, version: String },
    #[error("{model}@{version} got a reference profile from another request first")]
    ReferenceRaced { model: String, version: String },
    #[error("model `{model}` already exists in organisation `{org}`")]
    ModelExists { org: String, model: String },
    #[error("{0}")]
    InvalidRegistration(RegistrationError),
    #[error("parent version `{parent}` of model `{model}` does not exist")]
    ParentMissing { model: String, parent: String },
    #[error("artifact {digest} is not uploaded; PUT it to /v1/orgs/{org}/blobs/sha256/{} first", .digest.hex())]
    ArtifactNotUploaded { org: String, digest: Digest },
    #[error("artifact {digest} has {stored} bytes, but the registration declares {declared}")]
    ArtifactSizeMismatch {
        digest: Digest,
        stored: u64,
        declared: u64,
    },
    /// The bytes are not what the registration says (or not a model at all).
    #[error("{0}")]
    ArtifactRefused(String),
    #[error(
        "version {version} of model `{model}` already exists and versions are immutable; register a new version (e.g. bump patch)"
    )]
    VersionExists { model: String, version: String },
    /// An export that contradicts itself, names another model, or carries
    /// release signatures that do not verify.
    #[error("the export cannot be imported: {0}")]
    InvalidImport(String),
    #[error(
        "{model}@{version} exists here with artifact {here}, but the export has {exported}; versions are immutable, so the import stops (nothing was written)"
    )]
    ImportConflict {
        model: String,
        version: String,
        here: Digest,
        exported: Digest,
    },
    #[error(
        "model `{model}` exists here with versions, none of which the export has: it is another model of the same name; import into another organisation, or rename one of them"
    )]
    ImportUnrelated { model: String },
    #[error("another import or registration of `{model}` committed first; import again")]
    ImportRaced { model: String },
    #[error("other registrations of `{model}` kept taking the next version number; retry")]
    BumpKeptRacing { model: String },
    /// A promotion or retention policy that does not hold together.
    #[error("{0}")]
    InvalidPolicy(PolicyError),
    #[error("no blob {digest} in organisation `{org}`")]
    BlobNotFound { org: String, digest: Digest },
    #[error(
        "organisation `{org}` keeps its artifacts sealed at rest, and a compressed copy would be stored in plaintext: none is kept for {digest}, and its downloads are sent uncompressed"
    )]
    CodedCopySealed { org: String, digest: Digest },
    #[error(
        "a {coding} copy of {encoded} bytes does not save enough of the artifact's {size} bytes (it must save at least 1/16 and {min} bytes); nothing was stored, and downloads stay uncompressed",
        coding = .coding.name(), min = outpost_core::content_coding::MIN_SAVING
    )]
    CodedCopyNotWorthIt {
        coding: Coding,
        size: u64,
        encoded: u64,
    },
    #[error(
        "the {coding} copy does not decode to {digest} ({size} bytes): {found}; nothing was stored",
        coding = .coding.name(), digest = .declared.0, size = .declared.1
    )]
    CodedCopyMismatch {
        coding: Coding,
        declared: (Digest, u64),
        found: String,
    },
    #[error("{digest} is stored with size {stored}, not {declared}: the declared size is wrong")]
    BlobSizeConflict {
        digest: Digest,
        stored: u64,
        declared: u64,
    },
    #[error(
        "an artifact of {size} bytes is larger than one upload takes ({max} bytes); upload it in parts (POST …/uploads; `outpost push` does)",
        max = outpost_core::upload::MAX_SINGLE_PUT_SIZE
    )]
    BlobTooLarge { size: u64 },
    /// The bytes of a whole upload were not the declared ones.
    #[error("{}; nothing was stored", mismatch(*.declared, *.received))]
    UploadMismatch {
        declared: (Digest, u64),
        received: Received,
    },
    #[error("{0}")]
    InvalidPartPlan(PlanError),
    #[error(
        "an upload of {digest} is open with size {} and part size {}; resume it with those, or abort it (DELETE /v1/orgs/{org}/uploads/{id})",
        .plan.size, .plan.part_size
    )]
    UploadOpenWithOtherPlan {
        org: String,
        digest: Digest,
        plan: PartPlan,
        id: String,
    },
    #[error("an upload of this digest was started concurrently; start again to resume it")]
    UploadStartedConcurrently,
    #[error(
        "no open upload `{id}` in organisation `{org}`; it may have completed, or start one with POST /v1/orgs/{org}/uploads"
    )]
    UploadNotFound { org: String, id: String },
    #[error("{0}")]
    NoSuchPart(PlanError),
    #[error("part {number}: {}; send it again", mismatch(*.declared, *.received))]
    PartMismatch {
        number: u64,
        declared: (Digest, u64),
        received: Received,
    },
    #[error("parts {missing:?} have not been received; upload them, then complete")]
    PartsMissing { missing: Vec<u64> },
    #[error("{}; the upload was discarded, nothing was stored", mismatch(*.declared, *.received))]
    AssembledMismatch {
        declared: (Digest, u64),
        received: Received,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the backup page cannot be restored: {0}")]
    InvalidRestorePage(outpost_core::backup::PageError),
    #[error(
        "organisation `{org}` exists in this registry; a backup restores only into an organisation that does not exist yet (restore into an empty registry)"
    )]
    RestoreIntoExisting { org: String },
    #[error(
        "no restore of organisation `{org}` is in progress: begin one with POST /v1/admin/restores/{org} (outpost restore DIR)"
    )]
    NoRestore { org: String },
    #[error(
        "the database refused the page of `{table}` (nothing of it was written): {reason}; a restore writes into an empty registry (telemetry windows, shadow results and monitor checks keep their registry-wide ids), and a row whose parent is missing means the backup was taken while the organisation changed: take it again"
    )]
    RestoreRowsRefused { table: String, reason: String },
    #[error(
        "{missing} artifact(s) of organisation `{org}` are not stored yet, {first} first: upload them (outpost restore does) and finish again"
    )]
    RestoreIncomplete {
        org: String,
        missing: usize,
        first: Digest,
    },
}

/// How received bytes differ from the declared digest and length: the
/// length first, since a wrong length explains a wrong digest.
fn mismatch((digest, length): (Digest, u64), received: Received) -> String {
    if received.length != length {
        format!(
            "size mismatch: declared {length} bytes, received {}{}",
            if received.length > length {
                "at least "
            } else {
                ""
            },
            received.length
        )
    } else {
        format!(
            "digest mismatch: declared {digest}, received {}",
            received.digest
        )
    }
}

fn gate_details(failures: &[GateFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.gate, f.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

impl RegistryError {
    /// The problem kind (and so the HTTP status) of this outcome.
    pub fn kind(&self) -> ProblemKind {
        match self {
            RegistryError::ModelNotFound { .. } | RegistryError::NothingDeployed { .. } => {
                ProblemKind::NotFound
            }
            RegistryError::VersionVanished { .. }
            | RegistryError::NotReleased { .. }
            | RegistryError::ConcurrentRoot
            | RegistryError::ConcurrentRelease
            | RegistryError::NoStableVersion { .. }
            | RegistryError::NothingToClear { .. }
            | RegistryError::NoRollbackTarget { .. }
            | RegistryError::RollbackToDeleted { .. }
            | RegistryError::StageKeptMoving { .. }
            | RegistryError::DeletionRefused(_)
            | RegistryError::StageMovedWhileDeleting
            | RegistryError::VersionExists { .. }
            | RegistryError::ModelExists { .. }
            | RegistryError::TagsChangedConcurrently
            | RegistryError::ReferenceExists { .. }
            | RegistryError::ReferenceRaced { .. }
            | RegistryError::TooManyWebhooks { .. }
            | RegistryError::OrgExists { .. }
            | RegistryError::BumpKeptRacing { .. }
            | RegistryError::UploadOpenWithOtherPlan { .. }
            | RegistryError::UploadStartedConcurrently
            | RegistryError::PartsMissing { .. }
            | RegistryError::EncryptionOff { .. }
            | RegistryError::ImportConflict { .. }
            | RegistryError::ImportUnrelated { .. }
            | RegistryError::ImportRaced { .. }
            | RegistryError::CodedCopySealed { .. }
            | RegistryError::RestoreIntoExisting { .. }
            | RegistryError::NoRestore { .. }
            | RegistryError::RestoreRowsRefused { .. }
            | RegistryError::RestoreIncomplete { .. } => ProblemKind::Conflict,
            RegistryError::ForceNeedsAdmin => ProblemKind::Forbidden,
            RegistryError::BlobTooLarge { .. } => ProblemKind::PayloadTooLarge,
            RegistryError::VersionNotFound { .. }
            | RegistryError::NoSuchVersion { .. }
            | RegistryError::WebhookNotFound { .. }
            | RegistryError::TokenNotFound { .. }
            | RegistryError::BlobNotFound { .. }
            | RegistryError::UploadNotFound { .. }
            | RegistryError::NoSuchPart(_)
            | RegistryError::MonitorNotFound { .. } => ProblemKind::NotFound,
            RegistryError::ForceNeedsReason
            | RegistryError::GatesFailed { .. }
            | RegistryError::InvalidRollout { .. }
            | RegistryError::InvalidGuardrails(_)
            | RegistryError::GuardrailsWithoutCanary
            | RegistryError::NoRetentionPolicy { .. }
            | RegistryError::InvalidPolicy(_)
            | RegistryError::InvalidRegistration(_)
            | RegistryError::InvalidModel(_)
            | RegistryError::InvalidTag(_)
            | RegistryError::InvalidProfile(_)
            | RegistryError::InvalidSubscription(_)
            | RegistryError::InvalidWindow(_)
            | RegistryError::InvalidOrgName(_)
            | RegistryError::TokenName
            | RegistryError::TokenLifetime
            | RegistryError::TelemetryForUnknownVersion { .. }
            | RegistryError::InvalidFeedback(_)
            | RegistryError::InvalidMonitor(_)
            | RegistryError::WebhookDescriptionTooLong
            | RegistryError::ParentMissing { .. }
            | RegistryError::InvalidImport(_)
            | RegistryError::InvalidRestorePage(_)
            | RegistryError::ArtifactNotUploaded { .. }
            | RegistryError::ArtifactSizeMismatch { .. }
            | RegistryError::ArtifactRefused(_)
            | RegistryError::BlobSizeConflict { .. }
            | RegistryError::CodedCopyNotWorthIt { .. }
            | RegistryError::CodedCopyMismatch { .. }
            | RegistryError::UploadMismatch { .. }
            | RegistryError::InvalidPartPlan(_)
            | RegistryError::PartMismatch { .. }
            | RegistryError::AssembledMismatch { .. } => ProblemKind::UnprocessableContent,
            RegistryError::TrustRefused(_)
            | RegistryError::NoRoot { .. }
            | RegistryError::RootLacksKey { .. }
            | RegistryError::TargetUnnamed { .. }
            | RegistryError::TargetNotRegistered { .. }
            | RegistryError::TargetMismatch { .. } => ProblemKind::UnprocessableContent,
            RegistryError::Store(StoreError::NotConfigured(_) | StoreError::Damaged(_)) => {
                ProblemKind::ServiceUnavailable
            }
            RegistryError::Store(StoreError::Failed(_)) => ProblemKind::Internal,
        }
    }

    /// The problem a client sees: the detail of a domain outcome, or a
    /// generic body for a storage failure (its cause is for the log).
    pub fn to_problem(&self) -> Problem {
        match self {
            RegistryError::Store(StoreError::Failed(_)) => Problem::internal(),
            RegistryError::Store(
                StoreError::NotConfigured(detail) | StoreError::Damaged(detail),
            ) => Problem::new(ProblemKind::ServiceUnavailable, detail.clone()),
            RegistryError::GatesFailed {
                failures,
                forceable,
                ..
            } => Problem::new(self.kind(), self.to_string())
                .with_extension("failed_gates", failures)
                .with_extension("forceable", forceable),
            RegistryError::TrustRefused(err) => {
                Problem::new(self.kind(), err.to_string()).with_extension("code", err.code())
            }
            RegistryError::PartsMissing { missing } => {
                Problem::new(self.kind(), self.to_string()).with_extension("missing", missing)
            }
            RegistryError::UploadMismatch {
                declared: (digest, _),
                received,
            }
            | RegistryError::PartMismatch {
                declared: (digest, _),
                received,
                ..
            }
            | RegistryError::AssembledMismatch {
                declared: (digest, _),
                received,
            } => Problem::new(self.kind(), self.to_string())
                .with_extension("expected", digest.to_string())
                .with_extension("actual", received.digest.to_string()),
            other => Problem::new(other.kind(), other.to_string()),
        }
    }
}
