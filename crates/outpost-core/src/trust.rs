//! The client side of Outpost's trust model (TUF 1.0 roles plus an
//! Uptane-style director), as pure checks over metadata the client fetched.
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
//! Only [`TrustedState`] can produce a [`Verified`] value.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::{Digest, DigestError, HashedContent};
use crate::signing::{PublicKey, Signature, SigningError, verify_threshold};
use crate::timefmt::parse_utc;

/// A signed metadata document, as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub signed: Value,
    pub signatures: Vec<Signature>,
}

/// The keys and threshold of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: usize,
}

/// TUF root metadata, with Outpost's director role as an extension field
/// (TUF clients ignore fields they do not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub version: u64,
    pub expires: String,
    pub keys: BTreeMap<String, PublicKey>,
    pub roles: BTreeMap<String, RoleKeys>,
    #[serde(
        rename = "x-outpost-director",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub director: Option<RoleKeys>,
}

/// An entry of timestamp's or snapshot's `meta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
}

/// Timestamp or snapshot metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaIndex {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
}

/// One released artifact in targets metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
}

/// Targets ("release") metadata: which artifacts exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub targets: BTreeMap<String, TargetFile>,
}

impl Targets {
    /// Whether this release metadata names `target` with exactly this digest
    /// and length: the one test of "released" the Worker and devices share.
    pub fn names(&self, target: &str, digest: &Digest, length: u64) -> bool {
        self.targets.get(target).is_some_and(|file| {
            file.length == length
                && file.hashes.get("sha256").map(String::as_str) == Some(digest.hex().as_str())
        })
    }
}

/// The question a device asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub org: String,
    pub model: String,
    pub stage: String,
    pub device: String,
}

/// The director's answer: which released artifact this device should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    #[serde(rename = "_type")]
    pub kind: String,
    #[serde(flatten)]
    pub question: Question,
    /// The model version chosen.
    pub version: String,
    /// Which arm of the stage's rollout the device landed in.
    #[serde(default)]
    pub arm: crate::lifecycle::ArmKind,
    /// Path of the artifact in targets metadata.
    pub target: String,
    pub digest: Digest,
    pub length: u64,
    /// A shadow artifact to run alongside (telemetry only), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ReleasedTarget>,
    /// Increases with every resolution the director signs for this org.
    pub resolution_version: u64,
    pub expires: String,
}

/// A model version as release metadata names it: the shadow of a resolution,
/// and what the Worker checks before it answers with a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedTarget {
    pub version: String,
    pub target: String,
    pub digest: Digest,
    pub length: u64,
}

/// A value that passed every check of the trust model.
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
            TrustError::Missing(_) => "MISSING",
        }
    }
}

fn parse<T: DeserializeOwned>(
    envelope: &Envelope,
    role: &str,
    kind: &str,
) -> Result<T, TrustError> {
    let found = envelope.signed.get("_type").and_then(Value::as_str);
    if found != Some(kind) {
        return Err(TrustError::Malformed {
            role: role.into(),
            detail: format!("`_type` is {found:?}, expected `{kind}`"),
        });
    }
    serde_json::from_value(envelope.signed.clone()).map_err(|e| TrustError::Malformed {
        role: role.into(),
        detail: e.to_string(),
    })
}

fn unexpired(role: &str, expires: &str, now: i64) -> Result<(), TrustError> {
    let at = parse_utc(expires).ok_or_else(|| TrustError::Malformed {
        role: role.into(),
        detail: format!("expires `{expires}` is not YYYY-MM-DDTHH:MM:SSZ"),
    })?;
    if at <= now {
        return Err(TrustError::Expired {
            role: role.into(),
            expires: expires.into(),
        });
    }
    Ok(())
}

fn not_older(role: &str, trusted: u64, offered: u64) -> Result<(), TrustError> {
    if offered < trusted {
        return Err(TrustError::Rollback {
            role: role.into(),
            trusted,
            offered,
        });
    }
    Ok(())
}

fn role_keys<'a>(root: &'a Root, role: &str) -> Result<&'a RoleKeys, TrustError> {
    root.roles.get(role).ok_or_else(|| TrustError::Malformed {
        role: "root".into(),
        detail: format!("no `{role}` role"),
    })
}

fn check_role(
    root: &Root,
    role: &str,
    keys: &RoleKeys,
    envelope: &Envelope,
) -> Result<(), TrustError> {
    verify_threshold(
        role,
        &envelope.signed,
        &envelope.signatures,
        &root.keys,
        &keys.keyids,
        keys.threshold,
    )?;
    Ok(())
}

