//! Signed distribution under attack, end to end: a device (`outpost pull
//! ORG/MODEL@STAGE`) talks to a hostile server that forwards to the real
//! local Worker and rewrites its answers. One test per scenario of the trust
//! model; each asserts the exact error code and that the previous model is
//! still in place. The last scenario is the legitimate one: a model rollback
//! (newer metadata, older artifact) must be accepted.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use outpost_core::Digest;
use outpost_core::signing::SigningKey;
use outpost_e2e::hostile::{HostileServer, Served, Upstream, envelope, fresh_key, json_reply};
use outpost_e2e::{
    Api, Failed, LocalWorker, ReleaseKeys, WorkerConfig, cli, create_token, ensure, expect_status,
    fixture_bytes, init_org, register,
};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    /// Org `edge`: one release key; fraud-detector 1.0.0 and 1.1.0 released,
    /// production at 1.0.0, then 1.1.0.
    edge: Org,
    /// Org `pair`: two release keys, both needed; 1.0.0 in production.
    pair: Org,
}

struct Org {
    name: &'static str,
    keys: ReleaseKeys,
    admin: Api,
    operator: Api,
    viewer: Api,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    (
        "honest_pull_installs_and_verifies",
        honest_pull_installs_and_verifies,
    ),
    ("artifact_changed_same_length", artifact_changed_same_length),
    ("artifact_longer_than_signed", artifact_longer_than_signed),
    (
        "resolution_signed_by_unknown_key",
        resolution_signed_by_unknown_key,
    ),
    (
        "release_signed_by_director_only",
        release_signed_by_director_only,
    ),
    (
        "resolution_for_another_device_or_stage",
        resolution_for_another_device_or_stage,
    ),
    ("older_metadata_after_newer", older_metadata_after_newer),
    (
        "expired_timestamp_or_resolution",
        expired_timestamp_or_resolution,
    ),
    (
        "root_rotation_without_old_threshold",
        root_rotation_without_old_threshold,
    ),
    ("release_below_threshold", release_below_threshold),
    (
        "legitimate_model_rollback_is_accepted",
        legitimate_model_rollback_is_accepted,
    ),
    (
        "python_tuf_client_interoperates",
        python_tuf_client_interoperates,
    ),
    (
        "resolves_read_nothing_and_changes_made_elsewhere_arrive_within_their_bounds",
        resolves_read_nothing_and_changes_made_elsewhere_arrive_within_their_bounds,
    ),
    (
        "repeat_downloads_come_from_the_cache_with_ranges_and_validators_intact",
        repeat_downloads_come_from_the_cache_with_ranges_and_validators_intact,
    ),
    (
        "d1_bookmarks_are_taken_back_and_malformed_ones_refused",
        d1_bookmarks_are_taken_back_and_malformed_ones_refused,
    ),
];

/// Every scenario moves shared metadata or stages: one at a time.
const ALONE: &[&str] = &[
    "python_tuf_client_interoperates",
    "honest_pull_installs_and_verifies",
    "artifact_changed_same_length",
    "artifact_longer_than_signed",
    "resolution_signed_by_unknown_key",
    "release_signed_by_director_only",
    "resolution_for_another_device_or_stage",
    "older_metadata_after_newer",
    "expired_timestamp_or_resolution",
    "root_rotation_without_old_threshold",
    "release_below_threshold",
    "legitimate_model_rollback_is_accepted",
    "resolves_read_nothing_and_changes_made_elsewhere_arrive_within_their_bounds",
    "repeat_downloads_come_from_the_cache_with_ranges_and_validators_intact",
];

fn main() {
    outpost_e2e::run_suite("distribution", setup, TESTS, ALONE);
}

const RF1: &str = "fraud-detector-1.0.0.onnx";
const RF2: &str = "fraud-detector-1.1.0.onnx";

fn org(
    worker: &LocalWorker,
    name: &'static str,
    release_keys: usize,
    versions: &[(&str, &str)],
    production: &[&str],
) -> Result<Org, Failed> {
    let admin = init_org(worker, name)?;
    let keys = ReleaseKeys::ceremony_with(worker, &admin, release_keys)?;
    let (_, developer) = create_token(&admin, "developer", "developer")?;
    let (_, operator) = create_token(&admin, "operator", "operator")?;
    let (_, viewer) = create_token(&admin, "device", "viewer")?;
    expect_status(
        &developer.json("POST", "/models", &json!({"name": "fraud-detector"}))?,
        201,
        "model",
    )?;
    for (version, file) in versions {
        let bytes = fixture_bytes(file)?;
        let digest = developer.put_blob(&bytes)?;
        expect_status(
            &register(
                &developer,
                "fraud-detector",
                json!({"version": version, "digest": digest, "size": bytes.len()}),
            )?,
            201,
            "register",
        )?;
    }
    let names: Vec<&str> = versions.iter().map(|(v, _)| *v).collect();
    keys.release("fraud-detector", &names)?;
    for version in &names {
        promote(&operator, "staging", version)?;
    }
    for version in production {
        promote(&operator, "production", version)?;
    }
    Ok(Org {
        name,
        keys,
        admin,
        operator,
        viewer,
    })
}

