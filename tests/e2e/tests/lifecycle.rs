//! Model lifecycle, end to end against a real local Worker: promotion gates
//! (each failing on its own, against real ONNX models, a real unsafe pickle,
//! and artifacts lost or corrupted in local R2), staging → production, forced
//! promotions, rollback, history replay, protected deletion, retention, the
//! cron, the audit chain under tampering, concurrent promotions, the release
//! signature gate, and sticky canary / A-B / shadow rollouts resolved by the
//! director.

use std::collections::BTreeMap;
use std::path::PathBuf;

use outpost_core::lifecycle::{Deployment, Stage, StageState, replay};
use outpost_e2e::{
    Api, Failed, LocalWorker, ReleaseKeys, Reply, WorkerConfig, cli, create_token, ensure,
    expect_problem, expect_status, init_org, register,
};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    /// Tokens of org `life` by role.
    life: BTreeMap<&'static str, Api>,
    /// Org `life`'s root and release keys (root uploaded).
    keys: ReleaseKeys,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

/// Run alone: they read or write local D1/R2 directly (see registry.rs).
const EXCLUSIVE: &[&str] = &[
    "each_gate_fails_on_its_own",
    "retention_plan_equals_apply_and_protects_deployed_and_shared_blobs",
    "audit_verify_locates_a_tampered_row",
    "twenty_concurrent_promotions_leave_one_state",
];

const TESTS: &[(&str, Test)] = &[
    ("each_gate_fails_on_its_own", each_gate_fails_on_its_own),
    (
        "staging_then_production_with_hot_swap",
        staging_then_production_with_hot_swap,
    ),
    (
        "forcing_needs_an_admin_and_a_reason",
        forcing_needs_an_admin_and_a_reason,
    ),
    (
        "rollback_to_previous_and_named_and_replay_equals_current",
        rollback_to_previous_and_named_and_replay_equals_current,
    ),
    (
        "deleting_deployed_versions_is_refused",
        deleting_deployed_versions_is_refused,
    ),
    (
        "retention_plan_equals_apply_and_protects_deployed_and_shared_blobs",
        retention_plan_equals_apply_and_protects_deployed_and_shared_blobs,
    ),
    ("cron_applies_retention", cron_applies_retention),
    (
        "audit_verify_locates_a_tampered_row",
        audit_verify_locates_a_tampered_row,
    ),
    (
        "twenty_concurrent_promotions_leave_one_state",
        twenty_concurrent_promotions_leave_one_state,
    ),
    ("cli_lifecycle_walkthrough", cli_lifecycle_walkthrough),
    (
        "canary_and_production_need_a_release_signature",
        canary_and_production_need_a_release_signature,
    ),
    (
        "sticky_canary_ab_and_shadow_rollouts",
        sticky_canary_ab_and_shadow_rollouts,
    ),
];

fn models_dir() -> PathBuf {
    outpost_e2e::repo_root().join("tests/data/models")
}

fn fixture_bytes(name: &str) -> Result<Vec<u8>, Failed> {
    std::fs::read(models_dir().join(name))
        .map_err(|e| format!("reading fixture {name}: {e}").into())
}

fn main() {
    outpost_e2e::run_suite("lifecycle", setup, TESTS, EXCLUSIVE);
}

fn setup() -> Result<Fixture, Failed> {
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let admin = init_org(&worker, "life")?;
    let mut life = BTreeMap::new();
    for role in ["viewer", "developer", "operator"] {
        life.insert(
            role,
            create_token(&admin, &format!("{role}-token"), role)?.1,
        );
    }
    let keys = ReleaseKeys::ceremony(&worker, &admin)?;
    life.insert("admin", admin);
    Ok(Fixture { worker, life, keys })
}

/// Creates a model, registers versions — (version, fixture file or inline
/// bytes, f1) — and signs a release naming all of them, so the lifecycle
/// tests meet only the gates they are about.
fn model_with(
    f: &Fixture,
    name: &str,
    policy: Option<Value>,
    versions: &[(&str, Artifact, f64)],
) -> Result<(), Failed> {
    model_unreleased(f, name, policy, versions)?;
    let names: Vec<&str> = versions.iter().map(|(v, _, _)| *v).collect();
    f.keys.release(name, &names)?;
    Ok(())
}

