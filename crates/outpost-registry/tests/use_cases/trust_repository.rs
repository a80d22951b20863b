//! Root upload and rotation, release upload and the cron's timestamp
//! re-signing against the in-memory adapters: each failure path with its
//! problem pinned, what is stored, and the audit entry each write commits
//! with (or that nothing was written).

#![expect(
    clippy::unwrap_used,
    clippy::result_large_err,
    reason = "tests compare whole problems"
)]

use std::collections::BTreeMap;

use outpost_core::Problem;
use outpost_core::auth::Role;
use outpost_core::digest::Digest;
use outpost_core::signing::SigningKey;
use outpost_core::timefmt::format_utc;
use outpost_core::trust::{Envelope, RoleSpec, root_metadata};
use outpost_registry::memory::{MemoryRegistry, NOW, test_key};
use outpost_registry::ports::{Actor, Change, TrustRole};
use outpost_registry::trust::{
    TIMESTAMP_LIFETIME_MS, refresh_timestamp, upload_release, upload_root,
};
use pollster::block_on;
use serde_json::{Value, json};

const ORG: &str = "acme";
const DAY: i64 = 86_400_000;

fn operator() -> Actor {
    Actor::Caller {
        token_id: "tok_operator".into(),
        name: "ci-operator".into(),
        role: Role::Operator,
    }
}

fn envelope(signed: Value, keys: &[&SigningKey]) -> Envelope {
    Envelope {
        signatures: keys.iter().map(|k| k.sign(&signed).unwrap()).collect(),
        signed,
    }
}

fn spec(keys: &[&SigningKey], threshold: usize) -> RoleSpec {
    RoleSpec {
        keys: keys.iter().map(|k| k.public().clone()).collect(),
        threshold,
    }
}

/// Root `version` with root keys `root_keys` (threshold 2, or 1 for one key),
/// release keys 3 and 4 (threshold 2), and the registry's online and
/// director keys.
fn root(registry: &MemoryRegistry, version: u64, root_keys: &[&SigningKey]) -> Value {
    let (online, director) = (registry.online_key(), registry.director_key());
    root_metadata(
        version,
        &format_utc(NOW + 365 * DAY),
        &spec(root_keys, root_keys.len().min(2)),
        &spec(&[&test_key(3), &test_key(4)], 2),
        &spec(&[&online], 1),
        &spec(&[&director], 1),
    )
    .unwrap()
}

fn upload(registry: &MemoryRegistry, root: Envelope) -> Result<u64, Problem> {
    block_on(upload_root(registry, ORG, operator(), root)).map_err(|e| e.to_problem())
}

fn release(registry: &MemoryRegistry, release: Envelope) -> Result<u64, Problem> {
    block_on(upload_release(registry, ORG, operator(), release)).map_err(|e| e.to_problem())
}

/// A registry with root v1 stored (keys 1 and 2) and `fraud` 1.0.0 and
/// 1.1.0 registered.
fn with_root() -> MemoryRegistry {
    let registry = MemoryRegistry::new();
    let keys = [test_key(1), test_key(2)];
    let first = root(&registry, 1, &[&keys[0], &keys[1]]);
    upload(&registry, envelope(first, &[&keys[0], &keys[1]])).unwrap();
    for version in ["1.0.0", "1.1.0"] {
        registry.add_version(ORG, "fraud", version, version.as_bytes());
    }
    registry
}

/// Release metadata `version` naming `targets` (model/version → bytes).
fn targets(version: u64, targets: &[(&str, &[u8])]) -> Value {
    let targets: BTreeMap<&str, Value> = targets
        .iter()
        .map(|(path, bytes)| {
            (
                *path,
                json!({"length": bytes.len(), "hashes": {"sha256": Digest::of(bytes).hex()}}),
            )
        })
        .collect();
    json!({"_type": "targets", "spec_version": "1.0.31", "version": version,
           "expires": format_utc(NOW + 90 * DAY), "targets": targets})
}

fn signed_release(version: u64, files: &[(&str, &[u8])]) -> Envelope {
    envelope(targets(version, files), &[&test_key(3), &test_key(4)])
}

