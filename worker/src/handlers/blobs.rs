//! Content-addressed artifacts in R2.
//!
//! An upload names its sha256 in the path and its size in `X-Outpost-Size`.
//! The body streams through a hasher into R2 with the declared sha256 as R2's
//! own integrity check and a fixed length, so a wrong digest or length stores
//! nothing at all; only then is the blob row written. Identical content is
//! stored once per organisation. Downloads are immutable and cacheable forever.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use outpost_core::api::BlobRecord;
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::range::{RangeDecision, decide_range, if_none_match_hits};
use serde_json::json;
use worker::{FixedLengthStream, Headers, Request, Response};

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::audit::{self, Event};

/// Header carrying the declared artifact size.
pub const SIZE_HEADER: &str = "x-outpost-size";

/// The R2 key of a blob: under its organisation, by digest.
pub fn object_key(org: &str, digest: &Digest) -> String {
    format!("orgs/{org}/sha256/{}", digest.hex())
}

fn path_digest(matched: &Matched) -> ApiResult<Digest> {
    Digest::from_hex(matched.param("hex")).map_err(|e| {
        ApiError::bad_request(format!(
            "the path must end in sha256/<64 lowercase hex>: {e}"
        ))
    })
}

pub use crate::store::blobs::BlobRow;

pub async fn find(ctx: &Ctx, digest: &Digest) -> ApiResult<Option<BlobRow>> {
    Ok(crate::store::blobs::find(ctx, ctx.org()?, digest).await?)
}

/// `PUT /v1/orgs/{org}/blobs/sha256/{hex}`.
pub async fn put_blob(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let digest = path_digest(matched)?;
    let size: u64 = req
        .headers()
        .get(SIZE_HEADER)?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "declare the artifact's size in bytes in the {SIZE_HEADER} header"
            ))
        })?
        .trim()
        .parse()
        .map_err(|_| {
            ApiError::bad_request(format!("{SIZE_HEADER} must be a whole number of bytes"))
        })?;
    let org = ctx.org()?.to_owned();

    if let Some(existing) = find(ctx, &digest).await? {
        let stored = as_i64(existing.size) as u64;
        if stored != size {
            return Err(ApiError::unprocessable(format!(
                "{digest} is stored with size {stored}, not {size}: the declared size is wrong"
            )));
        }
        let record = BlobRecord {
            digest,
            size,
            created: false,
        };
        return Ok(http::json(&record, 200)?);
    }

    let bucket = ctx.bucket()?;
    let key = object_key(&org, &digest);
    let hasher = Rc::new(RefCell::new(Sha256Hasher::new()));
    let put = if size == 0 {
        bucket
            .put(&key, Vec::<u8>::new())
            .sha256(digest.as_bytes().to_vec())
            .execute()
            .await
    } else {
        let tap = Rc::clone(&hasher);
        let body = req
            .stream()
            .map_err(|_| {
                ApiError::bad_request("the request has no body; send the artifact's bytes")
            })?
            .map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    tap.borrow_mut().update(bytes);
                }
                chunk
            });
        bucket
            .put(&key, FixedLengthStream::wrap(body, size))
            .sha256(digest.as_bytes().to_vec())
            .execute()
            .await
    };
    let seen = hasher.borrow().length();
    if let Err(err) = put {
        // R2 stored nothing. Say which declaration the bytes contradicted.
        let actual = Rc::try_unwrap(hasher).map(|h| h.into_inner().finish()).ok();
        return Err(match actual {
            Some(done) if done.length != size || seen != size => ApiError::unprocessable(format!(
                "size mismatch: declared {size} bytes, received {}{}; nothing was stored",
                if done.length > size { "at least " } else { "" },
                done.length
            )),
            Some(done) if done.digest != digest => ApiError::from(
                outpost_core::Problem::new(
                    outpost_core::ProblemKind::UnprocessableContent,
                    format!(
                        "digest mismatch: declared {digest}, received {}; nothing was stored",
                        done.digest
                    ),
                )
                .with_extension("expected", digest.to_string())
                .with_extension("actual", done.digest.to_string()),
            ),
            _ => ApiError::internal(format!("R2 put of {key} failed: {err}")),
        });
    }

    record_blob(ctx, &digest, size, Vec::new(), json!({"size": size})).await?;
    let record = BlobRecord {
        digest,
        size,
        created: true,
    };
    Ok(http::created(
        &record,
        &format!("/v1/orgs/{org}/blobs/sha256/{}", digest.hex()),
    )?)
}

