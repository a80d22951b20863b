//! Walking skeleton, end to end: health, readiness over real D1 and R2, problem
//! bodies, static assets, the cron trigger and the CLI against a local Worker.
//!
//! One `wrangler dev` per configuration serves every test in this binary; the
//! tests run in parallel against it and it is stopped when they are done.

use std::process::Command;
use std::sync::Arc;

use outpost_e2e::{Arguments, Failed, LocalWorker, Trial, WorkerConfig, ensure, get, request};

type Test = fn(&Workers) -> Result<(), Failed>;

struct Workers {
    main: LocalWorker,
    no_bucket: LocalWorker,
    rate_limited: LocalWorker,
}

const TESTS: &[(&str, Test)] = &[
    (
        "healthz_answers_without_dependencies",
        healthz_answers_without_dependencies,
    ),
    (
        "readyz_reports_d1_and_r2_healthy",
        readyz_reports_d1_and_r2_healthy,
    ),
    (
        "readyz_is_503_naming_r2_without_the_bucket",
        readyz_is_503_naming_r2_without_the_bucket,
    ),
    (
        "readyz_is_503_naming_a_missing_inference_worker",
        readyz_is_503_naming_a_missing_inference_worker,
    ),
    (
        "the_registry_worker_carries_no_tract",
        the_registry_worker_carries_no_tract,
    ),
    (
        "unknown_route_is_404_problem_json",
        unknown_route_is_404_problem_json,
    ),
    (
        "wrong_method_is_405_problem_json",
        wrong_method_is_405_problem_json,
    ),
    (
        "placeholder_page_is_served_as_a_static_asset",
        placeholder_page_is_served_as_a_static_asset,
    ),
    ("cron_trigger_records_its_run", cron_trigger_records_its_run),
    ("cli_health_reports_ready", cli_health_reports_ready),
    (
        "cli_health_fails_naming_the_broken_dependency",
        cli_health_fails_naming_the_broken_dependency,
    ),
    (
        "cli_health_explains_an_unreachable_registry",
        cli_health_explains_an_unreachable_registry,
    ),
    (
        "rate_limits_per_token_organisation_and_client_address",
        rate_limits_per_token_organisation_and_client_address,
    ),
];

