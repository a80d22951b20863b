//! Ground truth in D1 (`0014_ground_truth.sql`): kept predictions, outcomes
//! given for them, and device outcome windows. Inserts that must not repeat
//! are `INSERT OR IGNORE` on their keys, so retries are harmless; a batch
//! of outcomes is one statement over a bound JSON array (the SQL text never
//! changes with the input), so it is stored whole or not at all.

use outpost_core::lifecycle::Stage;
use outpost_core::quality::{LabelledOutcome, OutcomeWindow, Predicted};
use outpost_registry::error::StoreError;
use outpost_registry::ports::{FeedbackRow, Outcomes, PredictionRecord};

use super::{D1Store, failed};
use crate::db;

#[derive(serde::Deserialize)]
struct PredictionRow {
    id: String,
    version: String,
    stage: String,
    at: f64,
    rows: String,
}

#[derive(serde::Deserialize)]
struct JustText {
    text: String,
}

impl Outcomes for D1Store<'_> {
    async fn insert_prediction(
        &self,
        org: &str,
        record: &PredictionRecord,
    ) -> Result<(), StoreError> {
        let rows = serde_json::to_string(&record.rows).map_err(failed)?;
        self.ctx
            .db
            .prepare(
                "INSERT INTO predictions (org, id, model, version, stage, at, rows)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&[
                db::text(org),
                db::text(&record.id),
                db::text(&record.model),
                db::text(&record.version),
                db::text(record.stage.as_str()),
                db::int(record.at),
                db::text(&rows),
            ])
            .map_err(failed)?
            .run()
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn predictions(
        &self,
        org: &str,
        model: &str,
        ids: &[&str],
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        let ids_json = serde_json::to_string(ids).map_err(failed)?;
        let rows: Vec<PredictionRow> = db::all(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT id, version, stage, at, rows FROM predictions
                     WHERE org = ?1 AND model = ?2 AND id IN (SELECT value FROM json_each(?3))",
                )
                .bind(&[db::text(org), db::text(model), db::text(&ids_json)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        rows.into_iter()
            .map(|row| {
                Ok(PredictionRecord {
                    stage: row.stage.parse::<Stage>().map_err(failed)?,
                    rows: serde_json::from_str::<Vec<Predicted>>(&row.rows).map_err(failed)?,
                    id: row.id,
                    model: model.to_owned(),
                    version: row.version,
                    at: db::as_i64(row.at),
                })
            })
            .collect()
    }

    async fn insert_feedback(
        &self,
        org: &str,
        model: &str,
        rows: &[FeedbackRow],
    ) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.prediction_id, "row": r.row, "version": r.version,
                    "stage": r.stage.as_str(), "at": r.predicted_at,
                    "outcome": serde_json::to_string(&r.outcome).unwrap_or_default(),
                })
            })
            .collect();
        let items = serde_json::to_string(&items).map_err(failed)?;
        let result = self
            .ctx
            .db
            .prepare(
                "INSERT OR IGNORE INTO feedback
                   (org, model, prediction_id, row, version, stage, predicted_at, received_at, outcome)
                 SELECT ?1, ?2, json_extract(value, '$.id'), json_extract(value, '$.row'),
                        json_extract(value, '$.version'), json_extract(value, '$.stage'),
                        json_extract(value, '$.at'), ?3, json_extract(value, '$.outcome')
                 FROM json_each(?4)",
            )
            .bind(&[
                db::text(org),
                db::text(model),
                db::int(self.ctx.now),
                db::text(&items),
            ])
            .map_err(failed)?
            .run()
            .await
            .map_err(failed)?;
        let changes = result
            .meta()
            .map_err(failed)?
            .and_then(|meta| meta.changes)
            .ok_or_else(|| failed("D1 did not say how many outcomes it stored"))?;
        Ok(changes as u64)
    }

    async fn insert_outcome_window(
        &self,
        org: &str,
        (model, version, stage): (&str, &str, Stage),
        id: &str,
        window: &OutcomeWindow,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(window).map_err(failed)?;
        let result = self
            .ctx
            .db
            .prepare(
                "INSERT OR IGNORE INTO outcome_windows (org, model, id, version, stage, received_at, window)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&[
                db::text(org),
                db::text(model),
                db::text(id),
                db::text(version),
                db::text(stage.as_str()),
                db::int(self.ctx.now),
                db::text(&text),
            ])
            .map_err(failed)?
            .run()
            .await
            .map_err(failed)?;
        let changes = result
            .meta()
            .map_err(failed)?
            .and_then(|meta| meta.changes)
            .ok_or_else(|| failed("D1 did not say whether it stored the window"))?;
        Ok(changes > 0)
    }

    async fn version_outcomes(
        &self,
        org: &str,
        (model, version): (&str, &str),
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<LabelledOutcome>, StoreError> {
        let rows: Vec<JustText> = db::all(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT outcome AS text FROM feedback
                     WHERE org = ?1 AND model = ?2 AND version = ?3 AND predicted_at >= ?4
                       AND (?5 IS NULL OR stage = ?5)
                     LIMIT 200000",
                )
                .bind(&[
                    db::text(org),
                    db::text(model),
                    db::text(version),
                    db::int(since),
                    db::opt_text(stage.map(Stage::as_str)),
                ])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        rows.iter()
            .map(|row| serde_json::from_str(&row.text).map_err(failed))
            .collect()
    }

    async fn version_outcome_windows(
        &self,
        org: &str,
        (model, version): (&str, &str),
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<OutcomeWindow>, StoreError> {
        let rows: Vec<JustText> = db::all(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT window AS text FROM outcome_windows
                     WHERE org = ?1 AND model = ?2 AND version = ?3 AND received_at >= ?4
                       AND (?5 IS NULL OR stage = ?5)
                     LIMIT 20000",
                )
                .bind(&[
                    db::text(org),
                    db::text(model),
                    db::text(version),
                    db::int(since),
                    db::opt_text(stage.map(Stage::as_str)),
                ])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        rows.iter()
            .map(|row| serde_json::from_str(&row.text).map_err(failed))
            .collect()
    }
}

/// Drops kept predictions older than `before` (ms) — their outcomes stay —
/// across organisations; how many.
pub async fn drop_old_predictions(ctx: &crate::ctx::Ctx, before: i64) -> worker::Result<u64> {
    let result = ctx
        .db
        .prepare("DELETE FROM predictions WHERE at < ?1")
        .bind(&[db::int(before)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) as u64)
}
