//! The wasm client and the browser demo against a real local Worker: the
//! client package under Node (honest use and the client-side attacks, in
//! `tests/e2e/js/client.test.mjs`), the verify-only package under Node
//! (`tests/e2e/js/verify.test.mjs`), and the demo page in headless Chromium,
//! whose prediction must equal the native one and the Worker's, and which
//! must refuse — visibly — an artifact a hostile server tampered with.
//! Screenshots land in `tests/artifacts/`. The artifacts here have gzip
//! copies, so every client meets compressed delivery: the wasm client
//! (Node's fetch decodes), the CLI (ureq decodes), and python-tuf, which
//! does not negotiate and gets identity.

use std::path::PathBuf;

use outpost_e2e::hostile::{HostileServer, Served, Upstream};
use outpost_e2e::{
    Api, Failed, LocalWorker, ReleaseKeys, WorkerConfig, create_token, ensure, expect_status, gzip,
    init_org, node, register, same, transactions,
};
use outpost_infer::Model;
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    admin: Api,
    viewer: Api,
    keys: ReleaseKeys,
    /// `{version, inputs, outputs}`: what outpost-infer gives natively.
    expected: Value,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    ("wasm_client_under_node", wasm_client_under_node),
    ("wasm_client_inside_a_worker", wasm_client_inside_a_worker),
    (
        "verify_only_package_under_node",
        verify_only_package_under_node,
    ),
    (
        "demo_in_chromium_matches_native_and_refuses_tampering",
        demo_in_chromium_matches_native_and_refuses_tampering,
    ),
    (
        "compressed_delivery_verifies_in_the_cli_and_python_tuf",
        compressed_delivery_verifies_in_the_cli_and_python_tuf,
    ),
    (
        "a_compressed_copy_that_is_not_the_artifact_is_refused_and_nothing_is_kept",
        a_compressed_copy_that_is_not_the_artifact_is_refused_and_nothing_is_kept,
    ),
];

/// Tests that read local R2 directly.
const ALONE: &[&str] =
    &["a_compressed_copy_that_is_not_the_artifact_is_refused_and_nothing_is_kept"];

const ORG: &str = "web";
const MODEL: &str = "transaction-anomaly";

fn main() {
    outpost_e2e::run_suite("client", setup, TESTS, ALONE);
}

fn root() -> PathBuf {
    outpost_e2e::repo_root()
}

fn built(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join(name)
}

fn package() -> Result<PathBuf, Failed> {
    let dir = built("outpost-client-pkg");
    ensure!(
        dir.join("outpost_client_bg.wasm").exists()
            && root().join("web/pkg/outpost_client.js").exists()
            && built("outpost-client-verify-pkg/outpost_client_bg.wasm").exists(),
        "the wasm client packages are missing: run scripts/build-client.sh (scripts/test.sh does) before these tests"
    );
    Ok(dir)
}

