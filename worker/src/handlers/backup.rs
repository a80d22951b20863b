//! Backups and restores of an organisation (`outpost_registry::backup`;
//! what a backup carries is `outpost_core::backup`). A backup page is read
//! with an admin token of the organisation; a restore, which writes an
//! organisation that does not exist yet, with the deployment's bootstrap
//! secret.

use outpost_core::backup::Page;
use outpost_registry::backup as use_cases;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::blobs::RequestBody;

/// `GET /v1/orgs/{org}/backup/tables/{table}?after=&limit=`: `{"table",
/// "columns", "rows", "next"}`, the rows passed through as the database
/// wrote them.
pub async fn backup_page(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let url = req.url()?;
    let mut after = 0;
    let mut limit = outpost_core::backup::MAX_PAGE_ROWS;
    for (name, value) in url.query_pairs() {
        let number = || {
            value
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("`{name}` must be a whole number")))
        };
        match &*name {
            "after" => after = number()?,
            "limit" => limit = u32::try_from(number()?).unwrap_or(0),
            _ => {}
        }
    }
    let page = use_cases::backup_page(
        &D1Store::new(ctx),
        ctx.org()?,
        matched.param("table"),
        (after, limit),
    )
    .await?;
    let json_err = |e: serde_json::Error| ApiError::internal(e.to_string());
    let body = format!(
        r#"{{"table":"{}","columns":{},"rows":[{}],"next":{}}}"#,
        page.table,
        serde_json::to_string(&page.columns).map_err(json_err)?,
        page.rows.rows.join(","),
        serde_json::to_string(&page.rows.next).map_err(json_err)?
    );
    let mut response = Response::ok(body)?;
    response
        .headers_mut()
        .set("content-type", "application/json")?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

fn restored_org(matched: &Matched) -> &str {
    matched.param("org")
}

/// `POST /v1/admin/restores/{org}`.
pub async fn start_restore(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let progress = use_cases::start_restore(&D1Store::new(ctx), restored_org(matched)).await?;
    Ok(http::json(&progress, 200)?)
}

/// `POST /v1/admin/restores/{org}/tables/{table}` with a [`Page`].
pub async fn restore_page(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let page: Page = http::read_json(req).await?;
    let restored = use_cases::restore_page(
        &D1Store::new(ctx),
        restored_org(matched),
        matched.param("table"),
        &page,
    )
    .await?;
    Ok(http::json(
        &serde_json::json!({ "restored": restored }),
        200,
    )?)
}

/// `PUT /v1/admin/restores/{org}/blobs/sha256/{hex}` with `X-Outpost-Size`.
pub async fn restore_artifact(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let digest = super::blobs::path_digest(matched)?;
    let size = super::blobs::declared_size(req, "the artifact")?;
    use_cases::restore_artifact(
        &D1Store::new(ctx),
        restored_org(matched),
        (digest, size),
        RequestBody(req),
    )
    .await?;
    Ok(http::json(
        &serde_json::json!({ "digest": digest, "size": size }),
        200,
    )?)
}

/// `POST /v1/admin/restores/{org}/finish`.
pub async fn finish_restore(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let finished = use_cases::finish_restore(&D1Store::new(ctx), restored_org(matched)).await?;
    Ok(http::json(&finished, 200)?)
}
