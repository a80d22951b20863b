//! Device routing: which version (and shadow) a device runs at a stage. One
//! path for resolve and predict — the stage's [`ResolutionPlan`], the
//! bucket, the missing-version answer — so predict serves exactly what
//! resolve signs.
//!
//! Devices asking are most of the traffic, so routing reads nothing on its
//! common path (DESIGN "Scale"): what it needs of a stage is a plan, drawn
//! from storage once and kept by the shell for at most
//! [`PLAN_LIFETIME_MS`] ([`ResolutionPlans`]).

use std::collections::BTreeMap;
use std::rc::Rc;

use outpost_core::lifecycle::Stage;
use outpost_core::routing::{Assignment, BUCKETS, RolloutPolicy, bucket_for};
use outpost_core::trust::target_path;

use crate::error::RegistryError;
use crate::ports::{Clock, Keys, Models, Stages, VersionArtifact, Versions};

/// What a device asks: a model at a stage, as itself (sticky bucket) or
/// anonymously (a random bucket per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceQuestion<'a> {
    pub org: &'a str,
    pub model: &'a str,
    pub stage: Stage,
    pub device: Option<&'a str>,
}

/// Where a device was routed, with the rows of what it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub assignment: Assignment,
    pub primary: VersionArtifact,
    /// The shadow's row, when the stage has a shadow for this device.
    pub shadow: Option<VersionArtifact>,
}

/// How long a shell may route from a plan it drew (ms): the most a
/// promotion, rollback or release committed elsewhere takes to reach the
/// answers of an isolate that holds an older plan. Changes an isolate
/// commits itself reach its own plans at once (the shell forgets them).
pub const PLAN_LIFETIME_MS: i64 = 5_000;

/// One version a stage routes to, as its row and the release say.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedVersion {
    pub artifact: VersionArtifact,
    /// Its path in release metadata (`model/version`).
    pub target: String,
    /// Whether the current release names `target` with exactly this digest
    /// and length.
    pub released: bool,
}

/// Everything routing needs of one model at one stage, drawn once per
/// stage move or release rather than per request: the rollout, the row and
/// release status of each version it routes to (the release metadata is
/// parsed here, not per request), and the time of the newest change the
/// plan reflects.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolutionPlan {
    /// No such model in the organisation.
    UnknownModel,
    /// The model exists; nothing was ever deployed to the stage, or it was
    /// cleared.
    NothingDeployed,
    Deployed {
        rollout: RolloutPolicy,
        /// The versions `rollout` names (targets and shadow) that have a
        /// row; one that is absent has vanished.
        versions: BTreeMap<String, PlannedVersion>,
        /// ms since the epoch: the stage's last move or the organisation's
        /// last release, whichever is later.
        changed_at: i64,
    },
}

/// Plans a shell keeps between requests (per isolate in the Worker). The
/// shell keeps one for at most [`PLAN_LIFETIME_MS`] and forgets an
/// organisation's plans when it commits a change there.
pub trait ResolutionPlans {
    /// A plan kept for (org, model, stage), drawn no more than
    /// [`PLAN_LIFETIME_MS`] before `now_ms`.
    fn kept_plan(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        now_ms: i64,
    ) -> Option<Rc<ResolutionPlan>>;
    /// Keeps a plan drawn at `now_ms`.
    fn keep_plan(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        plan: Rc<ResolutionPlan>,
        now_ms: i64,
    );
}

/// Draws a stage's plan from storage: the stage head with the release (one
/// read), the rows of the versions it routes to (one read) and, only when
/// nothing is deployed, whether the model exists (to tell an unknown model
/// from an empty stage).
///
/// Errors: `Store`.
pub async fn draw_plan(
    ports: &(impl Models + Stages + Versions),
    org: &str,
    model: &str,
    stage: Stage,
) -> Result<ResolutionPlan, RegistryError> {
    let head = ports.stage_head(org, model, stage, true).await?;
    let Some(rollout) = head.state.as_ref().and_then(RolloutPolicy::from_state) else {
        return Ok(if ports.model_exists(org, model).await? {
            ResolutionPlan::NothingDeployed
        } else {
            ResolutionPlan::UnknownModel
        });
    };
    let names: Vec<&str> = rollout.versions().collect();
    let versions = ports
        .version_artifacts(org, model, &names)
        .await?
        .into_iter()
        .map(|artifact| {
            let target = target_path(model, &artifact.version);
            let released = head
                .release
                .as_ref()
                .is_some_and(|r| r.names(&target, &artifact.digest, artifact.length));
            (
                artifact.version.clone(),
                PlannedVersion {
                    artifact,
                    target,
                    released,
                },
            )
        })
        .collect();
    Ok(ResolutionPlan::Deployed {
        rollout,
        versions,
        changed_at: head.changed_at,
    })
}

