//! The web console (`web/console`) in headless Chromium against a real local
//! Worker seeded with the demo organisation the way `scripts/dev.sh` seeds
//! it (`scripts/seed-demo.mjs`): the browser run in
//! `tests/e2e/js/console.mjs` signs in, finds a model by tag, compares three
//! versions, promotes one to staging and rolls it back, meets a refused gate,
//! opens the drift chart and the audit chain, and signs in as a viewer. Each
//! thing the page shows is checked against what the API says. Screenshots
//! land in `tests/artifacts/`.

use std::path::PathBuf;

use outpost_e2e::{
    Api, Failed, LocalWorker, WorkerConfig, create_token, ensure, expect_problem, expect_status,
    node,
};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    admin: Api,
    viewer: Api,
    _keys: tempfile::TempDir,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[(
    "console_in_chromium_answers_and_acts_through_the_api",
    console_in_chromium_answers_and_acts_through_the_api,
)];

fn main() {
    // One test, which alters an audit row in local D1 at its end.
    outpost_e2e::run_suite(
        "console",
        setup,
        TESTS,
        &["console_in_chromium_answers_and_acts_through_the_api"],
    );
}

fn root() -> PathBuf {
    outpost_e2e::repo_root()
}

fn setup() -> Result<Fixture, Failed> {
    for built in ["web/console/app.js", "web/console/verify/outpost_client.js"] {
        ensure!(
            root().join(built).exists(),
            "{built} is missing: run scripts/build-console.sh (scripts/test.sh does) before these tests"
        );
    }
    outpost_e2e::outpost_bin()?;
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let keys = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let token_file = keys.path().join("demo-token");
    let (ok, output) = node(
        &[
            "scripts/seed-demo.mjs",
            &worker.base_url,
            &worker.bootstrap_secret,
            &token_file.to_string_lossy(),
        ],
        &[(
            "OUTPOST_DEMO_KEYS",
            keys.path().join("keys").to_string_lossy().into_owned(),
        )],
    )?;
    ensure!(ok, "seeding the demo organisation failed:\n{output}");
    let token = std::fs::read_to_string(&token_file).map_err(|e| format!("{e}"))?;
    let admin = Api {
        base: worker.base_url.clone(),
        org: "demo".into(),
        token: token.trim().to_owned(),
    };
    let (_, viewer) = create_token(&admin, "console-viewer", "viewer")?;
    Ok(Fixture {
        worker,
        admin,
        viewer,
        _keys: keys,
    })
}

/// Runs `tests/e2e/js/console.mjs` (with `extra` arguments) and returns its report.
fn browser(f: &Fixture, prefix: &str, extra: &[&str]) -> Result<Value, Failed> {
    let mut args = vec![
        "tests/e2e/js/console.mjs",
        &f.worker.base_url,
        &f.admin.token,
        &f.viewer.token,
        prefix,
    ];
    args.extend_from_slice(extra);
    let (ok, output) = node(&args, &[])?;
    ensure!(ok, "the browser run failed:\n{output}");
    let report: Value = output
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .ok_or_else(|| format!("no report:\n{output}"))
        .and_then(|line| serde_json::from_str(line).map_err(|e| format!("{e}: {line}")))?;
    Ok(report)
}

