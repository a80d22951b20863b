//! Models moving between organisations, end to end against a real local
//! Worker (workerd, local D1, local R2, with an at-rest secret so every
//! artifact is sealed on both sides): `outpost export` of a model with
//! lineage, a reference profile, signed releases and a deployment history,
//! `outpost import` into a second organisation (everything as it was, the
//! history and audit entries kept as history, stages untouched), importing
//! twice changes nothing, and a bundle that does not match its manifest —
//! or whose audit entries were rewritten — is refused with nothing written.

use std::io::Read;
use std::path::{Path, PathBuf};

use outpost_core::backup::Manifest;

use outpost_e2e::{
    Api, Failed, LocalWorker, Recovered, ReleaseKeys, WorkerConfig, cli, cli_profile, create_token,
    ensure, expect_status, fixture_bytes, init_org, register, send, transactions_reference_profile,
};
use serde_json::{Value, json};

const MODEL: &str = "fraud-detector";
const RF1: &str = "fraud-detector-1.0.0.onnx";
const RF2: &str = "fraud-detector-1.1.0.onnx";

struct Fixture {
    worker: LocalWorker,
    /// Where the model lives: 1.0.0 and 1.1.0 (its child), both released,
    /// 1.0.0 in production.
    origin: Api,
    /// The bundle `outpost export fraud-detector` wrote from `origin`.
    bundle: PathBuf,
    _dir: tempfile::TempDir,
    /// origin's key ceremony: `root.json` is the root its devices pin.
    keys: ReleaseKeys,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    (
        "an_export_imports_into_a_second_organisation_as_it_was_and_once",
        an_export_imports_into_a_second_organisation_as_it_was_and_once,
    ),
    (
        "a_version_exports_with_its_ancestors",
        a_version_exports_with_its_ancestors,
    ),
    (
        "a_bundle_that_does_not_match_its_manifest_is_refused_with_nothing_written",
        a_bundle_that_does_not_match_its_manifest_is_refused_with_nothing_written,
    ),
    (
        "an_edited_audit_entry_is_refused",
        an_edited_audit_entry_is_refused,
    ),
    (
        "disaster_recovery_from_a_d1_export_and_the_r2_objects_serves_what_devices_trust",
        disaster_recovery_from_a_d1_export_and_the_r2_objects_serves_what_devices_trust,
    ),
    (
        "a_backup_restores_into_an_empty_registry_as_it_was",
        a_backup_restores_into_an_empty_registry_as_it_was,
    ),
];

/// Read local D1 and R2 directly, or compare the whole organisation with
/// what another registry serves (a write beside them would differ).
const ALONE: &[&str] = &[
    "disaster_recovery_from_a_d1_export_and_the_r2_objects_serves_what_devices_trust",
    "a_backup_restores_into_an_empty_registry_as_it_was",
];

fn main() {
    outpost_e2e::run_suite("portability", setup, TESTS, ALONE);
}

