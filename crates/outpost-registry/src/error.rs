//! The use cases' one error type. Each variant is a domain outcome with a
//! stable problem kind; the shells turn it into their own form (the Worker
//! into RFC 9457 problem+json in `worker/src/error.rs`) without deciding
//! anything about it.

use outpost_core::lifecycle::Stage;
use outpost_core::{Problem, ProblemKind};

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
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// The problem kind (and so the HTTP status) of this outcome.
    pub fn kind(&self) -> ProblemKind {
        match self {
            RegistryError::ModelNotFound { .. } | RegistryError::NothingDeployed { .. } => {
                ProblemKind::NotFound
            }
            RegistryError::VersionVanished { .. } | RegistryError::NotReleased { .. } => {
                ProblemKind::Conflict
            }
            RegistryError::Store(StoreError::NotConfigured(_)) => ProblemKind::ServiceUnavailable,
            RegistryError::Store(StoreError::Failed(_)) => ProblemKind::Internal,
        }
    }

    /// The problem a client sees: the detail of a domain outcome, or a
    /// generic body for a storage failure (its cause is for the log).
    pub fn to_problem(&self) -> Problem {
        match self {
            RegistryError::Store(StoreError::Failed(_)) => Problem::internal(),
            RegistryError::Store(StoreError::NotConfigured(detail)) => {
                Problem::new(ProblemKind::ServiceUnavailable, detail.clone())
            }
            other => Problem::new(other.kind(), other.to_string()),
        }
    }
}
