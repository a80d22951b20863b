//! Ground truth end to end against a real local Worker: predictions of
//! `fraud-detector@1.2.0` made in the Worker carry prediction ids; outcomes
//! given for them (`POST …/feedback`, idempotent) produce the same quality
//! as scikit-learn on the same labels (the committed vector of
//! `scripts/gen-quality-vectors.py`, 1e-9; ROC AUC within the bound the
//! report states); the CLI gives outcomes and prints quality; device windows
//! merge in once per id; bad feedback is refused and stores nothing; the
//! routes are scoped to the organisation.

use outpost_core::api::QualityView;
use outpost_core::quality::{LabelledOutcome, OutcomeWindow};
use outpost_e2e::receiver::{WebhookReceiver, verify_delivery};
use outpost_e2e::{
    Api, Failed, LocalWorker, ReleaseKeys, WorkerConfig, cli, create_token, ensure, expect_problem,
    expect_status, init_org, register,
};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    /// Receives every event of the organisation; and its secret.
    receiver: WebhookReceiver,
    secret: String,
    admin: Api,
    viewer: Api,
    /// tests/data/quality/fraud-detector.json
    vector: Value,
    /// The prediction ids of the vector's rows, in order, with their row.
    ids: Vec<(String, u32)>,
    /// The top score the Worker gave each of the vector's rows, in order.
    tops: Vec<f64>,
    keys: ReleaseKeys,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    (
        "feedback_gives_scikit_learns_metrics_and_a_monitor_raises_once",
        feedback_gives_scikit_learns_metrics_and_a_monitor_raises_once,
    ),
    ("bad_feedback_stores_nothing", bad_feedback_stores_nothing),
    (
        "device_windows_merge_once_per_id",
        device_windows_merge_once_per_id,
    ),
    (
        "the_cli_gives_outcomes_and_prints_quality",
        the_cli_gives_outcomes_and_prints_quality,
    ),
    (
        "a_canary_worse_than_stable_is_rolled_back_and_an_equal_one_is_not",
        a_canary_worse_than_stable_is_rolled_back_and_an_equal_one_is_not,
    ),
    (
        "a_canary_under_its_f1_floor_is_rolled_back_once_outcomes_suffice",
        a_canary_under_its_f1_floor_is_rolled_back_once_outcomes_suffice,
    ),
];

const MODEL: &str = "fraud-detector";
const CRON: &str = "/__scheduled?cron=*/5+*+*+*+*";

fn main() {
    outpost_e2e::run_suite(
        "quality",
        setup,
        TESTS,
        // Each changes what the others' quality reports count.
        &[
            "feedback_gives_scikit_learns_metrics_and_a_monitor_raises_once",
            "device_windows_merge_once_per_id",
            "the_cli_gives_outcomes_and_prints_quality",
            "a_canary_worse_than_stable_is_rolled_back_and_an_equal_one_is_not",
            "a_canary_under_its_f1_floor_is_rolled_back_once_outcomes_suffice",
        ],
    );
}

