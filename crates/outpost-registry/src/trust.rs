//! The repository side of signed distribution: an organisation's root
//! (first upload or rotation) and release (TUF targets, signed offline),
//! each stored with fresh online snapshot and timestamp metadata, and the
//! cron's re-signing of timestamps. Everything uploaded is checked with the
//! same `outpost_core::trust` code a device runs.

use outpost_core::signing::SigningKey;
use outpost_core::timefmt::format_utc;
use outpost_core::trust::{
    Envelope, Root, Targets, needs_resign, snapshot_metadata, timestamp_metadata, verify_new_root,
    verify_release,
};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Change, Clock, Commit, CommitError, Keys, OnlineKey, TrustFiles, TrustRole,
    Versions,
};

/// How long online snapshot metadata stays valid (the cron re-signs).
pub const SNAPSHOT_LIFETIME_MS: i64 = 7 * 86_400_000;
/// How long online timestamp metadata stays valid; re-signed by the cron in
/// the second half of its life ([`refresh_timestamp`]).
pub const TIMESTAMP_LIFETIME_MS: i64 = 86_400_000;

fn sign(key: &SigningKey, signed: serde_json::Value) -> Result<Envelope, RegistryError> {
    let signature = key.sign(&signed).map_err(StoreError::new)?;
    Ok(Envelope {
        signed,
        signatures: vec![signature],
    })
}

fn parse<T: serde::de::DeserializeOwned>(envelope: &Envelope) -> Result<T, RegistryError> {
    Ok(serde_json::from_value(envelope.signed.clone()).map_err(StoreError::new)?)
}

/// New snapshot and timestamp versions pointing at `targets_version`: what
/// devices need beside a new root (the first) or a new release.
async fn online_files(
    ports: &(impl TrustFiles + OnlineKey + Clock),
    org: &str,
    targets_version: u64,
) -> Result<Vec<Change>, RegistryError> {
    let key = ports.online()?;
    let now = ports.now_ms();
    let next = |latest: Option<(u64, Envelope)>| latest.map_or(0, |(v, _)| v) + 1;
    let snapshot_version = next(ports.latest_trust_file(org, TrustRole::Snapshot).await?);
    let timestamp_version = next(ports.latest_trust_file(org, TrustRole::Timestamp).await?);
    let snapshot = sign(
        &key,
        snapshot_metadata(
            snapshot_version,
            targets_version,
            &format_utc(now + SNAPSHOT_LIFETIME_MS),
        ),
    )?;
    let timestamp = sign(
        &key,
        timestamp_metadata(
            timestamp_version,
            snapshot_version,
            &format_utc(now + TIMESTAMP_LIFETIME_MS),
        ),
    )?;
    Ok(vec![
        Change::TrustFile {
            role: TrustRole::Snapshot,
            version: snapshot_version,
            envelope: snapshot,
        },
        Change::TrustFile {
            role: TrustRole::Timestamp,
            version: timestamp_version,
            envelope: timestamp,
        },
    ])
}

/// Refuses a root that does not name this deployment's online key for
/// snapshot and timestamp and its director key for resolutions.
fn names_deployment_keys(
    ports: &(impl Keys + OnlineKey),
    root: &Root,
) -> Result<(), RegistryError> {
    let online = ports.online()?.public().key_id();
    let director = ports.director()?.public().key_id();
    for role in ["snapshot", "timestamp"] {
        if !root
            .roles
            .get(role)
            .is_some_and(|r| r.keyids.contains(&online))
        {
            return Err(RegistryError::RootLacksKey {
                role,
                which: "online",
                key_id: online,
            });
        }
    }
    if !root
        .director
        .as_ref()
        .is_some_and(|d| d.keyids.contains(&director))
    {
        return Err(RegistryError::RootLacksKey {
            role: "director",
            which: "director",
            key_id: director,
        });
    }
    Ok(())
}

