//! The ports the use cases are written against: one small trait per
//! aggregate, shaped after the queries the Worker runs, so the D1 adapter
//! keeps its round trips (a port method may stand for one query or one
//! `batch()`). Every method takes the organisation first.
//!
//! Futures are not `Send`: the Worker's are not, and nothing here needs to
//! cross threads.

use outpost_core::auth::Role;
use outpost_core::digest::Digest;
use outpost_core::lifecycle::{Stage, StageState};
use outpost_core::signing::SigningKey;
use outpost_core::trust::{Envelope, Targets};

use crate::error::StoreError;

/// What the head of a stage's deployment history says, with the
/// organisation's current release when it was asked for (one read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageHead {
    /// `None`: nothing was ever deployed to the stage.
    pub state: Option<StageState>,
    /// The current release (TUF targets), if asked for and one exists.
    pub release: Option<Targets>,
}

/// A registered version's artifact: what routing needs of a version row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionArtifact {
    pub version: String,
    pub digest: Digest,
    /// Bytes.
    pub length: u64,
}

/// Models: names inside an organisation.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Models {
    async fn model_exists(&self, org: &str, model: &str) -> Result<bool, StoreError>;
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

/// Resolutions: the version rows a resolution names, and its number.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Resolutions {
    /// [`Versions::version_artifacts`] and the organisation's next resolution
    /// number (strictly increasing, so a device can refuse an older
    /// resolution) in one round trip.
    async fn artifacts_and_next_resolution(
        &self,
        org: &str,
        model: &str,
        versions: &[&str],
    ) -> Result<(Vec<VersionArtifact>, u64), StoreError>;
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
}

/// Who made a change: the holder of a token, or the cron (which acts as the
/// organisation's operator, and is recorded as `cron`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Caller { token_id: String, role: Role },
    Cron,
}

impl Actor {
    /// The audit log's `actor` and `role` for this actor.
    pub fn audit_fields(&self) -> (String, String) {
        match self {
            Actor::Caller { token_id, role } => (token_id.clone(), role.as_str().to_owned()),
            Actor::Cron => ("cron".to_owned(), Role::Operator.as_str().to_owned()),
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
    /// A new version of a role's metadata; `(org, role, version)` is unique.
    TrustFile {
        role: TrustRole,
        version: u64,
        envelope: Envelope,
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

/// Atomic writes with their audit entry.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Commit {
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
}

/// The online key (snapshot and timestamp), beside the director's.
pub trait OnlineKey {
    fn online(&self) -> Result<SigningKey, StoreError>;
}
