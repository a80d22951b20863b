//! Monitors in D1 (`0015_monitors.sql`): one row per model and stage, and
//! the checks the cron records. Setting a monitor starts its episodes over;
//! a check replaces the episodes and appends one row per version.

use outpost_core::lifecycle::Stage;
use outpost_registry::error::StoreError;
use outpost_registry::ports::{MonitorCheck, Monitors, StoredMonitor};
use worker::D1PreparedStatement;

use super::{D1Store, failed};
use crate::ctx::Ctx;
use crate::db;

#[derive(serde::Deserialize)]
struct MonitorRow {
    org: String,
    model: String,
    stage: String,
    policy: String,
    episodes: String,
    checked_at: Option<f64>,
}

impl MonitorRow {
    fn parse(self) -> Result<StoredMonitor, StoreError> {
        Ok(StoredMonitor {
            stage: self.stage.parse::<Stage>().map_err(failed)?,
            policy: serde_json::from_str(&self.policy).map_err(failed)?,
            episodes: serde_json::from_str(&self.episodes).map_err(failed)?,
            checked_at: self.checked_at.map(db::as_i64),
            org: self.org,
            model: self.model,
        })
    }
}

#[derive(serde::Deserialize)]
struct CheckRow {
    version: String,
    at: f64,
    evaluation: String,
    raised: String,
}

const COLUMNS: &str = "org, model, stage, policy, episodes, checked_at";

impl Monitors for D1Store<'_> {
    async fn monitor(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Option<StoredMonitor>, StoreError> {
        let statement = self
            .ctx
            .db
            .prepare(format!(
                "SELECT {COLUMNS} FROM monitors WHERE org = ?1 AND model = ?2 AND stage = ?3"
            ))
            .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])
            .map_err(failed)?;
        db::first::<MonitorRow>(&statement)
            .await
            .map_err(failed)?
            .map(MonitorRow::parse)
            .transpose()
    }

    async fn all_monitors(&self) -> Result<Vec<StoredMonitor>, StoreError> {
        let rows: Vec<MonitorRow> = db::all(&self.ctx.db.prepare(format!(
            "SELECT {COLUMNS} FROM monitors ORDER BY org, model, stage"
        )))
        .await
        .map_err(failed)?;
        rows.into_iter().map(MonitorRow::parse).collect()
    }

    async fn monitor_checks(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        limit: usize,
    ) -> Result<Vec<MonitorCheck>, StoreError> {
        let rows: Vec<CheckRow> = db::all(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT version, at, evaluation, raised FROM monitor_checks
                     WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY id DESC LIMIT ?4",
                )
                .bind(&[
                    db::text(org),
                    db::text(model),
                    db::text(stage.as_str()),
                    db::int(limit as i64),
                ])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        rows.into_iter()
            .map(|row| {
                Ok(MonitorCheck {
                    version: row.version,
                    at: db::as_i64(row.at),
                    evaluation: serde_json::from_str(&row.evaluation).map_err(failed)?,
                    raised: serde_json::from_str(&row.raised).map_err(failed)?,
                })
            })
            .collect()
    }
}

/// The statement setting a stage's monitor (its episodes start over).
pub fn set(
    ctx: &Ctx,
    org: &str,
    (model, stage): (&str, Stage),
    policy: &str,
    by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO monitors (org, model, stage, policy, episodes, checked_at, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, '{}', NULL, ?5, ?6)
             ON CONFLICT (org, model, stage) DO UPDATE SET policy = excluded.policy,
               episodes = '{}', checked_at = NULL, updated_at = excluded.updated_at,
               updated_by = excluded.updated_by",
        )
        .bind(&[
            db::text(org),
            db::text(model),
            db::text(stage.as_str()),
            db::text(policy),
            db::int(ctx.now),
            db::text(by),
        ])
}

/// The statements recording one check: the episodes after it, and a row per
/// version checked.
pub fn record(
    ctx: &Ctx,
    org: &str,
    (model, stage): (&str, Stage),
    episodes: &str,
    checks: &[MonitorCheck],
) -> Result<Vec<D1PreparedStatement>, StoreError> {
    let mut statements = vec![
        ctx.db
            .prepare(
                "UPDATE monitors SET episodes = ?1, checked_at = ?2
                 WHERE org = ?3 AND model = ?4 AND stage = ?5",
            )
            .bind(&[
                db::text(episodes),
                db::int(checks.first().map_or(ctx.now, |c| c.at)),
                db::text(org),
                db::text(model),
                db::text(stage.as_str()),
            ])
            .map_err(failed)?,
    ];
    for check in checks {
        statements.push(
            ctx.db
                .prepare(
                    "INSERT INTO monitor_checks (org, model, stage, version, at, evaluation, raised)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(&[
                    db::text(org),
                    db::text(model),
                    db::text(stage.as_str()),
                    db::text(&check.version),
                    db::int(check.at),
                    db::text(&serde_json::to_string(&check.evaluation).map_err(failed)?),
                    db::text(&serde_json::to_string(&check.raised).map_err(failed)?),
                ])
                .map_err(failed)?,
        );
    }
    Ok(statements)
}

/// The organisation's monitors (for `/metrics`).
pub async fn of_org(ctx: &Ctx, org: &str) -> Result<Vec<StoredMonitor>, StoreError> {
    let rows: Vec<MonitorRow> = db::all(
        &ctx.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM monitors WHERE org = ?1 ORDER BY model, stage"
            ))
            .bind(&[db::text(org)])
            .map_err(failed)?,
    )
    .await
    .map_err(failed)?;
    rows.into_iter().map(MonitorRow::parse).collect()
}