fn setup() -> Result<Fixture, Failed> {
    let worker = LocalWorker::start(&WorkerConfig::SEALED).map_err(Failed::from)?;
    let origin = init_org(&worker, "origin")?;
    let keys = ReleaseKeys::ceremony(&worker, &origin)?;
    let (_, operator) = create_token(&origin, "operator", "operator")?;
    expect_status(
        &origin.json(
            "POST",
            "/models",
            &json!({"name": MODEL, "description": "card fraud", "owner": "risk",
                    "tags": ["payments"], "primary_metric": {"name": "f1", "higher_is_better": true}}),
        )?,
        201,
        "model",
    )?;
    for (version, file, parent) in [("1.0.0", RF1, None), ("1.1.0", RF2, Some("1.0.0"))] {
        let bytes = fixture_bytes(file)?;
        let digest = origin.put_blob(&bytes)?;
        expect_status(
            &register(
                &origin,
                MODEL,
                json!({"version": version, "digest": digest, "size": bytes.len(),
                       "metrics": {"f1": 0.9, "auc": 0.95}, "params": {"trees": 50, "lr": 1.0},
                       "tags": ["rf"], "notes": format!("notes of {version}"),
                       "dataset_version": "2026-10", "parent_version": parent,
                       "framework": "sklearn"}),
            )?,
            201,
            "register",
        )?;
    }
    expect_status(
        &origin.json(
            "PUT",
            &format!("/models/{MODEL}/versions/1.0.0/reference"),
            &transactions_reference_profile()?,
        )?,
        201,
        "reference profile",
    )?;
    keys.release(MODEL, &["1.0.0", "1.1.0"])?;
    for stage in ["staging", "production"] {
        expect_status(
            &operator.json(
                "POST",
                &format!("/models/{MODEL}/stages/{stage}/promote"),
                &json!({"version": "1.0.0", "reason": "launch"}),
            )?,
            201,
            "promote",
        )?;
    }
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let bundle = dir.path().join("fraud.tar");
    let (_profile_dir, config) = cli_profile(&worker, &origin)?;
    run(
        &config,
        &["export", MODEL, "-o", &bundle.display().to_string()],
    )?;
    Ok(Fixture {
        worker,
        origin,
        bundle,
        _dir: dir,
        keys,
    })
}

/// Runs the CLI; its stdout, or a failure with everything it said.
fn run(config: &Path, args: &[&str]) -> Result<String, Failed> {
    let (ok, stdout, stderr) = cli(config, args)?;
    ensure!(ok, "outpost {}: {stdout}{stderr}", args.join(" "));
    Ok(stdout)
}

/// A new organisation and its admin's CLI profile.
fn organisation(f: &Fixture, name: &str) -> Result<(Api, tempfile::TempDir, PathBuf), Failed> {
    let admin = init_org(&f.worker, name)?;
    let (dir, config) = cli_profile(&f.worker, &admin)?;
    Ok((admin, dir, config))
}

fn versions(api: &Api) -> Result<Vec<Value>, Failed> {
    let page = expect_status(
        &api.get(&format!("/models/{MODEL}/versions?limit=100"))?,
        200,
        "versions",
    )?;
    let mut items = page["items"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|v| v["version"].as_str().unwrap_or_default().to_owned());
    Ok(items)
}

fn history(api: &Api) -> Result<Vec<Value>, Failed> {
    let page = expect_status(
        &api.get(&format!("/models/{MODEL}/history?limit=100"))?,
        200,
        "history",
    )?;
    let mut items = page["items"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|d| (d["at"].as_i64(), d["seq"].as_i64()));
    Ok(items)
}