fn versions(registry: &MemoryRegistry, role: TrustRole) -> Vec<u64> {
    registry
        .trust_files(ORG, role)
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

#[test]
fn the_first_root_is_stored_with_snapshot_and_timestamp_and_audited() {
    let registry = with_root();
    assert_eq!(versions(&registry, TrustRole::Root), [1]);
    assert_eq!(versions(&registry, TrustRole::Snapshot), [1]);
    assert_eq!(versions(&registry, TrustRole::Timestamp), [1]);
    let (_, timestamp) = registry.trust_files(ORG, TrustRole::Timestamp).remove(0);
    let online = registry.online_key();
    assert_eq!(
        timestamp.signatures[0].keyid,
        online.public().key_id(),
        "signed with the online key"
    );
    let audit = registry.audit_log(ORG);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "trust.root");
    assert_eq!(audit[0].target, "trust/1.root.json");
    assert_eq!(audit[0].actor.as_deref(), Some("tok_operator"));
    assert_eq!(audit[0].role.as_deref(), Some("operator"));
}

#[test]
fn a_first_root_not_signed_to_its_threshold_is_refused_and_nothing_is_stored() {
    let registry = MemoryRegistry::new();
    let keys = [test_key(1), test_key(2)];
    let first = root(&registry, 1, &[&keys[0], &keys[1]]);
    let problem = upload(&registry, envelope(first, &[&keys[0]])).unwrap_err();
    insta::assert_json_snapshot!(problem);
    assert!(versions(&registry, TrustRole::Root).is_empty());
    assert!(registry.audit_log(ORG).is_empty());
}

#[test]
fn a_first_root_must_be_version_1() {
    let registry = MemoryRegistry::new();
    let keys = [test_key(1), test_key(2)];
    let problem = upload(
        &registry,
        envelope(
            root(&registry, 2, &[&keys[0], &keys[1]]),
            &[&keys[0], &keys[1]],
        ),
    )
    .unwrap_err();
    assert_eq!(problem.status, 422);
    assert_eq!(problem.extensions["code"], "ROLLBACK");
}

#[test]
fn a_rotation_signed_by_both_thresholds_is_stored_without_new_online_files() {
    let registry = with_root();
    let (old, new) = ([test_key(1), test_key(2)], [test_key(11), test_key(12)]);
    let all = [&old[0], &old[1], &new[0], &new[1]];
    let version = upload(
        &registry,
        envelope(root(&registry, 2, &[&new[0], &new[1]]), &all),
    )
    .unwrap();
    assert_eq!(version, 2);
    assert_eq!(versions(&registry, TrustRole::Root), [1, 2]);
    assert_eq!(versions(&registry, TrustRole::Timestamp), [1]);
    assert_eq!(registry.audit_log(ORG)[1].target, "trust/2.root.json");
}

#[test]
fn a_rotation_without_the_old_threshold_is_refused() {
    let registry = with_root();
    let new = [test_key(11), test_key(12)];
    let problem = upload(
        &registry,
        envelope(root(&registry, 2, &[&new[0], &new[1]]), &[&new[0], &new[1]]),
    )
    .unwrap_err();
    insta::assert_json_snapshot!(problem);
    assert_eq!(versions(&registry, TrustRole::Root), [1]);
    assert_eq!(registry.audit_log(ORG).len(), 1, "no entry for a refusal");
}

#[test]
fn a_root_without_the_deployment_keys_is_refused() {
    let registry = MemoryRegistry::new();
    let keys = [test_key(1), test_key(2)];
    let mut signed = root(&registry, 1, &[&keys[0], &keys[1]]);
    let director = registry.director_key().public().key_id();
    signed["x-outpost-director"]["keyids"] = json!([keys[0].public().key_id()]);
    let problem = upload(&registry, envelope(signed, &[&keys[0], &keys[1]])).unwrap_err();
    assert_eq!(problem.status, 422);
    assert!(problem.detail.unwrap().contains(&director));
    let mut signed = root(&registry, 1, &[&keys[0], &keys[1]]);
    signed["roles"]["timestamp"]["keyids"] = json!([keys[0].public().key_id()]);
    insta::assert_json_snapshot!(
        upload(&registry, envelope(signed, &[&keys[0], &keys[1]])).unwrap_err()
    );
}

#[test]
fn a_root_stored_concurrently_is_a_conflict() {
    let registry = with_root();
    let (old, new) = ([test_key(1), test_key(2)], [test_key(11), test_key(12)]);
    let all = [&old[0], &old[1], &new[0], &new[1]];
    let rotation = envelope(root(&registry, 2, &[&new[0], &new[1]]), &all);
    // Another request stores version 2 after this one read version 1.
    registry.commit_first(
        ORG,
        Change::TrustFile {
            role: TrustRole::Root,
            version: 2,
            envelope: rotation.clone(),
        },
    );
    let problem = upload(&registry, rotation).unwrap_err();
    assert_eq!(versions(&registry, TrustRole::Root), [1, 2]);
    assert_eq!(registry.audit_log(ORG).len(), 1, "the loser wrote nothing");
    insta::assert_json_snapshot!(problem);
}

