//! What a device trusts ([`TrustedState`], persisted between runs) and the
//! check of each step, in TUF 1.0.31 §5's order. The steps are driven by
//! [`super::updater::Updater`]; only the director step and the offline
//! re-check of an installed model are called directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checks::{check_role, not_older, role_keys, unexpired};
use super::error::TrustError;
use super::schema::{Envelope, MetaIndex, Question, Resolution, Root, Targets, parse};
use crate::digest::{Digest, HashedContent};
use crate::signing::canonical_json;

/// A value that passed every check of the trust model (a private field:
/// only verification can make one).
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub fn inner(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

/// What a device trusts, persisted between runs (the state directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrustedState {
    pub root: Root,
    #[serde(default)]
    pub timestamp: Option<MetaIndex>,
    #[serde(default)]
    pub snapshot: Option<MetaIndex>,
    #[serde(default)]
    pub targets: Option<Targets>,
    /// Highest versions ever accepted, kept even when metadata is reloaded.
    #[serde(default)]
    pub highest: BTreeMap<String, u64>,
    /// The SHA-256 of the canonical `signed` part of every root this state
    /// accepted, by version: what [`TrustedState::descends_from`] compares a
    /// pinned root with. States saved before it existed have it empty.
    #[serde(default)]
    pub roots: BTreeMap<u64, Digest>,
}

/// The fingerprint of a root document: SHA-256 over its canonical `signed`
/// part, the bytes its signatures cover.
pub fn root_fingerprint(envelope: &Envelope) -> Result<Digest, TrustError> {
    fingerprint(envelope)
}

fn fingerprint(envelope: &Envelope) -> Result<Digest, TrustError> {
    let bytes = canonical_json(&envelope.signed)?;
    Ok(Digest::of(&bytes))
}

impl TrustedState {
    /// Starts from a pinned root, which must carry its own threshold of
    /// signatures (TUF 5.2).
    pub fn from_pinned_root(envelope: &Envelope) -> Result<Self, TrustError> {
        let root: Root = parse(envelope, "root", "root")?;
        check_role(&root, "root", role_keys(&root, "root")?, envelope)?;
        let mut highest = BTreeMap::new();
        highest.insert("root".to_owned(), root.version);
        let roots = BTreeMap::from([(root.version, fingerprint(envelope)?)]);
        Ok(Self {
            root,
            timestamp: None,
            snapshot: None,
            targets: None,
            highest,
            roots,
        })
    }

    /// The state a device may use offline (no rotation can follow): the
    /// saved one when it descends from `pinned`, the pin itself when nothing
    /// was saved. A saved state the pin does not reach is `RootMismatch`.
    pub fn resume(saved: Option<TrustedState>, pinned: &Envelope) -> Result<Self, TrustError> {
        match saved {
            None => Self::from_pinned_root(pinned),
            Some(mut saved) => {
                saved.descends_from(pinned)?;
                saved.remember(pinned)?;
                Ok(saved)
            }
        }
    }

    /// Records the fingerprint of `root` (a pin this state was found to
    /// descend from) if this state has none for its version yet: states
    /// saved before fingerprints existed keep matching their pin after their
    /// next rotation.
    pub(crate) fn remember(&mut self, root: &Envelope) -> Result<(), TrustError> {
        let version = parse::<Root>(root, "root", "root")?.version;
        if let std::collections::btree_map::Entry::Vacant(entry) = self.roots.entry(version) {
            entry.insert(fingerprint(root)?);
        }
        Ok(())
    }

    /// Whether this state grew from `pinned` by verified rotations: the root
    /// it accepted at the pin's version is exactly the pin. A state saved
    /// before fingerprints were kept descends only from its own current root.
    ///
    /// Errors: [`TrustError::RootMismatch`], or the pin's own parse errors.
    pub fn descends_from(&self, pinned: &Envelope) -> Result<(), TrustError> {
        let pin: Root = parse(pinned, "root", "root")?;
        let descends = match self.roots.get(&pin.version) {
            Some(seen) => *seen == fingerprint(pinned)?,
            None => self.roots.is_empty() && pin == self.root,
        };
        if descends {
            Ok(())
        } else {
            Err(TrustError::RootMismatch {
                pinned: pin.version,
                trusted: self.root.version,
            })
        }
    }

    fn highest(&self, role: &str) -> u64 {
        self.highest.get(role).copied().unwrap_or(0)
    }

    /// TUF 5.3: a new root must be version N+1 and signed by a threshold of
    /// both the trusted root's root keys and its own.
    pub(crate) fn update_root(&mut self, envelope: &Envelope) -> Result<(), TrustError> {
        let new: Root = parse(envelope, "root", "root")?;
        // 5.3.4: signed by the old root's threshold…
        check_role(
            &self.root,
            "root (by the trusted root's keys)",
            role_keys(&self.root, "root")?,
            envelope,
        )?;
        // …and by its own.
        check_role(
            &new,
            "root (by the new root's keys)",
            role_keys(&new, "root")?,
            envelope,
        )?;
        // 5.3.5: versions move by exactly one.
        if new.version != self.root.version + 1 {
            return Err(TrustError::RootVersion {
                trusted: self.root.version,
                offered: new.version,
            });
        }
        self.highest.insert("root".into(), new.version);
        self.roots.insert(new.version, fingerprint(envelope)?);
        self.root = new;
        Ok(())
    }

