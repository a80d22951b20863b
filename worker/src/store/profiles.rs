//! Reference profiles: one per version, written once.

use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db;

/// The stored profile (JSON text) of a version, if it has one.
pub async fn profile_text(
    ctx: &Ctx,
    org: &str,
    model: &str,
    version: &str,
) -> worker::Result<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Row {
        profile: String,
    }
    Ok(db::first::<Row>(
        &ctx.db
            .prepare(
                "SELECT profile FROM reference_profiles WHERE org = ?1 AND model = ?2 AND version = ?3",
            )
            .bind(&[db::text(org), db::text(model), db::text(version)])?,
    )
    .await?
    .map(|row| row.profile))
}

/// The statement storing a version's profile (`(org, model, version)` is
/// unique).
pub fn insert(
    ctx: &Ctx,
    org: &str,
    (model, version): (&str, &str),
    profile: &str,
    created_by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO reference_profiles (org, model, version, profile, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&[
            db::text(org),
            db::text(model),
            db::text(version),
            db::text(profile),
            db::int(ctx.now),
            db::text(created_by),
        ])
}
