//! The trust model's attack and failure scenarios as test data, one folder
//! each under `tests/data/trust/<scenario>/` (tough's layout):
//!
//! - `pinned.json`: the root the device pins;
//! - `state.json` (optional): the trusted state a device saved earlier;
//! - `served/<file>`: what the registry serves under `…/trust/` (a file that
//!   is absent answers 404), plus `served/resolve.json` (the director's
//!   answer) and `served/artifact` (the bytes at the blob URL);
//! - `expected.json`: the clock, the question asked, and the outcome: `ok`
//!   with the version installed, or the exact code and step of the refusal.
//!
//! The folders are written by the generator below (deterministic keys and
//! clock; ed25519 signatures are deterministic): `OUTPOST_WRITE_TRUST_DATA=1
//! cargo test -p outpost-core --test trust_scenarios` rewrites them, and
//! `committed_data_is_what_the_generator_writes` fails when they drift. Each
//! scenario is driven through the sans-I/O [`Updater`] here, and through the
//! wasm client under Node (`tests/node/trust.test.mjs`), so both runtimes
//! must reach the same decision on the same bytes.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::signing::{PublicKey, SigningKey};
use outpost_core::timefmt::format_utc;
use outpost_core::trust::{Envelope, Question, TrustedState, Updater, verify_artifact};
use serde_json::{Value, json};

/// 2026-11-22T23:15:26Z: the clock of every scenario.
const NOW: i64 = 1_795_389_326_000;
const DAY: i64 = 86_400_000;

const OLD: &[u8] = b"model weights v1 (fraud 1.0.0)";
const NEW: &[u8] = b"model weights v2 (fraud 2.0.0)";

fn key(seed: u8) -> SigningKey {
    let mut doc = hex::decode("302e020100300506032b657004220420").unwrap();
    doc.extend([seed; 32]);
    SigningKey::from_pkcs8(&doc).unwrap()
}

fn ids(keys: &[&SigningKey]) -> Vec<String> {
    keys.iter().map(|k| k.public().key_id()).collect()
}

fn envelope(signed: Value, keys: &[&SigningKey]) -> Value {
    let signatures: Vec<_> = keys.iter().map(|k| k.sign(&signed).unwrap()).collect();
    json!({"signed": signed, "signatures": signatures})
}

fn question() -> Question {
    Question {
        org: "acme".into(),
        model: "fraud".into(),
        stage: "production".into(),
        device: "dev-1".into(),
    }
}

/// An operator's repository: two root keys (threshold 2), two release keys
/// (threshold 2), one key each for snapshot, timestamp and the director.
struct Repo {
    root_keys: Vec<SigningKey>,
    release_keys: Vec<SigningKey>,
    snapshot: SigningKey,
    timestamp: SigningKey,
    director: SigningKey,
}

impl Repo {
    fn new(seed: u8) -> Self {
        Self {
            root_keys: vec![key(seed), key(seed + 1)],
            release_keys: vec![key(seed + 2), key(seed + 3)],
            snapshot: key(seed + 4),
            timestamp: key(seed + 5),
            director: key(seed + 6),
        }
    }

