//! Open multipart uploads and the parts they received (rows in D1; R2 holds
//! the parts' bytes under its own multipart upload).

use futures_util::StreamExt;
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::upload::PartPlan;
use outpost_registry::StoreError;
use outpost_registry::ports::{Arrival, OpenUpload, Received, Uploads};
use worker::{D1PreparedStatement, UploadedPart};

use super::blobs::{RequestBody, Tapped, bucket, object_key};
use super::{D1Store, failed};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};

#[derive(Debug, serde::Deserialize)]
struct UploadRow {
    id: String,
    digest: String,
    size: f64,
    part_size: f64,
    r2_upload_id: String,
}

#[derive(Debug, serde::Deserialize)]
struct PartRow {
    part_number: f64,
    etag: String,
}

const UPLOAD_COLUMNS: &str = "id, digest, size, part_size, r2_upload_id";

/// The upload a row describes, with its parts (one more query).
async fn with_parts(ctx: &Ctx, org: &str, row: UploadRow) -> Result<OpenUpload, StoreError> {
    let parts = db::all::<PartRow>(
        &ctx.db
            .prepare("SELECT part_number, etag FROM upload_parts WHERE org = ?1 AND upload_id = ?2 ORDER BY part_number")
            .bind(&[db::text(org), db::text(&row.id)])
            .map_err(failed)?,
    )
    .await
    .map_err(failed)?;
    Ok(OpenUpload {
        digest: row.digest.parse().map_err(failed)?,
        plan: PartPlan::new(as_i64(row.size) as u64, as_i64(row.part_size) as u64)
            .map_err(failed)?,
        backend_id: row.r2_upload_id,
        parts: parts
            .into_iter()
            .map(|p| (as_i64(p.part_number) as u64, p.etag))
            .collect(),
        id: row.id,
    })
}

async fn one(
    ctx: &Ctx,
    org: &str,
    (column, value): (&str, &str),
) -> Result<Option<OpenUpload>, StoreError> {
    let row = db::first::<UploadRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE org = ?1 AND {column} = ?2"
            ))
            .bind(&[db::text(org), db::text(value)])
            .map_err(failed)?,
    )
    .await
    .map_err(failed)?;
    match row {
        Some(row) => Ok(Some(with_parts(ctx, org, row).await?)),
        None => Ok(None),
    }
}

/// The statement opening an upload (`(org, digest)` is unique).
pub fn insert(
    ctx: &Ctx,
    org: &str,
    upload: &OpenUpload,
    created_by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO uploads (org, id, digest, size, part_size, r2_upload_id, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            db::text(org),
            db::text(&upload.id),
            db::text(&upload.digest.to_string()),
            db::int(upload.plan.size as i64),
            db::int(upload.plan.part_size as i64),
            db::text(&upload.backend_id),
            db::int(ctx.now),
            db::text(created_by),
        ])
}

/// The statement recording (or replacing) part `number` with its R2 etag,
/// sha256 and length.
pub fn record_part(
    ctx: &Ctx,
    org: &str,
    (upload, number): (&str, u64),
    (etag, sha256, length): (&str, &Digest, u64),
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO upload_parts (org, upload_id, part_number, etag, sha256, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (org, upload_id, part_number) DO UPDATE SET etag = excluded.etag, sha256 = excluded.sha256, size = excluded.size",
        )
        .bind(&[
            db::text(org),
            db::text(upload),
            db::int(number as i64),
            db::text(etag),
            db::text(&sha256.to_string()),
            db::int(length as i64),
        ])
}

/// The statements forgetting an upload and its parts.
pub fn cleanup(ctx: &Ctx, org: &str, id: &str) -> worker::Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        ctx.db
            .prepare("DELETE FROM upload_parts WHERE org = ?1 AND upload_id = ?2")
            .bind(&[db::text(org), db::text(id)])?,
        ctx.db
            .prepare("DELETE FROM uploads WHERE org = ?1 AND id = ?2")
            .bind(&[db::text(org), db::text(id)])?,
    ])
}

impl<'a> Uploads for D1Store<'a> {
    type Part = RequestBody<'a>;

    async fn open_upload(&self, org: &str, id: &str) -> Result<Option<OpenUpload>, StoreError> {
        one(self.ctx, org, ("id", id)).await
    }

