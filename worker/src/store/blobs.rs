//! Artifact rows (`blobs`): one per organisation and digest; the bytes are
//! the R2 object `orgs/{org}/sha256/{hex}`.

use outpost_core::digest::Digest;
use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db;

#[derive(Debug, serde::Deserialize)]
pub struct BlobRow {
    pub size: f64,
}

pub async fn find(ctx: &Ctx, org: &str, digest: &Digest) -> worker::Result<Option<BlobRow>> {
    db::first::<BlobRow>(
        &ctx.db
            .prepare("SELECT size FROM blobs WHERE org = ?1 AND digest = ?2")
            .bind(&[db::text(org), db::text(&digest.to_string())])?,
    )
    .await
}

/// The statement recording an artifact; identical content recorded
/// concurrently keeps the first row.
pub fn insert(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    size: u64,
    created_by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO blobs (org, digest, size, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (org, digest) DO NOTHING",
        )
        .bind(&[
            db::text(org),
            db::text(&digest.to_string()),
            db::int(size as i64),
            db::int(ctx.now),
            db::text(created_by),
        ])
}
