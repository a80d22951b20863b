//! Deleting versions: one by hand (refused while a stage uses it unless an
//! admin forces it with a reason, which clears those stages), or many by a
//! model's retention policy (plan = apply; the cron applies it as itself).
//! A version's artifact goes with its last version.

use std::collections::BTreeMap;

use outpost_core::api::{Deleted, RetentionReport};
use outpost_core::lifecycle::{
    Deployment, Move, RetentionCandidate, Stage, StageState, plan_deletion, plan_retention, replay,
};
use outpost_core::version::parse_version;
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Blobs, Change, Clock, Commit, CommitError, Deployments, Models, Policies,
    VersionDetails,
};
use crate::stages::require_model;

/// Every port deletion and retention use.
pub trait DeletionPorts:
    Models + Deployments + VersionDetails + Policies + Blobs + Clock + Commit
{
}

impl<T> DeletionPorts for T where
    T: Models + Deployments + VersionDetails + Policies + Blobs + Clock + Commit
{
}

/// Every stage's current state, from the newest entries of the history
/// (stages that are empty now are left out).
pub async fn current_states(
    ports: &impl Deployments,
    org: &str,
    model: &str,
) -> Result<BTreeMap<Stage, StageState>, RegistryError> {
    let heads = ports.stage_heads(org, model).await?;
    Ok(replay(&heads)
        .into_iter()
        .filter(|(_, state)| !state.is_empty())
        .map(|((_, stage), state)| (stage, state))
        .collect())
}

/// One version to delete, the stages it clears, why, and the audit action
/// (`version.delete` or `retention.delete`).
struct Deletion<'a> {
    version: &'a str,
    cleared: &'a [Stage],
    reason: &'a str,
    action: &'a str,
}

/// Deletes one version `plan_deletion` allowed, clearing `cleared` stages
/// with history entries, in one commit with its audit entry; then removes
/// the artifact's object if no other version used it.
async fn delete_one(
    ports: &impl DeletionPorts,
    org: &str,
    actor: &Actor,
    model: &str,
    deletion: Deletion<'_>,
) -> Result<Deleted, RegistryError> {
    let Deletion {
        version,
        cleared,
        reason,
        action,
    } = deletion;
    let (digest, others) = ports
        .deletion_facts(org, model, version)
        .await?
        .ok_or_else(|| RegistryError::VersionNotFound {
            model: model.to_owned(),
            version: version.to_owned(),
        })?;
    let mut changes = Vec::new();
    for stage in cleared {
        let head = ports.stage_head_entry(org, model, *stage).await?;
        let from = head.as_ref().map(|h| h.to.clone()).unwrap_or_default();
        changes.push(Change::Deployment(Deployment {
            model: model.to_owned(),
            stage: *stage,
            seq: head.as_ref().map_or(1, |h| h.seq + 1),
            kind: Move::Cleared,
            to: from.without_version(version),
            from,
            actor: actor.history_name().to_owned(),
            reason: format!("{version} deleted: {reason}"),
            at: ports.now_ms(),
            forced: vec!["deletion".into()],
        }));
    }
    changes.push(Change::DeleteVersion {
        model: model.to_owned(),
        version: version.to_owned(),
    });
    let blob_removed = others == 0;
    if blob_removed {
        changes.push(Change::DeleteBlob { digest });
    }
    let event = AuditEvent {
        actor: actor.clone(),
        action: action.to_owned(),
        target: format!("models/{model}/versions/{version}"),
        details: json!({"reason": reason, "cleared": cleared, "blob_removed": blob_removed}),
    };
    match ports.commit(org, changes, event).await {
        Ok(()) => {}
        Err(CommitError::Conflict(_)) => return Err(RegistryError::StageMovedWhileDeleting),
        Err(CommitError::Store(err)) => return Err(err.into()),
    }
    if blob_removed {
        // The rows are gone; an object left behind is unreachable.
        let _ = ports.delete_object(org, &digest).await;
    }
    Ok(Deleted {
        model: model.to_owned(),
        version: version.to_owned(),
        cleared: cleared.to_vec(),
        blob_removed,
    })
}

/// `DELETE …/versions/{version}?force=&reason=`: refused while a stage uses
/// the version; an admin's `force` with a reason clears non-production
/// stages first (`outpost_core::lifecycle::plan_deletion` decides).
///
/// Errors: `ModelNotFound`, `DeletionRefused` (409), `VersionNotFound`,
/// `StageMovedWhileDeleting` (409), `Store`.
pub async fn delete_version(
    ports: &impl DeletionPorts,
    org: &str,
    actor: &Actor,
    model: &str,
    version: &str,
    force: bool,
    reason: &str,
) -> Result<Deleted, RegistryError> {
    require_model(ports, org, model).await?;
    let current = current_states(ports, org, model).await?;
    // Deleting is an admin's (the route says so); force only clears stages.
    let cleared =
        plan_deletion(version, &current, force, reason).map_err(RegistryError::DeletionRefused)?;
    let deletion = Deletion {
        version,
        cleared: &cleared,
        reason,
        action: "version.delete",
    };
    delete_one(ports, org, actor, model, deletion).await
}

/// Retention's facts about every version of a model.
async fn candidates(
    ports: &impl DeletionPorts,
    org: &str,
    model: &str,
) -> Result<Vec<RetentionCandidate>, RegistryError> {
    let current = current_states(ports, org, model).await?;
    let history = ports.model_history(org, model).await?;
    ports
        .version_ages(org, model)
        .await?
        .into_iter()
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
                version: parse_version(&row.version).map_err(StoreError::new)?,
                created_at: row.created_at,
                metrics: row.metrics,
                deployed_now,
                last_deployed_at,
            })
        })
        .collect()
}

/// Plans (and unless `dry_run`, applies) a model's retention policy: what
/// the plan lists is exactly what applying deletes.
///
/// Errors: `ModelNotFound`, `NoRetentionPolicy` (422), `Store`, and those of
/// deleting each version.
pub async fn retention(
    ports: &impl DeletionPorts,
    org: &str,
    actor: &Actor,
    model: &str,
    dry_run: bool,
) -> Result<RetentionReport, RegistryError> {
    require_model(ports, org, model).await?;
    let Some(policy) = ports.model_policies(org, model).await?.retention else {
        return Err(RegistryError::NoRetentionPolicy {
            model: model.to_owned(),
        });
    };
    let drops = plan_retention(
        &policy,
        &candidates(ports, org, model).await?,
        ports.now_ms(),
    );
    if !dry_run {
        for drop in &drops {
            let reason = format!("retention: {}", drop.reasons.join("; "));
            delete_one(
                ports,
                org,
                actor,
                model,
                Deletion {
                    version: &drop.version,
                    cleared: &[],
                    reason: &reason,
                    action: "retention.delete",
                },
            )
            .await?;
        }
    }
    Ok(RetentionReport {
        model: model.to_owned(),
        dry_run,
        drops,
    })
}
