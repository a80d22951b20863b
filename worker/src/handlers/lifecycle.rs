//! Stages, promotion with gates, rollback, history, deletion and retention.
//!
//! The decisions are `outpost_core::lifecycle`'s; this module gathers the
//! facts they need from D1 and R2 and appends to the deployment history.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use outpost_core::api::{
    Deleted, ModelPolicies, Page, PromoteRequest, RetentionReport, RollbackRequest, RolloutRequest,
    RolloutView, StagesView,
};
use outpost_core::auth::Role;
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::lifecycle::{
    Deployment, GateInputs, Move, RetentionCandidate, RetentionPolicy, Stage, StageState,
    all_forceable, evaluate_gates, plan_deletion, plan_retention, replay, rollback_target,
};
use outpost_core::routing::RolloutPolicy;
use outpost_core::version::{ArtifactFormat, parse_version};
use outpost_core::{Problem, ProblemKind};
use serde_json::json;
use worker::{D1PreparedStatement, Request, Response};

use crate::audit::{self, CommitError, Event};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::handlers::{blobs, models, webhooks};
use crate::http;
use crate::routes::Matched;

#[derive(serde::Deserialize)]
struct DeploymentRow {
    model: String,
    stage: String,
    seq: f64,
    kind: String,
    from_state: String,
    to_state: String,
    actor: String,
    reason: String,
    at: f64,
    forced: String,
}

impl DeploymentRow {
    fn deployment(self) -> ApiResult<Deployment> {
        let corrupt =
            |what: &str| ApiError::internal(format!("stored deployment {what} is corrupt"));
        Ok(Deployment {
            stage: self.stage.parse().map_err(|_| corrupt("stage"))?,
            kind: Move::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            from: serde_json::from_str(&self.from_state).map_err(|_| corrupt("from"))?,
            to: serde_json::from_str(&self.to_state).map_err(|_| corrupt("to"))?,
            forced: serde_json::from_str(&self.forced).map_err(|_| corrupt("forced"))?,
            model: self.model,
            seq: as_i64(self.seq),
            actor: self.actor,
            reason: self.reason,
            at: as_i64(self.at),
        })
    }
}

const DEPLOYMENT_COLUMNS: &str =
    "model, stage, seq, kind, from_state, to_state, actor, reason, at, forced";

/// The whole history of one model (optionally one stage), oldest first.
async fn history_of(ctx: &Ctx, model: &str, stage: Option<Stage>) -> ApiResult<Vec<Deployment>> {
    let org = ctx.org()?;
    let statement = match stage {
        Some(stage) => ctx
            .db
            .prepare(format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY seq"
            ))
            .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])?,
        None => ctx
            .db
            .prepare(format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE org = ?1 AND model = ?2 ORDER BY at, stage, seq"
            ))
            .bind(&[db::text(org), db::text(model)])?,
    };
    db::all::<DeploymentRow>(&statement)
        .await?
        .into_iter()
        .map(DeploymentRow::deployment)
        .collect()
}

/// The newest entry of one stage, if it ever moved.
pub(crate) async fn head_of(ctx: &Ctx, model: &str, stage: Stage) -> ApiResult<Option<Deployment>> {
    db::first::<DeploymentRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY seq DESC LIMIT 1"
            ))
            .bind(&[db::text(ctx.org()?), db::text(model), db::text(stage.as_str())])?,
    )
    .await?
    .map(DeploymentRow::deployment)
    .transpose()
}

/// Every stage's current state, from the newest entries of the history.
async fn current_states(ctx: &Ctx, model: &str) -> ApiResult<BTreeMap<Stage, StageState>> {
    let rows = db::all::<DeploymentRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE org = ?1 AND model = ?2
                   AND seq = (SELECT MAX(seq) FROM deployments e WHERE e.org = d.org AND e.model = d.model AND e.stage = d.stage)"
            ))
            .bind(&[db::text(ctx.org()?), db::text(model)])?,
    )
    .await?;
    let history = rows
        .into_iter()
        .map(DeploymentRow::deployment)
        .collect::<ApiResult<Vec<_>>>()?;
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

