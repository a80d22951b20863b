//! Models: a name inside an organisation, with a description, owner, tags and
//! the primary metric that `auto` bumps and comparisons use.

use outpost_core::api::{CreateModelRequest, ModelRecord, Page};
use outpost_core::query;
use outpost_core::version::{PrimaryMetric, validate_model_name, validate_tag};
use serde_json::json;
use worker::{Request, Response};

use crate::audit::{self, CommitError, Event};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;

#[derive(serde::Deserialize)]
pub struct ModelRow {
    name: String,
    description: String,
    owner: Option<String>,
    tags: String,
    primary_metric: Option<String>,
    created_at: f64,
    created_by: Option<String>,
    version_count: f64,
    latest_version: Option<String>,
}

impl ModelRow {
    pub fn primary_metric(&self) -> Option<PrimaryMetric> {
        self.primary_metric
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    }

    fn record(self) -> ModelRecord {
        ModelRecord {
            primary_metric: self.primary_metric(),
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            name: self.name,
            description: self.description,
            owner: self.owner,
            created_at: as_i64(self.created_at),
            created_by: self.created_by,
            version_count: self.version_count as u64,
            latest_version: self.latest_version,
        }
    }
}

/// Columns of a model with its version count and highest version.
const MODEL_SELECT: &str = "SELECT m.name, m.description, m.owner, m.tags, m.primary_metric, m.created_at, m.created_by,
        (SELECT COUNT(*) FROM versions v WHERE v.org = m.org AND v.model = m.name) AS version_count,
        (SELECT v.version FROM versions v WHERE v.org = m.org AND v.model = m.name
           ORDER BY v.major DESC, v.minor DESC, v.patch DESC, v.prerelease = '' DESC, v.prerelease DESC
           LIMIT 1) AS latest_version
     FROM models m";

/// Loads a model of the caller's organisation, or 404.
pub async fn load(ctx: &Ctx, name: &str) -> ApiResult<ModelRow> {
    let org = ctx.org()?;
    db::first::<ModelRow>(&ctx.db
        .prepare(format!("{MODEL_SELECT} WHERE m.org = ?1 AND m.name = ?2"))
        .bind(&[db::text(org), db::text(name)])?)
.await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no model `{name}` in organisation `{org}`; create it first (POST /v1/orgs/{org}/models)"
            ))
        })
}

/// `POST /v1/orgs/{org}/models`.
pub async fn create(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: CreateModelRequest = http::read_json(req).await?;
    validate_model_name(&body.name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    for tag in &body.tags {
        validate_tag(tag).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    if let Some(metric) = &body.primary_metric {
        query::validate_metric_name(&metric.name)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    if body.description.len() > 4096 {
        return Err(ApiError::unprocessable(
            "description is limited to 4096 bytes",
        ));
    }
    let org = ctx.org()?.to_owned();
    let caller = ctx.caller()?;
    let tags = serde_json::to_string(&body.tags)?;
    let primary = body
        .primary_metric
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let insert = ctx
        .db
        .prepare(
            "INSERT INTO models (org, name, description, owner, tags, primary_metric, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            db::text(&org),
            db::text(&body.name),
            db::text(&body.description),
            db::opt_text(body.owner.as_deref()),
            db::text(&tags),
            db::opt_text(primary.as_deref()),
            db::int(ctx.now),
            db::text(&caller.token_name),
        ])?;
    let event = Event::by_caller(
        ctx,
        "model.create",
        format!("models/{}", body.name),
        json!({"tags": body.tags}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    match audit::commit(ctx, event, vec![insert]).await {
        Ok(_) => {}
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "models") => {
            return Err(ApiError::conflict(format!(
                "model `{}` already exists in organisation `{org}`",
                body.name
            )));
        }
        Err(err) => return Err(err.into()),
    }
    let record = load(ctx, &body.name).await?.record();
    Ok(http::created(
        &record,
        &format!("/v1/orgs/{org}/models/{}", body.name),
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}`.
pub async fn get(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    Ok(http::json(
        &load(ctx, matched.param("model")).await?.record(),
        200,
    )?)
}

/// `GET /v1/orgs/{org}/models?limit=&cursor=`.
pub async fn list(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let (paging, _) = http::paging(req, &[])?;
    let (limit, offset) = (paging.limit, paging.offset);
    let rows = db::all::<ModelRow>(
        &ctx.db
            .prepare(format!(
                "{MODEL_SELECT} WHERE m.org = ?1 ORDER BY m.name LIMIT ?2 OFFSET ?3"
            ))
            .bind(&[
                db::text(ctx.org()?),
                db::int(i64::from(limit)),
                db::int(offset as i64),
            ])?,
    )
    .await?;
    let returned = rows.len();
    let page = Page {
        items: rows.into_iter().map(ModelRow::record).collect(),
        next_cursor: paging.next_cursor(returned),
    };
    Ok(http::json(&page, 200)?)
}
