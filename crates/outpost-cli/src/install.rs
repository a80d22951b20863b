//! Careful I/O at the edge: a download is read at most one byte past its
//! expected length, hashed while it streams into a temporary file beside the
//! output, checked, and only then renamed into place. Shared by the registry
//! download (`outpost pull MODEL --version`) and the device pull
//! (`outpost pull ORG/MODEL@STAGE`).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use outpost_core::digest::{HashedContent, Sha256Hasher};

use crate::output::progress;

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
