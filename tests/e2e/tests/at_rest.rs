//! Encryption at rest, end to end against a real local Worker with an
//! at-rest secret (workerd, local D1, local R2): the raw R2 objects of an
//! encrypted organisation hold no plaintext, every Range boundary reads
//! exactly the plaintext, a flipped stored byte fails the download with a
//! clear error and never yields wrong bytes, plaintext objects are sealed by
//! the cron, and key rotation under concurrent downloads loses nothing. A
//! sealed model is run by the inference Worker throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use outpost_e2e::{
    Api, Failed, LocalWorker, WorkerConfig, cli, ensure, expect_problem, expect_status, init_org,
    register, transactions,
};
use serde_json::{Value, json};

struct Fixture {
    worker: LocalWorker,
    /// The admin of `vault`, an organisation created with encryption on.
    vault: Api,
}

type Test = fn(&Fixture) -> Result<(), Failed>;

const TESTS: &[(&str, Test)] = &[
    (
        "a_new_organisation_stores_no_plaintext_and_serves_every_range",
        a_new_organisation_stores_no_plaintext_and_serves_every_range,
    ),
    (
        "a_flipped_stored_byte_fails_the_download_and_never_yields_wrong_bytes",
        a_flipped_stored_byte_fails_the_download_and_never_yields_wrong_bytes,
    ),
    (
        "plaintext_is_sealed_by_the_cron_and_rotation_under_downloads_loses_nothing",
        plaintext_is_sealed_by_the_cron_and_rotation_under_downloads_loses_nothing,
    ),
];

/// Every test reads or writes local R2 or D1 directly.
const ALONE: &[&str] = &[
    "a_new_organisation_stores_no_plaintext_and_serves_every_range",
    "a_flipped_stored_byte_fails_the_download_and_never_yields_wrong_bytes",
    "plaintext_is_sealed_by_the_cron_and_rotation_under_downloads_loses_nothing",
];

fn main() {
    outpost_e2e::run_suite(
        "at_rest",
        || {
            let worker = LocalWorker::start(&WorkerConfig::SEALED)?;
            let vault = init_org(&worker, "vault")?;
            Ok(Fixture { worker, vault })
        },
        TESTS,
        ALONE,
    );
}

const CHUNK: usize = 64 * 1024;
const CRON: &str = "/__scheduled?cron=*/5+*+*+*+*";

/// Three whole chunks and five bytes, never all zeros, different per seed.
fn artifact(seed: usize) -> Vec<u8> {
    (0..3 * CHUNK + 5)
        .map(|i| ((i * 31 + seed * 7 + i / 251) % 253) as u8)
        .collect()
}

fn sealed_key(org: &str, hex: &str, version: u32) -> String {
    format!("outpost-artifacts/orgs/{org}/sealed/sha256/{hex}/v{version}")
}

/// The raw bytes of an R2 object, as `wrangler r2 object get --local` reads them.
fn raw_object(f: &Fixture, key: &str) -> Result<Vec<u8>, Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let file = dir.path().join("object");
    f.worker
        .r2(&["get", key, "--file", &file.display().to_string()])?;
    std::fs::read(&file).map_err(|e| format!("reading {key}: {e}").into())
}

fn put_raw_object(f: &Fixture, key: &str, bytes: &[u8]) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let file = dir.path().join("object");
    std::fs::write(&file, bytes).map_err(|e| format!("{e}"))?;
    f.worker
        .r2(&["put", key, "--file", &file.display().to_string()])
}

/// No 24-byte window of the plaintext, at any of a few hundred offsets,
/// appears in `stored`.
fn holds_no_plaintext(stored: &[u8], plain: &[u8]) -> bool {
    let windows: Vec<&[u8]> = (0..plain.len() - 24)
        .step_by(997)
        .map(|at| &plain[at..at + 24])
        .collect();
    !stored.windows(24).any(|w| windows.contains(&w))
}

fn cli_config(f: &Fixture, api: &Api) -> Result<(tempfile::TempDir, std::path::PathBuf), Failed> {
    outpost_e2e::cli_profile(&f.worker, api)
}