#[test]
fn a_release_needs_a_root() {
    let registry = MemoryRegistry::new();
    insta::assert_json_snapshot!(
        release(&registry, signed_release(1, &[("fraud/1.0.0", b"1.0.0")])).unwrap_err()
    );
}

#[test]
fn a_release_is_stored_with_new_snapshot_and_timestamp_and_audited() {
    let registry = with_root();
    let version = release(
        &registry,
        signed_release(1, &[("fraud/1.0.0", b"1.0.0"), ("fraud/1.1.0", b"1.1.0")]),
    )
    .unwrap();
    assert_eq!(version, 1);
    assert_eq!(versions(&registry, TrustRole::Targets), [1]);
    assert_eq!(versions(&registry, TrustRole::Snapshot), [1, 2]);
    assert_eq!(versions(&registry, TrustRole::Timestamp), [1, 2]);
    let (_, snapshot) = registry
        .trust_files(ORG, TrustRole::Snapshot)
        .pop()
        .unwrap();
    assert_eq!(snapshot.signed["meta"]["targets.json"]["version"], 1);
    let entry = registry.audit_log(ORG).pop().unwrap();
    assert_eq!(entry.action, "trust.release");
    assert_eq!(
        entry.details,
        json!({"version": 1, "targets": ["fraud/1.0.0", "fraud/1.1.0"]})
    );
}

#[test]
fn a_release_must_be_the_next_version() {
    let registry = with_root();
    let problem = release(&registry, signed_release(2, &[("fraud/1.0.0", b"1.0.0")])).unwrap_err();
    assert_eq!(problem.extensions["code"], "MIX_AND_MATCH");
    insta::assert_json_snapshot!(problem);
}

#[test]
fn a_release_below_the_release_threshold_is_refused() {
    let registry = with_root();
    let one = envelope(targets(1, &[("fraud/1.0.0", b"1.0.0")]), &[&test_key(3)]);
    let problem = release(&registry, one).unwrap_err();
    assert_eq!(problem.status, 422);
    assert_eq!(problem.extensions["code"], "BAD_SIGNATURE");
    assert!(versions(&registry, TrustRole::Targets).is_empty());
}

#[test]
fn a_release_names_only_registered_versions_with_their_exact_bytes() {
    let registry = with_root();
    let unregistered = release(&registry, signed_release(1, &[("fraud/9.9.9", b"9.9.9")]));
    insta::assert_json_snapshot!("unregistered", unregistered.unwrap_err());
    let wrong_bytes = release(&registry, signed_release(1, &[("fraud/1.0.0", b"other")]));
    insta::assert_json_snapshot!("wrong_bytes", wrong_bytes.unwrap_err());
    let unnamed = release(&registry, signed_release(1, &[("fraud-1.0.0", b"1.0.0")]));
    insta::assert_json_snapshot!("unnamed", unnamed.unwrap_err());
    assert!(versions(&registry, TrustRole::Targets).is_empty());
    assert_eq!(registry.audit_log(ORG).len(), 1, "only the root's entry");
}

#[test]
fn entries_carried_over_are_not_checked_again() {
    let registry = with_root();
    release(&registry, signed_release(1, &[("fraud/1.0.0", b"1.0.0")])).unwrap();
    // Retention deleted 1.0.0 since; the next release keeps its entry.
    registry.remove_version(ORG, "fraud", "1.0.0");
    let next = signed_release(2, &[("fraud/1.0.0", b"1.0.0"), ("fraud/1.1.0", b"1.1.0")]);
    assert_eq!(release(&registry, next).unwrap(), 2);
}

#[test]
fn timestamps_are_re_signed_by_the_cron_in_the_second_half_of_their_life() {
    let registry = with_root();
    assert!(
        !block_on(refresh_timestamp(&registry, ORG)).unwrap(),
        "fresh"
    );
    registry.set_now(NOW + TIMESTAMP_LIFETIME_MS / 2 + 1);
    assert!(block_on(refresh_timestamp(&registry, ORG)).unwrap());
    assert_eq!(versions(&registry, TrustRole::Timestamp), [1, 2]);
    let (_, timestamp) = registry
        .trust_files(ORG, TrustRole::Timestamp)
        .pop()
        .unwrap();
    assert_eq!(timestamp.signed["meta"]["snapshot.json"]["version"], 1);
    let entry = registry.audit_log(ORG).pop().unwrap();
    assert_eq!(entry.action, "trust.timestamp");
    assert_eq!(
        entry.actor.as_deref(),
        Some("cron"),
        "the cron, no fake caller"
    );
    assert!(
        !block_on(refresh_timestamp(&registry, ORG)).unwrap(),
        "fresh again"
    );
}