/// What a move carries besides its history entry: statements to commit in
/// the same batch (after the stage's guardrails are cleared: a move ends the
/// rollout they guarded), details for its audit entry, and further webhook
/// events as (type, data).
#[derive(Default)]
pub(crate) struct MoveExtras {
    pub statements: Vec<D1PreparedStatement>,
    pub details: serde_json::Map<String, serde_json::Value>,
    pub events: Vec<(&'static str, serde_json::Value)>,
}

/// The webhook event announcing a move, if it is one subscribers see.
fn move_event(kind: Move) -> Option<&'static str> {
    match kind {
        Move::Promote => Some("stage.promoted"),
        Move::Rollback => Some("stage.rolled_back"),
        Move::Rollout => Some("stage.rollout_changed"),
        Move::Cleared => None,
    }
}

/// Appends one entry to a stage's history (with its audit entry), retrying
/// when another move of the same stage got the next sequence number first.
/// `decide` computes the new state from the current one; `None` means "no
/// change".
async fn append_move(
    ctx: &Ctx,
    model: &str,
    stage: Stage,
    kind: Move,
    reason: &str,
    forced: &[String],
    decide: &dyn Fn(&StageState) -> ApiResult<Option<StageState>>,
) -> ApiResult<Option<Deployment>> {
    append_move_with(
        ctx,
        StageMove {
            model,
            stage,
            kind,
            reason,
            forced,
        },
        decide,
        MoveExtras::default(),
    )
    .await
}

pub(crate) async fn append_move_with(
    ctx: &Ctx,
    m: StageMove<'_>,
    decide: &dyn Fn(&StageState) -> ApiResult<Option<StageState>>,
    extras: MoveExtras,
) -> ApiResult<Option<Deployment>> {
    let StageMove {
        model,
        stage,
        kind,
        reason,
        forced,
    } = m;
    let org = ctx.org()?;
    let caller = ctx.caller()?;
    for _ in 0..16 {
        let head = head_of(ctx, model, stage).await?;
        let from = head.as_ref().map(|h| h.to.clone()).unwrap_or_default();
        let Some(to) = decide(&from)? else {
            return Ok(None);
        };
        let entry = Deployment {
            model: model.to_owned(),
            stage,
            seq: head.as_ref().map_or(1, |h| h.seq + 1),
            kind,
            from,
            to,
            actor: caller.token_name.clone(),
            reason: reason.to_owned(),
            at: ctx.now,
            forced: forced.to_vec(),
        };
        let mut statements = vec![
            insert_deployment(ctx, org, &entry)?,
            ctx.db
                .prepare("DELETE FROM guardrails WHERE org = ?1 AND model = ?2 AND stage = ?3")
                .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])?,
        ];
        statements.extend(extras.statements.iter().cloned());
        let announced = json!({
            "model": model, "stage": stage, "seq": entry.seq, "from": entry.from, "to": entry.to,
            "actor": entry.actor, "reason": reason,
        });
        if let Some(event) = move_event(kind) {
            statements.push(webhooks::enqueue(ctx, org, event, &announced)?);
        }
        for (event, data) in &extras.events {
            statements.push(webhooks::enqueue(ctx, org, event, data)?);
        }
        let mut details = json!({"from": entry.from, "to": entry.to, "reason": reason, "forced": forced, "seq": entry.seq});
        if let Some(map) = details.as_object_mut() {
            map.extend(extras.details.clone());
        }
        let event = Event::by_caller(
            ctx,
            &format!("stage.{}", kind.as_str()),
            format!("models/{model}/stages/{stage}"),
            details,
        )
        .ok_or_else(|| ApiError::internal("no caller"))?;
        match audit::commit(ctx, event, statements).await {
            Ok(_) => return Ok(Some(entry)),
            Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "deployments") => {
                continue;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::conflict(format!(
        "{model}@{stage} kept moving under this request; retry"
    )))
}

fn insert_deployment(ctx: &Ctx, org: &str, entry: &Deployment) -> ApiResult<D1PreparedStatement> {
    Ok(ctx
        .db
        .prepare(
            "INSERT INTO deployments (org, model, stage, seq, kind, from_state, to_state, actor, reason, at, forced)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(&[
            db::text(org),
            db::text(&entry.model),
            db::text(entry.stage.as_str()),
            db::int(entry.seq),
            db::text(entry.kind.as_str()),
            db::text(&serde_json::to_string(&entry.from)?),
            db::text(&serde_json::to_string(&entry.to)?),
            db::text(&entry.actor),
            db::text(&entry.reason),
            db::int(entry.at),
            db::text(&serde_json::to_string(&entry.forced)?),
        ])?)
}