fn an_export_imports_into_a_second_organisation_as_it_was_and_once(
    f: &Fixture,
) -> Result<(), Failed> {
    let (landing, _dir, config) = organisation(f, "landing")?;
    let bundle = f.bundle.display().to_string();
    let pinned = f.keys.path("root.json").display().to_string();

    // Against a root that is not origin's: refused before anything is sent.
    let mut other: Value = serde_json::from_slice(
        &std::fs::read(f.keys.path("root.json")).map_err(|e| format!("{e}"))?,
    )
    .map_err(|e| format!("{e}"))?;
    other["signed"]["expires"] = json!("2099-01-01T00:00:00Z");
    let other_root = f.keys.path("other-root.json");
    std::fs::write(&other_root, other.to_string()).map_err(|e| format!("{e}"))?;
    let (ok, _, stderr) = cli(
        &config,
        &[
            "import",
            &bundle,
            "--source-root",
            &other_root.display().to_string(),
        ],
    )?;
    ensure!(
        !ok && stderr.contains("do not descend from the root you gave"),
        "another root: {stderr}"
    );
    ensure!(
        landing.get(&format!("/models/{MODEL}"))?.status == 404,
        "nothing imported against another root"
    );

    let said = run(&config, &["import", &bundle, "--source-root", &pinned])?;
    ensure!(
        said.contains("2 version(s) added")
            && said.contains("release signatures verified")
            && said.contains("descends from the root you gave"),
        "import said: {said}"
    );

    // The versions, exactly as registered in origin (authors and times too).
    let (here, there) = (versions(&landing)?, versions(&f.origin)?);
    ensure!(
        here == there && here.len() == 2,
        "versions differ:\nlanding {here:#?}\norigin {there:#?}"
    );
    let model = |api: &Api| -> Result<Value, Failed> {
        let mut m = expect_status(&api.get(&format!("/models/{MODEL}"))?, 200, "model")?;
        if let Some(m) = m.as_object_mut() {
            m.remove("created_at");
            m.remove("created_by");
        }
        Ok(m)
    };
    ensure!(
        model(&landing)? == model(&f.origin)?,
        "model records differ"
    );
    // Every artifact, re-read from landing's (sealed) storage.
    for (version, file) in [("1.0.0", RF1), ("1.1.0", RF2)] {
        let record = here
            .iter()
            .find(|v| v["version"] == version)
            .ok_or("version missing")?;
        let digest = record["digest"].as_str().unwrap_or_default();
        let reply = landing.get(&format!("/blobs/sha256/{}", &digest[7..]))?;
        ensure!(reply.status == 200, "download {version}: {}", reply.status);
        ensure!(
            reply.bytes == fixture_bytes(file)?,
            "{version}'s artifact differs"
        );
    }
    let reference = |api: &Api| -> Result<Value, Failed> {
        expect_status(
            &api.get(&format!("/models/{MODEL}/versions/1.0.0/reference"))?,
            200,
            "reference",
        )
    };
    ensure!(
        reference(&landing)? == reference(&f.origin)?,
        "reference profiles differ"
    );

    // History and audit entries kept as history; stages not moved.
    let imports = expect_status(
        &landing.get(&format!("/models/{MODEL}/imports"))?,
        200,
        "imports",
    )?;
    let record = &imports[0];
    ensure!(
        imports.as_array().map(Vec::len) == Some(1),
        "one import: {imports}"
    );
    let kept: Vec<Value> = record["history"].as_array().cloned().unwrap_or_default();
    ensure!(
        kept == history(&f.origin)? && kept.len() == 2,
        "history kept: {kept:#?}"
    );
    ensure!(
        record["released"] == json!(["1.0.0", "1.1.0"]) && record["root"].is_string(),
        "releases verified: {record}"
    );
    let origin_audit = expect_status(
        &f.origin
            .get(&format!("/audit?limit=200&target=models/{MODEL}"))?,
        200,
        "origin audit",
    )?;
    ensure!(
        record["audit"] == origin_audit["items"],
        "audit entries kept as they were"
    );
    let stages = expect_status(
        &landing.get(&format!("/models/{MODEL}/stages"))?,
        200,
        "stages",
    )?;
    ensure!(
        !stages.to_string().contains("1.0.0"),
        "an import moves no stage: {stages}"
    );
    ensure!(
        history(&landing)?.is_empty(),
        "landing's own history is empty"
    );

    // Landing's audit chain holds one import entry and still verifies.
    let audit_len = |api: &Api| -> Result<usize, Failed> {
        let page = expect_status(&api.get("/audit?limit=200")?, 200, "audit")?;
        Ok(page["items"].as_array().map_or(0, Vec::len))
    };
    let before = audit_len(&landing)?;
    run(&config, &["audit", "verify"])?;

    // Again: nothing changes.
    let again = run(&config, &["import", &bundle])?;
    ensure!(
        again.contains("imported already"),
        "second import said: {again}"
    );
    ensure!(
        audit_len(&landing)? == before,
        "a second import audits nothing"
    );
    ensure!(
        versions(&landing)? == here,
        "a second import changes nothing"
    );
    let imports = expect_status(
        &landing.get(&format!("/models/{MODEL}/imports"))?,
        200,
        "imports",
    )?;
    ensure!(
        imports.as_array().map(Vec::len) == Some(1),
        "still one import: {imports}"
    );
    Ok(())
}

