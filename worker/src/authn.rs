//! Authentication at the edge of every non-public route: extract the bearer
//! token, load its row, and let `outpost_core::auth::authorize` decide. Denials
//! are answered 401/403 and recorded in the target organisation's audit log.

use outpost_core::Problem;
use outpost_core::ProblemKind;
use outpost_core::audit::{DenialWindows, Outcome};
use outpost_core::auth::{self, Denial, PresentedToken, Role, StoredToken};
use outpost_core::digest::Digest;
use serde_json::json;
use worker::Request;

use crate::ctx::{Caller, Ctx};
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::routes::{Access, Matched, method_name};
use crate::store::audit::{self, Event};

/// Name of the Worker secret that authorises `POST /v1/admin/init`.
pub const BOOTSTRAP_SECRET: &str = "OUTPOST_BOOTSTRAP_SECRET";

fn bearer(req: &Request) -> Option<String> {
    let header = req.headers().get("authorization").ok().flatten()?;
    let (scheme, value) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| value.trim().to_owned())
}

use crate::store::admin::TokenRow;

/// Checks the caller against the route's access rule; on success the caller
/// (if any) is stored in `ctx`.
pub async fn authenticate(ctx: &mut Ctx, req: &Request, matched: &Matched) -> ApiResult<()> {
    match matched.spec.access {
        Access::Public => Ok(()),
        // The operations Worker has no secrets and no public URL: the
        // registry Worker checked the bootstrap secret before forwarding.
        #[cfg(feature = "operations")]
        Access::Bootstrap => Ok(()),
        #[cfg(not(feature = "operations"))]
        Access::Bootstrap => check_bootstrap(ctx, req),
        Access::Org(required) => {
            let org = matched.param("org").to_owned();
            let action = format!(
                "{} {}",
                method_name(&matched.spec.method),
                matched.spec.path
            );
            let presented = bearer(req).map(|text| PresentedToken::parse(&text));
            let outcome = match presented {
                None => Err((None, Denial::MissingToken)),
                Some(Err(_)) => Err((None, Denial::InvalidToken)),
                Some(Ok(presented)) => {
                    let row = load_token(ctx, &presented.id).await?;
                    let stored = row.as_deref().and_then(stored_token);
                    match auth::authorize(&presented, stored.as_ref(), &org, required, ctx.now) {
                        Ok(()) => match (row, stored) {
                            (Some(row), Some(stored)) => Ok(Caller {
                                token_id: stored.id,
                                token_name: row.name.clone(),
                                org: stored.org,
                                role: stored.role,
                            }),
                            _ => Err((Some(presented.id), Denial::InvalidToken)),
                        },
                        Err(denial) => Err((Some(presented.id), denial)),
                    }
                }
            };
            match outcome {
                Ok(caller) => {
                    ctx.caller = Some(caller);
                    Ok(())
                }
                Err((actor, denial)) => {
                    // Every refusal is counted, a 429 included.
                    crate::request_metrics::record_refusal(
                        (org.clone(), matched.spec.path, String::new()),
                        denial.by_token_holder(),
                    );
                    // Refusals without a valid token draw on the client
                    // address's limit: a flood of them is a 429 soon.
                    if !denial.by_token_holder() {
                        let address = req
                            .headers()
                            .get("cf-connecting-ip")
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| "unknown".into());
                        crate::ratelimit::draw(
                            &ctx.env,
                            ctx.now,
                            outpost_core::ratelimit::Limiter::Address,
                            outpost_core::ratelimit::address_key(&address),
                        )
                        .await?;
                    }
                    Err(deny(ctx, &org, actor, &action, required, denial).await)
                }
            }
        }
    }
}

/// The token's row: kept by this isolate for at most
/// [`crate::isolate_cache::TOKEN_LIFETIME_MS`], else read (and kept when it
/// exists; an absent id is read every time, so a new token works at once).
async fn load_token(ctx: &Ctx, id: &str) -> ApiResult<Option<std::rc::Rc<TokenRow>>> {
    if let Some(row) = crate::isolate_cache::token(id, ctx.now) {
        return Ok(Some(row));
    }
    let epoch = crate::isolate_cache::epoch();
    let Some(row) = crate::store::admin::token_by_id(ctx, id).await? else {
        return Ok(None);
    };
    let row = std::rc::Rc::new(row);
    crate::isolate_cache::keep_token(row.clone(), ctx.now, epoch);
    Ok(Some(row))
}