fn setup() -> Result<Fixture, Failed> {
    package()?;
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let admin = init_org(&worker, ORG)?;
    let (_, viewer) = create_token(&admin, "browser", "viewer")?;
    let (_, operator) = create_token(&admin, "operator", "operator")?;
    let keys = ReleaseKeys::ceremony(&worker, &admin)?;
    expect_status(
        &admin.json("POST", "/models", &json!({"name": MODEL}))?,
        201,
        "create model",
    )?;
    let file = |version: &str| root().join(format!("tests/data/models/{MODEL}-{version}.onnx"));
    for version in ["1.0.0", "1.1.0"] {
        let bytes = std::fs::read(file(version)).map_err(|e| format!("{e}"))?;
        let digest = admin.put_blob(&bytes)?;
        expect_status(
            &admin.put_gzip_copy(&digest.hex(), &gzip(&bytes))?,
            201,
            "gzip copy",
        )?;
        expect_status(
            &register(
                &admin,
                MODEL,
                json!({"version": version, "digest": digest, "size": bytes.len()}),
            )?,
            201,
            "register",
        )?;
    }
    keys.release(MODEL, &["1.0.0", "1.1.0"])?;
    // 1.0.0's training sample as its reference: the demo tests drift against it.
    expect_status(
        &admin.json(
            "PUT",
            &format!("/models/{MODEL}/versions/1.0.0/reference"),
            &reference_profile()?,
        )?,
        201,
        "reference profile",
    )?;
    for stage in ["staging", "production"] {
        expect_status(
            &operator.json(
                "POST",
                &format!("/models/{MODEL}/stages/{stage}/promote"),
                &json!({"version": "1.0.0"}),
            )?,
            201,
            &format!("promote to {stage}"),
        )?;
    }
    let bytes = std::fs::read(file("1.0.0")).map_err(|e| format!("{e}"))?;
    let model = Model::load(&bytes).map_err(|e| format!("{e}"))?;
    let inputs = transactions();
    let tensors = inputs_from_json(model.inputs(), &inputs).map_err(|e| format!("{e}"))?;
    let outputs = outputs_to_json(&model.run(&tensors).map_err(|e| format!("{e}"))?);
    Ok(Fixture {
        worker,
        admin,
        viewer,
        keys,
        expected: json!({"version": "1.0.0", "inputs": inputs, "outputs": outputs}),
    })
}

/// The reference profile of tests/data/models/transactions-reference.csv.
fn reference_profile() -> Result<Value, Failed> {
    outpost_e2e::transactions_reference_profile()
}

fn wasm_client_under_node(f: &Fixture) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let expected = dir.path().join("expected.json");
    std::fs::write(&expected, f.expected.to_string()).map_err(|e| format!("{e}"))?;
    let (ok, output) = node(
        &[
            "--test",
            "--test-reporter=spec",
            "tests/e2e/js/client.test.mjs",
        ],
        &[
            (
                "OUTPOST_CLIENT_PKG",
                package()?.to_string_lossy().into_owned(),
            ),
            ("OUTPOST_URL", f.worker.base_url.clone()),
            ("OUTPOST_ORG", ORG.to_owned()),
            ("OUTPOST_TOKEN", f.viewer.token.clone()),
            (
                "OUTPOST_ROOT",
                f.keys.path("root.json").to_string_lossy().into_owned(),
            ),
            ("OUTPOST_MODEL", MODEL.to_owned()),
            ("OUTPOST_EXPECTED", expected.to_string_lossy().into_owned()),
        ],
    )?;
    ensure!(ok, "the wasm client tests under Node failed:\n{output}");
    ensure!(output.contains("ℹ fail 0"), "{output}");
    Ok(())
}

/// `@outpost/client-verify`: no runtime, every check, at most 300 KB
/// gzipped, and what web/pkg serves is the wasm-opt'd full package.
fn verify_only_package_under_node(f: &Fixture) -> Result<(), Failed> {
    package()?;
    let verify = built("outpost-client-verify-pkg");
    let wasm = std::fs::read(verify.join("outpost_client_bg.wasm")).map_err(|e| format!("{e}"))?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gzip, &wasm).map_err(|e| format!("{e}"))?;
    let gzipped = gzip.finish().map_err(|e| format!("{e}"))?.len();
    ensure!(
        gzipped <= 300_000,
        "the verify-only package is {gzipped} bytes gzipped; the goal is at most 300 KB"
    );
    ensure!(
        !wasm.windows(10).any(|w| w == b"tract-core"),
        "the verify-only package links tract"
    );
    let served =
        std::fs::read(root().join("web/pkg/outpost_client_bg.wasm")).map_err(|e| format!("{e}"))?;
    let shipped =
        std::fs::read(package()?.join("outpost_client_bg.wasm")).map_err(|e| format!("{e}"))?;
    ensure!(
        served == shipped,
        "web/pkg serves what target/outpost-client-pkg ships"
    );
    let (ok, output) = node(
        &[
            "--test",
            "--test-reporter=spec",
            "tests/e2e/js/verify.test.mjs",
        ],
        &[
            (
                "OUTPOST_CLIENT_VERIFY_PKG",
                verify.to_string_lossy().into_owned(),
            ),
            ("OUTPOST_URL", f.worker.base_url.clone()),
            ("OUTPOST_ORG", ORG.to_owned()),
            ("OUTPOST_TOKEN", f.viewer.token.clone()),
            (
                "OUTPOST_ROOT",
                f.keys.path("root.json").to_string_lossy().into_owned(),
            ),
            ("OUTPOST_MODEL", MODEL.to_owned()),
            (
                "OUTPOST_ARTIFACT",
                root()
                    .join(format!("tests/data/models/{MODEL}-1.0.0.onnx"))
                    .to_string_lossy()
                    .into_owned(),
            ),
        ],
    )?;
    ensure!(
        ok,
        "the verify-only package tests under Node failed:\n{output}"
    );
    ensure!(output.contains("ℹ fail 0"), "{output}");
    ensure!(output.contains("ℹ pass 4"), "{output}");
    Ok(())
}

