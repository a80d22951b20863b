//! Inference end to end against a real local Worker: the seeded isolation
//! forest (TreeEnsembleRegressor + LabelEncoder, run by outpost-infer inside
//! workerd) predicts at production — stable and canary arms of a sticky
//! rollout, with a shadow version whose results are recorded — and at the
//! canary stage, with outputs equal to the native run of the same file; the
//! per-isolate cache, Server-Timing, bad input as a 422 naming the input, and
//! `outpost predict` remote and native.

use std::collections::BTreeMap;
use std::path::PathBuf;

use outpost_e2e::{
    Api, Failed, LocalWorker, ReleaseKeys, Reply, WorkerConfig, cli, create_token, ensure,
    expect_problem, expect_status, init_org, register, same, transactions,
};
use outpost_infer::Model;
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use serde_json::{Value, json};

struct Fixture {
    /// Kept running for the suite; stopped on drop.
    worker: LocalWorker,
    apis: BTreeMap<&'static str, Api>,
    keys: ReleaseKeys,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    (
        "isolation_forest_predicts_at_production_canary_and_shadow",
        isolation_forest_predicts_at_production_canary_and_shadow,
    ),
    (
        "bad_input_is_a_422_naming_the_input",
        bad_input_is_a_422_naming_the_input,
    ),
    (
        "cli_predicts_remotely_and_natively",
        cli_predicts_remotely_and_natively,
    ),
    (
        "telemetry_windows_and_the_performance_report",
        telemetry_windows_and_the_performance_report,
    ),
    (
        "a_vanished_version_is_the_same_problem_for_predict_and_resolve",
        a_vanished_version_is_the_same_problem_for_predict_and_resolve,
    ),
    (
        "hostile_inputs_get_the_same_verdict_in_the_worker",
        hostile_inputs_get_the_same_verdict_in_the_worker,
    ),
    (
        "hostile_inputs_get_the_same_verdict_from_the_cli",
        hostile_inputs_get_the_same_verdict_from_the_cli,
    ),
];

const MODEL: &str = "transaction-anomaly";

/// Tests that run alone: those that write to the local D1 database directly
/// (a second SQLite connection beside the Worker's can make the Worker's
/// concurrent writes fail as "database is locked"; production D1 has no
/// second connection). Seen once: an upload of the hostile-corpus test
/// answered 500 while the vanished-version test deleted a row.
const WRITES_D1_DIRECTLY: &[&str] =
    &["a_vanished_version_is_the_same_problem_for_predict_and_resolve"];

fn main() {
    outpost_e2e::run_suite("inference", setup, TESTS, WRITES_D1_DIRECTLY);
}

fn models_dir() -> PathBuf {
    outpost_e2e::repo_root().join("tests/data/models")
}

/// 1.0.0 and 1.1.0 are the demo isolation forests; 2.0.0 is another real one
/// over the same four features (the conformance fixture), used as the shadow.
fn artifact(version: &str) -> Result<Vec<u8>, Failed> {
    let path = match version {
        "2.0.0" => outpost_e2e::repo_root().join("tests/data/conformance/isolation_forest.onnx"),
        _ => models_dir().join(format!("{MODEL}-{version}.onnx")),
    };
    std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()).into())
}

/// What outpost-infer gives natively for the same file and inputs.
fn native(version: &str, inputs: &Value) -> Result<Value, Failed> {
    let model = Model::load(&artifact(version)?).map_err(|e| format!("{e}"))?;
    let tensors = inputs_from_json(model.inputs(), inputs).map_err(|e| format!("{e}"))?;
    let outputs = model.run(&tensors).map_err(|e| format!("{e}"))?;
    Ok(outputs_to_json(&outputs))
}