fn model_unreleased(
    f: &Fixture,
    name: &str,
    policy: Option<Value>,
    versions: &[(&str, Artifact, f64)],
) -> Result<(), Failed> {
    let dev = &f.life["developer"];
    expect_status(
        &dev.json(
            "POST",
            "/models",
            &json!({"name": name, "primary_metric": {"name": "f1"}}),
        )?,
        201,
        "create model",
    )?;
    for (version, artifact, f1) in versions {
        let (bytes, format) = match artifact {
            Artifact::File(file) => (fixture_bytes(file)?, None),
            Artifact::Pickle(file) => (fixture_bytes(file)?, Some("pickle")),
            Artifact::Opaque(seed) => {
                (format!("opaque weights {seed}").into_bytes(), Some("other"))
            }
        };
        let digest = dev.put_blob(&bytes)?;
        let mut body = json!({"version": version, "digest": digest, "size": bytes.len(), "metrics": {"f1": f1}});
        if let Some(format) = format {
            body["format"] = json!(format);
        }
        expect_status(
            &register(dev, name, body)?,
            201,
            &format!("register {name}@{version}"),
        )?;
    }
    if let Some(policy) = policy {
        expect_status(
            &f.life["operator"].json("PUT", &format!("/models/{name}/policy"), &policy)?,
            200,
            "policy",
        )?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Artifact {
    File(&'static str),
    Pickle(&'static str),
    Opaque(&'static str),
}

use Artifact::{File, Opaque, Pickle};

const RF1: Artifact = File("fraud-detector-1.0.0.onnx");
const RF2: Artifact = File("fraud-detector-1.1.0.onnx");
const RF3: Artifact = File("fraud-detector-1.2.0.onnx");

fn promote(api: &Api, model: &str, stage: &str, body: Value) -> Result<Reply, Failed> {
    api.json(
        "POST",
        &format!("/models/{model}/stages/{stage}/promote"),
        &body,
    )
}

fn promote_ok(f: &Fixture, model: &str, stage: &str, version: &str) -> Result<Value, Failed> {
    expect_status(
        &promote(
            &f.life["operator"],
            model,
            stage,
            json!({"version": version}),
        )?,
        201,
        &format!("promote {model}@{version} to {stage}"),
    )
}

fn serving(f: &Fixture, model: &str, stage: &str) -> Result<Option<String>, Failed> {
    let reply = f.life["viewer"].get(&format!("/models/{model}/stages/{stage}"))?;
    match reply.status {
        404 => Ok(None),
        200 => Ok(reply.json()?["version"].as_str().map(str::to_owned)),
        other => Err(format!("GET stage: {other} {}", reply.body).into()),
    }
}

/// Asserts a 422 whose `failed_gates` are exactly `gates`.
fn expect_gates(reply: &Reply, gates: &[&str], what: &str) -> Result<Value, Failed> {
    let detail = expect_problem(reply, 422, what)?;
    let body = reply.json()?;
    let failed: Vec<&str> = body["failed_gates"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g["gate"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        failed == gates,
        "{what}: failed gates {failed:?}, expected {gates:?}: {detail}"
    );
    for gate in gates {
        ensure!(
            detail.contains(&format!("{gate}:")),
            "{what}: the detail lists {gate}: {detail}"
        );
    }
    Ok(body)
}

fn each_gate_fails_on_its_own(f: &Fixture) -> Result<(), Failed> {
    let policy = json!({"promotion": {"rules": [{"requirement": "f1>=0.85", "stages": ["staging", "production"]}]}});
    model_with(
        f,
        "gates",
        Some(policy),
        &[
            ("1.0.0", RF1, 0.80),
            ("1.1.0", RF2, 0.90),
            ("0.9.0", Pickle("unsafe-os-system.pkl"), 0.99),
        ],
    )?;
    model_with(
        f,
        "anomaly",
        None,
        &[("1.0.0", File("svm-regressor.onnx"), 0.98)],
    )?;
    model_with(
        f,
        "fragile",
        None,
        &[
            ("1.0.0", Opaque("lost"), 0.9),
            ("2.0.0", Opaque("corrupted"), 0.9),
        ],
    )?;
    let op = &f.life["operator"];

    // The baseline passes every gate.
    promote_ok(f, "gates", "development", "1.1.0")?;
    expect_gates(
        &promote(op, "gates", "development", json!({"version": "0.9.0"}))?,
        &["safety"],
        "unsafe pickle",
    )?;
    let body = expect_gates(
        &promote(op, "gates", "staging", json!({"version": "1.0.0"}))?,
        &["policy"],
        "policy",
    )?;
    ensure!(body["forceable"] == true, "{body}");
    expect_gates(
        &promote(op, "gates", "production", json!({"version": "1.1.0"}))?,
        &["staging"],
        "skips staging",
    )?;
    let body = expect_gates(
        &promote(op, "anomaly", "development", json!({"version": "1.0.0"}))?,
        &["loadable"],
        "runtime",
    )?;
    ensure!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("SVMRegressor"),
        "{body}"
    );

    let lost = outpost_core::Digest::of(b"opaque weights lost");
    f.worker.r2(&[
        "delete",
        &format!("outpost-artifacts/orgs/life/sha256/{}", lost.hex()),
    ])?;
    expect_gates(
        &promote(op, "fragile", "development", json!({"version": "1.0.0"}))?,
        &["artifact"],
        "lost artifact",
    )?;
    let corrupted = outpost_core::Digest::of(b"opaque weights corrupted");
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let other = dir.path().join("other.bin");
    std::fs::write(&other, b"someone else's bytes").map_err(|e| format!("{e}"))?;
    f.worker.r2(&[
        "put",
        &format!("outpost-artifacts/orgs/life/sha256/{}", corrupted.hex()),
        "--file",
        &other.to_string_lossy(),
    ])?;
    expect_gates(
        &promote(op, "fragile", "development", json!({"version": "2.0.0"}))?,
        &["digest"],
        "corrupted artifact",
    )?;
    ensure!(
        serving(f, "fragile", "development")?.is_none(),
        "nothing was promoted"
    );
    Ok(())
}

fn staging_then_production_with_hot_swap(f: &Fixture) -> Result<(), Failed> {
    model_with(
        f,
        "flow",
        None,
        &[("1.1.0", RF2, 0.9), ("1.2.0", RF3, 0.95)],
    )?;
    promote_ok(f, "flow", "staging", "1.1.0")?;
    let entry = promote_ok(f, "flow", "production", "1.1.0")?;
    ensure!(
        entry["kind"] == "promote" && entry["to"]["targets"][0]["version"] == "1.1.0",
        "{entry}"
    );
    ensure!(
        serving(f, "flow", "production")?.as_deref() == Some("1.1.0"),
        "production serves 1.1.0"
    );
    promote_ok(f, "flow", "staging", "1.2.0")?;
    promote_ok(f, "flow", "production", "1.2.0")?;
    // The very next request sees the new version: no cache to wait out.
    ensure!(
        serving(f, "flow", "production")?.as_deref() == Some("1.2.0"),
        "production swapped to 1.2.0"
    );
    let again = expect_status(
        &promote(
            &f.life["operator"],
            "flow",
            "production",
            json!({"version": "1.2.0"}),
        )?,
        200,
        "no-op",
    )?;
    ensure!(again["changed"] == false, "{again}");
    expect_problem(
        &promote(
            &f.life["developer"],
            "flow",
            "production",
            json!({"version": "1.1.0"}),
        )?,
        403,
        "developers cannot promote",
    )?;
    Ok(())
}

fn forcing_needs_an_admin_and_a_reason(f: &Fixture) -> Result<(), Failed> {
    let policy = json!({"promotion": {"rules": [{"requirement": "f1>=0.85"}]}});
    model_with(
        f,
        "forced",
        Some(policy),
        &[
            ("1.0.0", RF1, 0.80),
            ("0.9.0", Pickle("unsafe-os-system.pkl"), 0.99),
        ],
    )?;
    let forced =
        json!({"version": "1.0.0", "force": true, "reason": "hotfix approved by risk team"});
    expect_problem(
        &promote(&f.life["operator"], "forced", "production", forced.clone())?,
        403,
        "operator force",
    )?;
    let no_reason = json!({"version": "1.0.0", "force": true});
    expect_problem(
        &promote(&f.life["admin"], "forced", "production", no_reason)?,
        422,
        "force without reason",
    )?;
    let entry = expect_status(
        &promote(&f.life["admin"], "forced", "production", forced)?,
        201,
        "admin force",
    )?;
    ensure!(entry["forced"] == json!(["policy", "staging"]), "{entry}");
    ensure!(entry["reason"] == "hotfix approved by risk team", "{entry}");
    let unsafe_force = json!({"version": "0.9.0", "force": true, "reason": "please"});
    let body = expect_gates(
        &promote(&f.life["admin"], "forced", "production", unsafe_force)?,
        &["safety", "staging"],
        "unsafe",
    )?;
    ensure!(body["forceable"] == false, "safety never yields: {body}");
    ensure!(
        serving(f, "forced", "production")?.as_deref() == Some("1.0.0"),
        "unchanged"
    );
    Ok(())
}

/// The whole history of a model via the API, all pages.
fn history(f: &Fixture, model: &str) -> Result<Vec<Deployment>, Failed> {
    let mut all = Vec::new();
    let mut path = format!("/models/{model}/history?limit=200");
    loop {
        let page = expect_status(&f.life["viewer"].get(&path)?, 200, "history")?;
        let items: Vec<Deployment> =
            serde_json::from_value(page["items"].clone()).map_err(|e| format!("{e}"))?;
        all.extend(items);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/models/{model}/history?limit=200&cursor={cursor}"),
            None => return Ok(all),
        }
    }
}

fn rollback_to_previous_and_named_and_replay_equals_current(f: &Fixture) -> Result<(), Failed> {
    model_with(
        f,
        "rolly",
        None,
        &[
            ("1.0.0", RF1, 0.8),
            ("1.1.0", RF2, 0.9),
            ("1.2.0", RF3, 0.95),
        ],
    )?;
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        promote_ok(f, "rolly", "staging", version)?;
        promote_ok(f, "rolly", "production", version)?;
    }
    let op = &f.life["operator"];
    let back = expect_status(
        &op.json(
            "POST",
            "/models/rolly/stages/production/rollback",
            &json!({"reason": "latency regression"}),
        )?,
        201,
        "rollback",
    )?;
    ensure!(
        back["kind"] == "rollback" && back["to"]["targets"][0]["version"] == "1.1.0",
        "{back}"
    );
    ensure!(
        serving(f, "rolly", "production")?.as_deref() == Some("1.1.0"),
        "previous"
    );
    let named = expect_status(
        &op.json(
            "POST",
            "/models/rolly/stages/production/rollback",
            &json!({"version": "1.0.0"}),
        )?,
        201,
        "named",
    )?;
    ensure!(named["to"]["targets"][0]["version"] == "1.0.0", "{named}");
    ensure!(
        serving(f, "rolly", "production")?.as_deref() == Some("1.0.0"),
        "named version"
    );
    let detail = expect_problem(
        &op.json(
            "POST",
            "/models/rolly/stages/production/rollback",
            &json!({"version": "9.9.9"}),
        )?,
        409,
        "never deployed",
    )?;
    ensure!(detail.contains("never deployed"), "{detail}");
    expect_problem(
        &op.json("POST", "/models/rolly/stages/canary/rollback", &json!({}))?,
        409,
        "empty stage",
    )?;

    // The current state of every stage, rebuilt from the history alone.
    let entries = history(f, "rolly")?;
    ensure!(
        entries.len() == 8,
        "6 promotions and 2 rollbacks: {}",
        entries.len()
    );
    let replayed: BTreeMap<Stage, StageState> = replay(&entries)
        .into_iter()
        .map(|((_, stage), state)| (stage, state))
        .collect();
    let current = expect_status(
        &f.life["viewer"].get("/models/rolly/stages")?,
        200,
        "stages",
    )?;
    let current: BTreeMap<Stage, StageState> =
        serde_json::from_value(current["stages"].clone()).map_err(|e| format!("{e}"))?;
    ensure!(
        replayed == current,
        "replay {replayed:?} != current {current:?}"
    );
    Ok(())
}

fn deleting_deployed_versions_is_refused(f: &Fixture) -> Result<(), Failed> {
    model_with(
        f,
        "deletes",
        None,
        &[
            ("1.0.0", RF1, 0.8),
            ("1.1.0", RF2, 0.9),
            ("1.2.0", Opaque("deletes-1.2.0"), 0.9),
        ],
    )?;
    promote_ok(f, "deletes", "staging", "1.0.0")?;
    promote_ok(f, "deletes", "production", "1.0.0")?;
    promote_ok(f, "deletes", "staging", "1.1.0")?;
    let admin = &f.life["admin"];
    let detail = expect_problem(
        &admin.delete("/models/deletes/versions/1.0.0")?,
        409,
        "deployed",
    )?;
    ensure!(detail.contains("production"), "{detail}");
    let detail = expect_problem(
        &admin.delete("/models/deletes/versions/1.0.0?force=true&reason=x")?,
        409,
        "production is never forced",
    )?;
    ensure!(detail.contains("never be force-deleted"), "{detail}");
    expect_problem(
        &admin.delete("/models/deletes/versions/1.1.0")?,
        409,
        "deployed to staging",
    )?;
    expect_problem(
        &admin.delete("/models/deletes/versions/1.1.0?force=true")?,
        409,
        "force needs a reason",
    )?;
    let deleted = expect_status(
        &admin.delete("/models/deletes/versions/1.1.0?force=true&reason=leaked+training+data")?,
        200,
        "force",
    )?;
    ensure!(deleted["cleared"] == json!(["staging"]), "{deleted}");
    ensure!(
        serving(f, "deletes", "staging")?.is_none(),
        "staging was cleared"
    );
    let entries = history(f, "deletes")?;
    ensure!(
        entries
            .iter()
            .any(|d| format!("{:?}", d.kind) == "Cleared"
                && d.reason.contains("leaked training data")),
        "history records the clearing"
    );
    expect_problem(
        &f.life["viewer"].get("/models/deletes/versions/1.1.0")?,
        404,
        "gone",
    )?;
    let plain = expect_status(
        &admin.delete("/models/deletes/versions/1.2.0")?,
        200,
        "undeployed",
    )?;
    ensure!(
        plain["blob_removed"] == true,
        "its unique artifact goes too: {plain}"
    );
    expect_problem(
        &f.life["operator"].delete("/models/deletes/versions/1.0.0")?,
        403,
        "deletion is for admins",
    )?;
    Ok(())
}

fn blob_rows(f: &Fixture, digest: &outpost_core::Digest) -> Result<usize, Failed> {
    Ok(f.worker
        .d1(&format!(
            "SELECT digest FROM blobs WHERE org = 'life' AND digest = '{digest}'"
        ))?
        .len())
}

fn retention_plan_equals_apply_and_protects_deployed_and_shared_blobs(
    f: &Fixture,
) -> Result<(), Failed> {
    let shared = Opaque("kept-shared");
    model_with(
        f,
        "kept",
        None,
        &[
            ("1.0.0", shared, 0.5),
            ("1.1.0", shared, 0.6),
            ("1.2.0", Opaque("kept-b"), 0.9),
            ("1.3.0", Opaque("kept-c"), 0.95),
        ],
    )?;
    let a = outpost_core::Digest::of(b"opaque weights kept-shared");
    let b = outpost_core::Digest::of(b"opaque weights kept-b");
    promote_ok(f, "kept", "development", "1.1.0")?;
    let op = &f.life["operator"];
    expect_status(
        &op.json(
            "PUT",
            "/models/kept/policy",
            &json!({"retention": {"keep_last": 1, "min_metric": "f1>=0.8"}}),
        )?,
        200,
        "policy",
    )?;
    let plan = expect_status(&op.get("/models/kept/retention")?, 200, "plan")?;
    let planned: Vec<&str> = plan["drops"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["version"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        planned == ["1.2.0", "1.0.0"],
        "deployed 1.1.0 and newest 1.3.0 are kept: {plan}"
    );
    ensure!(plan["dry_run"] == true, "{plan}");
    ensure!(
        f.life["viewer"].get("/models/kept/versions/1.0.0")?.status == 200,
        "a plan deletes nothing"
    );

    let applied = expect_status(
        &op.json("POST", "/models/kept/retention", &json!({}))?,
        200,
        "apply",
    )?;
    ensure!(
        applied["drops"] == plan["drops"] && applied["dry_run"] == false,
        "apply deletes exactly the plan: {applied}"
    );
    for (version, status) in [
        ("1.0.0", 404),
        ("1.1.0", 200),
        ("1.2.0", 404),
        ("1.3.0", 200),
    ] {
        let got = f.life["viewer"]
            .get(&format!("/models/kept/versions/{version}"))?
            .status;
        ensure!(got == status, "{version}: {got}, expected {status}");
    }
    ensure!(
        blob_rows(f, &a)? == 1,
        "the shared artifact stays while 1.1.0 uses it"
    );
    ensure!(blob_rows(f, &b)? == 0, "1.2.0's own artifact is gone");
    expect_problem(
        &op.get(&format!("/blobs/sha256/{}", b.hex()))?,
        404,
        "gone from R2 too",
    )?;

    promote_ok(f, "kept", "development", "1.3.0")?;
    let second = expect_status(
        &op.json("POST", "/models/kept/retention", &json!({}))?,
        200,
        "apply again",
    )?;
    ensure!(second["drops"][0]["version"] == "1.1.0", "{second}");
    ensure!(
        blob_rows(f, &a)? == 0,
        "the shared artifact goes with its last version"
    );
    Ok(())
}

fn cron_applies_retention(f: &Fixture) -> Result<(), Failed> {
    model_with(
        f,
        "cronned",
        None,
        &[
            ("1.0.0", Opaque("cron-1"), 0.9),
            ("1.1.0", Opaque("cron-2"), 0.9),
        ],
    )?;
    expect_status(
        &f.life["operator"].json(
            "PUT",
            "/models/cronned/policy",
            &json!({"retention": {"keep_last": 1}}),
        )?,
        200,
        "policy",
    )?;
    let trigger = outpost_e2e::get(&f.worker.url("/__scheduled?cron=*/5+*+*+*+*"))?;
    ensure!(
        trigger.status == 200,
        "cron: {} {}",
        trigger.status,
        trigger.body
    );
    expect_problem(
        &f.life["viewer"].get("/models/cronned/versions/1.0.0")?,
        404,
        "the cron deleted 1.0.0",
    )?;
    ensure!(
        f.life["viewer"]
            .get("/models/cronned/versions/1.1.0")?
            .status
            == 200,
        "kept the newest"
    );
    let audit = expect_status(
        &f.life["admin"].get("/audit?action=retention.delete&actor=cron")?,
        200,
        "audit",
    )?;
    ensure!(
        audit["items"].as_array().is_some_and(|items| items
            .iter()
            .any(|e| e["target"] == "models/cronned/versions/1.0.0")),
        "the cron's deletion is audited under its own name: {audit}"
    );
    Ok(())
}

fn profile(f: &Fixture, dir: &std::path::Path, org: &str, token: &str) -> Result<PathBuf, Failed> {
    let config = dir.join(format!("{org}.toml"));
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nurl = \"{}\"\norg = \"{org}\"\ntoken = \"{token}\"\n",
            f.worker.base_url
        ),
    )
    .map_err(|e| format!("{e}"))?;
    Ok(config)
}

fn audit_verify_locates_a_tampered_row(f: &Fixture) -> Result<(), Failed> {
    let admin = init_org(&f.worker, "tamper")?;
    for name in ["a", "b", "c"] {
        expect_status(
            &admin.json("POST", "/models", &json!({"name": name}))?,
            201,
            "model",
        )?;
    }
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let config = profile(f, dir.path(), "tamper", &admin.token)?;
    let (ok, stdout, stderr) = cli(&config, &["audit", "verify"])?;
    ensure!(
        ok && stdout.contains("unbroken") && stdout.contains("4 entries"),
        "{stdout}{stderr}"
    );

    f.worker
        .d1("UPDATE audit_log SET target = 'models/forged' WHERE org = 'tamper' AND seq = 3")?;
    let (ok, stdout, stderr) = cli(&config, &["audit", "verify"])?;
    ensure!(!ok, "verification fails: {stdout}");
    ensure!(
        stderr.contains("broken at seq 3") && stderr.contains("altered"),
        "names the altered row: {stderr}"
    );
    let (_, json_out, _) = cli(&config, &["--json", "audit", "verify"])?;
    let report: Value = serde_json::from_str(&json_out).map_err(|e| format!("{e}: {json_out}"))?;
    ensure!(
        report["ok"] == false && report["broken_at"] == 3,
        "{report}"
    );
    Ok(())
}

fn twenty_concurrent_promotions_leave_one_state(f: &Fixture) -> Result<(), Failed> {
    let versions: Vec<String> = (0..20).map(|i| format!("1.{i}.0")).collect();
    let spec: Vec<(&str, Artifact, f64)> =
        versions.iter().map(|v| (v.as_str(), RF1, 0.9)).collect();
    model_with(f, "race", None, &spec)?;
    let handles: Vec<_> = versions
        .iter()
        .map(|version| {
            let op = f.life["operator"].clone();
            let version = version.clone();
            std::thread::spawn(move || {
                promote(&op, "race", "canary", json!({"version": version}))
                    .map(|r| r.status)
                    .unwrap_or(0)
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap_or(0)).collect();
    let accepted = statuses.iter().filter(|&&s| s == 201).count();
    ensure!(
        statuses.iter().all(|&s| s == 201 || s == 409),
        "only accepted or told to retry: {statuses:?}\n{}",
        f.worker.log()
    );
    ensure!(accepted >= 1, "{statuses:?}");

    let entries = history(f, "race")?;
    let mut seqs: Vec<i64> = entries
        .iter()
        .filter(|d| d.stage == Stage::Canary)
        .map(|d| d.seq)
        .collect();
    seqs.sort_unstable();
    ensure!(
        seqs == (1..=accepted as i64).collect::<Vec<_>>(),
        "one entry per accepted promotion, no gaps: {seqs:?} vs {accepted}"
    );
    let last = entries
        .iter()
        .filter(|d| d.stage == Stage::Canary)
        .max_by_key(|d| d.seq)
        .ok_or("no entries")?;
    let serving_now = serving(f, "race", "canary")?.ok_or("nothing serving")?;
    ensure!(
        last.to.primary() == Some(serving_now.as_str()),
        "the stage is the newest entry"
    );
    ensure!(versions.contains(&serving_now), "{serving_now}");
    // Each entry continues from the one before: nothing was lost in between.
    let mut ordered: Vec<&Deployment> = entries
        .iter()
        .filter(|d| d.stage == Stage::Canary)
        .collect();
    ordered.sort_by_key(|d| d.seq);
    for pair in ordered.windows(2) {
        ensure!(
            pair[1].from == pair[0].to,
            "entry {} starts where {} ended",
            pair[1].seq,
            pair[0].seq
        );
    }
    let audited = f.worker.d1(
        "SELECT seq FROM audit_log WHERE org = 'life' AND action = 'stage.promote' AND target = 'models/race/stages/canary'",
    )?;
    ensure!(
        audited.len() == accepted,
        "one audit entry per accepted promotion: {} vs {accepted}",
        audited.len()
    );
    Ok(())
}

fn cli_lifecycle_walkthrough(f: &Fixture) -> Result<(), Failed> {
    model_with(f, "clif", None, &[("1.0.0", RF1, 0.8), ("1.1.0", RF2, 0.9)])?;
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let config = profile(f, dir.path(), "life", &f.life["admin"].token)?;
    let run = |args: &[&str]| -> Result<String, Failed> {
        let (ok, stdout, stderr) = cli(&config, args)?;
        ensure!(ok, "outpost {}: {stdout}{stderr}", args.join(" "));
        Ok(stdout)
    };
    let shown = run(&[
        "policy",
        "set",
        "clif",
        "--require",
        "f1>=0.85",
        "--stage",
        "production",
    ])?;
    ensure!(shown.contains("f1>=0.85 for production"), "{shown}");
    run(&["promote", "clif", "1.0.0", "--to", "staging"])?;
    let (ok, _, stderr) = cli(&config, &["promote", "clif", "1.0.0", "--to", "production"])?;
    ensure!(
        !ok && stderr.contains("policy:") && stderr.contains("f1>=0.85"),
        "gate failure explained: {stderr}"
    );
    run(&["promote", "clif", "1.1.0", "--to", "staging"])?;
    let moved = run(&[
        "promote",
        "clif",
        "1.1.0",
        "--to",
        "production",
        "--reason",
        "better f1",
    ])?;
    ensure!(moved.contains("clif@production: - → 1.1.0"), "{moved}");
    let stages = run(&["stages", "show", "clif"])?;
    ensure!(
        stages.contains("production   1.1.0") && stages.contains("staging      1.1.0"),
        "{stages}"
    );
    let back = run(&[
        "rollback", "clif", "--stage", "staging", "--reason", "revert",
    ])?;
    ensure!(back.contains("clif@staging: 1.1.0 → 1.0.0"), "{back}");
    let log = run(&["history", "clif"])?;
    ensure!(
        log.lines().count() == 5 && log.contains("rollback") && log.contains("better f1"),
        "{log}"
    );
    run(&["retention", "set", "clif", "--keep-last", "5"])?;
    ensure!(
        run(&["retention", "plan", "clif"])?.contains("would delete nothing"),
        "plan"
    );
    let (ok, _, stderr) = cli(&config, &["delete", "clif", "1.1.0"])?;
    ensure!(!ok && stderr.contains("deployed to production"), "{stderr}");
    let audit = run(&[
        "audit",
        "list",
        "--action",
        "stage.promote",
        "--target",
        "models/clif",
    ])?;
    ensure!(audit.lines().count() == 4, "header + 3 promotions: {audit}");
    Ok(())
}

fn canary_and_production_need_a_release_signature(f: &Fixture) -> Result<(), Failed> {
    model_unreleased(
        f,
        "unsigned",
        None,
        &[("1.0.0", RF1, 0.9), ("1.1.0", RF2, 0.9)],
    )?;
    let (op, admin) = (&f.life["operator"], &f.life["admin"]);
    promote_ok(f, "unsigned", "staging", "1.0.0")?;
    for stage in ["canary", "production"] {
        let body = expect_gates(
            &promote(op, "unsigned", stage, json!({"version": "1.0.0"}))?,
            &["release"],
            &format!("unreleased to {stage}"),
        )?;
        ensure!(body["forceable"] == false, "{body}");
        ensure!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("outpost release sign"),
            "{body}"
        );
    }
    // Not even an admin's force.
    expect_gates(
        &promote(
            admin,
            "unsigned",
            "production",
            json!({"version": "1.0.0", "force": true, "reason": "ship it"}),
        )?,
        &["release"],
        "forced unreleased",
    )?;
    f.keys.release("unsigned", &["1.0.0"])?;
    promote_ok(f, "unsigned", "production", "1.0.0")?;
    promote_ok(f, "unsigned", "staging", "1.1.0")?;
    // A rollout cannot slip an unreleased version in as canary or shadow.
    for body in [
        json!({"canary": {"version": "1.1.0", "weight": 1000}}),
        json!({"shadow": "1.1.0"}),
    ] {
        expect_gates(
            &op.json("PUT", "/models/unsigned/stages/production/rollout", &body)?,
            &["release"],
            "unreleased rollout",
        )?;
    }
    ensure!(
        serving(f, "unsigned", "production")?.as_deref() == Some("1.0.0"),
        "production unchanged"
    );
    Ok(())
}

/// Resolves `model@production` for each device as the director answers it:
/// (version, arm, shadow version).
fn resolve_all(
    f: &Fixture,
    model: &str,
    devices: &[String],
) -> Result<Vec<(String, String, Option<String>)>, Failed> {
    let viewer = &f.life["viewer"];
    let chunk = devices.len().div_ceil(8).max(1);
    let results: Vec<Result<Vec<_>, Failed>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|device| {
                            let body = expect_status(
                                &viewer.get(&format!(
                                    "/models/{model}/resolve?stage=production&device={device}"
                                ))?,
                                200,
                                "resolve",
                            )?;
                            let signed = &body["signed"];
                            ensure!(signed["device"] == device.as_str(), "{body}");
                            Ok((
                                signed["version"].as_str().unwrap_or_default().to_owned(),
                                signed["arm"].as_str().unwrap_or_default().to_owned(),
                                signed["shadow"]["version"].as_str().map(str::to_owned),
                            ))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("resolver thread panicked".into()))
            })
            .collect()
    });
    let mut all = Vec::new();
    for part in results {
        all.extend(part?);
    }
    Ok(all)
}