fn main() {
    let args = Arguments::from_args();
    let workers = if args.list {
        None
    } else {
        // Start the Workers at once: start-up dominates this suite.
        let no_bucket = std::thread::spawn(|| LocalWorker::start(&WorkerConfig::NO_BUCKET));
        let rate_limited = std::thread::spawn(|| LocalWorker::start(&WorkerConfig::RATE_LIMITED));
        let main = LocalWorker::start(&WorkerConfig::MAIN);
        let joined = |handle: std::thread::JoinHandle<Result<LocalWorker, String>>| {
            handle
                .join()
                .unwrap_or_else(|_| Err("the start-up thread panicked".to_owned()))
        };
        match (main, joined(no_bucket), joined(rate_limited)) {
            (Ok(main), Ok(no_bucket), Ok(rate_limited)) => Some(Arc::new(Workers {
                main,
                no_bucket,
                rate_limited,
            })),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                eprintln!("could not start the local Worker: {e}");
                std::process::exit(1);
            }
        }
    };
    let trials = TESTS
        .iter()
        .map(|&(name, test)| {
            let workers = workers.clone();
            Trial::test(name, move || match &workers {
                Some(workers) => test(workers),
                None => Ok(()),
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(workers); // stops the Workers before the process exits
    conclusion.exit();
}

fn expect_problem(
    reply: &outpost_e2e::Reply,
    status: u16,
    slug: &str,
) -> Result<serde_json::Value, Failed> {
    ensure!(
        reply.status == status,
        "expected {status}, got {}: {}",
        reply.status,
        reply.body
    );
    ensure!(
        reply.content_type.starts_with("application/problem+json"),
        "expected problem+json, got `{}`",
        reply.content_type
    );
    let body = reply.json()?;
    ensure!(
        body["type"] == format!("urn:outpost:problem:{slug}"),
        "type: {body}"
    );
    ensure!(body["status"] == status, "status member: {body}");
    ensure!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "title: {body}"
    );
    ensure!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    Ok(body)
}

/// The file name of the newest migration in worker/migrations.
fn newest_migration() -> Result<String, Failed> {
    let dir = outpost_e2e::repo_root().join("worker/migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    names.pop().ok_or_else(|| "no migrations".into())
}

fn healthz_answers_without_dependencies(w: &Workers) -> Result<(), Failed> {
    // The Worker without a bucket is alive too: liveness touches nothing.
    for worker in [&w.main, &w.no_bucket] {
        let reply = get(&worker.url("/healthz"))?;
        ensure!(reply.status == 200, "{}: {}", worker.label, reply.status);
        ensure!(
            reply.content_type.starts_with("application/json"),
            "{}",
            reply.content_type
        );
        let body = reply.json()?;
        ensure!(body["status"] == "ok", "{body}");
        ensure!(
            body["version"] == env!("CARGO_PKG_VERSION"),
            "version: {body}"
        );
        ensure!(
            reply.header("cache-control") == Some("no-store"),
            "cache-control"
        );
    }
    Ok(())
}

fn readyz_reports_d1_and_r2_healthy(w: &Workers) -> Result<(), Failed> {
    let reply = get(&w.main.url("/readyz"))?;
    ensure!(reply.status == 200, "{}: {}", reply.status, reply.body);
    let body = reply.json()?;
    ensure!(body["status"] == "ready", "{body}");
    ensure!(body["checks"]["d1"]["status"] == "ok", "{body}");
    let newest = newest_migration()?;
    ensure!(
        body["checks"]["d1"]["schema"] == newest.as_str(),
        "the newest migration ({newest}) is reported as the schema: {body}"
    );
    ensure!(body["checks"]["r2"]["status"] == "ok", "{body}");
    ensure!(body["checks"]["inference"]["status"] == "ok", "{body}");
    Ok(())
}

/// The rate-limited configuration runs without the inference Worker.
fn readyz_is_503_naming_a_missing_inference_worker(w: &Workers) -> Result<(), Failed> {
    let reply = get(&w.rate_limited.url("/readyz"))?;
    let body = expect_problem(&reply, 503, "service-unavailable")?;
    ensure!(
        body["failing"] == serde_json::json!(["inference"]),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    ensure!(
        detail.contains("INFERENCE"),
        "detail should name the service binding: {detail}"
    );
    Ok(())
}

/// The registry Worker, which answers every device, is built without tract
/// and fits in a megabyte gzipped (wasm, JS glue and shim, as uploaded);
/// tract lives in the inference Worker, backups and restores in the
/// operations Worker.
fn the_registry_worker_carries_no_tract(_: &Workers) -> Result<(), Failed> {
    let root = outpost_e2e::repo_root();
    let read = |path: &str| {
        std::fs::read(root.join(path)).map_err(|e| Failed::from(format!("{path}: {e}")))
    };
    let registry = read("worker/build/index_bg.wasm")?;
    let inference = read("worker/inference/build/index_bg.wasm")?;
    let carries_tract = |wasm: &[u8]| wasm.windows(10).any(|w| w == b"tract-core");
    ensure!(
        carries_tract(&inference),
        "the inference Worker runs tract (its panic locations name tract-core)"
    );
    ensure!(
        !carries_tract(&registry),
        "the registry Worker links tract; outpost-infer's `runtime` feature leaked into it"
    );
    // Backups and restores are the operations Worker's (forwarded to it).
    let restores = |wasm: &[u8]| wasm.windows(20).any(|w| w == b"INSERT INTO restores");
    let operations = read("worker/build-operations/index_bg.wasm")?;
    ensure!(
        restores(&operations) && !restores(&registry),
        "restores are written by the operations Worker only"
    );
    let mut upload = registry;
    upload.extend(read("worker/build/index.js")?);
    upload.extend(read("worker/build/worker/shim.mjs")?);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gzip, &upload).map_err(|e| Failed::from(e.to_string()))?;
    let gzipped = gzip
        .finish()
        .map_err(|e| Failed::from(e.to_string()))?
        .len();
    // Issue 15's goal: at most 1 MB (10^6 bytes, the stricter reading).
    // Built with opt-level "z" and without the wasm name section
    // (scripts/build-worker.sh), it is about 0.93 MB.
    ensure!(
        gzipped <= 1_000_000,
        "the registry Worker is {gzipped} bytes gzipped; the goal is at most 1 MB"
    );
    Ok(())
}

fn readyz_is_503_naming_r2_without_the_bucket(w: &Workers) -> Result<(), Failed> {
    let reply = get(&w.no_bucket.url("/readyz"))?;
    let body = expect_problem(&reply, 503, "service-unavailable")?;
    ensure!(body["failing"] == serde_json::json!(["r2"]), "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    ensure!(
        detail.contains("r2") && detail.contains("ARTIFACTS"),
        "detail should name r2 and its binding: {detail}"
    );
    ensure!(
        body["checks"]["d1"]["status"] == "ok",
        "d1 still healthy: {body}"
    );
    Ok(())
}

fn unknown_route_is_404_problem_json(w: &Workers) -> Result<(), Failed> {
    let reply = get(&w.main.url("/v1/no-such-thing"))?;
    let body = expect_problem(&reply, 404, "not-found")?;
    let detail = body["detail"].as_str().unwrap_or_default();
    ensure!(
        detail.contains("GET /v1/no-such-thing"),
        "detail names the request: {detail}"
    );
    Ok(())
}

fn wrong_method_is_405_problem_json(w: &Workers) -> Result<(), Failed> {
    let reply = request("DELETE", &w.main.url("/healthz"))?;
    let body = expect_problem(&reply, 405, "method-not-allowed")?;
    ensure!(body["allowed"] == serde_json::json!(["GET"]), "{body}");
    // RFC 9110 §15.5.6: a 405 carries Allow.
    ensure!(reply.header("allow") == Some("GET"), "{:?}", reply.headers);
    Ok(())
}

fn placeholder_page_is_served_as_a_static_asset(w: &Workers) -> Result<(), Failed> {
    let reply = get(&w.main.url("/"))?;
    ensure!(reply.status == 200, "{}", reply.status);
    ensure!(
        reply.content_type.starts_with("text/html"),
        "{}",
        reply.content_type
    );
    ensure!(reply.body.contains("Outpost"), "page names Outpost");
    ensure!(
        reply.body.contains("href=\"/readyz\""),
        "page links to /readyz"
    );
    Ok(())
}

fn cron_trigger_records_its_run(w: &Workers) -> Result<(), Failed> {
    // wrangler dev --test-scheduled exposes the scheduled handler over HTTP.
    let cron = "*/5 * * * *";
    let trigger = get(&w.main.url("/__scheduled?cron=*/5+*+*+*+*"))?;
    ensure!(
        trigger.status == 200,
        "triggering the cron: {} {}\n{}",
        trigger.status,
        trigger.body,
        w.main.log()
    );
    let reply = get(&w.main.url("/readyz"))?;
    let body = reply.json()?;
    let last = &body["checks"]["d1"]["last_scheduled_run"];
    ensure!(last["cron"] == cron, "last scheduled run: {body}");
    ensure!(
        last["finished_at"].as_f64().is_some_and(|t| t > 1.7e12),
        "finished_at is a plausible epoch-ms time: {last}"
    );
    Ok(())
}

fn run_cli(args: &[&str]) -> Result<std::process::Output, Failed> {
    let bin = outpost_e2e::outpost_bin()?;
    Command::new(&bin)
        .args(args)
        .env_remove("OUTPOST_URL")
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()).into())
}

fn cli_health_reports_ready(w: &Workers) -> Result<(), Failed> {
    let out = run_cli(&["health", "--url", &w.main.base_url])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "exit {:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(stdout.contains("is ready"), "{stdout}");
    let newest = newest_migration()?;
    ensure!(stdout.contains(&format!("schema=\"{newest}\"")), "{stdout}");

    let out = run_cli(&["health", "--url", &w.main.base_url, "--json"])?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("--json output is not JSON: {e}"))?;
    ensure!(report["status"] == "ready", "{report}");
    Ok(())
}

