//! Why metadata or an artifact was refused, with codes shared by every
//! client (CLI exit messages, JS `Error.code`, Python exceptions).

use crate::digest::DigestError;
use crate::signing::SigningError;

/// Why metadata or an artifact was refused. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("{0}")]
    Signature(#[from] SigningError),
    #[error("{role} metadata is malformed: {detail}")]
    Malformed { role: String, detail: String },
    #[error("{role} metadata expired at {expires} (freeze attack?)")]
    Expired { role: String, expires: String },
    #[error(
        "{role} version {offered} is older than the trusted version {trusted} (rollback attack?)"
    )]
    Rollback {
        role: String,
        trusted: u64,
        offered: u64,
    },
    #[error("root version {offered} does not follow the trusted root version {trusted}")]
    RootVersion { trusted: u64, offered: u64 },
    #[error("{role} version {offered} is not the version {expected} that {by} lists")]
    MetaVersion {
        role: String,
        expected: u64,
        offered: u64,
        by: String,
    },
    #[error(
        "the resolution answers {field} = `{got}` but `{asked}` was asked (mix-and-match or replay?)"
    )]
    WrongAnswer {
        field: String,
        asked: String,
        got: String,
    },
    #[error("{target} ({digest}, {length} bytes) is not an artifact the release role signed")]
    NotReleased {
        target: String,
        digest: String,
        length: u64,
    },
    #[error("{0}")]
    Artifact(#[from] DigestError),
    #[error("the root has no director role, so resolutions cannot be checked")]
    NoDirector,
    #[error("{0} must be verified first")]
    Missing(String),
    /// The registry has no such file (HTTP 404 or its equivalent).
    #[error("the registry has no {file}: has the organisation uploaded a root and a release?")]
    Unavailable { file: String },
    /// A saved state that does not descend from the pinned root: it belongs
    /// to another repository (or the pin was edited). Using it would trust
    /// keys the pin never named; starting over would drop rollback protection.
    #[error(
        "the trusted state (root version {trusted}) does not descend from the pinned root (version {pinned})"
    )]
    RootMismatch { pinned: u64, trusted: u64 },
    /// TUF 5.3.3 bounds root rotations per refresh (an endless chain of
    /// roots is a denial of service).
    #[error("more than {limit} root rotations in one refresh")]
    TooManyRotations { limit: u64 },
}

impl TrustError {
    /// A stable code for programs (CLI exit messages, JS `Error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            TrustError::Signature(_) => "BAD_SIGNATURE",
            TrustError::Malformed { .. } => "MALFORMED",
            TrustError::Expired { .. } => "EXPIRED",
            TrustError::Rollback { .. } | TrustError::RootVersion { .. } => "ROLLBACK",
            TrustError::MetaVersion { .. } => "MIX_AND_MATCH",
            TrustError::WrongAnswer { .. } => "WRONG_ANSWER",
            TrustError::NotReleased { .. } => "NOT_RELEASED",
            TrustError::Artifact(DigestError::LengthMismatch { .. }) => "LENGTH_MISMATCH",
            TrustError::Artifact(_) => "DIGEST_MISMATCH",
            TrustError::NoDirector => "NO_DIRECTOR",
            TrustError::Missing(_) | TrustError::Unavailable { .. } => "MISSING",
            TrustError::RootMismatch { .. } => "ROOT_MISMATCH",
            TrustError::TooManyRotations { .. } => "TOO_MANY_ROOTS",
        }
    }
}
