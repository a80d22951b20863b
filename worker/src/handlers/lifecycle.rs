//! Stages, promotion with gates, rollback, history, deletion and retention.
//!
//! The decisions are `outpost_core::lifecycle`'s; this module gathers the
//! facts they need from D1 and R2 and appends to the deployment history.

use std::collections::BTreeMap;

use outpost_core::api::{
    Deleted, ModelPolicies, Page, PromoteRequest, RetentionReport, RollbackRequest, RolloutRequest,
    RolloutView, StagesView,
};
use outpost_core::digest::Digest;
use outpost_core::lifecycle::{
    Deployment, Move, RetentionCandidate, RetentionPolicy, Stage, StageState, plan_deletion,
    plan_retention, replay,
};
use outpost_core::routing::RolloutPolicy;
use outpost_core::version::parse_version;
use serde_json::json;
use worker::{D1PreparedStatement, Request, Response};

use crate::audit::{self, CommitError, Event};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::handlers::{blobs, models};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store};
use outpost_registry::stages::{self, Moved};

/// The whole history of one model (optionally one stage), oldest first.
async fn history_of(ctx: &Ctx, model: &str, stage: Option<Stage>) -> ApiResult<Vec<Deployment>> {
    Ok(store::lifecycle::history(ctx, ctx.org()?, model, stage).await?)
}

/// The newest entry of one stage, if it ever moved.
pub(crate) async fn head_of(ctx: &Ctx, model: &str, stage: Stage) -> ApiResult<Option<Deployment>> {
    Ok(store::lifecycle::head(ctx, ctx.org()?, model, stage).await?)
}

/// Every stage's current state, from the newest entries of the history.
async fn current_states(ctx: &Ctx, model: &str) -> ApiResult<BTreeMap<Stage, StageState>> {
    let history = store::lifecycle::heads(ctx, ctx.org()?, model).await?;
    Ok(replay(&history)
        .into_iter()
        .filter(|(_, state)| !state.is_empty())
        .map(|((_, stage), state)| (stage, state))
        .collect())
}

fn stage_param(matched: &Matched) -> ApiResult<Stage> {
    matched
        .param("stage")
        .parse()
        .map_err(|e: String| ApiError::not_found(e))
}

async fn policies(ctx: &Ctx, model: &str) -> ApiResult<ModelPolicies> {
    Ok(store::lifecycle::policies(ctx, ctx.org()?, model).await?)
}

/// A stage move's answer: 201 with the new history entry, or 200
/// `changed: false` when the stage already was there.
fn moved(model: &str, stage: Stage, location: &str, moved: Moved) -> ApiResult<Response> {
    match moved {
        Moved::Entry(entry) => Ok(http::created(&entry, location)?),
        Moved::Unchanged(state) => Ok(http::json(
            &json!({"model": model, "stage": stage, "state": state, "changed": false}),
            200,
        )?),
    }
}

/// `POST /v1/orgs/{org}/models/{model}/stages/{stage}/promote`.
pub async fn promote(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: PromoteRequest = http::read_json(req).await?;
    let (model, stage, org) = (matched.param("model"), stage_param(matched)?, ctx.org()?);
    let result =
        stages::promote(&D1Store::new(ctx), org, &ctx.actor()?, model, stage, &body).await?;
    moved(
        model,
        stage,
        &format!("/v1/orgs/{org}/models/{model}/stages/{stage}"),
        result,
    )
}

/// `GET /v1/orgs/{org}/models/{model}/stages/{stage}/rollout`.
pub async fn get_rollout(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    models::load(ctx, model).await?;
    let state = head_of(ctx, model, stage)
        .await?
        .map(|h| h.to)
        .unwrap_or_default();
    Ok(http::json(
        &RolloutView {
            model: model.to_owned(),
            stage,
            rollout: RolloutPolicy::from_state(&state),
        },
        200,
    )?)
}

