//! `outpost pull MODEL --version V -o FILE`: download an artifact, stop at the
//! recorded size, check its digest, and only then move it into place. On any
//! failure the previous file at the output path is left untouched.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use outpost_core::api::VersionRecord;
use outpost_core::digest::{Digest, Sha256Hasher};

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

/// Copies at most `size` bytes from `reader` into `writer`, hashing them;
/// fails if the stream is longer or shorter or hashes differently.
pub fn copy_verified(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    digest: &Digest,
    size: u64,
    on_progress: &dyn Fn(u64),
) -> Result<()> {
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        // Read one byte past the recorded size at most, to detect endless data.
        let room = (size + 1).saturating_sub(hasher.length());
        if room == 0 {
            return Err(anyhow!(
                "the download is longer than the recorded {size} bytes; refusing it"
            ));
        }
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = reader
            .read(&mut buf[..want])
            .context("reading the download")?;
        if n == 0 {
            break;
        }
        if hasher.length() + n as u64 > size {
            return Err(anyhow!(
                "the download is longer than the recorded {size} bytes; refusing it"
            ));
        }
        hasher.update(&buf[..n]);
        writer
            .write_all(&buf[..n])
            .context("writing the download")?;
        on_progress(n as u64);
    }
    hasher
        .finish()
        .expect(digest, size)
        .map_err(|e| anyhow!("{e}; the artifact was not installed"))
}

/// Writes a download to `output` only if it is exactly `size` bytes hashing
/// to `digest`: into a temporary file beside it, flushed, then renamed, so
/// the previous file stays in place on any failure.
pub fn install(body: &mut dyn Read, output: &Path, digest: &Digest, size: u64) -> Result<()> {
    let partial = partial_path(output);
    let result = (|| -> Result<()> {
        let mut file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let bar = progress(size, "pulling");
        copy_verified(body, &mut file, digest, size, &|n| bar.inc(n))?;
        bar.finish_and_clear();
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
    install(&mut body, &args.output, &version.digest, version.size)?;
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
        copy_verified(&mut &data[..], &mut out, digest, size, &|_| {})?;
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
        assert!(long.contains("longer than the recorded 7 bytes"), "{long}");
    }
}
