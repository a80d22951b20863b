//! Backups and restores (`outpost_registry::backup`) over D1 and R2.
//!
//! SQLite does the row work: a backup page is read as one `json_array(…)`
//! per row (the values exactly as stored), and a restore page is written
//! by one `INSERT … SELECT … FROM json_each(?1)` statement, so the Worker
//! never holds a row as anything but text. Table and column names come
//! from `outpost_core::backup` and from the database's own `PRAGMA
//! table_info`, never from a request.

use outpost_core::backup::{RestorePlan, Table};
use outpost_core::digest::{Digest, object_key};
use outpost_registry::StoreError;
use outpost_registry::backup::{Backups, RawRows, RestoreState};

use super::{D1Store, failed};
use crate::db;

#[derive(serde::Deserialize)]
struct Column {
    name: String,
}

#[derive(serde::Deserialize)]
struct RowText {
    r: f64,
    row: String,
}

#[derive(serde::Deserialize)]
struct Count {
    n: f64,
}

#[derive(serde::Deserialize)]
struct State {
    started_at: f64,
    finished_at: Option<f64>,
}

#[derive(serde::Deserialize)]
struct Artifact {
    digest: String,
}

impl Backups for D1Store<'_> {
    async fn table_columns(&self, table: &Table) -> Result<Vec<String>, StoreError> {
        let columns: Vec<Column> = db::all(
            &self
                .ctx
                .db
                .prepare(format!("PRAGMA table_info({})", table.name)),
        )
        .await
        .map_err(failed)?;
        Ok(columns.into_iter().map(|c| c.name).collect())
    }

    async fn backup_rows(
        &self,
        org: &str,
        table: &Table,
        expressions: &[String],
        (after, limit): (i64, u32),
    ) -> Result<RawRows, StoreError> {
        let sql = format!(
            "SELECT rowid AS r, json_array({}) AS row FROM {} WHERE {} = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3",
            expressions.join(", "),
            table.name,
            table.org_column
        );
        let rows: Vec<RowText> = db::all(
            &self
                .ctx
                .db
                .prepare(sql)
                .bind(&[db::text(org), db::int(after), db::int(i64::from(limit))])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|row| db::as_i64(row.r)))
            .flatten();
        Ok(RawRows {
            rows: rows.into_iter().map(|row| row.row).collect(),
            next,
        })
    }

    async fn restore_state(&self, org: &str) -> Result<RestoreState, StoreError> {
        let restore: Option<State> = db::first(
            &self
                .ctx
                .db
                .prepare("SELECT started_at, finished_at FROM restores WHERE org = ?1")
                .bind(&[db::text(org)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        if let Some(State {
            started_at,
            finished_at: None,
        }) = restore
        {
            return Ok(RestoreState::Restoring {
                started_at: db::as_i64(started_at),
            });
        }
        let exists = restore.is_some()
            || super::admin::org(self.ctx, org)
                .await
                .map_err(failed)?
                .is_some();
        Ok(if exists {
            RestoreState::Exists
        } else {
            RestoreState::Absent
        })
    }

    async fn begin_restore(&self, org: &str, now: i64) -> Result<bool, StoreError> {
        let result = self
            .ctx
            .db
            .prepare(
                "INSERT INTO restores (org, started_at) SELECT ?1, ?2
                 WHERE NOT EXISTS (SELECT 1 FROM organizations WHERE name = ?1)
                 ON CONFLICT (org) DO NOTHING",
            )
            .bind(&[db::text(org), db::int(now)])
            .map_err(failed)?
            .run()
            .await
            .map_err(failed)?;
        let changed = result
            .meta()
            .map_err(failed)?
            .and_then(|meta| meta.changes)
            .unwrap_or(0);
        Ok(changed > 0)
    }

    async fn rows_held(&self, org: &str, table: &Table) -> Result<u64, StoreError> {
        let count: Option<Count> = db::first(
            &self
                .ctx
                .db
                .prepare(format!(
                    "SELECT count(*) AS n FROM {} WHERE {} = ?1",
                    table.name, table.org_column
                ))
                .bind(&[db::text(org)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        Ok(count.map_or(0, |c| c.n as u64))
    }

    async fn insert_rows(
        &self,
        org: &str,
        plan: &RestorePlan,
        rows: &str,
    ) -> Result<Result<u64, String>, StoreError> {
        let statement = self
            .ctx
            .db
            .prepare(plan.insert_sql())
            .bind(&[db::text(rows), db::text(org)])
            .map_err(failed)?;
        match statement.run().await {
            Ok(result) => Ok(Ok(result
                .meta()
                .map_err(failed)?
                .and_then(|meta| meta.changes)
                .unwrap_or(0) as u64)),
            // The rows' fault (a row already there, a missing parent, a
            // value a CHECK refuses): the caller's to hear about.
            Err(err) if err.to_string().contains("constraint failed") => Ok(Err(err.to_string())),
            Err(err) => Err(failed(err)),
        }
    }

    async fn unstored_artifacts(&self, org: &str) -> Result<(u64, Vec<Digest>), StoreError> {
        let rows: Vec<Artifact> = db::all(
            &self
                .ctx
                .db
                .prepare("SELECT digest FROM blobs WHERE org = ?1 ORDER BY digest")
                .bind(&[db::text(org)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        let bucket = super::blobs::bucket(self.ctx)?;
        let mut missing = Vec::new();
        for row in &rows {
            let digest: Digest = row.digest.parse().map_err(failed)?;
            // A restore stores artifacts in plaintext; the cron seals them
            // once the organisation seals.
            if bucket
                .head(object_key(org, &digest))
                .await
                .map_err(failed)?
                .is_none()
            {
                missing.push(digest);
            }
        }
        Ok((rows.len() as u64, missing))
    }

    async fn finish_restore(&self, org: &str, now: i64) -> Result<(), StoreError> {
        self.ctx
            .db
            .prepare("UPDATE restores SET finished_at = ?2 WHERE org = ?1 AND finished_at IS NULL")
            .bind(&[db::text(org), db::int(now)])
            .map_err(failed)?
            .run()
            .await
            .map_err(failed)?;
        Ok(())
    }
}
