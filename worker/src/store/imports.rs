//! Import records (`outpost_registry::imports`): one row per export imported
//! into a model, keyed by the export's identity.

use outpost_core::bundle::ImportRecord;
use outpost_core::digest::Digest;
use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db;

#[derive(serde::Deserialize)]
struct Row {
    record: String,
}

fn parse(row: Row) -> worker::Result<ImportRecord> {
    serde_json::from_str(&row.record)
        .map_err(|err| worker::Error::RustError(format!("stored import record: {err}")))
}

/// The record of the import with this identity, if any.
pub async fn record(
    ctx: &Ctx,
    org: &str,
    model: &str,
    id: &Digest,
) -> worker::Result<Option<ImportRecord>> {
    db::first::<Row>(
        &ctx.db
            .prepare("SELECT record FROM imports WHERE org = ?1 AND model = ?2 AND id = ?3")
            .bind(&[db::text(org), db::text(model), db::text(&id.to_string())])?,
    )
    .await?
    .map(parse)
    .transpose()
}

/// Every import into the model, oldest first.
pub async fn records(ctx: &Ctx, org: &str, model: &str) -> worker::Result<Vec<ImportRecord>> {
    db::all::<Row>(
        &ctx.db
            .prepare(
                "SELECT record FROM imports WHERE org = ?1 AND model = ?2 ORDER BY imported_at, id",
            )
            .bind(&[db::text(org), db::text(model)])?,
    )
    .await?
    .into_iter()
    .map(parse)
    .collect()
}

/// The statement recording an import (`(org, model, id)` is unique).
pub fn insert(ctx: &Ctx, org: &str, record: &ImportRecord) -> worker::Result<D1PreparedStatement> {
    let json = serde_json::to_string(record)
        .map_err(|err| worker::Error::RustError(format!("import record: {err}")))?;
    ctx.db
        .prepare(
            "INSERT INTO imports (org, model, id, imported_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&[
            db::text(org),
            db::text(&record.model),
            db::text(&record.id.to_string()),
            db::int(record.imported_at),
            db::text(&json),
        ])
}