    /// TUF 5.3.10: after the last root update, the root must not be expired.
    pub(crate) fn check_root_fresh(&self, now: i64) -> Result<(), TrustError> {
        unexpired("root", &self.root.expires, now)
    }

    /// TUF 5.4: timestamp.
    pub(crate) fn update_timestamp(
        &mut self,
        envelope: &Envelope,
        now: i64,
    ) -> Result<(), TrustError> {
        let timestamp: MetaIndex = parse(envelope, "timestamp", "timestamp")?;
        check_role(
            &self.root,
            "timestamp",
            role_keys(&self.root, "timestamp")?,
            envelope,
        )?;
        not_older("timestamp", self.highest("timestamp"), timestamp.version)?;
        let snapshot_version = timestamp
            .meta
            .get("snapshot.json")
            .map(|m| m.version)
            .ok_or_else(|| TrustError::Malformed {
                role: "timestamp".into(),
                detail: "no snapshot.json entry".into(),
            })?;
        not_older(
            "snapshot (as listed by timestamp)",
            self.highest("snapshot"),
            snapshot_version,
        )?;
        unexpired("timestamp", &timestamp.expires, now)?;
        self.highest.insert("timestamp".into(), timestamp.version);
        self.timestamp = Some(timestamp);
        Ok(())
    }

    /// The checks a role listed by another shares (TUF 5.5.2–5.5.4 for
    /// snapshot, 5.6.2–5.6.4 for targets): signed by its threshold, exactly
    /// the version its parent lists, and not older than one already trusted.
    fn check_listed(
        &self,
        role: &str,
        envelope: &Envelope,
        parent: (&str, Option<&MetaIndex>),
        offered: u64,
    ) -> Result<(), TrustError> {
        let (parent_role, parent_meta) = parent;
        let expected = parent_meta
            .and_then(|p| p.meta.get(&format!("{role}.json")))
            .map(|m| m.version)
            .ok_or_else(|| TrustError::Missing(parent_role.into()))?;
        check_role(&self.root, role, role_keys(&self.root, role)?, envelope)?;
        if offered != expected {
            return Err(TrustError::MetaVersion {
                role: role.into(),
                expected,
                offered,
                by: parent_role.into(),
            });
        }
        not_older(role, self.highest(role), offered)
    }

    /// TUF 5.5: snapshot, which must be the version timestamp lists.
    pub(crate) fn update_snapshot(
        &mut self,
        envelope: &Envelope,
        now: i64,
    ) -> Result<(), TrustError> {
        let snapshot: MetaIndex = parse(envelope, "snapshot", "snapshot")?;
        self.check_listed(
            "snapshot",
            envelope,
            ("timestamp", self.timestamp.as_ref()),
            snapshot.version,
        )?;
        if let Some(targets) = snapshot.meta.get("targets.json") {
            not_older(
                "targets (as listed by snapshot)",
                self.highest("targets"),
                targets.version,
            )?;
        }
        unexpired("snapshot", &snapshot.expires, now)?;
        self.highest.insert("snapshot".into(), snapshot.version);
        self.snapshot = Some(snapshot);
        Ok(())
    }

    /// TUF 5.6: targets (Outpost's release metadata), signed by the offline
    /// release keys and the version snapshot lists.
    pub(crate) fn update_targets(
        &mut self,
        envelope: &Envelope,
        now: i64,
    ) -> Result<(), TrustError> {
        let targets: Targets = parse(envelope, "targets", "targets")?;
        self.check_listed(
            "targets",
            envelope,
            ("snapshot", self.snapshot.as_ref()),
            targets.version,
        )?;
        unexpired("targets", &targets.expires, now)?;
        self.highest.insert("targets".into(), targets.version);
        self.targets = Some(targets);
        Ok(())
    }

    /// The file name of the snapshot the trusted timestamp lists
    /// (`N.snapshot.json`): what a client fetches next.
    pub(crate) fn next_snapshot_file(&self) -> String {
        let version = self
            .timestamp
            .as_ref()
            .and_then(|t| t.meta.get("snapshot.json"))
            .map_or(0, |m| m.version);
        format!("{version}.snapshot.json")
    }

    /// The file name of the release metadata the trusted snapshot lists
    /// (`N.targets.json`).
    pub(crate) fn next_targets_file(&self) -> String {
        let version = self
            .snapshot
            .as_ref()
            .and_then(|s| s.meta.get("targets.json"))
            .map_or(0, |m| m.version);
        format!("{version}.targets.json")
    }

