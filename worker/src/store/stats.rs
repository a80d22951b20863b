//! What registry statistics read (`outpost_registry::ports::Statistics`):
//! every query scoped by the organisation.

use std::collections::BTreeMap;

use outpost_core::lifecycle::Deployment;
use outpost_core::stats::{ModelHoldings, OrgHoldings, Usage, UsageKind, UsageRow};
use outpost_registry::StoreError;
use outpost_registry::ports::Statistics;

use super::{D1Store, failed};
use crate::db::{self, as_i64};

/// Rows per statement: five parameters each, within D1's 100.
const ROWS_PER_STATEMENT: usize = 20;

/// Adds an isolate's held counts `(org, kind, subject, hour, count)` to
/// their hours' rows, in one batch (all or none).
pub async fn add_usage(
    db: &db::Db,
    rows: &[(String, UsageKind, String, i64, u64)],
) -> worker::Result<()> {
    let mut statements = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let n = i * 5;
                format!(
                    "(?{}, ?{}, ?{}, ?{}, ?{})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                )
            })
            .collect();
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (org, kind, subject, hour, count) in chunk {
            params.extend([
                db::text(org),
                db::text(kind.as_str()),
                db::text(subject),
                db::int(*hour),
                db::int(*count as i64),
            ]);
        }
        statements.push(
            db.prepare(format!(
                "INSERT INTO usage_counts (org, kind, subject, hour, count) VALUES {}
                 ON CONFLICT (org, kind, subject, hour) DO UPDATE SET count = count + excluded.count",
                values.join(", ")
            ))
            .bind(&params)?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

/// Drops usage rows of hours before `before` (ms): statistics look back
/// 30 days at most.
pub async fn drop_usage_before(db: &db::Db, before: i64) -> worker::Result<()> {
    db.prepare("DELETE FROM usage_counts WHERE hour < ?1")
        .bind(&[db::int(before)])?
        .run()
        .await?;
    Ok(())
}

impl Statistics for D1Store<'_> {
    async fn model_holdings(&self, org: &str) -> Result<Vec<ModelHoldings>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            model: String,
            digest: Option<String>,
            size: Option<f64>,
            gzip_size: Option<f64>,
        }
        // One row per version (models without any as one row of nulls).
        let rows = db::all::<Row>(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT m.name AS model, v.digest, v.size,
                            CASE WHEN b.key_version IS NULL AND e.org IS NULL THEN b.gzip_size END
                              AS gzip_size
                     FROM models m
                     LEFT JOIN versions v ON v.org = m.org AND v.model = m.name
                     LEFT JOIN blobs b ON b.org = v.org AND b.digest = v.digest
                     LEFT JOIN org_encryption e ON e.org = m.org
                     WHERE m.org = ?1 ORDER BY m.name",
                )
                .bind(&[db::text(org)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        let mut by_model: BTreeMap<String, ModelHoldings> = BTreeMap::new();
        let mut sizes: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for row in rows {
            let held = by_model
                .entry(row.model.clone())
                .or_insert_with(|| ModelHoldings {
                    model: row.model.clone(),
                    versions: 0,
                    logical_bytes: 0,
                    stored_bytes: 0,
                    compressed_bytes: 0,
                    digests: Default::default(),
                });
            if let (Some(digest), Some(size)) = (row.digest, row.size) {
                let size = as_i64(size) as u64;
                held.versions += 1;
                held.logical_bytes += size;
                held.digests.insert(digest.clone());
                let smallest = row
                    .gzip_size
                    .map_or(size, |copy| size.min(as_i64(copy) as u64));
                sizes.insert((row.model, digest), (size, smallest));
            }
        }
        for ((model, _), (size, smallest)) in sizes {
            if let Some(held) = by_model.get_mut(&model) {
                held.stored_bytes += size;
                held.compressed_bytes += smallest;
            }
        }
        Ok(by_model.into_values().collect())
    }

    async fn org_holdings(&self, org: &str) -> Result<OrgHoldings, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            logical: f64,
            stored: f64,
            compressed: f64,
            artifacts: f64,
        }
        let row = db::first::<Row>(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT (SELECT coalesce(sum(size), 0) FROM versions WHERE org = ?1) AS logical,
                            (SELECT coalesce(sum(size), 0) FROM blobs WHERE org = ?1) AS stored,
                            (SELECT coalesce(sum(CASE WHEN key_version IS NULL
                                  AND NOT EXISTS (SELECT 1 FROM org_encryption WHERE org = ?1)
                                  THEN min(size, coalesce(gzip_size, size)) ELSE size END), 0)
                             FROM blobs WHERE org = ?1) AS compressed,
                            (SELECT count(*) FROM blobs WHERE org = ?1) AS artifacts",
                )
                .bind(&[db::text(org)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?
        .ok_or_else(|| StoreError::new("no answer to the holdings query"))?;
        Ok(OrgHoldings {
            logical_bytes: as_i64(row.logical) as u64,
            stored_bytes: as_i64(row.stored) as u64,
            compressed_bytes: as_i64(row.compressed) as u64,
            artifacts: as_i64(row.artifacts) as u64,
        })
    }

    async fn all_stage_heads(&self, org: &str) -> Result<Vec<Deployment>, StoreError> {
        super::lifecycle::all_heads(self.ctx, org).await
    }

    async fn usage(
        &self,
        org: &str,
        day_from: i64,
        month_from: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            kind: String,
            subject: String,
            day: f64,
            month: f64,
        }
        let rows = db::all::<Row>(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT kind, subject,
                            sum(CASE WHEN hour >= ?2 THEN count ELSE 0 END) AS day,
                            sum(count) AS month
                     FROM usage_counts WHERE org = ?1 AND hour >= ?3
                     GROUP BY kind, subject",
                )
                .bind(&[db::text(org), db::int(day_from), db::int(month_from)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(UsageRow {
                    kind: UsageKind::parse(&row.kind)?,
                    subject: row.subject,
                    usage: Usage {
                        last_24h: as_i64(row.day) as u64,
                        last_30d: as_i64(row.month) as u64,
                    },
                })
            })
            .collect())
    }
}