/// The package inside workerd: a second local Worker imports it, resolves
/// from the registry Worker, verifies, loads and predicts — and refuses a
/// tampered artifact with the same code as everywhere else.
fn wasm_client_inside_a_worker(f: &Fixture) -> Result<(), Failed> {
    let worker = LocalWorker::start(&WorkerConfig::CLIENT_WORKER).map_err(Failed::from)?;
    let root_json: Value = serde_json::from_slice(
        &std::fs::read(f.keys.path("root.json")).map_err(|e| format!("{e}"))?,
    )
    .map_err(|e| format!("{e}"))?;
    let run = |tamper: bool| -> Result<outpost_e2e::Reply, Failed> {
        outpost_e2e::send(
            "POST",
            &worker.url("/run"),
            &[("content-type", "application/json")],
            Some(
                json!({
                    "registry": f.worker.base_url, "org": ORG, "token": f.viewer.token,
                    "root": root_json, "model": MODEL, "stage": "production",
                    "inputs": f.expected["inputs"], "tamper": tamper,
                })
                .to_string()
                .as_bytes(),
            ),
        )
    };
    let honest = expect_status(&run(false)?, 200, "the client in a Worker")?;
    ensure!(honest["version"] == f.expected["version"], "{honest}");
    ensure!(
        same(&honest["outputs"], &f.expected["outputs"]),
        "in a Worker {} vs native {}",
        honest["outputs"],
        f.expected["outputs"]
    );
    let tampered = run(true)?;
    ensure!(tampered.status == 422, "tampered: {}", tampered.status);
    let body = tampered.json()?;
    ensure!(body["error"]["code"] == "DIGEST_MISMATCH", "{body}");
    Ok(())
}

fn demo_url(base: &str, device: &str, token: &str) -> String {
    let inputs = transactions().to_string();
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "{base}/demo.html?registry={}&org={ORG}&token={token}&model={MODEL}&stage=production&device={device}&inputs={}&autorun=1",
        encode(base),
        encode(&inputs)
    )
}