fn a_version_exports_with_its_ancestors(f: &Fixture) -> Result<(), Failed> {
    let (_profile_dir, config) = cli_profile(&f.worker, &f.origin)?;
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let out = dir.path().join("child.tar");
    let said = run(
        &config,
        &[
            "--json",
            "export",
            &format!("{MODEL}@1.1.0"),
            "-o",
            &out.display().to_string(),
        ],
    )?;
    let said: Value = serde_json::from_str(&said).map_err(|e| format!("{e}: {said}"))?;
    ensure!(
        said["models"][0]["versions"] == json!(["1.0.0", "1.1.0"]),
        "1.1.0 brings its parent: {said}"
    );
    let (ok, _, stderr) = cli(
        &config,
        &[
            "export",
            &format!("{MODEL}@7.0.0"),
            "-o",
            &dir.path().join("none.tar").display().to_string(),
        ],
    )?;
    ensure!(
        !ok && stderr.contains("no version 7.0.0"),
        "a missing version: {stderr}"
    );
    ensure!(
        !dir.path().join("none.tar").exists() && !dir.path().join("none.partial").exists(),
        "a failed export leaves no file"
    );
    Ok(())
}

/// The bundle's entries, in order.
fn entries(bundle: &Path) -> Result<Vec<(String, Vec<u8>)>, Failed> {
    let file = std::fs::File::open(bundle).map_err(|e| format!("{e}"))?;
    let mut archive = tar::Archive::new(file);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| format!("{e}"))? {
        let mut entry = entry.map_err(|e| format!("{e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("{e}"))?
            .display()
            .to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| format!("{e}"))?;
        out.push((path, bytes));
    }
    Ok(out)
}

fn write_bundle(path: &Path, entries: &[(String, Vec<u8>)]) -> Result<(), Failed> {
    let file = std::fs::File::create(path).map_err(|e| format!("{e}"))?;
    let mut builder = tar::Builder::new(file);
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .map_err(|e| format!("{e}"))?;
    }
    builder.finish().map_err(|e| format!("{e}").into())
}

/// Imports `entries` as a bundle into a new organisation and expects a
/// refusal that says `expected`, with no model created.
fn refused(
    f: &Fixture,
    org: &str,
    entries: &[(String, Vec<u8>)],
    expected: &str,
) -> Result<(), Failed> {
    let (admin, dir, config) = organisation(f, org)?;
    let bundle = dir.path().join("changed.tar");
    write_bundle(&bundle, entries)?;
    let (ok, stdout, stderr) = cli(&config, &["import", &bundle.display().to_string()])?;
    ensure!(
        !ok && stderr.contains(expected) && stderr.contains("nothing was imported"),
        "{org}: expected a refusal saying `{expected}`: {stdout}{stderr}"
    );
    let reply = admin.get(&format!("/models/{MODEL}"))?;
    ensure!(
        reply.status == 404,
        "{org}: a refused import created the model"
    );
    let page = expect_status(&admin.get("/audit?limit=200")?, 200, "audit")?;
    ensure!(
        !page.to_string().contains("model.import"),
        "{org}: a refused import audited an import"
    );
    Ok(())
}

