//! The Python SDK (`crates/outpost-py`, installed into `.venv` by
//! `maturin develop`) end to end: its pytest suite (`tests/python/sdk`)
//! runs against a real local Worker with real D1 and R2. This harness makes
//! what a team would have before its first Python call — an organisation,
//! an admin and a viewer (device) token, release keys with the root
//! uploaded — plus hostile mirrors in front of the Worker (one flips a
//! byte of every artifact, one sends endless bytes, one re-signs the
//! director's resolutions with a key no root names, one answers with
//! another device's resolution, one replays the first resolution it
//! passed), and hands them to pytest as
//! `OUTPOST_SDK_E2E`.

use outpost_e2e::hostile::{HostileServer, Served, Upstream, re_signed_by_impostor};
use outpost_e2e::{Failed, LocalWorker, ReleaseKeys, WorkerConfig, create_token, ensure, init_org};

struct Fixture {
    worker: LocalWorker,
    description: serde_json::Value,
    _keys: ReleaseKeys,
    _mirrors: Vec<HostileServer>,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[(
    "the_python_sdk_passes_its_suite",
    the_python_sdk_passes_its_suite,
)];

fn main() {
    outpost_e2e::run_suite("python sdk", setup, TESTS, &[]);
}

fn is_artifact(path: &str) -> bool {
    path.contains("/blobs/sha256/")
}

fn setup() -> Result<Fixture, Failed> {
    let worker = LocalWorker::start(&WorkerConfig::MAIN).map_err(Failed::from)?;
    let admin = init_org(&worker, "pysdk")?;
    let (_, viewer) = create_token(&admin, "gateway", "viewer")?;
    let (_, developer) = create_token(&admin, "trainer", "developer")?;
    let keys = ReleaseKeys::ceremony(&worker, &admin)?;
    let tampered = HostileServer::start(
        &worker.base_url,
        Box::new(|path: &str, mut up: Upstream| {
            if is_artifact(path)
                && let Some(first) = up.body.first_mut()
            {
                *first ^= 0xff;
            }
            Served::Reply(up)
        }),
    )
    .map_err(|e| format!("starting the tampering mirror: {e}"))?;
    let endless = HostileServer::start(
        &worker.base_url,
        Box::new(|path: &str, up: Upstream| {
            if is_artifact(path) {
                Served::Endless { prefix: up.body }
            } else {
                Served::Reply(up)
            }
        }),
    )
    .map_err(|e| format!("starting the endless mirror: {e}"))?;
    let impostor = re_signed_by_impostor(&worker.base_url, "/resolve?", 91)?;
    let (upstream, auth) = (worker.base_url.clone(), format!("Bearer {}", viewer.token));
    let other_device = HostileServer::start(
        &worker.base_url,
        Box::new(move |path: &str, up: Upstream| {
            if path.contains("/resolve?")
                && let Ok(other) = outpost_e2e::hostile::fetch(
                    &upstream,
                    &path.replace("device=gateway-7", "device=gateway-8"),
                    Some(&auth),
                )
            {
                return Served::Reply(other);
            }
            Served::Reply(up)
        }),
    )
    .map_err(|e| format!("starting the mix-and-match mirror: {e}"))?;
    // Frozen at the first resolution it passed: a replay once the device
    // has trusted a newer one.
    let first: std::sync::Arc<std::sync::Mutex<Option<Upstream>>> = std::sync::Arc::default();
    let frozen = HostileServer::start(
        &worker.base_url,
        Box::new(move |path: &str, up: Upstream| {
            if path.contains("/resolve?") {
                let mut first = first.lock().unwrap_or_else(|p| p.into_inner());
                return Served::Reply(first.get_or_insert(up).clone());
            }
            Served::Reply(up)
        }),
    )
    .map_err(|e| format!("starting the frozen mirror: {e}"))?;
    let description = serde_json::json!({
        "url": worker.base_url,
        "org": admin.org,
        "admin": admin.token,
        "developer": developer.token,
        "viewer": viewer.token,
        "keys": keys.dir.path(),
        "tampered": tampered.base_url,
        "endless": endless.base_url,
        "impostor": impostor.base_url,
        "other_device": other_device.base_url,
        "frozen": frozen.base_url,
        "outpost": outpost_e2e::outpost_bin()?,
    });
    Ok(Fixture {
        worker,
        description,
        _keys: keys,
        _mirrors: vec![tampered, endless, impostor, other_device, frozen],
    })
}

fn the_python_sdk_passes_its_suite(f: &Fixture) -> Result<(), Failed> {
    let root = outpost_e2e::repo_root();
    let python = root.join(".venv/bin/python");
    ensure!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let imported = std::process::Command::new(&python)
        .args(["-c", "import outpost._native"])
        .output()
        .map_err(|e| format!("running python: {e}"))?;
    ensure!(
        imported.status.success(),
        "the SDK is not installed in .venv: run `maturin develop -m crates/outpost-py/Cargo.toml` (scripts/test.sh does)\n{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let output = std::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("tests/python/sdk"))
        .env("OUTPOST_SDK_E2E", f.description.to_string())
        .env("OUTPOST_BIN", outpost_e2e::outpost_bin()?)
        .env_remove("OUTPOST_URL")
        .env_remove("OUTPOST_ORG")
        .env_remove("OUTPOST_TOKEN")
        .output()
        .map_err(|e| format!("running pytest: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // pytest's summary, for the run's log.
    if let Some(summary) = stdout.lines().last() {
        eprintln!("python sdk: {summary}");
    }
    ensure!(
        output.status.success(),
        "pytest failed:\n{stdout}\n{}\n--- worker log ---\n{}",
        String::from_utf8_lossy(&output.stderr),
        f.worker.log()
    );
    Ok(())
}