fn setup() -> Result<Fixture, Failed> {
    let root = outpost_e2e::repo_root();
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/data/quality/fraud-detector.json"))
            .map_err(|e| format!("{e}"))?,
    )
    .map_err(|e| format!("{e}"))?;
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let admin = init_org(&worker, "truth")?;
    let (_, viewer) = create_token(&admin, "device", "viewer")?;
    let keys = ReleaseKeys::ceremony(&worker, &admin)?;
    let receiver = WebhookReceiver::start(&[200]).map_err(|e| format!("receiver: {e}"))?;
    let created = expect_status(
        &admin.json(
            "POST",
            "/webhooks",
            &json!({"url": receiver.url, "events": ["*"], "description": "monitor events"}),
        )?,
        201,
        "register the webhook",
    )?;
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    expect_status(
        &admin.json("POST", "/models", &json!({"name": MODEL}))?,
        201,
        "create model",
    )?;
    let bytes = std::fs::read(root.join("tests/data/models/fraud-detector-1.2.0.onnx"))
        .map_err(|e| format!("{e}"))?;
    let digest = admin.put_blob(&bytes)?;
    expect_status(
        &register(
            &admin,
            MODEL,
            json!({"version": "1.2.0", "digest": digest, "size": bytes.len(),
                   "metrics": {"f1": 0.9434, "precision": 0.9615, "recall": 0.9259, "auc": 0.9993}}),
        )?,
        201,
        "register",
    )?;
    // 1.2.1: the same artifact again, the canary of the comparison test.
    expect_status(
        &register(
            &admin,
            MODEL,
            json!({"version": "1.2.1", "digest": digest, "size": bytes.len()}),
        )?,
        201,
        "register 1.2.1",
    )?;
    keys.release(MODEL, &["1.2.0", "1.2.1"])?;
    // Its training sample as the reference drift is measured against.
    expect_status(
        &admin.json(
            "PUT",
            &format!("/models/{MODEL}/versions/1.2.0/reference"),
            &outpost_e2e::transactions_reference_profile()?,
        )?,
        201,
        "reference profile",
    )?;
    for stage in ["staging", "production"] {
        expect_status(
            &admin.json(
                "POST",
                &format!("/models/{MODEL}/stages/{stage}/promote"),
                &json!({"version": "1.2.0"}),
            )?,
            201,
            &format!("promote to {stage}"),
        )?;
    }
    // The vector's 200 rows, predicted in the Worker in four calls.
    let rows = vector["inputs"]["X"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut ids = Vec::new();
    let mut predicted = Vec::new();
    let mut tops = Vec::new();
    for chunk in rows.chunks(50) {
        let answer = expect_status(
            &viewer.json(
                "POST",
                &format!("/models/{MODEL}/predict?stage=production&device=till-1"),
                &json!({"X": chunk}),
            )?,
            200,
            "predict",
        )?;
        let id = answer["prediction_id"]
            .as_str()
            .ok_or_else(|| format!("no prediction id: {answer}"))?
            .to_owned();
        for (row, label) in answer["outputs"]["label"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            ids.push((id.clone(), row as u32));
            predicted.push(label.to_string());
        }
        for scores in answer["outputs"]["probabilities"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let top = scores
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_f64).fold(f64::NAN, f64::max))
                .unwrap_or(f64::NAN);
            tops.push(top);
        }
    }
    let want: Vec<String> = vector["predicted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        predicted == want,
        "the Worker predicts what the vector was made with (native tract)"
    );
    ensure!(
        tops.len() == want.len() && tops.iter().all(|t| (0.5..=1.0).contains(t)),
        "a top score per row from the Worker's probabilities: {tops:?}"
    );
    Ok(Fixture {
        worker,
        receiver,
        secret,
        admin,
        viewer,
        vector,
        ids,
        tops,
        keys,
    })
}

fn quality(api: &Api, query: &str) -> Result<QualityView, Failed> {
    let body = expect_status(
        &api.get(&format!("/models/{MODEL}/quality?version=1.2.0{query}"))?,
        200,
        "quality",
    )?;
    serde_json::from_value(body.clone()).map_err(|e| format!("{e}: {body}").into())
}

fn close(got: f64, want: &Value, what: &str) -> Result<(), Failed> {
    let want = want
        .as_f64()
        .ok_or_else(|| format!("{what}: no expected value"))?;
    ensure!(
        (got - want).abs() <= 1e-9,
        "{what}: {got} vs scikit-learn {want}"
    );
    Ok(())
}