fn setup() -> Result<Fixture, Failed> {
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let admin = init_org(&worker, "infer")?;
    let mut apis = BTreeMap::new();
    for role in ["viewer", "developer", "operator"] {
        apis.insert(
            role,
            create_token(&admin, &format!("{role}-token"), role)?.1,
        );
    }
    let keys = ReleaseKeys::ceremony(&worker, &admin)?;
    apis.insert("admin", admin);
    let dev = &apis["developer"];
    expect_status(
        &dev.json("POST", "/models", &json!({"name": MODEL}))?,
        201,
        "create model",
    )?;
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let bytes = artifact(version)?;
        let digest = dev.put_blob(&bytes)?;
        expect_status(
            &register(
                dev,
                MODEL,
                json!({"version": version, "digest": digest, "size": bytes.len()}),
            )?,
            201,
            &format!("register {version}"),
        )?;
    }
    keys.release(MODEL, &["1.0.0", "1.1.0", "2.0.0"])?;
    let op = &apis["operator"];
    for (stage, version) in [
        ("staging", "1.0.0"),
        ("production", "1.0.0"),
        ("staging", "1.1.0"),
        ("canary", "1.1.0"),
        ("staging", "2.0.0"),
    ] {
        expect_status(
            &op.json(
                "POST",
                &format!("/models/{MODEL}/stages/{stage}/promote"),
                &json!({"version": version}),
            )?,
            201,
            &format!("promote {version} to {stage}"),
        )?;
    }
    // Production: 1.0.0 stable, 1.1.0 as a 30 % canary, 2.0.0 in the shadow.
    expect_status(
        &op.json(
            "PUT",
            &format!("/models/{MODEL}/stages/production/rollout"),
            &json!({"canary": {"version": "1.1.0", "weight": 3000}, "shadow": "2.0.0"}),
        )?,
        201,
        "rollout",
    )?;
    Ok(Fixture { worker, apis, keys })
}

fn predict(api: &Api, stage: &str, device: &str, body: &Value) -> Result<Reply, Failed> {
    api.json(
        "POST",
        &format!("/models/{MODEL}/predict?stage={stage}&device={device}"),
        body,
    )
}

/// The named entries of a Server-Timing header, with their durations.
fn server_timing(reply: &Reply) -> Result<BTreeMap<String, String>, Failed> {
    let header = reply
        .header("server-timing")
        .ok_or("no Server-Timing header")?;
    Ok(header
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.trim().split(';');
            let name = parts.next()?.to_owned();
            let rest = parts.collect::<Vec<_>>().join(";");
            Some((name, rest))
        })
        .collect())
}