fn demo_in_chromium_matches_native_and_refuses_tampering(f: &Fixture) -> Result<(), Failed> {
    let hostile = HostileServer::start(
        &f.worker.base_url,
        Box::new(|path: &str, mut reply: Upstream| {
            if path.contains("/blobs/sha256/") && reply.status == 200 {
                let middle = reply.body.len() / 2;
                reply.body[middle] ^= 0x01;
            }
            Served::Reply(reply)
        }),
    )
    .map_err(|e| format!("hostile server: {e}"))?;
    let artifacts = root().join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{e}"))?;
    let prefix = artifacts.join("demo").to_string_lossy().into_owned();
    let honest = demo_url(&f.worker.base_url, "chromium-1", &f.viewer.token);
    let tampered = demo_url(&hostile.base_url, "chromium-1", &f.viewer.token);
    let (ok, output) = node(&["tests/e2e/js/demo.mjs", &prefix, &honest, &tampered], &[])?;
    ensure!(ok, "the browser run failed:\n{output}");
    let pages: Vec<Value> = output
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e}: {output}"))?;
    ensure!(pages.len() == 2, "two pages, got:\n{output}");

    let page = &pages[0];
    ensure!(
        page["state"] == "done",
        "the honest page did not finish: {page}"
    );
    let result = &page["result"];
    ensure!(result["version"] == f.expected["version"], "{result}");
    ensure!(
        same(&result["outputs"], &f.expected["outputs"]),
        "Chromium {} vs native {}",
        result["outputs"],
        f.expected["outputs"]
    );
    // The Worker gives the same numbers for the same device.
    let reply = f.viewer.json(
        "POST",
        &format!("/models/{MODEL}/predict?stage=production&device=chromium-1"),
        &transactions(),
    )?;
    let worker = expect_status(&reply, 200, "worker predict")?;
    ensure!(
        same(&result["outputs"], &worker["outputs"]),
        "Chromium {} vs Worker {}",
        result["outputs"],
        worker["outputs"]
    );
    let steps = page["steps"].as_array().map(Vec::len).unwrap_or(0);
    ensure!(steps == 6, "six steps shown with timings: {page}");
    // The page reported its telemetry and drew the drift report per feature.
    let drift = &page["drift"];
    let features = drift["features"].as_array().cloned().unwrap_or_default();
    ensure!(
        features.len() == 4
            && page["bars"] == 4
            && features
                .iter()
                .all(|f| f["test"] == "ks" && f["current_values"].as_u64().unwrap_or(0) >= 3)
            && drift["dataset"]["features"] == 4,
        "drift chart: {page}"
    );
    // One prediction marked right and one wrong, reported as an outcome
    // window: the registry counts both, and the version is right half the time.
    let outcomes = &page["outcomes"];
    ensure!(
        outcomes["stored"] == true
            && outcomes["outcomes"] == 2
            && outcomes["total"] == 2
            && outcomes["accuracy"] == 0.5,
        "outcomes: {page}"
    );
    let quality = expect_status(
        &f.viewer.get(&format!(
            "/models/{MODEL}/quality?version={}&window=1h",
            f.expected["version"].as_str().unwrap_or_default()
        ))?,
        200,
        "quality after the demo's outcomes",
    )?;
    ensure!(
        quality["reported_windows"] == 1 && quality["quality"]["outcomes"] == 2,
        "{quality}"
    );
    ensure!(
        artifacts.join("demo-1.png").exists(),
        "no screenshot in tests/artifacts"
    );

    let page = &pages[1];
    ensure!(
        page["state"] == "failed",
        "the tampered page did not fail: {page}"
    );
    ensure!(page["error"]["code"] == "DIGEST_MISMATCH", "{page}");
    let text = page["error"]["text"].as_str().unwrap_or_default();
    ensure!(
        text.contains("DIGEST_MISMATCH") && text.contains("refused at the artifact"),
        "the failure is shown with its check: {text}"
    );
    let last = page["steps"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(Value::as_str)
        .unwrap_or_default();
    ensure!(
        last.starts_with('✗') && last.contains("download"),
        "the failed step is marked: {page}"
    );
    ensure!(
        page["result"].is_null(),
        "no prediction from tampered bytes"
    );
    Ok(())
}

fn model_file(version: &str) -> Result<Vec<u8>, Failed> {
    Ok(
        std::fs::read(root().join(format!("tests/data/models/{MODEL}-{version}.onnx")))
            .map_err(|e| format!("{e}"))?,
    )
}

