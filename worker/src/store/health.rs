//! What `/readyz` asks D1: the schema version and the last cron run.

use worker::D1Database;

use crate::db;

#[derive(Debug, serde::Deserialize)]
pub struct MigrationRow {
    pub name: String,
}

/// The newest applied migration (it doubles as the schema version).
pub async fn schema_version(db: &D1Database) -> worker::Result<Option<MigrationRow>> {
    db::first::<MigrationRow>(
        &db.prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1"),
    )
    .await
}

#[derive(Debug, serde::Deserialize)]
pub struct ScheduledRunRow {
    pub cron: String,
    pub finished_at: f64,
}

pub async fn last_scheduled_run(db: &D1Database) -> worker::Result<Option<ScheduledRunRow>> {
    db::first::<ScheduledRunRow>(
        &db.prepare("SELECT cron, finished_at FROM scheduled_runs ORDER BY id DESC LIMIT 1"),
    )
    .await
}