/// `PUT /v1/orgs/{org}/models/{model}/stages/{stage}/rollout`: canary, A/B
/// variants and shadow of a stage (`outpost_registry::stages::set_rollout`).
pub async fn put_rollout(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: RolloutRequest = http::read_json(req).await?;
    let (model, stage, org) = (matched.param("model"), stage_param(matched)?, ctx.org()?);
    let result =
        stages::set_rollout(&D1Store::new(ctx), org, &ctx.actor()?, model, stage, &body).await?;
    moved(
        model,
        stage,
        &format!("/v1/orgs/{org}/models/{model}/stages/{stage}/rollout"),
        result,
    )
}

/// `DELETE /v1/orgs/{org}/models/{model}/stages/{stage}/rollout`: back to the
/// stable version alone (no canary, variants or shadow).
pub async fn clear_rollout(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let (model, stage, org) = (matched.param("model"), stage_param(matched)?, ctx.org()?);
    let reason = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let (entry, state) = stages::clear_rollout(
        &D1Store::new(ctx),
        org,
        &ctx.actor()?,
        model,
        stage,
        &reason,
    )
    .await?;
    Ok(http::json(
        &json!({"model": model, "stage": stage, "state": state, "changed": entry.is_some()}),
        200,
    )?)
}

/// `POST /v1/orgs/{org}/models/{model}/stages/{stage}/rollback`.
pub async fn rollback(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: RollbackRequest = http::read_json(req).await?;
    let (model, stage, org) = (matched.param("model"), stage_param(matched)?, ctx.org()?);
    let entry =
        stages::rollback(&D1Store::new(ctx), org, &ctx.actor()?, model, stage, &body).await?;
    Ok(http::created(
        &entry,
        &format!("/v1/orgs/{org}/models/{model}/stages/{stage}"),
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}/stages`.
pub async fn stages(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    models::load(ctx, model).await?;
    let stages = current_states(ctx, model).await?;
    Ok(http::json(
        &StagesView {
            model: model.to_owned(),
            stages,
        },
        200,
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}/stages/{stage}`: the version a client
/// asking for `model@stage` gets, read from the history on every request so a
/// promotion is visible at once.
pub async fn stage(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    models::load(ctx, model).await?;
    let head = head_of(ctx, model, stage).await?;
    let state = head.map(|h| h.to).unwrap_or_default();
    let Some(version) = state.primary() else {
        return Err(ApiError::not_found(format!(
            "nothing is deployed to {model}@{stage}"
        )));
    };
    Ok(http::json(
        &json!({"model": model, "stage": stage, "version": version, "state": state}),
        200,
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}/history?stage=&limit=&cursor=`, newest first.
pub async fn history(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    models::load(ctx, model).await?;
    let (paging, rest) = http::paging(req, &["stage"])?;
    let stage = rest
        .iter()
        .find(|(key, _)| key == "stage")
        .map(|(_, value)| value.parse::<Stage>().map_err(ApiError::bad_request))
        .transpose()?;
    let (limit, offset) = (paging.limit, paging.offset);
    let mut all = history_of(ctx, model, stage).await?;
    all.sort_by(|a, b| b.at.cmp(&a.at).then(b.seq.cmp(&a.seq)));
    let items: Vec<Deployment> = all
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let next_cursor = paging.next_cursor(items.len());
    Ok(http::json(&Page { items, next_cursor }, 200)?)
}

/// Statements and R2 key that delete one version (and its blob when no other
/// version of the organisation uses it).
async fn deletion(
    ctx: &Ctx,
    model: &str,
    version: &str,
    cleared: &[Stage],
    reason: &str,
) -> ApiResult<(Vec<D1PreparedStatement>, Option<String>)> {
    let org = ctx.org()?;
    #[derive(serde::Deserialize)]
    struct Row {
        digest: String,
        others: f64,
    }
    let row = db::first::<Row>(
        &ctx.db
            .prepare(
                "SELECT v.digest,
                        (SELECT COUNT(*) FROM versions o WHERE o.org = v.org AND o.digest = v.digest
                           AND NOT (o.model = v.model AND o.version = v.version)) AS others
                 FROM versions v WHERE v.org = ?1 AND v.model = ?2 AND v.version = ?3",
            )
            .bind(&[db::text(org), db::text(model), db::text(version)])?,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no version `{version}` of model `{model}`")))?;
    let mut statements = Vec::new();
    let caller = ctx.caller()?;
    for stage in cleared {
        let head = head_of(ctx, model, *stage).await?;
        let from = head.as_ref().map(|h| h.to.clone()).unwrap_or_default();
        let to = StageState {
            targets: from
                .targets
                .iter()
                .filter(|t| t.version != version)
                .cloned()
                .collect(),
            shadow: from.shadow.clone().filter(|s| s != version),
        };
        let entry = Deployment {
            model: model.to_owned(),
            stage: *stage,
            seq: head.as_ref().map_or(1, |h| h.seq + 1),
            kind: Move::Cleared,
            from,
            to,
            actor: caller.token_name.clone(),
            reason: format!("{version} deleted: {reason}"),
            at: ctx.now,
            forced: vec!["deletion".into()],
        };
        statements.push(store::lifecycle::insert_deployment(ctx, org, &entry)?);
    }
    statements.push(
        ctx.db
            .prepare("DELETE FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3")
            .bind(&[db::text(org), db::text(model), db::text(version)])?,
    );
    let mut blob_key = None;
    if row.others == 0.0 {
        statements.push(
            ctx.db
                .prepare("DELETE FROM blobs WHERE org = ?1 AND digest = ?2")
                .bind(&[db::text(org), db::text(&row.digest)])?,
        );
        let digest: Digest = row.digest.parse().map_err(ApiError::internal)?;
        blob_key = Some(blobs::object_key(org, &digest));
    }
    Ok((statements, blob_key))
}

/// Deletes one version that `plan_deletion` allowed, with its audit entry.
async fn delete_version(
    ctx: &Ctx,
    model: &str,
    version: &str,
    cleared: &[Stage],
    reason: &str,
    action: &str,
) -> ApiResult<Deleted> {
    let (statements, blob_key) = deletion(ctx, model, version, cleared, reason).await?;
    let event = Event::by_caller(
        ctx,
        action,
        format!("models/{model}/versions/{version}"),
        json!({"reason": reason, "cleared": cleared, "blob_removed": blob_key.is_some()}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    match audit::commit(ctx, event, statements).await {
        Ok(_) => {}
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "deployments") => {
            return Err(ApiError::conflict("a stage moved while deleting; retry"));
        }
        Err(err) => return Err(err.into()),
    }
    if let Some(key) = &blob_key {
        // The rows are gone; an object left behind by a failure here is
        // unreachable and harmless.
        if let Err(err) = ctx.bucket()?.delete(key).await {
            worker::console_warn!("deleting R2 object {key}: {err}");
        }
    }
    Ok(Deleted {
        model: model.to_owned(),
        version: version.to_owned(),
        cleared: cleared.to_vec(),
        blob_removed: blob_key.is_some(),
    })
}

/// `DELETE /v1/orgs/{org}/models/{model}/versions/{version}?force=true&reason=…`.
pub async fn delete(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let version = matched.param("version");
    models::load(ctx, model).await?;
    let mut force = false;
    let mut reason = String::new();
    for (key, value) in req.url()?.query_pairs() {
        match key.as_ref() {
            "force" => force = value == "true",
            "reason" => reason = value.into_owned(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{other}`; use force, reason"
                )));
            }
        }
    }
    let current = current_states(ctx, model).await?;
    let cleared = plan_deletion(version, &current, force, &reason)
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let deleted = delete_version(ctx, model, version, &cleared, &reason, "version.delete").await?;
    Ok(http::json(&deleted, 200)?)
}

