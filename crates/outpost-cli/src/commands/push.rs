//! `outpost push MODEL FILE`: hash, upload (skipped when the registry already
//! has the bytes), register — one step, with progress on the transfer.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use indicatif::ProgressBar;
use outpost_core::api::{BlobRecord, CodedCopyRecord, RegisterVersionRequest, RegisteredVersion};
use outpost_core::content_coding::{self, Coding};
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::upload::{PartPlan, StartUpload, UploadState};
use serde_json::{Map, Value};

use super::Env;
use crate::cli::PushArgs;
use crate::http;
use crate::output::{self, progress};

/// Streams a file through SHA-256.
pub fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let bar = progress(size, "hashing");
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let done = hasher.finish();
    Ok((done.digest, done.length))
}

/// A reader that advances a progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// `16MiB`, `5MB`, `8388608` → bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a size; use e.g. 16MiB"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1000,
        "MB" => 1_000_000,
        other => return Err(anyhow!("unknown size unit `{other}`; use B, KiB, MiB, GiB")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| anyhow!("`{text}` is too large"))
}

/// Uploads a large file in parts, skipping the parts the registry already
/// has (so an interrupted push resumes), then completes the upload.
fn upload_in_parts(
    client: &http::Client,
    path: &Path,
    digest: Digest,
    size: u64,
    part_size: u64,
) -> Result<()> {
    let plan = PartPlan::new(size, part_size)?;
    let started: Value = client.send(
        "POST",
        "/uploads",
        &StartUpload {
            digest,
            size,
            part_size: Some(part_size),
        },
    )?;
    if started.get("id").is_none() {
        eprintln!("the registry already has {digest}; not uploading it again");
        return Ok(());
    }
    let state: UploadState = serde_json::from_value(started)?;
    if !state.parts_done.is_empty() {
        eprintln!(
            "resuming upload {}: {} of {} parts already received",
            state.id,
            state.parts_done.len(),
            state.parts
        );
    }
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let bar = progress(size, "uploading");
    for done in &state.parts_done {
        bar.inc(plan.part(*done)?.1);
    }
    for part in plan.missing(&state.parts_done) {
        let (offset, length) = plan.part(part)?;
        let mut bytes = vec![0u8; usize::try_from(length)?];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut bytes)
            .with_context(|| format!("reading part {part} of {}", path.display()))?;
        let part_digest = Digest::of(&bytes).to_string();
        let reply = client.put_bytes(
            &format!("/uploads/{}/parts/{part}", state.id),
            &[("x-outpost-part-sha256", &part_digest)],
            bytes,
        )?;
        let _: Value = http::decode(&reply).with_context(|| {
            format!(
                "uploading part {part} of {}; run the same push again to resume",
                state.parts
            )
        })?;
        bar.inc(length);
    }
    bar.finish_and_clear();
    let _: BlobRecord = client.send(
        "POST",
        &format!("/uploads/{}/complete", state.id),
        &serde_json::json!({}),
    )?;
    Ok(())
}

/// Uploads a file the registry does not have yet: in one request, or in
/// parts when it is larger than `part_size`. The registry re-hashes what it
/// receives against `digest` and `size`.
pub fn upload_file(
    client: &http::Client,
    path: &Path,
    digest: Digest,
    size: u64,
    part_size: u64,
) -> Result<()> {
    let blob_path = format!("/blobs/sha256/{}", digest.hex());
    if client.head_status(&blob_path)? == 200 {
        eprintln!("the registry already has {digest}; not uploading it again");
    } else if size > part_size {
        upload_in_parts(client, path, digest, size, part_size)?;
    } else {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let bar = progress(size, "uploading");
        let reply = client.put_stream(
            &blob_path,
            size,
            Counted {
                inner: BufReader::new(file),
                bar: bar.clone(),
            },
        )?;
        bar.finish_and_clear();
        let _: BlobRecord = http::decode(&reply)?;
    }
    Ok(())
}

/// What offering a gzip copy of an artifact came to.
#[derive(Debug)]
pub enum CopyOffer {
    /// The registry kept the copy (or had one already).
    Kept(CodedCopyRecord),
    /// The copy would not save enough to be worth keeping: `judged` bytes
    /// (the whole artifact, or its first MiB) compress to `encoded`.
    NotWorthIt { judged: u64, encoded: u64 },
    /// The copy is larger than one request takes.
    TooLarge { encoded: u64 },
}

/// Bytes compressed first to judge whether a large artifact compresses.
const PROBE: u64 = 1 << 20;

/// `bytes` gzip-coded (deflate level 6, gzip's default).
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, bytes)?;
    Ok(encoder.finish()?)
}

