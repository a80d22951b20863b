//! Models: rows with their version count and highest version.

use outpost_core::api::{CreateModelRequest, ModelRecord};
use outpost_core::version::PrimaryMetric;
use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db::{self, as_i64};

#[derive(serde::Deserialize)]
pub struct ModelRow {
    name: String,
    description: String,
    owner: Option<String>,
    tags: String,
    primary_metric: Option<String>,
    created_at: f64,
    created_by: Option<String>,
    version_count: f64,
    latest_version: Option<String>,
}

impl ModelRow {
    pub fn primary_metric(&self) -> Option<PrimaryMetric> {
        self.primary_metric
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    }

    pub fn record(self) -> ModelRecord {
        ModelRecord {
            primary_metric: self.primary_metric(),
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            name: self.name,
            description: self.description,
            owner: self.owner,
            created_at: as_i64(self.created_at),
            created_by: self.created_by,
            version_count: self.version_count as u64,
            latest_version: self.latest_version,
        }
    }
}

/// Columns of a model with its version count and highest version.
const MODEL_SELECT: &str =
    "SELECT m.name, m.description, m.owner, m.tags, m.primary_metric, m.created_at, m.created_by,
        (SELECT COUNT(*) FROM versions v WHERE v.org = m.org AND v.model = m.name) AS version_count,
        (SELECT v.version FROM versions v WHERE v.org = m.org AND v.model = m.name
           ORDER BY v.precedence DESC LIMIT 1) AS latest_version
     FROM models m";

/// One model of `org`.
pub async fn model(ctx: &Ctx, org: &str, name: &str) -> worker::Result<Option<ModelRow>> {
    db::first::<ModelRow>(
        &ctx.db
            .prepare(format!("{MODEL_SELECT} WHERE m.org = ?1 AND m.name = ?2"))
            .bind(&[db::text(org), db::text(name)])?,
    )
    .await
}

/// A page of `org`'s models by name.
pub async fn page(ctx: &Ctx, org: &str, limit: u32, offset: u64) -> worker::Result<Vec<ModelRow>> {
    db::all::<ModelRow>(
        &ctx.db
            .prepare(format!(
                "{MODEL_SELECT} WHERE m.org = ?1 ORDER BY m.name LIMIT ?2 OFFSET ?3"
            ))
            .bind(&[
                db::text(org),
                db::int(i64::from(limit)),
                db::int(offset as i64),
            ])?,
    )
    .await
}

/// The statement creating a model (`(org, name)` is unique).
pub fn insert(
    ctx: &Ctx,
    org: &str,
    body: &CreateModelRequest,
    tags: &str,
    primary_metric: Option<&str>,
    created_by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO models (org, name, description, owner, tags, primary_metric, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            db::text(org),
            db::text(&body.name),
            db::text(&body.description),
            db::opt_text(body.owner.as_deref()),
            db::text(tags),
            db::opt_text(primary_metric),
            db::int(ctx.now),
            db::text(created_by),
        ])
}