    /// Outpost's director step: the resolution must be signed by the
    /// director, answer exactly `asked`, be fresh and not older than one
    /// already trusted, and name an artifact the release role signed.
    pub fn verify_resolution(
        &mut self,
        envelope: &Envelope,
        asked: &Question,
        now: i64,
    ) -> Result<Verified<Resolution>, TrustError> {
        let director = self.root.director.clone().ok_or(TrustError::NoDirector)?;
        let resolution: Resolution = parse(envelope, "resolution", "outpost-resolution")?;
        check_role(&self.root, "director", &director, envelope)?;
        for (field, asked_value, got) in [
            ("org", &asked.org, &resolution.question.org),
            ("model", &asked.model, &resolution.question.model),
            ("stage", &asked.stage, &resolution.question.stage),
            ("device", &asked.device, &resolution.question.device),
        ] {
            if asked_value != got {
                return Err(TrustError::WrongAnswer {
                    field: field.into(),
                    asked: asked_value.clone(),
                    got: got.clone(),
                });
            }
        }
        unexpired("resolution", &resolution.expires, now)?;
        // Numbered per question (see `schema::resolution_version`): one
        // model's answers say nothing about another's.
        let key = resolution_key(asked);
        not_older(
            "resolution",
            self.highest(&key),
            resolution.resolution_version,
        )?;
        self.check_released(&resolution)?;
        self.highest.insert(key, resolution.resolution_version);
        Ok(Verified(resolution))
    }

    /// The resolution's target (and shadow) are artifacts the release role
    /// signed, with exactly this digest and length.
    fn check_released(&self, resolution: &Resolution) -> Result<(), TrustError> {
        let targets = self
            .targets
            .as_ref()
            .ok_or_else(|| TrustError::Missing("targets".into()))?;
        let released = |target: &str, digest: &Digest, length: u64| -> Result<(), TrustError> {
            if targets.names(target, digest, length) {
                Ok(())
            } else {
                Err(TrustError::NotReleased {
                    target: target.into(),
                    digest: digest.to_string(),
                    length,
                })
            }
        };
        released(&resolution.target, &resolution.digest, resolution.length)?;
        if let Some(shadow) = &resolution.shadow {
            released(&shadow.target, &shadow.digest, shadow.length)?;
        }
        Ok(())
    }

    /// `outpost verify`: re-checks an installed model offline against the
    /// resolution it was installed from. The resolution must still be the
    /// director's and name an artifact the trusted release metadata lists,
    /// and the bytes on disk must be that artifact. Expiry is not checked: a
    /// model installed while everything was fresh stays what it was.
    pub fn verify_installed(
        &self,
        resolution: &Envelope,
        installed: &HashedContent,
    ) -> Result<Verified<Resolution>, TrustError> {
        let director = self.root.director.clone().ok_or(TrustError::NoDirector)?;
        let parsed: Resolution = parse(resolution, "resolution", "outpost-resolution")?;
        check_role(&self.root, "director", &director, resolution)?;
        self.check_released(&parsed)?;
        installed.expect(&parsed.digest, parsed.length)?;
        Ok(Verified(parsed))
    }
}

/// What an export bundle's release signatures prove: the roots form one
/// chain (the first self-signed, each next one signed by a threshold of both
/// its own and the previous root's keys, versions moving by one: TUF 5.2–5.3)
/// and the release metadata carries a threshold of the last root's `targets`
/// signatures. Expiry is not checked: a bundle records what was signed when
/// it was exported, not what is fresh now.
///
/// Returns the verified release metadata and the fingerprint (SHA-256 of the
/// canonical `signed` part) of the first root, which a reader compares with
/// the root their devices pin.
///
/// Errors: `Missing("root")` for an empty chain, and the signature, version
/// and parse errors of the checks above.
pub fn verify_release_provenance(
    roots: &[Envelope],
    targets: &Envelope,
) -> Result<(Verified<Targets>, Digest), TrustError> {
    let (first, rest) = roots
        .split_first()
        .ok_or_else(|| TrustError::Missing("root".into()))?;
    let mut state = TrustedState::from_pinned_root(first)?;
    for next in rest {
        state.update_root(next)?;
    }
    let release: Targets = parse(targets, "targets", "targets")?;
    check_role(
        &state.root,
        "targets",
        role_keys(&state.root, "targets")?,
        targets,
    )?;
    Ok((Verified(release), fingerprint(first)?))
}

/// Checks downloaded bytes (hashed while streaming, stopping at the signed
/// length + 1) against a verified resolution.
pub fn verify_artifact(
    resolution: &Verified<Resolution>,
    received: &HashedContent,
) -> Result<(), TrustError> {
    received.expect(&resolution.0.digest, resolution.0.length)?;
    Ok(())
}

/// Where the highest trusted resolution number of one question is kept,
/// beside the roles' versions (the device is the state's own).
fn resolution_key(asked: &Question) -> String {
    format!("resolution {}/{}@{}", asked.org, asked.model, asked.stage)
}
