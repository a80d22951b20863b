//! Monitoring end to end against a real local Worker (workerd, local D1):
//! a reference profile pushed with the version (`outpost push --reference`),
//! drift reports equal to the core's on the same samples, a canary with a
//! high error rate and drifted inputs rolled back by the cron (wrangler's
//! scheduled trigger) with its history and audit entries, webhooks delivered
//! to a local receiver with valid Standard Webhooks signatures and retried
//! after a failure, and `/metrics` in OpenMetrics text.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use outpost_core::profile::ReferenceProfile;
use outpost_core::telemetry::{REPORT_SAMPLE, TelemetryWindow, merge_samples};
use outpost_e2e::receiver::{Delivery, WebhookReceiver};
use outpost_e2e::{
    Api, Failed, LocalWorker, ReleaseKeys, WorkerConfig, cli, create_token, ensure, expect_problem,
    expect_status, init_org, register,
};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    apis: BTreeMap<&'static str, Api>,
    keys: ReleaseKeys,
    /// The training sample 1.1.0 was pushed with, and its profile as the
    /// native core computes it.
    sample: PathBuf,
    profile: ReferenceProfile,
    receiver: WebhookReceiver,
    secret: String,
    _dir: tempfile::TempDir,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    (
        "a_reference_profile_is_stored_with_the_version",
        a_reference_profile_is_stored_with_the_version,
    ),
    (
        "drift_reports_equal_the_core_on_the_same_samples",
        drift_reports_equal_the_core_on_the_same_samples,
    ),
    (
        "a_failing_canary_is_rolled_back_by_the_cron",
        a_failing_canary_is_rolled_back_by_the_cron,
    ),
    (
        "failed_deliveries_are_retried_and_listed",
        failed_deliveries_are_retried_and_listed,
    ),
    ("metrics_are_openmetrics_text", metrics_are_openmetrics_text),
    (
        "old_telemetry_is_compacted_and_still_counted",
        old_telemetry_is_compacted_and_still_counted,
    ),
];

const MODEL: &str = "transaction-anomaly";
const CRON: &str = "/__scheduled?cron=*/5+*+*+*+*";
const FEATURES: [&str; 4] = ["amount", "hour", "distance_km", "merchant_risk"];

fn main() {
    outpost_e2e::run_suite(
        "monitoring",
        setup,
        TESTS,
        // Both run the cron, which checks every guardrail and delivers every
        // due webhook: each must see only its own effects.
        &[
            "a_failing_canary_is_rolled_back_by_the_cron",
            "failed_deliveries_are_retried_and_listed",
            "old_telemetry_is_compacted_and_still_counted",
        ],
    );
}

/// Deterministic card transactions (an LCG): `shift` moves amount and
/// distance away from the training distribution.
fn transactions(seed: u64, rows: usize, shift: f64) -> Vec<[f64; 4]> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut unit = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..rows)
        .map(|_| {
            let amount = (-unit().ln() * 60.0 + 5.0) * (1.0 + 3.0 * shift);
            let hour = (unit() * 24.0).floor();
            let distance = -unit().ln() * 12.0 + 300.0 * shift;
            let risk = (unit() * 100.0).round() / 100.0;
            [amount, hour, distance, risk]
        })
        .collect()
}

fn write_csv(path: &std::path::Path, rows: &[[f64; 4]]) -> Result<(), Failed> {
    let mut text = FEATURES.join(",") + "\n";
    for row in rows {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| format!("{e}").into())
}

fn columns(rows: &[[f64; 4]]) -> Vec<(String, Vec<String>)> {
    FEATURES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                (*name).to_owned(),
                rows.iter().map(|r| format!("{}", r[i])).collect(),
            )
        })
        .collect()
}