fn a_bundle_that_does_not_match_its_manifest_is_refused_with_nothing_written(
    f: &Fixture,
) -> Result<(), Failed> {
    let original = entries(&f.bundle)?;
    ensure!(
        original.first().map(|(p, _)| p.as_str()) == Some("manifest.json"),
        "the manifest comes first"
    );

    // One flipped byte in an artifact.
    let mut flipped = original.clone();
    let artifact = flipped
        .iter_mut()
        .find(|(p, _)| p.starts_with("artifacts/"))
        .ok_or("no artifact in the bundle")?;
    artifact.1[100] ^= 0x01;
    refused(f, "flipped", &flipped, "does not match the manifest")?;

    // A file the manifest does not list.
    let mut extra = original.clone();
    extra.push(("models/planted.json".into(), b"{}".to_vec()));
    refused(f, "planted", &extra, "not in its manifest")?;

    // The registry refuses (a version here with another artifact): 409,
    // and the version before it in the same import is not written either.
    let (clash, _clash_dir, clash_config) = organisation(f, "clash")?;
    expect_status(
        &clash.json("POST", "/models", &json!({"name": MODEL}))?,
        201,
        "model",
    )?;
    let other = fixture_bytes(RF1)?;
    let digest = clash.put_blob(&other)?;
    expect_status(
        &register(
            &clash,
            MODEL,
            json!({"version": "1.1.0", "digest": digest, "size": other.len()}),
        )?,
        201,
        "a different 1.1.0",
    )?;
    let (ok, stdout, stderr) = cli(&clash_config, &["import", &f.bundle.display().to_string()])?;
    ensure!(
        !ok && stderr.contains("versions are immutable") && stderr.contains("409"),
        "a clashing version: {stdout}{stderr}"
    );
    ensure!(
        clash
            .get(&format!("/models/{MODEL}/versions/1.0.0"))?
            .status
            == 404,
        "1.0.0 was written by a refused import"
    );

    // A listed file left out.
    let missing: Vec<(String, Vec<u8>)> = original
        .iter()
        .filter(|(p, _)| !p.starts_with("artifacts/"))
        .cloned()
        .collect();
    refused(f, "truncated", &missing, "missing from the bundle")
}

fn an_edited_audit_entry_is_refused(f: &Fixture) -> Result<(), Failed> {
    // The model file changed and the manifest recomputed to match it: the
    // bundle is self-consistent, but an audit entry no longer hashes to
    // the hash the source's chain gave it.
    let mut forged = entries(&f.bundle)?;
    let model_path = format!("models/{MODEL}.json");
    let (_, model_bytes) = forged
        .iter_mut()
        .find(|(p, _)| *p == model_path)
        .ok_or("no model file")?;
    let mut export: Value = serde_json::from_slice(model_bytes).map_err(|e| format!("{e}"))?;
    let entry = export["audit"]
        .as_array_mut()
        .and_then(|a| a.first_mut())
        .ok_or("no audit entries were exported")?;
    entry["actor"] = json!("someone-else");
    *model_bytes = serde_json::to_vec(&export).map_err(|e| format!("{e}"))?;
    let new_entry = json!({
        "sha256": outpost_core::Digest::of(model_bytes),
        "size": model_bytes.len(),
    });
    let (_, manifest_bytes) = forged.first_mut().ok_or("empty bundle")?;
    let mut manifest: Value = serde_json::from_slice(manifest_bytes).map_err(|e| format!("{e}"))?;
    manifest["files"][&model_path] = new_entry;
    *manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| format!("{e}"))?;
    refused(f, "forged", &forged, "audit entry")
}

/// Every audit entry of the organisation, in chain order.
fn whole_audit(api: &Api) -> Result<Vec<Value>, Failed> {
    let mut entries = Vec::new();
    let mut after = String::new();
    loop {
        let page = expect_status(&api.get(&format!("/audit?limit=200{after}"))?, 200, "audit")?;
        entries.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(cursor) => after = format!("&after={cursor}"),
            None => return Ok(entries),
        }
    }
}

