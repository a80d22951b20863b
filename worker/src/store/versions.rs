//! Version rows: registration, reads, tags, search.

use outpost_core::api::{VersionRecord, VersionStatus};
use outpost_core::query::{MetricFilter, SortKey, VersionQuery, metric_json_path};
use outpost_registry::StoreError;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::failed;
use crate::ctx::Ctx;
use crate::db::{self, as_i64};

const VERSION_COLUMNS: &str = "v.model, v.version, v.digest, v.size, v.format, v.framework, v.schema, v.metrics, v.params,
     v.dataset_version, v.parent_version, v.tags, v.notes, v.author, v.created_at, v.status, v.status_reason";

#[derive(Debug, serde::Deserialize)]
pub struct VersionRow {
    pub model: String,
    pub version: String,
    pub digest: String,
    pub size: f64,
    pub format: String,
    pub framework: Option<String>,
    pub schema: Option<String>,
    pub metrics: String,
    pub params: String,
    pub dataset_version: Option<String>,
    pub parent_version: Option<String>,
    pub tags: String,
    pub notes: String,
    pub author: String,
    pub created_at: f64,
    pub status: String,
    pub status_reason: Option<String>,
}

impl VersionRow {
    pub fn record(self) -> Result<VersionRecord, StoreError> {
        let bad = |what: &str| {
            StoreError::new(format!(
                "stored {what} of {}@{} is corrupt",
                self.model, self.version
            ))
        };
        Ok(VersionRecord {
            digest: self.digest.parse().map_err(|_| bad("digest"))?,
            format: self.format.parse().map_err(|_| bad("format"))?,
            schema: self
                .schema
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| bad("schema"))?,
            metrics: serde_json::from_str(&self.metrics).map_err(|_| bad("metrics"))?,
            params: serde_json::from_str(&self.params).map_err(|_| bad("params"))?,
            tags: serde_json::from_str(&self.tags).map_err(|_| bad("tags"))?,
            status: match self.status.as_str() {
                "unsafe" => VersionStatus::Unsafe,
                _ => VersionStatus::Ready,
            },
            size: as_i64(self.size) as u64,
            created_at: as_i64(self.created_at),
            model: self.model,
            version: self.version,
            framework: self.framework,
            dataset_version: self.dataset_version,
            parent_version: self.parent_version,
            notes: self.notes,
            author: self.author,
            status_reason: self.status_reason,
        })
    }
}

pub async fn version(
    ctx: &Ctx,
    org: &str,
    model: &str,
    version: &str,
) -> worker::Result<Option<VersionRow>> {
    db::first::<VersionRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.org = ?1 AND v.model = ?2 AND v.version = ?3"
            ))
            .bind(&[db::text(org), db::text(model), db::text(version)])?,
    )
    .await
}

/// The highest registered version and its value at the metric JSON `path`.
#[derive(Debug, serde::Deserialize)]
pub struct Highest {
    pub version: String,
    pub metric: Option<f64>,
}

pub async fn highest(
    ctx: &Ctx,
    org: &str,
    model: &str,
    path: &str,
) -> worker::Result<Option<Highest>> {
    db::first::<Highest>(
        &ctx.db
            .prepare(
                "SELECT version, json_extract(metrics, ?3) AS metric FROM versions WHERE org = ?1 AND model = ?2
                 ORDER BY precedence DESC LIMIT 1",
            )
            .bind(&[db::text(org), db::text(model), db::text(path)])?,
    )
    .await
}

/// The statement registering a version (`(org, model, version)` is unique).
pub fn insert(
    ctx: &Ctx,
    org: &str,
    version: &semver::Version,
    record: &VersionRecord,
) -> Result<D1PreparedStatement, StoreError> {
    ctx
        .db
        .prepare(
            "INSERT INTO versions (org, model, version, major, minor, patch, prerelease, digest, size, format,
                framework, schema, metrics, params, dataset_version, parent_version, tags, notes, author,
                created_at, status, status_reason, precedence)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        )
        .bind(&[
            db::text(org),
            db::text(&record.model),
            db::text(&record.version),
            db::int(i64::try_from(version.major).unwrap_or(i64::MAX)),
            db::int(i64::try_from(version.minor).unwrap_or(i64::MAX)),
            db::int(i64::try_from(version.patch).unwrap_or(i64::MAX)),
            db::text(version.pre.as_str()),
            db::text(&record.digest.to_string()),
            db::int(record.size as i64),
            db::text(record.format.as_str()),
            db::opt_text(record.framework.as_deref()),
            record.schema.as_ref().map_or(JsValue::NULL, |s| db::text(&s.to_string())),
            db::text(&serde_json::to_string(&record.metrics).map_err(failed)?),
            db::text(&Value::Object(record.params.clone()).to_string()),
            db::opt_text(record.dataset_version.as_deref()),
            db::opt_text(record.parent_version.as_deref()),
            db::text(&serde_json::to_string(&record.tags).map_err(failed)?),
            db::text(&record.notes),
            db::text(&record.author),
            db::int(record.created_at),
            db::text(record.status.as_str()),
            db::opt_text(record.status_reason.as_deref()),
            db::text(&outpost_core::version::precedence_key(version)),
        ])
        .map_err(failed)
}