/// `GET /v1/orgs/{org}/models/{model}/policy`.
pub async fn get_policy(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    models::load(ctx, model).await?;
    Ok(http::json(&policies(ctx, model).await?, 200)?)
}

/// `PUT /v1/orgs/{org}/models/{model}/policy`.
pub async fn put_policy(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: ModelPolicies = http::read_json(req).await?;
    let model = matched.param("model");
    models::load(ctx, model).await?;
    body.promotion.validate().map_err(ApiError::unprocessable)?;
    if let Some(retention) = &body.retention {
        retention.validate().map_err(ApiError::unprocessable)?;
    }
    let upsert = ctx
        .db
        .prepare(
            "INSERT INTO model_policies (org, model, promotion, retention, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (org, model) DO UPDATE SET promotion = excluded.promotion, retention = excluded.retention, updated_at = excluded.updated_at",
        )
        .bind(&[
            db::text(ctx.org()?),
            db::text(model),
            db::text(&serde_json::to_string(&body.promotion)?),
            body.retention
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?
                .map_or(wasm_bindgen::JsValue::NULL, |s| db::text(&s)),
            db::int(ctx.now),
        ])?;
    let event = Event::by_caller(
        ctx,
        "policy.set",
        format!("models/{model}/policy"),
        serde_json::to_value(&body)?,
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    audit::commit(ctx, event, vec![upsert]).await?;
    Ok(http::json(&body, 200)?)
}

/// Retention's facts about every version of a model.
async fn retention_candidates(ctx: &Ctx, model: &str) -> ApiResult<Vec<RetentionCandidate>> {
    #[derive(serde::Deserialize)]
    struct Row {
        version: String,
        created_at: f64,
        metrics: String,
    }
    let rows = db::all::<Row>(
        &ctx.db
            .prepare(
                "SELECT version, created_at, metrics FROM versions WHERE org = ?1 AND model = ?2",
            )
            .bind(&[db::text(ctx.org()?), db::text(model)])?,
    )
    .await?;
    let current = current_states(ctx, model).await?;
    let history = history_of(ctx, model, None).await?;
    rows.into_iter()
        .map(|row| {
            let deployed_now = current
                .values()
                .any(|s| s.versions().any(|v| v == row.version));
            let last_deployed_at = history
                .iter()
                .filter(|d| {
                    d.from
                        .versions()
                        .chain(d.to.versions())
                        .any(|v| v == row.version)
                })
                .map(|d| d.at)
                .max();
            Ok(RetentionCandidate {
                version: parse_version(&row.version).map_err(ApiError::internal)?,
                created_at: as_i64(row.created_at),
                metrics: serde_json::from_str(&row.metrics)?,
                deployed_now,
                last_deployed_at,
            })
        })
        .collect()
}

/// Plans (and unless `dry_run`, applies) a model's retention policy.
pub async fn run_retention(ctx: &Ctx, model: &str, dry_run: bool) -> ApiResult<RetentionReport> {
    let Some(policy): Option<RetentionPolicy> = policies(ctx, model).await?.retention else {
        return Err(ApiError::unprocessable(format!(
            "model `{model}` has no retention policy; set one first (PUT …/models/{model}/policy)"
        )));
    };
    let drops = plan_retention(&policy, &retention_candidates(ctx, model).await?, ctx.now);
    if !dry_run {
        for drop in &drops {
            let reason = format!("retention: {}", drop.reasons.join("; "));
            delete_version(ctx, model, &drop.version, &[], &reason, "retention.delete").await?;
        }
    }
    Ok(RetentionReport {
        model: model.to_owned(),
        dry_run,
        drops,
    })
}

/// `GET …/models/{model}/retention` (plan) and `POST …/retention` (apply).
pub async fn retention(ctx: &Ctx, matched: &Matched, dry_run: bool) -> ApiResult<Response> {
    let model = matched.param("model");
    models::load(ctx, model).await?;
    Ok(http::json(&run_retention(ctx, model, dry_run).await?, 200)?)
}