fn promote(operator: &Api, stage: &str, version: &str) -> Result<(), Failed> {
    let reply = operator.json(
        "POST",
        &format!("/models/fraud-detector/stages/{stage}/promote"),
        &json!({"version": version}),
    )?;
    ensure!(
        reply.status == 201 || reply.status == 200,
        "promote {version} to {stage}: {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}

fn setup() -> Result<Fixture, Failed> {
    // With an at-rest secret: every artifact here is sealed in R2, so the
    // device pulls (CLI, python-tuf) and the edge cache are checked on
    // sealed storage.
    let worker = LocalWorker::start(&WorkerConfig::SEALED).map_err(Failed::from)?;
    let edge = org(
        &worker,
        "edge",
        1,
        &[("1.0.0", RF1), ("1.1.0", RF2)],
        &["1.0.0", "1.1.0"],
    )?;
    let pair = org(&worker, "pair", 2, &[("1.0.0", RF1)], &["1.0.0"])?;
    Ok(Fixture { worker, edge, pair })
}

const PREVIOUS: &[u8] = b"the previous model";

/// A device with its own state directory, pinned to an org's root v1.
struct Device {
    dir: tempfile::TempDir,
    pinned: PathBuf,
    token: String,
    org: &'static str,
}

impl Device {
    fn new(org: &Org) -> Result<Self, Failed> {
        let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
        std::fs::write(dir.path().join("model.onnx"), PREVIOUS).map_err(|e| format!("{e}"))?;
        Ok(Self {
            dir,
            pinned: org.keys.path("root.json"),
            token: org.viewer.token.clone(),
            org: org.name,
        })
    }

    fn model(&self) -> PathBuf {
        self.dir.path().join("model.onnx")
    }

    fn installed(&self) -> Result<Vec<u8>, Failed> {
        std::fs::read(self.model()).map_err(|e| format!("{e}").into())
    }

    /// `outpost pull ORG/fraud-detector@STAGE` against `url`.
    fn pull_stage(&self, url: &str, stage: &str) -> Result<(bool, String, String), Failed> {
        let config = self.dir.path().join("device.toml");
        std::fs::write(
            &config,
            format!(
                "[profiles.default]\nurl = \"{url}\"\ntoken = \"{}\"\n",
                self.token
            ),
        )
        .map_err(|e| format!("{e}"))?;
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        cli(
            &config,
            &[
                "pull",
                &format!("{}/fraud-detector@{stage}", self.org),
                "--device-id",
                "device-7",
                "--trust",
                &path(self.pinned.clone()),
                "--state",
                &path(self.dir.path().join("state")),
                "-o",
                &path(self.model()),
            ],
        )
    }

    fn pull(&self, url: &str) -> Result<(bool, String, String), Failed> {
        self.pull_stage(url, "production")
    }

    /// Pulls through `server` and expects refusal with `code`, mentioning
    /// `step`, with the previous model untouched.
    fn refuses(&self, server: &HostileServer, code: &str, step: &str) -> Result<(), Failed> {
        let before = self.installed()?;
        let (ok, stdout, stderr) = self.pull(&server.base_url)?;
        ensure!(!ok, "the device accepted a hostile answer: {stdout}");
        ensure!(
            stderr.contains(&format!("{code} refused at {step}")),
            "expected `{code} refused at {step}`, got: {stderr}"
        );
        ensure!(
            self.installed()? == before,
            "the previous model must stay in place"
        );
        Ok(())
    }
}

fn hostile(
    f: &Fixture,
    tamper: impl Fn(&str, Upstream) -> Served + Send + Sync + 'static,
) -> Result<HostileServer, Failed> {
    HostileServer::start(&f.worker.base_url, Box::new(tamper))
        .map_err(|e| format!("starting the hostile server: {e}").into())
}

fn get_json(api: &Api, path: &str) -> Result<Value, Failed> {
    expect_status(&api.get(path)?, 200, path)
}

fn is_blob(path: &str) -> bool {
    path.contains("/blobs/sha256/")
}

fn honest_pull_installs_and_verifies(f: &Fixture) -> Result<(), Failed> {
    let device = Device::new(&f.edge)?;
    let server = hostile(f, |_, up| Served::Reply(up))?;
    let (ok, stdout, stderr) = device.pull(&server.base_url)?;
    ensure!(ok && stdout.contains("= 1.1.0"), "{stdout}{stderr}");
    ensure!(
        device.installed()? == fixture_bytes(RF2)?,
        "installed bytes"
    );
    let state = device
        .dir
        .path()
        .join("state")
        .to_string_lossy()
        .into_owned();
    let model = device.model().to_string_lossy().into_owned();
    let pinned = device.pinned.to_string_lossy().into_owned();
    let config = device.dir.path().join("device.toml");
    let (ok, stdout, stderr) = cli(
        &config,
        &["verify", &model, "--trust", &pinned, "--state", &state],
    )?;
    ensure!(
        ok && stdout.contains("edge/fraud-detector@production = 1.1.0"),
        "{stdout}{stderr}"
    );
    // The installed file changes on disk: verify names the check.
    let mut bytes = device.installed()?;
    bytes[0] ^= 1;
    std::fs::write(device.model(), &bytes).map_err(|e| format!("{e}"))?;
    let (ok, _, stderr) = cli(&config, &["verify", &model, "--state", &state])?;
    ensure!(
        !ok && stderr.contains("DIGEST_MISMATCH refused at the installed model"),
        "{stderr}"
    );
    Ok(())
}

/// Scenario 1: The artifact's bytes change, its length does not.
fn artifact_changed_same_length(f: &Fixture) -> Result<(), Failed> {
    let server = hostile(f, |path, mut up| {
        if is_blob(path)
            && let Some(last) = up.body.last_mut()
        {
            *last ^= 0xff;
        }
        Served::Reply(up)
    })?;
    Device::new(&f.edge)?.refuses(&server, "DIGEST_MISMATCH", "the artifact")
}

/// Scenario 2: Endless data: the device stops reading at the signed length.
fn artifact_longer_than_signed(f: &Fixture) -> Result<(), Failed> {
    let server = hostile(f, |path, up| {
        if is_blob(path) {
            Served::Endless { prefix: up.body }
        } else {
            Served::Reply(up)
        }
    })?;
    let device = Device::new(&f.edge)?;
    let before = device.installed()?;
    let (ok, _, stderr) = device.pull(&server.base_url)?;
    ensure!(
        !ok && stderr.contains("LENGTH_MISMATCH") && stderr.contains("longer than"),
        "{stderr}"
    );
    ensure!(device.installed()? == before, "previous model kept");
    Ok(())
}

/// A hostile server that re-signs every answer whose path contains `part`
/// with a key no root ever named.
fn re_signed_by_impostor(
    f: &Fixture,
    part: &'static str,
    seed: u8,
) -> Result<HostileServer, Failed> {
    outpost_e2e::hostile::re_signed_by_impostor(&f.worker.base_url, part, seed)
}

/// Scenario 3: A resolution signed by a key the root never named.
fn resolution_signed_by_unknown_key(f: &Fixture) -> Result<(), Failed> {
    let server = re_signed_by_impostor(f, "/resolve?", 66)?;
    Device::new(&f.edge)?.refuses(&server, "BAD_SIGNATURE", "the resolution")
}

/// A whole forged chain on top of what the Worker serves now: timestamp and
/// snapshot (online key), release metadata with an extra target signed by
/// `release_signers`, a director resolution for it, and its bytes.
fn forged_chain(
    f: &Fixture,
    org: &Org,
    release_signers: &[&SigningKey],
) -> Result<HostileServer, Failed> {
    let online = f.worker.deployment_key("online")?;
    let director = f.worker.deployment_key("director")?;
    let timestamp = get_json(&org.viewer, "/trust/timestamp.json")?["signed"].clone();
    let snapshot_version = timestamp["meta"]["snapshot.json"]["version"]
        .as_u64()
        .ok_or("no snapshot version")?;
    let targets = get_json(&org.viewer, "/trust/targets.json")?["signed"].clone();
    let targets_version = targets["version"].as_u64().ok_or("no targets version")?;

    let evil = b"weights of the attacker's choosing".to_vec();
    let evil_digest = Digest::of(&evil);
    let mut forged_targets = targets.clone();
    forged_targets["version"] = json!(targets_version + 1);
    forged_targets["targets"]["fraud-detector/6.6.6"] =
        json!({"length": evil.len(), "hashes": {"sha256": evil_digest.hex()}});
    let forged_targets = envelope(forged_targets, release_signers)?;
    let forged_snapshot = envelope(
        outpost_core::trust::snapshot_metadata(
            snapshot_version + 1,
            targets_version + 1,
            "2099-01-01T00:00:00Z",
        ),
        &[&online],
    )?;
    let mut forged_timestamp = timestamp.clone();
    forged_timestamp["version"] = json!(timestamp["version"].as_u64().unwrap_or(0) + 1);
    forged_timestamp["meta"]["snapshot.json"]["version"] = json!(snapshot_version + 1);
    let forged_timestamp = envelope(forged_timestamp, &[&online])?;
    let evil_for = move |signed: &Value| -> Result<Value, Failed> {
        let mut signed = signed.clone();
        signed["version"] = json!("6.6.6");
        signed["target"] = json!("fraud-detector/6.6.6");
        signed["digest"] = json!(evil_digest);
        signed["length"] = json!(evil.len());
        envelope(signed, &[&director])
    };
    let snapshot_file = format!("/trust/{}.snapshot.json", snapshot_version + 1);
    let targets_file = format!("/trust/{}.targets.json", targets_version + 1);
    let evil_bytes = b"weights of the attacker's choosing".to_vec();
    hostile(f, move |path, up| {
        if path.ends_with("/trust/timestamp.json") {
            return json_reply(&forged_timestamp);
        }
        if path.ends_with(&snapshot_file) {
            return json_reply(&forged_snapshot);
        }
        if path.ends_with(&targets_file) {
            return json_reply(&forged_targets);
        }
        if path.contains("/resolve?")
            && let Ok(value) = serde_json::from_slice::<Value>(&up.body)
            && let Ok(forged) = evil_for(&value["signed"])
        {
            return json_reply(&forged);
        }
        if is_blob(path) {
            return Served::Reply(Upstream {
                status: 200,
                content_type: "application/octet-stream".into(),
                body: evil_bytes.clone(),
            });
        }
        Served::Reply(up)
    })
}

/// Scenario 4: A compromised Worker (online and director keys) ships an artifact no
/// release key signed.
fn release_signed_by_director_only(f: &Fixture) -> Result<(), Failed> {
    let director = f.worker.deployment_key("director")?;
    let server = forged_chain(f, &f.edge, &[&director])?;
    Device::new(&f.edge)?.refuses(&server, "BAD_SIGNATURE", "targets")
}

/// Scenario 5: A valid, fresh resolution — for another device, or another stage.
fn resolution_for_another_device_or_stage(f: &Fixture) -> Result<(), Failed> {
    for (from, to, field) in [
        ("device=device-7", "device=device-8", "device"),
        ("stage=production", "stage=staging", "stage"),
    ] {
        let upstream = f.worker.base_url.clone();
        let auth = format!("Bearer {}", f.edge.viewer.token);
        let server = hostile(f, move |path, up| {
            if path.contains("/resolve?")
                && let Ok(other) =
                    outpost_e2e::hostile::fetch(&upstream, &path.replace(from, to), Some(&auth))
            {
                return Served::Reply(other);
            }
            Served::Reply(up)
        })?;
        let device = Device::new(&f.edge)?;
        device.refuses(&server, "WRONG_ANSWER", "the resolution")?;
        let (_, _, stderr) = device.pull(&server.base_url)?;
        ensure!(stderr.contains(&format!("answers {field} =")), "{stderr}");
    }
    Ok(())
}

/// Scenario 6: After trusting timestamp N+1, the device is offered N again.
fn older_metadata_after_newer(f: &Fixture) -> Result<(), Failed> {
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let replay = Arc::new(Mutex::new(false));
    let (record, stale) = (seen.clone(), replay.clone());
    let server = hostile(f, move |path, up| {
        if path.ends_with("/trust/timestamp.json") {
            let mut seen = record.lock().unwrap_or_else(|p| p.into_inner());
            if *stale.lock().unwrap_or_else(|p| p.into_inner())
                && let Some(first) = seen.first()
            {
                return Served::Reply(Upstream {
                    body: first.clone(),
                    ..up
                });
            }
            seen.push(up.body.clone());
        }
        Served::Reply(up)
    })?;
    let device = Device::new(&f.edge)?;
    let (ok, stdout, stderr) = device.pull(&server.base_url)?;
    ensure!(ok, "first pull: {stdout}{stderr}");
    // A new release: every online role moves one version on.
    f.edge.keys.release("fraud-detector", &["1.0.0"])?;
    let (ok, stdout, stderr) = device.pull(&server.base_url)?;
    ensure!(ok, "second pull: {stdout}{stderr}");
    *replay.lock().unwrap_or_else(|p| p.into_inner()) = true;
    device.refuses(&server, "ROLLBACK", "timestamp")
}

/// Scenario 7: Freeze: a timestamp, or a resolution, past its expiry.
fn expired_timestamp_or_resolution(f: &Fixture) -> Result<(), Failed> {
    let online = f.worker.deployment_key("online")?;
    let director = f.worker.deployment_key("director")?;
    for (role, key) in [("timestamp", online), ("resolution", director)] {
        let server = hostile(f, move |path, up| {
            let hit = match role {
                "timestamp" => path.ends_with("/trust/timestamp.json"),
                _ => path.contains("/resolve?"),
            };
            if hit && let Ok(mut value) = serde_json::from_slice::<Value>(&up.body) {
                value["signed"]["expires"] = json!("2020-01-01T00:00:00Z");
                if let Ok(forged) = envelope(value["signed"].clone(), &[&key]) {
                    return json_reply(&forged);
                }
            }
            Served::Reply(up)
        })?;
        let step = if role == "timestamp" {
            "timestamp"
        } else {
            "the resolution"
        };
        Device::new(&f.edge)?.refuses(&server, "EXPIRED", step)?;
    }
    Ok(())
}

/// Scenario 8: Root v2 signed only by a new root key, not by v1's root threshold.
fn root_rotation_without_old_threshold(f: &Fixture) -> Result<(), Failed> {
    let usurper = fresh_key(88)?;
    let mut root = get_json(&f.edge.viewer, "/trust/1.root.json")?["signed"].clone();
    let id = usurper.public().key_id();
    root["version"] = json!(2);
    root["keys"][&id] = serde_json::to_value(usurper.public()).map_err(|e| format!("{e}"))?;
    root["roles"]["root"] = json!({"keyids": [id], "threshold": 1});
    let forged = envelope(root, &[&usurper])?;
    let server = hostile(f, move |path, up| {
        if path.ends_with("/trust/2.root.json") {
            return json_reply(&forged);
        }
        Served::Reply(up)
    })?;
    Device::new(&f.edge)?.refuses(&server, "BAD_SIGNATURE", "root 2")
}

/// Scenario 9: One of two required release signatures (one release key stolen).
fn release_below_threshold(f: &Fixture) -> Result<(), Failed> {
    let stolen = f.pair.keys.release_key(1)?;
    let server = forged_chain(f, &f.pair, &[&stolen])?;
    Device::new(&f.pair)?.refuses(&server, "BAD_SIGNATURE", "targets")
}

/// Scenario 10: The operator rolls production back: newer metadata, older artifact.
fn legitimate_model_rollback_is_accepted(f: &Fixture) -> Result<(), Failed> {
    let server = hostile(f, |_, up| Served::Reply(up))?;
    let device = Device::new(&f.edge)?;
    let (ok, stdout, stderr) = device.pull(&server.base_url)?;
    ensure!(ok && stdout.contains("= 1.1.0"), "{stdout}{stderr}");
    expect_status(
        &f.edge.operator.json(
            "POST",
            "/models/fraud-detector/stages/production/rollback",
            &json!({"version": "1.0.0", "reason": "1.1.0 misbehaves"}),
        )?,
        201,
        "rollback",
    )?;
    let result = device.pull(&server.base_url);
    promote(&f.edge.operator, "production", "1.1.0")?;
    let (ok, stdout, stderr) = result?;
    ensure!(ok && stdout.contains("= 1.0.0"), "{stdout}{stderr}");
    ensure!(
        device.installed()? == fixture_bytes(RF1)?,
        "rolled back bytes"
    );
    // And forward again to 1.1.0 from the same state.
    let (ok, stdout, stderr) = device.pull(&server.base_url)?;
    ensure!(ok && stdout.contains("= 1.1.0"), "{stdout}{stderr}");
    Ok(())
}

/// python-tuf's ngclient against `url` as `org`'s device.
fn tuf_client(url: &str, org: &Org, target: &str) -> Result<(bool, String, String), Failed> {
    outpost_e2e::tuf_client(
        url,
        (org.name, &org.viewer.token),
        &org.keys.path("root.json"),
        target,
    )
}

/// An existing TUF client consumes an organisation's repository: it
/// refreshes root → timestamp → snapshot → targets, downloads a released
/// model by its consistent-snapshot path, and rejects tampering.
fn python_tuf_client_interoperates(f: &Fixture) -> Result<(), Failed> {
    let (ok, stdout, stderr) = tuf_client(&f.worker.base_url, &f.edge, "fraud-detector/1.1.0")?;
    ensure!(ok, "python-tuf download: {stdout}{stderr}");
    let got: Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))?;
    let expected = fixture_bytes(RF2)?;
    ensure!(
        got["sha256"] == Digest::of(&expected).hex() && got["length"] == expected.len(),
        "{got}"
    );
    // Tampered bytes under the target URL.
    let server = hostile(f, |path, mut up| {
        if path.contains("/trust/targets/")
            && let Some(first) = up.body.first_mut()
        {
            *first ^= 0xff;
        }
        Served::Reply(up)
    })?;
    let (ok, _, stderr) = tuf_client(&server.base_url, &f.edge, "fraud-detector/1.1.0")?;
    ensure!(
        !ok && stderr.contains("LengthOrHashMismatchError"),
        "{stderr}"
    );
    // A timestamp re-signed by a key the root never named.
    let server = re_signed_by_impostor(f, "/trust/timestamp.json", 77)?;
    let (ok, _, stderr) = tuf_client(&server.base_url, &f.edge, "fraud-detector/1.1.0")?;
    ensure!(!ok && stderr.contains("UnsignedMetadataError"), "{stderr}");
    Ok(())
}