fn status(api: &Api) -> Result<Value, Failed> {
    expect_status(&api.get("/encryption")?, 200, "encryption status")
}

fn a_new_organisation_stores_no_plaintext_and_serves_every_range(
    f: &Fixture,
) -> Result<(), Failed> {
    let on = status(&f.vault)?;
    ensure!(
        on["configured"] == true && on["enabled"] == true && on["key_version"] == 1,
        "a new organisation seals from the start: {on}"
    );
    let plain = artifact(1);
    let digest = f.vault.put_blob(&plain)?;
    let hex = digest.hex();
    let n = plain.len();

    // The raw object: sealed, as long as the format says, no plaintext.
    let stored = raw_object(f, &sealed_key("vault", &hex, 1))?;
    ensure!(stored.starts_with(b"opsealed"), "no sealed header");
    ensure!(
        stored.len() == 20 + n + 4 * 16,
        "sealed length {} for {n} plaintext bytes in 4 chunks",
        stored.len()
    );
    ensure!(
        holds_no_plaintext(&stored, &plain),
        "plaintext visible in the stored object"
    );
    // The same command finds the sealed object and not a plaintext one.
    f.worker
        .r2(&["get", &sealed_key("vault", &hex, 1), "--pipe"])?;
    ensure!(
        f.worker
            .r2(&[
                "get",
                &format!("outpost-artifacts/orgs/vault/sha256/{hex}"),
                "--pipe"
            ])
            .is_err(),
        "a plaintext object was stored beside the sealed one"
    );
    // No compressed copy is kept of a sealed artifact: it would be
    // plaintext in R2.
    let refused = outpost_e2e::expect_problem(
        &f.vault.put_gzip_copy(&hex, &outpost_e2e::gzip(&plain))?,
        409,
        "a gzip copy of a sealed artifact",
    )?;
    ensure!(refused.contains("sealed at rest"), "{refused}");
    let copies = f
        .worker
        .r2_keys(&format!("orgs/vault/gzip/sha256/{hex}/"))?;
    ensure!(
        copies.is_empty(),
        "a copy of a sealed artifact reached R2: {copies:?}"
    );

    // Whole, HEAD-equivalent length, and every boundary of a Range.
    let blob = format!("/blobs/sha256/{hex}");
    let whole = f.vault.get(&blob)?;
    ensure!(
        whole.status == 200
            && whole.bytes == plain
            && whole.header("content-length") == Some(&n.to_string()[..]),
        "whole download: {} ({} bytes, content-length {:?})",
        whole.status,
        whole.bytes.len(),
        whole.header("content-length")
    );
    let c = CHUNK;
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-0".into(), 0, 1),
        (format!("bytes=0-{}", c - 1), 0, c),
        (format!("bytes={}-{}", c - 1, c), c - 1, c + 1),
        (format!("bytes={c}-{c}"), c, c + 1),
        (format!("bytes={}-{}", c + 1, 2 * c - 1), c + 1, 2 * c),
        (
            format!("bytes={}-{}", 2 * c - 1, 3 * c),
            2 * c - 1,
            3 * c + 1,
        ),
        (format!("bytes={}-", 3 * c), 3 * c, n),
        ("bytes=-5".into(), n - 5, n),
        (format!("bytes={}-{}", n - 1, n + 100), n - 1, n),
        ("bytes=17-".into(), 17, n),
    ];
    for (range, start, end) in &cases {
        let part = f.vault.get_with(&blob, &[("range", range)])?;
        ensure!(
            part.status == 206 && part.bytes == plain[*start..*end],
            "{range}: {} with {} bytes, want {}",
            part.status,
            part.bytes.len(),
            end - start
        );
        ensure!(
            part.header("content-range") == Some(&format!("bytes {start}-{}/{n}", end - 1)),
            "{range}: content-range {:?}",
            part.header("content-range")
        );
    }
    let past = f
        .vault
        .get_with(&blob, &[("range", &format!("bytes={n}-"))])?;
    ensure!(past.status == 416, "a range past the end: {}", past.status);
    // Several ranges in one answer.
    let multi = f
        .vault
        .get_with(&blob, &[("range", &format!("bytes=0-1,{}-{}", c - 1, c))])?;
    ensure!(
        multi.status == 206 && multi.content_type.starts_with("multipart/byteranges"),
        "multiple ranges: {} {}",
        multi.status,
        multi.content_type
    );
    for (start, end) in [(0, 2), (c - 1, c + 1)] {
        ensure!(
            multi.bytes.windows(2).any(|w| w == &plain[start..end]),
            "multiple ranges: bytes {start}..{end} missing"
        );
    }

    let (_dir, config) = cli_config(f, &f.vault)?;
    let (ok, out, err) = cli(&config, &["org", "encryption", "status"])?;
    ensure!(
        ok && out.contains("on, key version 1") && out.contains("sealed under key version 1"),
        "outpost org encryption status: {out}{err}"
    );
    Ok(())
}

