//! `…/blobs/sha256/{hex}`: content-addressed artifacts. The use cases are
//! `outpost_registry::blobs`; this module moves bytes and headers.

use outpost_core::content_coding::Coding;
use outpost_core::digest::Digest;
use outpost_registry::blobs as use_cases;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::blobs::RequestBody;

/// Header carrying the declared artifact size.
pub const SIZE_HEADER: &str = "x-outpost-size";

pub(crate) fn path_digest(matched: &Matched) -> ApiResult<Digest> {
    Digest::from_hex(matched.param("hex")).map_err(|e| {
        ApiError::bad_request(format!(
            "the path must end in sha256/<64 lowercase hex>: {e}"
        ))
    })
}

/// The size declared in `X-Outpost-Size`, of `what`.
pub(crate) fn declared_size(req: &Request, what: &str) -> ApiResult<u64> {
    req.headers()
        .get(SIZE_HEADER)?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "declare {what}'s size in bytes in the {SIZE_HEADER} header"
            ))
        })?
        .trim()
        .parse()
        .map_err(|_| {
            ApiError::bad_request(format!("{SIZE_HEADER} must be a whole number of bytes"))
        })
}

/// `PUT /v1/orgs/{org}/blobs/sha256/{hex}` with `X-Outpost-Size`.
pub async fn put_blob(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let digest = path_digest(matched)?;
    let size = declared_size(req, "the artifact")?;
    let org = ctx.org()?;
    let record = use_cases::put_blob(
        &D1Store::new(ctx),
        org,
        &ctx.actor()?,
        (digest, size),
        RequestBody(req),
    )
    .await?;
    if record.created {
        Ok(http::created(
            &record,
            &format!("/v1/orgs/{org}/blobs/sha256/{}", digest.hex()),
        )?)
    } else {
        Ok(http::json(&record, 200)?)
    }
}

/// `PUT /v1/orgs/{org}/blobs/sha256/{hex}/codings/{coding}` with
/// `X-Outpost-Size`: a compressed copy of a stored artifact.
pub async fn put_coded_copy(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let digest = path_digest(matched)?;
    let name = matched.param("coding");
    let coding = Coding::stored(name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no coding `{name}` is kept: the registry keeps gzip copies (…/codings/gzip)"
        ))
    })?;
    let size = declared_size(req, "the copy")?;
    let org = ctx.org()?;
    let record = use_cases::put_coded_copy(
        &D1Store::new(ctx),
        org,
        &ctx.actor()?,
        (digest, coding),
        size,
        RequestBody(req),
    )
    .await?;
    if record.created {
        Ok(http::created(
            &record,
            &format!(
                "/v1/orgs/{org}/blobs/sha256/{}/codings/{}",
                digest.hex(),
                coding.name()
            ),
        )?)
    } else {
        Ok(http::json(&record, 200)?)
    }
}

/// `GET` / `HEAD /v1/orgs/{org}/blobs/sha256/{hex}`.
pub async fn get_blob(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    crate::download::serve(
        ctx,
        req,
        &path_digest(matched)?,
        crate::download::Codings::Negotiated,
    )
    .await
}