/// This Worker isolate's counters (`GET /v1/admin/isolate`).
fn isolate_stats(f: &Fixture) -> Result<Value, Failed> {
    let auth = format!("Bearer {}", f.worker.bootstrap_secret);
    let reply = outpost_e2e::send(
        "GET",
        &f.worker.url("/v1/admin/isolate"),
        &[("authorization", &auth)],
        None,
    )?;
    expect_status(&reply, 200, "isolate stats")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Polls `probe` until it says yes; the time from `since` until then.
fn arrives(
    since: std::time::Instant,
    what: &str,
    mut probe: impl FnMut() -> Result<bool, Failed>,
) -> Result<std::time::Duration, Failed> {
    // Give up far beyond any bound, so a failure says how late it was.
    while since.elapsed() < std::time::Duration::from_secs(60) {
        if probe()? {
            return Ok(since.elapsed());
        }
    }
    Err(format!("{what} did not arrive within 60 s").into())
}

/// The hot path's promises, end to end: a steady stream of resolves costs
/// no D1 statement beyond an occasional plan (DESIGN "Scale"), a stage move
/// committed elsewhere (here: straight into D1, as another isolate's commit
/// lands) reaches the answers within the plan lifetime, and a token revoked
/// elsewhere stops working within the token lifetime.
fn resolves_read_nothing_and_changes_made_elsewhere_arrive_within_their_bounds(
    f: &Fixture,
) -> Result<(), Failed> {
    use outpost_registry::routing::PLAN_LIFETIME_MS;
    let slack = std::time::Duration::from_millis(2_000); // request and process latency
    f.edge.keys.release("fraud-detector", &["1.0.0", "1.1.0"])?;
    let resolve_path = "/models/fraud-detector/resolve?stage=production&device=bound-1";
    let resolved = || -> Result<Value, Failed> {
        Ok(get_json(&f.edge.viewer, resolve_path)?["signed"].clone())
    };
    let first = resolved()?;
    let serving = first["version"].as_str().unwrap_or_default().to_owned();
    let other = if serving == "1.0.0" { "1.1.0" } else { "1.0.0" };

    // Steady state: 200 resolves, a few statements at most (a plan redrawn
    // when its lifetime ends, a token row read again), never a write.
    let before = isolate_stats(f)?;
    let started = std::time::Instant::now();
    for _ in 0..200 {
        resolved()?;
    }
    let lifetimes = started.elapsed().as_millis() as u64 / PLAN_LIFETIME_MS as u64 + 1;
    let after = isolate_stats(f)?;
    let statements = after["d1_statements"].as_u64().unwrap_or(u64::MAX)
        - before["d1_statements"].as_u64().unwrap_or(0);
    let requests =
        after["requests"].as_u64().unwrap_or(0) - before["requests"].as_u64().unwrap_or(0);
    ensure!(
        requests == 201,
        "one isolate answered them all: {requests} requests counted"
    );
    // Per lifetime that ends during the run: a plan (2) and a token row (1).
    ensure!(
        statements <= 3 * (lifetimes + 1),
        "200 resolves over {lifetimes} lifetimes prepared {statements} D1 statements; a plan costs 2, a token row 1"
    );

    // A stage move committed elsewhere.
    let head = f.worker.d1(
        "SELECT seq, to_state FROM deployments WHERE org = 'edge' AND model = 'fraud-detector' \
         AND stage = 'production' ORDER BY seq DESC LIMIT 1",
    )?;
    let seq = head[0]["seq"].as_i64().unwrap_or_default();
    let from = head[0]["to_state"].as_str().unwrap_or_default().to_owned();
    let moved = |seq: i64, from: &str, to: &str| -> Result<(), Failed> {
        let to = serde_json::to_string(&outpost_core::lifecycle::StageState::single(to))
            .map_err(|e| format!("{e}"))?;
        f.worker.d1(&format!(
            "INSERT INTO deployments (org, model, stage, seq, kind, from_state, to_state, actor, reason, at, forced) \
             VALUES ('edge', 'fraud-detector', 'production', {}, 'promote', '{from}', '{to}', 'elsewhere', \
             'the staleness bound test', {}, '[]')",
            seq + 1,
            now_ms()
        ))?;
        Ok(())
    };
    moved(seq, &from, other)?;
    let written = std::time::Instant::now();
    let took = arrives(written, "the promotion", || {
        Ok(resolved()?["version"] == json!(other))
    })?;
    println!("a promotion made elsewhere reached the answers after {took:?}");
    ensure!(
        took <= std::time::Duration::from_millis(PLAN_LIFETIME_MS as u64) + slack,
        "a promotion made elsewhere took {took:?} to reach the answers (bound {PLAN_LIFETIME_MS} ms)"
    );
    let newer = resolved()?;
    ensure!(
        newer["resolution_version"].as_u64() > first["resolution_version"].as_u64(),
        "the answer after the move outnumbers the one before it: {newer} vs {first}"
    );
    // Put the stage back as it was (the other scenarios expect it).
    let back = serde_json::to_string(&outpost_core::lifecycle::StageState::single(other))
        .map_err(|e| format!("{e}"))?;
    moved(seq + 1, &back, &serving)?;

    // A token revoked elsewhere.
    let (id, holder) = create_token(&f.edge.admin, "bound-probe", "viewer")?;
    expect_status(&holder.get("/whoami")?, 200, "whoami before revocation")?;
    f.worker.d1(&format!(
        "UPDATE tokens SET revoked_at = {} WHERE org = 'edge' AND id = '{id}'",
        now_ms()
    ))?;
    let written = std::time::Instant::now();
    let took = arrives(written, "the revocation", || {
        Ok(holder.get("/whoami")?.status == 401)
    })?;
    println!("a revocation made elsewhere stopped the token after {took:?}");
    ensure!(
        took <= std::time::Duration::from_millis(
            outpost_registry::tokens::TOKEN_LIFETIME_MS as u64
        ) + slack,
        "a revocation made elsewhere took {took:?} to stop the token"
    );
    Ok(())
}

/// DESIGN "Scale": immutable artifacts go through the Workers Cache API, so
/// a repeat download reads nothing from R2, and what comes from the cache
/// keeps RFC 9110's answers: the whole body, one range, several ranges,
/// 304 on a matching validator. R2 reads are the isolate's own count.
fn repeat_downloads_come_from_the_cache_with_ranges_and_validators_intact(
    f: &Fixture,
) -> Result<(), Failed> {
    let bytes = fixture_bytes(RF1)?;
    let viewer = &f.edge.viewer;
    let url = viewer.org_url("/trust/targets/fraud-detector/1.0.0");
    let auth = format!("Bearer {}", viewer.token);
    let fetch = |extra: &[(&str, &str)]| -> Result<(outpost_e2e::Reply, u64), Failed> {
        let before = isolate_stats(f)?["r2_reads"].as_u64().unwrap_or(0);
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        let reply = outpost_e2e::send("GET", &url, &headers, None)?;
        let after = isolate_stats(f)?["r2_reads"].as_u64().unwrap_or(0);
        Ok((reply, after - before))
    };
    // The first download reads R2 and fills the cache after its response;
    // from then on no download of it reads R2.
    let (first, _) = fetch(&[])?;
    ensure!(
        first.status == 200 && first.bytes == bytes,
        "first download: {}",
        first.status
    );
    let mut from_cache = None;
    for _ in 0..50 {
        let (reply, reads) = fetch(&[])?;
        ensure!(
            reply.status == 200 && reply.bytes == bytes,
            "repeat download: {}",
            reply.status
        );
        if reads == 0 {
            from_cache = Some(reply);
            break;
        }
    }
    let whole = from_cache.ok_or("50 repeat downloads all read R2: nothing is cached")?;
    let etag = first.header("etag").unwrap_or_default().to_owned();
    for name in [
        "etag",
        "last-modified",
        "content-length",
        "accept-ranges",
        "cache-control",
    ] {
        ensure!(
            whole.header(name) == first.header(name),
            "{name}: {:?} from the cache, {:?} from R2",
            whole.header(name),
            first.header(name)
        );
    }

    let (part, reads) = fetch(&[("range", "bytes=10-19")])?;
    ensure!(
        part.status == 206,
        "one range: {} {}",
        part.status,
        part.body
    );
    ensure!(part.bytes == bytes[10..20], "one range: the wrong bytes");
    ensure!(
        part.header("content-range") == Some(format!("bytes 10-19/{}", bytes.len()).as_str()),
        "{:?}",
        part.header("content-range")
    );
    ensure!(
        reads == 0,
        "a range of a cached artifact read R2 {reads} times"
    );

    let (parts, reads) = fetch(&[("range", "bytes=0-3,20-23")])?;
    ensure!(parts.status == 206, "two ranges: {}", parts.status);
    ensure!(
        parts.content_type.starts_with("multipart/byteranges"),
        "{}",
        parts.content_type
    );
    let body = &parts.bytes;
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    ensure!(
        contains(&bytes[0..4]) && contains(&bytes[20..24]),
        "two ranges: the wrong bytes"
    );
    ensure!(
        reads == 0,
        "two ranges of a cached artifact read R2 {reads} times"
    );

    let (unchanged, reads) = fetch(&[("if-none-match", &etag)])?;
    ensure!(
        unchanged.status == 304 && unchanged.bytes.is_empty(),
        "If-None-Match: {}",
        unchanged.status
    );
    ensure!(reads == 0, "a 304 read R2");
    let (refused, _) = fetch(&[("if-match", "\"sha256:0000\"")])?;
    ensure!(
        refused.status == 412,
        "If-Match of another entity: {}",
        refused.status
    );

    // Versioned trust metadata never changes either: once cached, serving
    // it costs no D1 statement (the token row is kept by the isolate).
    let statements =
        || -> Result<u64, Failed> { Ok(isolate_stats(f)?["d1_statements"].as_u64().unwrap_or(0)) };
    let first = viewer.get("/trust/1.root.json")?;
    ensure!(first.status == 200, "1.root.json: {}", first.status);
    let mut cached = false;
    for _ in 0..50 {
        let before = statements()?;
        let again = viewer.get("/trust/1.root.json")?;
        let read = statements()? - before;
        ensure!(
            again.status == 200 && again.json()? == first.json()?,
            "1.root.json changed"
        );
        if read == 0 {
            cached = true;
            break;
        }
    }
    ensure!(cached, "50 reads of 1.root.json all read D1");
    Ok(())
}

/// D1 sessions: every organisation route reads through a session; an
/// answer may carry the session's bookmark, which a client sends back to
/// read at least what it saw; anything else in that header is refused
/// before it reaches D1.
fn d1_bookmarks_are_taken_back_and_malformed_ones_refused(f: &Fixture) -> Result<(), Failed> {
    const HEADER: &str = "x-outpost-d1-bookmark";
    let operator = &f.edge.operator;
    let auth = format!("Bearer {}", operator.token);
    let get = |bookmark: Option<&str>| -> Result<outpost_e2e::Reply, Failed> {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(bookmark) = bookmark {
            headers.push((HEADER, bookmark));
        }
        outpost_e2e::send(
            "GET",
            &operator.org_url("/models/fraud-detector"),
            &headers,
            None,
        )
    };
    // A write opens its session at the primary; its answer's bookmark (the
    // local D1 may give none) is taken back by the next read.
    let written = operator.json(
        "PATCH",
        "/models/fraud-detector/versions/1.0.0/tags",
        &json!({"add": ["bookmarked"]}),
    )?;
    let bookmark = written.header(HEADER).map(str::to_owned);
    println!("bookmark after a write: {bookmark:?}");
    ensure!(
        written.status == 200,
        "tagging: {} {}",
        written.status,
        written.body
    );
    if let Some(bookmark) = &bookmark {
        ensure!(
            bookmark
                .split('-')
                .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_hexdigit())),
            "the answer's bookmark has a shape the Worker would refuse: {bookmark}"
        );
    }
    // Sent back (or, where the local D1 gives none, a well-formed one), it
    // is taken, and the read sees the write before it.
    let taken =
        bookmark.unwrap_or_else(|| "00000001-00000002-00000003-0123456789abcdef".to_owned());
    let version = outpost_e2e::send(
        "GET",
        &operator.org_url("/models/fraud-detector/versions/1.0.0"),
        &[("authorization", auth.as_str()), (HEADER, taken.as_str())],
        None,
    )?;
    let body = expect_status(&version, 200, "a read with the bookmark")?;
    ensure!(
        body["tags"]
            .as_array()
            .is_some_and(|tags| tags.contains(&json!("bookmarked"))),
        "the read after the write does not see it: {body}"
    );
    let reply = get(Some(&taken))?;
    ensure!(
        reply.status == 200,
        "a bookmark sent back: {} {}",
        reply.status,
        reply.body
    );
    for bad in [
        "not a bookmark",
        "00000001_00000002",
        "DEADBEEF",
        "1-2-3-4-5-6-7-8-9",
    ] {
        let reply = get(Some(bad))?;
        let detail = outpost_e2e::expect_problem(&reply, 400, bad)?;
        ensure!(detail.contains(HEADER), "{bad}: {detail}");
    }
    Ok(())
}