fn isolation_forest_predicts_at_production_canary_and_shadow(f: &Fixture) -> Result<(), Failed> {
    let viewer = &f.apis["viewer"];
    let inputs = transactions();
    let want = BTreeMap::from([
        ("1.0.0", native("1.0.0", &inputs)?),
        ("1.1.0", native("1.1.0", &inputs)?),
        ("2.0.0", native("2.0.0", &inputs)?),
    ]);
    ensure!(
        want["1.0.0"] != want["1.1.0"] && want["1.1.0"] != want["2.0.0"],
        "the versions must answer differently for this test to tell them apart"
    );
    // The typical transaction is an inlier, the 3 am one an outlier.
    ensure!(
        want["1.0.0"]["label"] == json!([[1], [-1], [1], [1]]),
        "native labels: {}",
        want["1.0.0"]
    );

    let mut seen = BTreeMap::<String, usize>::new();
    let mut devices = BTreeMap::new();
    for n in 0..40 {
        let device = format!("pos-{n}");
        let reply = predict(viewer, "production", &device, &inputs)?;
        let body = expect_status(&reply, 200, &format!("predict for {device}"))?;
        let version = body["version"].as_str().unwrap_or_default().to_owned();
        let arm = body["arm"].as_str().unwrap_or_default();
        ensure!(
            (version == "1.0.0" && arm == "stable") || (version == "1.1.0" && arm == "canary"),
            "{device}: {body}"
        );
        let expected = &want[version.as_str()];
        ensure!(
            same(&body["outputs"], expected),
            "{device} got {} from {version}, natively {expected}",
            body["outputs"]
        );
        // Sticky: the same device is routed to the same version again.
        let again = expect_status(
            &predict(viewer, "production", &device, &inputs)?,
            200,
            "again",
        )?;
        ensure!(again["version"] == body["version"], "{device} moved");
        let timing = server_timing(&reply)?;
        for entry in ["fetch", "load", "run"] {
            ensure!(
                timing.get(entry).is_some_and(|v| v.starts_with("dur=")),
                "Server-Timing lacks {entry}: {timing:?}"
            );
        }
        ensure!(timing.contains_key("shadow"), "no shadow run: {timing:?}");
        devices.insert(device, version.clone());
        *seen.entry(version).or_default() += 1;
    }
    ensure!(
        seen.len() == 2 && seen["1.1.0"] >= 4 && seen["1.0.0"] >= 12,
        "a 30 % canary over 40 devices: {seen:?}"
    );

    // Loaded models stay in the isolate: a later call is a cache hit.
    let reply = predict(viewer, "production", "pos-0", &inputs)?;
    let timing = server_timing(&reply)?;
    ensure!(
        timing.get("cache").is_some_and(|v| v.contains("hit")),
        "{timing:?}"
    );

    // The shadow's answers are recorded beside the served ones.
    let recorded = expect_status(
        &viewer.get(&format!(
            "/models/{MODEL}/shadow-results?stage=production&limit=500"
        ))?,
        200,
        "shadow results",
    )?;
    let results = recorded["results"].as_array().ok_or("no results")?;
    ensure!(
        results.len() == 81,
        "{} shadow results for 81 production predictions",
        results.len()
    );
    for result in results {
        let device = result["device"].as_str().unwrap_or_default();
        let served = devices
            .get(device)
            .ok_or("a result for an unknown device")?;
        ensure!(
            result["version"] == *served && result["shadow_version"] == "2.0.0",
            "{result}"
        );
        ensure!(result["shadow_error"].is_null(), "{result}");
        ensure!(
            same(&result["shadow_outputs"], &want["2.0.0"])
                && same(&result["outputs"], &want[served.as_str()]),
            "recorded {result}"
        );
    }

    // The canary stage serves 1.1.0 to everyone, without a shadow.
    let reply = predict(viewer, "canary", "pos-1", &inputs)?;
    let body = expect_status(&reply, 200, "canary stage")?;
    ensure!(
        body["version"] == "1.1.0" && same(&body["outputs"], &want["1.1.0"]),
        "{body}"
    );
    ensure!(
        !server_timing(&reply)?.contains_key("shadow"),
        "shadow on the canary stage"
    );

    // Nothing deployed: a clear 404.
    let detail = expect_problem(
        &predict(viewer, "development", "pos-1", &inputs)?,
        404,
        "empty stage",
    )?;
    ensure!(detail.contains("nothing is deployed"), "{detail}");
    Ok(())
}

fn bad_input_is_a_422_naming_the_input(f: &Fixture) -> Result<(), Failed> {
    let viewer = &f.apis["viewer"];
    let cases = [
        (
            json!({"X": [[1.0, 2.0, 3.0]]}),
            "input `X`: dimension 1 must be 4, given 3",
        ),
        (
            json!({"features": [[1.0, 2.0, 3.0, 4.0]]}),
            "input `features` is not declared by the model",
        ),
        (
            json!({"X": [["a", 2.0, 3.0, 4.0]]}),
            "input `X`: element 0 is the string \"a\", expected a number",
        ),
        (
            json!({"X": [[1.0, 2.0, 3.0, 4.0], [1.0]]}),
            "input `X`: not rectangular",
        ),
        (json!({}), "input `X` is required but was not given"),
    ];
    for (body, expected) in cases {
        let reply = predict(viewer, "production", "pos-1", &body)?;
        ensure!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/problem+json")),
            "{body}: not problem+json"
        );
        let detail = expect_problem(&reply, 422, &body.to_string())?;
        ensure!(detail.starts_with(expected), "{body}: {detail}");
        ensure!(
            detail.contains("X float[N, 4]"),
            "the detail says what the model takes: {detail}"
        );
    }
    let reply =
        f.apis["viewer"].json("POST", &format!("/models/{MODEL}/predict"), &transactions())?;
    let detail = expect_problem(&reply, 400, "no stage")?;
    ensure!(detail.contains("?stage="), "{detail}");
    Ok(())
}

