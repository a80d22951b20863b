//! The repository side of the trust model: what the operator's CLI builds
//! (roots, releases that extend only the signer's own) and what the Worker
//! accepts for storage and signs online (snapshot, timestamp, re-signing).

use std::collections::BTreeMap;

use serde_json::Value;

use super::checks::{check_role, role_keys};
use super::error::TrustError;
use super::schema::{Envelope, RoleKeys, Root, TargetFile, Targets, parse};
use super::state::TrustedState;
use crate::signing::{PublicKey, verify_threshold};
use crate::timefmt::parse_utc;

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
///
/// Before the first release (`targets_version` 0) it lists nothing: a
/// version 0 is not valid metadata (TUF §4.4 `METAFILES` versions are ≥ 1),
/// and a device then asks for `0.targets.json`, which the registry does not
/// have, and is told no release exists yet.
pub fn snapshot_metadata(version: u64, targets_version: u64, expires: &str) -> Value {
    let meta = if targets_version == 0 {
        serde_json::json!({})
    } else {
        serde_json::json!({"targets.json": {"version": targets_version}})
    };
    serde_json::json!({
        "_type": "snapshot", "spec_version": "1.0.31", "version": version, "expires": expires,
        "meta": meta,
    })
}

/// The `signed` part of timestamp metadata listing snapshot `snapshot_version`.
pub fn timestamp_metadata(version: u64, snapshot_version: u64, expires: &str) -> Value {
    serde_json::json!({
        "_type": "timestamp", "spec_version": "1.0.31", "version": version, "expires": expires,
        "meta": {"snapshot.json": {"version": snapshot_version}},
    })
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