/// A client's telemetry window over the profile's bins: `calls` calls of
/// five rows each, the first `errors` of them failing.
fn window(
    profile: &ReferenceProfile,
    seed: u64,
    calls: usize,
    errors: usize,
    shift: f64,
) -> TelemetryWindow {
    let mut w = TelemetryWindow::new(profile.edges());
    for call in 0..calls {
        if call < errors {
            w.record_error(900.0);
        } else {
            let rows = transactions(seed + call as u64, 5, shift);
            let values: Vec<f64> = rows.iter().flatten().copied().collect();
            w.record_call(&values, 4, 700.0);
        }
    }
    w
}

fn artifact(version: &str) -> PathBuf {
    outpost_e2e::repo_root().join(format!("tests/data/models/{MODEL}-{version}.onnx"))
}

fn setup() -> Result<Fixture, Failed> {
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let admin = init_org(&worker, "watch")?;
    let mut apis = BTreeMap::new();
    for role in ["viewer", "developer", "operator"] {
        apis.insert(
            role,
            create_token(&admin, &format!("{role}-token"), role)?.1,
        );
    }
    let receiver = WebhookReceiver::start(&[200]).map_err(|e| format!("receiver: {e}"))?;
    let created = expect_status(
        &admin.json(
            "POST",
            "/webhooks",
            &json!({"url": receiver.url, "events": ["*"], "description": "test receiver"}),
        )?,
        201,
        "register the webhook",
    )?;
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    ensure!(secret.starts_with("whsec_"), "{created}");
    let keys = ReleaseKeys::ceremony(&worker, &admin)?;
    apis.insert("admin", admin);
    let dev = &apis["developer"];
    expect_status(
        &dev.json("POST", "/models", &json!({"name": MODEL}))?,
        201,
        "create model",
    )?;
    let bytes = std::fs::read(artifact("1.0.0")).map_err(|e| format!("{e}"))?;
    let digest = dev.put_blob(&bytes)?;
    expect_status(
        &register(
            dev,
            MODEL,
            json!({"version": "1.0.0", "digest": digest, "size": bytes.len()}),
        )?,
        201,
        "register 1.0.0",
    )?;

    // 1.1.0 through the CLI, with its training sample as the reference.
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let sample = dir.path().join("training.csv");
    let training = transactions(7, 600, 0.0);
    write_csv(&sample, &training)?;
    let file = artifact("1.1.0").to_string_lossy().into_owned();
    let (ok, stdout, stderr) = cli(
        &keys.config,
        &[
            "push",
            MODEL,
            &file,
            "--version",
            "1.1.0",
            "--reference",
            &sample.to_string_lossy(),
        ],
    )?;
    ensure!(ok, "push --reference: {stdout}{stderr}");
    ensure!(
        stdout.contains("reference: 600 rows, 4 features"),
        "{stdout}"
    );
    let profile = ReferenceProfile::from_columns(&columns(&training))
        .map_err(|e| format!("profiling locally: {e}"))?;

    keys.release(MODEL, &["1.0.0", "1.1.0"])?;
    let op = &apis["operator"];
    for (stage, version) in [
        ("staging", "1.0.0"),
        ("production", "1.0.0"),
        ("staging", "1.1.0"),
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
    Ok(Fixture {
        worker,
        apis,
        keys,
        sample,
        profile,
        receiver,
        secret,
        _dir: dir,
    })
}

fn a_reference_profile_is_stored_with_the_version(f: &Fixture) -> Result<(), Failed> {
    let viewer = &f.apis["viewer"];
    let stored = expect_status(
        &viewer.get(&format!("/models/{MODEL}/versions/1.1.0/reference"))?,
        200,
        "reference of 1.1.0",
    )?;
    let stored: ReferenceProfile =
        serde_json::from_value(stored).map_err(|e| format!("stored profile: {e}"))?;
    ensure!(
        stored == f.profile,
        "the stored profile differs from the one the core makes of the same sample"
    );
    ensure!(
        stored.features.iter().all(|f| f.count == 600),
        "counts: {stored:?}"
    );

    let dev = &f.apis["developer"];
    let path = format!("/models/{MODEL}/versions/1.1.0/reference");
    let profile = serde_json::to_value(&f.profile).map_err(|e| format!("{e}"))?;
    // The same profile again changes nothing; another one is refused.
    let same = expect_status(&dev.json("PUT", &path, &profile)?, 200, "same profile")?;
    ensure!(same["changed"] == false, "{same}");
    let other = ReferenceProfile::from_columns(&columns(&transactions(8, 50, 0.0)))
        .map_err(|e| format!("{e}"))?;
    let other = serde_json::to_value(&other).map_err(|e| format!("{e}"))?;
    let detail = expect_problem(&dev.json("PUT", &path, &other)?, 409, "other profile")?;
    ensure!(detail.contains("immutable"), "{detail}");
    // A tampered profile is a 422 naming the problem, and stores nothing.
    let mut bad = profile.clone();
    bad["features"][0]["edges"] = json!([5.0, 1.0]);
    bad["features"][0]["histogram"] = json!([1, 1, 1]);
    let detail = expect_problem(
        &dev.json(
            "PUT",
            &format!("/models/{MODEL}/versions/1.0.0/reference"),
            &bad,
        )?,
        422,
        "bad profile",
    )?;
    ensure!(detail.contains("amount"), "{detail}");
    let detail = expect_problem(
        &viewer.get(&format!("/models/{MODEL}/versions/1.0.0/reference"))?,
        404,
        "no profile",
    )?;
    ensure!(detail.contains("--reference"), "{detail}");
    // Viewers cannot write one.
    expect_problem(
        &viewer.json(
            "PUT",
            &format!("/models/{MODEL}/versions/1.0.0/reference"),
            &profile,
        )?,
        403,
        "viewer writes a profile",
    )?;

    // `outpost reference show` prints it per feature.
    let (ok, stdout, stderr) = cli(&f.keys.config, &["reference", "show", MODEL, "1.1.0"])?;
    ensure!(
        ok && FEATURES.iter().all(|name| stdout.contains(name)) && stdout.contains("numerical"),
        "{stdout}{stderr}"
    );
    // A sample that cannot be profiled stops `push` before anything is sent.
    let empty = f.sample.with_file_name("empty.csv");
    std::fs::write(&empty, "amount,hour\n,\n").map_err(|e| format!("{e}"))?;
    let file = artifact("1.0.0").to_string_lossy().into_owned();
    let (ok, stdout, stderr) = cli(
        &f.keys.config,
        &[
            "push",
            MODEL,
            &file,
            "--version",
            "9.9.9",
            "--reference",
            &empty.to_string_lossy(),
        ],
    )?;
    ensure!(
        !ok && stderr.contains("no values"),
        "push with an empty sample: {stdout}{stderr}"
    );
    let missing = viewer.get(&format!("/models/{MODEL}/versions/9.9.9"))?;
    ensure!(
        missing.status == 404,
        "9.9.9 was registered: {}",
        missing.body
    );
    Ok(())
}

fn post_window(api: &Api, version: &str, stage: &str, w: &TelemetryWindow) -> Result<(), Failed> {
    expect_status(
        &api.json(
            "POST",
            &format!("/models/{MODEL}/telemetry"),
            &json!({"version": version, "stage": stage, "window": w}),
        )?,
        202,
        "telemetry",
    )?;
    Ok(())
}

fn drift_reports_equal_the_core_on_the_same_samples(f: &Fixture) -> Result<(), Failed> {
    let viewer = &f.apis["viewer"];
    // Staging only sees what this test sends: calm windows, then shifted ones.
    let calm = window(&f.profile, 100, 30, 0, 0.0);
    let shifted = window(&f.profile, 200, 30, 0, 1.0);
    post_window(viewer, "1.1.0", "staging", &calm)?;
    post_window(viewer, "1.1.0", "staging", &shifted)?;
    let report = expect_status(
        &viewer.get(&format!(
            "/models/{MODEL}/drift?version=1.1.0&stage=staging&window=1h"
        ))?,
        200,
        "drift report",
    )?;
    let expected = f
        .profile
        .drift(&merge_samples([&calm, &shifted], REPORT_SAMPLE), 0.5);
    ensure!(report["windows"] == 2 && report["calls"] == 60, "{report}");
    let features = report["features"].as_array().cloned().unwrap_or_default();
    ensure!(features.len() == 4, "{report}");
    for (got, want) in features.iter().zip(&expected.features) {
        let score = got["score"].as_f64().unwrap_or(f64::NAN);
        let want_score = want.score.unwrap_or(f64::NAN);
        ensure!(
            got["name"] == want.name.as_str()
                && (score - want_score).abs() <= 1e-12 * want_score.abs().max(1e-300)
                && got["drifted"] == json!(want.drifted)
                && got["test"] == json!(want.test)
                && got["current_values"] == want.current_values,
            "feature {} differs from the core: {got} vs {want:?}",
            want.name
        );
    }
    ensure!(
        report["dataset"] == serde_json::to_value(&expected.dataset).map_err(|e| format!("{e}"))?,
        "{report}"
    );
    // Amount and distance moved: the dataset drifts.
    ensure!(
        report["dataset"]["drifted"] == true && report["dataset"]["drifted_features"] == 2,
        "{report}"
    );

    // The CLI prints the same report as a table, and can fail a pipeline.
    let (ok, stdout, stderr) = cli(
        &f.keys.config,
        &[
            "drift",
            "report",
            MODEL,
            "--version",
            "1.1.0",
            "--stage",
            "staging",
            "--fail-on-drift",
        ],
    )?;
    ensure!(
        !ok && stdout.contains("DRIFT") && stdout.contains("amount") && stdout.contains("ks"),
        "drift report: {stdout}{stderr}"
    );

    // What a report needs is asked for clearly.
    let detail = expect_problem(
        &viewer.get(&format!("/models/{MODEL}/drift"))?,
        400,
        "no version",
    )?;
    ensure!(detail.contains("?version="), "{detail}");
    let detail = expect_problem(
        &viewer.get(&format!("/models/{MODEL}/drift?version=1.1.0&window=2w"))?,
        400,
        "bad window",
    )?;
    ensure!(detail.contains("15m"), "{detail}");
    let detail = expect_problem(
        &viewer.get(&format!("/models/{MODEL}/drift?version=1.0.0"))?,
        409,
        "no reference",
    )?;
    ensure!(detail.contains("--reference"), "{detail}");
    Ok(())
}

fn trigger_cron(f: &Fixture) -> Result<(), Failed> {
    let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
    ensure!(
        trigger.status == 200,
        "scheduled trigger: {} {}",
        trigger.status,
        trigger.body
    );
    Ok(())
}

/// Checks a received delivery's Standard Webhooks signature with the
/// endpoint's secret, and that a changed body would not pass.
fn verify(secret: &str, d: &Delivery) -> Result<(), Failed> {
    outpost_e2e::receiver::verify_delivery(secret, d).map_err(Failed::from)
}

fn a_failing_canary_is_rolled_back_by_the_cron(f: &Fixture) -> Result<(), Failed> {
    let op = &f.apis["operator"];
    let viewer = &f.apis["viewer"];
    // Guardrails need a canary to watch.
    let detail = expect_problem(
        &op.json(
            "PUT",
            &format!("/models/{MODEL}/stages/production/rollout"),
            &json!({"shadow": "1.1.0", "guardrails": {"max_error_rate": 0.05}}),
        )?,
        422,
        "guardrails without a canary",
    )?;
    ensure!(detail.contains("canary"), "{detail}");
    let detail = expect_problem(
        &op.json(
            "PUT",
            &format!("/models/{MODEL}/stages/production/rollout"),
            &json!({"canary": {"version": "1.1.0", "weight": 2000}, "guardrails": {"max_error_rate": 3}}),
        )?,
        422,
        "error rate over 1",
    )?;
    ensure!(detail.contains("max_error_rate"), "{detail}");

    // The canary through the CLI: 20 % of devices, guarded.
    let (ok, stdout, stderr) = cli(
        &f.keys.config,
        &[
            "rollout",
            "set",
            MODEL,
            "--stage",
            "production",
            "--canary",
            "1.1.0:20",
            "--max-error-rate",
            "0.05",
            "--max-drift-share",
            "0.4",
            "--min-calls",
            "20",
            "--reason",
            "try 1.1.0 on a fifth of devices",
        ],
    )?;
    ensure!(ok, "rollout set: {stdout}{stderr}");

    // No traffic yet: the cron decides nothing.
    trigger_cron(f)?;
    let guard = expect_status(
        &viewer.get(&format!("/models/{MODEL}/stages/production/guardrails"))?,
        200,
        "guardrails",
    )?;
    ensure!(
        guard["canary"] == "1.1.0"
            && guard["verdict"]["verdict"] == "not_enough_data"
            && guard["guardrails"]["max_error_rate"] == 0.05,
        "{guard}"
    );

    // The canary's devices report: 40 calls, 12 failed, inputs drifted. The
    // stable version's reports do not count against the canary.
    post_window(
        viewer,
        "1.1.0",
        "production",
        &window(&f.profile, 300, 40, 12, 1.0),
    )?;
    post_window(
        viewer,
        "1.0.0",
        "production",
        &window(&f.profile, 400, 40, 40, 0.0),
    )?;
    trigger_cron(f)?;

    // Rolled back: stable only again, the shadow-free split restored.
    let rollout = expect_status(
        &viewer.get(&format!("/models/{MODEL}/stages/production/rollout"))?,
        200,
        "rollout after the cron",
    )?;
    ensure!(
        rollout["rollout"]["stable"] == "1.0.0" && rollout["rollout"]["canary"].is_null(),
        "{rollout}"
    );
    let history = expect_status(
        &viewer.get(&format!("/models/{MODEL}/history?stage=production"))?,
        200,
        "history",
    )?;
    let head = history["items"][0].clone();
    let reason = head["reason"].as_str().unwrap_or_default();
    ensure!(
        head["kind"] == "rollback"
            && head["actor"] == "cron"
            && reason.contains("error_rate 0.3 > 0.05")
            && reason.contains("drift_share 0.5 > 0.4"),
        "{head}"
    );
    let audit = expect_status(
        &f.apis["admin"].get("/audit?action=stage.rollback&limit=5")?,
        200,
        "audit",
    )?;
    let entry = audit["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["details"]["guardrail"].is_object()))
        .cloned()
        .ok_or_else(|| format!("no audited guardrail rollback: {audit}"))?;
    let measured = &entry["details"]["guardrail"]["measured"];
    ensure!(
        measured["calls"] == 40
            && measured["errors"] == 12
            && measured["error_rate"] == 0.3
            && measured["drift_share"] == 0.5
            && entry["details"]["guardrail"]["breaches"][0]["metric"] == "error_rate",
        "{entry}"
    );
    // The guardrails ended with the canary.
    expect_problem(
        &viewer.get(&format!("/models/{MODEL}/stages/production/guardrails"))?,
        404,
        "guardrails after the rollback",
    )?;

    // The alert and the rollback reached the receiver, signed.
    let wait = Duration::from_secs(30);
    let tripped = f
        .receiver
        .wait_for("guardrail.tripped", wait)
        .ok_or("no guardrail.tripped delivery")?;
    verify(&f.secret, &tripped)?;
    let data = &tripped.json()["data"];
    ensure!(
        data["model"] == MODEL
            && data["canary"] == "1.1.0"
            && data["measured"]["error_rate"] == 0.3,
        "{data}"
    );
    let rolled_back = f
        .receiver
        .wait_for("stage.rolled_back", wait)
        .ok_or("no stage.rolled_back delivery")?;
    verify(&f.secret, &rolled_back)?;
    ensure!(
        rolled_back.json()["data"]["actor"] == "cron",
        "{}",
        rolled_back.body
    );
    let drift = f
        .receiver
        .wait_for("drift.detected", wait)
        .ok_or("no drift.detected delivery")?;
    verify(&f.secret, &drift)?;
    // Earlier changes were announced as they happened.
    for event in [
        "version.registered",
        "stage.promoted",
        "stage.rollout_changed",
    ] {
        let d = f
            .receiver
            .wait_for(event, wait)
            .ok_or_else(|| format!("no {event} delivery"))?;
        verify(&f.secret, &d)?;
    }
    Ok(())
}

/// Polls the deliveries of `webhook` until `done` holds for one of them.
fn delivery_where(
    api: &Api,
    webhook: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, Failed> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = expect_status(
            &api.get(&format!("/webhooks/{webhook}/deliveries"))?,
            200,
            "deliveries",
        )?;
        if let Some(found) = list["deliveries"]
            .as_array()
            .and_then(|items| items.iter().find(|d| done(d)))
        {
            return Ok(found.clone());
        }
        ensure!(
            Instant::now() < deadline,
            "no delivery reached the expected state: {list}"
        );
        std::thread::yield_now();
    }
}

fn failed_deliveries_are_retried_and_listed(f: &Fixture) -> Result<(), Failed> {
    let admin = &f.apis["admin"];
    // Endpoints are checked: https (http only in development), known events.
    let detail = expect_problem(
        &admin.json(
            "POST",
            "/webhooks",
            &json!({"url": "ftp://example.com/x", "events": ["*"]}),
        )?,
        422,
        "ftp endpoint",
    )?;
    ensure!(detail.contains("https"), "{detail}");
    let detail = expect_problem(
        &admin.json(
            "POST",
            "/webhooks",
            &json!({"url": "https://example.com/x", "events": ["stage.promote"]}),
        )?,
        422,
        "unknown event",
    )?;
    ensure!(detail.contains("stage.promoted"), "{detail}");
    expect_problem(
        &f.apis["operator"].json(
            "POST",
            "/webhooks",
            &json!({"url": "https://example.com/x", "events": ["*"]}),
        )?,
        403,
        "operator registers a webhook",
    )?;

    // A receiver that fails once, then accepts.
    let flaky = WebhookReceiver::start(&[503, 200]).map_err(|e| format!("{e}"))?;
    let created = expect_status(
        &admin.json(
            "POST",
            "/webhooks",
            &json!({"url": flaky.url, "events": ["stage.promoted"]}),
        )?,
        201,
        "flaky webhook",
    )?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    let listed = expect_status(&admin.get("/webhooks")?, 200, "list")?;
    ensure!(
        !listed.to_string().contains("whsec_"),
        "a secret was listed: {listed}"
    );

    expect_status(
        &f.apis["operator"].json(
            "POST",
            &format!("/models/{MODEL}/stages/canary/promote"),
            &json!({"version": "1.0.0"}),
        )?,
        201,
        "promote to canary",
    )?;
    let first = flaky
        .next(Duration::from_secs(30))
        .ok_or("the first attempt never came")?;
    verify(&secret, &first)?;
    ensure!(first.json()["type"] == "stage.promoted", "{}", first.body);
    let pending = delivery_where(admin, &id, |d| d["attempts"] == 1)?;
    ensure!(
        pending["status"] == "pending"
            && pending["response_status"] == 503
            && pending["next_attempt_at"].as_i64().unwrap_or(0)
                - pending["last_attempt_at"].as_i64().unwrap_or(0)
                == 5_000,
        "after one failure the next attempt is 5 s later: {pending}"
    );

    // Let those 5 s pass in the database rather than on the clock, then the
    // cron sends it again, under the same webhook-id.
    f.worker.d1(&format!(
        "UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE id = '{}'",
        pending["id"].as_str().unwrap_or_default()
    ))?;
    trigger_cron(f)?;
    let second = flaky
        .next(Duration::from_secs(30))
        .ok_or("the retry never came")?;
    verify(&secret, &second)?;
    ensure!(
        second.header("webhook-id") == first.header("webhook-id") && second.body == first.body,
        "a retry is the same message"
    );
    let delivered = delivery_where(admin, &id, |d| d["status"] == "delivered")?;
    ensure!(
        delivered["attempts"] == 2 && delivered["response_status"] == 200,
        "{delivered}"
    );

    // Removing the endpoint stops it; the log stays readable until then.
    expect_status(&admin.delete(&format!("/webhooks/{id}"))?, 200, "delete")?;
    let listed = expect_status(&admin.get("/webhooks")?, 200, "list")?;
    ensure!(!listed.to_string().contains(&id), "{listed}");
    let (ok, stdout, stderr) = cli(&f.keys.config, &["webhooks", "list"])?;
    ensure!(ok && stdout.contains(&f.receiver.url), "{stdout}{stderr}");
    Ok(())
}

fn metrics_are_openmetrics_text(f: &Fixture) -> Result<(), Failed> {
    let viewer = &f.apis["viewer"];
    // Seven client calls on `archived` (a stage nothing else reports on), and
    // two Worker-side predictions (the second from the isolate's cache).
    post_window(
        viewer,
        "1.0.0",
        "archived",
        &window(&f.profile, 500, 7, 2, 0.0),
    )?;
    for _ in 0..2 {
        expect_status(
            &viewer.json(
                "POST",
                &format!("/models/{MODEL}/predict?stage=production&device=metrics"),
                &outpost_e2e::transactions(),
            )?,
            200,
            "predict",
        )?;
    }
    // A refused request names a model, but is not counted under the org.
    let refused = outpost_e2e::get(&f.worker.url("/v1/orgs/watch/models/intruder-model/stages"))?;
    ensure!(refused.status == 401, "anonymous: {}", refused.status);
    let reply = viewer.get("/metrics")?;
    ensure!(
        !reply.body.contains("intruder-model"),
        "a refused request made a series"
    );
    ensure!(
        reply.status == 200
            && reply
                .content_type
                .starts_with("application/openmetrics-text"),
        "{} {}",
        reply.status,
        reply.content_type
    );
    let text = &reply.body;
    ensure!(text.ends_with("# EOF\n"), "no # EOF at the end");
    // Every sample belongs to a family declared before it.
    let mut families: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.push(rest.split(' ').next().unwrap_or_default().to_owned());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            ensure!(
                families.iter().any(|f| name.starts_with(f.as_str())),
                "sample without a family: {line}"
            );
            let value = line.rsplit(' ').next().unwrap_or_default();
            ensure!(
                value.parse::<f64>().is_ok() || value == "NaN",
                "bad value: {line}"
            );
        }
    }
    let labels = format!(r#"{{model="{MODEL}",version="1.0.0",stage="archived",source="client"}}"#);
    for (line, want) in [
        (format!("outpost_predictions_total{labels} "), "7"),
        (format!("outpost_prediction_errors_total{labels} "), "2"),
        (format!("outpost_prediction_rows_total{labels} "), "25"),
        (
            format!("outpost_prediction_duration_seconds_count{labels} "),
            "7",
        ),
    ] {
        let got = text
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .ok_or_else(|| format!("no {line}in\n{text}"))?;
        ensure!(got == want, "{line}{got}, expected {want}");
    }
    let hits = text
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                r#"outpost_model_cache_hits_total{{model="{MODEL}""#
            ))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or("no cache hits series")?;
    ensure!(hits >= 1.0, "cache hits {hits}");
    ensure!(
        text.lines().any(|l| l.starts_with(
            r#"outpost_http_requests_total{route="/v1/orgs/:org/models/:model/predict",model="transaction-anomaly",status="2xx""#
        )),
        "no request series for predict"
    );
    Ok(())
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::to_owned)
}