#[derive(serde::Deserialize)]
struct GateRow {
    digest: String,
    size: f64,
    format: String,
    metrics: String,
    status: String,
    status_reason: Option<String>,
}

async fn policies(ctx: &Ctx, model: &str) -> ApiResult<ModelPolicies> {
    #[derive(serde::Deserialize)]
    struct Row {
        promotion: String,
        retention: Option<String>,
    }
    let row = db::first::<Row>(
        &ctx.db
            .prepare(
                "SELECT promotion, retention FROM model_policies WHERE org = ?1 AND model = ?2",
            )
            .bind(&[db::text(ctx.org()?), db::text(model)])?,
    )
    .await?;
    Ok(match row {
        None => ModelPolicies::default(),
        Some(row) => ModelPolicies {
            promotion: serde_json::from_str(&row.promotion)?,
            retention: row
                .retention
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
        },
    })
}

/// Re-reads the artifact from R2 and hashes it; `None` when it is missing.
/// Returns the bytes too when small enough to load for the runtime check.
pub async fn reverify(ctx: &Ctx, digest: &Digest) -> ApiResult<Option<(bool, Option<Vec<u8>>)>> {
    let key = blobs::object_key(ctx.org()?, digest);
    let Some(object) = ctx.bucket()?.get(&key).execute().await? else {
        return Ok(None);
    };
    let keep = object.size() <= crate::handlers::versions::MAX_INSPECTED_BYTES;
    let mut stream = object
        .body()
        .ok_or_else(|| ApiError::internal("R2 object without a body"))?
        .stream()?;
    let mut hasher = Sha256Hasher::new();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        if keep {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(Some((
        hasher.finish().digest == *digest,
        keep.then_some(bytes),
    )))
}

async fn was_in_staging(ctx: &Ctx, model: &str, version: &str) -> ApiResult<bool> {
    #[derive(serde::Deserialize)]
    struct Row {
        #[allow(dead_code)]
        hit: f64,
    }
    Ok(db::first::<Row>(
        &ctx.db
            .prepare(
                "SELECT 1 AS hit FROM deployments d, json_each(d.to_state, '$.targets') t
                 WHERE d.org = ?1 AND d.model = ?2 AND d.stage = 'staging'
                   AND json_extract(t.value, '$.version') = ?3 LIMIT 1",
            )
            .bind(&[db::text(ctx.org()?), db::text(model), db::text(version)])?,
    )
    .await?
    .is_some())
}

/// Runs every gate for `version` entering `stage`; returns the gates an
/// admin's force overrode, or the problem naming each failing gate.
async fn pass_gates(
    ctx: &Ctx,
    model: &str,
    stage: Stage,
    version: &str,
    force: bool,
) -> ApiResult<Vec<String>> {
    let org = ctx.org()?;
    let row = db::first::<GateRow>(
        &ctx.db
            .prepare(
                "SELECT digest, size, format, metrics, status, status_reason FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3",
            )
            .bind(&[db::text(org), db::text(model), db::text(version)])?,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no version `{version}` of model `{model}`")))?;
    let digest: Digest = row.digest.parse().map_err(ApiError::internal)?;
    let metrics: BTreeMap<String, f64> = serde_json::from_str(&row.metrics)?;
    let policy = policies(ctx, model).await?.promotion;
    let verified = reverify(ctx, &digest).await?;
    let loadable = match (row.format.parse::<ArtifactFormat>(), &verified) {
        (Ok(ArtifactFormat::Onnx), Some((true, Some(bytes)))) => {
            Some(outpost_infer::load::check_loadable(bytes).map_err(|e| e.to_string()))
        }
        _ => None,
    };
    let inputs = GateInputs {
        stage,
        version,
        artifact_present: verified.is_some(),
        digest_verified: verified.as_ref().map(|(ok, _)| *ok),
        status_unsafe: (row.status == "unsafe")
            .then(|| row.status_reason.as_deref().unwrap_or("unsafe")),
        loadable,
        metrics: &metrics,
        policy: &policy,
        was_in_staging: was_in_staging(ctx, model, version).await?,
        released: crate::handlers::trust::is_released(
            ctx,
            model,
            version,
            &digest,
            as_i64(row.size) as u64,
        )
        .await?,
    };
    let failures = evaluate_gates(&inputs);
    if failures.is_empty() {
        Ok(Vec::new())
    } else if force && all_forceable(&failures) {
        Ok(failures.iter().map(|f| f.gate.clone()).collect())
    } else {
        let detail = failures
            .iter()
            .map(|f| format!("{}: {}", f.gate, f.detail))
            .collect::<Vec<_>>()
            .join("; ");
        Err(ApiError::from(
            Problem::new(
                ProblemKind::UnprocessableContent,
                format!("{model}@{version} cannot go to {stage}: {detail}"),
            )
            .with_extension("failed_gates", &failures)
            .with_extension("forceable", all_forceable(&failures)),
        ))
    }
}

/// Force is an admin's, and always carries a reason.
fn check_force(ctx: &Ctx, force: bool, reason: &str) -> ApiResult<()> {
    if force && !ctx.caller()?.role.allows(Role::Admin) {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            "only an admin may force a promotion past its gates",
        ));
    }
    if force && reason.trim().is_empty() {
        return Err(ApiError::unprocessable("a forced promotion needs a reason"));
    }
    Ok(())
}

