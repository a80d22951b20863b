//! Importing an exported model (issue "Confidential, compact, portable
//! artifacts"; the bundle format is `outpost_core::bundle`): the export is
//! checked on its own first (lineage, audit entry hashes, release
//! signatures), then against this registry: every artifact uploaded already
//! (so its digest was re-verified on the way in), every version either new
//! or present with exactly the same artifact, every parent known. Then it is
//! one commit: the model if it is new, the new versions with their original
//! authors, times, metrics, tags, lineage and notes, their reference
//! profiles, and the import's record, which keeps the source's deployment
//! history and audit entries as history. Stages are not moved: a version
//! reaches a stage here through this registry's own gates.
//!
//! Importing the same export again finds its record and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use outpost_core::api::{CreateModelRequest, RegisterVersionRequest, VersionRecord, VersionStatus};
use outpost_core::bundle::{ImportOutcome, ImportRecord, ModelExport};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Blobs, Change, Clock, Commit, CommitError, Imports, Models, Runtime,
    VersionDetails,
};
use crate::versions::{inspect, uploaded_with_size};

/// How far in the future (ms) an exported version's creation time may lie
/// before the import is refused: clocks of two registries disagree a little.
const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// `POST …/models/{model}/imports`.
///
/// Errors: `InvalidImport` (422: the export contradicts itself, names
/// another model, or its signatures do not verify), `InvalidModel`,
/// `InvalidRegistration`, `ArtifactNotUploaded`, `ArtifactSizeMismatch`,
/// `ParentMissing`, `ArtifactRefused` (422), `ImportConflict` (409: a
/// version exists here with another artifact), `ImportUnrelated` (409: the
/// model here shares no version with the export), `ImportRaced` (409),
/// `Store`.
pub async fn import_model(
    ports: &(impl Models + VersionDetails + Blobs + Runtime + Imports + Clock + Commit),
    org: &str,
    actor: &Actor,
    model: &str,
    export: &ModelExport,
) -> Result<ImportOutcome, RegistryError> {
    if export.model.name != model {
        return Err(RegistryError::InvalidImport(format!(
            "the export is of model `{}`, not `{model}`",
            export.model.name
        )));
    }
    let checked = export
        .check()
        .map_err(|err| RegistryError::InvalidImport(err.to_string()))?;
    let id = export.identity().map_err(StoreError::new)?;
    if let Some(record) = ports.import_record(org, model, &id).await? {
        return Ok(ImportOutcome {
            unchanged: true,
            record,
        });
    }

    let mut changes = Vec::new();
    let model_is_new = !ports.model_exists(org, model).await?;
    if model_is_new {
        let request = CreateModelRequest {
            name: export.model.name.clone(),
            description: export.model.description.clone(),
            owner: export.model.owner.clone(),
            tags: export.model.tags.clone(),
            primary_metric: export.model.primary_metric.clone(),
        };
        request.validate().map_err(RegistryError::InvalidModel)?;
        changes.push(Change::CreateModel {
            request,
            created_by: export
                .model
                .created_by
                .clone()
                .unwrap_or_else(|| actor.history_name().to_owned()),
        });
    }

    let now = ports.now_ms();
    if let Some(future) = export
        .versions
        .iter()
        .find(|v| v.created_at > now + MAX_CLOCK_SKEW_MS)
    {
        return Err(RegistryError::InvalidImport(format!(
            "version {} was created in the future ({} ms since the epoch); a clock was wrong where it was exported",
            future.version, future.created_at
        )));
    }
    // What of the export is here already, read once.
    let mut here = BTreeMap::new();
    if !model_is_new {
        for exported in &export.versions {
            if let Some(record) = ports.version_record(org, model, &exported.version).await? {
                here.insert(exported.version.clone(), record);
            }
        }
    }
    // A model of the same name with versions, none related to the export,
    // is another model: refuse before anything is read or scanned, rather
    // than mix two lineages. Related means: a version in common, a parent of
    // an exported version here, or an earlier import from the same source.
    if !model_is_new
        && here.is_empty()
        && !export.versions.is_empty()
        && !ports.version_ages(org, model).await?.is_empty()
    {
        let mut related = ports.import_records(org, model).await?.iter().any(|r| {
            r.source.registry == export.source.registry && r.source.org == export.source.org
        });
        for parent in export
            .versions
            .iter()
            .filter_map(|v| v.parent_version.as_deref())
        {
            if related {
                break;
            }
            related = ports.version_record(org, model, parent).await?.is_some();
        }
        if !related {
            return Err(RegistryError::ImportUnrelated {
                model: model.to_owned(),
            });
        }
    }
    let (mut added, mut present) = (Vec::new(), Vec::new());
    let mut known: BTreeSet<String> = BTreeSet::new();
    for &index in &checked.order {
        let exported = &export.versions[index];
        if let Some(here) = here.get(&exported.version) {
            if here.digest != exported.digest || here.size != exported.size {
                return Err(RegistryError::ImportConflict {
                    model: model.to_owned(),
                    version: exported.version.clone(),
                    here: here.digest,
                    exported: exported.digest,
                });
            }
            present.push(exported.version.clone());
            known.insert(exported.version.clone());
            continue;
        }
        changes.push(Change::RegisterVersion(
            new_version(ports, org, model, exported, &known, model_is_new).await?,
        ));
        if let Some(profile) = export.profiles.get(&exported.version) {
            profile.validate().map_err(RegistryError::InvalidProfile)?;
            changes.push(Change::SetReference {
                model: model.to_owned(),
                version: exported.version.clone(),
                profile: Box::new(profile.clone()),
                created_by: exported.author.clone(),
            });
        }
        added.push(exported.version.clone());
        known.insert(exported.version.clone());
    }

    let record = ImportRecord {
        id,
        model: model.to_owned(),
        source: export.source.clone(),
        imported_at: now,
        imported_by: actor.history_name().to_owned(),
        added: added.clone(),
        present: present.clone(),
        released: checked.released.clone(),
        root: checked.root,
        history: export.history.clone(),
        audit: export.audit.clone(),
    };
    changes.push(Change::RecordImport(Box::new(record.clone())));
    let event = AuditEvent {
        actor: actor.clone(),
        action: "model.import".into(),
        target: format!("models/{model}"),
        details: json!({
            "import": id, "source": export.source, "added": added, "present": present,
            "released": checked.released, "root": checked.root,
        }),
    };
    match ports.commit(org, changes, event).await {
        Ok(()) => Ok(ImportOutcome {
            unchanged: false,
            record,
        }),
        // The same export imported at the same moment: that one counts.
        Err(CommitError::Conflict(_)) => match ports.import_record(org, model, &id).await? {
            Some(record) => Ok(ImportOutcome {
                unchanged: true,
                record,
            }),
            None => Err(RegistryError::ImportRaced {
                model: model.to_owned(),
            }),
        },
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// A version the export brings: its registration checked like any other
/// (tags, metrics, notes, version; the artifact uploaded with exactly its
/// size; its parent known), its safety decided here, the rest as exported.
async fn new_version(
    ports: &(impl VersionDetails + Blobs + Runtime),
    org: &str,
    model: &str,
    exported: &VersionRecord,
    known: &BTreeSet<String>,
    model_is_new: bool,
) -> Result<VersionRecord, RegistryError> {
    let as_request = RegisterVersionRequest {
        version: Some(exported.version.clone()),
        bump: None,
        digest: exported.digest,
        size: exported.size,
        format: Some(exported.format),
        framework: exported.framework.clone(),
        metrics: exported.metrics.clone(),
        params: exported.params.clone(),
        dataset_version: exported.dataset_version.clone(),
        parent_version: exported.parent_version.clone(),
        tags: exported.tags.clone(),
        notes: exported.notes.clone(),
    };
    as_request
        .validate()
        .map_err(RegistryError::InvalidRegistration)?;
    if let Some(parent) = &exported.parent_version
        && !known.contains(parent)
        && (model_is_new || ports.version_record(org, model, parent).await?.is_none())
    {
        return Err(RegistryError::ParentMissing {
            model: model.to_owned(),
            parent: parent.clone(),
        });
    }
    uploaded_with_size(ports, org, &exported.digest, exported.size).await?;
    let inspection = inspect(
        ports,
        org,
        &exported.digest,
        exported.size,
        Some(exported.format),
    )
    .await?;
    let tags: Vec<String> = exported
        .tags
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(VersionRecord {
        format: inspection.format,
        schema: inspection.schema,
        tags,
        status: if inspection.unsafe_reason.is_some() {
            VersionStatus::Unsafe
        } else {
            VersionStatus::Ready
        },
        status_reason: inspection.unsafe_reason,
        ..exported.clone()
    })
}

/// `GET …/models/{model}/imports`: what was imported into the model, oldest
/// first.
///
/// Errors: `ModelNotFound`, `Store`.
pub async fn import_records(
    ports: &(impl Models + Imports),
    org: &str,
    model: &str,
) -> Result<Vec<ImportRecord>, RegistryError> {
    if !ports.model_exists(org, model).await? {
        return Err(RegistryError::ModelNotFound {
            org: org.to_owned(),
            model: model.to_owned(),
        });
    }
    Ok(ports.import_records(org, model).await?)
}