    fn root_signed(&self, version: u64, root_keys: &[&SigningKey], expires: i64) -> Value {
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
            "version": version, "expires": format_utc(expires), "keys": keys,
            "roles": {
                "root": {"keyids": ids(root_keys), "threshold": 2},
                "targets": {"keyids": ids(&self.release_keys.iter().collect::<Vec<_>>()), "threshold": 2},
                "snapshot": {"keyids": ids(&[&self.snapshot]), "threshold": 1},
                "timestamp": {"keyids": ids(&[&self.timestamp]), "threshold": 1},
            },
            "x-outpost-director": {"keyids": ids(&[&self.director]), "threshold": 1},
        })
    }

    fn root_keys(&self) -> Vec<&SigningKey> {
        self.root_keys.iter().collect()
    }

    fn root(&self) -> Value {
        let keys = self.root_keys();
        envelope(self.root_signed(1, &keys, NOW + 365 * DAY), &keys)
    }

    fn targets_signed(&self, version: u64, expires: i64) -> Value {
        let file = |bytes: &[u8]| json!({"length": bytes.len(), "hashes": {"sha256": Digest::of(bytes).hex()}});
        json!({"_type": "targets", "spec_version": "1.0.31", "version": version,
               "expires": format_utc(expires),
               "targets": {"fraud/1.0.0": file(OLD), "fraud/2.0.0": file(NEW)}})
    }

    fn targets(&self, version: u64) -> Value {
        envelope(
            self.targets_signed(version, NOW + 90 * DAY),
            &self.release_keys.iter().collect::<Vec<_>>(),
        )
    }

    fn snapshot_signed(&self, version: u64, targets_version: u64, expires: i64) -> Value {
        json!({"_type": "snapshot", "spec_version": "1.0.31", "version": version,
               "expires": format_utc(expires), "meta": {"targets.json": {"version": targets_version}}})
    }

    fn snapshot(&self, version: u64, targets_version: u64) -> Value {
        envelope(
            self.snapshot_signed(version, targets_version, NOW + 7 * DAY),
            &[&self.snapshot],
        )
    }

    fn timestamp_signed(&self, version: u64, snapshot_version: u64, expires: i64) -> Value {
        json!({"_type": "timestamp", "spec_version": "1.0.31", "version": version,
               "expires": format_utc(expires), "meta": {"snapshot.json": {"version": snapshot_version}}})
    }

    fn timestamp(&self, version: u64, snapshot_version: u64) -> Value {
        envelope(
            self.timestamp_signed(version, snapshot_version, NOW + DAY),
            &[&self.timestamp],
        )
    }

    fn resolution_signed(&self, asked: &Question, version: &str, resolution_version: u64) -> Value {
        let bytes = if version == "1.0.0" { OLD } else { NEW };
        json!({"_type": "outpost-resolution", "org": asked.org, "model": asked.model,
               "stage": asked.stage, "device": asked.device, "version": version, "arm": "stable",
               "target": format!("fraud/{version}"), "digest": Digest::of(bytes), "length": bytes.len(),
               "resolution_version": resolution_version, "expires": format_utc(NOW + 3_600_000)})
    }

    fn resolution(&self, version: &str, resolution_version: u64) -> Value {
        envelope(
            self.resolution_signed(&question(), version, resolution_version),
            &[&self.director],
        )
    }
}

/// One scenario as it is written to disk.
struct Scenario {
    name: &'static str,
    pinned: Value,
    state: Option<TrustedState>,
    served: BTreeMap<String, Vec<u8>>,
    /// `Ok(version)` or `Err((code, step))`.
    outcome: Result<&'static str, (&'static str, &'static str)>,
}

fn json_bytes(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap();
    bytes.push(b'\n');
    bytes
}

/// What an honest registry at release `version` serves: timestamp, snapshot
/// and targets v`version`, the director's "run 2.0.0" and its bytes.
fn honest(repo: &Repo, version: u64) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (
            "timestamp.json".into(),
            json_bytes(&repo.timestamp(version, version)),
        ),
        (
            format!("{version}.snapshot.json"),
            json_bytes(&repo.snapshot(version, version)),
        ),
        (
            format!("{version}.targets.json"),
            json_bytes(&repo.targets(version)),
        ),
        (
            "resolve.json".into(),
            json_bytes(&repo.resolution("2.0.0", version)),
        ),
        ("artifact".into(), NEW.to_vec()),
    ])
}

/// A device that refreshed and resolved against an honest registry at
/// release `version` (the state it saved).
fn device_after(repo: &Repo, pinned: &Value, version: u64) -> TrustedState {
    let pinned: Envelope = serde_json::from_value(pinned.clone()).unwrap();
    let served = honest(repo, version);
    let mut updater = Updater::new(Some(&pinned), None, NOW).unwrap();
    while let Some(request) = updater.next_file() {
        updater
            .offer(served.get(&request.file).map(Vec::as_slice))
            .unwrap();
    }
    let mut state = updater.finish().unwrap();
    let resolution: Envelope = serde_json::from_slice(&served["resolve.json"]).unwrap();
    state
        .verify_resolution(&resolution, &question(), NOW)
        .unwrap();
    state
}

fn with(
    mut served: BTreeMap<String, Vec<u8>>,
    file: &str,
    value: &Value,
) -> BTreeMap<String, Vec<u8>> {
    served.insert(file.into(), json_bytes(value));
    served
}