fn stored_token(row: &TokenRow) -> Option<StoredToken> {
    Some(StoredToken {
        id: row.id.clone(),
        org: row.org.clone(),
        role: row.role.parse().ok()?,
        secret_hash: row.secret_hash.parse::<Digest>().ok()?,
        expires_at: row.expires_at.map(as_i64),
        revoked_at: row.revoked_at.map(as_i64),
    })
}

thread_local! {
    /// This isolate's windows of token holders' refusals.
    static DENIALS: std::cell::RefCell<DenialWindows> =
        std::cell::RefCell::new(DenialWindows::new(4_096));
}

/// Refusals without a valid token this isolate has answered, for the
/// sampled log line.
static ANONYMOUS_REFUSALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records the denial and builds the 401/403. A token holder's refusal is
/// audited in the organisation named by the request (so its operators see
/// probes against it), one entry per token, action and window under a
/// flood (`outpost_core::audit::DenialWindows`); every refusal is counted
/// in the organisation's metrics (by the caller). A refusal without a valid
/// token is only counted and logged 1 in 100:
/// anyone can send one, so appending each to the hash chain would let
/// anyone write to it.
async fn deny(
    ctx: &Ctx,
    org: &str,
    actor: Option<String>,
    action: &str,
    required: Role,
    denial: Denial,
) -> ApiError {
    let audited = match (&actor, denial.by_token_holder()) {
        (Some(token), true) => {
            DENIALS.with(|windows| windows.borrow_mut().observe(token, action, ctx.now))
        }
        _ => {
            let seen = ANONYMOUS_REFUSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if seen.is_multiple_of(100) {
                worker::console_log!(
                    "refused without a valid token: {action} on `{org}` ({denial}); {} so far in this isolate",
                    seen + 1
                );
            }
            None
        }
    };
    if let Some(unrecorded) = audited {
        let event = Event {
            org: org.to_owned(),
            actor,
            role: None,
            action: action.to_owned(),
            target: format!("orgs/{org}"),
            outcome: Outcome::Denied,
            details: json!({
                "reason": denial.to_string(),
                "required_role": required.as_str(),
                "unrecorded_since_last": unrecorded,
            }),
        };
        if let Err(err) = audit::commit(ctx, event, Vec::new()).await {
            worker::console_error!("recording a denied request failed: {err:?}");
        }
    }
    let kind = if denial.status() == 401 {
        ProblemKind::Unauthorized
    } else {
        ProblemKind::Forbidden
    };
    ApiError::from(Problem::new(kind, denial.to_string()))
}

#[cfg_attr(
    feature = "operations",
    expect(dead_code, reason = "checked by the registry Worker")
)]
fn check_bootstrap(ctx: &Ctx, req: &Request) -> ApiResult<()> {
    let configured = ctx
        .env
        .secret(BOOTSTRAP_SECRET)
        .map(|s| s.to_string())
        .or_else(|_| ctx.env.var(BOOTSTRAP_SECRET).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty());
    let Some(configured) = configured else {
        return Err(ApiError::new(
            ProblemKind::ServiceUnavailable,
            format!(
                "bootstrap is disabled: the Worker has no {BOOTSTRAP_SECRET} secret (wrangler secret put {BOOTSTRAP_SECRET})"
            ),
        ));
    };
    let presented = bearer(req).unwrap_or_default();
    // Compare digests, so the time taken says nothing about the secret.
    if auth::secret_hash(&presented) == auth::secret_hash(&configured) {
        Ok(())
    } else {
        Err(ApiError::new(
            ProblemKind::Unauthorized,
            format!(
                "send the deployment's bootstrap secret as `Authorization: Bearer <{BOOTSTRAP_SECRET}>`"
            ),
        ))
    }
}
