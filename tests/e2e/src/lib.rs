//! Harness for Outpost's end-to-end tests: a real local Worker per test run.
//!
//! [`LocalWorker::start`] applies the D1 migrations into a fresh state
//! directory, starts `wrangler dev` (workerd with local D1 and R2) on a free
//! loopback port in its own process group, and waits for it to answer. Dropping
//! it stops the whole group. Because a test binary killed by a signal runs no
//! destructors, each group id is also written to `OUTPOST_E2E_PIDDIR` when set,
//! and `scripts/test.sh` kills whatever is listed there on exit.

pub mod front;
pub mod hostile;
pub mod receiver;

use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use libtest_mimic::{Arguments, Failed, Trial};

/// How long a Worker may take to become ready. Generous: CI machines are
/// shared, and this bounds a hang, it does not measure speed.
const READY_TIMEOUT: Duration = Duration::from_secs(240);

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// Environment that keeps wrangler and miniflare off the internet: no
/// `Request.cf` download, no metrics, no update check (it runs with the banner).
pub const OFFLINE_ENV: &[(&str, &str)] = &[
    ("CLOUDFLARE_CF_FETCH_ENABLED", "false"),
    ("WRANGLER_SEND_METRICS", "false"),
    ("WRANGLER_HIDE_BANNER", "true"),
    ("NO_COLOR", "1"),
    ("FORCE_COLOR", "0"),
];

/// Which wrangler configuration to run, and a label for logs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub label: &'static str,
    /// Path relative to the repository root.
    pub config: &'static str,
    /// Further Workers run beside it in the same `wrangler dev` (reached
    /// through its service bindings), paths relative to the repository root.
    pub auxiliary: &'static [&'static str],
    /// Whether the Worker has an at-rest secret (`OUTPOST_AT_REST_SECRET`,
    /// fresh per run): new organisations then seal their artifacts.
    pub at_rest: bool,
}

/// The inference and operations Workers' configurations: every
/// configuration that runs the registry Worker runs them too.
const INFERENCE: &[&str] = &[
    "worker/inference/wrangler.toml",
    "worker/wrangler.operations.toml",
];

impl WorkerConfig {
    /// The real configuration from the repository root.
    pub const MAIN: WorkerConfig = WorkerConfig {
        label: "main",
        config: "wrangler.toml",
        auxiliary: INFERENCE,
        at_rest: false,
    };
    /// A Worker that uses the wasm client package (tests/e2e/client-worker).
    pub const CLIENT_WORKER: WorkerConfig = WorkerConfig {
        label: "client-worker",
        config: "tests/e2e/wrangler.client-worker.toml",
        auxiliary: &[],
        at_rest: false,
    };
    /// The real configuration with an at-rest secret: every organisation
    /// created in it seals its artifacts (`outpost_core::at_rest`).
    pub const SEALED: WorkerConfig = WorkerConfig {
        label: "sealed",
        config: "wrangler.toml",
        auxiliary: INFERENCE,
        at_rest: true,
    };
    /// The Worker with rate limits small enough to reach in a test.
    pub const RATE_LIMITED: WorkerConfig = WorkerConfig {
        label: "rate-limited",
        config: "tests/e2e/wrangler.rate-limited.toml",
        // Without the inference Worker: its readiness names the missing binding.
        auxiliary: &[],
        at_rest: false,
    };
    /// The Worker without its R2 binding.
    pub const NO_BUCKET: WorkerConfig = WorkerConfig {
        label: "no-bucket",
        config: "tests/e2e/wrangler.no-bucket.toml",
        auxiliary: INFERENCE,
        at_rest: false,
    };
}

/// The secrets a deployment's Worker runs with besides the bootstrap one:
/// the online and director keys (base64 PKCS#8) and the at-rest secret.
#[derive(Debug, Clone)]
struct Secrets {
    online: String,
    director: String,
    at_rest: Option<String>,
}

/// What a replacement Worker starts from after a disaster: a `wrangler d1
/// export` of the lost database and the R2 objects copied from its bucket
/// (key, file).
#[derive(Debug)]
pub struct Recovered<'a> {
    pub dump: &'a Path,
    pub objects: &'a [(String, PathBuf)],
}

