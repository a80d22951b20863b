//! Resumable multipart uploads of large artifacts.
//!
//! The client starts (or resumes) an upload for a digest and size, PUTs each
//! part with its own sha256 (checked while it streams into R2), and completes.
//! Completion assembles the object in R2, hashes it again end to end, and only
//! then writes the blob row: a wrong digest or size leaves no blob behind.
//! The parts received are in D1, so an interrupted client resumes by asking
//! for the same digest again.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use outpost_core::api::BlobRecord;
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::upload::{DEFAULT_PART_SIZE, PartPlan, StartUpload, UploadState};
use outpost_core::{Problem, ProblemKind};
use serde_json::json;
use worker::{FixedLengthStream, Request, Response, UploadedPart};

use crate::ctx::{Ctx, random_bytes};
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::handlers::blobs;
use crate::http;
use crate::routes::Matched;
use crate::store::audit::{self, Event};
use crate::store::{
    self,
    uploads::{PartRow, UploadRow},
};

/// Header carrying a part's declared sha256 (`sha256:<hex>`).
pub const PART_DIGEST_HEADER: &str = "x-outpost-part-sha256";

fn upload_digest(row: &UploadRow) -> ApiResult<Digest> {
    row.digest
        .parse()
        .map_err(|_| ApiError::internal("stored upload digest is corrupt"))
}

fn upload_plan(row: &UploadRow) -> ApiResult<PartPlan> {
    PartPlan::new(as_i64(row.size) as u64, as_i64(row.part_size) as u64).map_err(ApiError::internal)
}

async fn load(ctx: &Ctx, id: &str) -> ApiResult<UploadRow> {
    let org = ctx.org()?;
    store::uploads::by_id(ctx, org, id)
        .await?
        .ok_or_else(|| {
        ApiError::not_found(format!(
            "no open upload `{id}` in organisation `{org}`; it may have completed, or start one with POST /v1/orgs/{org}/uploads"
        ))
    })
}

async fn parts(ctx: &Ctx, id: &str) -> ApiResult<Vec<PartRow>> {
    Ok(store::uploads::parts(ctx, ctx.org()?, id).await?)
}

async fn state(ctx: &Ctx, row: &UploadRow) -> ApiResult<UploadState> {
    let plan = upload_plan(row)?;
    Ok(UploadState {
        id: row.id.clone(),
        digest: upload_digest(row)?,
        size: plan.size,
        part_size: plan.part_size,
        parts: plan.parts(),
        parts_done: parts(ctx, &row.id)
            .await?
            .iter()
            .map(|p| as_i64(p.part_number) as u64)
            .collect(),
    })
}

/// `POST /v1/orgs/{org}/uploads`: start, or resume the open upload of the
/// same digest.
pub async fn start_upload(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: StartUpload = http::read_json(req).await?;
    let org = ctx.org()?.to_owned();
    if let Some(existing) = blobs::find(ctx, &body.digest).await? {
        let size = as_i64(existing.size) as u64;
        return Ok(http::json(
            &BlobRecord {
                digest: body.digest,
                size,
                created: false,
            },
            200,
        )?);
    }
    let plan = PartPlan::new(body.size, body.part_size.unwrap_or(DEFAULT_PART_SIZE))
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;

    let resumable = store::uploads::by_digest(ctx, &org, &body.digest).await?;
    if let Some(row) = resumable {
        if upload_plan(&row)? != plan {
            return Err(ApiError::conflict(format!(
                "an upload of {} is open with size {} and part size {}; resume it with those, or abort it (DELETE /v1/orgs/{org}/uploads/{})",
                body.digest, row.size, row.part_size, row.id
            )));
        }
        return Ok(http::json(&state(ctx, &row).await?, 200)?);
    }

    let key = blobs::object_key(&org, &body.digest);
    let r2_upload = ctx
        .bucket()?
        .create_multipart_upload(&key)
        .execute()
        .await?;
    let r2_upload_id = r2_upload.upload_id().await;
    let id = outpost_core::auth::base62_from_random(&random_bytes(64)?, 16)
        .ok_or_else(|| ApiError::internal("upload id ran out of randomness"))?;
    let insert = store::uploads::insert(
        ctx,
        &org,
        (&id, &body.digest),
        &plan,
        &r2_upload_id,
        &ctx.caller()?.token_name,
    )?;
    let event = Event::by_caller(
        ctx,
        "upload.start",
        format!("uploads/{id}"),
        json!({"digest": body.digest, "size": plan.size, "parts": plan.parts()}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    if let Err(err) = audit::commit(ctx, event, vec![insert]).await {
        // Another request opened the same digest first: abandon ours.
        let _ = r2_upload.abort().await;
        if let audit::CommitError::Statement(e) = &err
            && db::is_unique_violation(e, "uploads")
        {
            return Err(ApiError::conflict(
                "an upload of this digest was started concurrently; start again to resume it",
            ));
        }
        return Err(err.into());
    }
    let state = UploadState {
        id: id.clone(),
        digest: body.digest,
        size: plan.size,
        part_size: plan.part_size,
        parts: plan.parts(),
        parts_done: Vec::new(),
    };
    Ok(http::created(
        &state,
        &format!("/v1/orgs/{org}/uploads/{id}"),
    )?)
}

/// `GET /v1/orgs/{org}/uploads/{upload}`.
pub async fn upload_status(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let row = load(ctx, matched.param("upload")).await?;
    Ok(http::json(&state(ctx, &row).await?, 200)?)
}

/// `PUT /v1/orgs/{org}/uploads/{upload}/parts/{part}`.
pub async fn put_upload_part(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let row = load(ctx, matched.param("upload")).await?;
    let plan = upload_plan(&row)?;
    let number: u64 = matched
        .param("part")
        .parse()
        .map_err(|_| ApiError::bad_request("the part number must be a whole number"))?;
    let (_, length) = plan
        .part(number)
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let declared: Digest = req
        .headers()
        .get(PART_DIGEST_HEADER)?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "declare the part's sha256 in the {PART_DIGEST_HEADER} header"
            ))
        })?
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{PART_DIGEST_HEADER}: {e}")))?;

    let hasher = Rc::new(RefCell::new(Sha256Hasher::new()));
    let tap = Rc::clone(&hasher);
    let body = req
        .stream()
        .map_err(|_| ApiError::bad_request("the request has no body; send the part's bytes"))?
        .map(move |chunk| {
            if let Ok(bytes) = &chunk {
                tap.borrow_mut().update(bytes);
            }
            chunk
        });
    let key = blobs::object_key(ctx.org()?, &upload_digest(&row)?);
    let upload = ctx
        .bucket()?
        .resume_multipart_upload(&key, &row.r2_upload_id)?;
    let part_number =
        u16::try_from(number).map_err(|_| ApiError::internal("part number over u16"))?;
    let uploaded = upload
        .upload_part(part_number, FixedLengthStream::wrap(body, length))
        .await;
    let received = Rc::try_unwrap(hasher)
        .map(|h| h.into_inner().finish())
        .map_err(|_| ApiError::internal("part hasher still shared"))?;
    let uploaded = match uploaded {
        Ok(part) => part,
        Err(_) if received.length != length => {
            return Err(ApiError::unprocessable(format!(
                "part {number} must be {length} bytes, received {}; send it again",
                received.length
            )));
        }
        Err(err) => return Err(ApiError::internal(format!("R2 upload_part: {err}"))),
    };
    if received.digest != declared {
        // R2 holds these bytes as part N, but the part is not recorded; the
        // client must send it again (which replaces it).
        return Err(ApiError::from(
            Problem::new(
                ProblemKind::UnprocessableContent,
                format!("part {number} digest mismatch: declared {declared}, received {}; send it again", received.digest),
            )
            .with_extension("expected", declared.to_string())
            .with_extension("actual", received.digest.to_string()),
        ));
    }
    store::uploads::record_part(
        ctx,
        ctx.org()?,
        &row.id,
        number,
        (&uploaded.etag(), &declared, length),
    )
    .await?;
    Ok(http::json(
        &json!({"part": number, "size": length, "sha256": declared}),
        200,
    )?)
}