/// Writes the blob row for verified bytes now in R2, with its audit entry and
/// any `also` statements, in one transaction. Identical content recorded
/// concurrently keeps the first row.
pub async fn record_blob(
    ctx: &Ctx,
    digest: &Digest,
    size: u64,
    also: Vec<worker::D1PreparedStatement>,
    details: serde_json::Value,
) -> ApiResult<()> {
    let insert =
        crate::store::blobs::insert(ctx, ctx.org()?, digest, size, &ctx.caller()?.token_name)?;
    let event = Event::by_caller(ctx, "blob.upload", format!("blobs/{digest}"), details)
        .ok_or_else(|| ApiError::internal("no caller"))?;
    let mut statements = vec![insert];
    statements.extend(also);
    audit::commit(ctx, event, statements).await?;
    Ok(())
}

/// `GET` / `HEAD /v1/orgs/{org}/blobs/sha256/{hex}`.
pub async fn get_blob(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    serve(ctx, req, &path_digest(matched)?).await
}

/// Streams the organisation's blob `digest`, with ETag, Range and 304.
pub async fn serve(ctx: &Ctx, req: &Request, digest: &Digest) -> ApiResult<Response> {
    let digest = *digest;
    let org = ctx.org()?;
    let Some(row) = find(ctx, &digest).await? else {
        return Err(ApiError::not_found(format!(
            "no blob {digest} in organisation `{org}`"
        )));
    };
    let size = as_i64(row.size) as u64;
    let etag = format!("\"{digest}\"");
    let headers = Headers::new();
    headers.set("etag", &etag)?;
    // Content-addressed: the bytes behind this URL can never change.
    headers.set("cache-control", "private, max-age=31536000, immutable")?;
    headers.set("accept-ranges", "bytes")?;
    if if_none_match_hits(req.headers().get("if-none-match")?.as_deref(), &etag) {
        return Ok(Response::empty()?.with_status(304).with_headers(headers));
    }
    let decision = decide_range(req.headers().get("range")?.as_deref(), size);
    let bucket = ctx.bucket()?;
    let key = object_key(org, &digest);
    let (request, status) = match decision {
        RangeDecision::Unsatisfiable => {
            headers.set("content-range", &format!("bytes */{size}"))?;
            let problem = outpost_core::Problem::new(
                outpost_core::ProblemKind::BadRequest,
                format!("the requested range lies outside the artifact's {size} bytes"),
            );
            let mut problem = problem;
            problem.status = 416;
            problem.title = "Range not satisfiable".into();
            return Ok(http::problem(&problem)?.with_headers(headers));
        }
        RangeDecision::Full => (bucket.get(&key), 200),
        RangeDecision::Partial { start, end } => {
            headers.set("content-range", &format!("bytes {start}-{end}/{size}"))?;
            (
                bucket.get(&key).range(worker::Range::OffsetWithLength {
                    offset: start,
                    length: end - start + 1,
                }),
                206,
            )
        }
    };
    let object = request
        .execute()
        .await?
        .ok_or_else(|| ApiError::internal(format!("blob row without R2 object: {key}")))?;
    let body = object
        .body()
        .ok_or_else(|| ApiError::internal("R2 object without a body"))?
        .response_body()?;
    headers.set("content-type", "application/octet-stream")?;
    let length = decision.length().unwrap_or(size);
    headers.set("content-length", &length.to_string())?;
    Ok(Response::from_body(body)?
        .with_status(status)
        .with_headers(headers))
}