/// `restored` (the origin's admin token against another registry) serves
/// what the origin does: versions, history, the model, its stages and
/// reference, `root.json`, `targets.json` and the whole audit log, which
/// `outpost audit verify` (run with `config`) accepts; every artifact
/// re-hashes from the other registry's storage.
fn serves_as_the_origin(f: &Fixture, restored: &Api, config: &Path) -> Result<(), Failed> {
    ensure!(
        versions(restored)? == versions(&f.origin)?,
        "versions differ"
    );
    ensure!(history(restored)? == history(&f.origin)?, "history differs");
    for path in [
        format!("/models/{MODEL}"),
        format!("/models/{MODEL}/stages"),
        format!("/models/{MODEL}/versions/1.0.0/reference"),
        "/trust/root.json".to_owned(),
        "/trust/targets.json".to_owned(),
    ] {
        let (here, there) = (restored.get(&path)?, f.origin.get(&path)?);
        ensure!(
            here.status == 200 && here.body == there.body,
            "{path} differs: {} {}",
            here.status,
            here.body
        );
    }
    ensure!(
        whole_audit(restored)? == whole_audit(&f.origin)?,
        "the audit log differs"
    );
    run(config, &["audit", "verify"])?;
    for version in versions(restored)? {
        let digest = version["digest"].as_str().unwrap_or_default();
        let reply = restored.get(&format!("/blobs/sha256/{}", &digest[7..]))?;
        ensure!(
            reply.status == 200 && outpost_core::Digest::of(&reply.bytes).to_string() == digest,
            "{} does not re-hash: {}",
            version["version"],
            reply.status
        );
    }
    Ok(())
}

/// The README's disaster recovery: `wrangler d1 export` of the database,
/// the R2 objects copied, a new Worker with the same secrets started from
/// both. It serves the same metadata and the same bytes, its audit chain
/// verifies, the old tokens work, and a device pinned to the old root, with
/// the state it kept, installs from it.
fn disaster_recovery_from_a_d1_export_and_the_r2_objects_serves_what_devices_trust(
    f: &Fixture,
) -> Result<(), Failed> {
    let (_, device) = create_token(&f.origin, "device", "viewer")?;
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let path = |p: PathBuf| p.display().to_string();
    let pinned = path(f.keys.path("root.json"));
    let state = path(dir.path().join("device-state"));
    let pull = |worker: &LocalWorker, out: &str| -> Result<Vec<u8>, Failed> {
        let (_profile, config) = cli_profile(worker, &device)?;
        let target = path(dir.path().join(out));
        run(
            &config,
            &[
                "pull",
                &format!("origin/{MODEL}@production"),
                "--device-id",
                "dr-1",
                "--trust",
                &pinned,
                "--state",
                &state,
                "-o",
                &target,
            ],
        )?;
        std::fs::read(&target).map_err(|e| format!("{e}").into())
    };
    ensure!(
        pull(&f.worker, "before.onnx")? == fixture_bytes(RF1)?,
        "the device installs 1.0.0 before the disaster"
    );

    // The backup: the database as SQL, and every artifact's object.
    let dump = dir.path().join("outpost.sql");
    f.worker.d1_export(&dump)?;
    let mut objects = Vec::new();
    for (n, row) in f
        .worker
        .d1("SELECT org, digest, key_version FROM blobs")?
        .iter()
        .enumerate()
    {
        let (org, digest) = (
            row["org"].as_str().unwrap_or_default(),
            row["digest"].as_str().unwrap_or_default(),
        );
        let hex = digest.trim_start_matches("sha256:");
        let key = match row["key_version"].as_u64() {
            Some(v) => format!("outpost-artifacts/orgs/{org}/sealed/sha256/{hex}/v{v}"),
            None => format!("outpost-artifacts/orgs/{org}/sha256/{hex}"),
        };
        let file = dir.path().join(format!("object-{n}"));
        f.worker.r2(&["get", &key, "--file", &path(file.clone())])?;
        objects.push((key, file));
    }
    ensure!(objects.len() >= 2, "objects to copy: {objects:?}");

    let replacement = LocalWorker::start_recovered(
        &WorkerConfig::SEALED,
        &f.worker,
        &Recovered {
            dump: &dump,
            objects: &objects,
        },
    )
    .map_err(Failed::from)?;
    // The old admin token, against the new Worker.
    let restored = Api {
        base: replacement.base_url.clone(),
        ..f.origin.clone()
    };

    let (_admin_profile, admin_config) = cli_profile(&replacement, &restored)?;
    serves_as_the_origin(f, &restored, &admin_config)?;

    // The device, pinned to the old root and keeping its state, installs
    // from the new Worker.
    ensure!(
        pull(&replacement, "after.onnx")? == fixture_bytes(RF1)?,
        "the device installs the same bytes after recovery"
    );
    Ok(())
}

