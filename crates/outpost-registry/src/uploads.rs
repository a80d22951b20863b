//! Resumable multipart uploads of large artifacts.
//!
//! The client starts (or resumes) an upload for a digest and size, puts each
//! part with its own sha256 (checked while it streams in), and completes.
//! Completion assembles the object, hashes it again end to end, and only
//! then writes the artifact's row: a wrong digest or size leaves no artifact
//! behind. The parts received are recorded, so an interrupted client resumes
//! by asking for the same digest again. Part geometry is the core's
//! ([`outpost_core::upload::PartPlan`]).

use outpost_core::api::BlobRecord;
use outpost_core::digest::Digest;
use outpost_core::upload::{DEFAULT_PART_SIZE, PartPlan, StartUpload, UploadState};
use serde_json::json;

use crate::blobs::record_blob;
use crate::error::RegistryError;
use crate::ports::{
    Actor, Arrival, AuditEvent, Blobs, Change, Clock, Commit, CommitError, OpenUpload, Uploads,
};

/// What starting an upload gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// The artifact is stored already: nothing to upload.
    Stored(BlobRecord),
    /// The open upload of this digest, to resume.
    Resumed(UploadState),
    /// A new upload.
    Opened(UploadState),
}

fn state(upload: &OpenUpload) -> UploadState {
    UploadState {
        id: upload.id.clone(),
        digest: upload.digest,
        size: upload.plan.size,
        part_size: upload.plan.part_size,
        parts: upload.plan.parts(),
        parts_done: upload.parts_done(),
    }
}

/// `POST …/uploads`: starts an upload, or resumes the open one of the same
/// digest (which must have the same geometry).
///
/// Errors: `InvalidPartPlan` (422), `UploadOpenWithOtherPlan` (409),
/// `UploadStartedConcurrently` (409), `Store`.
pub async fn start_upload<S: Blobs + Uploads + Commit + Clock>(
    store: &S,
    org: &str,
    actor: &Actor,
    request: &StartUpload,
) -> Result<Started, RegistryError> {
    if let Some(existing) = store.blob_facts(org, &request.digest).await? {
        crate::blobs::claim(store, org, request.digest).await?;
        return Ok(Started::Stored(BlobRecord {
            digest: request.digest,
            size: existing.size,
            created: false,
        }));
    }
    let plan = PartPlan::new(request.size, request.part_size.unwrap_or(DEFAULT_PART_SIZE))
        .map_err(RegistryError::InvalidPartPlan)?;
    if let Some(open) = store.open_upload_of(org, &request.digest).await? {
        if open.plan != plan {
            return Err(RegistryError::UploadOpenWithOtherPlan {
                org: org.to_owned(),
                digest: request.digest,
                plan: open.plan,
                id: open.id,
            });
        }
        return Ok(Started::Resumed(state(&open)));
    }
    let backend_id = store.begin_multipart(org, &request.digest).await?;
    let id = outpost_core::auth::base62_from_random(&store.random_bytes(64)?, 16)
        .ok_or_else(|| crate::StoreError::new("upload id ran out of randomness"))?;
    let upload = OpenUpload {
        id: id.clone(),
        digest: request.digest,
        plan,
        backend_id,
        parts: Vec::new(),
    };
    let event = AuditEvent {
        actor: actor.clone(),
        action: "upload.start".into(),
        target: format!("uploads/{id}"),
        details: json!({"digest": request.digest, "size": plan.size, "parts": plan.parts()}),
    };
    let change = Change::OpenUpload {
        upload: upload.clone(),
        created_by: actor.history_name().to_owned(),
    };
    match store.commit(org, vec![change], event).await {
        Ok(()) => Ok(Started::Opened(state(&upload))),
        Err(err) => {
            // Ours is not recorded: abandon it in the object store.
            store
                .abort_multipart(org, &request.digest, &upload.backend_id)
                .await;
            Err(match err {
                CommitError::Conflict(_) => RegistryError::UploadStartedConcurrently,
                CommitError::Store(err) => err.into(),
            })
        }
    }
}

async fn open<S: Uploads>(store: &S, org: &str, id: &str) -> Result<OpenUpload, RegistryError> {
    store
        .open_upload(org, id)
        .await?
        .ok_or_else(|| RegistryError::UploadNotFound {
            org: org.to_owned(),
            id: id.to_owned(),
        })
}

/// `GET …/uploads/{id}`: which parts arrived.
///
/// Errors: `UploadNotFound` (404), `Store`.
pub async fn upload_status<S: Uploads>(
    store: &S,
    org: &str,
    id: &str,
) -> Result<UploadState, RegistryError> {
    Ok(state(&open(store, org, id).await?))
}

/// A part as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReceived {
    pub number: u64,
    /// Bytes.
    pub length: u64,
    pub digest: Digest,
}

