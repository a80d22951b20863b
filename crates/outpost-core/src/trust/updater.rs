//! The refresh sequence of a device (TUF 1.0.31 §5.3–5.6) as a sans-I/O
//! state machine: the caller asks which file comes next, fetches it however
//! it likes (blocking HTTP in the CLI, `fetch` in the wasm client, a folder
//! in tests), offers the bytes — or `None` when the registry has no such
//! file — and repeats until [`Updater::next_file`] answers `None`. The order,
//! the file names and every check live here once; a driver cannot skip a
//! step or verify them in another order.
//!
//! ```
//! # use outpost_core::trust::{Updater, UpdateError, TrustedState, Envelope};
//! # fn fetch(_: &str) -> Option<Vec<u8>> { None }
//! # fn refresh(pinned: &Envelope, saved: Option<TrustedState>, now: i64) -> Result<TrustedState, UpdateError> {
//! let mut updater = Updater::new(Some(pinned), saved, now)?;
//! while let Some(request) = updater.next_file() {
//!     updater.offer(fetch(&request.file).as_deref())?;
//! }
//! let state = updater.finish()?;
//! # Ok(state) }
//! ```
//!
//! Modelled on tough's `Repository::load` (root → timestamp → snapshot →
//! targets, each step returning only what it verified), without its
//! transport: the caller is the transport.

use std::fmt;

use super::error::TrustError;
use super::schema::Envelope;
use super::state::TrustedState;

/// Root rotations accepted in one refresh before giving up (TUF 5.3.3 asks
/// for a bound; tough's default is 1024).
pub const MAX_ROOT_ROTATIONS: u64 = 1024;

/// A step of the refresh, named as error messages and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The pinned root and the saved state (before anything is fetched).
    PinnedRoot,
    /// TUF 5.3: root version N (offered while rotating).
    Root(u64),
    /// TUF 5.3.10: the trusted root must not have expired.
    RootFreshness,
    /// TUF 5.4.
    Timestamp,
    /// TUF 5.5.
    Snapshot,
    /// TUF 5.6: Outpost's release metadata.
    Targets,
    /// Every file was verified.
    Done,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::PinnedRoot => f.write_str("the pinned root"),
            Step::Root(version) => write!(f, "root {version}"),
            Step::RootFreshness => f.write_str("root"),
            Step::Timestamp => f.write_str("timestamp"),
            Step::Snapshot => f.write_str("snapshot"),
            Step::Targets => f.write_str("targets"),
            Step::Done => f.write_str("the end of the refresh"),
        }
    }
}

/// The file the updater wants next, relative to the organisation's trust
/// metadata (`…/trust/{file}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    /// `N.root.json`, `timestamp.json`, `N.snapshot.json` or `N.targets.json`.
    pub file: String,
    /// The step the bytes will be checked at.
    pub step: Step,
    /// Whether a missing file ends the step normally (only the next root:
    /// its absence means there is no newer root).
    pub optional: bool,
}

/// A refusal, with the step it happened at. Displays as
/// `CODE refused at STEP: reason`, the form every client prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} refused at {step}: {error}", error.code())]
pub struct UpdateError {
    pub step: Step,
    pub error: TrustError,
}

impl UpdateError {
    /// The stable code of the underlying refusal ([`TrustError::code`]).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }
}

/// Drives a [`TrustedState`] through one refresh. See the module docs.
#[derive(Debug, Clone)]
pub struct Updater {
    state: TrustedState,
    now: i64,
    step: Step,
    rotations: u64,
    /// A pinned root newer than the saved state: the rotations must pass
    /// through exactly this root, or the state is not the pin's.
    pending_pin: Option<Envelope>,
}

impl Updater {
    /// Starts a refresh at `now` (ms since the epoch) from the saved state,
    /// which must descend from `pinned` when both are given
    /// ([`TrustedState::descends_from`]); a pin newer than the state must be
    /// reached by the root rotations that follow. With no saved state the
    /// pin is the start (it must carry its own threshold, TUF 5.2).
    ///
    /// Errors (at [`Step::PinnedRoot`]): the pin's own errors,
    /// `ROOT_MISMATCH`, or `MISSING` when neither is given.
    pub fn new(
        pinned: Option<&Envelope>,
        saved: Option<TrustedState>,
        now: i64,
    ) -> Result<Self, UpdateError> {
        let at_pin = |error| UpdateError {
            step: Step::PinnedRoot,
            error,
        };
        let mut pending_pin = None;
        let state = match (pinned, saved) {
            (Some(pin), None) => TrustedState::from_pinned_root(pin).map_err(at_pin)?,
            (Some(pin), Some(saved)) => {
                // The pin must be a valid root on its own, whatever the state.
                let pinned_state = TrustedState::from_pinned_root(pin).map_err(at_pin)?;
                match saved.descends_from(pin) {
                    Ok(()) => {
                        let mut saved = saved;
                        saved.remember(pin).map_err(at_pin)?;
                        saved
                    }
                    Err(_) if pinned_state.root.version > saved.root.version => {
                        pending_pin = Some(pin.clone());
                        saved
                    }
                    Err(error) => return Err(at_pin(error)),
                }
            }
            (None, Some(saved)) => saved,
            (None, None) => {
                return Err(at_pin(TrustError::Missing("a pinned root".into())));
            }
        };
        let first = state.root.version + 1;
        Ok(Self {
            state,
            now,
            step: Step::Root(first),
            rotations: 0,
            pending_pin,
        })
    }