fn scenarios() -> Vec<Scenario> {
    let repo = Repo::new(1);
    let other = Repo::new(41);
    let pinned = repo.root();
    let root_keys = repo.root_keys();
    let new_root_keys = [key(21), key(22)];
    let new_root_refs: Vec<&SigningKey> = new_root_keys.iter().collect();
    let both: Vec<&SigningKey> = root_keys.iter().chain(&new_root_refs).copied().collect();
    let rotated = envelope(repo.root_signed(2, &new_root_refs, NOW + 365 * DAY), &both);
    let release_keys: Vec<&SigningKey> = repo.release_keys.iter().collect();
    let scenario = |name, served, outcome| Scenario {
        name,
        pinned: pinned.clone(),
        state: None,
        served,
        outcome,
    };
    let mut all = vec![
        scenario("fresh-pin", honest(&repo, 1), Ok("2.0.0")),
        scenario(
            "rotated-root",
            with(honest(&repo, 1), "2.root.json", &rotated),
            Ok("2.0.0"),
        ),
        // Attack 8: the new root is signed by its own keys only.
        scenario(
            "root-rotation-without-the-old-threshold",
            with(
                honest(&repo, 1),
                "2.root.json",
                &envelope(
                    repo.root_signed(2, &new_root_refs, NOW + 365 * DAY),
                    &new_root_refs,
                ),
            ),
            Err(("BAD_SIGNATURE", "root 2")),
        ),
        // TUF 5.3.5: offered as 2.root.json, but it says version 3.
        scenario(
            "root-version-skipped",
            with(
                honest(&repo, 1),
                "2.root.json",
                &envelope(repo.root_signed(3, &new_root_refs, NOW + 365 * DAY), &both),
            ),
            Err(("ROLLBACK", "root 2")),
        ),
        // TUF 5.3.10: no newer root, and the trusted one has expired.
        Scenario {
            pinned: envelope(repo.root_signed(1, &root_keys, NOW - DAY), &root_keys),
            ..scenario("expired-root", honest(&repo, 1), Err(("EXPIRED", "root")))
        },
        // Attack 7 (freeze): each role expired in turn.
        scenario(
            "expired-timestamp",
            with(
                honest(&repo, 1),
                "timestamp.json",
                &envelope(repo.timestamp_signed(1, 1, NOW - 1), &[&repo.timestamp]),
            ),
            Err(("EXPIRED", "timestamp")),
        ),
        scenario(
            "expired-snapshot",
            with(
                honest(&repo, 1),
                "1.snapshot.json",
                &envelope(repo.snapshot_signed(1, 1, NOW - 1), &[&repo.snapshot]),
            ),
            Err(("EXPIRED", "snapshot")),
        ),
        scenario(
            "expired-release",
            with(
                honest(&repo, 1),
                "1.targets.json",
                &envelope(repo.targets_signed(1, NOW - 1), &release_keys),
            ),
            Err(("EXPIRED", "targets")),
        ),
        // Attack 4: release metadata signed by the (online) director only.
        scenario(
            "release-signed-by-the-director-only",
            with(
                honest(&repo, 1),
                "1.targets.json",
                &envelope(repo.targets_signed(1, NOW + DAY), &[&repo.director]),
            ),
            Err(("BAD_SIGNATURE", "targets")),
        ),
        // Attack 9: one of the two release signatures the threshold needs.
        scenario(
            "release-below-the-threshold",
            with(
                honest(&repo, 1),
                "1.targets.json",
                &envelope(repo.targets_signed(1, NOW + DAY), &release_keys[..1]),
            ),
            Err(("BAD_SIGNATURE", "targets")),
        ),
        // One key's signature twice counts once (TUF 5.6.3, python-tuf #1718).
        scenario(
            "release-with-duplicate-signatures",
            with(
                honest(&repo, 1),
                "1.targets.json",
                &envelope(
                    repo.targets_signed(1, NOW + DAY),
                    &[release_keys[0], release_keys[0]],
                ),
            ),
            Err(("BAD_SIGNATURE", "targets")),
        ),
        scenario(
            "timestamp-signed-by-an-unknown-key",
            with(
                honest(&repo, 1),
                "timestamp.json",
                &envelope(repo.timestamp_signed(1, 1, NOW + DAY), &[&key(99)]),
            ),
            Err(("BAD_SIGNATURE", "timestamp")),
        ),
        // TUF 5.5.4: the snapshot is not the version the timestamp lists.
        scenario(
            "snapshot-not-the-listed-version",
            with(
                honest(&repo, 1),
                "1.snapshot.json",
                &envelope(repo.snapshot_signed(2, 1, NOW + DAY), &[&repo.snapshot]),
            ),
            Err(("MIX_AND_MATCH", "snapshot")),
        ),
        scenario(
            "no-timestamp",
            {
                let mut served = honest(&repo, 1);
                served.remove("timestamp.json");
                served
            },
            Err(("MISSING", "timestamp")),
        ),
        scenario(
            "malformed-snapshot",
            {
                let mut served = honest(&repo, 1);
                served.insert("1.snapshot.json".into(), b"{\"signed\": [".to_vec());
                served
            },
            Err(("MALFORMED", "snapshot")),
        ),
        // A validly signed snapshot offered where release metadata belongs.
        scenario(
            "snapshot-served-as-release",
            with(honest(&repo, 1), "1.targets.json", &repo.snapshot(1, 1)),
            Err(("MALFORMED", "targets")),
        ),
        // Attack 3: a resolution signed by a key the root never named.
        scenario(
            "resolution-signed-by-an-unknown-key",
            with(
                honest(&repo, 1),
                "resolve.json",
                &envelope(repo.resolution_signed(&question(), "2.0.0", 1), &[&key(99)]),
            ),
            Err(("BAD_SIGNATURE", "the resolution")),
        ),
        // Attack 5: a valid resolution, but for another device.
        scenario(
            "resolution-for-another-device",
            with(
                honest(&repo, 1),
                "resolve.json",
                &envelope(
                    repo.resolution_signed(
                        &Question {
                            device: "dev-2".into(),
                            ..question()
                        },
                        "2.0.0",
                        1,
                    ),
                    &[&repo.director],
                ),
            ),
            Err(("WRONG_ANSWER", "the resolution")),
        ),
        // The director can only choose among released artifacts.
        scenario(
            "resolution-of-an-unreleased-artifact",
            with(honest(&repo, 1), "resolve.json", &{
                let mut signed = repo.resolution_signed(&question(), "2.0.0", 1);
                signed["target"] = json!("fraud/3.0.0");
                envelope(signed, &[&repo.director])
            }),
            Err(("NOT_RELEASED", "the resolution")),
        ),
        // Attack 1: the bytes change, the length does not.
        scenario(
            "artifact-changed",
            {
                let mut served = honest(&repo, 1);
                let mut bytes = NEW.to_vec();
                bytes[0] ^= 1;
                served.insert("artifact".into(), bytes);
                served
            },
            Err(("DIGEST_MISMATCH", "the artifact")),
        ),
        // Attack 2: more bytes than signed.
        scenario(
            "artifact-longer-than-signed",
            {
                let mut served = honest(&repo, 1);
                served.insert("artifact".into(), [NEW, b"and more"].concat());
                served
            },
            Err(("LENGTH_MISMATCH", "the artifact")),
        ),
    ];

    // Roots that break the metadata format (TUF §4.3) are refused when
    // loaded, whether pinned or rotated to, not when a later step trips
    // over them (the hostile input: a release threshold of 0).
    let edited_root = |version: u64, keys: &[&SigningKey], edit: &dyn Fn(&mut Value)| {
        let mut signed = repo.root_signed(version, keys, NOW + 365 * DAY);
        edit(&mut signed);
        signed
    };
    let release_threshold_zero = |signed: &mut Value| {
        signed["roles"]["targets"]["threshold"] = json!(0);
    };
    all.push(Scenario {
        pinned: envelope(
            edited_root(1, &root_keys, &release_threshold_zero),
            &root_keys,
        ),
        ..scenario(
            "pinned-root-with-release-threshold-zero",
            honest(&repo, 1),
            Err(("MALFORMED", "the pinned root")),
        )
    });
    for (name, edit) in [
        (
            "rotated-root-with-release-threshold-zero",
            &release_threshold_zero as &dyn Fn(&mut Value),
        ),
        ("rotated-root-of-spec-version-2", &|signed: &mut Value| {
            signed["spec_version"] = json!("2.0.0");
        }),
        (
            "rotated-root-without-a-timestamp-role",
            &|signed: &mut Value| {
                if let Some(roles) = signed["roles"].as_object_mut() {
                    roles.remove("timestamp");
                }
            },
        ),
        (
            "rotated-root-with-a-short-ed25519-key",
            &|signed: &mut Value| {
                if let Some(keys) = signed["keys"].as_object_mut() {
                    for key in keys.values_mut() {
                        key["keyval"]["public"] = json!("ab".repeat(31));
                    }
                }
            },
        ),
    ] {
        all.push(scenario(
            name,
            with(
                honest(&repo, 1),
                "2.root.json",
                &envelope(edited_root(2, &new_root_refs, edit), &both),
            ),
            Err(("MALFORMED", "root 2")),
        ));
    }
    let mut version_zero = repo.timestamp_signed(1, 1, NOW + DAY);
    version_zero["version"] = json!(0);
    all.push(scenario(
        "timestamp-of-version-zero",
        with(
            honest(&repo, 1),
            "timestamp.json",
            &envelope(version_zero, &[&repo.timestamp]),
        ),
        Err(("MALFORMED", "timestamp")),
    ));

    // Scenarios that start from a saved state.
    let at_5 = device_after(&repo, &pinned, 5);
    all.push(Scenario {
        // Attack 6: older metadata after newer.
        state: Some(at_5.clone()),
        ..scenario(
            "timestamp-older-than-trusted",
            honest(&repo, 3),
            Err(("ROLLBACK", "timestamp")),
        )
    });
    all.push(Scenario {
        state: Some(at_5.clone()),
        ..scenario(
            "resolution-older-than-trusted",
            with(
                honest(&repo, 6),
                "resolve.json",
                &repo.resolution("2.0.0", 4),
            ),
            Err(("ROLLBACK", "the resolution")),
        )
    });
    all.push(Scenario {
        // Case 10: a legitimate model rollback is *new* metadata pointing at
        // an older artifact.
        state: Some(at_5.clone()),
        ..scenario(
            "legitimate-model-rollback",
            {
                let mut served = with(
                    honest(&repo, 6),
                    "resolve.json",
                    &repo.resolution("1.0.0", 6),
                );
                served.insert("artifact".into(), OLD.to_vec());
                served
            },
            Ok("1.0.0"),
        )
    });
    // A state directory of another repository under this pin: its keys are
    // not the pin's, and starting over would drop its rollback protection.
    let foreign = device_after(&other, &other.root(), 1);
    all.push(Scenario {
        state: Some(foreign),
        ..scenario(
            "state-of-another-repository",
            honest(&repo, 1),
            Err(("ROOT_MISMATCH", "the pinned root")),
        )
    });
    // A pin newer than the saved state: the rotations must reach it.
    let at_1 = device_after(&repo, &pinned, 1);
    all.push(Scenario {
        pinned: rotated.clone(),
        state: Some(at_1.clone()),
        ..scenario(
            "state-behind-a-newer-pin",
            with(honest(&repo, 2), "2.root.json", &rotated),
            Ok("2.0.0"),
        )
    });
    let impostor_keys = [key(31), key(32)];
    let impostor_refs: Vec<&SigningKey> = impostor_keys.iter().collect();
    all.push(Scenario {
        // The pin says root 2 has other keys than the root 2 the registry
        // serves (and the state accepts): the state is not the pin's.
        pinned: envelope(
            repo.root_signed(2, &impostor_refs, NOW + 365 * DAY),
            &impostor_refs,
        ),
        state: Some(at_1),
        ..scenario(
            "state-rotates-past-another-pin",
            with(honest(&repo, 2), "2.root.json", &rotated),
            Err(("ROOT_MISMATCH", "the pinned root")),
        )
    });
    all
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/trust")
}