/// `PUT …/trust/root`: the first root (self-signed to its threshold, version
/// 1, stored with snapshot and timestamp v1 so devices can start at once) or
/// a rotation of the stored one (TUF 5.3: version N+1, signed by a threshold
/// of the old and of the new root keys). Returns the stored version.
///
/// Errors: `TrustRefused` (422 with the trust code), `RootLacksKey` (422),
/// `ConcurrentRoot` (409), `Store` (a missing online key is 503).
pub async fn upload_root(
    ports: &(impl TrustFiles + Keys + OnlineKey + Clock + Commit),
    org: &str,
    actor: Actor,
    envelope: Envelope,
) -> Result<u64, RegistryError> {
    let stored = ports.latest_trust_file(org, TrustRole::Root).await?;
    let root = verify_new_root(stored.as_ref().map(|(_, e)| e), &envelope)
        .map_err(RegistryError::TrustRefused)?;
    names_deployment_keys(ports, &root)?;
    let mut changes = vec![Change::TrustFile {
        role: TrustRole::Root,
        version: root.version,
        envelope,
    }];
    if stored.is_none() {
        changes.extend(online_files(ports, org, 0).await?);
    }
    let event = AuditEvent {
        actor,
        action: "trust.root".into(),
        target: format!("trust/{}.root.json", root.version),
        details: json!({"version": root.version}),
    };
    match ports.commit(org, changes, event).await {
        Ok(()) => Ok(root.version),
        Err(CommitError::Conflict(_)) => Err(RegistryError::ConcurrentRoot),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// `PUT …/trust/targets`: release metadata signed offline, exactly one
/// version newer than the stored one, naming only registered versions with
/// their exact digest and size; stored with new snapshot and timestamp
/// versions. Returns the release's version.
///
/// Entries carried over unchanged from the previous release are not checked
/// again: they were checked when first released, and a version deleted
/// since (by retention, say) must not block the next release.
///
/// Errors: `NoRoot`, `TrustRefused`, `TargetUnnamed`, `TargetNotRegistered`,
/// `TargetMismatch` (422), `ConcurrentRelease` (409), `Store`.
pub async fn upload_release(
    ports: &(impl TrustFiles + Versions + OnlineKey + Clock + Commit),
    org: &str,
    actor: Actor,
    envelope: Envelope,
) -> Result<u64, RegistryError> {
    let Some((_, root)) = ports.latest_trust_file(org, TrustRole::Root).await? else {
        return Err(RegistryError::NoRoot {
            org: org.to_owned(),
        });
    };
    let root: Root = parse(&root)?;
    let stored = ports.latest_trust_file(org, TrustRole::Targets).await?;
    let previous: Option<Targets> = stored.as_ref().map(|(_, e)| parse(e)).transpose()?;
    let stored_version = stored.as_ref().map_or(0, |(v, _)| *v);
    let targets =
        verify_release(&root, &envelope, stored_version).map_err(RegistryError::TrustRefused)?;
    for (path, file) in &targets.targets {
        if previous.as_ref().and_then(|p| p.targets.get(path)) == Some(file) {
            continue;
        }
        let Some((model, version)) = path.split_once('/') else {
            return Err(RegistryError::TargetUnnamed { path: path.clone() });
        };
        let Some(row) = ports
            .version_artifacts(org, model, &[version])
            .await?
            .into_iter()
            .next()
        else {
            return Err(RegistryError::TargetNotRegistered { path: path.clone() });
        };
        let declared = file.hashes.get("sha256").map(|h| format!("sha256:{h}"));
        if declared.as_deref() != Some(row.digest.to_string().as_str()) || file.length != row.length
        {
            return Err(RegistryError::TargetMismatch {
                path: path.clone(),
                declared: declared.unwrap_or_else(|| "no sha256".into()),
                length: file.length,
                digest: row.digest.to_string(),
                size: row.length,
            });
        }
    }
    let mut changes = vec![Change::TrustFile {
        role: TrustRole::Targets,
        version: targets.version,
        envelope,
    }];
    changes.extend(online_files(ports, org, targets.version).await?);
    let event = AuditEvent {
        actor,
        action: "trust.release".into(),
        target: format!("trust/{}.targets.json", targets.version),
        details: json!({"version": targets.version, "targets": targets.targets.keys().collect::<Vec<_>>()}),
    };
    match ports.commit(org, changes, event).await {
        Ok(()) => Ok(targets.version),
        Err(CommitError::Conflict(_)) => Err(RegistryError::ConcurrentRelease),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// The cron's step for one organisation: re-signs its timestamp (same
/// snapshot, fresh expiry) once it is in the second half of its life, as
/// the `cron` actor. Returns whether it did; a newer timestamp stored
/// meanwhile (by a release) means there is nothing to do.
pub async fn refresh_timestamp(
    ports: &(impl TrustFiles + OnlineKey + Clock + Commit),
    org: &str,
) -> Result<bool, RegistryError> {
    let Some((version, envelope)) = ports.latest_trust_file(org, TrustRole::Timestamp).await?
    else {
        return Ok(false);
    };
    let now = ports.now_ms();
    let expires = envelope.signed["expires"].as_str().unwrap_or_default();
    if !needs_resign(expires, now, TIMESTAMP_LIFETIME_MS) {
        return Ok(false);
    }
    let snapshot = envelope.signed["meta"]["snapshot.json"]["version"]
        .as_u64()
        .unwrap_or_default();
    let next = sign(
        &ports.online()?,
        timestamp_metadata(
            version + 1,
            snapshot,
            &format_utc(now + TIMESTAMP_LIFETIME_MS),
        ),
    )?;
    let event = AuditEvent {
        actor: Actor::Cron,
        action: "trust.timestamp".into(),
        target: "trust/timestamp.json".into(),
        details: json!({"version": version + 1}),
    };
    let change = Change::TrustFile {
        role: TrustRole::Timestamp,
        version: version + 1,
        envelope: next,
    };
    match ports.commit(org, vec![change], event).await {
        Ok(()) => Ok(true),
        Err(CommitError::Conflict(_)) => Ok(false),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// A trust file name as served under `…/trust/`: `root.json`,
/// `timestamp.json`, `snapshot.json`, `targets.json` (the newest), or
/// `N.root.json`, `N.snapshot.json`, `N.targets.json` (one version; the
/// timestamp is never versioned). `None` for anything else.
/// What [`parse_trust_file`] accepts, for API documents.
pub const TRUST_FILE_PATTERN: &str = "^(?:(?:0|[1-9][0-9]{0,18})\\.(?:root|snapshot|targets)|root|snapshot|targets|timestamp)\\.json$";

pub fn parse_trust_file(file: &str) -> Option<(TrustRole, Option<u64>)> {
    let stem = file.strip_suffix(".json")?;
    let (version, role) = match stem.split_once('.') {
        Some((n, role)) => {
            let canonical =
                n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
            (Some(n.parse::<u64>().ok().filter(|_| canonical)?), role)
        }
        None => (None, stem),
    };
    let role = TrustRole::parse(role)?;
    (role != TrustRole::Timestamp || version.is_none()).then_some((role, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_file_names() {
        assert_eq!(parse_trust_file("root.json"), Some((TrustRole::Root, None)));
        assert_eq!(
            parse_trust_file("3.targets.json"),
            Some((TrustRole::Targets, Some(3)))
        );
        assert_eq!(
            parse_trust_file("timestamp.json"),
            Some((TrustRole::Timestamp, None))
        );
        for bad in [
            "7.timestamp.json",
            "root",
            "x.root.json",
            "1.keys.json",
            "-1.root.json",
        ] {
            assert_eq!(parse_trust_file(bad), None, "{bad}");
        }
    }
}
