//! Content-addressed artifacts: uploading one whole, and downloading one
//! under RFC 9110's conditional and range rules.
//!
//! An upload names its sha256 and size up front. The object store checks
//! both while the body streams in, so a wrong digest or length stores
//! nothing; only then is the artifact's row written, with its audit entry.
//! Identical content is stored once per organisation. Downloads are
//! immutable: the entity tag is the digest, `Last-Modified` the upload time.

use outpost_core::api::{BlobRecord, CodedCopyRecord};
use outpost_core::conditional::{
    self, ByteRange, Conditions, Method, Multipart, Outcome, Representation,
};
use outpost_core::content_coding::{self, Coding};
use outpost_core::digest::Digest;
use serde_json::json;

use crate::error::RegistryError;
use crate::ports::{
    Actor, Arrival, AuditEvent, Blobs, Change, Clock, Commit, CopyArrival, StoredCopy,
};

/// `PUT …/blobs/sha256/{hex}` with the declared `size`.
///
/// Errors: `BlobSizeConflict` (422) when the digest is stored with another
/// size, `UploadMismatch` (422, nothing stored) when the bytes are not the
/// declared ones, `Store`.
pub async fn put_blob<S: Blobs + Commit>(
    store: &S,
    org: &str,
    actor: &Actor,
    (digest, size): (Digest, u64),
    body: S::Incoming,
) -> Result<BlobRecord, RegistryError> {
    if size > outpost_core::upload::MAX_SINGLE_PUT_SIZE {
        return Err(RegistryError::BlobTooLarge { size });
    }
    if let Some(existing) = store.blob_facts(org, &digest).await? {
        if existing.size != size {
            return Err(RegistryError::BlobSizeConflict {
                digest,
                stored: existing.size,
                declared: size,
            });
        }
        claim(store, org, digest).await?;
        return Ok(BlobRecord {
            digest,
            size,
            created: false,
        });
    }
    match store.put_object(org, &digest, size, body).await? {
        Arrival::Stored { .. } => {}
        Arrival::Refused(received) => {
            return Err(RegistryError::UploadMismatch {
                declared: (digest, size),
                received,
            });
        }
    }
    record_blob(
        store,
        org,
        actor,
        (digest, size),
        Vec::new(),
        json!({"size": size}),
    )
    .await?;
    Ok(BlobRecord {
        digest,
        size,
        created: true,
    })
}

/// Restarts an existing artifact's grace period: its uploader is about to
/// register it, and the collector must not take it meanwhile.
pub(crate) async fn claim(
    store: &impl Commit,
    org: &str,
    digest: Digest,
) -> Result<(), RegistryError> {
    store
        .apply(org, vec![Change::ClaimBlob { digest }])
        .await
        .map_err(|err| RegistryError::Store(err.into_store()))
}

/// Writes the row of verified bytes now in the object store, with its
/// audit entry and `also` (an upload's cleanup), in one commit.
pub(crate) async fn record_blob(
    store: &impl Commit,
    org: &str,
    actor: &Actor,
    (digest, size): (Digest, u64),
    also: Vec<Change>,
    details: serde_json::Value,
) -> Result<(), RegistryError> {
    let mut changes = vec![Change::RecordBlob {
        digest,
        size,
        created_by: actor.history_name().to_owned(),
    }];
    changes.extend(also);
    let event = AuditEvent {
        actor: actor.clone(),
        action: "blob.upload".into(),
        target: format!("blobs/{digest}"),
        details,
    };
    store
        .commit(org, changes, event)
        .await
        .map_err(|err| RegistryError::Store(err.into_store()))
}

