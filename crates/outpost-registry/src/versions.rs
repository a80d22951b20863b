//! Registering a version: the request checked by the core, the artifact
//! uploaded already with exactly the declared size, inspected once (format,
//! schema, safety scan), numbered explicitly or by a bump (retried when
//! another registration takes the number first), and committed with its
//! audit entry and its `version.registered` webhook event.

use std::collections::BTreeSet;

use outpost_core::api::{
    RegisterVersionRequest, RegisteredVersion, TagChange, VersionRecord, VersionStatus,
};
use outpost_core::digest::Digest;
use outpost_core::version::{ArtifactFormat, Bump, next_version, parse_version};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Blobs, Change, Clock, Commit, CommitError, Inspection, Models, Runtime,
    VersionDetails, Versions,
};

/// Artifacts up to this size are read and inspected at registration; larger
/// ones are recorded as declared, and pickle-based ones are marked unsafe
/// because they could not be scanned.
pub const MAX_INSPECTED_BYTES: u64 = 64 << 20;

/// How often a bumped registration re-reads the highest version after
/// another registration took the number first.
const BUMP_ATTEMPTS: usize = 5;

/// Inspects the artifact, or decides without reading it when it is too
/// large to inspect (registration and import alike: a registry decides a
/// version's safety itself, whatever a bundle says).
pub(crate) async fn inspect(
    ports: &(impl Blobs + Runtime),
    org: &str,
    digest: &Digest,
    size: u64,
    declared: Option<ArtifactFormat>,
) -> Result<Inspection, RegistryError> {
    if size > MAX_INSPECTED_BYTES {
        let format = declared.unwrap_or(ArtifactFormat::Other);
        let pickled = matches!(
            format,
            ArtifactFormat::Pickle | ArtifactFormat::Joblib | ArtifactFormat::Pytorch
        );
        return Ok(Inspection {
            format,
            schema: None,
            unsafe_reason: pickled.then(|| {
                format!("{format} artifacts over {MAX_INSPECTED_BYTES} bytes are not scanned, so they are not trusted")
            }),
        });
    }
    let bytes = ports
        .read(org, digest)
        .await?
        .ok_or_else(|| StoreError::new(format!("blob row without an object: {digest}")))?;
    ports
        .inspect(&bytes, declared)
        .map_err(RegistryError::ArtifactRefused)
}

/// The artifact must be uploaded (and so verified) already, with exactly
/// the size a registration or import declares.
///
/// Errors: `ArtifactNotUploaded`, `ArtifactSizeMismatch`, `Store`.
pub(crate) async fn uploaded_with_size(
    ports: &impl Blobs,
    org: &str,
    digest: &Digest,
    declared: u64,
) -> Result<(), RegistryError> {
    let stored = ports
        .blob_facts(org, digest)
        .await?
        .map(|facts| facts.size)
        .ok_or_else(|| RegistryError::ArtifactNotUploaded {
            org: org.to_owned(),
            digest: *digest,
        })?;
    if stored != declared {
        return Err(RegistryError::ArtifactSizeMismatch {
            digest: *digest,
            stored,
            declared,
        });
    }
    Ok(())
}