#[test]
fn an_organisation_without_a_timestamp_has_nothing_to_refresh() {
    let registry = MemoryRegistry::new();
    assert!(!block_on(refresh_timestamp(&registry, ORG)).unwrap());
    assert!(registry.audit_log(ORG).is_empty());
}

#[test]
fn storage_failures_write_nothing() {
    for port in ["latest_trust_file", "online", "commit"] {
        let registry = with_root();
        registry.fail(port);
        let problem =
            release(&registry, signed_release(1, &[("fraud/1.0.0", b"1.0.0")])).unwrap_err();
        assert_eq!(problem.status, 500, "{port}");
        assert!(versions(&registry, TrustRole::Targets).is_empty(), "{port}");
        assert_eq!(registry.audit_log(ORG).len(), 1, "{port}");
    }
}

#[test]
fn a_timestamp_re_signed_meanwhile_by_a_release_is_left_alone() {
    let registry = with_root();
    registry.set_now(NOW + TIMESTAMP_LIFETIME_MS / 2 + 1);
    let (_, current) = registry
        .trust_files(ORG, TrustRole::Timestamp)
        .pop()
        .unwrap();
    registry.commit_first(
        ORG,
        Change::TrustFile {
            role: TrustRole::Timestamp,
            version: 2,
            envelope: current,
        },
    );
    assert!(!block_on(refresh_timestamp(&registry, ORG)).unwrap());
    assert_eq!(registry.audit_log(ORG).len(), 1, "no entry for the cron");
}

#[test]
fn a_root_that_breaks_the_metadata_format_is_refused_on_upload() {
    let registry = MemoryRegistry::new();
    let keys = [test_key(1), test_key(2)];
    let mut first = root(&registry, 1, &[&keys[0], &keys[1]]);
    // The hostile input: a release role that any zero signatures satisfy.
    first["roles"]["targets"]["threshold"] = json!(0);
    let refused = upload(&registry, envelope(first, &[&keys[0], &keys[1]])).unwrap_err();
    assert_eq!(refused.status, 422);
    assert_eq!(refused.extensions["code"], "MALFORMED", "{refused:?}");
    let detail = refused.detail.unwrap_or_default();
    assert!(detail.contains("threshold is 0"), "{detail}");
    assert!(versions(&registry, TrustRole::Root).is_empty());
    assert!(registry.audit_log(ORG).is_empty());
}

/// Before the first release a device's refresh gets through timestamp and
/// snapshot (valid metadata: the snapshot lists no targets version 0) and
/// stops at the release it cannot find.
#[test]
fn before_the_first_release_a_device_refresh_stops_at_the_missing_release() {
    use outpost_core::trust::{Step, Updater};
    let registry = MemoryRegistry::new();
    let keys = [test_key(1), test_key(2)];
    let first = envelope(
        root(&registry, 1, &[&keys[0], &keys[1]]),
        &[&keys[0], &keys[1]],
    );
    upload(&registry, first.clone()).unwrap();
    let served = |file: &str| -> Option<Vec<u8>> {
        let (role, version) = match file {
            "timestamp.json" => (TrustRole::Timestamp, None),
            _ => {
                let (n, name) = file.split_once('.')?;
                let role = match name {
                    "root.json" => TrustRole::Root,
                    "snapshot.json" => TrustRole::Snapshot,
                    "targets.json" => TrustRole::Targets,
                    _ => return None,
                };
                (role, Some(n.parse::<u64>().ok()?))
            }
        };
        registry
            .trust_files(ORG, role)
            .into_iter()
            .rev()
            .find(|(v, _)| version.is_none_or(|want| *v == want))
            .map(|(_, e)| serde_json::to_vec(&e).unwrap())
    };
    let mut updater = Updater::new(Some(&first), None, NOW).unwrap();
    let error = loop {
        let request = updater.next_file().expect("the refresh asks for a file");
        if let Err(err) = updater.offer(served(&request.file).as_deref()) {
            break err;
        }
    };
    assert_eq!(error.step, Step::Targets, "{error}");
    assert_eq!(error.code(), "MISSING", "{error}");
}
