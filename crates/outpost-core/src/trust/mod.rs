//! The client side of Outpost's trust model (TUF 1.0 roles plus an
//! Uptane-style director), as pure checks over metadata the client fetched,
//! and the repository side that builds and accepts that metadata.
//!
//! A device pins a root. From it, it accepts (in TUF's order) newer roots,
//! then timestamp → snapshot → targets ("release"), and finally a
//! director-signed resolution saying which released artifact it should run.
//! Each step checks signature thresholds against the keys the trusted root
//! names, expiry (freeze attacks) and that versions never decrease (rollback
//! attacks); a resolution must answer the question that was asked
//! (mix-and-match) and point at an artifact the release role signed, so a
//! compromised Worker can only choose among released artifacts. The bytes are
//! then checked against the signed length and digest.
//!
//! - [`schema`]: the metadata formats (TUF 1.0.31 §4 plus the resolution);
//! - [`error`]: why something was refused, with stable codes;
//! - [`state`]: what a device trusts and the checks of each step;
//! - [`updater`]: the refresh sequence (TUF 5.3–5.6) as a sans-I/O state
//!   machine that the CLI (blocking) and the wasm client (async) both drive;
//! - [`repository`]: the operator's and the Worker's side: building roots,
//!   accepting stored roots and releases, online metadata, release extension.
//!
//! Only [`TrustedState`] can produce a [`Verified`] value.

mod checks;
pub mod error;
pub mod repository;
pub mod schema;
pub mod state;
pub mod updater;

pub use error::TrustError;
pub use repository::{
    RoleSpec, check_extends_own_release, needs_resign, next_release, root_metadata,
    snapshot_metadata, timestamp_metadata, verify_new_root, verify_release,
};
pub use schema::{
    Envelope, MetaFile, MetaIndex, Question, ReleasedTarget, Resolution, RoleKeys, Root,
    TargetFile, Targets, parse_target_file, resolution_version, target_path,
};
pub use state::{TrustedState, Verified, verify_artifact, verify_release_provenance};
pub use updater::{FileRequest, Step, UpdateError, Updater};

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;