fn cli_predicts_remotely_and_natively(f: &Fixture) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let input = dir.path().join("inputs.json");
    std::fs::write(&input, transactions().to_string()).map_err(|e| format!("{e}"))?;
    let input = input.to_string_lossy().into_owned();
    let config = &f.keys.config;

    let (ok, stdout, stderr) = cli(
        config,
        &[
            "predict",
            &format!("infer/{MODEL}@canary"),
            "--input",
            &input,
            "--json",
        ],
    )?;
    ensure!(ok, "remote predict: {stdout}{stderr}");
    let remote: Value = serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
    ensure!(remote["version"] == "1.1.0", "{remote}");
    ensure!(
        same(&remote["outputs"], &native("1.1.0", &transactions())?),
        "{remote}"
    );

    let file = models_dir().join(format!("{MODEL}-1.1.0.onnx"));
    let file = file.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = cli(config, &["predict", &file, "--input", &input, "--json"])?;
    ensure!(ok, "native predict: {stdout}{stderr}");
    let local: Value = serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
    ensure!(
        same(&local["outputs"], &remote["outputs"]),
        "native {local} vs remote {remote}"
    );

    // A table for people: one row per sample.
    let (ok, stdout, _) = cli(config, &["predict", &file, "--input", &input])?;
    ensure!(
        ok && stdout.contains("row") && stdout.lines().count() >= 6,
        "{stdout}"
    );

    // Mistakes say what to do and exit non-zero.
    std::fs::write(dir.path().join("bad.json"), r#"{"X": [[1, 2]]}"#)
        .map_err(|e| format!("{e}"))?;
    let bad = dir.path().join("bad.json").to_string_lossy().into_owned();
    let (ok, _, stderr) = cli(config, &["predict", &file, "--input", &bad])?;
    ensure!(
        !ok && stderr.contains("dimension 1 must be 4")
            && stderr.contains("the model takes X float[N, 4]"),
        "{stderr}"
    );
    let (ok, _, stderr) = cli(
        config,
        &["predict", &format!("infer/{MODEL}@canary"), "--input", &bad],
    )?;
    ensure!(!ok && stderr.contains("dimension 1 must be 4"), "{stderr}");
    let (ok, _, stderr) = cli(config, &["predict", "not-a-target", "--input", &input])?;
    ensure!(!ok && stderr.contains("ORG/MODEL@STAGE"), "{stderr}");
    Ok(())
}

