//! Moving stages: promote (through the gates), set and clear a rollout,
//! roll back. Every move appends one entry to the stage's history, clears
//! the guardrails of the rollout it ends, announces itself to webhooks and
//! commits with its audit entry, all at once; when another move of the same
//! stage took the next sequence number first, the move re-reads and
//! decides again.

use outpost_core::api::{ModelPolicies, PromoteRequest, RollbackRequest, RolloutRequest};
use outpost_core::auth::Role;
use outpost_core::lifecycle::{
    Deployment, GateInputs, Move, Stage, StageState, all_forceable, evaluate_gates, rollback_target,
};
use outpost_core::routing::RolloutPolicy;
use outpost_core::trust::{Targets, target_path};
use outpost_core::version::ArtifactFormat;
use serde_json::{Map, Value, json};

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Blobs, Change, Clock, Commit, CommitError, Deployments, Models, Policies,
    Rehashed, Runtime, TrustFiles, TrustRole, VersionDetails, Versions,
};

/// How often a move re-reads and decides again after losing a race.
const MOVE_ATTEMPTS: usize = 16;

/// Which stage moves, how, who, and why.
#[derive(Debug, Clone)]
pub struct StageMove<'a> {
    pub org: &'a str,
    pub model: &'a str,
    pub stage: Stage,
    pub kind: Move,
    pub actor: &'a Actor,
    pub reason: &'a str,
    /// The gates an admin's force overrode.
    pub forced: &'a [String],
}