/// `POST …/models/{model}/versions`. Returns the version and why it got
/// its number.
///
/// Errors: `ModelNotFound`, `InvalidRegistration`, `ParentMissing`,
/// `ArtifactNotUploaded`, `ArtifactSizeMismatch`, `ArtifactRefused` (422),
/// `VersionExists`, `BumpKeptRacing` (409), `Store`.
pub async fn register_version(
    ports: &(impl Models + Versions + VersionDetails + Blobs + Runtime + Clock + Commit),
    org: &str,
    actor: &Actor,
    model: &str,
    request: &RegisterVersionRequest,
) -> Result<RegisteredVersion, RegistryError> {
    let primary = ports
        .model_primary_metric(org, model)
        .await?
        .ok_or_else(|| RegistryError::ModelNotFound {
            org: org.to_owned(),
            model: model.to_owned(),
        })?;
    // Everything the caller said is checked before storage is read.
    let explicit = request
        .validate()
        .map_err(RegistryError::InvalidRegistration)?;
    if let Some(parent) = &request.parent_version
        && ports
            .version_artifacts(org, model, &[parent])
            .await?
            .is_empty()
    {
        return Err(RegistryError::ParentMissing {
            model: model.to_owned(),
            parent: parent.clone(),
        });
    }
    uploaded_with_size(ports, org, &request.digest, request.size).await?;
    let inspection = inspect(ports, org, &request.digest, request.size, request.format).await?;
    let (status, status_reason) = match &inspection.unsafe_reason {
        Some(reason) => (VersionStatus::Unsafe, Some(reason.clone())),
        None => (VersionStatus::Ready, None),
    };
    let tags: Vec<String> = request
        .tags
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let attempts = if explicit.is_some() { 1 } else { BUMP_ATTEMPTS };
    for _ in 0..attempts {
        let (version, version_reason) = match &explicit {
            Some(version) => (version.clone(), "explicit version".to_owned()),
            None => {
                let metric = primary.as_ref().map(|p| p.name.as_str());
                let latest = ports.highest_version(org, model, metric).await?;
                let new_metric = primary
                    .as_ref()
                    .and_then(|p| request.metrics.get(&p.name).copied());
                let decision = next_version(
                    request.bump.as_ref().unwrap_or(&Bump::Patch),
                    latest.as_ref().map(|(v, m)| (v, *m)),
                    primary.as_ref(),
                    new_metric,
                );
                (
                    parse_version(&decision.version).map_err(StoreError::new)?,
                    decision.reason,
                )
            }
        };
        let record = VersionRecord {
            model: model.to_owned(),
            version: version.to_string(),
            digest: request.digest,
            size: request.size,
            format: inspection.format,
            framework: request.framework.clone(),
            schema: inspection.schema.clone(),
            metrics: request.metrics.clone(),
            params: request.params.clone(),
            dataset_version: request.dataset_version.clone(),
            parent_version: request.parent_version.clone(),
            tags: tags.clone(),
            notes: request.notes.clone(),
            author: actor.history_name().to_owned(),
            created_at: ports.now_ms(),
            status,
            status_reason: status_reason.clone(),
        };
        let event = AuditEvent {
            actor: actor.clone(),
            action: "version.register".into(),
            target: format!("models/{model}/versions/{}", record.version),
            details: json!({"digest": record.digest, "status": record.status, "reason": version_reason}),
        };
        let announce = Change::Webhook {
            event: "version.registered",
            data: json!({
                "model": model, "version": record.version, "digest": record.digest,
                "size": record.size, "status": record.status, "author": record.author,
            }),
        };
        match ports
            .commit(
                org,
                vec![Change::RegisterVersion(record.clone()), announce],
                event,
            )
            .await
        {
            Ok(()) => {
                return Ok(RegisteredVersion {
                    version: record,
                    version_reason,
                });
            }
            Err(CommitError::Conflict(_)) if explicit.is_some() => {
                return Err(RegistryError::VersionExists {
                    model: model.to_owned(),
                    version: version.to_string(),
                });
            }
            Err(CommitError::Conflict(_)) => continue,
            Err(CommitError::Store(err)) => return Err(err.into()),
        }
    }
    Err(RegistryError::BumpKeptRacing {
        model: model.to_owned(),
    })
}

/// `PATCH …/versions/{version}/tags`: adds and removes tags, audited; the
/// version as it is after the change (unchanged tags write nothing).
///
/// Errors: `InvalidTag` (422), `NoSuchVersion` (404),
/// `TagsChangedConcurrently` (409), `Store`.
pub async fn change_tags(
    ports: &(impl VersionDetails + Commit),
    org: &str,
    actor: &Actor,
    (model, version): (&str, &str),
    change: &TagChange,
) -> Result<VersionRecord, RegistryError> {
    change.validate().map_err(RegistryError::InvalidTag)?;
    let missing = || RegistryError::NoSuchVersion {
        org: org.to_owned(),
        model: model.to_owned(),
        version: version.to_owned(),
    };
    let record = ports
        .version_record(org, model, version)
        .await?
        .ok_or_else(missing)?;
    let new = change.apply(&record.tags);
    if new == record.tags {
        return Ok(record);
    }
    let event = AuditEvent {
        actor: actor.clone(),
        action: "version.tags".into(),
        target: format!("models/{model}/versions/{version}"),
        details: json!({"add": change.add, "remove": change.remove}),
    };
    let set = Change::SetTags {
        model: model.to_owned(),
        version: version.to_owned(),
        old: record.tags.clone(),
        new: new.clone(),
    };
    match ports.commit(org, vec![set], event).await {
        Ok(()) => {}
        Err(CommitError::Conflict(_)) => return Err(RegistryError::TagsChangedConcurrently),
        Err(CommitError::Store(err)) => return Err(err.into()),
    }
    // The compare-and-set wrote nothing if another edit came first.
    let after = ports
        .version_record(org, model, version)
        .await?
        .ok_or_else(missing)?;
    if after.tags != new {
        return Err(RegistryError::TagsChangedConcurrently);
    }
    Ok(after)
}