fn manifest(dir: &Path) -> Result<Manifest, Failed> {
    let text = std::fs::read(dir.join("backup.json")).map_err(|e| format!("backup.json: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("backup.json: {e}").into())
}

/// `outpost backup` twice (the second downloads no artifact again), then
/// `outpost restore` into a new, empty registry deployed with the same
/// keys: every table reads back exactly as it was backed up, the API
/// answers as the origin does, the audit chain verifies, every artifact
/// re-hashes, the old tokens work, and a device pinned to the old root
/// installs from it. Restoring again, or a backup changed on disk, is
/// refused.
fn a_backup_restores_into_an_empty_registry_as_it_was(f: &Fixture) -> Result<(), Failed> {
    let (_, device) = create_token(&f.origin, "backup-device", "viewer")?;
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let path = |p: PathBuf| p.display().to_string();
    let backup = dir.path().join("backup");
    let (_profile, config) = cli_profile(&f.worker, &f.origin)?;
    let backed_up = |config: &Path, to: &Path| -> Result<Value, Failed> {
        let out = run(
            config,
            &["--json", "backup", "--to", &path(to.to_path_buf())],
        )?;
        serde_json::from_str(&out).map_err(|e| format!("backup --json: {e}: {out}").into())
    };
    let first = backed_up(&config, &backup)?;
    let artifacts = first["artifacts"].as_u64().unwrap_or_default();
    ensure!(
        artifacts >= 2 && first["artifacts_copied"] == artifacts,
        "the first backup downloads every artifact: {first}"
    );
    let second = backed_up(&config, &backup)?;
    ensure!(
        second["artifacts_copied"] == 0 && second["artifacts_kept"] == artifacts,
        "the second backup downloads no artifact again: {second}"
    );
    let taken = manifest(&backup)?;
    ensure!(
        taken.org == "origin" && taken.artifacts.len() as u64 == artifacts,
        "manifest: {taken:?}"
    );
    // Where this deployment keeps the artifacts (sealed, under a key
    // version) is not in it.
    let blobs = taken
        .tables
        .iter()
        .find(|t| t.name == "blobs")
        .ok_or("no blobs table")?;
    let blobs: outpost_core::backup::Page = serde_json::from_slice(
        &std::fs::read(backup.join(blobs.path())).map_err(|e| format!("{e}"))?,
    )
    .map_err(|e| format!("{e}"))?;
    let key_version = blobs
        .columns
        .iter()
        .position(|c| c == "key_version")
        .ok_or("no key_version column")?;
    ensure!(
        blobs.rows.len() as u64 == artifacts
            && blobs.rows.iter().all(|row| row[key_version].is_null()),
        "the blobs rows carry no key version: {:?}",
        blobs.rows
    );
    let sealed = f
        .worker
        .d1("SELECT count(*) AS n FROM blobs WHERE org = 'origin' AND key_version IS NOT NULL")?;
    ensure!(
        sealed.first().and_then(|r| r["n"].as_u64()) == Some(artifacts),
        "the origin keeps them sealed: {sealed:?}"
    );

    let replacement =
        LocalWorker::start_replacement(&WorkerConfig::SEALED, &f.worker).map_err(Failed::from)?;
    // The old admin token, against the new registry (once restored).
    let restored = Api {
        base: replacement.base_url.clone(),
        ..f.origin.clone()
    };
    let (_restored_profile, restored_config) = cli_profile(&replacement, &restored)?;
    let (ok, _, stderr) = cli(
        &restored_config,
        &[
            "restore",
            &path(backup.clone()),
            "--bootstrap-secret",
            "not-the-secret",
        ],
    )?;
    ensure!(
        !ok && stderr.contains("bootstrap secret"),
        "a restore without the bootstrap secret is refused and says why: {stderr}"
    );
    // An interrupted restore: begun, and its first table written, by hand.
    let bearer = format!("Bearer {}", replacement.bootstrap_secret);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let begun = send(
        "POST",
        &replacement.url("/v1/admin/restores/origin"),
        &headers,
        Some(b"{}"),
    )?;
    expect_status(&begun, 200, "begin a restore")?;
    let organizations = taken
        .tables
        .first()
        .filter(|t| t.name == "organizations")
        .ok_or("organizations first")?;
    let page = std::fs::read(backup.join(organizations.path())).map_err(|e| format!("{e}"))?;
    let written = send(
        "POST",
        &replacement.url("/v1/admin/restores/origin/tables/organizations"),
        &headers,
        Some(&page),
    )?;
    ensure!(
        expect_status(&written, 200, "a page")?["restored"] == 1,
        "one organisation row: {}",
        written.body
    );
    // `outpost restore` goes on from there.
    let out = run(
        &restored_config,
        &[
            "restore",
            &path(backup.clone()),
            "--bootstrap-secret",
            &replacement.bootstrap_secret,
        ],
    )?;
    let all_rows: u64 = taken.tables.iter().map(|t| t.rows).sum();
    ensure!(
        out.contains(&format!(
            "{} rows written now ({all_rows} in the backup)",
            all_rows - 1
        )),
        "the restore skips the row written before: {out}"
    );

    // Every table, read back from the new registry, is the one backed up.
    let again = dir.path().join("again");
    backed_up(&restored_config, &again)?;
    let reread = manifest(&again)?;
    for (before, after) in taken.tables.iter().zip(&reread.tables) {
        ensure!(
            before.name == after.name && before.rows == after.rows && before.sha256 == after.sha256,
            "`{}` differs after the restore: {} rows then, {} now",
            before.name,
            before.rows,
            after.rows
        );
    }
    ensure!(
        reread.artifacts == taken.artifacts,
        "the artifacts differ after the restore"
    );
    serves_as_the_origin(f, &restored, &restored_config)?;
    // A device pinned to the old root installs from the new registry.
    let device = Api {
        base: replacement.base_url.clone(),
        ..device
    };
    let (_device_profile, device_config) = cli_profile(&replacement, &device)?;
    let installed = dir.path().join("installed.onnx");
    run(
        &device_config,
        &[
            "pull",
            &format!("origin/{MODEL}@production"),
            "--device-id",
            "restored-1",
            "--trust",
            &path(f.keys.path("root.json")),
            "--state",
            &path(dir.path().join("device-state")),
            "-o",
            &path(installed.clone()),
        ],
    )?;
    ensure!(
        std::fs::read(&installed).map_err(|e| format!("{e}"))? == fixture_bytes(RF1)?,
        "the device installs 1.0.0 from the restored registry"
    );

    // Restoring again: the organisation exists now.
    let (ok, _, stderr) = cli(
        &restored_config,
        &[
            "restore",
            &path(backup.clone()),
            "--bootstrap-secret",
            &replacement.bootstrap_secret,
        ],
    )?;
    ensure!(
        !ok && stderr.contains("exists in this registry"),
        "a second restore is refused: {stderr}"
    );
    // A backup changed on disk is refused before anything is sent.
    let models = taken
        .tables
        .iter()
        .find(|t| t.name == "models")
        .ok_or("no models table")?;
    let file = backup.join(models.path());
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{e}"))?;
    std::fs::write(&file, text.replace("card fraud", "card fraul")).map_err(|e| format!("{e}"))?;
    let (ok, _, stderr) = cli(
        &restored_config,
        &[
            "restore",
            &path(backup),
            "--bootstrap-secret",
            &replacement.bootstrap_secret,
        ],
    )?;
    ensure!(
        !ok && stderr.contains("SHA-256 differs"),
        "a changed backup is refused: {stderr}"
    );
    Ok(())
}