fn cleanup(ctx: &Ctx, id: &str) -> ApiResult<Vec<worker::D1PreparedStatement>> {
    Ok(store::uploads::cleanup(ctx, ctx.org()?, id)?)
}

/// `POST /v1/orgs/{org}/uploads/{upload}/complete`.
pub async fn complete_upload(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let row = load(ctx, matched.param("upload")).await?;
    let plan = upload_plan(&row)?;
    let digest = upload_digest(&row)?;
    let org = ctx.org()?.to_owned();
    let received = parts(ctx, &row.id).await?;
    let done: Vec<u64> = received
        .iter()
        .map(|p| as_i64(p.part_number) as u64)
        .collect();
    let missing = plan.missing(&done);
    if !missing.is_empty() {
        return Err(ApiError::from(
            Problem::new(
                ProblemKind::Conflict,
                format!("parts {missing:?} have not been received; upload them, then complete"),
            )
            .with_extension("missing", &missing),
        ));
    }
    let bucket = ctx.bucket()?;
    let key = blobs::object_key(&org, &digest);
    let upload = bucket.resume_multipart_upload(&key, &row.r2_upload_id)?;
    upload
        .complete(
            received
                .iter()
                .map(|p| UploadedPart::new(as_i64(p.part_number) as u16, p.etag.clone())),
        )
        .await?;

    // Verify the assembled object end to end before it becomes a blob.
    let object = bucket
        .get(&key)
        .execute()
        .await?
        .ok_or_else(|| ApiError::internal("completed multipart object is missing"))?;
    let mut stream = object
        .body()
        .ok_or_else(|| ApiError::internal("completed object without a body"))?
        .stream()?;
    let mut hasher = Sha256Hasher::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    let assembled = hasher.finish();
    if let Err(err) = assembled.expect(&digest, plan.size) {
        if blobs::find(ctx, &digest).await?.is_none() {
            bucket.delete(&key).await?;
        }
        ctx.db.batch(cleanup(ctx, &row.id)?).await?;
        return Err(ApiError::unprocessable(format!(
            "{err}; the upload was discarded, nothing was stored"
        )));
    }

    blobs::record_blob(
        ctx,
        &digest,
        plan.size,
        cleanup(ctx, &row.id)?,
        json!({"size": plan.size, "parts": plan.parts(), "upload": row.id}),
    )
    .await?;
    let record = BlobRecord {
        digest,
        size: plan.size,
        created: true,
    };
    Ok(http::created(
        &record,
        &format!("/v1/orgs/{org}/blobs/sha256/{}", digest.hex()),
    )?)
}

/// `DELETE /v1/orgs/{org}/uploads/{upload}`.
pub async fn abort_upload(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let row = load(ctx, matched.param("upload")).await?;
    let key = blobs::object_key(ctx.org()?, &upload_digest(&row)?);
    let upload = ctx
        .bucket()?
        .resume_multipart_upload(&key, &row.r2_upload_id)?;
    if let Err(err) = upload.abort().await {
        worker::console_warn!("aborting R2 upload {}: {err}", row.r2_upload_id);
    }
    let event = Event::by_caller(
        ctx,
        "upload.abort",
        format!("uploads/{}", row.id),
        json!({}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    audit::commit(ctx, event, cleanup(ctx, &row.id)?).await?;
    Ok(http::json(&json!({"aborted": row.id}), 200)?)
}