fn feedback_gives_scikit_learns_metrics_and_a_monitor_raises_once(
    f: &Fixture,
) -> Result<(), Failed> {
    let actual = f.vector["actual"].as_array().cloned().unwrap_or_default();
    let outcomes: Vec<Value> = f
        .ids
        .iter()
        .zip(&actual)
        .map(|((id, row), label)| json!({"prediction_id": id, "row": row, "label": label}))
        .collect();
    let (first, rest) = outcomes.split_at(120);
    let accepted = expect_status(
        &f.viewer.json(
            "POST",
            &format!("/models/{MODEL}/feedback"),
            &json!({"outcomes": first}),
        )?,
        202,
        "feedback",
    )?;
    ensure!(
        accepted == json!({"accepted": 120, "duplicates": 0}),
        "{accepted}"
    );
    // The rest, with the first 20 again (a retry): counted once.
    let mut again: Vec<Value> = first[..20].to_vec();
    again.extend_from_slice(rest);
    let accepted = expect_status(
        &f.viewer.json(
            "POST",
            &format!("/models/{MODEL}/feedback"),
            &json!({"outcomes": again}),
        )?,
        202,
        "feedback",
    )?;
    ensure!(
        accepted == json!({"accepted": 80, "duplicates": 20}),
        "{accepted}"
    );

    let view = quality(&f.viewer, "&window=1h&stage=production")?;
    let want = &f.vector["expected"];
    let q = &view.quality;
    ensure!(view.feedback == 200 && q.outcomes == 200, "{view:?}");
    close(q.accuracy.unwrap_or(-1.0), &want["accuracy"], "accuracy")?;
    for class in &q.classes {
        let w = &want["classes"][&class.class];
        close(
            class.precision,
            &w["precision"],
            &format!("{} precision", class.class),
        )?;
        close(
            class.recall,
            &w["recall"],
            &format!("{} recall", class.class),
        )?;
        close(class.f1, &w["f1"], &format!("{} f1", class.class))?;
        let (auc, bound) = (
            class.roc_auc.unwrap_or(-1.0),
            class.roc_auc_error.unwrap_or(0.0),
        );
        let exact = w["roc_auc"].as_f64().unwrap_or(-2.0);
        ensure!(
            (auc - exact).abs() <= bound + 1e-12,
            "{} AUC {auc} vs scikit-learn {exact}: more than the stated bound {bound}",
            class.class
        );
    }
    let m = q.macro_avg.as_ref().ok_or("no macro average")?;
    close(m.precision, &want["macro"]["precision"], "macro precision")?;
    close(m.recall, &want["macro"]["recall"], "macro recall")?;
    close(m.f1, &want["macro"]["f1"], "macro f1")?;
    close(
        q.calibration_error.unwrap_or(-1.0),
        &want["calibration_error"],
        "calibration error",
    )?;
    let c = q.confidence.as_ref().ok_or("no confidence")?;
    close(c.mean_top_score, &want["mean_top_score"], "mean top score")?;
    close(c.mean_entropy, &want["mean_entropy"], "mean entropy")?;
    // The positive rate, from the rows the vector says were predicted "1".
    let predicted_fraud = f.vector["predicted"]
        .as_array()
        .map(|p| p.iter().filter(|l| *l == "1").count())
        .unwrap_or(0);
    ensure!(
        q.positive_class.as_deref() == Some("1")
            && (q.positive_rate.unwrap_or(-1.0) - predicted_fraud as f64 / 200.0).abs() <= 1e-12,
        "positive rate {:?} of {:?}, {predicted_fraud} of 200 predicted 1",
        q.positive_rate,
        q.positive_class
    );
    // Confidence at a threshold the request sets, against the top scores the
    // Worker gave: the share below it exactly, each quantile the 1/100 bin
    // holding the order statistic x_(⌈q·n⌉).
    let mut tops = f.tops.clone();
    tops.sort_by(f64::total_cmp);
    for low in [0.9, 0.99] {
        let view = quality(&f.viewer, &format!("&window=1h&stage=production&low={low}"))?;
        let c = view.quality.confidence.ok_or("no confidence")?;
        let below = tops.iter().filter(|&&t| t < low).count();
        ensure!(
            c.scored == 200
                && (c.low_threshold - low).abs() < 1e-12
                && (c.low_rate - below as f64 / 200.0).abs() <= 1e-12,
            "low={low}: {c:?}, {below} of 200 top scores below"
        );
        for (q, edge) in [(0.1, c.p10), (0.5, c.p50), (0.9, c.p90)] {
            let x = tops[((q * 200.0_f64).ceil() as usize).max(1) - 1];
            ensure!(
                x < edge + 1e-12 && x >= edge - 0.01 - 1e-12,
                "quantile {q}: bin ending {edge}, x = {x}"
            );
        }
    }
    // Beside what the version was registered with (the positive class's F1).
    let f1 = view
        .registered
        .iter()
        .find(|r| r.metric == "f1")
        .ok_or("no registered f1")?;
    close(f1.measured, &want["classes"]["1"]["f1"], "measured f1")?;
    ensure!((f1.registered - 0.9434).abs() < 1e-12, "{f1:?}");
    // Another stage saw none of it.
    ensure!(
        quality(&f.viewer, "&stage=staging")?.quality.outcomes == 0,
        "staging"
    );
    monitor_raises_once_per_episode(f)
}