/// Compresses the artifact at `path` with gzip into a temporary file and,
/// when `content_coding::worth_keeping` says it saves enough, offers it to
/// the registry, which keeps it only if it decodes to exactly the artifact.
/// Nothing is compressed when the registry already sends a gzip copy.
pub fn offer_gzip_copy(
    client: &http::Client,
    path: &Path,
    digest: Digest,
    size: u64,
) -> Result<CopyOffer> {
    let blob_path = format!("/blobs/sha256/{}", digest.hex());
    if client.head_etag(&blob_path)?.as_deref()
        == Some(&content_coding::entity_tag(&digest, Coding::Gzip)[..])
    {
        return Ok(CopyOffer::Kept(CodedCopyRecord {
            digest,
            coding: Coding::Gzip,
            size,
            encoded_size: 0,
            created: false,
        }));
    }
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // A large artifact whose first MiB does not compress (weights that look
    // random to deflate) is not compressed whole: that would take seconds
    // to save nothing.
    if size > 4 * PROBE {
        let mut head = Vec::with_capacity(PROBE as usize);
        (&mut file).take(PROBE).read_to_end(&mut head)?;
        let probe = gzip(&head)?.len() as u64;
        if !content_coding::worth_keeping(PROBE, probe) {
            return Ok(CopyOffer::NotWorthIt {
                judged: PROBE,
                encoded: probe,
            });
        }
        file.seek(SeekFrom::Start(0))?;
    }
    let staged = tempfile::tempfile().context("creating a temporary file for the gzip copy")?;
    let mut encoder = flate2::write::GzEncoder::new(staged, flate2::Compression::default());
    std::io::copy(&mut BufReader::new(file), &mut encoder)
        .with_context(|| format!("compressing {}", path.display()))?;
    let mut staged = encoder.finish().context("finishing the gzip copy")?;
    let encoded = staged.stream_position()?;
    if !content_coding::worth_keeping(size, encoded) {
        return Ok(CopyOffer::NotWorthIt {
            judged: size,
            encoded,
        });
    }
    if encoded > outpost_core::upload::MAX_PART_SIZE {
        return Ok(CopyOffer::TooLarge { encoded });
    }
    staged.seek(SeekFrom::Start(0))?;
    let bar = progress(encoded, "uploading the gzip copy");
    let reply = client.put_stream(
        &format!("{blob_path}/codings/gzip"),
        encoded,
        Counted {
            inner: BufReader::new(staged),
            bar: bar.clone(),
        },
    )?;
    bar.finish_and_clear();
    Ok(CopyOffer::Kept(http::decode(&reply)?))
}

/// Prints what became of a copy offered for an artifact of `size` bytes;
/// `retry` is the command that offers it again.
fn report_copy(copy: Result<CopyOffer>, size: u64, retry: &str) {
    match copy {
        Ok(CopyOffer::Kept(record)) if record.created => println!(
            "  gzip copy: {} bytes ({:.1} % of {}), sent to clients that accept gzip",
            record.encoded_size,
            100.0 * record.encoded_size as f64 / size.max(1) as f64,
            size
        ),
        Ok(CopyOffer::Kept(_)) => println!("  gzip copy: already kept"),
        Ok(CopyOffer::NotWorthIt { judged, encoded }) => println!(
            "  gzip copy: not kept ({judged} bytes compress only to {encoded}); downloads are sent uncompressed"
        ),
        Ok(CopyOffer::TooLarge { encoded }) => println!(
            "  gzip copy: not kept ({encoded} bytes is more than one request takes); downloads are sent uncompressed"
        ),
        Err(err) => eprintln!(
            "warning: no gzip copy was kept ({err:#}); downloads are sent uncompressed. Retry with `{retry}`."
        ),
    }
}

/// `outpost compress MODEL VERSION`: downloads the version's artifact,
/// checks it, and offers its gzip copy.
pub fn compress(env: &Env, model: &str, version: &str) -> Result<ExitCode> {
    let client = env.client()?;
    let record: outpost_core::api::VersionRecord =
        client.get(&format!("/models/{model}/versions/{version}"))?;
    let (status, mut body) =
        client.get_stream(&format!("/blobs/sha256/{}", record.digest.hex()))?;
    if status != 200 {
        let mut text = String::new();
        body.take(64 << 10).read_to_string(&mut text).ok();
        return Err(http::error_from(&http::Reply { status, body: text }));
    }
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let path = dir.path().join("artifact");
    crate::install::install(&mut body, &path, record.size, &|received| {
        received
            .expect(&record.digest, record.size)
            .map_err(|e| anyhow!("{e}; nothing was offered"))
    })?;
    let copy = offer_gzip_copy(&client, &path, record.digest, record.size);
    let outcome = if copy.is_err() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if env.json {
        output::print_json(&serde_json::json!({
            "model": model, "version": version, "digest": record.digest,
            "copy": match &copy {
                Ok(CopyOffer::Kept(r)) => serde_json::json!({"kept": true, "encoded_size": r.encoded_size, "created": r.created}),
                Ok(_) => serde_json::json!({"kept": false}),
                Err(err) => serde_json::json!({"kept": false, "error": format!("{err:#}")}),
            },
        }))?;
        return Ok(outcome);
    }
    println!(
        "{model}@{version} ({}, {} bytes)",
        record.digest, record.size
    );
    report_copy(
        copy,
        record.size,
        &format!("outpost compress {model} {version}"),
    );
    Ok(outcome)
}