/// What a move carries besides its history entry: changes committed in the
/// same transaction (after the stage's guardrails are cleared), details for
/// its audit entry, and further webhook events.
#[derive(Debug, Clone, Default)]
pub struct MoveExtras {
    pub changes: Vec<Change>,
    pub details: Map<String, Value>,
    pub events: Vec<(&'static str, Value)>,
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

/// Appends one entry to a stage's history. `decide` computes the new state
/// from the current one (`None`: no change, nothing is written). Returns
/// the entry written, if any.
///
/// Errors: whatever `decide` refuses with, `StageKeptMoving` (409) after
/// [`MOVE_ATTEMPTS`] lost races, `Store`.
pub async fn append_move(
    ports: &(impl Deployments + Clock + Commit),
    m: &StageMove<'_>,
    decide: &dyn Fn(&StageState) -> Result<Option<StageState>, RegistryError>,
    extras: MoveExtras,
) -> Result<Option<Deployment>, RegistryError> {
    for _ in 0..MOVE_ATTEMPTS {
        let head = ports.stage_head_entry(m.org, m.model, m.stage).await?;
        let from = head.as_ref().map(|h| h.to.clone()).unwrap_or_default();
        let Some(to) = decide(&from)? else {
            return Ok(None);
        };
        let entry = Deployment {
            model: m.model.to_owned(),
            stage: m.stage,
            seq: head.as_ref().map_or(1, |h| h.seq + 1),
            kind: m.kind,
            from,
            to,
            actor: m.actor.history_name().to_owned(),
            reason: m.reason.to_owned(),
            // Strictly after the entry it follows, whatever this request's
            // clock says (a slow request may commit after a later one):
            // resolution numbers are ordered by this time.
            at: ports
                .now_ms()
                .max(head.as_ref().map_or(i64::MIN, |h| h.at.saturating_add(1))),
            forced: m.forced.to_vec(),
        };
        let mut changes = vec![
            Change::Deployment(entry.clone()),
            Change::ClearGuardrails {
                model: m.model.to_owned(),
                stage: m.stage,
            },
        ];
        changes.extend(extras.changes.iter().cloned());
        if let Some(event) = move_event(m.kind) {
            changes.push(Change::Webhook {
                event,
                data: json!({
                    "model": m.model, "stage": m.stage, "seq": entry.seq, "from": entry.from,
                    "to": entry.to, "actor": entry.actor, "reason": m.reason,
                }),
            });
        }
        for (event, data) in &extras.events {
            changes.push(Change::Webhook {
                event,
                data: data.clone(),
            });
        }
        let mut details = json!({"from": entry.from, "to": entry.to, "reason": m.reason,
                                 "forced": m.forced, "seq": entry.seq});
        if let Some(map) = details.as_object_mut() {
            map.extend(extras.details.clone());
        }
        let event = AuditEvent {
            actor: m.actor.clone(),
            action: format!("stage.{}", m.kind.as_str()),
            target: format!("models/{}/stages/{}", m.model, m.stage),
            details,
        };
        match ports.commit(m.org, changes, event).await {
            Ok(()) => return Ok(Some(entry)),
            Err(CommitError::Conflict(_)) => continue,
            Err(CommitError::Store(err)) => return Err(err.into()),
        }
    }
    Err(RegistryError::StageKeptMoving {
        model: m.model.to_owned(),
        stage: m.stage,
    })
}

/// Force is an admin's, and always carries a reason.
fn check_force(actor: &Actor, force: bool, reason: &str) -> Result<(), RegistryError> {
    if force && !actor.role().allows(Role::Admin) {
        return Err(RegistryError::ForceNeedsAdmin);
    }
    if force && reason.trim().is_empty() {
        return Err(RegistryError::ForceNeedsReason);
    }
    Ok(())
}

/// `ModelNotFound` unless the model exists.
pub(crate) async fn require_model(
    ports: &impl Models,
    org: &str,
    model: &str,
) -> Result<(), RegistryError> {
    if ports.model_exists(org, model).await? {
        Ok(())
    } else {
        Err(RegistryError::ModelNotFound {
            org: org.to_owned(),
            model: model.to_owned(),
        })
    }
}

/// Gathers the facts of every promotion gate for `version` entering
/// `stage` and asks the core; returns the gates an admin's force overrode.
///
/// Errors: `VersionNotFound` (404), `GatesFailed` (422), `Store`.
pub async fn pass_gates(
    ports: &(impl VersionDetails + Policies + Blobs + Runtime + Deployments + TrustFiles),
    org: &str,
    model: &str,
    stage: Stage,
    version: &str,
    force: bool,
) -> Result<Vec<String>, RegistryError> {
    let facts = ports
        .gate_facts(org, model, version)
        .await?
        .ok_or_else(|| RegistryError::VersionNotFound {
            model: model.to_owned(),
            version: version.to_owned(),
        })?;
    let policy = ports.model_policies(org, model).await?.promotion;
    let rehashed = ports.rehash(org, &facts.digest).await?;
    let loadable = match (facts.format.parse::<ArtifactFormat>(), &rehashed) {
        (
            Ok(ArtifactFormat::Onnx),
            Some(Rehashed {
                matches: true,
                bytes: Some(bytes),
            }),
        ) => Some(ports.check_loadable(bytes).await?),
        _ => None,
    };
    let released = match ports.latest_trust_file(org, TrustRole::Targets).await? {
        Some((_, envelope)) => serde_json::from_value::<Targets>(envelope.signed)
            .map_err(StoreError::new)?
            .names(&target_path(model, version), &facts.digest, facts.length),
        None => false,
    };
    let inputs = GateInputs {
        stage,
        version,
        artifact_present: rehashed.is_some(),
        digest_verified: rehashed.as_ref().map(|r| r.matches),
        status_unsafe: (facts.status == "unsafe")
            .then(|| facts.status_reason.as_deref().unwrap_or("unsafe")),
        loadable,
        metrics: &facts.metrics,
        policy: &policy,
        was_in_staging: ports.was_in_staging(org, model, version).await?,
        released,
    };
    let failures = evaluate_gates(&inputs);
    if failures.is_empty() {
        Ok(Vec::new())
    } else if force && all_forceable(&failures) {
        Ok(failures.iter().map(|f| f.gate.clone()).collect())
    } else {
        Err(RegistryError::GatesFailed {
            model: model.to_owned(),
            version: version.to_owned(),
            stage,
            forceable: all_forceable(&failures),
            failures,
        })
    }
}

/// The result of a move that may find its stage already there.
#[derive(Debug, Clone, PartialEq)]
pub enum Moved {
    /// The new history entry.
    Entry(Deployment),
    /// The stage already was in this state; nothing was written.
    Unchanged(StageState),
}

/// Moves a stage to `target`; a move that sets something of its own
/// (guardrails) is recorded even when the split stays the same.
async fn move_to(
    ports: &(impl Deployments + Clock + Commit),
    m: &StageMove<'_>,
    target: StageState,
    extras: MoveExtras,
) -> Result<Moved, RegistryError> {
    let always = !extras.changes.is_empty();
    let decide = |from: &StageState| Ok((always || *from != target).then(|| target.clone()));
    Ok(match append_move(ports, m, &decide, extras).await? {
        Some(entry) => Moved::Entry(entry),
        None => Moved::Unchanged(target),
    })
}

/// Every port the stage moves use.
pub trait StagePorts:
    Models
    + Deployments
    + VersionDetails
    + Versions
    + Policies
    + Blobs
    + Runtime
    + TrustFiles
    + Clock
    + Commit
{
}

impl<T> StagePorts for T where
    T: Models
        + Deployments
        + VersionDetails
        + Versions
        + Policies
        + Blobs
        + Runtime
        + TrustFiles
        + Clock
        + Commit
{
}

/// `POST …/stages/{stage}/promote`: one version, through every gate.
///
/// Errors: `ModelNotFound`, `ForceNeedsAdmin` (403), `ForceNeedsReason`,
/// `VersionNotFound`, `GatesFailed`, `StageKeptMoving`, `Store`.
pub async fn promote(
    ports: &impl StagePorts,
    org: &str,
    actor: &Actor,
    model: &str,
    stage: Stage,
    request: &PromoteRequest,
) -> Result<Moved, RegistryError> {
    require_model(ports, org, model).await?;
    check_force(actor, request.force, &request.reason)?;
    let forced = pass_gates(ports, org, model, stage, &request.version, request.force).await?;
    let m = StageMove {
        org,
        model,
        stage,
        kind: Move::Promote,
        actor,
        reason: &request.reason,
        forced: &forced,
    };
    move_to(
        ports,
        &m,
        StageState::single(&request.version),
        MoveExtras::default(),
    )
    .await
}

/// `PUT …/stages/{stage}/rollout`: canary, A/B variants and shadow, with
/// optional guardrails on the canary. Every version newly entering the
/// stage passes the same gates as a promotion to it.
///
/// Errors: `ModelNotFound`, `ForceNeedsAdmin`, `ForceNeedsReason`,
/// `NoStableVersion`, `InvalidRollout`, `InvalidGuardrails`,
/// `GuardrailsWithoutCanary`, `VersionNotFound`, `GatesFailed`,
/// `StageKeptMoving`, `Store`.
pub async fn set_rollout(
    ports: &impl StagePorts,
    org: &str,
    actor: &Actor,
    model: &str,
    stage: Stage,
    request: &RolloutRequest,
) -> Result<Moved, RegistryError> {
    require_model(ports, org, model).await?;
    check_force(actor, request.force, &request.reason)?;
    let current = ports
        .stage_head_entry(org, model, stage)
        .await?
        .map(|h| h.to)
        .unwrap_or_default();
    let stable = request
        .stable
        .clone()
        .or_else(|| current.primary().map(str::to_owned))
        .ok_or_else(|| RegistryError::NoStableVersion {
            model: model.to_owned(),
            stage,
        })?;
    let policy = RolloutPolicy {
        stable,
        canary: request.canary.clone(),
        variants: request.variants.clone(),
        shadow: request.shadow.clone(),
    };
    policy
        .validate()
        .map_err(|error| RegistryError::InvalidRollout {
            model: model.to_owned(),
            stage,
            error,
        })?;
    let mut extras = MoveExtras::default();
    if let Some(guardrails) = &request.guardrails {
        guardrails
            .validate()
            .map_err(RegistryError::InvalidGuardrails)?;
        let canary = policy
            .canary
            .as_ref()
            .ok_or(RegistryError::GuardrailsWithoutCanary)?;
        extras.changes.push(Change::SetGuardrails {
            model: model.to_owned(),
            stage,
            canary: canary.version.clone(),
            since: ports.now_ms(),
            policy: guardrails.clone(),
        });
        extras.details.insert(
            "guardrails".into(),
            serde_json::to_value(guardrails).map_err(StoreError::new)?,
        );
    }
    let mut forced: Vec<String> = Vec::new();
    for version in policy.entering(&current) {
        for gate in pass_gates(ports, org, model, stage, version, request.force).await? {
            if !forced.contains(&gate) {
                forced.push(gate);
            }
        }
    }
    let m = StageMove {
        org,
        model,
        stage,
        kind: Move::Rollout,
        actor,
        reason: &request.reason,
        forced: &forced,
    };
    move_to(ports, &m, policy.stage_state(), extras).await
}

/// `DELETE …/stages/{stage}/rollout`: back to the stable version alone.
/// Returns the entry (if the stage changed) and the stage's state after.
///
/// Errors: `ModelNotFound`, `NothingToClear` (409), `StageKeptMoving`,
/// `Store`.
pub async fn clear_rollout(
    ports: &impl StagePorts,
    org: &str,
    actor: &Actor,
    model: &str,
    stage: Stage,
    reason: &str,
) -> Result<(Option<Deployment>, StageState), RegistryError> {
    require_model(ports, org, model).await?;
    let decide = |from: &StageState| -> Result<Option<StageState>, RegistryError> {
        let stable = from
            .primary()
            .ok_or_else(|| RegistryError::NothingToClear {
                model: model.to_owned(),
                stage,
            })?;
        let target = StageState::single(stable);
        Ok((*from != target).then_some(target))
    };
    let m = StageMove {
        org,
        model,
        stage,
        kind: Move::Rollout,
        actor,
        reason,
        forced: &[],
    };
    let entry = append_move(ports, &m, &decide, MoveExtras::default()).await?;
    let state = ports
        .stage_head_entry(org, model, stage)
        .await?
        .map(|h| h.to)
        .unwrap_or_default();
    Ok((entry, state))
}

/// `POST …/stages/{stage}/rollback`: to the previous state, or to the state
/// that last ran a named version; every version it brings back must still
/// exist. A rollback is a new entry (history is never rewritten).
///
/// Errors: `ModelNotFound`, `NoRollbackTarget`, `RollbackToDeleted` (409),
/// `StageKeptMoving`, `Store`.
pub async fn rollback(
    ports: &impl StagePorts,
    org: &str,
    actor: &Actor,
    model: &str,
    stage: Stage,
    request: &RollbackRequest,
) -> Result<Deployment, RegistryError> {
    require_model(ports, org, model).await?;
    let history = ports.stage_history(org, model, stage).await?;
    let target = rollback_target(&history, request.version.as_deref()).map_err(|error| {
        RegistryError::NoRollbackTarget {
            model: model.to_owned(),
            stage,
            error,
        }
    })?;
    for version in target.versions() {
        if ports
            .version_artifacts(org, model, &[version])
            .await?
            .is_empty()
        {
            return Err(RegistryError::RollbackToDeleted {
                model: model.to_owned(),
                version: version.to_owned(),
                stage,
            });
        }
    }
    let reason = if request.reason.trim().is_empty() {
        "rollback".to_owned()
    } else {
        request.reason.clone()
    };
    let m = StageMove {
        org,
        model,
        stage,
        kind: Move::Rollback,
        actor,
        reason: &reason,
        forced: &[],
    };
    let decide = |_: &StageState| Ok(Some(target.clone()));
    append_move(ports, &m, &decide, MoveExtras::default())
        .await?
        .ok_or_else(|| StoreError::new("rollback made no entry").into())
}

/// `PUT …/models/{model}/policy`: the promotion and retention policies,
/// validated by the core, set with their audit entry.
///
/// Errors: `ModelNotFound`, `InvalidPolicy` (422), `Store`.
pub async fn set_policies(
    ports: &(impl Models + Commit),
    org: &str,
    actor: &Actor,
    model: &str,
    policies: ModelPolicies,
) -> Result<ModelPolicies, RegistryError> {
    require_model(ports, org, model).await?;
    policies
        .promotion
        .validate()
        .map_err(RegistryError::InvalidPolicy)?;
    if let Some(retention) = &policies.retention {
        retention.validate().map_err(RegistryError::InvalidPolicy)?;
    }
    let event = AuditEvent {
        actor: actor.clone(),
        action: "policy.set".into(),
        target: format!("models/{model}/policy"),
        details: serde_json::to_value(&policies).map_err(StoreError::new)?,
    };
    let change = Change::SetPolicies {
        model: model.to_owned(),
        policies: policies.clone(),
    };
    match ports.commit(org, vec![change], event).await {
        Ok(()) => Ok(policies),
        Err(CommitError::Conflict(what)) => Err(StoreError::new(format!("{what} conflict")).into()),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}