/// A monitor on production whose inputs drift and whose F1 falls: F1 (0.6
/// on the vector) under its 0.9 floor is a quality episode, the drifted
/// amounts and distances a drift episode, and both recommend retraining —
/// each announced once by signed webhooks however often the cron checks.
fn monitor_raises_once_per_episode(f: &Fixture) -> Result<(), Failed> {
    // Transactions unlike the training sample: larger amounts, farther away.
    let rows = f.vector["inputs"]["X"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shifted: Vec<Value> = rows
        .iter()
        .map(|r| {
            let x: Vec<f64> = r
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            json!([x[0] * 6.0 + 500.0, x[1], x[2] + 400.0, x[3]])
        })
        .collect();
    for chunk in shifted.chunks(50) {
        expect_status(
            &f.viewer.json(
                "POST",
                &format!("/models/{MODEL}/predict?stage=production&device=till-2"),
                &json!({"X": chunk}),
            )?,
            200,
            "drifted predictions",
        )?;
    }
    let path = format!("/models/{MODEL}/stages/production/monitor");
    // A low-confidence line the vector's outcomes cross: half the share of
    // top scores under 0.99 that the Worker gave them.
    let unsure = f.tops.iter().filter(|&&t| t < 0.99).count() as f64 / 200.0;
    ensure!(unsure > 0.0, "no top score under 0.99: {:?}", f.tops);
    // A viewer may read it but not set it.
    let policy = json!({"min_f1": 0.9, "max_drift_share": 0.3, "max_error_rate": 0.5,
                        "low_confidence": 0.99, "max_low_confidence_rate": unsure / 2.0,
                        "min_calls": 4, "min_outcomes": 50, "window": "1h"});
    expect_problem(
        &f.viewer.json("PUT", &path, &policy)?,
        403,
        "viewer sets a monitor",
    )?;
    expect_problem(
        &f.admin.json("PUT", &path, &json!({"min_f1": 1.5}))?,
        422,
        "a floor above 1",
    )?;
    let set = expect_status(&f.admin.json("PUT", &path, &policy)?, 200, "set monitor")?;
    ensure!(set["checked_at"].is_null(), "{set}");
    for _ in 0..2 {
        let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
        ensure!(trigger.status == 200, "cron: {}", trigger.status);
    }
    let view = expect_status(&f.viewer.get(&path)?, 200, "monitor")?;
    let kinds = &view["episodes"]["1.2.0"];
    ensure!(
        *kinds == json!(["drift", "quality", "confidence", "retraining"]),
        "episodes: {view}"
    );
    let signals = view["last"][0]["evaluation"]["signals"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        signals
            .iter()
            .any(|s| s["metric"] == "f1" && s["threshold"] == 0.9)
            && signals
                .iter()
                .any(|s| s["metric"] == "drift_share" && s["threshold"] == 0.3)
            && signals.iter().any(|s| s["metric"] == "low_confidence_rate"
                && (s["measured"].as_f64().unwrap_or(-1.0) - unsure).abs() <= 1e-12),
        "{view}"
    );
    let history = expect_status(
        &f.viewer.get(&format!("{path}/history"))?,
        200,
        "monitor history",
    )?;
    let raised: Vec<&Value> = history["checks"]
        .as_array()
        .map(|c| c.iter().map(|c| &c["raised"]).collect())
        .unwrap_or_default();
    let all = json!([
        "drift.detected",
        "quality.degraded",
        "confidence.low",
        "retraining.recommended"
    ]);
    ensure!(
        raised == [&json!([]), &all],
        "two checks, newest first, the first raising all four: {history}"
    );
    for event in [
        "drift.detected",
        "quality.degraded",
        "confidence.low",
        "retraining.recommended",
    ] {
        let delivery = f
            .receiver
            .wait_for(event, std::time::Duration::from_secs(20))
            .ok_or_else(|| format!("no {event} delivered"))?;
        verify_delivery(&f.secret, &delivery)?;
        let body = delivery.json();
        ensure!(
            body["data"]["model"] == MODEL && body["data"]["version"] == "1.2.0",
            "{body}"
        );
    }
    // Exactly once: a third check sends nothing new.
    let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
    ensure!(trigger.status == 200, "cron: {}", trigger.status);
    while f
        .receiver
        .next(std::time::Duration::from_millis(500))
        .is_some()
    {}
    let log = f.receiver.log.lock().map_err(|e| format!("{e}"))?;
    for event in [
        "drift.detected",
        "quality.degraded",
        "confidence.low",
        "retraining.recommended",
    ] {
        let sent = log.iter().filter(|d| d.json()["type"] == event).count();
        ensure!(sent == 1, "{event} delivered {sent} times");
    }
    // And as OpenMetrics series.
    let metrics = f.admin.get("/metrics")?;
    for line in [
        r#"outpost_monitor_signal{model="fraud-detector",stage="production",version="1.2.0",signal="quality"} 1"#,
        r#"outpost_monitor_signal{model="fraud-detector",stage="production",version="1.2.0",signal="retraining"} 1"#,
        r#"outpost_monitor_signal{model="fraud-detector",stage="production",version="1.2.0",signal="drift"} 1"#,
        r#"outpost_monitor_signal{model="fraud-detector",stage="production",version="1.2.0",signal="confidence"} 1"#,
    ] {
        ensure!(
            metrics.body.contains(line),
            "no {line} in\n{}",
            metrics.body
        );
    }
    let alerts = expect_status(&f.admin.get("/audit?action=monitor.alert")?, 200, "audit")?;
    ensure!(
        alerts["items"].as_array().map(Vec::len) == Some(1),
        "one audit entry: {alerts}"
    );
    // The same from the CLI: the open episodes, and the three checks.
    let (_dir, config) = cli_config(f, &f.viewer)?;
    let (ok, out, err) = cli(&config, &["monitor", "show", MODEL])?;
    ensure!(
        ok && out.contains("last checked")
            && out.contains(
                "1.2.0: open episodes: drift.detected, quality.degraded, confidence.low, retraining.recommended"
            ),
        "monitor show: {out}{err}"
    );
    let (ok, out, err) = cli(&config, &["--json", "monitor", "history", MODEL])?;
    let checks: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}{err}"))?;
    ensure!(
        ok && checks["checks"].as_array().map(Vec::len) == Some(3),
        "three checks: {out}{err}"
    );
    Ok(())
}