fn cli_health_fails_naming_the_broken_dependency(w: &Workers) -> Result<(), Failed> {
    let out = run_cli(&["health", "--url", &w.no_bucket.base_url])?;
    ensure!(
        out.status.code() == Some(1),
        "exit code {:?}",
        out.status.code()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(stdout.contains("r2   FAILED"), "{stdout}");
    ensure!(
        stderr.contains("not ready (r2 failing)"),
        "stderr: {stderr}"
    );
    Ok(())
}

fn cli_health_explains_an_unreachable_registry(_: &Workers) -> Result<(), Failed> {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("{e}"))?
        .port();
    let out = run_cli(&["health", "--url", &format!("http://127.0.0.1:{port}")])?;
    ensure!(!out.status.success(), "must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.contains("could not reach") && stderr.contains("scripts/dev.sh"),
        "says what to do next: {stderr}"
    );
    Ok(())
}

/// The rate-limited Worker's two checks, in this order: the address test
/// exhausts this client's unauthenticated budget, so it comes last.
fn rate_limits_per_token_organisation_and_client_address(w: &Workers) -> Result<(), Failed> {
    expensive_routes_are_rate_limited_per_token_and_organisation(w)?;
    token_lookups_are_rate_limited_per_client_address(w)
}

/// Uploads by one token, then by another of the same organisation, in a
/// burst: each token has 5 per window and the organisation 8 (the test
/// configuration). A burst spans at most two windows, so 11 requests of one
/// token must meet at least one 429, with Retry-After and problem+json.
fn expensive_routes_are_rate_limited_per_token_and_organisation(w: &Workers) -> Result<(), Failed> {
    let admin = outpost_e2e::init_org(&w.rate_limited, "limited")?;
    let (_, first) = outpost_e2e::create_token(&admin, "first", "developer")?;
    let (_, second) = outpost_e2e::create_token(&admin, "second", "developer")?;
    let burst = |api: &outpost_e2e::Api, tag: &str| -> Result<Vec<outpost_e2e::Reply>, Failed> {
        (0..11)
            .map(|i| {
                let bytes = format!("{tag} artifact {i}").into_bytes();
                let digest = outpost_core::Digest::of(&bytes);
                api.put_blob_as(&bytes, &digest.hex(), bytes.len() as u64)
            })
            .collect()
    };
    let replies = burst(&first, "first")?;
    let refused: Vec<&outpost_e2e::Reply> = replies.iter().filter(|r| r.status == 429).collect();
    let stored = replies.iter().filter(|r| r.status == 201).count();
    ensure!(
        !refused.is_empty() && stored + refused.len() == replies.len() && stored <= 10,
        "statuses {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let body = expect_problem(refused[0], 429, "too-many-requests")?;
    ensure!(body["retry_after"] == 60, "{body}");
    ensure!(
        refused[0].header("retry-after") == Some("60"),
        "{:?}",
        refused[0].headers
    );
    // The organisation's own counter: a second token meets it too.
    let replies = burst(&second, "second")?;
    ensure!(
        replies.iter().any(|r| r.status == 429),
        "statuses {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // Routes outside the expensive classes are not limited.
    for _ in 0..12 {
        let reply = first.get("/models")?;
        ensure!(reply.status == 200, "{}: {}", reply.status, reply.body);
    }
    Ok(())
}

/// Requests refused for want of a valid token (none, malformed or unknown)
/// draw on their client address's limit (100 per window here; a burst spans
/// at most two windows, so 201 of them meet a 429), whatever they carry.
fn token_lookups_are_rate_limited_per_client_address(w: &Workers) -> Result<(), Failed> {
    let url = w.rate_limited.url("/v1/orgs/nobody/trust/timestamp.json");
    let unknown = "Bearer opt_0123456789abcdef_0123456789abcdef0123456789abcdef0123456789a";
    let statuses: Vec<u16> = (0..201)
        .map(|i| {
            let headers: &[(&str, &str)] = match i % 3 {
                0 => &[],
                1 => &[("authorization", "Bearer garbage")],
                _ => &[("authorization", unknown)],
            };
            outpost_e2e::send("GET", &url, headers, None)
                .map(|r| r.status)
                .unwrap_or(0)
        })
        .collect();
    ensure!(
        statuses.iter().all(|s| *s == 401 || *s == 429) && statuses.contains(&429),
        "{statuses:?}"
    );
    Ok(())
}
