//! `outpost pull MODEL --version V -o FILE`: download an artifact, stop at the
//! recorded size, check its digest, and only then move it into place. On any
//! failure the previous file at the output path is left untouched.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use outpost_core::api::VersionRecord;
use outpost_core::digest::{Digest, HashedContent, Sha256Hasher};

use super::Env;
use super::push::progress;
use crate::cli::PullArgs;
use crate::http;
use crate::output;

fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    output.with_file_name(format!(".{name}.outpost-partial"))
}

/// Copies at most `size` bytes from `reader` into `writer`, hashing them, and
/// stops reading as soon as the stream runs past `size` (endless data).
pub fn copy_limited(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    size: u64,
    on_progress: &dyn Fn(u64),
) -> Result<HashedContent> {
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        // Read one byte past the expected size at most.
        let room = (size + 1).saturating_sub(hasher.length());
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = reader
            .read(&mut buf[..want])
            .context("reading the download")?;
        if n == 0 {
            break;
        }
        if hasher.length() + n as u64 > size {
            return Err(anyhow!(
                "LENGTH_MISMATCH: the download is longer than the expected {size} bytes; refusing it"
            ));
        }
        hasher.update(&buf[..n]);
        writer
            .write_all(&buf[..n])
            .context("writing the download")?;
        on_progress(n as u64);
    }
    Ok(hasher.finish())
}

/// Writes a download to `output` only if `accept` passes what was received
/// (at most `size` bytes): into a temporary file beside it, flushed, then
/// renamed, so the previous file stays in place on any failure.
pub fn install(
    body: &mut dyn Read,
    output: &Path,
    size: u64,
    accept: &dyn Fn(&HashedContent) -> Result<()>,
) -> Result<()> {
    let partial = partial_path(output);
    let result = (|| -> Result<()> {
        let mut file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let bar = progress(size, "pulling");
        let received = copy_limited(body, &mut file, size, &|n| bar.inc(n))?;
        bar.finish_and_clear();
        accept(&received)?;
        file.sync_all().context("flushing the download to disk")?;
        fs::rename(&partial, output)
            .with_context(|| format!("moving the download to {}", output.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// The registry download's check: exactly the recorded digest and size.
fn recorded(digest: &Digest, size: u64) -> impl Fn(&HashedContent) -> Result<()> + '_ {
    move |received| {
        received
            .expect(digest, size)
            .map_err(|e| anyhow!("{e}; the artifact was not installed"))
    }
}

pub fn run(env: &Env, args: &PullArgs) -> Result<ExitCode> {
    if args.model.contains('@') {
        return super::device::pull(env, args);
    }
    let Some(wanted) = &args.version else {
        return Err(anyhow!(
            "give --version for a registry download, or ORG/MODEL@STAGE with --trust and --state for a device pull"
        ));
    };
    let client = env.client()?;
    let version: VersionRecord =
        client.get(&format!("/models/{}/versions/{wanted}", args.model))?;
    let (status, mut body) =
        client.get_stream(&format!("/blobs/sha256/{}", version.digest.hex()))?;
    if status != 200 {
        let mut text = String::new();
        body.take(64 << 10).read_to_string(&mut text).ok();
        return Err(http::error_from(&http::Reply { status, body: text }));
    }
    install(
        &mut body,
        &args.output,
        version.size,
        &recorded(&version.digest, version.size),
    )?;
    if env.json {
        output::print_json(&serde_json::json!({
            "model": version.model, "version": version.version, "digest": version.digest,
            "size": version.size, "path": args.output,
        }))?;
    } else {
        println!(
            "pulled {}@{} to {} ({} bytes, {} verified)",
            version.model,
            version.version,
            args.output.display(),
            version.size,
            version.digest
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn copy(data: &[u8], digest: &Digest, size: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let received = copy_limited(&mut &data[..], &mut out, size, &|_| {})?;
        recorded(digest, size)(&received)?;
        Ok(out)
    }

    #[test]
    fn accepts_exactly_the_recorded_bytes() {
        let digest = Digest::of(b"weights");
        assert_eq!(copy(b"weights", &digest, 7).unwrap(), b"weights");
    }

    #[test]
    fn refuses_tampered_short_and_endless_downloads() {
        let digest = Digest::of(b"weights");
        let tampered = copy(b"weighTs", &digest, 7).unwrap_err().to_string();
        assert!(tampered.contains("digest mismatch"), "{tampered}");
        let short = copy(b"weight", &digest, 7).unwrap_err().to_string();
        assert!(short.contains("length mismatch"), "{short}");
        let endless = vec![b'w'; 1 << 20];
        let long = copy(&endless, &digest, 7).unwrap_err().to_string();
        assert!(long.contains("longer than the expected 7 bytes"), "{long}");
    }
}