/// A CLI configuration file for `api`'s token on this Worker.
fn cli_config(f: &Fixture, api: &Api) -> Result<(tempfile::TempDir, std::path::PathBuf), Failed> {
    outpost_e2e::cli_profile(&f.worker, api)
}

fn bad_feedback_stores_nothing(f: &Fixture) -> Result<(), Failed> {
    let (id, _) = &f.ids[0];
    let before = quality(&f.admin, "")?.feedback;
    for (body, says) in [
        (
            json!({"outcomes": [{"prediction_id": id, "row": 60, "label": 1}]}),
            "has rows 0 to 49, not 60",
        ),
        (
            json!({"outcomes": [{"prediction_id": "pred_000000000000000000000000", "label": 1}]}),
            "no prediction",
        ),
        (
            json!({"outcomes": [{"prediction_id": id, "row": 1, "label": {"x": 1}}]}),
            "label must be text",
        ),
        (json!({"outcomes": []}), "give 1 to 1000 outcomes"),
    ] {
        let detail = expect_problem(
            &f.viewer
                .json("POST", &format!("/models/{MODEL}/feedback"), &body)?,
            422,
            "bad feedback",
        )?;
        ensure!(detail.contains(says), "{detail:?} should say {says:?}");
    }
    ensure!(
        quality(&f.admin, "")?.feedback == before,
        "nothing was stored"
    );
    // Another organisation's token cannot give outcomes here or read quality.
    let intruder = init_org(&f.worker, "intruder")?;
    let other = Api {
        org: "truth".into(),
        ..intruder
    };
    expect_problem(
        &other.json(
            "POST",
            &format!("/models/{MODEL}/feedback"),
            &json!({"outcomes": [{"prediction_id": id, "label": 1}]}),
        )?,
        403,
        "cross-organisation feedback",
    )?;
    expect_problem(
        &other.get(&format!("/models/{MODEL}/quality?version=1.2.0"))?,
        403,
        "cross-organisation quality",
    )?;
    Ok(())
}

