//! Stages: what runs where (list, one stage, rollout, history) and the
//! moves (promote, rollout, clear, rollback), over the use cases in
//! `outpost_registry::stages`; the read-only views read `store::lifecycle`.

use std::collections::BTreeMap;

use outpost_core::api::{
    Page, PromoteRequest, RollbackRequest, RolloutRequest, RolloutView, StageOutcome, StageView,
    StagesView,
};
use outpost_core::lifecycle::{Deployment, Stage, StageState};
use outpost_core::routing::RolloutPolicy;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store};
use outpost_registry::deletion;
use outpost_registry::stages::{self, Moved};

/// The whole history of one model (optionally one stage), oldest first.
async fn history_of(ctx: &Ctx, model: &str, stage: Option<Stage>) -> ApiResult<Vec<Deployment>> {
    Ok(store::lifecycle::history(ctx, ctx.org()?, model, stage).await?)
}

/// The newest entry of one stage, if it ever moved.
async fn head_of(ctx: &Ctx, model: &str, stage: Stage) -> ApiResult<Option<Deployment>> {
    Ok(store::lifecycle::head(ctx, ctx.org()?, model, stage).await?)
}

/// Every stage's current state.
async fn current_states(ctx: &Ctx, model: &str) -> ApiResult<BTreeMap<Stage, StageState>> {
    Ok(deletion::current_states(&D1Store::new(ctx), ctx.org()?, model).await?)
}

fn stage_param(matched: &Matched) -> ApiResult<Stage> {
    matched.param("stage").parse().map_err(ApiError::not_found)
}

/// A stage move's answer: 201 with the new history entry, or 200
/// `changed: false` when the stage already was there.
fn moved(model: &str, stage: Stage, location: &str, moved: Moved) -> ApiResult<Response> {
    match moved {
        Moved::Entry(entry) => Ok(http::created(&entry, location)?),
        Moved::Unchanged(state) => Ok(http::json(
            &StageOutcome {
                model: model.to_owned(),
                stage,
                state,
                changed: false,
            },
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
    crate::lookup::model(ctx, model).await?;
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
    let reason = http::query(req, &["reason"])?
        .into_iter()
        .next()
        .map(|(_, reason)| reason)
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
        &StageOutcome {
            model: model.to_owned(),
            stage,
            state,
            changed: entry.is_some(),
        },
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
pub async fn list_stages(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    crate::lookup::model(ctx, model).await?;
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
pub async fn get_stage(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    crate::lookup::model(ctx, model).await?;
    let head = head_of(ctx, model, stage).await?;
    let state = head.map(|h| h.to).unwrap_or_default();
    let Some(version) = state.primary() else {
        return Err(ApiError::not_found(format!(
            "nothing is deployed to {model}@{stage}"
        )));
    };
    Ok(http::json(
        &StageView {
            model: model.to_owned(),
            stage,
            version: version.to_owned(),
            state: state.clone(),
        },
        200,
    )?)
}

/// `GET /v1/orgs/{org}/models/{model}/history?stage=&limit=&cursor=`, newest first.
pub async fn history(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    crate::lookup::model(ctx, model).await?;
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