fn texts(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn console_in_chromium_answers_and_acts_through_the_api(f: &Fixture) -> Result<(), Failed> {
    let artifacts = root().join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{e}"))?;
    // Screenshots of an earlier run go first: what is there is this run's.
    for entry in std::fs::read_dir(&artifacts).map_err(|e| format!("{e}"))? {
        let path = entry.map_err(|e| format!("{e}"))?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("console-"))
        {
            std::fs::remove_file(&path).map_err(|e| format!("{e}"))?;
        }
    }
    let prefix = artifacts.join("console").to_string_lossy().into_owned();
    // What production runs, and the move that put it there, before the
    // browser touches anything.
    let production = expect_status(
        &f.admin.get("/models/fraud-detector/stages/production")?,
        200,
        "production",
    )?;
    let history = expect_status(
        &f.admin
            .get("/models/fraud-detector/history?stage=production&limit=1")?,
        200,
        "history",
    )?;
    // The console's pages may load nothing from elsewhere and not be framed.
    let page = outpost_e2e::get(&f.worker.url("/console/"))?;
    let policy = page
        .header("content-security-policy")
        .unwrap_or_default()
        .to_owned();
    ensure!(
        page.status == 200
            && policy.contains("default-src 'self'")
            && policy.contains("frame-ancestors 'none'"),
        "console headers: {} {policy:?}",
        page.status
    );
    let report = browser(f, &prefix, &[])?;
    ensure!(
        report["failure"].is_null(),
        "the browser run stopped: {}\n{report:#}",
        report["failure"]
    );
    let steps = &report["steps"];
    ensure!(
        report["errors"].as_array().is_some_and(Vec::is_empty),
        "errors in the page: {}",
        report["errors"]
    );
    // The only answers that were not a success are the refused gate's and the
    // refused policy's (both on purpose).
    // The pickle has no reference profile: asking for it is how the page knows.
    // A stage without a monitor answers 404 (asking is how the page knows).
    let failed: Vec<String> = texts(&report["failed"])
        .into_iter()
        .filter(|f| !(f.starts_with("GET ") && f.ends_with("/monitor 404")))
        .collect();
    let gate = "POST /v1/orgs/demo/models/fraud-detector/stages/production/promote";
    ensure!(
        failed.len() == 3
            && failed[0].starts_with(gate)
            && failed[1] == "GET /v1/orgs/demo/models/legacy-scorer/versions/0.1.0/reference 404"
            && failed[2] == "PUT /v1/orgs/demo/models/legacy-scorer/policy 422",
        "failed requests: {failed:?}"
    );
    // The token never travels in a URL, and lives only in sessionStorage.
    for url in texts(&report["requests"]) {
        ensure!(
            !url.contains(&f.admin.token) && !url.contains(&f.viewer.token),
            "a token in a URL: {url}"
        );
    }
    let signed = &steps["signedIn"];
    ensure!(
        signed["models"] == 4
            && signed["local"] == 0
            && signed["who"].as_str().unwrap_or_default().contains("admin")
            && texts(&signed["stored"])
                .iter()
                .all(|k| k.starts_with("outpost.console.")),
        "signed in: {signed}"
    );

    // Found by tag, through the registry's search, and the filter is in the URL.
    let by_tag = &steps["byTag"];
    ensure!(
        texts(&by_tag["names"]) == ["fraud-detector"]
            && by_tag["hash"]
                .as_str()
                .unwrap_or_default()
                .contains("tag=prod-ready"),
        "by tag: {by_tag}"
    );
    let tagged = expect_status(
        &f.admin
            .get("/versions?tag=prod-ready&model=fraud-detector")?,
        200,
        "search",
    )?;
    let matching = texts(&by_tag["matching"]).join(" ");
    for v in tagged["items"].as_array().cloned().unwrap_or_default() {
        let version = v["version"].as_str().unwrap_or_default();
        ensure!(matching.contains(version), "{version} not in {matching}");
    }

    // What runs in production, since when, who put it there, how it does.
    let shown = &steps["production"];
    let runs = production["version"].as_str().unwrap_or_default();
    ensure!(
        shown["runs"] == runs,
        "production shown {shown} vs {production}"
    );
    let last = &history["items"][0];
    let since = shown["since"].as_str().unwrap_or_default();
    for part in [
        last["actor"].as_str().unwrap_or("?"),
        last["reason"].as_str().unwrap_or("?"),
        last["kind"].as_str().unwrap_or("?"),
    ] {
        ensure!(
            since.contains(part),
            "since: {since:?} lacks {part:?} ({last})"
        );
    }
    let performance = expect_status(
        &f.admin.get("/models/fraud-detector/performance")?,
        200,
        "performance",
    )?;
    let row = performance["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["stage"] == "production" && r["version"] == runs)
        })
        .cloned()
        .ok_or_else(|| format!("no production calls: {performance}"))?;
    let health = texts(&shown["health"]).join("\n");
    ensure!(
        health.contains(&format!("\t{}\t", row["calls"])),
        "health {health:?} vs {row}"
    );
    ensure!(
        steps["lineageEdges"] == 2,
        "lineage: {}",
        steps["lineageEdges"]
    );
    // The seeded monitor on production, checked by the seed's cron run.
    let monitor = steps["monitor"].as_str().unwrap_or_default();
    ensure!(
        monitor.starts_with("Monitor, checked"),
        "monitor line: {monitor:?}"
    );

    // Three versions side by side, the best of each metric marked as the API says.
    let compare = &steps["compare"];
    let api = expect_status(
        &f.admin
            .get("/compare?v=fraud-detector@1.0.0&v=fraud-detector@1.1.0&v=fraud-detector@1.2.0")?,
        200,
        "compare",
    )?;
    let columns = texts(&compare["columns"]);
    ensure!(
        columns[1..] == ["1.0.0", "1.1.0", "1.2.0"],
        "columns: {columns:?}"
    );
    // Every version that reaches a metric's best value is marked (ties too).
    let versions = api["versions"].as_array().cloned().unwrap_or_default();
    let value_of = |reference: &str, metric: &str| {
        versions
            .iter()
            .find(|v| {
                format!(
                    "{}@{}",
                    v["model"].as_str().unwrap_or(""),
                    v["version"].as_str().unwrap_or("")
                ) == reference
            })
            .map(|v| v["metrics"][metric].clone())
    };
    let marks: u64 = api["best"]
        .as_object()
        .map(|best| {
            best.iter()
                .map(|(metric, winner)| {
                    let top = value_of(winner.as_str().unwrap_or(""), metric);
                    versions
                        .iter()
                        .filter(|v| {
                            !v["metrics"][metric].is_null()
                                && Some(v["metrics"][metric].clone()) == top
                        })
                        .count() as u64
                })
                .sum()
        })
        .unwrap_or(0);
    ensure!(
        compare["best"].as_u64() == Some(marks) && marks > 0,
        "best marks {} vs {}",
        compare["best"],
        api["best"]
    );
    ensure!(
        compare["hash"]
            .as_str()
            .unwrap_or_default()
            .matches("compare=")
            .count()
            == 3,
        "the comparison is in the URL: {compare}"
    );
    let sorted_by = compare["sortedBy"].as_str().unwrap_or_default();
    ensure!(
        sorted_by.contains("sort=metric%3Af1") && sorted_by.matches("compare=").count() == 3,
        "the order is in the URL beside the comparison: {sorted_by}"
    );

    // Promoted, then rolled back: the history shows both, and the API agrees.
    let promoted = &steps["promoted"];
    let top = promoted["top"].as_str().unwrap_or_default();
    ensure!(
        promoted["historyAfter"].as_u64() == promoted["historyBefore"].as_u64().map(|n| n + 1)
            && promoted["staging"] == "1.1.0"
            && top.contains("promote")
            && top.contains("staging")
            && top.contains("console: try 1.1.0 in staging"),
        "promoted: {promoted}"
    );
    let rolled = &steps["rolledBack"];
    let before_promotion = expect_status(
        &f.admin.get("/models/fraud-detector/stages/staging")?,
        200,
        "staging",
    )?;
    ensure!(
        rolled["staging"] == before_promotion["version"]
            && rolled["staging"] != "1.1.0"
            && rolled["top"]
                .as_str()
                .unwrap_or_default()
                .contains("console: back to what ran before"),
        "rolled back: {rolled}, API {before_promotion}"
    );
    let moves = expect_status(
        &f.admin
            .get("/models/fraud-detector/history?stage=staging&limit=2")?,
        200,
        "staging history",
    )?;
    ensure!(
        moves["items"][0]["kind"] == "rollback" && moves["items"][1]["kind"] == "promote",
        "{moves}"
    );

    // A canary with a guardrail, started and cleared from the console.
    let canary = &steps["canary"];
    ensure!(
        canary["production"] == format!("{runs} 90 % · 1.1.0 10 % (canary)")
            && canary["guard"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Guardrails for 1.1.0 (error rate ≤ 0.05, judged after 20 calls):"),
        "canary: {canary}"
    );
    let changed = &steps["canary20"];
    ensure!(
        changed["production"] == format!("{runs} 80 % · 1.1.0 20 % (canary)")
            && changed["guard"]
                .as_str()
                .unwrap_or_default()
                .contains("error rate ≤ 0.05"),
        "a changed canary keeps its guardrails: {changed}"
    );
    let rollouts = expect_status(
        &f.admin
            .get("/models/fraud-detector/history?stage=production&limit=3")?,
        200,
        "production history",
    )?;
    ensure!(
        rollouts["items"][2]["reason"] == "console: 10 % canary"
            && rollouts["items"][2]["to"]["targets"][1]["weight"] == 1000
            && rollouts["items"][1]["to"]["targets"][1]["weight"] == 2000
            && rollouts["items"][0]["reason"] == "console: canary done"
            && steps["cleared"]["production"] == runs,
        "rollout history: {rollouts}, shown {}",
        steps["cleared"]
    );

    // The refused gate's detail is the registry's own.
    let refused = &steps["refused"];
    let detail = expect_problem(
        &f.admin.json(
            "POST",
            "/models/fraud-detector/stages/production/promote",
            &json!({"version": "1.0.0", "reason": "console: skip staging"}),
        )?,
        409,
        "the same promotion through the API",
    )
    .or_else(|_| {
        expect_problem(
            &f.admin.json(
                "POST",
                "/models/fraud-detector/stages/production/promote",
                &json!({"version": "1.0.0", "reason": "console: skip staging"}),
            )?,
            422,
            "the same promotion through the API",
        )
    })?;
    ensure!(
        refused["detail"] == detail.as_str() && refused["production"] == runs,
        "refused: {refused} vs API detail {detail:?}"
    );

    // The drift chart and the version's facts.
    let drift = &steps["drift"];
    let api_drift = expect_status(
        &f.admin
            .get("/models/fraud-detector/drift?version=1.2.0&window=24h")?,
        200,
        "drift",
    )?;
    let verdict = drift["verdict"].as_str().unwrap_or_default();
    ensure!(
        drift["features"] == 4
            && drift["canvases"].as_u64().unwrap_or(0) >= 1
            && drift["referenceCharts"] == 4
            && verdict.contains(&format!(
                "{} of {} features drifted",
                api_drift["dataset"]["drifted_features"], api_drift["dataset"]["features"]
            ))
            && verdict.contains(&format!("{} calls", api_drift["calls"])),
        "drift: {drift} vs {api_drift}"
    );
    // Performance over time: the console's series adds up to the API's
    // 24-hour report for 1.2.0, one table row per point.
    let day_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("{e}"))?
        .as_millis() as i64
        - 86_400_000;
    let api_performance = expect_status(
        &f.admin.get(&format!(
            "/models/fraud-detector/performance?since={day_ago}&step=1h"
        ))?,
        200,
        "performance series",
    )?;
    let api_calls: u64 = api_performance["rows"]
        .as_array()
        .ok_or("no rows")?
        .iter()
        .filter(|r| r["version"] == "1.2.0")
        .filter_map(|r| r["calls"].as_u64())
        .sum();
    let api_points = api_performance["series"]
        .as_array()
        .ok_or("no series")?
        .iter()
        .filter(|p| p["version"] == "1.2.0")
        .count() as u64;
    let series = &drift["series"];
    ensure!(
        api_calls > 0
            && series["calls"].as_str() == Some(api_calls.to_string().as_str())
            && series["rows"].as_u64() == Some(api_points)
            && series["canvases"] == 2,
        "performance over time: {series} vs {api_calls} calls in {api_points} points"
    );
    // Quality from the seeded outcomes, as the API computes it.
    let quality = expect_status(
        &f.admin
            .get("/models/fraud-detector/quality?version=1.2.0&window=24h")?,
        200,
        "quality",
    )?;
    let summary = drift["quality"].as_str().unwrap_or_default();
    let accuracy = quality["quality"]["accuracy"].as_f64().unwrap_or(-1.0);
    ensure!(
        quality["quality"]["outcomes"].as_u64().unwrap_or(0) > 0
            && summary.starts_with(&format!("{} outcomes", quality["quality"]["outcomes"]))
            && summary.contains(&format!("accuracy {accuracy:.4}"))
            && drift["registered"].as_u64()
                == quality["registered"].as_array().map(|r| r.len() as u64),
        "quality panel {drift} vs {quality}"
    );
    ensure!(
        drift["release"]
            .as_str()
            .unwrap_or_default()
            .starts_with("signed in release metadata")
            && drift["status"] == "ready",
        "version facts: {drift}"
    );

    // A pickle's safety scan names the import that makes it unsafe.
    let pickle = &steps["pickle"];
    let record = expect_status(
        &f.admin.get("/models/legacy-scorer/versions/0.1.0")?,
        200,
        "the pickle version",
    )?;
    let scan = pickle["scan"].as_str().unwrap_or_default();
    for global in texts(&record["schema"]["unsafe_globals"]) {
        ensure!(
            scan.contains(&format!("{global} — not allowed")),
            "{global} not flagged: {pickle}"
        );
    }
    ensure!(
        record["status"] == "unsafe"
            && pickle["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("unsafe — ")
            && !texts(&record["schema"]["unsafe_globals"]).is_empty(),
        "pickle: {pickle} vs {record}"
    );

    // The audit chain, verified in the browser by the wasm client.
    let audit = &steps["audit"];
    ensure!(
        audit["intact"] == "1"
            && audit["chain"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Hash chain verified")
            && audit["entries"].as_u64().unwrap_or(0) > 0,
        "audit: {audit}"
    );
    // A token made in the console works, its secret is shown once, and
    // revoking it there ends it.
    let settings = &steps["settings"];
    let created = settings["created"].as_str().unwrap_or_default();
    ensure!(
        settings["tokens"].as_u64().unwrap_or(0) >= 2
            && settings["showsSecret"] == false
            && created.starts_with("opt_")
            && settings["createdWorks"] == 200
            && settings["afterDone"] == false
            && settings["ownRevocable"] == 1
            && settings["shown"]
                .as_str()
                .unwrap_or_default()
                .contains("never shown again"),
        "settings: {settings}"
    );
    let policy = &steps["policy"];
    ensure!(
        policy["stored"]["promotion"]["rules"]
            == json!([{"requirement": "f1>=0.5", "stages": ["production"]}])
            && policy["stored"]["retention"]["keep_last"] == 5
            && policy["refused"]
                .as_str()
                .unwrap_or_default()
                .contains("f1 is good"),
        "policies through the form: {policy}"
    );
    let revoked = Api {
        token: created.to_owned(),
        ..f.admin.clone()
    };
    expect_problem(
        &revoked.get("/whoami")?,
        401,
        "a token revoked in the console",
    )?;
    ensure!(
        steps["signedOut"]["stored"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "signed out: {}",
        steps["signedOut"]
    );

    // A viewer sees what runs, and no action it cannot take.
    let viewer = &steps["viewer"];
    ensure!(
        viewer["who"]
            .as_str()
            .unwrap_or_default()
            .contains("viewer")
            && viewer["actionForms"] == 0
            && viewer["actionDetails"] == 0
            && viewer["settingsLink"] == 0
            && viewer["auditLink"] == 0
            && viewer["production"] == runs,
        "viewer: {viewer}"
    );
    ensure!(
        viewer["overflow"].as_i64().unwrap_or(1) <= 0,
        "the page scrolls sideways at 360 px: {viewer}"
    );
    ensure!(
        artifacts.join("console-01-models.png").exists(),
        "no screenshot in tests/artifacts"
    );

    // An entry altered behind the registry's back (direct database access):
    // the console says where the chain breaks.
    f.worker
        .d1("UPDATE audit_log SET target = 'models/forged' WHERE org = 'demo' AND seq = 5")?;
    let report = browser(f, &prefix, &["audit"])?;
    let audit = &report["steps"]["audit"];
    ensure!(
        report["failure"].is_null()
            && audit["intact"] == "0"
            && audit["chain"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Hash chain BROKEN at entry 5: content does not match its hash"),
        "tampered chain: {report}"
    );
    Ok(())
}