/// Devices resolved through the real Worker; the share bounds are the
/// issue's ±1 percentage point around the weight.
/// Devices resolved through the Worker. The shares over 10 000 devices and
/// the monotonicity of weight changes are the core's unit tests
/// (`outpost_core::routing`); here the Worker must route as the core does,
/// so the bounds are four standard deviations of a binomial share (the
/// routing salt is fresh per run), which keeps this suite to seconds rather
/// than minutes.
const DEVICES: usize = 2_000;

fn sticky_canary_ab_and_shadow_rollouts(f: &Fixture) -> Result<(), Failed> {
    model_with(
        f,
        "routed",
        None,
        &[
            ("1.0.0", RF1, 0.9),
            ("1.1.0", RF2, 0.9),
            ("1.2.0", RF3, 0.9),
        ],
    )?;
    for version in ["1.2.0", "1.1.0", "1.0.0"] {
        promote_ok(f, "routed", "staging", version)?;
    }
    promote_ok(f, "routed", "production", "1.0.0")?;
    let set = |args: &[&str]| -> Result<String, Failed> {
        let mut all = vec!["rollout", "set", "routed", "--stage", "production"];
        all.extend_from_slice(args);
        f.keys.run(&all)
    };
    let shown = set(&[
        "--canary",
        "1.1.0:10",
        "--shadow",
        "1.2.0",
        "--reason",
        "canary 10%",
    ])?;
    ensure!(
        shown.contains("canary 1.1.0 (10.00%)") && shown.contains("shadow 1.2.0"),
        "{shown}"
    );
    let view = expect_status(
        &f.life["viewer"].get("/models/routed/stages/production/rollout")?,
        200,
        "rollout",
    )?;
    ensure!(
        view["rollout"]["stable"] == "1.0.0"
            && view["rollout"]["canary"] == json!({"version": "1.1.0", "weight": 1000})
            && view["rollout"]["shadow"] == "1.2.0",
        "{view}"
    );

    let devices: Vec<String> = (0..DEVICES).map(|i| format!("device-{i:05}")).collect();
    let ten = resolve_all(f, "routed", &devices)?;
    let on_canary = |answers: &[(String, String, Option<String>)]| {
        answers.iter().filter(|(v, _, _)| v == "1.1.0").count()
    };
    let share = on_canary(&ten);
    // 10 % of 2 000: 200, σ ≈ 13.4.
    ensure!(
        (146..=254).contains(&share),
        "10 % canary ± 4σ of {DEVICES} devices: {share}"
    );
    for (version, arm, shadow) in &ten {
        let expected_arm = if version == "1.1.0" {
            "canary"
        } else {
            "stable"
        };
        ensure!(arm == expected_arm, "{version} came as {arm}");
        ensure!(shadow.as_deref() == Some("1.2.0"), "shadow rides along");
    }
    // Sticky: the same device gets the same answer again.
    let again = resolve_all(f, "routed", &devices[..500])?;
    ensure!(
        again[..] == ten[..500],
        "the same devices, the same answers"
    );

    // 10 % → 20 %: nobody leaves the canary (checked on the first 1 000
    // devices; 20 % of them is 200, σ ≈ 12.6).
    set(&["--canary", "1.1.0:20", "--shadow", "1.2.0"])?;
    let twenty = resolve_all(f, "routed", &devices[..1_000])?;
    let share = on_canary(&twenty);
    ensure!(
        (150..=250).contains(&share),
        "20 % canary ± 4σ of 1 000: {share}"
    );
    let moved_back = ten
        .iter()
        .zip(&twenty)
        .filter(|(before, after)| before.0 == "1.1.0" && after.0 != "1.1.0")
        .count();
    ensure!(moved_back == 0, "{moved_back} devices left the canary");

    // A/B: two variants split everything; stable keeps no traffic.
    set(&["--variant", "1.1.0:50", "--variant", "1.2.0:50"])?;
    let ab = resolve_all(f, "routed", &devices[..1_000])?;
    ensure!(
        ab.iter()
            .all(|(v, arm, shadow)| arm == "variant" && v != "1.0.0" && shadow.is_none()),
        "only variants answer"
    );
    let a = ab.iter().filter(|(v, _, _)| v == "1.1.0").count();
    // Half of 1 000, σ ≈ 15.8.
    ensure!((436..=564).contains(&a), "A/B about half ± 4σ: {a} of 1000");

    // Every change is history; rolling back restores the previous split.
    let entries = history(f, "routed")?;
    let rollouts = entries
        .iter()
        .filter(|d| d.kind == outpost_core::lifecycle::Move::Rollout)
        .count();
    ensure!(rollouts == 3, "three rollout entries: {entries:?}");
    let back = expect_status(
        &f.life["operator"].json(
            "POST",
            "/models/routed/stages/production/rollback",
            &json!({"reason": "A/B looked bad"}),
        )?,
        201,
        "rollback",
    )?;
    ensure!(
        back["to"]["targets"][1] == json!({"version": "1.1.0", "weight": 2000, "arm": "canary"}),
        "{back}"
    );
    let cleared = f
        .keys
        .run(&["rollout", "clear", "routed", "--stage", "production"])?;
    ensure!(cleared.contains("routed@production: 1.0.0"), "{cleared}");
    let answers = resolve_all(f, "routed", &devices[..200])?;
    ensure!(
        answers
            .iter()
            .all(|(v, arm, shadow)| v == "1.0.0" && arm == "stable" && shadow.is_none()),
        "all stable again"
    );
    // Bad splits are refused with a reason.
    let reply = f.life["operator"].json(
        "PUT",
        "/models/routed/stages/production/rollout",
        &json!({"canary": {"version": "1.1.0", "weight": 6000}, "variants": [{"version": "1.2.0", "weight": 6000}]}),
    )?;
    let detail = expect_problem(&reply, 422, "overweight")?;
    ensure!(detail.contains("12000"), "{detail}");
    Ok(())
}