/// `PUT …/uploads/{id}/parts/{number}` with the part's declared sha256:
/// stored, then recorded only if the bytes hash to it (a part sent again
/// replaces the earlier one).
///
/// Errors: `UploadNotFound` (404), `NoSuchPart` (404), `PartMismatch` (422:
/// wrong length or sha256, send it again), `Store`.
pub async fn put_part<S: Uploads + Commit>(
    store: &S,
    org: &str,
    (id, number): (&str, u64),
    declared: Digest,
    body: S::Part,
) -> Result<PartReceived, RegistryError> {
    let upload = open(store, org, id).await?;
    let (_, length) = upload
        .plan
        .part(number)
        .map_err(RegistryError::NoSuchPart)?;
    let (etag, received) = match store.put_part(org, &upload, number, length, body).await? {
        Arrival::Stored { etag, received } => (etag, received),
        Arrival::Refused(received) => {
            return Err(RegistryError::PartMismatch {
                number,
                declared: (declared, length),
                received,
            });
        }
    };
    if received.digest != declared || received.length != length {
        // The store holds these bytes as part N, but the part is not
        // recorded: the client must send it again (which replaces it).
        return Err(RegistryError::PartMismatch {
            number,
            declared: (declared, length),
            received,
        });
    }
    store
        .apply(
            org,
            vec![Change::RecordPart {
                upload: upload.id,
                number,
                etag,
                digest: declared,
                length,
            }],
        )
        .await
        .map_err(|err| RegistryError::Store(err.into_store()))?;
    Ok(PartReceived {
        number,
        length,
        digest: declared,
    })
}

/// `POST …/uploads/{id}/complete`: assembles the parts, verifies the whole
/// artifact, and records it; on a mismatch the upload and its object are
/// discarded.
///
/// Errors: `UploadNotFound` (404), `PartsMissing` (409), `AssembledMismatch`
/// (422, nothing stored), `Store`.
pub async fn complete_upload<S: Uploads + Commit>(
    store: &S,
    org: &str,
    actor: &Actor,
    id: &str,
) -> Result<BlobRecord, RegistryError> {
    let upload = open(store, org, id).await?;
    let missing = upload.plan.missing(&upload.parts_done());
    if !missing.is_empty() {
        return Err(RegistryError::PartsMissing { missing });
    }
    let assembled = store.complete_multipart(org, &upload).await?;
    let close = Change::CloseUpload {
        id: upload.id.clone(),
    };
    if assembled.digest != upload.digest || assembled.length != upload.plan.size {
        // The store wrote nothing under the artifact's key (the parts were
        // assembled elsewhere): only the upload is forgotten.
        store
            .apply(org, vec![close])
            .await
            .map_err(|err| RegistryError::Store(err.into_store()))?;
        return Err(RegistryError::AssembledMismatch {
            declared: (upload.digest, upload.plan.size),
            received: assembled,
        });
    }
    record_blob(
        store,
        org,
        actor,
        (upload.digest, upload.plan.size),
        vec![close],
        json!({"size": upload.plan.size, "parts": upload.plan.parts(), "upload": upload.id}),
    )
    .await?;
    Ok(BlobRecord {
        digest: upload.digest,
        size: upload.plan.size,
        created: true,
    })
}

/// `DELETE …/uploads/{id}`: abandons the upload and its parts.
///
/// Errors: `UploadNotFound` (404), `Store`.
pub async fn abort_upload<S: Uploads + Commit>(
    store: &S,
    org: &str,
    actor: &Actor,
    id: &str,
) -> Result<(), RegistryError> {
    let upload = open(store, org, id).await?;
    store
        .abort_multipart(org, &upload.digest, &upload.backend_id)
        .await;
    let event = AuditEvent {
        actor: actor.clone(),
        action: "upload.abort".into(),
        target: format!("uploads/{}", upload.id),
        details: json!({}),
    };
    store
        .commit(org, vec![Change::CloseUpload { id: upload.id }], event)
        .await
        .map_err(|err| RegistryError::Store(err.into_store()))
}

/// The cron's closing of uploads open longer than
/// [`outpost_core::upload::UPLOAD_LIFETIME_MS`] (the object store would
/// abort them soon, and resuming one could only fail): each is aborted in
/// the object store and forgotten, audited as the cron. At most `limit` per
/// run; how many were closed.
///
/// Errors: `Store`.
pub async fn expire_stale<S: Uploads + Commit + crate::ports::Clock>(
    store: &S,
    limit: usize,
) -> Result<usize, RegistryError> {
    let before = store
        .now_ms()
        .saturating_sub(outpost_core::upload::UPLOAD_LIFETIME_MS);
    let stale = store.stale_uploads(before, limit).await?;
    for (org, upload) in &stale {
        store
            .abort_multipart(org, &upload.digest, &upload.backend_id)
            .await;
        let event = AuditEvent {
            actor: Actor::Cron,
            action: "upload.expire".into(),
            target: format!("uploads/{}", upload.id),
            details: json!({"digest": upload.digest, "parts_received": upload.parts.len()}),
        };
        store
            .commit(
                org,
                vec![Change::CloseUpload {
                    id: upload.id.clone(),
                }],
                event,
            )
            .await
            .map_err(|err| RegistryError::Store(err.into_store()))?;
    }
    Ok(stale.len())
}
