//! `…/uploads`: resumable multipart uploads of large artifacts. The use
//! cases are `outpost_registry::uploads`; this module moves bytes and
//! headers.

use outpost_core::api::{PartStored, UploadAborted};
use outpost_core::digest::Digest;
use outpost_core::upload::StartUpload;
use outpost_registry::uploads::{self, Started};
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::blobs::RequestBody;

/// Header carrying a part's declared sha256 (`sha256:<hex>`).
pub const PART_DIGEST_HEADER: &str = "x-outpost-part-sha256";

/// `POST /v1/orgs/{org}/uploads`: start, or resume the open upload of the
/// same digest.
pub async fn start_upload(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: StartUpload = http::read_json(req).await?;
    let org = ctx.org()?;
    match uploads::start_upload(&D1Store::new(ctx), org, &ctx.actor()?, &body).await? {
        Started::Stored(record) => Ok(http::json(&record, 200)?),
        Started::Resumed(state) => Ok(http::json(&state, 200)?),
        Started::Opened(state) => Ok(http::created(
            &state,
            &format!("/v1/orgs/{org}/uploads/{}", state.id),
        )?),
    }
}

/// `GET /v1/orgs/{org}/uploads/{upload}`.
pub async fn upload_status(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let state =
        uploads::upload_status(&D1Store::new(ctx), ctx.org()?, matched.param("upload")).await?;
    Ok(http::json(&state, 200)?)
}

/// `PUT /v1/orgs/{org}/uploads/{upload}/parts/{part}`.
pub async fn put_upload_part(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let number: u64 = matched
        .param("part")
        .parse()
        .map_err(|_| ApiError::bad_request("the part number must be a whole number"))?;
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
    let part = uploads::put_part(
        &D1Store::new(ctx),
        ctx.org()?,
        (matched.param("upload"), number),
        declared,
        RequestBody(req),
    )
    .await?;
    Ok(http::json(
        &PartStored {
            part: part.number,
            size: part.length,
            sha256: part.digest,
        },
        200,
    )?)
}

/// `POST /v1/orgs/{org}/uploads/{upload}/complete`.
pub async fn complete_upload(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let org = ctx.org()?;
    let record = uploads::complete_upload(
        &D1Store::new(ctx),
        org,
        &ctx.actor()?,
        matched.param("upload"),
    )
    .await?;
    Ok(http::created(
        &record,
        &format!("/v1/orgs/{org}/blobs/sha256/{}", record.digest.hex()),
    )?)
}

/// `DELETE /v1/orgs/{org}/uploads/{upload}`.
pub async fn abort_upload(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let id = matched.param("upload");
    uploads::abort_upload(&D1Store::new(ctx), ctx.org()?, &ctx.actor()?, id).await?;
    Ok(http::json(
        &UploadAborted {
            aborted: id.to_owned(),
        },
        200,
    )?)
}
