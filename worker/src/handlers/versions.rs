//! Versions: immutable, numbered by semver, inspected at registration.

use std::collections::{BTreeMap, BTreeSet};

use outpost_core::api::{
    ComparedVersion, Comparison, Page, RegisterVersionRequest, RegisteredVersion, TagChange,
    VersionRecord, VersionStatus, best_per_metric,
};
use outpost_core::digest::Digest;
use outpost_core::query::{SortKey, VersionQuery, metric_json_path, validate_metric_name};
use outpost_core::version::{ArtifactFormat, Bump, next_version, parse_version, validate_tag};
use outpost_infer::inspect::inspect_artifact;
use serde_json::json;
use worker::{Request, Response};

use crate::audit::{self, CommitError, Event};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::handlers::{blobs, models};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::{self, versions::VersionRow};
use outpost_registry::deletion;

/// Artifacts up to this size are read and inspected at registration; larger
/// ones are recorded as declared, and pickle-based ones are marked unsafe
/// because they could not be scanned.
pub const MAX_INSPECTED_BYTES: u64 = 64 << 20;

pub(crate) async fn load(ctx: &Ctx, model: &str, version: &str) -> ApiResult<Option<VersionRow>> {
    Ok(store::versions::version(ctx, ctx.org()?, model, version).await?)
}

pub(crate) fn not_found(org: &str, model: &str, version: &str) -> ApiError {
    ApiError::not_found(format!(
        "no version `{version}` of model `{model}` in organisation `{org}`"
    ))
}

/// The highest registered version and its value of `metric`.
async fn latest_of(
    ctx: &Ctx,
    model: &str,
    metric: Option<&str>,
) -> ApiResult<Option<(semver::Version, Option<f64>)>> {
    let path = metric
        .map(metric_json_path)
        .unwrap_or_else(|| "$.\"\"".into());
    let row = store::versions::highest(ctx, ctx.org()?, model, &path).await?;
    Ok(row.and_then(|row| Some((parse_version(&row.version).ok()?, row.metric))))
}