fn device_windows_merge_once_per_id(f: &Fixture) -> Result<(), Failed> {
    let before = quality(&f.viewer, "")?;
    let mut window = OutcomeWindow::default();
    for (actual, predicted, value) in [("1", "1", 40.0), ("1", "0", -40.0), ("0", "0", 0.0)] {
        window
            .observe(&LabelledOutcome {
                actual: actual.into(),
                predicted: predicted.into(),
                scores: None,
                value: Some(value),
            })
            .map_err(|e| format!("{e}"))?;
    }
    let report = json!({"version": "1.2.0", "stage": "production", "id": "kiosk-7:2026-11-30T10", "window": window});
    let stored = expect_status(
        &f.viewer
            .json("POST", &format!("/models/{MODEL}/outcomes"), &report)?,
        202,
        "outcomes",
    )?;
    ensure!(stored == json!({"stored": true, "outcomes": 3}), "{stored}");
    let again = expect_status(
        &f.viewer
            .json("POST", &format!("/models/{MODEL}/outcomes"), &report)?,
        202,
        "outcomes again",
    )?;
    ensure!(again["stored"] == false, "{again}");
    let after = quality(&f.viewer, "")?;
    ensure!(
        after.quality.outcomes == before.quality.outcomes + 3
            && after.reported_windows == before.reported_windows + 1
            && after.quality.value_count == before.quality.value_count + 3,
        "before {before:?}\nafter {after:?}"
    );
    // A window whose bins are not the core's is refused.
    let mut bad = report.clone();
    bad["id"] = json!("kiosk-7:bad");
    bad["window"]["confidence"]["top"] = json!([1, 2]);
    let detail = expect_problem(
        &f.viewer
            .json("POST", &format!("/models/{MODEL}/outcomes"), &bad)?,
        422,
        "bad window",
    )?;
    ensure!(detail.contains("confidence.top has 2 bins"), "{detail}");
    Ok(())
}

fn the_cli_gives_outcomes_and_prints_quality(f: &Fixture) -> Result<(), Failed> {
    let (dir, config) = cli_config(f, &f.viewer)?;
    let _ = &f.keys;
    // A fresh prediction through the CLI, its id printed, an outcome given.
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"X": [[2400.0, 3.0, 800.0, 0.9]]}"#).map_err(|e| format!("{e}"))?;
    let (ok, out, err) = cli(
        &config,
        &[
            "--json",
            "predict",
            &format!("truth/{MODEL}@production"),
            "--input",
            &input.to_string_lossy(),
        ],
    )?;
    ensure!(ok, "predict: {out}{err}");
    let answer: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    let id = answer["prediction_id"].as_str().ok_or("no prediction id")?;
    let (ok, out, err) = cli(
        &config,
        &[
            "feedback",
            MODEL,
            "--prediction",
            id,
            "--label",
            "1",
            "--value",
            "120.5",
        ],
    )?;
    ensure!(
        ok && out.contains("stored 1 outcomes"),
        "feedback: {out}{err}"
    );
    let (ok, out, _) = cli(
        &config,
        &["feedback", MODEL, "--prediction", id, "--label", "1"],
    )?;
    ensure!(
        ok && out.contains("stored 0 outcomes") && out.contains("1 given before"),
        "{out}"
    );
    let (ok, out, err) = cli(
        &config,
        &["quality", MODEL, "--version", "1.2.0", "--window", "1h"],
    )?;
    ensure!(
        ok && out.contains("accuracy")
            && out.contains("ROC AUC")
            && out.contains("REGISTERED")
            && out.contains("business value: 120.5"),
        "quality: {out}{err}"
    );
    // Monitors from the CLI: none on staging (it says how to set one), and a
    // viewer may not set one.
    let (ok, out, err) = cli(&config, &["monitor", "show", MODEL, "--stage", "staging"])?;
    ensure!(
        !ok && err.contains("has no monitor; set one with `outpost monitor set"),
        "monitor show: {out}{err}"
    );
    let (ok, out, err) = cli(
        &config,
        &[
            "monitor", "set", MODEL, "--stage", "staging", "--min-f1", "0.9",
        ],
    )?;
    ensure!(!ok && !err.is_empty(), "a viewer set a monitor: {out}{err}");
    let (ok, out, err) = cli(
        &config,
        &[
            "monitor", "set", MODEL, "--stage", "staging", "--min-f1", "9",
        ],
    )?;
    ensure!(
        !ok && err.contains("min_f1 must be between 0 and 1"),
        "checked before sending: {out}{err}"
    );
    // An admin sets one on staging (a line nothing there can cross), with
    // retraining never recommended for quality alone, and reads it back.
    let (_admin_dir, admin_config) = cli_config(f, &f.admin)?;
    let (ok, out, err) = cli(
        &admin_config,
        &[
            "monitor",
            "set",
            MODEL,
            "--stage",
            "staging",
            "--min-recall",
            "0",
            "--no-retrain-on-quality",
        ],
    )?;
    ensure!(
        ok && out.contains("monitor set on fraud-detector@staging"),
        "monitor set: {out}{err}"
    );
    let (ok, out, err) = cli(
        &admin_config,
        &["--json", "monitor", "show", MODEL, "--stage", "staging"],
    )?;
    let view: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}{err}"))?;
    ensure!(
        ok && view["policy"]["min_recall"] == 0.0
            && view["policy"]["retrain_when"]["on_quality"] == false,
        "monitor show: {view}"
    );
    // An unknown prediction: a clear error and a non-zero exit.
    let (ok, out, err) = cli(
        &config,
        &[
            "feedback",
            MODEL,
            "--prediction",
            "pred_nope",
            "--label",
            "1",
        ],
    )?;
    ensure!(
        !ok && err.contains("no prediction `pred_nope`"),
        "{out}{err}"
    );
    Ok(())
}