/// The artifact's downloads as the Worker sends them: its gzip copy to a
/// client that accepts gzip (decoded here by ureq to exactly the artifact),
/// identity to one that does not or asks for a range; the TUF targets route
/// the same; then the CLI and python-tuf verify what they pull.
fn compressed_delivery_verifies_in_the_cli_and_python_tuf(f: &Fixture) -> Result<(), Failed> {
    let bytes = model_file("1.0.0")?;
    let digest = outpost_core::Digest::of(&bytes);
    let blob = format!("/blobs/sha256/{}", digest.hex());
    let copy = gzip(&bytes);
    let get = |path: &str, headers: &[(&str, &str)]| f.viewer.get_with(path, headers);

    // On the wire: the stored copy as it is, coded once, declared so.
    let auth = format!("Bearer {}", f.viewer.token);
    let wire = outpost_e2e::raw_get(
        &f.viewer.org_url(&blob),
        &[("authorization", &auth), ("accept-encoding", "gzip, br")],
    )?;
    ensure!(wire.status == 200, "{} {:?}", wire.status, wire.headers);
    ensure!(
        wire.header("content-encoding") == Some("gzip"),
        "a client accepting gzip gets the copy: {:?}",
        wire.headers
    );
    ensure!(
        wire.header("etag") == Some(&format!("\"{digest}+gzip\"")),
        "{:?}",
        wire.header("etag")
    );
    ensure!(
        wire.header("vary")
            .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
        "{:?}",
        wire.headers
    );
    ensure!(
        wire.body == copy,
        "{} bytes on the wire, the copy has {} (the artifact {})",
        wire.body.len(),
        copy.len(),
        bytes.len()
    );
    // A client that decodes (ureq) gets exactly the artifact.
    let coded = get(&blob, &[("accept-encoding", "gzip")])?;
    ensure!(
        coded.status == 200
            && coded.header("etag") == Some(&format!("\"{digest}+gzip\"")[..])
            && coded.bytes == bytes,
        "the copy decodes to the artifact: {} {:?}",
        coded.status,
        coded.headers
    );

    for (what, headers) in [
        ("no Accept-Encoding", vec![("authorization", &auth[..])]),
        (
            "identity only",
            vec![
                ("authorization", &auth[..]),
                ("accept-encoding", "identity"),
            ],
        ),
        (
            "gzip refused",
            vec![
                ("authorization", &auth[..]),
                ("accept-encoding", "gzip;q=0"),
            ],
        ),
    ] {
        let plain = outpost_e2e::raw_get(&f.viewer.org_url(&blob), &headers)?;
        ensure!(
            plain.status == 200 && plain.header("content-encoding").is_none(),
            "{what}: {} {:?}",
            plain.status,
            plain.headers
        );
        ensure!(plain.body == bytes, "{what}: identity bytes");
        ensure!(
            plain.header("etag") == Some(&format!("\"{digest}\"")),
            "{what}: {:?}",
            plain.header("etag")
        );
    }
    let ranged = get(
        &blob,
        &[("accept-encoding", "gzip"), ("range", "bytes=100-199")],
    )?;
    ensure!(
        ranged.status == 206 && ranged.header("content-encoding").is_none(),
        "a range is of the artifact's bytes: {} {:?}",
        ranged.status,
        ranged.headers
    );
    ensure!(ranged.bytes == bytes[100..200], "the range's bytes");
    let not_modified = get(
        &blob,
        &[
            ("accept-encoding", "gzip"),
            ("if-none-match", &format!("\"{digest}+gzip\"")),
        ],
    )?;
    ensure!(not_modified.status == 304, "{}", not_modified.status);

    // The TUF targets route sends the artifact's bytes whatever the client
    // accepts: some TUF clients ask for gzip and hash what they receive.
    let target = outpost_e2e::raw_get(
        &f.viewer
            .org_url(&format!("/trust/targets/{MODEL}/{}.1.0.0", digest.hex())),
        &[("authorization", &auth), ("accept-encoding", "gzip")],
    )?;
    ensure!(
        target.status == 200 && target.header("content-encoding").is_none() && target.body == bytes,
        "target: {} {:?}",
        target.status,
        target.headers
    );

    // The CLI pulls gzip (ureq asks for it) and checks the decoded digest.
    let out = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let pulled = out.path().join("model.onnx");
    let stdout = f.keys.run(&[
        "pull",
        MODEL,
        "--version",
        "1.0.0",
        "-o",
        &pulled.to_string_lossy(),
    ])?;
    ensure!(stdout.contains("verified"), "{stdout}");
    ensure!(
        std::fs::read(&pulled).map_err(|e| format!("{e}"))? == bytes,
        "the CLI installed the artifact's bytes"
    );

    // python-tuf sends no Accept-Encoding: identity, verified by its own
    // length and hash checks.
    let (ok, stdout, stderr) = outpost_e2e::tuf_client(
        &f.worker.base_url,
        (ORG, &f.viewer.token),
        &f.keys.path("root.json"),
        &format!("{MODEL}/1.0.0"),
    )?;
    ensure!(ok, "python-tuf: {stdout}{stderr}");
    let got: Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))?;
    ensure!(
        got["sha256"] == digest.hex() && got["length"] == bytes.len(),
        "{got}"
    );

    // `outpost push` makes and offers the copy itself.
    expect_status(
        &f.admin
            .json("POST", "/models", &json!({"name": "pushed"}))?,
        201,
        "model",
    )?;
    // (Not an artifact the setup uploaded: this one has no copy yet.)
    let file = root().join("tests/data/models/fraud-detector-1.1.0.onnx");
    let pushed = f.keys.run(&[
        "push",
        "pushed",
        &file.to_string_lossy(),
        "--version",
        "1.0.0",
    ])?;
    ensure!(
        pushed.contains("gzip copy: ") && pushed.contains("sent to clients that accept gzip"),
        "{pushed}"
    );
    let newer = std::fs::read(&file).map_err(|e| format!("{e}"))?;
    let wire = outpost_e2e::raw_get(
        &f.viewer.org_url(&format!(
            "/blobs/sha256/{}",
            outpost_core::Digest::of(&newer).hex()
        )),
        &[("authorization", &auth), ("accept-encoding", "gzip")],
    )?;
    ensure!(
        wire.header("content-encoding") == Some("gzip") && wire.body.len() < newer.len() / 4,
        "pushed: {} bytes on the wire for {}: {:?}",
        wire.body.len(),
        newer.len(),
        wire.headers
    );
    let again = f.keys.run(&[
        "push",
        "pushed",
        &file.to_string_lossy(),
        "--version",
        "1.0.1",
    ])?;
    ensure!(again.contains("gzip copy: already kept"), "{again}");
    // `outpost import` offers copies as push does.
    let bundle = out.path().join("pushed.tar");
    f.keys
        .run(&["export", "pushed@1.0.0", "-o", &bundle.to_string_lossy()])?;
    let elsewhere = init_org(&f.worker, "web-copy")?;
    let (_dir, config) = outpost_e2e::cli_profile(&f.worker, &elsewhere)?;
    let (ok, stdout, stderr) = outpost_e2e::cli(&config, &["import", &bundle.to_string_lossy()])?;
    ensure!(
        ok && stdout.contains("pushed: gzip copies kept for 1 artifact(s)"),
        "import: {stdout}{stderr}"
    );
    let imported = elsewhere.get_with(
        &format!("/blobs/sha256/{}", outpost_core::Digest::of(&newer).hex()),
        &[("accept-encoding", "gzip")],
    )?;
    ensure!(
        imported
            .header("etag")
            .is_some_and(|t| t.ends_with("+gzip\""))
            && imported.bytes == newer,
        "imported: {:?}",
        imported.headers
    );

    // Statistics count the copies: stored ÷ compressed > 1.
    let stats = expect_status(&f.viewer.get("/stats")?, 200, "stats")?;
    let ratio = stats["storage"]["compression_ratio"]
        .as_f64()
        .unwrap_or(0.0);
    ensure!(ratio > 2.0, "compression ratio {ratio}: {stats}");
    Ok(())
}

