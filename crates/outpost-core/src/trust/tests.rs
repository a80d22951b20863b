use std::collections::BTreeMap;

use serde_json::Value;

use super::updater::Updater;
use super::*;
use crate::digest::{Digest, HashedContent};
use crate::signing::SigningKey;
use crate::signing::{PublicKey, SigningError};
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
                (
                    name.to_string(),
                    json!({"length": bytes.len(), "hashes": {"sha256": Digest::of(bytes).hex()}}),
                )
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

/// A state saved before root fingerprints were kept (no `roots`) matches
/// the pin it equals, and keeps matching it after a rotation.
#[test]
fn a_state_saved_before_fingerprints_keeps_its_pin_across_rotations() {
    let repo = Repo::new();
    let pin = repo.root();
    let mut legacy = device_at(&repo, 1);
    legacy.roots.clear();
    let mut updater = Updater::new(Some(&pin), Some(legacy), NOW).unwrap();
    // A rotation to root 2 signed by both thresholds.
    let keys: Vec<&SigningKey> = repo.root_keys.iter().collect();
    let rotated = sign(repo.root_value(2, &keys), &keys);
    let served = [
        ("2.root.json", serde_json::to_vec(&rotated).unwrap()),
        (
            "timestamp.json",
            serde_json::to_vec(&repo.timestamp(2, 2, NOW + DAY)).unwrap(),
        ),
        (
            "2.snapshot.json",
            serde_json::to_vec(&repo.snapshot(2, 2)).unwrap(),
        ),
    ];
    let artifacts: &[(&str, &[u8])] = &[("fraud/1.0.0.onnx", OLD)];
    let targets = serde_json::to_vec(&repo.targets(2, artifacts, &repo.release_signers())).unwrap();
    while let Some(request) = updater.next_file() {
        let bytes = served
            .iter()
            .find(|(name, _)| *name == request.file)
            .map(|(_, b)| b.clone())
            .or_else(|| (request.file == "2.targets.json").then(|| targets.clone()));
        updater.offer(bytes.as_deref()).unwrap();
    }
    let state = updater.finish().unwrap();
    assert_eq!(state.root.version, 2);
    state.descends_from(&pin).unwrap();
    assert!(TrustedState::resume(Some(state), &pin).is_ok());
}

#[test]
fn offline_use_refuses_a_state_the_pin_does_not_reach() {
    let repo = Repo::new();
    let state = device_at(&repo, 1);
    let keys: Vec<&SigningKey> = repo.root_keys.iter().collect();
    let newer_pin = sign(repo.root_value(2, &keys), &keys);
    assert_eq!(
        TrustedState::resume(Some(state), &newer_pin)
            .unwrap_err()
            .code(),
        "ROOT_MISMATCH"
    );
}

#[test]
fn resolution_numbers_order_changes_before_issue_times() {
    let change = NOW;
    // Later issues of one change count up, then stop at the cap.
    assert_eq!(resolution_version(change, change), change as u64 * 1000);
    assert_eq!(
        resolution_version(change, change + 2_500),
        change as u64 * 1000 + 2
    );
    assert_eq!(
        resolution_version(change, change + 7 * DAY),
        change as u64 * 1000 + 999
    );
    // However late an answer from the earlier change is issued, an answer
    // from a change 1 ms later outnumbers it.
    assert!(
        resolution_version(change, change + 30 * DAY) < resolution_version(change + 1, change + 1)
    );
    // An issuer whose clock is behind the change's adds nothing; the
    // number stays at least 1 and exact in JavaScript until 2255.
    assert_eq!(
        resolution_version(change, change - 5_000),
        change as u64 * 1000
    );
    assert_eq!(resolution_version(-5, 0), 1);
    let year_2255 = 9_000_000_000_000_i64;
    assert!(resolution_version(year_2255, year_2255 + DAY) < 1 << 53);
}

#[test]
fn a_resolution_number_is_trusted_per_question() {
    let repo = Repo::new();
    let mut state = device_at(&repo, 3);
    let other = Question {
        model: "other-model".into(),
        ..question()
    };
    let high = repo.resolution(
        &other,
        "fraud/2.0.0.onnx",
        NEW,
        50,
        NOW + DAY,
        &repo.director,
    );
    // Another model's answer, numbered high, is trusted under its own
    // question…
    state.verify_resolution(&high, &other, NOW).unwrap();
    let low = repo.resolution(
        &question(),
        "fraud/2.0.0.onnx",
        NEW,
        7,
        NOW + DAY,
        &repo.director,
    );
    state.verify_resolution(&low, &question(), NOW).unwrap();
    // …and does not raise this question's floor, which is its own: 7 is
    // accepted after 50, and 6 is older than 7.
    let older = repo.resolution(
        &question(),
        "fraud/2.0.0.onnx",
        NEW,
        6,
        NOW + DAY,
        &repo.director,
    );
    assert_eq!(
        state
            .verify_resolution(&older, &question(), NOW)
            .unwrap_err()
            .code(),
        "ROLLBACK"
    );
}

#[test]
fn release_provenance_checks_signatures_and_the_root_chain_but_not_expiry() {
    let repo = Repo::new();
    let signers = repo.release_signers();
    let root = repo.root();
    let release = repo.targets(3, &[("fraud/1.0.0", b"model")], &signers);
    let (targets, fingerprint) =
        verify_release_provenance(std::slice::from_ref(&root), &release).unwrap();
    assert!(
        targets
            .inner()
            .names("fraud/1.0.0", &Digest::of(b"model"), 5)
    );
    assert_eq!(fingerprint, super::state::root_fingerprint(&root).unwrap());

    // Expired release metadata still proves what was signed.
    let mut old = release.signed.clone();
    old["expires"] = json!(format_utc(NOW - 400 * DAY));
    let expired = sign(old, &signers);
    assert!(verify_release_provenance(std::slice::from_ref(&root), &expired).is_ok());

    // One release signature of a threshold of two is not enough.
    let weak = repo.targets(3, &[("fraud/1.0.0", b"model")], &signers[..1]);
    assert!(verify_release_provenance(std::slice::from_ref(&root), &weak).is_err());

    // A changed byte of the signed part breaks it.
    let mut changed = release.clone();
    changed.signed["targets"]["fraud/1.0.0"]["length"] = json!(6);
    assert!(verify_release_provenance(std::slice::from_ref(&root), &changed).is_err());

    // No root, or a second root that skips a version, is refused.
    assert!(verify_release_provenance(&[], &release).is_err());
    let keys: Vec<&SigningKey> = repo.root_keys.iter().collect();
    let skipping = sign(repo.root_value(3, &keys), &keys);
    assert!(verify_release_provenance(&[root.clone(), skipping], &release).is_err());
    let next = sign(repo.root_value(2, &keys), &keys);
    assert!(verify_release_provenance(&[root, next], &release).is_ok());
}