/// `NAME=VALUE` pairs.
fn split_pair(text: &str) -> Result<(&str, &str)> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| anyhow!("`{text}` must be NAME=VALUE"))
}

pub fn parse_metrics(items: &[String]) -> Result<BTreeMap<String, f64>> {
    items
        .iter()
        .map(|item| {
            let (name, value) = split_pair(item)?;
            let value: f64 = value
                .parse()
                .map_err(|_| anyhow!("metric `{name}` must be a number, got `{value}`"))?;
            Ok((name.to_owned(), value))
        })
        .collect()
}

/// Values are JSON when they parse as JSON (`3`, `true`, `[8, 8]`), strings otherwise.
pub fn parse_params(items: &[String]) -> Result<Map<String, Value>> {
    items
        .iter()
        .map(|item| {
            let (name, value) = split_pair(item)?;
            let value =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
            Ok((name.to_owned(), value))
        })
        .collect()
}

pub fn run(env: &Env, args: &PushArgs) -> Result<ExitCode> {
    let client = env.client()?;
    if args.version.is_none() && args.bump.is_none() {
        return Err(anyhow!(
            "give --version X.Y.Z or --bump major|minor|patch|auto"
        ));
    }
    let metrics = parse_metrics(&args.metrics)?;
    let params = parse_params(&args.params)?;
    let format = args
        .format
        .as_deref()
        .map(str::parse::<outpost_core::version::ArtifactFormat>)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let bump = args.bump.as_deref().map(str::parse).transpose()?;

    // The reference is profiled before anything is uploaded: a bad sample
    // stops the push with nothing registered.
    let profile = args
        .reference
        .as_deref()
        .map(super::drift::profile_of)
        .transpose()?;
    let part_size = parse_size(&args.part_size)?;
    let (digest, size) = hash_file(&args.file)?;
    upload_file(&client, &args.file, digest, size, part_size)?;

    let body = RegisterVersionRequest {
        version: args.version.clone(),
        bump,
        digest,
        size,
        format,
        framework: args.framework.clone(),
        metrics,
        params,
        dataset_version: args.dataset_version.clone(),
        parent_version: args.parent.clone(),
        tags: args.tags.clone(),
        notes: args.notes.clone(),
    };
    let registered: RegisteredVersion =
        client.send("POST", &format!("/models/{}/versions", args.model), &body)?;
    if let Some(profile) = &profile {
        let v = &registered.version;
        super::drift::put_reference(env, &v.model, &v.version, profile).with_context(|| {
            format!(
                "{}@{} is registered, but its reference profile was not stored; add it with `outpost reference add {} {} {}`",
                v.model,
                v.version,
                v.model,
                v.version,
                args.reference.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
            )
        })?;
    }
    // The version is registered whatever happens to the copy: it only
    // saves bytes on the way to clients.
    let copy = if args.no_compress {
        None
    } else {
        Some(offer_gzip_copy(&client, &args.file, digest, size))
    };
    if env.json {
        output::print_json(&registered)?;
        if let Some(Err(err)) = &copy {
            let v = &registered.version;
            eprintln!(
                "warning: no gzip copy was kept ({err:#}); downloads are sent uncompressed. Retry with `outpost compress {} {}`.",
                v.model, v.version
            );
        }
    } else {
        let v = &registered.version;
        println!(
            "registered {}@{} ({}, {} bytes, {})",
            v.model, v.version, v.format, v.size, v.digest
        );
        println!("  version: {}", registered.version_reason);
        if let Some(profile) = &profile {
            println!(
                "  reference: {} rows, {} features profiled",
                profile.rows,
                profile.features.len()
            );
        }
        if let Some(reason) = &v.status_reason {
            println!("  WARNING: marked {}: {reason}", v.status.as_str());
        }
        if let Some(copy) = copy {
            let v = &registered.version;
            report_copy(
                copy,
                size,
                &format!("outpost compress {} {}", v.model, v.version),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_params_parse() {
        let metrics = parse_metrics(&["f1=0.9".into(), "auc=1".into()]).unwrap();
        assert_eq!(metrics["f1"], 0.9);
        assert!(parse_metrics(&["f1=high".into()]).is_err());
        assert!(parse_metrics(&["=1".into()]).is_err());
        let params = parse_params(&[
            "depth=5".into(),
            "layers=[8,8]".into(),
            "solver=adam".into(),
        ])
        .unwrap();
        assert_eq!(params["depth"], 5);
        assert_eq!(params["layers"], serde_json::json!([8, 8]));
        assert_eq!(params["solver"], "adam");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("5MB").unwrap(), 5_000_000);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn files_hash_like_the_core() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        std::fs::write(&path, b"abc").unwrap();
        let (digest, size) = hash_file(&path).unwrap();
        assert_eq!((digest, size), (Digest::of(b"abc"), 3));
    }
}