fn telemetry_windows_and_the_performance_report(f: &Fixture) -> Result<(), Failed> {
    use outpost_core::telemetry::TelemetryWindow;
    let viewer = &f.apis["viewer"];
    // A client's window: 3 calls (one failed), 5 rows, over reference bins.
    let mut window = TelemetryWindow::new(vec![vec![10.0, 100.0, 1000.0]]);
    window.record_call(&[42.0, 14.0, 2400.0, 3.0], 2, 180.0);
    window.record_call(&[5.0, 1.0, 50.0, 2.0, 700.0, 9.0], 2, 220.0);
    window.record_error(4000.0);
    let post = |body: Value| viewer.json("POST", &format!("/models/{MODEL}/telemetry"), &body);
    let reply = post(json!({"version": "1.0.0", "stage": "production", "window": window}))?;
    let accepted = expect_status(&reply, 202, "telemetry")?;
    ensure!(
        accepted["calls"] == 3 && accepted["rows"] == 5,
        "{accepted}"
    );
    let mut inconsistent = serde_json::to_value(&window).map_err(|e| format!("{e}"))?;
    inconsistent["errors"] = json!(7);
    let detail = expect_problem(
        &post(json!({"version": "1.0.0", "stage": "production", "window": inconsistent}))?,
        422,
        "inconsistent window",
    )?;
    ensure!(detail.contains("7 errors in 3 calls"), "{detail}");
    let detail = expect_problem(
        &post(json!({"version": "9.9.9", "stage": "production", "window": window}))?,
        422,
        "unknown version",
    )?;
    ensure!(detail.contains("9.9.9"), "{detail}");

    // Worker-side predictions record their own windows.
    for n in 0..3 {
        expect_status(
            &predict(viewer, "canary", &format!("perf-{n}"), &transactions())?,
            200,
            "predict",
        )?;
    }
    let report = expect_status(
        &viewer.get(&format!("/models/{MODEL}/performance"))?,
        200,
        "performance",
    )?;
    let rows = report["rows"].as_array().ok_or("no rows")?;
    let row = |version: &str, stage: &str, source: &str| {
        rows.iter()
            .find(|r| r["version"] == version && r["stage"] == stage && r["source"] == source)
    };
    let client = row("1.0.0", "production", "client").ok_or(format!("no client row: {report}"))?;
    ensure!(
        client["calls"] == 3 && client["rows"] == 5 && client["errors"] == 1,
        "{client}"
    );
    ensure!(
        (client["error_rate"].as_f64().unwrap_or(0.0) - 1.0 / 3.0).abs() < 1e-12,
        "{client}"
    );
    ensure!(
        client["p50_us"] == 250.0 && client["p99_us"] == 5000.0,
        "{client}"
    );
    let worker = row("1.1.0", "canary", "worker").ok_or(format!("no worker row: {report}"))?;
    ensure!(
        worker["calls"].as_u64().unwrap_or(0) >= 3 && worker["errors"] == 0,
        "{worker}"
    );
    ensure!(
        worker["rows"].as_u64() == worker["calls"].as_u64().map(|c| c * 4),
        "four transactions per prediction: {worker}"
    );

    // The same over time: buckets of a minute from ten minutes ago, each
    // aligned to `since`, adding up to the report's rows of that answer.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("{e}"))?
        .as_millis() as i64;
    let since = now_ms - 600_000;
    let timed = expect_status(
        &viewer.get(&format!(
            "/models/{MODEL}/performance?since={since}&step=1m"
        ))?,
        200,
        "performance series",
    )?;
    ensure!(timed["step_ms"] == 60_000, "{timed}");
    let points = timed["series"]
        .as_array()
        .ok_or(format!("no series: {timed}"))?;
    let mut sums: BTreeMap<(String, String, String), [u64; 3]> = BTreeMap::new();
    for point in points {
        let offset = point["start_ms"].as_i64().unwrap_or(-1) - since;
        ensure!(
            offset >= 0 && offset % 60_000 == 0 && offset <= 660_000,
            "a bucket not aligned to since: {point}"
        );
        let key = |k: &str| point[k].as_str().unwrap_or_default().to_owned();
        let sum = sums
            .entry((key("version"), key("stage"), key("source")))
            .or_default();
        for (i, field) in ["calls", "errors", "rows"].iter().enumerate() {
            sum[i] += point[*field].as_u64().unwrap_or(0);
        }
    }
    for row in timed["rows"].as_array().ok_or("no rows")? {
        let key = |k: &str| row[k].as_str().unwrap_or_default().to_owned();
        let expected =
            [&row["calls"], &row["errors"], &row["rows"]].map(|v| v.as_u64().unwrap_or(0));
        ensure!(
            sums.get(&(key("version"), key("stage"), key("source"))) == Some(&expected),
            "the series does not add up to {row}: {sums:?}"
        );
    }
    ensure!(
        points.iter().any(|p| p["version"] == "1.0.0"
            && p["source"] == "client"
            && p["calls"] == 3
            && p["p99_us"] == 5000.0),
        "the client's window is one point: {timed}"
    );
    let detail = expect_problem(
        &viewer.get(&format!("/models/{MODEL}/performance?step=1h"))?,
        422,
        "a series without since",
    )?;
    ensure!(detail.contains("since"), "{detail}");
    let detail = expect_problem(
        &viewer.get(&format!(
            "/models/{MODEL}/performance?since={}&step=1s",
            now_ms - 3_600_000
        ))?,
        422,
        "too many buckets",
    )?;
    ensure!(detail.contains("at most 720"), "{detail}");

    let (ok, stdout, stderr) = cli(&f.keys.config, &["perf", MODEL])?;
    ensure!(
        ok && stdout.contains("client") && stdout.contains("worker") && stdout.contains("33.33 %"),
        "{stdout}{stderr}"
    );
    Ok(())
}