/// Copies that are not the artifact — other bytes, more bytes, garbage, a
/// body shorter than declared — are refused with a problem naming what was
/// found, and leave no object in R2; one that saves too little is refused
/// before it is read. Downloads stay identity throughout.
fn a_compressed_copy_that_is_not_the_artifact_is_refused_and_nothing_is_kept(
    f: &Fixture,
) -> Result<(), Failed> {
    let bytes: Vec<u8> = (0..4000u32)
        .flat_map(|i| format!("feature_{} <= {}.5;", i % 31, i % 17).into_bytes())
        .collect();
    let digest = f.admin.put_blob(&bytes)?;
    let hex = digest.hex();
    let mut other = bytes.clone();
    other[10] ^= 1;
    let doubled = [bytes.clone(), bytes.clone()].concat();
    let garbage = vec![0x1f_u8; bytes.len() / 4];
    let half = bytes.len() / 2;
    let members = [gzip(&bytes[..half]), gzip(&bytes[half..])].concat();
    for (what, copy, expected) in [
        ("other bytes", gzip(&other), "hashing to"),
        ("a bomb", gzip(&doubled), "more than"),
        ("not gzip", garbage, "does not decode"),
        // workerd's DecompressionStream refuses the second member as
        // trailing bytes; a runtime that decoded it would leave the
        // trailer check to refuse it.
        (
            "the artifact in two gzip members",
            members,
            "nothing was stored",
        ),
    ] {
        let detail = outpost_e2e::expect_problem(&f.admin.put_gzip_copy(&hex, &copy)?, 422, what)?;
        ensure!(
            detail.contains(expected) && detail.contains("nothing was stored"),
            "{what}: {detail}"
        );
    }
    // Bytes after the gzip member.
    let mut trailing = gzip(&bytes);
    trailing.extend_from_slice(&[0u8; 32]);
    let after = f.admin.put_gzip_copy(&hex, &trailing)?;
    ensure!(
        after.status == 422,
        "trailing bytes: {} {}",
        after.status,
        after.body
    );
    // A body shorter than it declares.
    let copy = gzip(&bytes);
    let short = outpost_e2e::send(
        "PUT",
        &f.admin
            .org_url(&format!("/blobs/sha256/{hex}/codings/gzip")),
        &[
            ("authorization", &format!("Bearer {}", f.admin.token)),
            ("x-outpost-size", &(copy.len() + 10).to_string()),
        ],
        Some(&copy),
    )?;
    ensure!(
        short.status == 422,
        "short body: {} {}",
        short.status,
        short.body
    );
    let worthless = outpost_e2e::expect_problem(
        &f.admin.put_gzip_copy(&hex, &bytes[..bytes.len() - 100])?,
        422,
        "no saving",
    )?;
    ensure!(worthless.contains("does not save enough"), "{worthless}");
    let unknown = f
        .admin
        .get_with(&format!("/blobs/sha256/{hex}/codings/zstd"), &[])?;
    ensure!(
        unknown.status == 404 || unknown.status == 405,
        "{}",
        unknown.status
    );
    let zstd = outpost_e2e::send(
        "PUT",
        &f.admin
            .org_url(&format!("/blobs/sha256/{hex}/codings/zstd")),
        &[
            ("authorization", &format!("Bearer {}", f.admin.token)),
            ("x-outpost-size", "10"),
        ],
        Some(b"0123456789"),
    )?;
    ensure!(zstd.status == 404, "zstd: {} {}", zstd.status, zstd.body);

    // Nothing was kept: identity for a gzip client, and no object in R2.
    let plain = f.viewer.get_with(
        &format!("/blobs/sha256/{hex}"),
        &[("accept-encoding", "gzip")],
    )?;
    ensure!(
        plain.status == 200 && plain.header("content-encoding").is_none() && plain.bytes == bytes,
        "{} {:?}",
        plain.status,
        plain.headers
    );
    ensure!(
        no_copy_recorded(f, &hex)?
            && f.worker
                .r2_keys(&format!("orgs/{ORG}/gzip/sha256/{hex}/"))?
                .is_empty(),
        "a refused copy was recorded or left in R2"
    );

    // A viewer may not add copies; the honest copy is then kept once.
    let denied = f.viewer.put_gzip_copy(&hex, &copy)?;
    ensure!(denied.status == 403, "viewer: {}", denied.status);
    let kept = expect_status(&f.admin.put_gzip_copy(&hex, &copy)?, 201, "honest copy")?;
    ensure!(
        kept["encoded_size"] == copy.len() && kept["size"] == bytes.len(),
        "{kept}"
    );
    let again = expect_status(&f.admin.put_gzip_copy(&hex, &copy)?, 200, "again")?;
    ensure!(again["created"] == false, "{again}");
    ensure!(gzip_object_exists(f, &hex), "the kept copy is in R2");
    let copies = f
        .worker
        .r2_keys(&format!("orgs/{ORG}/gzip/sha256/{hex}/"))?;
    ensure!(copies.len() == 1, "one copy in R2: {copies:?}");

    // `outpost compress` offers a copy of a version pushed without one.
    expect_status(
        &f.admin.json("POST", "/models", &json!({"name": "late"}))?,
        201,
        "model",
    )?;
    let file = root().join("tests/data/models/fraud-detector-1.2.0.onnx");
    let pushed = f.keys.run(&[
        "push",
        "late",
        &file.to_string_lossy(),
        "--version",
        "1.0.0",
        "--no-compress",
    ])?;
    ensure!(!pushed.contains("gzip copy"), "{pushed}");
    let compressed = f.keys.run(&["compress", "late", "1.0.0"])?;
    ensure!(
        compressed.contains("sent to clients that accept gzip"),
        "{compressed}"
    );
    let late = std::fs::read(&file).map_err(|e| format!("{e}"))?;
    let served = f.viewer.get_with(
        &format!("/blobs/sha256/{}", outpost_core::Digest::of(&late).hex()),
        &[("accept-encoding", "gzip")],
    )?;
    ensure!(
        served
            .header("etag")
            .is_some_and(|t| t.ends_with("+gzip\""))
            && served.bytes == late,
        "{:?}",
        served.headers
    );
    Ok(())
}

/// Whether R2 holds the object of the artifact's recorded gzip copy (its
/// id from D1, the object read with `wrangler r2 object get --local`: from
/// a test that runs alone).
fn gzip_object_exists(f: &Fixture, hex: &str) -> bool {
    let Ok(rows) = f.worker.d1(&format!(
        "SELECT gzip_id FROM blobs WHERE org = '{ORG}' AND digest = 'sha256:{hex}'"
    )) else {
        return false;
    };
    let Some(id) = rows.first().and_then(|row| row["gzip_id"].as_str()) else {
        return false;
    };
    f.worker
        .r2(&[
            "get",
            &format!("outpost-artifacts/orgs/{ORG}/gzip/sha256/{hex}/{id}"),
            "--pipe",
        ])
        .is_ok()
}

/// Whether the artifact's row records no gzip copy (D1, from a test that
/// runs alone).
fn no_copy_recorded(f: &Fixture, hex: &str) -> Result<bool, Failed> {
    let rows = f.worker.d1(&format!(
        "SELECT gzip_id FROM blobs WHERE org = '{ORG}' AND digest = 'sha256:{hex}'"
    ))?;
    Ok(rows.first().is_some_and(|row| row["gzip_id"].is_null()))
}