/// Runs `wrangler ARGS --local --persist-to PERSIST --config CONFIG`; fails
/// with wrangler's output unless it succeeds.
fn wrangler_on(
    persist: &Path,
    config: &Path,
    logs: &Path,
    args: &[&str],
) -> Result<std::process::Output, String> {
    let out = Command::new(wrangler())
        .args(args)
        .args(["--local", "--persist-to"])
        .arg(persist)
        .arg("--config")
        .arg(config)
        .envs(OFFLINE_ENV.iter().copied())
        .env("WRANGLER_LOG_PATH", logs)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running wrangler {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "wrangler {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

/// A running local Worker. Stopped (the whole process group) on drop.
#[derive(Debug)]
pub struct LocalWorker {
    pub label: &'static str,
    /// Where clients reach it: the [`front`] before `wrangler dev`.
    pub base_url: String,
    pub ready_after: Duration,
    /// The bootstrap secret this Worker was started with (fresh per run).
    pub bootstrap_secret: String,
    /// Its other secrets, which a replacement must share to serve the same
    /// organisations ([`LocalWorker::start_recovered`]).
    secrets: Secrets,
    persist: PathBuf,
    config_path: PathBuf,
    child: Child,
    log_path: PathBuf,
    pid_file: Option<PathBuf>,
    state_dir: tempfile::TempDir,
}

fn wrangler() -> PathBuf {
    repo_root().join("node_modules/.bin/wrangler")
}

fn free_port() -> std::io::Result<u16> {
    // Bind to port 0 and let the kernel choose; the port is released right
    // away for wrangler to take.
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last 80 lines of a wrangler log that are not one request each
/// (`[wrangler:info] GET /path 200 OK (3ms)`): what went wrong, when a
/// suite fails in CI and the log is gone afterwards.
fn log_without_requests(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            let Some(rest) = line.strip_prefix("[wrangler:info] ") else {
                return true;
            };
            !["GET ", "HEAD ", "POST ", "PUT ", "PATCH ", "DELETE "]
                .iter()
                .any(|method| rest.starts_with(method))
        })
        .collect();
    kept[kept.len().saturating_sub(80)..].join("\n")
}

thread_local! {
    /// Set while a test runs in parallel with others ([`run_suite`]).
    static BESIDE_OTHER_TESTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Set when a suite had a failure: the Worker's log is then printed as it stops.
static SUITE_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn refuse_beside_other_tests(what: &str) -> Result<(), Failed> {
    if BESIDE_OTHER_TESTS.with(std::cell::Cell::get) {
        return Err(format!(
            "this test {what} directly while other tests send requests: \
             name it among the suite's tests that run alone"
        )
        .into());
    }
    Ok(())
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl LocalWorker {
    pub fn start(config: &WorkerConfig) -> Result<Self, String> {
        Self::launch(config, None, None)
    }

    /// A replacement for `lost`, as the README's disaster recovery runs
    /// it: the same secrets, its database restored from `recovered.dump`
    /// into an empty local D1 (then the migrations, which find nothing to
    /// do), its R2 objects put back, and only then `wrangler dev`.
    pub fn start_recovered(
        config: &WorkerConfig,
        lost: &LocalWorker,
        recovered: &Recovered<'_>,
    ) -> Result<Self, String> {
        Self::launch(config, Some((lost, lost.secrets.clone())), Some(recovered))
    }

    /// A new Worker with `lost`'s secrets (the same deployment keys, the
    /// same at-rest secret) and an empty D1 and R2: where a backup of one
    /// of `lost`'s organisations is restored.
    pub fn start_replacement(config: &WorkerConfig, lost: &LocalWorker) -> Result<Self, String> {
        Self::launch(config, Some((lost, lost.secrets.clone())), None)
    }

    fn launch(
        config: &WorkerConfig,
        replacing: Option<(&LocalWorker, Secrets)>,
        recovered: Option<&Recovered<'_>>,
    ) -> Result<Self, String> {
        let root = repo_root();
        let wrangler = wrangler();
        if !wrangler.exists() {
            return Err(format!(
                "{} is missing: run scripts/setup.sh (npm ci) first",
                wrangler.display()
            ));
        }
        for built in [
            "worker/build/worker/shim.mjs",
            "worker/build-operations/worker/shim.mjs",
            "worker/inference/build/worker/shim.mjs",
        ] {
            let shim = root.join(built);
            if !shim.exists() {
                return Err(format!(
                    "{} is missing: build the Workers first (scripts/build-worker.sh)",
                    shim.display()
                ));
            }
        }
        let state = tempfile::Builder::new()
            .prefix(&format!("outpost-e2e-{}-", config.label))
            .tempdir()
            .map_err(|e| format!("creating a state directory: {e}"))?;
        let persist = state.path().join("state");
        let log_path = state.path().join("wrangler.log");
        let config_path = root.join(config.config);

        let started = Instant::now();
        let logs = state.path().join("wrangler-logs");
        if let Some(recovered) = recovered {
            let dump = recovered.dump.display().to_string();
            wrangler_on(
                &persist,
                &config_path,
                &logs,
                &["d1", "execute", "DB", "--file", &dump, "-y"],
            )
            .map_err(|e| format!("restoring D1 from {dump}: {e}"))?;
        }
        // wrangler's debug log of every command, beside the Worker's state
        // rather than in the home directory, where it piles up.
        wrangler_on(
            &persist,
            &config_path,
            &logs,
            &["d1", "migrations", "apply", "DB"],
        )
        .map_err(|e| format!("applying D1 migrations for `{}`: {e}", config.label))?;
        for (key, file) in recovered.map_or(&[][..], |r| r.objects) {
            let file = file.display().to_string();
            wrangler_on(
                &persist,
                &config_path,
                &logs,
                &["r2", "object", "put", key, "--file", &file],
            )
            .map_err(|e| format!("restoring R2 object {key}: {e}"))?;
        }

        let (bootstrap_secret, secrets) = match replacing {
            Some((lost, secrets)) => {
                for name in ["online", "director"] {
                    fs::copy(
                        lost.state_dir.path().join(format!("{name}.pk8")),
                        state.path().join(format!("{name}.pk8")),
                    )
                    .map_err(|e| format!("copying the {name} key: {e}"))?;
                }
                (lost.bootstrap_secret.clone(), secrets)
            }
            None => (
                fresh_secret(),
                Secrets {
                    online: deployment_key(state.path(), "online")?,
                    director: deployment_key(state.path(), "director")?,
                    at_rest: config.at_rest.then(fresh_secret),
                },
            ),
        };
        let (online, director) = (secrets.online.clone(), secrets.director.clone());
        // The front's port first, held open, so that wrangler's cannot be it.
        let front_listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("binding the front for wrangler dev: {e}"))?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let inspector_port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let log = File::create(&log_path).map_err(|e| format!("creating the log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("creating the log: {e}"))?;
        let child = Command::new(&wrangler)
            .arg("dev")
            .arg("--config")
            .arg(&config_path)
            .args(
                config
                    .auxiliary
                    .iter()
                    .flat_map(|aux| [std::ffi::OsString::from("--config"), root.join(aux).into()]),
            )
            .args(["--local", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector_port.to_string()])
            .arg("--var")
            .arg(format!("OUTPOST_BOOTSTRAP_SECRET:{bootstrap_secret}"))
            .arg("--var")
            .arg(format!("OUTPOST_ONLINE_KEY:{online}"))
            .arg("--var")
            .arg(format!("OUTPOST_DIRECTOR_KEY:{director}"))
            .args(secrets.at_rest.iter().flat_map(|secret| {
                [
                    "--var".to_owned(),
                    format!("OUTPOST_AT_REST_SECRET:{secret}"),
                ]
            }))
            .arg("--persist-to")
            .arg(&persist)
            .args([
                "--test-scheduled",
                "--show-interactive-dev-session=false",
                "--log-level",
                "info",
            ])
            .envs(OFFLINE_ENV.iter().copied())
            .env("WRANGLER_LOG_PATH", state.path().join("wrangler-logs"))
            // A dev registry of its own: a service binding must reach the
            // Worker this `wrangler dev` runs, never one another test started.
            .env("WRANGLER_REGISTRY_PATH", state.path().join("registry"))
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so stopping it stops workerd too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting wrangler dev: {e}"))?;

        let pid_file = std::env::var_os("OUTPOST_E2E_PIDDIR").map(|dir| {
            let path = PathBuf::from(dir).join(child.id().to_string());
            let _ = fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
            let _ = fs::write(&path, config.label);
            path
        });

        // Clients reach wrangler dev through the front, one connection per
        // request (see `front` for the lost requests this avoids).
        let front = front::serve(
            front_listener,
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .map_err(|e| format!("starting the front for wrangler dev: {e}"))?;
        let mut worker = LocalWorker {
            label: config.label,
            base_url: format!("http://127.0.0.1:{front}"),
            ready_after: Duration::ZERO,
            bootstrap_secret,
            secrets,
            persist: persist.clone(),
            config_path: config_path.clone(),
            child,
            log_path,
            pid_file,
            state_dir: state,
        };
        worker.wait_until_answering(started)?;
        eprintln!(
            "local worker `{}` ready on {} after {:.1}s (migrations + wrangler dev start)",
            worker.label,
            worker.base_url,
            worker.ready_after.as_secs_f64()
        );
        Ok(worker)
    }

    /// Polls `/healthz` (not `/readyz`: the broken-binding Worker is never
    /// ready, but it does answer).
    fn wait_until_answering(&mut self, started: Instant) -> Result<(), String> {
        let agent = agent_with_timeout(Duration::from_secs(5));
        let url = format!("{}/healthz", self.base_url);
        let mut pause = Duration::from_millis(50);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "wrangler dev for `{}` exited with {status} before answering:\n{}",
                    self.label,
                    log_tail(&self.log_path)
                ));
            }
            if let Ok(response) = agent.get(&url).call()
                && response.status().as_u16() == 200
            {
                self.ready_after = started.elapsed();
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "wrangler dev for `{}` did not answer {url} within {}s:\n{}",
                    self.label,
                    READY_TIMEOUT.as_secs(),
                    log_tail(&self.log_path)
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// This deployment's online (snapshot/timestamp) or director private
    /// key, for tests that play a compromised Worker.
    pub fn deployment_key(&self, name: &str) -> Result<outpost_core::signing::SigningKey, Failed> {
        let bytes = fs::read(self.state_dir.path().join(format!("{name}.pk8")))
            .map_err(|e| format!("reading the {name} key: {e}"))?;
        outpost_core::signing::SigningKey::from_pkcs8(&bytes).map_err(|e| format!("{e}").into())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Runs SQL against this Worker's local D1 database (as an operator with
    /// direct database access would) and returns the result rows.
    ///
    /// Only from a test that runs alone (see [`run_suite`]): a second SQLite
    /// connection beside the Worker's makes the Worker's own concurrent
    /// writes fail with SQLITE_BUSY, a 500 that some other test would see.
    pub fn d1(&self, sql: &str) -> Result<Vec<serde_json::Value>, Failed> {
        refuse_beside_other_tests("reads or writes local D1")?;
        // A second process on the same SQLite file: while the Worker writes,
        // it may find the database busy. Retry briefly; it is a test reading.
        let mut last = String::new();
        for attempt in 0..20u64 {
            match self.d1_once(sql) {
                Ok(rows) => return Ok(rows),
                Err(err) if err.contains("SQLITE_BUSY") => {
                    last = err;
                    std::thread::sleep(Duration::from_millis(100 * (attempt + 1)));
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(format!("local D1 stayed busy: {last}").into())
    }

    /// Runs `wrangler ARGS --local` on this Worker's state and configuration;
    /// fails with wrangler's output unless it succeeds.
    fn wrangler_local(&self, args: &[&str]) -> Result<std::process::Output, String> {
        wrangler_on(
            &self.persist,
            &self.config_path,
            &self.state_dir.path().join("wrangler-logs"),
            args,
        )
    }

    /// `wrangler d1 export DB --local --output OUT` of this Worker's
    /// database, as an operator exports theirs with `--remote`. (`d1
    /// export` has no `--persist-to`: it reads the default `.wrangler/state`
    /// beside its configuration, so it runs on a copy of the configuration
    /// whose state is this Worker's.) Only from a test that runs alone.
    pub fn d1_export(&self, out: &Path) -> Result<(), Failed> {
        refuse_beside_other_tests("reads local D1")?;
        let project = tempfile::tempdir().map_err(|e| format!("{e}"))?;
        let config = project.path().join("wrangler.toml");
        fs::copy(&self.config_path, &config)
            .map_err(|e| format!("copying the configuration: {e}"))?;
        fs::create_dir_all(project.path().join(".wrangler")).map_err(|e| format!("{e}"))?;
        std::os::unix::fs::symlink(&self.persist, project.path().join(".wrangler/state"))
            .map_err(|e| format!("linking the state: {e}"))?;
        let out_path = out.display().to_string();
        let result = Command::new(wrangler())
            .args([
                "d1", "export", "DB", "--local", "--output", &out_path, "--config",
            ])
            .arg(&config)
            .envs(OFFLINE_ENV.iter().copied())
            .env(
                "WRANGLER_LOG_PATH",
                self.state_dir.path().join("wrangler-logs"),
            )
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running wrangler d1 export: {e}"))?;
        ensure!(
            result.status.success() && out.exists(),
            "wrangler d1 export failed: {}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        Ok(())
    }

    fn d1_once(&self, sql: &str) -> Result<Vec<serde_json::Value>, String> {
        let out = self.wrangler_local(&["d1", "execute", "DB", "--json", "--command", sql])?;
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "d1 execute output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        Ok(value[0]["results"].as_array().cloned().unwrap_or_default())
    }

    /// Runs `wrangler r2 object …` against this Worker's local bucket (as an
    /// operator with storage access would), e.g. to simulate a lost or
    /// corrupted artifact.
    /// Only from a test that runs alone, as [`LocalWorker::d1`].
    pub fn r2(&self, args: &[&str]) -> Result<(), Failed> {
        refuse_beside_other_tests("changes local R2")?;
        let mut all = vec!["r2", "object"];
        all.extend_from_slice(args);
        self.wrangler_local(&all)?;
        Ok(())
    }

    /// The keys of local R2's objects under `prefix`. `wrangler r2 object`
    /// cannot list local buckets, so this reads the local bucket's SQLite
    /// index (`{persist}/v3/r2/miniflare-R2BucketObject/*.sqlite`, table
    /// `_mf_objects`) read-only with Python's `sqlite3`. Only from a test
    /// that runs alone.
    pub fn r2_keys(&self, prefix: &str) -> Result<Vec<String>, Failed> {
        refuse_beside_other_tests("reads local R2")?;
        let dir = self.persist.join("v3/r2/miniflare-R2BucketObject");
        let script = r#"
import json, pathlib, sqlite3, sys
keys = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.sqlite")):
    if path.name == "metadata.sqlite":
        continue
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    keys += [k for (k,) in db.execute("SELECT key FROM _mf_objects WHERE substr(key, 1, ?) = ?", (len(sys.argv[2]), sys.argv[2]))]
print(json.dumps(sorted(keys)))
"#;
        let output = Command::new("python3")
            .args(["-c", script])
            .arg(&dir)
            .arg(prefix)
            .output()
            .map_err(|e| format!("running python3 to list local R2: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "listing local R2: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        serde_json::from_slice(&output.stdout).map_err(|e| format!("listing local R2: {e}").into())
    }

    /// The Worker's log so far (for failure messages).
    pub fn log(&self) -> String {
        log_tail(&self.log_path)
    }
}

impl Drop for LocalWorker {
    fn drop(&mut self) {
        if SUITE_FAILED.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!(
                "\nwrangler dev for `{}`, its log without request lines:\n{}",
                self.label,
                log_without_requests(&self.log_path)
            );
        }
        // OUTPOST_E2E_LOGDIR: keep each Worker's log after the run.
        if let Some(dir) = std::env::var_os("OUTPOST_E2E_LOGDIR") {
            let _ = fs::create_dir_all(&dir);
            let _ = fs::copy(
                &self.log_path,
                PathBuf::from(dir).join(format!(
                    "wrangler-{}-{}.log",
                    self.label,
                    std::process::id()
                )),
            );
        }
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on a process group we created; no memory involved.
        #[expect(unsafe_code, reason = "signalling the process group we spawned")]
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // workerd may outlive wrangler's own exit; make sure the group is gone.
        #[expect(unsafe_code, reason = "signalling the process group we spawned")]
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if let Some(pid_file) = &self.pid_file {
            let _ = fs::remove_file(pid_file);
        }
    }
}

/// A fresh deployment key from `outpost keys generate`, base64 PKCS#8 as the
/// Worker secret holds it.
fn deployment_key(dir: &Path, name: &str) -> Result<String, String> {
    use base64::Engine;
    let bin = outpost_bin().map_err(|e| e.message().unwrap_or_default().to_owned())?;
    let prefix = dir.join(name);
    let out = Command::new(bin)
        .args(["keys", "generate", "--out"])
        .arg(&prefix)
        .output()
        .map_err(|e| format!("running outpost keys generate: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "outpost keys generate: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let pkcs8 =
        fs::read(prefix.with_extension("pk8")).map_err(|e| format!("reading {name}.pk8: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(pkcs8))
}

/// A secret nobody else knows, without pulling a RNG crate into the tests.
fn fresh_secret() -> String {
    let seed = format!(
        "{:?}-{}-{:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    outpost_core::Digest::of(seed.as_bytes()).hex()
}

pub fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    /// The body as text (empty when it is not UTF-8).
    pub body: String,
    /// The body's bytes.
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value, Failed> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("body is not JSON ({e}): {}", self.body).into())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

pub fn request(method: &str, url: &str) -> Result<Reply, Failed> {
    send(method, url, &[], None)
}

/// Sends a request with headers and an optional body.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, Failed> {
    let agent = agent_with_timeout(Duration::from_secs(120));
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(body.map(<[u8]>::to_vec).unwrap_or_default())
        .map_err(|e| format!("building {method} {url}: {e}"))?;
    let mut response = agent
        .run(request)
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // 204 and 304 have no content (RFC 9110 §15.3.5, §15.4.5), whatever
    // Content-Encoding says; HEAD answers never do.
    let bytes = if status == 204 || status == 304 || method == "HEAD" {
        Vec::new()
    } else {
        response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?
    };
    Ok(Reply {
        status,
        content_type,
        headers,
        body: String::from_utf8(bytes.clone()).unwrap_or_default(),
        bytes,
    })
}

pub fn get(url: &str) -> Result<Reply, Failed> {
    request("GET", url)
}

/// An API client for one organisation with one token.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub org: String,
    pub token: String,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` relative to `/v1/orgs/{org}`.
    pub fn org_url(&self, path: &str) -> String {
        format!("{}/v1/orgs/{}{path}", self.base, self.org)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn get(&self, path: &str) -> Result<Reply, Failed> {
        send(
            "GET",
            &self.org_url(path),
            &[("authorization", &self.auth())],
            None,
        )
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Reply, Failed> {
        let auth = self.auth();
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        send("GET", &self.org_url(path), &all, None)
    }

    pub fn json(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, Failed> {
        let text = body.to_string();
        send(
            method,
            &self.org_url(path),
            &[
                ("authorization", &self.auth()),
                ("content-type", "application/json"),
            ],
            Some(text.as_bytes()),
        )
    }

    pub fn delete(&self, path: &str) -> Result<Reply, Failed> {
        send(
            "DELETE",
            &self.org_url(path),
            &[("authorization", &self.auth())],
            None,
        )
    }

    /// Uploads `bytes` as a blob declaring `digest` (`sha256:<hex>`) and `size`.
    pub fn put_blob_as(&self, bytes: &[u8], digest_hex: &str, size: u64) -> Result<Reply, Failed> {
        let size = size.to_string();
        send(
            "PUT",
            &self.org_url(&format!("/blobs/sha256/{digest_hex}")),
            &[("authorization", &self.auth()), ("x-outpost-size", &size)],
            Some(bytes),
        )
    }

    /// Offers `copy` as the gzip copy of the stored artifact `digest_hex`.
    pub fn put_gzip_copy(&self, digest_hex: &str, copy: &[u8]) -> Result<Reply, Failed> {
        let size = copy.len().to_string();
        send(
            "PUT",
            &self.org_url(&format!("/blobs/sha256/{digest_hex}/codings/gzip")),
            &[("authorization", &self.auth()), ("x-outpost-size", &size)],
            Some(copy),
        )
    }

    /// Uploads `bytes` honestly; returns the digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<outpost_core::Digest, Failed> {
        let digest = outpost_core::Digest::of(bytes);
        let reply = self.put_blob_as(bytes, &digest.hex(), bytes.len() as u64)?;
        if !(reply.status == 200 || reply.status == 201) {
            return Err(format!("uploading a blob: {} {}", reply.status, reply.body).into());
        }
        Ok(digest)
    }
}

/// python-tuf's ngclient (`tests/python/tuf_interop.py`) against `url` as
/// a device of `org` with its viewer `token`, pinned to `root`: downloads
/// `target` (`model/version`); (succeeded, stdout, stderr).
pub fn tuf_client(
    url: &str,
    (org, token): (&str, &str),
    root: &Path,
    target: &str,
) -> Result<(bool, String, String), Failed> {
    let repo = repo_root();
    let python = repo.join(".venv/bin/python");
    if !python.exists() {
        return Err(format!(
            "{} is missing: run scripts/setup.sh (installs python-tuf)",
            python.display()
        )
        .into());
    }
    let out = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let output = Command::new(python)
        .arg(repo.join("tests/python/tuf_interop.py"))
        .args([url, org, token])
        .arg(root)
        .arg(target)
        .arg(out.path())
        .output()
        .map_err(|e| format!("running python-tuf: {e}"))?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// A response as it crossed the wire: the body not decoded (ureq decodes
/// gzip and hides `Content-Encoding` and `Content-Length`).
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body's bytes as sent (de-chunked, not decoded).
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A GET over a plain HTTP/1.1 connection (`http://host:port/path`),
/// reading the answer as sent.
pub fn raw_get(url: &str, headers: &[(&str, &str)]) -> Result<RawReply, Failed> {
    use std::io::{BufRead, BufReader, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not http://"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority)
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| format!("{e}"))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{e}"))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| format!("{e}"))?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {line:?}"))?;
    let mut names = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_err(|e| format!("{e}"))? == 0
            || header.trim().is_empty()
        {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            names.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut reply = RawReply {
        status,
        headers: names,
        body: Vec::new(),
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| format!("{e}"))?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| format!("chunk size {size:?}: {e}"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).map_err(|e| format!("{e}"))?;
            if size == 0 {
                break;
            }
            reply.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader
            .read_to_end(&mut reply.body)
            .map_err(|e| format!("{e}"))?;
    }
    Ok(reply)
}

/// `bytes` gzip-coded (flate2, default level), as a client would offer them.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Fails with a readable message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// The `outpost` binary built in the same target directory as this test.
pub fn outpost_bin() -> Result<PathBuf, Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("locating the test binary: {e}"))?;
    // target/<profile>/deps/<test> → target/<profile>/outpost
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("outpost"))
        .ok_or("cannot derive the target directory")?;
    if !bin.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --bin outpost` first",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// A suite's test: a name and a function of the suite's fixture.
pub type SuiteTest<F> = (&'static str, fn(&F) -> Result<(), Failed>);

/// Runs a suite against one fixture (typically a `LocalWorker` and what the
/// suite set up in it): tests run in parallel, except those named in `alone`,
/// which run with no other test of the suite (they touch shared state, e.g.
/// the local D1 file through a second connection). The fixture is dropped —
/// stopping its Workers — before the process exits, whatever the outcome.
pub fn run_suite<F: Send + Sync + 'static>(
    label: &str,
    setup: impl FnOnce() -> Result<F, Failed>,
    tests: &[SuiteTest<F>],
    alone: &[&str],
) -> ! {
    use std::sync::{Arc, RwLock};
    let args = Arguments::from_args();
    let fixture = if args.list {
        None
    } else {
        // A Worker that started but whose setup failed prints its log too.
        SUITE_FAILED.store(true, std::sync::atomic::Ordering::SeqCst);
        let outcome = setup();
        SUITE_FAILED.store(outcome.is_err(), std::sync::atomic::Ordering::SeqCst);
        match outcome {
            Ok(fixture) => Some(Arc::new(fixture)),
            Err(e) => {
                eprintln!(
                    "could not set up the {label} fixture: {}",
                    e.message().unwrap_or_default()
                );
                std::process::exit(1);
            }
        }
    };
    let lock = Arc::new(RwLock::new(()));
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            let fixture = fixture.clone();
            let lock = Arc::clone(&lock);
            let exclusive = alone.contains(&name);
            Trial::test(name, move || {
                let Some(fixture) = &fixture else {
                    return Ok(());
                };
                // Set for every trial: threads are reused, also after a panic.
                BESIDE_OTHER_TESTS.with(|flag| flag.set(!exclusive));
                if exclusive {
                    let _alone = lock.write().unwrap_or_else(|e| e.into_inner());
                    test(fixture)
                } else {
                    let _shared = lock.read().unwrap_or_else(|e| e.into_inner());
                    test(fixture)
                }
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if conclusion.has_failed() {
        SUITE_FAILED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    drop(fixture);
    conclusion.exit()
}

// Helpers shared by the suites.

/// Runs the `outpost` CLI with only `config` as its profile file (none of the
/// caller's OUTPOST_* variables): (succeeded, stdout, stderr).
pub fn cli(config: &Path, args: &[&str]) -> Result<(bool, String, String), Failed> {
    let bin = outpost_bin()?;
    let mut command = Command::new(&bin);
    for var in [
        "OUTPOST_URL",
        "OUTPOST_ORG",
        "OUTPOST_TOKEN",
        "OUTPOST_PROFILE",
        "OUTPOST_BOOTSTRAP_SECRET",
    ] {
        command.env_remove(var);
    }
    let out = command
        .env("OUTPOST_CONFIG", config)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// A model fixture of `tests/data/models`, by file name.
pub fn fixture_bytes(name: &str) -> Result<Vec<u8>, Failed> {
    std::fs::read(repo_root().join("tests/data/models").join(name))
        .map_err(|e| format!("reading fixture {name}: {e}").into())
}

/// A CLI profile file for `api` on `worker` (in a directory dropped with
/// the returned guard), for [`cli`].
pub fn cli_profile(
    worker: &LocalWorker,
    api: &Api,
) -> Result<(tempfile::TempDir, PathBuf), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nurl = \"{}\"\norg = \"{}\"\ntoken = \"{}\"\n",
            worker.base_url, api.org, api.token
        ),
    )
    .map_err(|e| format!("{e}"))?;
    Ok((dir, config))
}

pub fn expect_status(reply: &Reply, status: u16, what: &str) -> Result<serde_json::Value, Failed> {
    ensure!(
        reply.status == status,
        "{what}: expected {status}, got {} {}",
        reply.status,
        reply.body
    );
    if reply.body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    reply.json()
}

pub fn expect_problem(reply: &Reply, status: u16, what: &str) -> Result<String, Failed> {
    let body = expect_status(reply, status, what)?;
    ensure!(
        reply.content_type.starts_with("application/problem+json"),
        "{what}: content type {}",
        reply.content_type
    );
    let detail = body["detail"].as_str().unwrap_or_default().to_owned();
    ensure!(!detail.is_empty(), "{what}: problem without detail: {body}");
    Ok(detail)
}

pub fn init_org(worker: &LocalWorker, org: &str) -> Result<Api, Failed> {
    let body = serde_json::json!({"org": org}).to_string();
    let auth = format!("Bearer {}", worker.bootstrap_secret);
    let reply = send(
        "POST",
        &worker.url("/v1/admin/init"),
        &[("authorization", &auth)],
        Some(body.as_bytes()),
    )?;
    let created = expect_status(&reply, 201, "init")?;
    Ok(Api {
        base: worker.base_url.clone(),
        org: org.into(),
        token: created["token"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

pub fn create_token(admin: &Api, name: &str, role: &str) -> Result<(String, Api), Failed> {
    let reply = admin.json(
        "POST",
        "/tokens",
        &serde_json::json!({"name": name, "role": role}),
    )?;
    let created = expect_status(&reply, 201, "create token")?;
    let api = Api {
        token: created["token"].as_str().unwrap_or_default().to_owned(),
        ..admin.clone()
    };
    Ok((created["id"].as_str().unwrap_or_default().to_owned(), api))
}

pub fn register(api: &Api, model: &str, body: serde_json::Value) -> Result<Reply, Failed> {
    api.json("POST", &format!("/models/{model}/versions"), &body)
}

/// An organisation after its operator's key ceremony, done with the CLI as
/// the README shows: one root key, `releases` release keys (all needed), the
/// deployment's online keys; the root uploaded. Keys and the admin's profile
/// live in `dir`.
#[derive(Debug)]
pub struct ReleaseKeys {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub releases: usize,
}

impl ReleaseKeys {
    pub fn ceremony(worker: &LocalWorker, admin: &Api) -> Result<Self, Failed> {
        Self::ceremony_with(worker, admin, 1)
    }

    pub fn ceremony_with(
        worker: &LocalWorker,
        admin: &Api,
        releases: usize,
    ) -> Result<Self, Failed> {
        let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
        let config = dir.path().join("operator.toml");
        std::fs::write(
            &config,
            format!(
                "[profiles.default]\nurl = \"{}\"\norg = \"{}\"\ntoken = \"{}\"\n",
                worker.base_url, admin.org, admin.token
            ),
        )
        .map_err(|e| format!("{e}"))?;
        let keys = Self {
            dir,
            config,
            releases,
        };
        let path = |name: &str| keys.path(name).to_string_lossy().into_owned();
        keys.run(&["keys", "generate", "--out", &path("root")])?;
        let mut init = vec![
            "trust".to_owned(),
            "init".into(),
            "--root-key".into(),
            path("root.pk8"),
            "--release-threshold".into(),
            releases.to_string(),
            "--online-key".into(),
            path("deployment/online.pub.json"),
            "--director-key".into(),
            path("deployment/director.pub.json"),
            "-o".into(),
            path("root.json"),
        ];
        for n in 1..=releases {
            keys.run(&["keys", "generate", "--out", &path(&format!("release{n}"))])?;
            init.push("--release-key".into());
            init.push(path(&format!("release{n}.pub.json")));
        }
        keys.run(&["trust", "fetch-keys", "--out-dir", &path("deployment")])?;
        keys.run(&init.iter().map(String::as_str).collect::<Vec<_>>())?;
        keys.run(&["trust", "upload", &path("root.json")])?;
        Ok(keys)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Release key `n` (from 1), as the operator holds it.
    pub fn release_key(&self, n: usize) -> Result<outpost_core::signing::SigningKey, Failed> {
        let bytes = std::fs::read(self.path(&format!("release{n}.pk8")))
            .map_err(|e| format!("reading release key {n}: {e}"))?;
        outpost_core::signing::SigningKey::from_pkcs8(&bytes).map_err(|e| format!("{e}").into())
    }

    /// Runs the CLI as the organisation's admin; stdout, or the failure.
    pub fn run(&self, args: &[&str]) -> Result<String, Failed> {
        let (ok, stdout, stderr) = cli(&self.config, args)?;
        ensure!(ok, "outpost {}: {stdout}{stderr}", args.join(" "));
        Ok(stdout)
    }

    /// `outpost release sign MODEL VERSION…` with every release key.
    pub fn release(&self, model: &str, versions: &[&str]) -> Result<String, Failed> {
        let keys: Vec<String> = (1..=self.releases)
            .map(|n| {
                self.path(&format!("release{n}.pk8"))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let mut args = vec!["release", "sign", model];
        args.extend_from_slice(versions);
        for key in &keys {
            args.extend_from_slice(&["--key", key]);
        }
        self.run(&args)
    }
}

/// Card transactions the inference tests send: a typical one, a large one at
/// 3 am far from home, a missing distance (NaN through JSON `null`), and one
/// more.
pub fn transactions() -> serde_json::Value {
    serde_json::json!({"X": [
        [42.0, 14.0, 3.5, 0.1],
        [2400.0, 3.0, 800.0, 0.9],
        [15.5, 11.0, null, 0.2],
        [120.0, 22.0, 40.0, 0.5]
    ]})
}

/// Model outputs equal within 1e-6 (relative, absolute below 1) where the
/// expected value is a float; integers and labels exactly.
pub fn same(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| same(g, w))
        }
        (Value::Object(g), Value::Object(w)) => {
            g.len() == w.len() && w.iter().all(|(k, w)| g.get(k).is_some_and(|g| same(g, w)))
        }
        (Value::Number(g), Value::Number(w)) if w.is_f64() => {
            let (g, w) = (g.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(0.0));
            (g - w).abs() <= 1e-6 * w.abs().max(1.0)
        }
        _ => got == want,
    }
}

/// The reference profile of `tests/data/models/transactions-reference.csv`
/// (the demo models' training sample), as the native core computes it.
pub fn transactions_reference_profile() -> Result<serde_json::Value, Failed> {
    let path = repo_root().join("tests/data/models/transactions-reference.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let mut columns: Vec<(String, Vec<String>)> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|name| (name.to_owned(), Vec::new()))
        .collect();
    for line in lines {
        for (column, cell) in columns.iter_mut().zip(line.split(',')) {
            column.1.push(cell.to_owned());
        }
    }
    let profile = outpost_core::profile::ReferenceProfile::from_columns(&columns)
        .map_err(|e| format!("{e}"))?;
    serde_json::to_value(profile).map_err(|e| format!("{e}").into())
}

/// Runs `node ARGS` from the repository root with `envs` added:
/// (succeeded, stdout then stderr).
pub fn node(args: &[&str], envs: &[(&str, String)]) -> Result<(bool, String), Failed> {
    let out = Command::new("node")
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(repo_root())
        .output()
        .map_err(|e| format!("running node: {e}"))?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}