fn a_flipped_stored_byte_fails_the_download_and_never_yields_wrong_bytes(
    f: &Fixture,
) -> Result<(), Failed> {
    let plain = artifact(2);
    let digest = f.vault.put_blob(&plain)?;
    let hex = digest.hex();
    let key = sealed_key("vault", &hex, 1);
    let original = raw_object(f, &key)?;
    let blob = format!("/blobs/sha256/{hex}");
    let chunk_at = |index: usize| 20 + index * (CHUNK + 16);

    // A flipped byte in the first chunk: a problem naming it, no bytes.
    let mut flipped = original.clone();
    flipped[chunk_at(0) + 10] ^= 1;
    put_raw_object(f, &key, &flipped)?;
    let detail = expect_problem(&f.vault.get(&blob)?, 503, "download of a damaged chunk 0")?;
    ensure!(
        detail.contains("chunk 0 failed authentication") && detail.contains("restore"),
        "detail: {detail}"
    );
    // A range that touches only an intact chunk reads only that chunk.
    let intact = f.vault.get_with(&blob, &[("range", "bytes=70000-70010")])?;
    ensure!(
        intact.status == 206 && intact.bytes == plain[70000..70011],
        "a range in an intact chunk: {}",
        intact.status
    );

    // A flipped byte in the third chunk: the answer has begun when it is
    // found, so the body ends early, before any byte of that chunk.
    let mut flipped = original.clone();
    flipped[chunk_at(2) + 5] ^= 1;
    put_raw_object(f, &key, &flipped)?;
    // The answer declared the whole length; it ends short of it, which any
    // HTTP client reports as a failed download.
    let cut = f.vault.get(&blob);
    ensure!(
        cut.is_err(),
        "a damaged chunk 2 must cut the answer short of its Content-Length; got {:?}",
        cut.map(|reply| (reply.status, reply.bytes.len()))
    );
    expect_problem(
        &f.vault.get_with(
            &blob,
            &[("range", &format!("bytes={}-{}", 2 * CHUNK, 2 * CHUNK + 9))],
        )?,
        503,
        "a range in the damaged chunk",
    )?;
    let head = f.vault.get_with(&blob, &[("range", "bytes=0-99")])?;
    ensure!(
        head.status == 206 && head.bytes == plain[..100],
        "a range before the damage: {}",
        head.status
    );

    // Restored, it reads again.
    put_raw_object(f, &key, &original)?;
    let whole = f.vault.get(&blob)?;
    ensure!(whole.status == 200 && whole.bytes == plain, "restored");
    Ok(())
}

