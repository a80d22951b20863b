//! Open multipart uploads and the parts they received (R2 holds the
//! parts' bytes).

use outpost_core::digest::Digest;
use outpost_core::upload::PartPlan;
use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db;

#[derive(Debug, serde::Deserialize)]
pub struct UploadRow {
    pub id: String,
    pub digest: String,
    pub size: f64,
    pub part_size: f64,
    pub r2_upload_id: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct PartRow {
    pub part_number: f64,
    pub etag: String,
}

const UPLOAD_COLUMNS: &str = "id, digest, size, part_size, r2_upload_id";

pub async fn by_id(ctx: &Ctx, org: &str, id: &str) -> worker::Result<Option<UploadRow>> {
    db::first::<UploadRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE org = ?1 AND id = ?2"
            ))
            .bind(&[db::text(org), db::text(id)])?,
    )
    .await
}

/// The open upload of a digest, if any (one per digest: asking again resumes).
pub async fn by_digest(ctx: &Ctx, org: &str, digest: &Digest) -> worker::Result<Option<UploadRow>> {
    db::first::<UploadRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE org = ?1 AND digest = ?2"
            ))
            .bind(&[db::text(org), db::text(&digest.to_string())])?,
    )
    .await
}

/// The parts an upload received, by number.
pub async fn parts(ctx: &Ctx, org: &str, id: &str) -> worker::Result<Vec<PartRow>> {
    db::all::<PartRow>(
        &ctx.db
            .prepare("SELECT part_number, etag FROM upload_parts WHERE org = ?1 AND upload_id = ?2 ORDER BY part_number")
            .bind(&[db::text(org), db::text(id)])?,
    )
    .await
}

/// The statement opening an upload of `digest` with `plan`.
pub fn insert(
    ctx: &Ctx,
    org: &str,
    (id, digest): (&str, &Digest),
    plan: &PartPlan,
    r2_upload_id: &str,
    created_by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO uploads (org, id, digest, size, part_size, r2_upload_id, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            db::text(org),
            db::text(id),
            db::text(&digest.to_string()),
            db::int(plan.size as i64),
            db::int(plan.part_size as i64),
            db::text(r2_upload_id),
            db::int(ctx.now),
            db::text(created_by),
        ])
}

/// Records (or replaces) part `number` with its R2 etag, declared sha256 and
/// length.
pub async fn record_part(
    ctx: &Ctx,
    org: &str,
    upload: &str,
    number: u64,
    (etag, sha256, length): (&str, &Digest, u64),
) -> worker::Result<()> {
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
        ])?
        .run()
        .await?;
    Ok(())
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
