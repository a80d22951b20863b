//! `…/models/{model}/imports`: importing an exported model
//! (`outpost_registry::imports`; the bundle format is
//! `outpost_core::bundle`, the CLI's `outpost import` sends each model of a
//! bundle here after uploading its artifacts), and the record of what was
//! imported.

use outpost_core::bundle::ModelExport;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;

/// `POST …/models/{model}/imports`: 201 with the import's record, or 200
/// with `unchanged: true` when this export was imported already.
pub async fn import_model(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let mut body: serde_json::Value = http::read_json(req).await?;
    // Profiles' integer fields sit under `#[serde(flatten)]`, which reads
    // `3.0` as a float; nothing else is rewritten (params keep their JSON).
    if let Some(profiles) = body.get_mut("profiles") {
        crate::strict_json::integral_floats_as_integers(profiles);
    }
    let export: ModelExport = crate::strict_json::from_value(&body).map_err(|err| {
        ApiError::bad_request(format!(
            "the request body is not a valid model export: {err}"
        ))
    })?;
    let org = ctx.org()?;
    let outcome = outpost_registry::imports::import_model(
        &D1Store::new(ctx),
        org,
        &ctx.actor()?,
        model,
        &export,
    )
    .await?;
    if outcome.unchanged {
        Ok(http::json(&outcome, 200)?)
    } else {
        Ok(http::created(
            &outcome,
            &format!("/v1/orgs/{org}/models/{model}/imports"),
        )?)
    }
}

/// `GET …/models/{model}/imports`: every import into the model, oldest first.
pub async fn list_imports(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let records = outpost_registry::imports::import_records(
        &D1Store::new(ctx),
        ctx.org()?,
        matched.param("model"),
    )
    .await?;
    Ok(http::json(&records, 200)?)
}