fn old_telemetry_is_compacted_and_still_counted(f: &Fixture) -> Result<(), Failed> {
    let viewer = &f.apis["viewer"];
    // Two windows received in 1970 (long past any report's window), on
    // `development`, which nothing else reports on.
    let insert = |calls: usize, errors: usize, seed: u64| -> Result<(), Failed> {
        let w = window(&f.profile, seed, calls, errors, 0.0);
        let json = serde_json::to_string(&w).map_err(|e| format!("{e}"))?;
        f.worker.d1(&format!(
            "INSERT INTO telemetry_windows (org, model, version, stage, source, received_at, window)
             VALUES ('watch', '{MODEL}', '1.0.0', 'development', 'client', 1000, '{json}')"
        ))?;
        Ok(())
    };
    insert(3, 1, 600)?;
    insert(4, 0, 700)?;
    let labels =
        format!(r#"{{model="{MODEL}",version="1.0.0",stage="development",source="client"}}"#);
    let calls = format!("outpost_predictions_total{labels} ");
    let errors = format!("outpost_prediction_errors_total{labels} ");
    let count = format!("outpost_prediction_duration_seconds_count{labels} ");
    let metrics = || -> Result<String, Failed> {
        let reply = viewer.get("/metrics")?;
        ensure!(
            reply.status == 200,
            "metrics: {} {}",
            reply.status,
            reply.body
        );
        Ok(reply.body)
    };
    let before = metrics()?;
    ensure!(
        sample(&before, &calls).as_deref() == Some("7")
            && sample(&before, &errors).as_deref() == Some("1"),
        "before compaction:\n{before}"
    );

    trigger_cron(f)?;
    let left = f.worker.d1(
        "SELECT count(*) AS n FROM telemetry_windows WHERE org = 'watch' AND stage = 'development'",
    )?;
    ensure!(left[0]["n"] == 0, "old windows were kept: {left:?}");
    let totals = f.worker.d1(
        "SELECT calls, errors, rows, latency FROM telemetry_totals WHERE org = 'watch' AND stage = 'development'",
    )?;
    ensure!(
        totals.len() == 1
            && totals[0]["calls"] == 7
            && totals[0]["errors"] == 1
            && totals[0]["rows"] == 30,
        "{totals:?}"
    );
    // Counters do not go back: the totals still count.
    let after = metrics()?;
    for prefix in [&calls, &errors, &count] {
        ensure!(
            sample(&before, prefix) == sample(&after, prefix),
            "{prefix} changed with compaction:\n{after}"
        );
    }
    // Neither does the all-time performance report.
    let perf = expect_status(
        &viewer.get(&format!("/models/{MODEL}/performance"))?,
        200,
        "performance",
    )?;
    let row = perf["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["stage"] == "development"))
        .cloned()
        .ok_or_else(|| format!("no development row: {perf}"))?;
    ensure!(row["calls"] == 7 && row["errors"] == 1, "{row}");

    // A later compaction adds to the totals.
    insert(2, 2, 800)?;
    trigger_cron(f)?;
    let totals = f.worker.d1(
        "SELECT calls, errors FROM telemetry_totals WHERE org = 'watch' AND stage = 'development'",
    )?;
    ensure!(
        totals[0]["calls"] == 9 && totals[0]["errors"] == 3,
        "{totals:?}"
    );
    let last = metrics()?;
    ensure!(sample(&last, &calls).as_deref() == Some("9"), "{last}");
    Ok(())
}
