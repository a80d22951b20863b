//! The ports the use cases are written against: one small trait per
//! aggregate, shaped after the queries the Worker runs, so the D1 adapter
//! keeps its round trips (a port method may stand for one query or one
//! `batch()`). Every method takes the organisation first.
//!
//! Futures are not `Send`: the Worker's are not, and nothing here needs to
//! cross threads.

use outpost_core::digest::Digest;
use outpost_core::lifecycle::{Stage, StageState};
use outpost_core::signing::SigningKey;
use outpost_core::trust::Targets;

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