/// The statement replacing a version's tags, compare-and-set on the old
/// value so concurrent edits cannot lose one.
pub fn set_tags(
    ctx: &Ctx,
    org: &str,
    (model, version): (&str, &str),
    old_tags: &str,
    new_tags: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare("UPDATE versions SET tags = ?1 WHERE org = ?2 AND model = ?3 AND version = ?4 AND tags = ?5")
        .bind(&[
            db::text(new_tags),
            db::text(org),
            db::text(model),
            db::text(version),
            db::text(old_tags),
        ])
}

/// Builds the search statement; every value is bound, only fixed SQL
/// fragments are concatenated.
fn search_statement(
    ctx: &Ctx,
    org: &str,
    query: &VersionQuery,
) -> worker::Result<D1PreparedStatement> {
    let mut sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v JOIN models m ON m.org = v.org AND m.name = v.model WHERE v.org = ?1"
    );
    let mut args: Vec<JsValue> = vec![db::text(org)];
    let mut bind = |sql: &mut String, fragment: &str, value: JsValue| {
        args.push(value);
        sql.push_str(&fragment.replace("?#", &format!("?{}", args.len())));
    };
    if let Some(model) = &query.model {
        bind(&mut sql, " AND v.model = ?#", db::text(model));
    }
    for tag in &query.tags {
        bind(
            &mut sql,
            " AND EXISTS (SELECT 1 FROM json_each(v.tags) t WHERE t.value = ?#)",
            db::text(tag),
        );
    }
    for MetricFilter { metric, op, value } in &query.metrics {
        bind(
            &mut sql,
            " AND json_extract(v.metrics, ?#)",
            db::text(&metric_json_path(metric)),
        );
        bind(&mut sql, &format!(" {} ?#", op.sql()), db::real(*value));
    }
    if let Some(format) = &query.format {
        bind(&mut sql, " AND v.format = ?#", db::text(format));
    }
    if let Some(author) = &query.author {
        bind(&mut sql, " AND v.author = ?#", db::text(author));
    }
    if let Some(status) = &query.status {
        bind(&mut sql, " AND v.status = ?#", db::text(status));
    }
    if let Some(after) = query.created_after {
        bind(&mut sql, " AND v.created_at >= ?#", db::int(after));
    }
    if let Some(before) = query.created_before {
        bind(&mut sql, " AND v.created_at < ?#", db::int(before));
    }
    if let Some(text) = &query.text {
        bind(
            &mut sql,
            " AND (instr(lower(v.model), lower(?#)) > 0 OR instr(lower(m.description), lower(?#)) > 0 OR instr(lower(v.notes), lower(?#)) > 0)",
            db::text(text),
        );
    }
    let dir = if query.descending { "DESC" } else { "ASC" };
    // SemVer §11 precedence (outpost_core::version::precedence_key).
    let semver = format!("v.precedence {dir}");
    match &query.sort {
        SortKey::Created => {
            sql.push_str(&format!(" ORDER BY v.created_at {dir}, v.model, {semver}"))
        }
        SortKey::Version => sql.push_str(&format!(" ORDER BY {semver}, v.model")),
        SortKey::Name => sql.push_str(&format!(" ORDER BY v.model {dir}, {semver}")),
        SortKey::Metric(metric) => {
            bind(
                &mut sql,
                " ORDER BY json_extract(v.metrics, ?#)",
                db::text(&metric_json_path(metric)),
            );
            sql.push_str(&format!(" {dir} NULLS LAST, v.model, {semver}"));
        }
    }
    bind(&mut sql, " LIMIT ?#", db::int(i64::from(query.limit)));
    bind(&mut sql, " OFFSET ?#", db::int(query.offset as i64));
    ctx.db.prepare(sql).bind(&args)
}

/// The versions a search matches.
pub async fn search(ctx: &Ctx, org: &str, query: &VersionQuery) -> worker::Result<Vec<VersionRow>> {
    db::all::<VersionRow>(&search_statement(ctx, org, query)?).await
}