/// `POST /v1/orgs/{org}/models/{model}/stages/{stage}/promote`.
pub async fn promote(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: PromoteRequest = http::read_json(req).await?;
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    models::load(ctx, model).await?;
    let org = ctx.org()?;
    check_force(ctx, body.force, &body.reason)?;
    let forced = pass_gates(ctx, model, stage, &body.version, body.force).await?;

    let location = format!("/v1/orgs/{org}/models/{model}/stages/{stage}");
    let target = StageState::single(&body.version);
    let stage_move = StageMove {
        model,
        stage,
        kind: Move::Promote,
        reason: &body.reason,
        forced: &forced,
    };
    move_to(ctx, stage_move, target, &location, MoveExtras::default()).await
}

/// Who moves which stage, and why.
pub(crate) struct StageMove<'a> {
    pub model: &'a str,
    pub stage: Stage,
    pub kind: Move,
    pub reason: &'a str,
    pub forced: &'a [String],
}

/// Moves a stage to `target`: 201 with the new history entry, or 200
/// `changed: false` when it is there already.
async fn move_to(
    ctx: &Ctx,
    m: StageMove<'_>,
    target: StageState,
    location: &str,
    extras: MoveExtras,
) -> ApiResult<Response> {
    let (model, stage) = (m.model, m.stage);
    // A move that sets something of its own (guardrails) is recorded even
    // when the split stays the same.
    let always = !extras.statements.is_empty();
    let decide = |from: &StageState| Ok((always || *from != target).then(|| target.clone()));
    match append_move_with(ctx, m, &decide, extras).await? {
        Some(entry) => Ok(http::created(&entry, location)?),
        None => Ok(http::json(
            &json!({"model": model, "stage": stage, "state": target, "changed": false}),
            200,
        )?),
    }
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
/// variants and shadow of a stage. Every version that newly enters the stage
/// passes the same gates as a promotion to it.
pub async fn put_rollout(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: RolloutRequest = http::read_json(req).await?;
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    models::load(ctx, model).await?;
    check_force(ctx, body.force, &body.reason)?;
    let current = head_of(ctx, model, stage)
        .await?
        .map(|h| h.to)
        .unwrap_or_default();
    let stable = match body
        .stable
        .clone()
        .or_else(|| current.primary().map(str::to_owned))
    {
        Some(stable) => stable,
        None => {
            return Err(ApiError::conflict(format!(
                "nothing is deployed to {model}@{stage}: promote a stable version first, or name one with `stable`"
            )));
        }
    };
    let policy = RolloutPolicy {
        stable,
        canary: body.canary,
        variants: body.variants,
        shadow: body.shadow,
    };
    policy
        .validate()
        .map_err(|e| ApiError::unprocessable(format!("{model}@{stage}: {e}")))?;
    let mut extras = MoveExtras::default();
    if let Some(guardrails) = &body.guardrails {
        guardrails
            .validate()
            .map_err(|e| ApiError::unprocessable(format!("guardrails: {e}")))?;
        let canary = policy.canary.as_ref().ok_or_else(|| {
            ApiError::unprocessable(
                "guardrails watch a canary: give the rollout a `canary` arm, or leave guardrails out",
            )
        })?;
        extras.statements.push(
            ctx.db
                .prepare(
                    "INSERT INTO guardrails (org, model, stage, canary, since, policy) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .bind(&[
                    db::text(ctx.org()?),
                    db::text(model),
                    db::text(stage.as_str()),
                    db::text(&canary.version),
                    db::int(ctx.now),
                    db::text(&serde_json::to_string(guardrails)?),
                ])?,
        );
        extras
            .details
            .insert("guardrails".into(), serde_json::to_value(guardrails)?);
    }
    let mut forced: Vec<String> = Vec::new();
    for version in policy.entering(&current) {
        for gate in pass_gates(ctx, model, stage, version, body.force).await? {
            if !forced.contains(&gate) {
                forced.push(gate);
            }
        }
    }
    let location = format!(
        "/v1/orgs/{}/models/{model}/stages/{stage}/rollout",
        ctx.org()?
    );
    let stage_move = StageMove {
        model,
        stage,
        kind: Move::Rollout,
        reason: &body.reason,
        forced: &forced,
    };
    move_to(ctx, stage_move, policy.stage_state(), &location, extras).await
}

