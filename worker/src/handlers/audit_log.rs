//! `GET /v1/orgs/{org}/audit`: the organisation's hash-chained audit log, in
//! chain order, so a client can re-verify it (`outpost audit verify`).

use outpost_core::api::Page;
use outpost_core::query::MAX_LIMIT;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::store;
use crate::store::audit_log::AuditFilter;

/// Filters: `action`, `outcome`, `actor`, `target` (prefix), `after` (seq),
/// `limit`; entries in ascending `seq`; the cursor is the last seq returned.
pub async fn list_audit(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let accepted = [
        "action", "outcome", "actor", "target", "after", "cursor", "limit",
    ];
    let mut filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    for (key, value) in http::query(req, &accepted)? {
        match key.as_str() {
            "action" => filter.equal.push(("action", value)),
            "outcome" => filter.equal.push(("outcome", value)),
            "actor" => filter.equal.push(("actor", value)),
            "target" => filter.target_prefix.push(value),
            "after" | "cursor" => filter.after.push(
                value
                    .parse::<u64>()
                    .ok()
                    .and_then(|seq| i64::try_from(seq).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "`{key}` must be a sequence number (0 to 2^63-1)"
                        ))
                    })?,
            ),
            _ => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| ApiError::bad_request(format!("limit must be 1-{MAX_LIMIT}")))?;
            }
        }
    }
    let items = store::audit_log::entries(ctx, ctx.org()?, &filter).await?;
    let next_cursor = (items.len() as u32 == filter.limit)
        .then(|| items.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(http::json(&Page { items, next_cursor }, 200)?)
}
