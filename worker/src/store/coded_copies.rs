//! Compressed copies of artifacts in R2 (`outpost_core::content_coding`):
//! gzip copies of a plaintext artifact under `orgs/{org}/gzip/sha256/{hex}/`,
//! one object per upload; the kept one's size and id in the blob row
//! (`gzip_size`, `gzip_id`) once checked.
//!
//! A copy is checked by decoding what R2 stored with the runtime's own
//! `DecompressionStream` (Compression Streams standard; native code, so the
//! Worker's wasm carries no inflater) and hashing the decoded bytes as they
//! come, stopping one byte past the artifact's size. Organisations with
//! encryption at rest keep no copies (a copy would be plaintext): their
//! rows never get a `gzip_size`, and re-sealing clears it and retires the
//! copy with the plaintext object (`super::at_rest`).

use futures_util::StreamExt;
use outpost_core::content_coding::{self, Coding};
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_registry::StoreError;
use outpost_registry::ports::{CopyArrival, Received};
use wasm_bindgen::prelude::*;
use worker::{FixedLengthStream, ResponseBody, web_sys};

use super::blobs::{RequestBody, bucket, counted_read};
use super::failed;
use crate::ctx::Ctx;

#[wasm_bindgen]
extern "C" {
    /// The runtime's `DecompressionStream` (a transform stream: its
    /// `readable` gives the decoded bytes of what is written to it).
    #[wasm_bindgen(js_name = DecompressionStream)]
    type Decompression;

    #[wasm_bindgen(constructor, js_class = "DecompressionStream", catch)]
    fn new(format: &str) -> Result<Decompression, JsValue>;
}

/// Stores `body`, `encoded_size` bytes in `coding`, as the artifact's copy
/// `id`, then decodes the stored object and hashes at most `limit + 1`
/// decoded bytes, and reads its last 8 bytes (see `Blobs::put_coded_copy`).
/// A refused copy is left in R2 for the caller to discard; on an error it
/// is deleted here.
pub async fn put(
    ctx: &Ctx,
    org: &str,
    (digest, id): (&Digest, &str),
    (coding, encoded_size): (Coding, u64),
    limit: u64,
    body: RequestBody<'_>,
) -> Result<CopyArrival, StoreError> {
    let key = content_coding::copy_key(org, digest, coding, id);
    let bucket = bucket(ctx)?;
    let Some(stream) = body.stream() else {
        return Ok(CopyArrival::Refused("the request has no body".into()));
    };
    let fixed = FixedLengthStream::wrap(stream, encoded_size);
    if let Err(err) = bucket.put(&key, fixed).execute().await {
        return Ok(CopyArrival::Refused(format!(
            "R2 stored nothing (the body was not the {encoded_size} bytes declared, or R2 failed: {err})"
        )));
    }
    let checked = check(&bucket, &key, coding, limit).await;
    if checked.is_err()
        && let Err(err) = bucket.delete(&key).await
    {
        worker::console_warn!("deleting R2 object {key}: {err}");
    }
    checked
}

/// Decodes the stored copy at `key` and reads its trailer.
async fn check(
    bucket: &worker::Bucket,
    key: &str,
    coding: Coding,
    limit: u64,
) -> Result<CopyArrival, StoreError> {
    counted_read();
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(failed)?
        .ok_or_else(|| StoreError::new(format!("R2 object {key} is missing after its put")))?;
    let raw = match object
        .body()
        .ok_or_else(|| StoreError::new("R2 object without a body"))?
        .response_body()
        .map_err(failed)?
    {
        ResponseBody::Stream(raw) => raw,
        _ => return Ok(CopyArrival::Refused("the stored copy is empty".into())),
    };
    let decoder = Decompression::new(coding.name())
        .map_err(|e| StoreError::new(format!("DecompressionStream({}): {e:?}", coding.name())))?;
    // A transform stream is the `{readable, writable}` pair pipeThrough takes.
    let decoded = raw.pipe_through(decoder.unchecked_ref::<web_sys::ReadableWritablePair>());
    let mut stream = worker::Response::from_body(ResponseBody::Stream(decoded))
        .map_err(failed)?
        .stream()
        .map_err(failed)?;
    let mut hasher = Sha256Hasher::new();
    let mut length = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                length = length.saturating_add(bytes.len() as u64);
                hasher.update(&bytes);
                if length > limit {
                    break;
                }
            }
            Err(err) => {
                return Ok(CopyArrival::Refused(format!(
                    "it does not decode as {}: {err}",
                    coding.name()
                )));
            }
        }
    }
    let done = hasher.finish();
    counted_read();
    let tail = bucket
        .get(key)
        .range(worker::Range::Suffix { suffix: 8 })
        .execute()
        .await
        .map_err(failed)?
        .ok_or_else(|| StoreError::new(format!("R2 object {key} went missing")))?;
    let trailer = match tail.body() {
        Some(body) => body.bytes().await.map_err(failed)?,
        None => Vec::new(),
    };
    Ok(CopyArrival::Decoded {
        received: Received {
            length: done.length,
            digest: done.digest,
        },
        trailer,
    })
}

/// The copy's whole object, as stored (coded).
pub async fn open(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (coding, id): (Coding, &str),
) -> Result<Option<ResponseBody>, StoreError> {
    counted_read();
    let Some(object) = bucket(ctx)?
        .get(content_coding::copy_key(org, digest, coding, id))
        .execute()
        .await
        .map_err(failed)?
    else {
        return Ok(None);
    };
    let body = object
        .body()
        .ok_or_else(|| StoreError::new("R2 object without a body"))?;
    Ok(Some(body.response_body().map_err(failed)?))
}

/// Deletes the copy (a missing one is not an error).
pub async fn discard(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (coding, id): (Coding, &str),
) -> Result<(), StoreError> {
    bucket(ctx)?
        .delete(content_coding::copy_key(org, digest, coding, id))
        .await
        .map_err(failed)
}

/// Every stored copy of the artifact, recorded or not (to delete them with
/// it, or retire them when it is sealed).
pub async fn all(
    bucket: &worker::Bucket,
    org: &str,
    digest: &Digest,
) -> Result<Vec<worker::Object>, StoreError> {
    let listed = bucket
        .list()
        .prefix(content_coding::copy_prefix(org, digest, Coding::Gzip))
        .execute()
        .await
        .map_err(failed)?;
    Ok(listed.objects())
}