/// `PUT …/blobs/sha256/{hex}/codings/{coding}` with the copy's
/// `encoded_size`: keeps a compressed copy of a stored artifact, sent from
/// then on to clients that accept its coding (`content_coding::negotiate`).
/// The store decodes what it stored and hashes it; the copy is recorded
/// only if it decodes to exactly the artifact's bytes in a single gzip
/// member, so a client that decodes and checks the digest never meets a
/// copy the registry did not check first. Each upload is its own object:
/// of two concurrent uploads the first recorded wins and the other is
/// deleted. A copy already kept answers unchanged without reading the
/// body. Audited only once kept.
///
/// Errors: `BlobNotFound` (404), `CodedCopySealed` (409: the organisation
/// seals artifacts at rest), `BlobTooLarge` (413: more than one request
/// takes), `CodedCopyNotWorthIt` (422: saves less than
/// `content_coding::worth_keeping` asks), `CodedCopyMismatch` (422: the
/// body is not `encoded_size` bytes or does not decode to the artifact;
/// nothing kept), `Store`.
pub async fn put_coded_copy<S: Blobs + Commit + Clock>(
    store: &S,
    org: &str,
    actor: &Actor,
    (digest, coding): (Digest, Coding),
    encoded_size: u64,
    body: S::Incoming,
) -> Result<CodedCopyRecord, RegistryError> {
    let not_found = || RegistryError::BlobNotFound {
        org: org.to_owned(),
        digest,
    };
    let Some(facts) = store.blob_facts(org, &digest).await? else {
        return Err(not_found());
    };
    let sealed = || RegistryError::CodedCopySealed {
        org: org.to_owned(),
        digest,
    };
    if facts.sealed {
        return Err(sealed());
    }
    let kept = |copy: &StoredCopy, created| CodedCopyRecord {
        digest,
        coding,
        size: facts.size,
        encoded_size: copy.size,
        created,
    };
    if let Some(copy) = &facts.gzip {
        return Ok(kept(copy, false));
    }
    if encoded_size > outpost_core::upload::MAX_PART_SIZE {
        return Err(RegistryError::BlobTooLarge { size: encoded_size });
    }
    if !content_coding::worth_keeping(facts.size, encoded_size) {
        return Err(RegistryError::CodedCopyNotWorthIt {
            coding,
            size: facts.size,
            encoded: encoded_size,
        });
    }
    // The collector must not take the artifact while its copy is checked.
    claim(store, org, digest).await?;
    let mine = StoredCopy {
        size: encoded_size,
        id: hex::encode(store.random_bytes(12)?),
    };
    let arrival = store
        .put_coded_copy(
            org,
            (&digest, &mine.id),
            (coding, encoded_size),
            facts.size,
            body,
        )
        .await?;
    let found = match arrival {
        CopyArrival::Decoded { received, .. } if received.length > facts.size => {
            Some(format!("it decodes to more than {} bytes", facts.size))
        }
        CopyArrival::Decoded { received, .. }
            if received.digest != digest || received.length != facts.size =>
        {
            Some(format!(
                "it decodes to {} bytes hashing to {}",
                received.length, received.digest
            ))
        }
        CopyArrival::Decoded { trailer, .. }
            if !content_coding::trailer_matches(&trailer, facts.size) =>
        {
            Some("it is more than one gzip member, or has bytes after its member".to_owned())
        }
        CopyArrival::Decoded { .. } => None,
        CopyArrival::Refused(cause) => Some(cause),
    };
    let discard = || store.discard_coded_copy(org, &digest, (coding, &mine.id));
    if let Some(found) = found {
        discard().await?;
        return Err(RegistryError::CodedCopyMismatch {
            coding,
            declared: (digest, facts.size),
            found,
        });
    }
    store
        .apply(
            org,
            vec![Change::RecordCodedCopy {
                digest,
                coding,
                copy: mine.clone(),
            }],
        )
        .await
        .map_err(|err| RegistryError::Store(err.into_store()))?;
    // What the write recorded: this copy, another upload's (which won),
    // or none (encryption turned on, or the artifact went, meanwhile).
    let recorded = store.blob_facts(org, &digest).await?;
    match recorded.as_ref().and_then(|facts| facts.gzip.as_ref()) {
        Some(copy) if copy.id == mine.id => {}
        Some(other) => {
            discard().await?;
            return Ok(kept(other, false));
        }
        None => {
            discard().await?;
            return Err(if recorded.is_none() {
                not_found()
            } else {
                sealed()
            });
        }
    }
    let event = AuditEvent {
        actor: actor.clone(),
        action: "blob.coded_copy".into(),
        target: format!("blobs/{digest}"),
        details: json!({"coding": coding, "size": facts.size, "encoded_size": encoded_size}),
    };
    store
        .commit(org, Vec::new(), event)
        .await
        .map_err(|err| RegistryError::Store(err.into_store()))?;
    Ok(kept(&mine, true))
}

/// A download's answer: the representation's validators and what to send.
#[derive(Debug)]
pub struct Download<B> {
    /// The strong entity tag, quoted: `"sha256:…"` (`"sha256:…+gzip"` for
    /// the gzip copy).
    pub etag: String,
    /// The IMF-fixdate of the upload (`Last-Modified`).
    pub last_modified: String,
    /// The sent representation's size in bytes: the artifact's, or its
    /// coded copy's.
    pub size: u64,
    /// The content coding the body is in (`Content-Encoding` unless
    /// identity).
    pub coding: Coding,
    pub answer: Answer<B>,
}

/// What to send (RFC 9110 status in brackets).
#[derive(Debug)]
pub enum Answer<B> {
    /// [412] a precondition failed.
    PreconditionFailed,
    /// [304] the client's copy is current.
    NotModified,
    /// [416] no requested range is satisfiable.
    Unsatisfiable,
    /// [200] the whole artifact (`None` for HEAD: headers only).
    Whole(Option<B>),
    /// [206] one range (GET only: a HEAD never gets a range answer).
    Part(ByteRange, B),
    /// [206] several ranges, framed: the header block of each part is
    /// followed by its bytes, then `framing.closing`.
    Parts(Multipart, Vec<Vec<u8>>),
}

