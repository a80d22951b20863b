//! The reads several routes start with: a model or a version of the
//! caller's organisation that must exist, or the 404 that names it. Shared
//! here so that no handler imports another.

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::store::{self, models::ModelRow, versions::VersionRow};

/// A model of the caller's organisation, or 404.
pub async fn model(ctx: &Ctx, name: &str) -> ApiResult<ModelRow> {
    let org = ctx.org()?;
    store::models::model(ctx, org, name)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no model `{name}` in organisation `{org}`; create it first (POST /v1/orgs/{org}/models)"
            ))
        })
}

/// A version of the caller's organisation, or 404.
pub async fn version(ctx: &Ctx, model: &str, version: &str) -> ApiResult<VersionRow> {
    let org = ctx.org()?;
    store::versions::version(ctx, org, model, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no version `{version}` of model `{model}` in organisation `{org}`"
            ))
        })
}