/// Issue "One home for every use case": a stage pointing at a version whose
/// row is gone answered 409 on resolve and 500 on predict. Both routes now
/// share one routing use case and answer the same problem.
fn a_vanished_version_is_the_same_problem_for_predict_and_resolve(
    f: &Fixture,
) -> Result<(), Failed> {
    const VANISHING: &str = "vanishing-forest";
    let dev = &f.apis["developer"];
    expect_status(
        &dev.json("POST", "/models", &json!({"name": VANISHING}))?,
        201,
        "create model",
    )?;
    let bytes = artifact("1.0.0")?;
    let digest = dev.put_blob(&bytes)?;
    expect_status(
        &register(
            dev,
            VANISHING,
            json!({"version": "1.0.0", "digest": digest, "size": bytes.len()}),
        )?,
        201,
        "register",
    )?;
    expect_status(
        &f.apis["operator"].json(
            "POST",
            &format!("/models/{VANISHING}/stages/development/promote"),
            &json!({"version": "1.0.0"}),
        )?,
        201,
        "promote to development",
    )?;
    let input = transactions();
    let viewer = &f.apis["viewer"];
    expect_status(
        &viewer.json(
            "POST",
            &format!("/models/{VANISHING}/predict?stage=development&device=d-1"),
            &input,
        )?,
        200,
        "predict before the version vanished",
    )?;
    // The version row disappears under the stage (an operator with database
    // access, a restore that lost it): nothing in the API can do this.
    f.worker.d1(&format!(
        "DELETE FROM versions WHERE org = 'infer' AND model = '{VANISHING}' AND version = '1.0.0'"
    ))?;
    // A change made outside this isolate's commits: its kept plan may
    // answer for up to PLAN_LIFETIME_MS (README, "staleness bounds").
    let written = std::time::Instant::now();
    let bound = std::time::Duration::from_millis(
        outpost_registry::routing::PLAN_LIFETIME_MS as u64 + 2_000,
    );
    let resolved = loop {
        let reply = viewer.get(&format!(
            "/models/{VANISHING}/resolve?stage=development&device=d-1"
        ))?;
        if reply.body.contains("no longer exists") || written.elapsed() > bound {
            break reply;
        }
    };
    let predicted = viewer.json(
        "POST",
        &format!("/models/{VANISHING}/predict?stage=development&device=d-1"),
        &input,
    )?;
    let detail = expect_problem(&resolved, 409, "resolve of a vanished version")?;
    ensure!(
        detail.contains("points at 1.0.0, which no longer exists"),
        "{detail}"
    );
    expect_problem(&predicted, 409, "predict of a vanished version")?;
    ensure!(
        predicted.json()? == resolved.json()?,
        "predict and resolve answer the same problem: {} vs {}",
        predicted.body,
        resolved.body
    );
    Ok(())
}

/// The hostile corpus through the Worker, with the verdicts the native
/// build and the wasm client give (`crates/outpost-infer/tests/data/hostile/
/// cases.json`, `crates/outpost-core/tests/data/hostile/`): malformed ONNX
/// refused at registration with the same message, the shared-leaf tree run
/// in workerd with the expected outputs, and every unsafe pickle or
/// checkpoint registered as `unsafe`, naming the callable it reaches.
fn hostile_inputs_get_the_same_verdict_in_the_worker(f: &Fixture) -> Result<(), Failed> {
    const HOSTILE: &str = "hostile-inputs";
    let dev = &f.apis["developer"];
    expect_status(
        &dev.json("POST", "/models", &json!({"name": HOSTILE}))?,
        201,
        "create model",
    )?;
    let root = outpost_e2e::repo_root();
    let onnx_dir = root.join("crates/outpost-infer/tests/data/hostile");
    let cases: Value = serde_json::from_slice(
        &std::fs::read(onnx_dir.join("cases.json")).map_err(|e| format!("cases.json: {e}"))?,
    )
    .map_err(|e| format!("cases.json: {e}"))?;
    let upload = |path: &std::path::Path, version: &str| -> Result<Reply, Failed> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let digest = dev.put_blob(&bytes)?;
        register(
            dev,
            HOSTILE,
            json!({"version": version, "digest": digest, "size": bytes.len()}),
        )
    };
    let mut patch = 0;
    for case in cases["cases"].as_array().into_iter().flatten() {
        let file = case["file"].as_str().unwrap_or_default();
        patch += 1;
        let version = format!("1.0.{patch}");
        let reply = upload(&onnx_dir.join(file), &version)?;
        if let Some(error) = case["error"].as_str() {
            let detail = expect_problem(&reply, 422, file)?;
            ensure!(
                detail.contains(error),
                "{file}: the Worker says `{detail}`, the other runtimes `{error}`"
            );
            continue;
        }
        expect_status(&reply, 201, file)?;
        expect_status(
            &f.apis["operator"].json(
                "POST",
                &format!("/models/{HOSTILE}/stages/development/promote"),
                &json!({"version": version}),
            )?,
            201,
            "promote to development",
        )?;
        let predicted = expect_status(
            &f.apis["viewer"].json(
                "POST",
                &format!("/models/{HOSTILE}/predict?stage=development&device=d-1"),
                &case["inputs"],
            )?,
            200,
            file,
        )?;
        ensure!(
            same(&predicted["outputs"], &case["outputs"]),
            "{file}: the Worker gives {}, the other runtimes {}",
            predicted["outputs"],
            case["outputs"]
        );
    }
    let scan_dir = root.join("crates/outpost-core/tests/data/hostile");
    let mut scanned = 0;
    for entry in std::fs::read_dir(&scan_dir).map_err(|e| format!("{e}"))? {
        let path = entry.map_err(|e| format!("{e}"))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.ends_with(".pkl") || name.ends_with(".pt")) {
            continue;
        }
        scanned += 1;
        let version = format!("2.0.{scanned}");
        let registered = expect_status(&upload(&path, &version)?, 201, &name)?;
        // Unsafe, naming `os.system` or the callable the stream reaches
        // first (`sklearn.__builtins__.get` fetches `eval`).
        let reason = registered["status_reason"].as_str().unwrap_or_default();
        let reached = registered["schema"]["unsafe_globals"][0]
            .as_str()
            .unwrap_or("os.system");
        ensure!(
            registered["status"] == "unsafe" && reason.contains(reached),
            "{name}: {registered}"
        );
        // Never promotable: the gate refuses an unsafe artifact.
        let promoted = f.apis["operator"].json(
            "POST",
            &format!("/models/{HOSTILE}/stages/development/promote"),
            &json!({"version": version}),
        )?;
        expect_problem(&promoted, 422, &format!("promote {name}"))?;
    }
    ensure!(
        scanned >= 5,
        "only {scanned} hostile pickles found in {}",
        scan_dir.display()
    );
    Ok(())
}