fn plaintext_is_sealed_by_the_cron_and_rotation_under_downloads_loses_nothing(
    f: &Fixture,
) -> Result<(), Failed> {
    let admin = init_org(&f.worker, "legacy")?;
    // As an organisation created before the deployment had a secret.
    f.worker
        .d1("DELETE FROM org_encryption WHERE org = 'legacy'")?;
    let off = status(&admin)?;
    ensure!(off["enabled"] == false, "off: {off}");

    // A model that runs, and an artifact to download, both stored plaintext.
    let onnx =
        std::fs::read(outpost_e2e::repo_root().join("tests/data/models/fraud-detector-1.0.0.onnx"))
            .map_err(|e| format!("{e}"))?;
    expect_status(
        &admin.json("POST", "/models", &json!({"name": "detector"}))?,
        201,
        "create model",
    )?;
    let model_digest = admin.put_blob(&onnx)?;
    expect_status(
        &register(
            &admin,
            "detector",
            json!({"version": "1.0.0", "digest": model_digest, "size": onnx.len()}),
        )?,
        201,
        "register",
    )?;
    expect_status(
        &admin.json(
            "POST",
            "/models/detector/stages/staging/promote",
            &json!({"version": "1.0.0"}),
        )?,
        201,
        "promote",
    )?;
    let predict = || -> Result<Value, Failed> {
        let reply = admin.json(
            "POST",
            "/models/detector/predict?stage=staging&device=d-1",
            &transactions(),
        )?;
        let body = expect_status(&reply, 200, "predict")?;
        Ok(body["outputs"].clone())
    };
    let outputs = predict()?;
    // Registered too: the cron seals the artifacts versions refer to
    // (unreferenced uploads are left to garbage collection).
    let plain = artifact(3);
    let digest = admin.put_blob(&plain)?;
    expect_status(
        &register(
            &admin,
            "detector",
            json!({"version": "2.0.0", "digest": digest, "size": plain.len()}),
        )?,
        201,
        "register the raw artifact",
    )?;
    let hex = digest.hex();
    let plaintext_key = format!("outpost-artifacts/orgs/legacy/sha256/{hex}");
    ensure!(
        raw_object(f, &plaintext_key)? == plain,
        "stored as plaintext before encryption"
    );
    // A gzip copy of the model, kept while the organisation has no
    // encryption; it must neither be sent nor stay once encryption is on.
    let model_hex = model_digest.hex();
    expect_status(
        &admin.put_gzip_copy(&model_hex, &outpost_e2e::gzip(&onnx))?,
        201,
        "a gzip copy before encryption",
    )?;
    let coding = || -> Result<Option<String>, Failed> {
        let reply = outpost_e2e::raw_get(
            &admin.org_url(&format!("/blobs/sha256/{model_hex}")),
            &[
                ("authorization", &format!("Bearer {}", admin.token)),
                ("accept-encoding", "gzip"),
            ],
        )?;
        ensure!(reply.status == 200, "download: {}", reply.status);
        Ok(reply.header("content-encoding").map(str::to_owned))
    };
    ensure!(coding()?.as_deref() == Some("gzip"), "the copy is sent");

    let (_dir, config) = cli_config(f, &admin)?;
    let (ok, out, err) = cli(&config, &["org", "encryption", "enable"])?;
    ensure!(
        ok && out.contains("on, key version 1") && out.contains("2 of 2 artifacts still to seal"),
        "outpost org encryption enable: {out}{err}"
    );
    ensure!(
        coding()?.is_none(),
        "with encryption on, the plaintext copy is no longer sent"
    );
    let cron = |what: &str| -> Result<(), Failed> {
        let reply = outpost_e2e::get(&f.worker.url(CRON))?;
        ensure!(reply.status == 200, "{what}: cron {}", reply.status);
        Ok(())
    };
    cron("seal")?;
    let sealed = status(&admin)?;
    ensure!(
        sealed["pending"] == 0
            && sealed["objects"]
                == json!([{"key_version": 1, "objects": 2, "bytes": plain.len() + onnx.len()}]),
        "after the cron: {sealed}"
    );
    let stored = raw_object(f, &sealed_key("legacy", &hex, 1))?;
    ensure!(
        holds_no_plaintext(&stored, &plain),
        "plaintext in the sealed object"
    );
    let retired = f.worker.d1(&format!(
        "SELECT object_key FROM retired_objects WHERE object_key = 'orgs/legacy/sha256/{hex}'"
    ))?;
    ensure!(
        retired.len() == 1,
        "the plaintext object is retired: {retired:?}"
    );
    ensure!(predict()? == outputs, "the sealed model predicts the same");

    // Downloads in four threads while the key rotates twice and the cron
    // re-seals each time.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let plain = Arc::new(plain);
    let readers: Vec<_> = (0..4)
        .map(|n| {
            let (stop, served, plain, api) = (
                Arc::clone(&stop),
                Arc::clone(&served),
                Arc::clone(&plain),
                admin.clone(),
            );
            let blob = format!("/blobs/sha256/{hex}");
            std::thread::spawn(move || -> Result<(), String> {
                while !stop.load(Ordering::SeqCst) {
                    let (range, start, end) = if n % 2 == 0 {
                        (None, 0, plain.len())
                    } else {
                        (Some("bytes=65530-131080"), 65530, 131081)
                    };
                    let reply = match range {
                        Some(range) => api.get_with(&blob, &[("range", range)]),
                        None => api.get(&blob),
                    }
                    .map_err(|e| format!("{e:?}"))?;
                    if !(matches!(reply.status, 200 | 206) && reply.bytes == plain[start..end]) {
                        return Err(format!(
                            "a download during rotation: {} with {} bytes: {}",
                            reply.status,
                            reply.bytes.len(),
                            reply.body.chars().take(300).collect::<String>()
                        ));
                    }
                    served.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            })
        })
        .collect();
    let mut rotations = Vec::new();
    for version in [2, 3] {
        let (ok, out, err) = cli(&config, &["org", "encryption", "rotate"])?;
        rotations.push((ok, out.clone(), err));
        ensure!(
            ok && out.contains(&format!("on, key version {version}")),
            "outpost org encryption rotate: {out}"
        );
        cron("re-seal")?;
    }
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader
            .join()
            .map_err(|_| "a download thread panicked")?
            .map_err(Failed::from)?;
    }
    ensure!(
        served.load(Ordering::SeqCst) >= 4,
        "downloads served during rotation: {}",
        served.load(Ordering::SeqCst)
    );
    let rotated = status(&admin)?;
    ensure!(
        rotated["key_version"] == 3
            && rotated["pending"] == 0
            && rotated["objects"][0]["key_version"] == 3,
        "after two rotations: {rotated}"
    );
    let stored = raw_object(f, &sealed_key("legacy", &hex, 3))?;
    ensure!(
        holds_no_plaintext(&stored, &plain),
        "plaintext in the v3 object"
    );
    let retired = f.worker.d1(
        "SELECT count(*) AS n FROM retired_objects WHERE object_key LIKE 'orgs/legacy/%'
           AND object_key NOT LIKE 'orgs/legacy/gzip/%'",
    )?;
    ensure!(
        retired[0]["n"] == 6,
        "plaintext, v1 and v2 objects of both artifacts retired: {retired:?}"
    );
    // With the plaintext objects, the keys of any plaintext gzip copies.
    let copies = f.worker.d1(
        "SELECT count(*) AS n FROM retired_objects WHERE object_key LIKE 'orgs/legacy/gzip/sha256/%'",
    )?;
    ensure!(
        copies[0]["n"] == 1,
        "the model's gzip copy retired with its plaintext: {copies:?}"
    );
    // (Retired objects are deleted after a day: the copy is still in R2,
    // listed for deletion, and no longer recorded or sent.)
    let recorded = f
        .worker
        .d1("SELECT count(*) AS n FROM blobs WHERE org = 'legacy' AND gzip_size IS NOT NULL")?;
    ensure!(
        recorded[0]["n"] == 0,
        "no copy recorded once sealed: {recorded:?}"
    );
    ensure!(
        predict()? == outputs,
        "the re-sealed model predicts the same"
    );
    let audit = expect_status(&admin.get("/audit")?, 200, "audit")?;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["action"].as_str())
                .filter(|a| a.starts_with("encryption."))
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        actions.len() == 3,
        "audit entries for enable and two rotations: {actions:?} in {audit}"
    );
    Ok(())
}
