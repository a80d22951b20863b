//! Appending to the hash-chained audit log, in the same D1 transaction as the
//! state change it records.
//!
//! The next entry's position and `prev_hash` come from the current last entry;
//! `(org, seq)` is the primary key, so if another request appended first the
//! whole batch (state change included) fails and is retried against the new
//! last entry. A change is therefore never applied without its entry, and no
//! two entries claim the same place in the chain.

use outpost_core::audit::{AuditEntry, Outcome, chain_after};
use serde_json::Value;
use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db::{self, as_i64};

const MAX_ATTEMPTS: usize = 32;

/// What happened, to whom, by whom.
#[derive(Debug, Clone)]
pub struct Event {
    pub org: String,
    pub actor: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub details: Value,
}

#[derive(serde::Deserialize)]
struct LastRow {
    seq: f64,
    hash: String,
}

/// Why a commit failed.
#[derive(Debug)]
pub enum CommitError {
    /// One of the caller's statements hit a constraint (e.g. a duplicate).
    Statement(worker::Error),
    /// Everything else, including running out of retries.
    Other(String),
}

impl From<CommitError> for crate::error::ApiError {
    fn from(err: CommitError) -> Self {
        match err {
            CommitError::Statement(e) => crate::error::ApiError::internal(e),
            CommitError::Other(e) => crate::error::ApiError::internal(e),
        }
    }
}

/// Runs `statements` and appends `event` atomically.
pub async fn commit(
    ctx: &Ctx,
    event: Event,
    statements: Vec<D1PreparedStatement>,
) -> Result<AuditEntry, CommitError> {
    for _ in 0..MAX_ATTEMPTS {
        let last = db::first::<LastRow>(
            &ctx.db
                .prepare("SELECT seq, hash FROM audit_log WHERE org = ?1 ORDER BY seq DESC LIMIT 1")
                .bind(&[db::text(&event.org)])
                .map_err(|e| CommitError::Other(e.to_string()))?,
        )
        .await
        .map_err(|e| CommitError::Other(e.to_string()))?;
        let entry = chain_after(
            AuditEntry {
                org: event.org.clone(),
                seq: 0,
                at: ctx.now,
                actor: event.actor.clone(),
                role: event.role.clone(),
                action: event.action.clone(),
                target: event.target.clone(),
                outcome: event.outcome,
                details: event.details.clone(),
                prev_hash: String::new(),
                hash: String::new(),
            },
            last.as_ref()
                .map(|row| (as_i64(row.seq), row.hash.as_str())),
        );
        let insert = ctx
            .db
            .prepare(
                "INSERT INTO audit_log (org, seq, at, actor, role, action, target, outcome, details, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .bind(&[
                db::text(&entry.org),
                db::int(entry.seq),
                db::int(entry.at),
                db::opt_text(entry.actor.as_deref()),
                db::opt_text(entry.role.as_deref()),
                db::text(&entry.action),
                db::text(&entry.target),
                db::text(entry.outcome.as_str()),
                db::text(&entry.details.to_string()),
                db::text(&entry.prev_hash),
                db::text(&entry.hash),
            ])
            .map_err(|e| CommitError::Other(e.to_string()))?;
        let mut batch = statements.clone();
        batch.push(insert);
        match ctx.db.batch(batch).await {
            Ok(_) => return Ok(entry),
            Err(err) if db::is_unique_violation(&err, "audit_log") => continue,
            Err(err) if db::is_transient(&err) => continue,
            Err(err) => return Err(CommitError::Statement(err)),
        }
    }
    Err(CommitError::Other(format!(
        "could not append to the audit log of {} after {MAX_ATTEMPTS} attempts",
        event.org
    )))
}
