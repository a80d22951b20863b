//! Organisations and tokens: HTTP in and out over `outpost_registry::tokens`.

use outpost_core::api::{CreateTokenRequest, InitRequest, InitResponse, Items, OrgRecord, WhoAmI};
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::db::as_i64;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::{self, D1Store, admin::TokenListRow};
use outpost_registry::tokens;

/// `POST /v1/admin/init`.
pub async fn admin_init(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: InitRequest = http::read_json(req).await?;
    let (display_name, token) = tokens::init_org(&D1Store::new(ctx), &body).await?;
    let response = InitResponse {
        org: OrgRecord {
            name: body.org.clone(),
            display_name,
            created_at: ctx.now,
        },
        token,
    };
    Ok(http::created(&response, &format!("/v1/orgs/{}", body.org))?)
}

/// `GET /v1/admin/isolate`: what the bench reads to count D1 statements
/// per request in steady state.
pub fn isolate_stats() -> ApiResult<Response> {
    let (plans_kept, tokens_kept) = crate::isolate_cache::sizes();
    let stats = outpost_core::api::IsolateStats {
        requests: crate::requests_answered(),
        d1_statements: crate::db::statements_prepared(),
        r2_reads: crate::store::blobs::r2_reads(),
        plans_kept: plans_kept as u64,
        tokens_kept: tokens_kept as u64,
    };
    Ok(http::json(&stats, 200)?)
}

/// `GET /v1/orgs/{org}`.
pub async fn get_org(ctx: &Ctx) -> ApiResult<Response> {
    let org = ctx.org()?;
    let row = store::admin::org(ctx, org)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("organisation `{org}` does not exist")))?;
    Ok(http::json(
        &OrgRecord {
            name: row.name,
            display_name: row.display_name,
            created_at: as_i64(row.created_at),
        },
        200,
    )?)
}

/// `GET /v1/orgs/{org}/whoami`.
pub fn who_am_i(ctx: &Ctx) -> ApiResult<Response> {
    let caller = ctx.caller()?;
    Ok(http::json(
        &WhoAmI {
            org: caller.org.clone(),
            token_id: caller.token_id.clone(),
            token_name: caller.token_name.clone(),
            role: caller.role,
        },
        200,
    )?)
}

/// `GET /v1/orgs/{org}/tokens`.
pub async fn list_tokens(ctx: &Ctx) -> ApiResult<Response> {
    let rows = store::admin::tokens(ctx, ctx.org()?).await?;
    let items = rows
        .into_iter()
        .map(TokenListRow::record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(http::json(&Items { items }, 200)?)
}

/// `POST /v1/orgs/{org}/tokens`.
pub async fn create_token(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: CreateTokenRequest = http::read_json(req).await?;
    let org = ctx.org()?;
    let created = tokens::create_token(&D1Store::new(ctx), org, &ctx.actor()?, &body).await?;
    let location = format!("/v1/orgs/{org}/tokens/{}", created.record.id);
    Ok(http::created(&created, &location)?)
}

/// `DELETE /v1/orgs/{org}/tokens/{token}`: revocation is permanent.
pub async fn revoke_token(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let id = matched.param("token");
    let record = tokens::revoke_token(&D1Store::new(ctx), ctx.org()?, &ctx.actor()?, id).await?;
    Ok(http::json(&record, 200)?)
}