/// `GET`/`HEAD …/blobs/sha256/{hex}` (and every route that serves an
/// artifact): decides the answer in the core from the request's conditions
/// and opens only what it sends; a multipart answer is framed with a random
/// boundary. The representation is the artifact's gzip copy when
/// `content_coding::negotiate` picks it from `accept_encoding` (never for
/// a ranged request), its own bytes otherwise.
///
/// Errors: `BlobNotFound` (404), `Store` (a row without its object too).
pub async fn download_blob<S: Blobs + Clock>(
    store: &S,
    org: &str,
    digest: &Digest,
    method: Method,
    (conditions, accept_encoding): (&Conditions<'_>, Option<&str>),
) -> Result<Download<S::Object>, RegistryError> {
    let Some(facts) = store.blob_facts(org, digest).await? else {
        return Err(RegistryError::BlobNotFound {
            org: org.to_owned(),
            digest: *digest,
        });
    };
    let created_at = facts.created_at;
    let mut coding = content_coding::negotiate(
        accept_encoding,
        conditions.range.is_some(),
        facts.gzip.is_some(),
    );
    // A coded copy is sent whole: ranges address the artifact's bytes. A
    // copy whose object is missing is not sent (the artifact is).
    let whole = Conditions {
        range: None,
        if_range: None,
        ..*conditions
    };
    let mut coded_body = None;
    if let (Coding::Gzip, Some(copy), Method::Get) = (coding, &facts.gzip, method) {
        coded_body = store
            .open_coded_copy(org, digest, (coding, &copy.id))
            .await?;
        if coded_body.is_none() {
            coding = Coding::Identity;
        }
    }
    let (size, conditions) = match (coding, &facts.gzip) {
        (Coding::Gzip, Some(copy)) => (copy.size, &whole),
        _ => (facts.size, conditions),
    };
    let etag = content_coding::entity_tag(digest, coding);
    let modified = u64::try_from(created_at.div_euclid(1000)).unwrap_or(0);
    let representation = Representation {
        etag: &etag,
        last_modified: Some(modified),
        size,
    };
    let missing = || {
        RegistryError::Store(crate::StoreError::new(format!(
            "artifact {digest} of organisation {org} has a row but no object"
        )))
    };
    let answer = match conditional::evaluate(method, conditions, &representation) {
        Outcome::PreconditionFailed => Answer::PreconditionFailed,
        Outcome::NotModified => Answer::NotModified,
        Outcome::Unsatisfiable => Answer::Unsatisfiable,
        Outcome::Full if method == Method::Head => Answer::Whole(None),
        Outcome::Full if coding != Coding::Identity => {
            Answer::Whole(Some(coded_body.take().ok_or_else(missing)?))
        }
        Outcome::Full => Answer::Whole(Some(
            store
                .open_object(org, digest, None)
                .await?
                .ok_or_else(missing)?,
        )),
        Outcome::Partial(range) => Answer::Part(
            range,
            store
                .open_object(org, digest, Some(range))
                .await?
                .ok_or_else(missing)?,
        ),
        Outcome::Multipart(ranges) => {
            let boundary = hex::encode(store.random_bytes(12)?);
            let framing = Multipart::new(&boundary, "application/octet-stream", &ranges, size);
            let mut bodies = Vec::with_capacity(ranges.len());
            for range in &ranges {
                bodies.push(
                    store
                        .read_range(org, digest, *range)
                        .await?
                        .ok_or_else(missing)?,
                );
            }
            Answer::Parts(framing, bodies)
        }
    };
    Ok(Download {
        etag,
        last_modified: conditional::format_http_date(modified),
        size,
        coding,
        answer,
    })
}

/// What a collection run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Rows removed.
    pub rows: usize,
    /// Objects deleted with them.
    pub objects: usize,
}

/// The cron's collection of artifacts no version refers to, once they are
/// older than [`outpost_core::upload::UNREFERENCED_GRACE_MS`]: an upload
/// whose registration was refused (or never came) leaves nothing behind
/// for longer. Each removal is audited in its organisation, as the cron,
/// after it happened (an artifact a registration took meanwhile is kept,
/// and no entry claims otherwise).
/// At most `limit` per run.
///
/// Errors: `Store`.
pub async fn collect_unreferenced<S: Blobs + Commit + Clock>(
    store: &S,
    limit: usize,
) -> Result<Collected, RegistryError> {
    let before = store
        .now_ms()
        .saturating_sub(outpost_core::upload::UNREFERENCED_GRACE_MS);
    let mut collected = Collected::default();
    for (org, digest) in store.unreferenced_blobs(before, limit).await? {
        // The guarded delete keeps the row if a registration took the
        // artifact meanwhile; only a removal is audited, and only an
        // artifact whose row is gone loses its object.
        store
            .apply(&org, vec![Change::CollectBlob { digest, before }])
            .await
            .map_err(|err| RegistryError::Store(err.into_store()))?;
        if store.blob_facts(&org, &digest).await?.is_some() {
            continue;
        }
        let event = AuditEvent {
            actor: Actor::Cron,
            action: "blob.collect".into(),
            target: format!("blobs/{digest}"),
            details: json!({"reason": "no version refers to it", "grace_ms": outpost_core::upload::UNREFERENCED_GRACE_MS}),
        };
        store
            .commit(&org, Vec::new(), event)
            .await
            .map_err(|err| RegistryError::Store(err.into_store()))?;
        collected.rows += 1;
        if store.delete_stale_object(&org, &digest, before).await? {
            collected.objects += 1;
        }
    }
    Ok(collected)
}
