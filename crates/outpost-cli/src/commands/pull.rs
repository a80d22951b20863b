//! `outpost pull MODEL --version V -o FILE`: download an artifact, stop at the
//! recorded size, check its digest, and only then move it into place. On any
//! failure the previous file at the output path is left untouched.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use outpost_core::api::VersionRecord;
use outpost_core::digest::{Digest, HashedContent};

use super::Env;
use crate::cli::DownloadArgs;
use crate::http;
use crate::install::install;
use crate::output;

/// The registry download's check: exactly the recorded digest and size.
fn recorded(digest: &Digest, size: u64) -> impl Fn(&HashedContent) -> Result<()> + '_ {
    move |received| {
        received
            .expect(digest, size)
            .map_err(|e| anyhow!("{e}; the artifact was not installed"))
    }
}

pub fn run(env: &Env, args: &DownloadArgs) -> Result<ExitCode> {
    let wanted = &args.version;
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
    use crate::install::copy_limited;

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
