//! Reading the audit log (writing is `crate::store::audit::commit`, with the change
//! it records).

use outpost_core::audit::{AuditEntry, Outcome};
use outpost_registry::StoreError;
use wasm_bindgen::JsValue;

use super::failed;
use crate::ctx::Ctx;
use crate::db::{self, as_i64};

/// Which entries to list: exact matches on `action`, `outcome`, `actor`,
/// `target` prefixes, entries after sequence numbers, at most `limit`.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub equal: Vec<(&'static str, String)>,
    pub target_prefix: Vec<String>,
    pub after: Vec<i64>,
    pub limit: u32,
}

#[derive(serde::Deserialize)]
struct Row {
    org: String,
    seq: f64,
    at: f64,
    actor: Option<String>,
    role: Option<String>,
    action: String,
    target: String,
    outcome: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl Row {
    fn entry(self) -> AuditEntry {
        AuditEntry {
            org: self.org,
            seq: as_i64(self.seq),
            at: as_i64(self.at),
            actor: self.actor,
            role: self.role,
            action: self.action,
            target: self.target,
            outcome: if self.outcome == "denied" {
                Outcome::Denied
            } else {
                Outcome::Ok
            },
            // Unparseable details are kept as text: verification will flag them.
            details: serde_json::from_str(&self.details)
                .unwrap_or(serde_json::Value::String(self.details)),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// The organisation's entries matching `filter`, in ascending `seq`.
pub async fn entries(
    ctx: &Ctx,
    org: &str,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT org, seq, at, actor, role, action, target, outcome, details, prev_hash, hash FROM audit_log WHERE org = ?1",
    );
    let mut args: Vec<JsValue> = vec![db::text(org)];
    for (column, value) in &filter.equal {
        args.push(db::text(value));
        // `column` is one of a fixed set of names, never request text.
        sql.push_str(&format!(" AND {column} = ?{}", args.len()));
    }
    for prefix in &filter.target_prefix {
        args.push(db::text(prefix));
        let n = args.len();
        sql.push_str(&format!(" AND substr(target, 1, length(?{n})) = ?{n}"));
    }
    for seq in &filter.after {
        args.push(db::int(*seq));
        sql.push_str(&format!(" AND seq > ?{}", args.len()));
    }
    args.push(db::int(i64::from(filter.limit)));
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));
    let statement = ctx.db.prepare(sql).bind(&args).map_err(failed)?;
    Ok(db::all::<Row>(&statement)
        .await
        .map_err(failed)?
        .into_iter()
        .map(Row::entry)
        .collect())
}