/// The files of one scenario, by path relative to its folder.
fn files(scenario: &Scenario) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("pinned.json".into(), json_bytes(&scenario.pinned));
    if let Some(state) = &scenario.state {
        files.insert(
            "state.json".into(),
            json_bytes(&serde_json::to_value(state).unwrap()),
        );
    }
    for (name, bytes) in &scenario.served {
        files.insert(format!("served/{name}"), bytes.clone());
    }
    let outcome = match scenario.outcome {
        Ok(version) => json!({"ok": true, "version": version}),
        Err((code, step)) => json!({"ok": false, "code": code, "step": step}),
    };
    let q = question();
    files.insert(
        "expected.json".into(),
        json_bytes(&json!({
            "now": NOW,
            "question": {"org": q.org, "model": q.model, "stage": q.stage, "device": q.device},
            "outcome": outcome,
        })),
    );
    files
}

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            for (inner, bytes) in read_tree(&path) {
                out.insert(format!("{name}/{inner}"), bytes);
            }
        } else {
            out.insert(name, std::fs::read(&path).unwrap());
        }
    }
    out
}

/// With `OUTPOST_WRITE_TRUST_DATA` set, rewrites the folders once, before
/// any test of this file reads them.
fn write_if_asked() {
    static WRITTEN: std::sync::Once = std::sync::Once::new();
    WRITTEN.call_once(|| {
        if std::env::var_os("OUTPOST_WRITE_TRUST_DATA").is_none() {
            return;
        }
        let root = data_dir();
        let _ = std::fs::remove_dir_all(&root);
        for scenario in scenarios() {
            for (name, bytes) in files(&scenario) {
                let path = root.join(scenario.name).join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
        }
    });
}

#[test]
fn committed_data_is_what_the_generator_writes() {
    write_if_asked();
    let root = data_dir();
    let mut names = Vec::new();
    for scenario in scenarios() {
        let dir = root.join(scenario.name);
        let expected = files(&scenario);
        assert!(
            read_tree(&dir) == expected,
            "tests/data/trust/{} differs from what the generator writes: run OUTPOST_WRITE_TRUST_DATA=1 cargo test -p outpost-core --test trust_scenarios",
            scenario.name
        );
        names.push(scenario.name.to_owned());
    }
    let mut committed: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    names.sort();
    assert_eq!(committed, names, "every folder comes from the generator");
}

/// Drives one scenario folder the way a device does: the updater over the
/// served files, the director's resolution, then the artifact's bytes.
/// Returns the installed version, or `(code, step)` of the refusal.
fn run(dir: &Path) -> Result<String, (String, String)> {
    let read = |name: &str| std::fs::read(dir.join(name)).ok();
    let expected: Value = serde_json::from_slice(&read("expected.json").unwrap()).unwrap();
    let now = expected["now"].as_i64().unwrap();
    let asked: Question = serde_json::from_value(expected["question"].clone()).unwrap();
    let pinned: Envelope = serde_json::from_slice(&read("pinned.json").unwrap()).unwrap();
    let saved: Option<TrustedState> =
        read("state.json").map(|bytes| serde_json::from_slice(&bytes).unwrap());
    let refused = |code: &str, step: &str| (code.to_owned(), step.to_owned());

    let mut updater = Updater::new(Some(&pinned), saved, now)
        .map_err(|e| refused(e.code(), &e.step.to_string()))?;
    while let Some(request) = updater.next_file() {
        updater
            .offer(read(&format!("served/{}", request.file)).as_deref())
            .map_err(|e| refused(e.code(), &e.step.to_string()))?;
    }
    let mut state = updater
        .finish()
        .map_err(|e| refused(e.code(), &e.step.to_string()))?;
    let resolution: Envelope =
        serde_json::from_slice(&read("served/resolve.json").unwrap()).unwrap();
    let verified = state
        .verify_resolution(&resolution, &asked, now)
        .map_err(|e| refused(e.code(), "the resolution"))?;
    let mut hasher = Sha256Hasher::new();
    hasher.update(&read("served/artifact").unwrap());
    verify_artifact(&verified, &hasher.finish()).map_err(|e| refused(e.code(), "the artifact"))?;
    Ok(verified.inner().version.clone())
}

#[test]
fn every_scenario_ends_exactly_as_expected() {
    write_if_asked();
    let mut checked = 0;
    for scenario in scenarios() {
        let dir = data_dir().join(scenario.name);
        let got = run(&dir);
        let want = scenario
            .outcome
            .map(str::to_owned)
            .map_err(|(code, step)| (code.to_owned(), step.to_owned()));
        assert_eq!(got, want, "scenario {}", scenario.name);
        checked += 1;
    }
    assert!(checked >= 25, "{checked} scenarios");
}

/// The hostile input as filed: a repository whose root gives the release
/// role a threshold of 0. Pinned, it is refused at once.
#[test]
fn a_root_with_a_release_threshold_of_zero_is_refused_when_pinned() {
    let dir = data_dir().join("../hostile/tuf-threshold-zero");
    let root: Envelope =
        serde_json::from_slice(&std::fs::read(dir.join("root.json")).unwrap()).unwrap();
    let err = TrustedState::from_pinned_root(&root).unwrap_err();
    assert_eq!(err.code(), "MALFORMED", "{err}");
    assert!(
        err.to_string().contains("targets role's threshold is 0"),
        "{err}"
    );
}
