//! `GET /v1/orgs/{org}/audit`: the organisation's hash-chained audit log, in
//! chain order, so a client can re-verify it (`outpost audit verify`).

use outpost_core::api::Page;
use outpost_core::audit::{AuditEntry, Outcome};
use outpost_core::query::MAX_LIMIT;
use wasm_bindgen::JsValue;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::http;

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

/// Filters: `action`, `outcome`, `actor`, `target` (prefix), `after` (seq),
/// `limit`; entries in ascending `seq`; the cursor is the last seq returned.
pub async fn list(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let mut sql = String::from(
        "SELECT org, seq, at, actor, role, action, target, outcome, details, prev_hash, hash FROM audit_log WHERE org = ?1",
    );
    let mut args: Vec<JsValue> = vec![db::text(ctx.org()?)];
    let mut limit = 100u32;
    let accepted = [
        "action", "outcome", "actor", "target", "after", "cursor", "limit",
    ];
    for (key, value) in http::query(req, &accepted)? {
        let fragment = match key.as_str() {
            "action" => " AND action = ?#",
            "outcome" => " AND outcome = ?#",
            "actor" => " AND actor = ?#",
            "target" => " AND substr(target, 1, length(?#)) = ?#",
            "after" | "cursor" => {
                let seq: i64 = value.parse().map_err(|_| {
                    ApiError::bad_request(format!("`{key}` must be a sequence number"))
                })?;
                args.push(db::int(seq));
                sql.push_str(&format!(" AND seq > ?{}", args.len()));
                continue;
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| ApiError::bad_request(format!("limit must be 1-{MAX_LIMIT}")))?;
                continue;
            }
            _ => continue,
        };
        args.push(db::text(&value));
        sql.push_str(&fragment.replace("?#", &format!("?{}", args.len())));
    }
    args.push(db::int(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));
    let items: Vec<AuditEntry> = db::all::<Row>(&ctx.db.prepare(sql).bind(&args)?)
        .await?
        .into_iter()
        .map(Row::entry)
        .collect();
    let next_cursor = (items.len() as u32 == limit)
        .then(|| items.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(http::json(&Page { items, next_cursor }, 200)?)
}
