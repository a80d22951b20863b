//! Versions: immutable, numbered by semver, inspected at registration.

use std::collections::{BTreeMap, BTreeSet};

use outpost_core::api::{
    ComparedVersion, Comparison, Page, RegisterVersionRequest, TagChange, VersionRecord,
    best_per_metric,
};
use outpost_core::query::{SortKey, VersionQuery, validate_metric_name};
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::{self, versions::VersionRow};
use outpost_registry::{deletion, versions};

/// `POST /v1/orgs/{org}/models/{model}/versions`.
pub async fn register_version(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let body: RegisterVersionRequest = http::read_json(req).await?;
    let (org, model) = (ctx.org()?, matched.param("model"));
    let registered =
        versions::register_version(&D1Store::new(ctx), org, &ctx.actor()?, model, &body).await?;
    let location = format!(
        "/v1/orgs/{org}/models/{model}/versions/{}",
        registered.version.version
    );
    Ok(http::created(&registered, &location)?)
}

/// `GET /v1/orgs/{org}/models/{model}/versions/{version}`.
pub async fn get_version(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let (model, version) = (matched.param("model"), matched.param("version"));
    let row = crate::lookup::version(ctx, model, version).await?;
    Ok(http::json(&row.record()?, 200)?)
}

/// `PATCH …/versions/{version}/tags` with `{"add": [...], "remove": [...]}`.
pub async fn change_tags(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let change: TagChange = http::read_json(req).await?;
    let at = (matched.param("model"), matched.param("version"));
    let record =
        versions::change_tags(&D1Store::new(ctx), ctx.org()?, &ctx.actor()?, at, &change).await?;
    Ok(http::json(&record, 200)?)
}

fn parse_query(req: &Request, model: Option<&str>) -> ApiResult<VersionQuery> {
    let url = req.url()?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if model.is_some() && pairs.iter().any(|(k, _)| k == "model") {
        return Err(ApiError::bad_request(
            "the model is given by the path; drop the `model` parameter",
        ));
    }
    let mut query = VersionQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(model) = model {
        query.model = Some(model.to_owned());
    }
    Ok(query)
}

async fn run_search(ctx: &Ctx, query: &VersionQuery) -> ApiResult<Vec<VersionRecord>> {
    Ok(store::versions::search(ctx, ctx.org()?, query)
        .await?
        .into_iter()
        .map(VersionRow::record)
        .collect::<Result<_, _>>()?)
}

/// `GET /v1/orgs/{org}/versions` and `GET …/models/{model}/versions`.
pub async fn search_versions(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.params.get("model").map(String::as_str);
    if let Some(model) = model {
        crate::lookup::model(ctx, model).await?;
    }
    let query = parse_query(req, model)?;
    let items = run_search(ctx, &query).await?;
    let next_cursor = query.next_cursor(items.len());
    Ok(http::json(&Page { items, next_cursor }, 200)?)
}

/// `GET /v1/orgs/{org}/versions/latest`: the newest matching version (highest
/// semver within one model; most recently registered across models).
pub async fn latest_version(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let mut query = parse_query(req, None)?;
    let url = req.url()?;
    if !url.query_pairs().any(|(k, _)| k == "sort") {
        query.sort = if query.model.is_some() {
            SortKey::Version
        } else {
            SortKey::Created
        };
        query.descending = true;
    }
    query.limit = 1;
    query.offset = 0;
    let found = run_search(ctx, &query).await?.into_iter().next();
    match found {
        Some(record) => Ok(http::json(&record, 200)?),
        None => Err(ApiError::not_found("no version matches these filters")),
    }
}

/// `GET /v1/orgs/{org}/compare?v=model@1.0.0&v=model@1.1.0&metric=f1`.
pub async fn compare_versions(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut metrics: Vec<String> = Vec::new();
    for (key, value) in http::query(req, &["v", "metric"])? {
        match key.as_str() {
            "v" => {
                let (model, version) = value.split_once('@').ok_or_else(|| {
                    ApiError::bad_request(format!("`v={value}` must be model@version"))
                })?;
                wanted.push((model.to_owned(), version.to_owned()));
            }
            "metric" => {
                validate_metric_name(&value).map_err(|e| ApiError::bad_request(e.to_string()))?;
                metrics.push(value);
            }
            _ => {}
        }
    }
    if wanted.len() < 2 || wanted.len() > 20 {
        return Err(ApiError::bad_request(
            "compare 2 to 20 versions: repeat v=model@version",
        ));
    }
    let mut records = Vec::new();
    let mut lower_is_better = Vec::new();
    for (model, version) in &wanted {
        let row = crate::lookup::version(ctx, model, version).await?;
        if let Some(primary) = crate::lookup::model(ctx, model).await?.primary_metric()
            && !primary.higher_is_better
            && !lower_is_better.contains(&primary.name)
        {
            lower_is_better.push(primary.name);
        }
        records.push(row.record()?);
    }
    if metrics.is_empty() {
        let all: BTreeSet<String> = records
            .iter()
            .flat_map(|r| r.metrics.keys().cloned())
            .collect();
        metrics = all.into_iter().collect();
    }
    let versions: Vec<ComparedVersion> = records
        .iter()
        .map(|r| ComparedVersion {
            model: r.model.clone(),
            version: r.version.clone(),
            created_at: r.created_at,
            format: r.format,
            metrics: metrics
                .iter()
                .map(|m| (m.clone(), r.metrics.get(m).copied()))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    let best = best_per_metric(&metrics, &versions, &lower_is_better);
    Ok(http::json(
        &Comparison {
            metrics,
            versions,
            best,
        },
        200,
    )?)
}

/// `DELETE /v1/orgs/{org}/models/{model}/versions/{version}?force=true&reason=…`.
pub async fn delete_version(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let version = matched.param("version");
    let mut force = false;
    let mut reason = String::new();
    for (key, value) in http::query(req, &["force", "reason"])? {
        match key.as_str() {
            "force" => force = value == "true",
            _ => reason = value,
        }
    }
    let deleted = deletion::delete_version(
        &D1Store::new(ctx),
        ctx.org()?,
        &ctx.actor()?,
        model,
        version,
        force,
        &reason,
    )
    .await?;
    Ok(http::json(&deleted, 200)?)
}