/// `DELETE /v1/orgs/{org}/models/{model}/stages/{stage}/rollout`: back to the
/// stable version alone (no canary, variants or shadow).
pub async fn clear_rollout(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    models::load(ctx, model).await?;
    let reason = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let decide = |from: &StageState| -> ApiResult<Option<StageState>> {
        let stable = from
            .primary()
            .ok_or_else(|| ApiError::conflict(format!("nothing is deployed to {model}@{stage}")))?;
        let target = StageState::single(stable);
        Ok((*from != target).then_some(target))
    };
    let entry = append_move(ctx, model, stage, Move::Rollout, &reason, &[], &decide).await?;
    let state = head_of(ctx, model, stage)
        .await?
        .map(|h| h.to)
        .unwrap_or_default();
    Ok(http::json(
        &json!({"model": model, "stage": stage, "state": state, "changed": entry.is_some()}),
        200,
    )?)
}

/// `POST /v1/orgs/{org}/models/{model}/stages/{stage}/rollback`.
pub async fn rollback(ctx: &Ctx, req: &mut Request, matched: &Matched) -> ApiResult<Response> {
    let body: RollbackRequest = http::read_json(req).await?;
    let model = matched.param("model");
    let stage = stage_param(matched)?;
    models::load(ctx, model).await?;
    let history = history_of(ctx, model, Some(stage)).await?;
    let target = rollback_target(&history, body.version.as_deref())
        .map_err(|e| ApiError::conflict(format!("{model}@{stage}: {e}")))?;
    for version in target.versions() {
        let exists = db::first::<serde_json::Value>(
            &ctx.db
                .prepare(
                    "SELECT version FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3",
                )
                .bind(&[db::text(ctx.org()?), db::text(model), db::text(version)])?,
        )
        .await?;
        if exists.is_none() {
            return Err(ApiError::conflict(format!(
                "{model}@{version} has been deleted, so {stage} cannot roll back to it"
            )));
        }
    }
    let reason = if body.reason.trim().is_empty() {
        "rollback".to_owned()
    } else {
        body.reason.clone()
    };
    let decide = |_: &StageState| Ok(Some(target.clone()));
    let entry = append_move(ctx, model, stage, Move::Rollback, &reason, &[], &decide)
        .await?
        .ok_or_else(|| ApiError::internal("rollback made no entry"))?;
    Ok(http::created(
        &entry,
        &format!("/v1/orgs/{}/models/{model}/stages/{stage}", ctx.org()?),
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
        statements.push(insert_deployment(ctx, org, &entry)?);
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
