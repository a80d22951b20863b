//! Resolution: the director-signed statement of which released artifact a
//! device runs (DESIGN "Trust model": a compromised Worker can only choose
//! among released artifacts, so every target named must be in the release).
//!
//! A resolve routes on the stage's kept plan ([`crate::routing::plan`]), so
//! on its common path it reads nothing, and it never writes: the answer's
//! number comes from the plan's change time and the clock
//! ([`outpost_core::trust::resolution_version`]), not from a counter.

use outpost_core::timefmt::format_utc;
use outpost_core::trust::{Envelope, Question, ReleasedTarget, Resolution, resolution_version};

use crate::error::{RegistryError, StoreError};
use crate::ports::{Clock, Keys, Models, Stages, Versions};
use crate::routing::{
    DeviceQuestion, PlannedVersion, ResolutionPlan, ResolutionPlans, plan, route_on,
};

/// Resolutions are short-lived: a device re-resolves, it does not cache.
pub const RESOLUTION_LIFETIME_MS: i64 = 3_600_000;

/// A routed version as devices see it: released with exactly its digest
/// and length, or refused.
fn released(
    asked: &DeviceQuestion<'_>,
    planned: &PlannedVersion,
) -> Result<ReleasedTarget, RegistryError> {
    if !planned.released {
        return Err(RegistryError::NotReleased {
            model: asked.model.to_owned(),
            version: planned.artifact.version.clone(),
            stage: asked.stage,
            target: planned.target.clone(),
        });
    }
    Ok(ReleasedTarget {
        version: planned.artifact.version.clone(),
        target: planned.target.clone(),
        digest: planned.artifact.digest,
        length: planned.artifact.length,
    })
}

/// Resolves a device: routes it as [`crate::routing::route_device`] does
/// (the same rollout, bucket and missing-version answer), checks that what
/// it runs (and its shadow) is released, and signs the answer with the
/// director key, numbered by [`resolution_version`] and valid for
/// [`RESOLUTION_LIFETIME_MS`]. Reads storage only when no fresh plan is
/// kept; writes nothing.
///
/// Errors: `ModelNotFound`, `NothingDeployed` (404), `VersionVanished`,
/// `NotReleased` (409), `Store` (a missing key included).
pub async fn resolve_device(
    ports: &(impl Models + Stages + Versions + Keys + Clock + ResolutionPlans),
    asked: &DeviceQuestion<'_>,
) -> Result<Envelope, RegistryError> {
    let plan = plan(ports, asked.org, asked.model, asked.stage).await?;
    // The order of refusals: an unknown model or empty stage (404), then a
    // deployment without its key (503), then the primary's row and release,
    // then the shadow's (409).
    let director = match plan.as_ref() {
        ResolutionPlan::Deployed { .. } => Some(ports.director()?),
        _ => None,
    };
    let routed = route_on(ports, &plan, asked)?;
    let chosen = released(asked, routed.primary)?;
    let shadow = routed
        .shadow
        .map(|planned| released(asked, planned?))
        .transpose()?;
    let assignment = routed.assignment;
    let director =
        director.ok_or_else(|| StoreError::new("routed on a plan with nothing deployed"))?;
    let now = ports.now_ms();
    let resolution = Resolution {
        kind: "outpost-resolution".into(),
        question: Question {
            org: asked.org.to_owned(),
            model: asked.model.to_owned(),
            stage: asked.stage.to_string(),
            device: asked.device.unwrap_or_default().to_owned(),
        },
        version: chosen.version,
        arm: assignment.arm,
        target: chosen.target,
        digest: chosen.digest,
        length: chosen.length,
        shadow,
        resolution_version: resolution_version(routed.changed_at, now),
        expires: format_utc(now + RESOLUTION_LIFETIME_MS),
    };
    let signed = resolution.to_signed();
    let signature = director.sign(&signed).map_err(StoreError::new)?;
    Ok(Envelope {
        signed,
        signatures: vec![signature],
    })
}
