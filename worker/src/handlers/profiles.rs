//! Reference profiles (`outpost_core::profile`): written once per version at
//! registration (`outpost push --reference sample.csv` computes it with the
//! native core and sends it), read by clients for their telemetry bins and by
//! drift reports and guardrails.

use outpost_core::profile::ReferenceProfile;
use serde_json::json;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use outpost_registry::ports::Profiles as _;
use outpost_registry::profiles::{self, Stored};

/// `PUT …/models/{model}/versions/{version}/reference`: 201 the first time;
/// the same profile again is 200; a different one is 409 (a version's
/// reference is as immutable as the version).
pub async fn put_reference(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let (model, version) = (matched.param("model"), matched.param("version"));
    // Integer fields under the profile's `#[serde(flatten)]` shape read
    // `3.0` as 3 too (strict_json's limit).
    let mut body: serde_json::Value = http::read_json(req).await?;
    crate::strict_json::integral_floats_as_integers(&mut body);
    let profile: ReferenceProfile = crate::strict_json::from_value(&body).map_err(|err| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON for this route: {err}"
        ))
    })?;
    let org = ctx.org()?;
    let names: Vec<String> = profile.features.iter().map(|f| f.name.clone()).collect();
    let rows = profile.rows;
    let stored = profiles::set_reference(
        &D1Store::new(ctx),
        org,
        &ctx.actor()?,
        (model, version),
        profile,
    )
    .await?;
    match stored {
        Stored::Unchanged => Ok(http::json(
            &json!({"model": model, "version": version, "changed": false}),
            200,
        )?),
        Stored::Created => Ok(http::created(
            &json!({"model": model, "version": version, "features": names, "rows": rows}),
            &format!("/v1/orgs/{org}/models/{model}/versions/{version}/reference"),
        )?),
    }
}

/// `GET …/models/{model}/versions/{version}/reference`.
pub async fn get_reference(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let (model, version) = (matched.param("model"), matched.param("version"));
    let org = ctx.org()?;
    crate::lookup::version(ctx, model, version).await?;
    let profile = D1Store::new(ctx)
        .reference_profile(org, model, version)
        .await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "{model}@{version} has no reference profile; add one with `outpost push --reference sample.csv` when registering"
        ))
    })?;
    Ok(http::json(&profile, 200)?)
}
