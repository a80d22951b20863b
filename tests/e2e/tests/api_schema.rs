//! The API against its own document: schemathesis (PyPI, pinned in
//! `tests/python/requirements.txt`) reads `/openapi.json` from a real local
//! Worker and sends what the document allows and what it forbids to every
//! operation, with every check: no server error, no status, header, content
//! type or body the document does not declare, no request the document
//! allows refused as malformed, none it forbids accepted, 405 with `Allow`
//! for methods it does not list, links followed statefully.
//!
//! The budget is `OUTPOST_SCHEMATHESIS_EXAMPLES` examples per operation
//! (small by default, so `scripts/test.sh` stays fast) with a fixed seed, so
//! a failure here replays; `docs/hardening.md` records a large run.

use std::path::PathBuf;
use std::process::Command;

use outpost_e2e::{Api, Failed, LocalWorker, WorkerConfig, ensure, init_org};

const ORG: &str = "schema";

struct Fixture {
    worker: LocalWorker,
    admin: Api,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[(
    "schemathesis_finds_nothing_the_document_contradicts",
    schemathesis_finds_nothing_the_document_contradicts,
)];

fn main() {
    outpost_e2e::run_suite("api schema", setup, TESTS, &[]);
}

fn setup() -> Result<Fixture, Failed> {
    // With an at-rest secret, as a deployment that seals artifacts: enabling
    // and rotating encryption then succeed (without one they are a 503).
    let worker = LocalWorker::start(&WorkerConfig::SEALED).map_err(Failed::from)?;
    let admin = init_org(&worker, ORG)?;
    // Something for reads and links to find: a model with a version.
    let created = admin.json(
        "POST",
        "/models",
        &serde_json::json!({"name": "detector", "tags": ["fraud"]}),
    )?;
    ensure!(created.status == 201, "create model: {}", created.body);
    let bytes = b"not a model, an artifact all the same";
    let digest = admin.put_blob(bytes)?;
    let registered = outpost_e2e::register(
        &admin,
        "detector",
        serde_json::json!({"version": "1.0.0", "digest": digest, "size": bytes.len(), "format": "other", "metrics": {"f1": 0.9}}),
    )?;
    ensure!(registered.status == 201, "register: {}", registered.body);
    Ok(Fixture { worker, admin })
}

fn schemathesis() -> Result<PathBuf, Failed> {
    let bin = outpost_e2e::repo_root().join(".venv/bin/schemathesis");
    ensure!(
        bin.exists(),
        "{} is missing: run scripts/setup.sh (installs tests/python/requirements.txt)",
        bin.display()
    );
    Ok(bin)
}

fn schemathesis_finds_nothing_the_document_contradicts(f: &Fixture) -> Result<(), Failed> {
    let root = outpost_e2e::repo_root();
    let examples =
        std::env::var("OUTPOST_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "3".to_owned());
    let seed = std::env::var("OUTPOST_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261129".to_owned());
    let reports = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    // Run in a scratch directory: schemathesis keeps a cache where it runs.
    let output = Command::new(schemathesis()?)
        .current_dir(reports.path())
        .env("OUTPOST_ORG", &f.admin.org)
        .env("OUTPOST_TOKEN", &f.admin.token)
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(root.join("tests/api/schemathesis.toml"))
        .arg("run")
        .arg(f.worker.url("/openapi.json"))
        .args([
            "--checks",
            "all",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
        ])
        // One worker: with two threads, CPython 3.11's `ast` module (which
        // hypothesis uses to describe strategies) once failed with "AST
        // constructor recursion depth mismatch", a runtime race, not a
        // finding (CPython gh-106905).
        .args([
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
        ])
        .args(["--report", "junit", "--report-dir"])
        .arg(reports.path())
        .output()
        .map_err(|e| format!("running schemathesis: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The summary, for the log of every run.
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.contains("SUMMARY"))
        .collect();
    eprintln!("{}", summary.join("\n"));
    ensure!(
        output.status.success(),
        "schemathesis found contradictions (seed {seed}, {examples} examples per operation):\n{stdout}\n{stderr}"
    );
    // It did test: every documented operation was selected and tested.
    let tested = summary
        .iter()
        .find_map(|line| line.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    ensure!(
        tested >= 55,
        "schemathesis tested only {tested} operations:\n{stdout}"
    );
    Ok(())
}