/// `POST /v1/orgs/{org}/models/{model}/versions`.
pub async fn register_version(
    ctx: &Ctx,
    req: &mut Request,
    matched: &Matched,
) -> ApiResult<Response> {
    let body: RegisterVersionRequest = http::read_json(req).await?;
    let model_name = matched.param("model");
    let model = models::load(ctx, model_name).await?;
    let org = ctx.org()?.to_owned();

    // Validate everything the caller said before touching storage.
    for tag in &body.tags {
        validate_tag(tag).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    for (name, value) in &body.metrics {
        validate_metric_name(name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        if !value.is_finite() {
            return Err(ApiError::unprocessable(format!(
                "metric `{name}` must be a finite number"
            )));
        }
    }
    if body.notes.len() > 16 * 1024 {
        return Err(ApiError::unprocessable("notes are limited to 16 KiB"));
    }
    if body.version.is_some() && body.bump.is_some() {
        return Err(ApiError::unprocessable(
            "give either `version` or `bump`, not both",
        ));
    }
    let explicit = body
        .version
        .as_deref()
        .map(parse_version)
        .transpose()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    if explicit.is_none() && body.bump.is_none() {
        return Err(ApiError::unprocessable(
            "give an explicit `version` (e.g. \"1.2.0\") or a `bump` (major, minor, patch, auto)",
        ));
    }
    if let Some(parent) = &body.parent_version
        && load(ctx, model_name, parent).await?.is_none()
    {
        return Err(ApiError::unprocessable(format!(
            "parent version `{parent}` of model `{model_name}` does not exist"
        )));
    }

    // The artifact must be uploaded and verified already.
    let Some(blob) = blobs::find(ctx, &body.digest).await? else {
        return Err(ApiError::unprocessable(format!(
            "artifact {} is not uploaded; PUT it to /v1/orgs/{org}/blobs/sha256/{} first",
            body.digest,
            body.digest.hex()
        )));
    };
    let stored_size = as_i64(blob.size) as u64;
    if stored_size != body.size {
        return Err(ApiError::unprocessable(format!(
            "artifact {} has {stored_size} bytes, but the registration declares {}",
            body.digest, body.size
        )));
    }

    let inspection = inspect(ctx, &org, &body.digest, body.size, body.format).await?;
    let (status, status_reason) = match &inspection.unsafe_reason {
        Some(reason) => (VersionStatus::Unsafe, Some(reason.clone())),
        None => (VersionStatus::Ready, None),
    };

    let primary = model.primary_metric();
    // Bumps race each other for the next number: retry with a fresh latest.
    let attempts = if explicit.is_some() { 1 } else { 5 };
    for _ in 0..attempts {
        let (version, version_reason) = match &explicit {
            Some(version) => (version.clone(), "explicit version".to_owned()),
            None => {
                let latest =
                    latest_of(ctx, model_name, primary.as_ref().map(|p| p.name.as_str())).await?;
                let new_metric = primary
                    .as_ref()
                    .and_then(|p| body.metrics.get(&p.name).copied());
                let decision = next_version(
                    body.bump.as_ref().unwrap_or(&Bump::Patch),
                    latest.as_ref().map(|(v, m)| (v, *m)),
                    primary.as_ref(),
                    new_metric,
                );
                let version = parse_version(&decision.version).map_err(ApiError::internal)?;
                (version, decision.reason)
            }
        };
        let record = VersionRecord {
            model: model_name.to_owned(),
            version: version.to_string(),
            digest: body.digest,
            size: body.size,
            format: inspection.format,
            framework: body.framework.clone(),
            schema: inspection.schema.clone(),
            metrics: body.metrics.clone(),
            params: body.params.clone(),
            dataset_version: body.dataset_version.clone(),
            parent_version: body.parent_version.clone(),
            tags: dedup(&body.tags),
            notes: body.notes.clone(),
            author: ctx.caller()?.token_name.clone(),
            created_at: ctx.now,
            status,
            status_reason: status_reason.clone(),
        };
        let insert = store::versions::insert(ctx, &org, &version, &record)?;
        let event = Event::by_caller(
            ctx,
            "version.register",
            format!("models/{model_name}/versions/{}", record.version),
            json!({"digest": record.digest, "status": record.status, "reason": version_reason}),
        )
        .ok_or_else(|| ApiError::internal("no caller"))?;
        let announce = crate::store::enqueue_webhook(
            ctx,
            &org,
            "version.registered",
            &json!({
                "model": model_name, "version": record.version, "digest": record.digest,
                "size": record.size, "status": record.status, "author": record.author,
            }),
        )?;
        match audit::commit(ctx, event, vec![insert, announce]).await {
            Ok(_) => {
                let location = format!(
                    "/v1/orgs/{org}/models/{model_name}/versions/{}",
                    record.version
                );
                return Ok(http::created(
                    &RegisteredVersion {
                        version: record,
                        version_reason,
                    },
                    &location,
                )?);
            }
            Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "versions") => {
                if explicit.is_some() {
                    return Err(ApiError::conflict(format!(
                        "version {version} of model `{model_name}` already exists and versions are immutable; register a new version (e.g. bump patch)"
                    )));
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::conflict(format!(
        "other registrations of `{model_name}` kept taking the next version number; retry"
    )))
}

fn dedup(tags: &[String]) -> Vec<String> {
    tags.iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Reads the artifact once and decides its format, schema and safety.
async fn inspect(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    size: u64,
    declared: Option<ArtifactFormat>,
) -> ApiResult<outpost_infer::inspect::Inspection> {
    if size > MAX_INSPECTED_BYTES {
        let format = declared.unwrap_or(ArtifactFormat::Other);
        let pickled = matches!(
            format,
            ArtifactFormat::Pickle | ArtifactFormat::Joblib | ArtifactFormat::Pytorch
        );
        return Ok(outpost_infer::inspect::Inspection {
            format,
            schema: None,
            unsafe_reason: pickled.then(|| {
                format!("{format} artifacts over {MAX_INSPECTED_BYTES} bytes are not scanned, so they are not trusted")
            }),
        });
    }
    let key = blobs::object_key(org, digest);
    let object = ctx
        .bucket()?
        .get(&key)
        .execute()
        .await?
        .ok_or_else(|| ApiError::internal(format!("blob row without R2 object: {key}")))?;
    let bytes = object
        .body()
        .ok_or_else(|| ApiError::internal("R2 object without a body"))?
        .bytes()
        .await?;
    inspect_artifact(&bytes, declared).map_err(|e| ApiError::unprocessable(e.to_string()))
}

/// `GET /v1/orgs/{org}/models/{model}/versions/{version}`.
pub async fn get_version(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let (model, version) = (matched.param("model"), matched.param("version"));
    let row = load(ctx, model, version)
        .await?
        .ok_or_else(|| not_found(ctx.org().unwrap_or_default(), model, version))?;
    Ok(http::json(&row.record()?, 200)?)
}

/// `PATCH …/versions/{version}/tags` with `{"add": [...], "remove": [...]}`.
pub async fn change_tags(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let change: TagChange = http::read_json(req).await?;
    for tag in change.add.iter().chain(&change.remove) {
        validate_tag(tag).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    let (model, version) = (matched.param("model"), matched.param("version"));
    let org = ctx.org()?;
    let row = load(ctx, model, version)
        .await?
        .ok_or_else(|| not_found(org, model, version))?;
    let old_tags = row.tags.clone();
    let mut record = row.record()?;
    let mut tags: BTreeSet<String> = record.tags.iter().cloned().collect();
    tags.extend(change.add.iter().cloned());
    for tag in &change.remove {
        tags.remove(tag);
    }
    record.tags = tags.into_iter().collect();
    let new_tags = serde_json::to_string(&record.tags)?;
    if new_tags == old_tags {
        return Ok(http::json(&record, 200)?);
    }
    // Compare-and-set on the old value, so concurrent tag edits cannot lose one.
    let update = store::versions::set_tags(ctx, org, (model, version), &old_tags, &new_tags)?;
    let event = Event::by_caller(
        ctx,
        "version.tags",
        format!("models/{model}/versions/{version}"),
        json!({"add": change.add, "remove": change.remove}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    audit::commit(ctx, event, vec![update]).await?;
    let after = load(ctx, model, version)
        .await?
        .ok_or_else(|| not_found(org, model, version))?;
    if after.tags != new_tags {
        return Err(ApiError::conflict(
            "the tags changed concurrently; read them again and retry",
        ));
    }
    Ok(http::json(&after.record()?, 200)?)
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
        models::load(ctx, model).await?;
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
    let org = ctx.org()?;
    let mut records = Vec::new();
    let mut lower_is_better = Vec::new();
    for (model, version) in &wanted {
        let row = load(ctx, model, version)
            .await?
            .ok_or_else(|| not_found(org, model, version))?;
        if let Some(primary) = models::load(ctx, model).await?.primary_metric()
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