/// A client-reported window of `calls` calls, `errors` of them failed.
fn calls(calls: u64, errors: u64) -> outpost_core::telemetry::TelemetryWindow {
    let mut w = outpost_core::telemetry::TelemetryWindow::new(vec![]);
    for i in 0..calls {
        if i < errors {
            w.record_error(2_000.0);
        } else {
            w.record_call(&[], 0, 2_000.0);
        }
    }
    w
}

fn report_calls(f: &Fixture, version: &str, n: u64, errors: u64) -> Result<(), Failed> {
    expect_status(
        &f.viewer.json(
            "POST",
            &format!("/models/{MODEL}/telemetry"),
            &json!({"version": version, "stage": "staging", "window": calls(n, errors)}),
        )?,
        202,
        "telemetry",
    )?;
    Ok(())
}

/// The always-valid comparison of a canary with the stable arm
/// (`outpost_core::sequential`): equal error rates are left alone however
/// often the cron looks; a canary clearly worse than stable is rolled back
/// though it crosses no fixed line.
fn a_canary_worse_than_stable_is_rolled_back_and_an_equal_one_is_not(
    f: &Fixture,
) -> Result<(), Failed> {
    let rollout = format!("/models/{MODEL}/stages/staging/rollout");
    expect_status(
        &f.admin.json(
            "PUT",
            &rollout,
            &json!({"canary": {"version": "1.2.1", "weight": 5000},
                    "guardrails": {"compare_with_stable": 0.05, "min_calls": 30},
                    "reason": "compare 1.2.1 with 1.2.0"}),
        )?,
        201,
        "guarded rollout",
    )?;
    // Equal: 3 % and 3 %, looked at three times.
    for _ in 0..3 {
        report_calls(f, "1.2.1", 200, 6)?;
        report_calls(f, "1.2.0", 200, 6)?;
        let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
        ensure!(trigger.status == 200, "cron: {}", trigger.status);
    }
    let status = expect_status(
        &f.viewer
            .get(&format!("/models/{MODEL}/stages/staging/guardrails"))?,
        200,
        "guardrails",
    )?;
    ensure!(
        status["verdict"]["verdict"] == "healthy" && status["canary"] == "1.2.1",
        "an equal canary is left alone: {status}"
    );
    // Worse: the canary fails 20 % of its next calls, stable 3 %. Its
    // overall rate (about 8 %) crosses no fixed line that was set.
    report_calls(f, "1.2.1", 400, 80)?;
    report_calls(f, "1.2.0", 400, 12)?;
    let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
    ensure!(trigger.status == 200, "cron: {}", trigger.status);
    let history = expect_status(
        &f.viewer
            .get(&format!("/models/{MODEL}/history?stage=staging&limit=1"))?,
        200,
        "history",
    )?;
    let entry = &history["items"][0];
    ensure!(
        entry["kind"] == "rollback"
            && entry["actor"] == "cron"
            && entry["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("error rate worse than stable's"),
        "a worse canary is rolled back: {entry}"
    );
    let stage = expect_status(
        &f.viewer.get(&format!("/models/{MODEL}/stages/staging"))?,
        200,
        "staging",
    )?;
    ensure!(
        stage["state"]["targets"].as_array().map(Vec::len) == Some(1)
            && stage["version"] == "1.2.0",
        "{stage}"
    );
    Ok(())
}

/// A device window of `n` outcomes of the positive class `1`'s predictions:
/// `right` of them right, the others actually `0`.
fn predicted_positive(n: usize, right: usize) -> Result<OutcomeWindow, Failed> {
    let mut window = OutcomeWindow::default();
    for i in 0..n {
        let actual = if i < right { "1" } else { "0" };
        window
            .observe(&LabelledOutcome {
                actual: actual.into(),
                predicted: "1".into(),
                scores: None,
                value: None,
            })
            .map_err(|e| format!("{e}"))?;
    }
    Ok(window)
}

fn report_outcome_window(f: &Fixture, id: &str, window: &OutcomeWindow) -> Result<(), Failed> {
    expect_status(
        &f.viewer.json(
            "POST",
            &format!("/models/{MODEL}/outcomes"),
            &json!({"version": "1.2.1", "stage": "staging", "id": id, "window": window}),
        )?,
        202,
        "outcome window",
    )?;
    Ok(())
}

/// Guardrails with an F1 floor: outcomes devices report for the canary's
/// predictions since the rollout began are its evidence. Under
/// `min_outcomes` the floor waits; once they suffice, an F1 under it rolls
/// the canary back (actor cron, the measured F1 in the reason).
fn a_canary_under_its_f1_floor_is_rolled_back_once_outcomes_suffice(
    f: &Fixture,
) -> Result<(), Failed> {
    let rollout = format!("/models/{MODEL}/stages/staging/rollout");
    expect_status(
        &f.admin.json(
            "PUT",
            &rollout,
            &json!({"canary": {"version": "1.2.1", "weight": 5000},
                    "guardrails": {"min_f1": 0.8, "min_outcomes": 20, "min_calls": 30},
                    "reason": "hold 1.2.1 to an F1 of 0.8"}),
        )?,
        201,
        "rollout with an F1 floor",
    )?;
    report_calls(f, "1.2.1", 60, 0)?;
    // 10 outcomes, F1 ≈ 0.667 (precision 0.5, recall 1): too few to judge.
    report_outcome_window(f, "gateway-3:first", &predicted_positive(10, 5)?)?;
    let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
    ensure!(trigger.status == 200, "cron: {}", trigger.status);
    let status = expect_status(
        &f.viewer
            .get(&format!("/models/{MODEL}/stages/staging/guardrails"))?,
        200,
        "guardrails",
    )?;
    ensure!(
        status["canary"] == "1.2.1" && status["verdict"]["verdict"] == "healthy",
        "under min_outcomes the floor waits: {status}"
    );
    // 20 more at the same rate: 30 outcomes, F1 = 2·0.5·1/(0.5+1) ≈ 0.667.
    report_outcome_window(f, "gateway-3:second", &predicted_positive(20, 10)?)?;
    let trigger = outpost_e2e::get(&f.worker.url(CRON))?;
    ensure!(trigger.status == 200, "cron: {}", trigger.status);
    let history = expect_status(
        &f.viewer
            .get(&format!("/models/{MODEL}/history?stage=staging&limit=1"))?,
        200,
        "history",
    )?;
    let entry = &history["items"][0];
    let reason = entry["reason"].as_str().unwrap_or_default();
    ensure!(
        entry["kind"] == "rollback"
            && entry["actor"] == "cron"
            && reason.contains("f1")
            && reason.contains("0.66"),
        "a canary under its F1 floor is rolled back: {entry}"
    );
    Ok(())
}
