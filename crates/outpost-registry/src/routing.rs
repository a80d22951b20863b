//! Device routing: which version (and shadow) a device runs at a stage. One
//! path for resolve and predict — stage head, rollout policy, bucket, version
//! rows, the missing-version answer — so predict serves exactly what resolve
//! signs.

use outpost_core::lifecycle::Stage;
use outpost_core::routing::{Assignment, BUCKETS, RolloutPolicy, bucket_for};
use outpost_core::trust::Targets;

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

/// The first half of routing: the stage head (with the release when the
/// caller needs it) and the device's assignment. Only when nothing is
/// deployed is the model looked up, to tell an unknown model from an empty
/// stage (a deployed stage implies the model exists).
pub(crate) async fn assign(
    ports: &(impl Models + Stages + Keys + Clock),
    asked: &DeviceQuestion<'_>,
    with_release: bool,
) -> Result<(Assignment, Option<Targets>), RegistryError> {
    let head = ports
        .stage_head(asked.org, asked.model, asked.stage, with_release)
        .await?;
    let Some(rollout) = head.state.as_ref().and_then(RolloutPolicy::from_state) else {
        if !ports.model_exists(asked.org, asked.model).await? {
            return Err(RegistryError::ModelNotFound {
                org: asked.org.to_owned(),
                model: asked.model.to_owned(),
            });
        }
        return Err(RegistryError::NothingDeployed {
            model: asked.model.to_owned(),
            stage: asked.stage,
        });
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
    Ok((rollout.route(bucket), head.release))
}

/// The versions whose rows an assignment needs: the primary, then the
/// shadow if any.
pub(crate) fn needed(assignment: &Assignment) -> Vec<&str> {
    std::iter::once(assignment.version.as_str())
        .chain(assignment.shadow.as_deref())
        .collect()
}

/// The row of one assigned version, or the missing-version refusal.
pub(crate) fn row_of(
    asked: &DeviceQuestion<'_>,
    rows: &[VersionArtifact],
    version: &str,
) -> Result<VersionArtifact, RegistryError> {
    rows.iter()
        .find(|row| row.version == version)
        .cloned()
        .ok_or_else(|| RegistryError::VersionVanished {
            model: asked.model.to_owned(),
            stage: asked.stage,
            version: version.to_owned(),
        })
}

/// The second half: the rows of the assigned versions, refusing when one
/// is gone (the stage names a version that no longer exists).
pub(crate) fn pick(
    asked: &DeviceQuestion<'_>,
    assignment: Assignment,
    rows: &[VersionArtifact],
) -> Result<Routed, RegistryError> {
    let primary = row_of(asked, rows, &assignment.version)?;
    let shadow = assignment
        .shadow
        .as_deref()
        .map(|version| row_of(asked, rows, version))
        .transpose()?;
    Ok(Routed {
        assignment,
        primary,
        shadow,
    })
}

/// Routes a device (predict's use of routing: no release needed, since the
/// Worker runs the model itself and re-verifies its digest).
///
/// Errors: `ModelNotFound`, `NothingDeployed` (404), `VersionVanished`
/// (409), `Store`.
pub async fn route_device(
    ports: &(impl Models + Stages + Versions + Keys + Clock),
    asked: &DeviceQuestion<'_>,
) -> Result<Routed, RegistryError> {
    let (assignment, _) = assign(ports, asked, false).await?;
    let rows = ports
        .version_artifacts(asked.org, asked.model, &needed(&assignment))
        .await?;
    pick(asked, assignment, &rows)
}