    async fn stale_uploads(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(String, OpenUpload)>, StoreError> {
        #[derive(serde::Deserialize)]
        struct StaleRow {
            org: String,
            #[serde(flatten)]
            upload: UploadRow,
        }
        let rows = db::all::<StaleRow>(
            &self
                .ctx
                .db
                .prepare(format!(
                    "SELECT org, {UPLOAD_COLUMNS} FROM uploads WHERE created_at < ?1 ORDER BY created_at LIMIT ?2"
                ))
                .bind(&[db::int(before), db::int(limit as i64)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        let mut stale = Vec::with_capacity(rows.len());
        for row in rows {
            let upload = with_parts(self.ctx, &row.org, row.upload).await?;
            stale.push((row.org, upload));
        }
        Ok(stale)
    }

    async fn open_upload_of(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<OpenUpload>, StoreError> {
        one(self.ctx, org, ("digest", &digest.to_string())).await
    }

    /// The parts are assembled under a staging key, never the artifact's:
    /// completion copies verified bytes into place. The staging key's nonce
    /// travels in the id (`staged:NONCE:R2-UPLOAD-ID`).
    async fn begin_multipart(&self, org: &str, digest: &Digest) -> Result<String, StoreError> {
        let nonce = crate::ctx::random_bytes(8)
            .map(hex::encode)
            .map_err(|_| StoreError::new("no randomness"))?;
        let upload = bucket(self.ctx)?
            .create_multipart_upload(staging_key(org, digest, &nonce))
            .execute()
            .await
            .map_err(failed)?;
        Ok(format!("staged:{nonce}:{}", upload.upload_id().await))
    }

    async fn abort_multipart(&self, org: &str, digest: &Digest, backend_id: &str) {
        let (key, id) = multipart_location(org, digest, backend_id);
        let aborted = match bucket(self.ctx) {
            Ok(bucket) => match bucket.resume_multipart_upload(key, id) {
                Ok(upload) => upload.abort().await,
                Err(err) => Err(err),
            },
            Err(err) => Err(worker::Error::RustError(err.to_string())),
        };
        if let Err(err) = aborted {
            worker::console_warn!("aborting R2 upload {backend_id}: {err}");
        }
    }

    async fn put_part(
        &self,
        org: &str,
        upload: &OpenUpload,
        number: u64,
        length: u64,
        body: RequestBody<'a>,
    ) -> Result<Arrival, StoreError> {
        let Some(body) = body.stream() else {
            return Ok(Arrival::Refused(Received {
                length: 0,
                digest: Digest::of(&[]),
            }));
        };
        let part_number =
            u16::try_from(number).map_err(|_| StoreError::new("part number over u16"))?;
        let (key, id) = multipart_location(org, &upload.digest, &upload.backend_id);
        let multipart = bucket(self.ctx)?
            .resume_multipart_upload(key, id)
            .map_err(failed)?;
        let (tapped, stream) = Tapped::wrap(body.boxed_local(), length);
        let uploaded = multipart.upload_part(part_number, stream).await;
        let received = tapped.received();
        match uploaded {
            Ok(part) => Ok(Arrival::Stored {
                etag: part.etag(),
                received,
            }),
            Err(_) if received.length != length => Ok(Arrival::Refused(received)),
            Err(err) => Err(failed(format!("R2 upload_part: {err}"))),
        }
    }

    /// Completes the upload under its staging key, then streams the
    /// assembled bytes into the artifact's object with R2's own sha256 and
    /// length check (so a mismatch writes nothing there), hashing them on the
    /// way, and removes the staging object.
    async fn complete_multipart(
        &self,
        org: &str,
        upload: &OpenUpload,
    ) -> Result<Received, StoreError> {
        let bucket = bucket(self.ctx)?;
        let (staging, id) = multipart_location(org, &upload.digest, &upload.backend_id);
        bucket
            .resume_multipart_upload(&staging, id)
            .map_err(failed)?
            .complete(
                upload
                    .parts
                    .iter()
                    .map(|(number, etag)| UploadedPart::new(*number as u16, etag.clone())),
            )
            .await
            .map_err(failed)?;
        let object = bucket
            .get(&staging)
            .execute()
            .await
            .map_err(failed)?
            .ok_or_else(|| StoreError::new("completed multipart object is missing"))?;
        let assembled = object
            .body()
            .ok_or_else(|| StoreError::new("completed object without a body"))?
            .stream()
            .map_err(failed)?;
        if staging == object_key(org, &upload.digest) {
            // An upload begun before staging keys: verify in place.
            let mut stream = assembled;
            let mut hasher = Sha256Hasher::new();
            while let Some(chunk) = stream.next().await {
                hasher.update(&chunk.map_err(failed)?);
            }
            let done = hasher.finish();
            return Ok(Received {
                length: done.length,
                digest: done.digest,
            });
        }
        // Sealed on the way when the organisation has encryption on.
        let (received, put) = self
            .put_stream(org, &upload.digest, object.size(), assembled.boxed_local())
            .await?;
        if let Err(err) = put
            && received.digest == upload.digest
            && received.length == upload.plan.size
        {
            return Err(failed(format!("R2 put of the assembled upload: {err}")));
        }
        if let Err(err) = bucket.delete(&staging).await {
            worker::console_warn!("deleting the staging object {staging}: {err}");
        }
        Ok(received)
    }
}

/// Where an upload's parts are assembled: `orgs/{org}/staging/{hex}-{nonce}`.
fn staging_key(org: &str, digest: &Digest, nonce: &str) -> String {
    format!("orgs/{org}/staging/{}-{nonce}", digest.hex())
}

/// The R2 key and multipart upload id of an upload's backend id
/// (`staged:NONCE:ID`; a bare id predates staging keys and assembles in
/// place).
fn multipart_location<'b>(org: &str, digest: &Digest, backend_id: &'b str) -> (String, &'b str) {
    match backend_id
        .strip_prefix("staged:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((nonce, id)) => (staging_key(org, digest, nonce), id),
        None => (object_key(org, digest), backend_id),
    }
}
