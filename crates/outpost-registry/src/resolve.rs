//! Resolution: the director-signed statement of which released artifact a
//! device runs (DESIGN "Trust model": a compromised Worker can only choose
//! among released artifacts, so every target named must be in the release).

use outpost_core::timefmt::format_utc;
use outpost_core::trust::{Envelope, Question, ReleasedTarget, Resolution, Targets, target_path};

use crate::error::{RegistryError, StoreError};
use crate::ports::{Clock, Keys, Models, Resolutions, Stages, VersionArtifact};
use crate::routing::{DeviceQuestion, assign, needed, row_of};

/// Resolutions are short-lived: a device re-resolves, it does not cache.
pub const RESOLUTION_LIFETIME_MS: i64 = 3_600_000;

/// A routed version as devices see it: released with exactly its digest and
/// length, or refused.
fn released(
    asked: &DeviceQuestion<'_>,
    release: Option<&Targets>,
    artifact: &VersionArtifact,
) -> Result<ReleasedTarget, RegistryError> {
    let target = target_path(asked.model, &artifact.version);
    if !release.is_some_and(|r| r.names(&target, &artifact.digest, artifact.length)) {
        return Err(RegistryError::NotReleased {
            model: asked.model.to_owned(),
            version: artifact.version.clone(),
            stage: asked.stage,
            target,
        });
    }
    Ok(ReleasedTarget {
        version: artifact.version.clone(),
        target,
        digest: artifact.digest,
        length: artifact.length,
    })
}

/// Resolves a device: routes it exactly as [`crate::routing::route_device`]
/// does, checks that what it runs (and its shadow) is released, and signs
/// the answer with the director key, numbered by the organisation's
/// resolution counter and valid for [`RESOLUTION_LIFETIME_MS`].
///
/// Errors: `ModelNotFound`, `NothingDeployed` (404), `VersionVanished`,
/// `NotReleased` (409), `Store` (a missing key included).
pub async fn resolve_device(
    ports: &(impl Models + Stages + Resolutions + Keys + Clock),
    asked: &DeviceQuestion<'_>,
) -> Result<Envelope, RegistryError> {
    let (assignment, release) = assign(ports, asked, true).await?;
    // The key before anything is numbered: a deployment without one
    // answers 503 and spends no resolution number.
    let director = ports.director()?;
    let (rows, number) = ports
        .artifacts_and_next_resolution(asked.org, asked.model, &needed(&assignment))
        .await?;
    // The primary (row, then release), then the shadow: the same rows and
    // missing-version answer as predict's routing.
    let chosen = released(
        asked,
        release.as_ref(),
        &row_of(asked, &rows, &assignment.version)?,
    )?;
    let shadow = assignment
        .shadow
        .as_deref()
        .map(|version| released(asked, release.as_ref(), &row_of(asked, &rows, version)?))
        .transpose()?;
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
        resolution_version: number,
        expires: format_utc(ports.now_ms() + RESOLUTION_LIFETIME_MS),
    };
    let signed = resolution.to_signed();
    let signature = director.sign(&signed).map_err(StoreError::new)?;
    Ok(Envelope {
        signed,
        signatures: vec![signature],
    })
}