/// The stage's plan: the one kept if still fresh, else drawn and kept.
///
/// Errors: `Store`.
pub async fn plan(
    ports: &(impl Models + Stages + Versions + Clock + ResolutionPlans),
    org: &str,
    model: &str,
    stage: Stage,
) -> Result<Rc<ResolutionPlan>, RegistryError> {
    let now = ports.now_ms();
    if let Some(plan) = ports.kept_plan(org, model, stage, now) {
        return Ok(plan);
    }
    let plan = Rc::new(draw_plan(ports, org, model, stage).await?);
    ports.keep_plan(org, model, stage, plan.clone(), now);
    Ok(plan)
}

/// A device routed on a plan: its assignment, what it runs and its shadow
/// (borrowed from the plan; the shadow's row, or the refusal if it has
/// vanished, left to the caller to check in its own order), and the plan's
/// change time.
pub(crate) struct RoutedOnPlan<'p> {
    pub assignment: Assignment,
    pub primary: &'p PlannedVersion,
    pub shadow: Option<Result<&'p PlannedVersion, RegistryError>>,
    pub changed_at: i64,
}

/// Routes a device on a stage's plan: the bucket (sticky by device id,
/// random without one), the rollout's assignment, and the planned rows of
/// the primary then the shadow.
///
/// Errors: `ModelNotFound`, `NothingDeployed` (404), `VersionVanished`
/// (409), `Store` (no salt or randomness).
pub(crate) fn route_on<'p>(
    ports: &(impl Keys + Clock),
    plan: &'p ResolutionPlan,
    asked: &DeviceQuestion<'_>,
) -> Result<RoutedOnPlan<'p>, RegistryError> {
    let (rollout, versions, changed_at) = match plan {
        ResolutionPlan::UnknownModel => {
            return Err(RegistryError::ModelNotFound {
                org: asked.org.to_owned(),
                model: asked.model.to_owned(),
            });
        }
        ResolutionPlan::NothingDeployed => {
            return Err(RegistryError::NothingDeployed {
                model: asked.model.to_owned(),
                stage: asked.stage,
            });
        }
        ResolutionPlan::Deployed {
            rollout,
            versions,
            changed_at,
        } => (rollout, versions, *changed_at),
    };
    let bucket = match asked.device {
        Some(device) => bucket_for(
            ports.routing_salt()?.as_bytes(),
            asked.org,
            asked.model,
            device,
        ),
        None => ports.random_u32()? % BUCKETS,
    };
    let assignment = rollout.route(bucket);
    let row = |version: &str| {
        versions
            .get(version)
            .ok_or_else(|| RegistryError::VersionVanished {
                model: asked.model.to_owned(),
                stage: asked.stage,
                version: version.to_owned(),
            })
    };
    let primary = row(&assignment.version)?;
    let shadow = assignment.shadow.as_deref().map(row);
    Ok(RoutedOnPlan {
        assignment,
        primary,
        shadow,
        changed_at,
    })
}

/// Routes a device (predict's use of routing: the release is not needed,
/// since the Worker runs the model itself and re-verifies its digest).
///
/// Errors: `ModelNotFound`, `NothingDeployed` (404), `VersionVanished`
/// (409), `Store`.
pub async fn route_device(
    ports: &(impl Models + Stages + Versions + Keys + Clock + ResolutionPlans),
    asked: &DeviceQuestion<'_>,
) -> Result<Routed, RegistryError> {
    let plan = plan(ports, asked.org, asked.model, asked.stage).await?;
    let routed = route_on(ports, &plan, asked)?;
    let shadow = routed.shadow.transpose()?;
    Ok(Routed {
        primary: routed.primary.artifact.clone(),
        shadow: shadow.map(|s| s.artifact.clone()),
        assignment: routed.assignment,
    })
}