/// The hostile corpus through the CLI, as a user meets it: `outpost predict`
/// runs each malformed ONNX model natively (the verdicts of
/// `crates/outpost-infer/tests/data/hostile/cases.json`, which the native
/// tests, the wasm client and the Worker give), `outpost push` registers each
/// hostile pickle (unsafe, naming the callable), `outpost drift compare`
/// gives scipy's tiny KS p-value and Evidently's categorical verdict (the
/// committed drift vectors), and `outpost pull` refuses a pinned root with a
/// release threshold of 0 before anything is fetched.
fn hostile_inputs_get_the_same_verdict_from_the_cli(f: &Fixture) -> Result<(), Failed> {
    const HOSTILE: &str = "hostile-cli";
    let config = &f.keys.config;
    let root = outpost_e2e::repo_root();
    let scratch = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let write = |name: &str, text: &str| -> Result<String, Failed> {
        let path = scratch.path().join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.display().to_string())
    };

    // ONNX: the same refusal, or the same outputs.
    let onnx_dir = root.join("crates/outpost-infer/tests/data/hostile");
    let cases: Value = serde_json::from_slice(
        &std::fs::read(onnx_dir.join("cases.json")).map_err(|e| format!("cases.json: {e}"))?,
    )
    .map_err(|e| format!("cases.json: {e}"))?;
    for case in cases["cases"].as_array().into_iter().flatten() {
        let file = case["file"].as_str().unwrap_or_default();
        let model = onnx_dir.join(file).display().to_string();
        let inputs = case
            .get("inputs")
            .cloned()
            .unwrap_or_else(|| json!({"X": [[0.0]]}));
        let input = write(&format!("{file}.json"), &inputs.to_string())?;
        let (ok, stdout, stderr) = cli(config, &["predict", &model, "--input", &input, "--json"])?;
        match case["error"].as_str() {
            Some(error) => ensure!(
                !ok && stderr.contains(error),
                "{file}: the CLI says `{stderr}`, the other runtimes `{error}`"
            ),
            None => {
                ensure!(ok, "{file}: {stdout}{stderr}");
                let answer: Value =
                    serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
                ensure!(
                    same(&answer["outputs"], &case["outputs"]),
                    "{file}: the CLI gives {}, the other runtimes {}",
                    answer["outputs"],
                    case["outputs"]
                );
            }
        }
    }

    // Pickles and zips: pushed, each is registered unsafe naming the callable.
    let (ok, _, stderr) = cli(config, &["model", "create", HOSTILE])?;
    ensure!(ok, "model create: {stderr}");
    let scan_dir = root.join("crates/outpost-core/tests/data/hostile");
    let mut pushed = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&scan_dir)
        .map_err(|e| format!("{e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "pkl" || ext == "pt")
        })
        .collect();
    entries.sort();
    for path in &entries {
        pushed += 1;
        let version = format!("1.0.{pushed}");
        let file = path.display().to_string();
        let (ok, stdout, stderr) = cli(
            config,
            &["push", HOSTILE, &file, "--version", &version, "--json"],
        )?;
        ensure!(ok, "push {file}: {stdout}{stderr}");
        let registered: Value =
            serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
        let reached = registered["schema"]["unsafe_globals"][0]
            .as_str()
            .unwrap_or("os.system");
        ensure!(
            registered["status"] == "unsafe"
                && registered["status_reason"]
                    .as_str()
                    .is_some_and(|reason| reason.contains(reached)),
            "{file}: {registered}"
        );
    }
    ensure!(
        pushed >= 5,
        "only {pushed} hostile pickles in {}",
        scan_dir.display()
    );

    // Drift: scipy's exact tiny p-value, Evidently's categorical choice.
    let vectors: Value = serde_json::from_slice(
        &std::fs::read(root.join("crates/outpost-core/tests/data/drift-vectors.json"))
            .map_err(|e| format!("drift vectors: {e}"))?,
    )
    .map_err(|e| format!("drift vectors: {e}"))?;
    let tiny = vectors["numeric"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "tiny p 100 vs 101")
        .ok_or("the drift vectors lost `tiny p 100 vs 101`")?;
    let column = |name: &str, values: &[String]| format!("{name}\n{}\n", values.join("\n"));
    let reference: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let current: Vec<String> = (0..101)
        .map(|i| format!("{}", 60.5 + f64::from(i)))
        .collect();
    let (ok, stdout, stderr) = cli(
        config,
        &[
            "drift",
            "compare",
            &write("ks-ref.csv", &column("x", &reference))?,
            &write("ks-cur.csv", &column("x", &current))?,
            "--json",
        ],
    )?;
    ensure!(ok, "drift compare (KS): {stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
    let (got, want) = (
        report["features"][0]["score"].as_f64().unwrap_or(f64::NAN),
        tiny["ks_pvalue"].as_f64().unwrap_or(f64::NAN),
    );
    ensure!(
        report["features"][0]["test"] == "ks" && ((got - want) / want).abs() < 1e-9,
        "KS p-value from the CLI {got}, scipy {want}: {report}"
    );
    let categorical = vectors["categorical"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "a, b against a, c")
        .ok_or("the drift vectors lost `a, b against a, c`")?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let (ok, stdout, stderr) = cli(
        config,
        &[
            "drift",
            "compare",
            &write(
                "cat-ref.csv",
                &column("c", &strings(&categorical["reference"])),
            )?,
            &write(
                "cat-cur.csv",
                &column("c", &strings(&categorical["current"])),
            )?,
            "--json",
        ],
    )?;
    ensure!(ok, "drift compare (categorical): {stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
    ensure!(
        report["features"][0]["test"] == categorical["default_test"]
            && report["features"][0]["drifted"] == categorical["drifted"],
        "categorical drift from the CLI: {report}; expected {categorical}"
    );

    // Trust: a pinned root whose release threshold is 0 is refused at once.
    let pinned = scan_dir
        .join("tuf-threshold-zero/root.json")
        .display()
        .to_string();
    let state = scratch.path().join("device");
    let (ok, stdout, stderr) = cli(
        config,
        &[
            "pull",
            &format!("{}/{MODEL}@production", f.apis["viewer"].org),
            "--trust",
            &pinned,
            "--state",
            &state.display().to_string(),
            "--output",
            &scratch.path().join("model.onnx").display().to_string(),
        ],
    )?;
    ensure!(
        !ok && stderr.contains("MALFORMED") && stderr.contains("threshold is 0"),
        "pull with a threshold-0 root: {stdout}{stderr}"
    );
    ensure!(
        !scratch.path().join("model.onnx").exists(),
        "a model was written though the root was refused"
    );
    Ok(())
}