/// What a device trusts, persisted between runs (the state directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl TrustedState {
    /// Starts from a pinned root, which must carry its own threshold of
    /// signatures (TUF 5.2).
    pub fn from_pinned_root(envelope: &Envelope) -> Result<Self, TrustError> {
        let root: Root = parse(envelope, "root", "root")?;
        check_role(&root, "root", role_keys(&root, "root")?, envelope)?;
        let mut highest = BTreeMap::new();
        highest.insert("root".to_owned(), root.version);
        Ok(Self {
            root,
            timestamp: None,
            snapshot: None,
            targets: None,
            highest,
        })
    }

    fn highest(&self, role: &str) -> u64 {
        self.highest.get(role).copied().unwrap_or(0)
    }

    /// TUF 5.3: a new root must be version N+1 and signed by a threshold of
    /// both the trusted root's root keys and its own.
    pub fn update_root(&mut self, envelope: &Envelope) -> Result<(), TrustError> {
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
        self.root = new;
        Ok(())
    }

    /// TUF 5.3.10: after the last root update, the root must not be expired.
    pub fn check_root_fresh(&self, now: i64) -> Result<(), TrustError> {
        unexpired("root", &self.root.expires, now)
    }

    /// TUF 5.4: timestamp.
    pub fn update_timestamp(&mut self, envelope: &Envelope, now: i64) -> Result<(), TrustError> {
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
    pub fn update_snapshot(&mut self, envelope: &Envelope, now: i64) -> Result<(), TrustError> {
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
    pub fn update_targets(&mut self, envelope: &Envelope, now: i64) -> Result<(), TrustError> {
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
    pub fn next_snapshot_file(&self) -> String {
        let version = self
            .timestamp
            .as_ref()
            .and_then(|t| t.meta.get("snapshot.json"))
            .map_or(0, |m| m.version);
        format!("{version}.snapshot.json")
    }

    /// The file name of the release metadata the trusted snapshot lists
    /// (`N.targets.json`).
    pub fn next_targets_file(&self) -> String {
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
        not_older(
            "resolution",
            self.highest("resolution"),
            resolution.resolution_version,
        )?;
        self.check_released(&resolution)?;
        self.highest
            .insert("resolution".into(), resolution.resolution_version);
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

/// The keys and threshold an operator chooses for one role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

/// Builds the `signed` part of root metadata version `version`: root,
/// targets (release) and director keys as given, snapshot and timestamp both
/// held by the online key set.
pub fn root_metadata(
    version: u64,
    expires: &str,
    root: &RoleSpec,
    release: &RoleSpec,
    online: &RoleSpec,
    director: &RoleSpec,
) -> Result<Value, TrustError> {
    let mut keys = BTreeMap::new();
    let mut role = |name: &str, spec: &RoleSpec| -> Result<RoleKeys, TrustError> {
        if spec.threshold == 0 || spec.threshold > spec.keys.len() {
            return Err(TrustError::Malformed {
                role: "root".into(),
                detail: format!(
                    "the {name} threshold must be between 1 and its {} key(s), got {}",
                    spec.keys.len(),
                    spec.threshold
                ),
            });
        }
        let keyids = spec
            .keys
            .iter()
            .map(|key| {
                let id = key.key_id();
                keys.insert(id.clone(), key.clone());
                id
            })
            .collect();
        Ok(RoleKeys {
            keyids,
            threshold: spec.threshold,
        })
    };
    let roles: BTreeMap<String, RoleKeys> = [
        ("root".to_owned(), role("root", root)?),
        ("targets".to_owned(), role("release", release)?),
        ("snapshot".to_owned(), role("online", online)?),
        ("timestamp".to_owned(), role("online", online)?),
    ]
    .into();
    let director = role("director", director)?;
    let metadata = Root {
        kind: "root".into(),
        spec_version: "1.0.31".into(),
        consistent_snapshot: true,
        version,
        expires: expires.to_owned(),
        keys,
        roles,
        director: Some(director),
    };
    serde_json::to_value(metadata).map_err(|e| TrustError::Malformed {
        role: "root".into(),
        detail: e.to_string(),
    })
}

/// Accepts a root for storage: the first must be self-signed to its
/// threshold; later ones must be valid rotations of the stored one.
pub fn verify_new_root(stored: Option<&Envelope>, new: &Envelope) -> Result<Root, TrustError> {
    match stored {
        None => {
            let state = TrustedState::from_pinned_root(new)?;
            if state.root.version != 1 {
                return Err(TrustError::RootVersion {
                    trusted: 0,
                    offered: state.root.version,
                });
            }
            Ok(state.root)
        }
        Some(stored) => {
            let mut state = TrustedState::from_pinned_root(stored)?;
            state.update_root(new)?;
            Ok(state.root)
        }
    }
}

/// Accepts release (targets) metadata for storage: signed by the root's
/// targets threshold and exactly one version newer than the stored one.
pub fn verify_release(
    root: &Root,
    new: &Envelope,
    stored_version: u64,
) -> Result<Targets, TrustError> {
    let targets: Targets = parse(new, "targets", "targets")?;
    check_role(root, "targets", role_keys(root, "targets")?, new)?;
    if targets.version != stored_version + 1 {
        return Err(TrustError::MetaVersion {
            role: "targets".into(),
            expected: stored_version + 1,
            offered: targets.version,
            by: "the registry (versions move by one)".into(),
        });
    }
    Ok(targets)
}

/// The `signed` part of snapshot metadata listing targets `targets_version`.
pub fn snapshot_metadata(version: u64, targets_version: u64, expires: &str) -> Value {
    serde_json::json!({
        "_type": "snapshot", "spec_version": "1.0.31", "version": version, "expires": expires,
        "meta": {"targets.json": {"version": targets_version}},
    })
}

/// The `signed` part of timestamp metadata listing snapshot `snapshot_version`.
pub fn timestamp_metadata(version: u64, snapshot_version: u64, expires: &str) -> Value {
    serde_json::json!({
        "_type": "timestamp", "spec_version": "1.0.31", "version": version, "expires": expires,
        "meta": {"snapshot.json": {"version": snapshot_version}},
    })
}

impl Resolution {
    /// The `signed` part of this resolution statement.
    pub fn to_signed(&self) -> Value {
        // Serialising a struct of strings and numbers cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Whether online metadata expiring at `expires` should be re-signed now:
/// once less than half of its `lifetime_ms` remains (or it cannot be read),
/// so devices never see it expire while the cron runs on time.
pub fn needs_resign(expires: &str, now: i64, lifetime_ms: i64) -> bool {
    match parse_utc(expires) {
        Some(at) => at - now < lifetime_ms / 2,
        None => true,
    }
}

/// The `signed` part of the next release metadata: the current one (already
/// checked to be the signer's own, see [`check_extends_own_release`]) with
/// `additions` added or replaced, one version newer, expiring at `expires`.
pub fn next_release(
    current: Option<&Targets>,
    additions: impl IntoIterator<Item = (String, TargetFile)>,
    expires: &str,
) -> Value {
    let mut targets = current.map(|t| t.targets.clone()).unwrap_or_default();
    targets.extend(additions);
    serde_json::json!({
        "_type": "targets", "spec_version": "1.0.31",
        "version": current.map_or(0, |t| t.version) + 1,
        "expires": expires, "targets": targets,
    })
}

/// Before a release key signs "the current release plus X", the current
/// release must carry a valid signature by one of the signer's own keys:
/// otherwise a compromised Worker could slip its own target into the list
/// and have the offline key sign it.
pub fn check_extends_own_release(
    current: &Envelope,
    signers: &[PublicKey],
) -> Result<Targets, TrustError> {
    let targets: Targets = parse(current, "targets", "targets")?;
    let keys: BTreeMap<String, PublicKey> =
        signers.iter().map(|k| (k.key_id(), k.clone())).collect();
    let ids: Vec<String> = keys.keys().cloned().collect();
    verify_threshold(
        "targets",
        &current.signed,
        &current.signatures,
        &keys,
        &ids,
        1,
    )?;
    Ok(targets)
}

/// The target path of a model version in release metadata.
pub fn target_path(model: &str, version: &str) -> String {
    format!("{model}/{version}")
}

/// A target file name as TUF clients ask for it under the targets URL:
/// `VERSION`, or with consistent snapshots `SHA256HEX.VERSION`. Returns the
/// hash prefix (if any) and the version.
pub fn parse_target_file(file: &str) -> (Option<&str>, &str) {
    match file.split_once('.') {
        Some((hash, version))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            (Some(hash), version)
        }
        _ => (None, file),
    }
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

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use crate::timefmt::format_utc;
    use serde_json::json;

    const NOW: i64 = 1_795_389_326_000; // 2026-11-22T23:15:26Z
    const DAY: i64 = 86_400_000;

    fn key(seed: u8) -> SigningKey {
        let mut doc = hex::decode("302e020100300506032b657004220420").unwrap();
        doc.extend([seed; 32]);
        SigningKey::from_pkcs8(&doc).unwrap()
    }

    /// An operator's repository: keys per role, and the metadata they sign.
    struct Repo {
        root_keys: Vec<SigningKey>,
        release_keys: Vec<SigningKey>,
        snapshot: SigningKey,
        timestamp: SigningKey,
        director: SigningKey,
    }

    fn ids(keys: &[&SigningKey]) -> Vec<String> {
        keys.iter().map(|k| k.public().key_id()).collect()
    }

    fn sign(signed: Value, keys: &[&SigningKey]) -> Envelope {
        Envelope {
            signatures: keys.iter().map(|k| k.sign(&signed).unwrap()).collect(),
            signed,
        }
    }

    impl Repo {
        fn new() -> Self {
            Self {
                root_keys: vec![key(1), key(2)],
                release_keys: vec![key(3), key(4)],
                snapshot: key(5),
                timestamp: key(6),
                director: key(7),
            }
        }

        fn root_value(&self, version: u64, root_keys: &[&SigningKey]) -> Value {
            let all: Vec<&SigningKey> = root_keys
                .iter()
                .copied()
                .chain(self.release_keys.iter())
                .chain([&self.snapshot, &self.timestamp, &self.director])
                .collect();
            let keys: BTreeMap<String, PublicKey> = all
                .iter()
                .map(|k| (k.public().key_id(), k.public().clone()))
                .collect();
            json!({
                "_type": "root", "spec_version": "1.0.31", "consistent_snapshot": true,
                "version": version, "expires": format_utc(NOW + 365 * DAY), "keys": keys,
                "roles": {
                    "root": {"keyids": ids(root_keys), "threshold": 2},
                    "targets": {"keyids": ids(&self.release_keys.iter().collect::<Vec<_>>()), "threshold": 2},
                    "snapshot": {"keyids": ids(&[&self.snapshot]), "threshold": 1},
                    "timestamp": {"keyids": ids(&[&self.timestamp]), "threshold": 1},
                },
                "x-outpost-director": {"keyids": ids(&[&self.director]), "threshold": 1},
            })
        }

        fn root(&self) -> Envelope {
            let keys: Vec<&SigningKey> = self.root_keys.iter().collect();
            sign(self.root_value(1, &keys), &keys)
        }

        fn targets(
            &self,
            version: u64,
            artifacts: &[(&str, &[u8])],
            signers: &[&SigningKey],
        ) -> Envelope {
            let targets: BTreeMap<String, Value> = artifacts
                .iter()
                .map(|(name, bytes)| {
                    (name.to_string(), json!({"length": bytes.len(), "hashes": {"sha256": Digest::of(bytes).hex()}}))
                })
                .collect();
            sign(
                json!({"_type": "targets", "spec_version": "1.0.31", "version": version,
                       "expires": format_utc(NOW + 90 * DAY), "targets": targets}),
                signers,
            )
        }

        fn snapshot(&self, version: u64, targets_version: u64) -> Envelope {
            sign(
                json!({"_type": "snapshot", "spec_version": "1.0.31", "version": version,
                       "expires": format_utc(NOW + 7 * DAY), "meta": {"targets.json": {"version": targets_version}}}),
                &[&self.snapshot],
            )
        }

        fn timestamp(&self, version: u64, snapshot_version: u64, expires: i64) -> Envelope {
            sign(
                json!({"_type": "timestamp", "spec_version": "1.0.31", "version": version,
                       "expires": format_utc(expires), "meta": {"snapshot.json": {"version": snapshot_version}}}),
                &[&self.timestamp],
            )
        }

        fn resolution(
            &self,
            asked: &Question,
            target: &str,
            bytes: &[u8],
            version: u64,
            expires: i64,
            by: &SigningKey,
        ) -> Envelope {
            sign(
                json!({"_type": "outpost-resolution", "org": asked.org, "model": asked.model, "stage": asked.stage,
                       "device": asked.device, "version": "1.0.0", "target": target, "digest": Digest::of(bytes),
                       "length": bytes.len(), "resolution_version": version, "expires": format_utc(expires)}),
                &[by],
            )
        }

        fn release_signers(&self) -> Vec<&SigningKey> {
            self.release_keys.iter().collect()
        }
    }

    const OLD: &[u8] = b"model weights v1";
    const NEW: &[u8] = b"model weights v2";

    fn question() -> Question {
        Question {
            org: "acme".into(),
            model: "fraud".into(),
            stage: "production".into(),
            device: "dev-1".into(),
        }
    }

    /// A device that has verified timestamp/snapshot/targets v`version`.
    fn device_at(repo: &Repo, version: u64) -> TrustedState {
        let mut state = TrustedState::from_pinned_root(&repo.root()).unwrap();
        state.check_root_fresh(NOW).unwrap();
        state
            .update_timestamp(&repo.timestamp(version, version, NOW + DAY), NOW)
            .unwrap();
        state
            .update_snapshot(&repo.snapshot(version, version), NOW)
            .unwrap();
        let artifacts: &[(&str, &[u8])] = &[("fraud/1.0.0.onnx", OLD), ("fraud/2.0.0.onnx", NEW)];
        state
            .update_targets(
                &repo.targets(version, artifacts, &repo.release_signers()),
                NOW,
            )
            .unwrap();
        state
    }

    fn hashed(bytes: &[u8]) -> HashedContent {
        let mut hasher = crate::digest::Sha256Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The director's answer "run 2.0.0", valid for an hour from NOW.
    fn run_new(repo: &Repo) -> Envelope {
        repo.resolution(
            &question(),
            "fraud/2.0.0.onnx",
            NEW,
            1,
            NOW + 3_600_000,
            &repo.director,
        )
    }

    #[test]
    fn the_happy_path_verifies_end_to_end() {
        let repo = Repo::new();
        let mut state = device_at(&repo, 1);
        let resolution = run_new(&repo);
        let verified = state
            .verify_resolution(&resolution, &question(), NOW)
            .unwrap();
        verify_artifact(&verified, &hashed(NEW)).unwrap();
        // The state survives a round trip through the state directory.
        let saved: TrustedState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(saved, state);
    }

    #[test]
    fn an_installed_model_is_rechecked_offline_even_after_expiry() {
        let repo = Repo::new();
        let mut state = device_at(&repo, 1);
        let resolution = run_new(&repo);
        state
            .verify_resolution(&resolution, &question(), NOW)
            .unwrap();
        // Days later, offline: the resolution has expired, the check holds.
        let verified = state.verify_installed(&resolution, &hashed(NEW)).unwrap();
        assert_eq!(verified.inner().target, "fraud/2.0.0.onnx");
        // Bytes changed on disk.
        let err = state
            .verify_installed(&resolution, &hashed(b"model weights v3"))
            .unwrap_err();
        assert_eq!(err.code(), "DIGEST_MISMATCH");
        // A record edited to point at other bytes loses the director's signature.
        let mut edited = resolution.clone();
        edited.signed["digest"] = serde_json::to_value(Digest::of(OLD)).unwrap();
        edited.signed["length"] = serde_json::json!(OLD.len());
        let err = state.verify_installed(&edited, &hashed(OLD)).unwrap_err();
        assert_eq!(err.code(), "BAD_SIGNATURE");
        // A director-signed record of an unreleased artifact is refused.
        let unreleased = repo.resolution(
            &question(),
            "fraud/3.0.0.onnx",
            b"never released",
            2,
            NOW + DAY,
            &repo.director,
        );
        let err = state
            .verify_installed(&unreleased, &hashed(b"never released"))
            .unwrap_err();
        assert_eq!(err.code(), "NOT_RELEASED");
    }

    /// A device at v1 that verified the director's answer "run 2.0.0".
    fn verified_new(repo: &Repo) -> Verified<Resolution> {
        let mut state = device_at(repo, 1);
        let resolution = repo.resolution(
            &question(),
            "fraud/2.0.0.onnx",
            NEW,
            1,
            NOW + DAY,
            &repo.director,
        );
        state
            .verify_resolution(&resolution, &question(), NOW)
            .unwrap()
    }

    #[test]
    fn attack_1_changed_bytes_of_the_same_length() {
        let verified = verified_new(&Repo::new());
        let err = verify_artifact(&verified, &hashed(b"model weights v3")).unwrap_err();
        assert_eq!(err.code(), "DIGEST_MISMATCH");
    }

    #[test]
    fn attack_2_endless_data() {
        let verified = verified_new(&Repo::new());
        let longer = [NEW, b"and more"].concat();
        assert_eq!(
            verify_artifact(&verified, &hashed(&longer))
                .unwrap_err()
                .code(),
            "LENGTH_MISMATCH"
        );
    }

    #[test]
    fn attack_3_resolution_signed_by_an_unknown_key() {
        let repo = Repo::new();
        let mut state = device_at(&repo, 1);
        let forged = repo.resolution(&question(), "fraud/2.0.0.onnx", NEW, 1, NOW + DAY, &key(99));
        let err = state
            .verify_resolution(&forged, &question(), NOW)
            .unwrap_err();
        assert_eq!(err.code(), "BAD_SIGNATURE");
        assert!(err.to_string().contains("director"), "{err}");
    }

    #[test]
    fn attack_4_release_metadata_signed_by_the_director_only() {
        // A compromised Worker holds the online director key and tries to
        // release an artifact of its own.
        let repo = Repo::new();
        let mut state = TrustedState::from_pinned_root(&repo.root()).unwrap();
        state
            .update_timestamp(&repo.timestamp(2, 2, NOW + DAY), NOW)
            .unwrap();
        state.update_snapshot(&repo.snapshot(2, 2), NOW).unwrap();
        let evil = repo.targets(2, &[("fraud/evil.onnx", b"backdoor")], &[&repo.director]);
        let err = state.update_targets(&evil, NOW).unwrap_err();
        assert_eq!(err.code(), "BAD_SIGNATURE");
        // And a resolution pointing at an unreleased artifact is refused too.
        let mut state = device_at(&repo, 1);
        let unreleased = repo.resolution(
            &question(),
            "fraud/evil.onnx",
            b"backdoor",
            1,
            NOW + DAY,
            &repo.director,
        );
        assert_eq!(
            state
                .verify_resolution(&unreleased, &question(), NOW)
                .unwrap_err()
                .code(),
            "NOT_RELEASED"
        );
    }

    #[test]
    fn attack_5_a_valid_resolution_for_another_model_stage_or_device() {
        let repo = Repo::new();
        let mut state = device_at(&repo, 1);
        for (field, other) in [
            (
                "model",
                Question {
                    model: "other".into(),
                    ..question()
                },
            ),
            (
                "stage",
                Question {
                    stage: "canary".into(),
                    ..question()
                },
            ),
            (
                "device",
                Question {
                    device: "dev-2".into(),
                    ..question()
                },
            ),
        ] {
            let replayed = repo.resolution(
                &other,
                "fraud/2.0.0.onnx",
                NEW,
                1,
                NOW + DAY,
                &repo.director,
            );
            let err = state
                .verify_resolution(&replayed, &question(), NOW)
                .unwrap_err();
            assert_eq!(err.code(), "WRONG_ANSWER", "{field}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn attack_6_older_metadata_after_newer() {
        let repo = Repo::new();
        let mut state = device_at(&repo, 3);
        let err = state
            .update_timestamp(&repo.timestamp(2, 2, NOW + DAY), NOW)
            .unwrap_err();
        assert_eq!(err.code(), "ROLLBACK");
        let fresh = repo.resolution(
            &question(),
            "fraud/2.0.0.onnx",
            NEW,
            10,
            NOW + DAY,
            &repo.director,
        );
        state.verify_resolution(&fresh, &question(), NOW).unwrap();
        let stale = repo.resolution(
            &question(),
            "fraud/1.0.0.onnx",
            OLD,
            9,
            NOW + DAY,
            &repo.director,
        );
        assert_eq!(
            state
                .verify_resolution(&stale, &question(), NOW)
                .unwrap_err()
                .code(),
            "ROLLBACK"
        );
        // A snapshot other than the one timestamp lists is mix-and-match.
        let mut state = TrustedState::from_pinned_root(&repo.root()).unwrap();
        state
            .update_timestamp(&repo.timestamp(5, 5, NOW + DAY), NOW)
            .unwrap();
        assert_eq!(
            state
                .update_snapshot(&repo.snapshot(4, 4), NOW)
                .unwrap_err()
                .code(),
            "MIX_AND_MATCH"
        );
    }

    #[test]
    fn attack_7_expired_timestamp_or_resolution() {
        let repo = Repo::new();
        let mut state = TrustedState::from_pinned_root(&repo.root()).unwrap();
        let err = state
            .update_timestamp(&repo.timestamp(1, 1, NOW - 1000), NOW)
            .unwrap_err();
        assert_eq!(err.code(), "EXPIRED");
        let mut state = device_at(&repo, 1);
        let old = repo.resolution(
            &question(),
            "fraud/2.0.0.onnx",
            NEW,
            1,
            NOW - 1000,
            &repo.director,
        );
        assert_eq!(
            state
                .verify_resolution(&old, &question(), NOW)
                .unwrap_err()
                .code(),
            "EXPIRED"
        );
    }

    #[test]
    fn attack_8_root_rotation_without_the_old_threshold() {
        let repo = Repo::new();
        let mut state = TrustedState::from_pinned_root(&repo.root()).unwrap();
        let (new1, new2) = (key(11), key(12));
        let new_root = repo.root_value(2, &[&new1, &new2]);
        // Signed only by the new keys (and one old key: below the old threshold of 2).
        let err = state
            .update_root(&sign(new_root.clone(), &[&new1, &new2, &repo.root_keys[0]]))
            .unwrap_err();
        assert_eq!(err.code(), "BAD_SIGNATURE");
        assert!(err.to_string().contains("trusted root"), "{err}");
        // Signed by the old threshold but not the new one.
        let err = state
            .update_root(&sign(
                new_root.clone(),
                &[&repo.root_keys[0], &repo.root_keys[1]],
            ))
            .unwrap_err();
        assert!(err.to_string().contains("new root"), "{err}");
        // Both thresholds: accepted; skipping a version is not.
        state
            .update_root(&sign(
                new_root,
                &[&repo.root_keys[0], &repo.root_keys[1], &new1, &new2],
            ))
            .unwrap();
        assert_eq!(state.root.version, 2);
        let skip = repo.root_value(4, &[&new1, &new2]);
        assert_eq!(
            state
                .update_root(&sign(skip, &[&new1, &new2]))
                .unwrap_err()
                .code(),
            "ROLLBACK"
        );
    }

    #[test]
    fn attack_9_release_with_fewer_signatures_than_the_threshold() {
        let repo = Repo::new();
        let mut state = TrustedState::from_pinned_root(&repo.root()).unwrap();
        state
            .update_timestamp(&repo.timestamp(1, 1, NOW + DAY), NOW)
            .unwrap();
        state.update_snapshot(&repo.snapshot(1, 1), NOW).unwrap();
        let one = repo.targets(1, &[("fraud/2.0.0.onnx", NEW)], &[&repo.release_keys[0]]);
        let err = state.update_targets(&one, NOW).unwrap_err();
        assert_eq!(
            err,
            TrustError::Signature(SigningError::Threshold {
                role: "targets".into(),
                valid: 1,
                threshold: 2
            })
        );
    }

    #[test]
    fn case_10_a_legitimate_model_rollback_is_new_metadata_pointing_at_an_older_artifact() {
        let repo = Repo::new();
        let mut state = device_at(&repo, 1);
        let now_new = repo.resolution(
            &question(),
            "fraud/2.0.0.onnx",
            NEW,
            1,
            NOW + DAY,
            &repo.director,
        );
        state.verify_resolution(&now_new, &question(), NOW).unwrap();
        // The operator rolls production back: newer metadata, older artifact.
        state
            .update_timestamp(&repo.timestamp(2, 2, NOW + DAY), NOW)
            .unwrap();
        state.update_snapshot(&repo.snapshot(2, 2), NOW).unwrap();
        state
            .update_targets(
                &repo.targets(2, &[("fraud/1.0.0.onnx", OLD)], &repo.release_signers()),
                NOW,
            )
            .unwrap();
        let back = repo.resolution(
            &question(),
            "fraud/1.0.0.onnx",
            OLD,
            2,
            NOW + DAY,
            &repo.director,
        );
        let verified = state.verify_resolution(&back, &question(), NOW).unwrap();
        verify_artifact(&verified, &hashed(OLD)).unwrap();
    }

    #[test]
    fn built_roots_verify_and_bad_thresholds_are_refused() {
        let repo = Repo::new();
        let spec = |keys: &[&SigningKey], threshold| RoleSpec {
            keys: keys.iter().map(|k| k.public().clone()).collect(),
            threshold,
        };
        let roots: Vec<&SigningKey> = repo.root_keys.iter().collect();
        let value = root_metadata(
            1,
            &format_utc(NOW + DAY),
            &spec(&roots, 2),
            &spec(&repo.release_signers(), 2),
            &spec(&[&repo.timestamp], 1),
            &spec(&[&repo.director], 1),
        )
        .unwrap();
        let state = TrustedState::from_pinned_root(&sign(value, &roots)).unwrap();
        assert_eq!(state.root.roles["snapshot"], state.root.roles["timestamp"]);
        assert!(state.root.director.is_some());
        let err = root_metadata(
            1,
            "x",
            &spec(&roots, 3),
            &spec(&roots, 1),
            &spec(&roots, 1),
            &spec(&roots, 1),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("root threshold must be between 1 and its 2"),
            "{err}"
        );
    }

    #[test]
    fn stored_roots_and_releases_are_verified_like_a_device_would() {
        let repo = Repo::new();
        let root = repo.root();
        let accepted = verify_new_root(None, &root).unwrap();
        assert_eq!(accepted.version, 1);
        let releases = repo.targets(1, &[("fraud/1.0.0.onnx", OLD)], &repo.release_signers());
        assert_eq!(verify_release(&accepted, &releases, 0).unwrap().version, 1);
        assert_eq!(
            verify_release(&accepted, &releases, 1).unwrap_err().code(),
            "MIX_AND_MATCH"
        );
        let by_director = repo.targets(1, &[("fraud/1.0.0.onnx", OLD)], &[&repo.director]);
        assert_eq!(
            verify_release(&accepted, &by_director, 0)
                .unwrap_err()
                .code(),
            "BAD_SIGNATURE"
        );
        // Server-built snapshot/timestamp verify on a device.
        let mut state = TrustedState::from_pinned_root(&root).unwrap();
        let expires = format_utc(NOW + DAY);
        state
            .update_timestamp(
                &sign(timestamp_metadata(1, 1, &expires), &[&repo.timestamp]),
                NOW,
            )
            .unwrap();
        state
            .update_snapshot(
                &sign(snapshot_metadata(1, 1, &expires), &[&repo.snapshot]),
                NOW,
            )
            .unwrap();
        state.update_targets(&releases, NOW).unwrap();
    }

    #[test]
    fn timestamps_are_re_signed_in_the_second_half_of_their_life() {
        let lifetime = DAY;
        assert!(!needs_resign(&format_utc(NOW + DAY), NOW, lifetime));
        assert!(!needs_resign(
            &format_utc(NOW + DAY / 2 + 1000),
            NOW,
            lifetime
        ));
        assert!(needs_resign(
            &format_utc(NOW + DAY / 2 - 1000),
            NOW,
            lifetime
        ));
        assert!(needs_resign(&format_utc(NOW - 1000), NOW, lifetime));
        assert!(needs_resign("garbage", NOW, lifetime));
    }

    #[test]
    fn a_release_extends_only_what_the_signer_released_before() {
        let repo = Repo::new();
        let file = |bytes: &[u8]| TargetFile {
            length: bytes.len() as u64,
            hashes: [("sha256".to_owned(), Digest::of(bytes).hex())].into(),
            custom: None,
        };
        let first = next_release(
            None,
            [("m/1.0.0".to_owned(), file(OLD))],
            "2099-01-01T00:00:00Z",
        );
        assert_eq!(first["version"], 1);
        let signed_first = sign(first, &repo.release_signers());
        let publics: Vec<PublicKey> = repo
            .release_keys
            .iter()
            .map(|k| k.public().clone())
            .collect();
        let current = check_extends_own_release(&signed_first, &publics).unwrap();
        let second = next_release(
            Some(&current),
            [("m/2.0.0".to_owned(), file(b"new"))],
            "2099-01-01T00:00:00Z",
        );
        assert_eq!(second["version"], 2);
        assert_eq!(second["targets"].as_object().unwrap().len(), 2);
        // The Worker (holding only online keys) re-signed a list with its own
        // target in it: the release key refuses to build on it.
        let mut tampered = signed_first.clone();
        tampered.signed["targets"]["m/evil"] = serde_json::to_value(file(b"evil")).unwrap();
        let err = check_extends_own_release(&tampered, &publics).unwrap_err();
        assert_eq!(err.code(), "BAD_SIGNATURE");
        let by_director = sign(tampered.signed, &[&repo.director]);
        let err = check_extends_own_release(&by_director, &publics).unwrap_err();
        assert_eq!(err.code(), "BAD_SIGNATURE");
    }

    #[test]
    fn target_files_may_carry_a_hash_prefix() {
        let hex = Digest::of(b"x").hex();
        assert_eq!(parse_target_file("1.2.0"), (None, "1.2.0"));
        let prefixed = format!("{hex}.1.2.0");
        assert_eq!(parse_target_file(&prefixed), (Some(hex.as_str()), "1.2.0"));
        // Not 64 hex digits: a version with dots, not a prefix.
        assert_eq!(parse_target_file("abc.1.2.0"), (None, "abc.1.2.0"));
    }

    #[test]
    fn released_means_this_exact_target_digest_and_length() {
        let repo = Repo::new();
        let state = device_at(&repo, 1);
        let targets = state.targets.as_ref().unwrap();
        assert!(targets.names("fraud/2.0.0.onnx", &Digest::of(NEW), NEW.len() as u64));
        assert!(!targets.names("fraud/2.0.0.onnx", &Digest::of(OLD), NEW.len() as u64));
        assert!(!targets.names("fraud/2.0.0.onnx", &Digest::of(NEW), NEW.len() as u64 + 1));
        assert!(!targets.names("fraud/3.0.0.onnx", &Digest::of(NEW), NEW.len() as u64));
    }

    #[test]
    fn the_pinned_root_must_be_self_signed_to_its_threshold() {
        let repo = Repo::new();
        let value = repo.root_value(1, &repo.root_keys.iter().collect::<Vec<_>>());
        let half = sign(value, &[&repo.root_keys[0]]);
        assert_eq!(
            TrustedState::from_pinned_root(&half).unwrap_err().code(),
            "BAD_SIGNATURE"
        );
    }
}