    /// The file to fetch and offer next, or `None` once the refresh is done.
    pub fn next_file(&self) -> Option<FileRequest> {
        let (file, optional) = match self.step {
            Step::Root(version) => (format!("{version}.root.json"), true),
            Step::Timestamp => ("timestamp.json".to_owned(), false),
            Step::Snapshot => (self.state.next_snapshot_file(), false),
            Step::Targets => (self.state.next_targets_file(), false),
            Step::PinnedRoot | Step::RootFreshness | Step::Done => return None,
        };
        Some(FileRequest {
            file,
            step: self.step,
            optional,
        })
    }

    /// Offers the bytes of the file [`Updater::next_file`] asked for, or
    /// `None` when the registry has no such file. On an error the updater
    /// stays where it was; the caller should stop and keep its old state.
    pub fn offer(&mut self, bytes: Option<&[u8]>) -> Result<(), UpdateError> {
        let step = self.step;
        let fail = |error| UpdateError { step, error };
        let Some(request) = self.next_file() else {
            return Err(fail(TrustError::Missing(
                "nothing: the refresh is complete".into(),
            )));
        };
        let Some(bytes) = bytes else {
            if !request.optional {
                return Err(fail(TrustError::Unavailable { file: request.file }));
            }
            return self.end_rotations();
        };
        let envelope = envelope(bytes, step).map_err(fail)?;
        match step {
            Step::Root(version) => {
                if self.rotations >= MAX_ROOT_ROTATIONS {
                    return Err(fail(TrustError::TooManyRotations {
                        limit: MAX_ROOT_ROTATIONS,
                    }));
                }
                self.state.update_root(&envelope).map_err(fail)?;
                self.rotations += 1;
                self.step = Step::Root(version + 1);
            }
            Step::Timestamp => {
                self.state
                    .update_timestamp(&envelope, self.now)
                    .map_err(fail)?;
                self.step = Step::Snapshot;
            }
            Step::Snapshot => {
                self.state
                    .update_snapshot(&envelope, self.now)
                    .map_err(fail)?;
                self.step = Step::Targets;
            }
            Step::Targets => {
                self.state
                    .update_targets(&envelope, self.now)
                    .map_err(fail)?;
                self.step = Step::Done;
            }
            Step::PinnedRoot | Step::RootFreshness | Step::Done => {}
        }
        Ok(())
    }

    /// No newer root: the pin must have been reached (when it was newer than
    /// the state) and the trusted root must be fresh (TUF 5.3.10).
    fn end_rotations(&mut self) -> Result<(), UpdateError> {
        if let Some(pin) = &self.pending_pin {
            self.state.descends_from(pin).map_err(|error| UpdateError {
                step: Step::PinnedRoot,
                error,
            })?;
        }
        self.state
            .check_root_fresh(self.now)
            .map_err(|error| UpdateError {
                step: Step::RootFreshness,
                error,
            })?;
        self.pending_pin = None;
        self.step = Step::Timestamp;
        Ok(())
    }

    /// The state as verified so far (for a caller that saves progress).
    pub fn state(&self) -> &TrustedState {
        &self.state
    }

    /// The refreshed state, once every file was offered and verified.
    pub fn finish(self) -> Result<TrustedState, UpdateError> {
        if self.step == Step::Done {
            Ok(self.state)
        } else {
            Err(UpdateError {
                step: self.step,
                error: TrustError::Missing(format!("{} (the refresh is unfinished)", self.step)),
            })
        }
    }
}

/// Parses offered bytes as signed metadata (the role's own checks follow).
fn envelope(bytes: &[u8], step: Step) -> Result<Envelope, TrustError> {
    let role = match step {
        Step::Root(_) => "root",
        Step::Timestamp => "timestamp",
        Step::Snapshot => "snapshot",
        _ => "targets",
    };
    serde_json::from_slice(bytes).map_err(|e| TrustError::Malformed {
        role: role.into(),
        detail: format!("not signed metadata: {e}"),
    })
}
