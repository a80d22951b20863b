//! Organisations and tokens.

use outpost_core::api::{
    CreateTokenRequest, InitRequest, InitResponse, OrgRecord, TokenCreated, TokenRecord,
};
use outpost_core::audit::Outcome;
use outpost_core::auth::{self, MintedToken, Role};
use serde_json::json;
use worker::{Request, Response};

use crate::ctx::{Ctx, random_bytes};
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::audit::{self, CommitError, Event};
use crate::store::{self, admin::TokenListRow};

fn mint() -> ApiResult<MintedToken> {
    // 4 bytes per output character is far more than rejection sampling needs.
    let random = random_bytes(4 * (auth::TOKEN_ID_LEN + auth::TOKEN_SECRET_LEN) * 2)?;
    MintedToken::from_random(&random)
        .ok_or_else(|| ApiError::internal("token minting ran out of randomness"))
}

/// `POST /v1/admin/init`.
pub async fn admin_init(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: InitRequest = http::read_json(req).await?;
    auth::validate_org_name(&body.org).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let display_name = body
        .display_name
        .clone()
        .unwrap_or_else(|| body.org.clone());
    let minted = mint()?;
    let record = TokenRecord {
        id: minted.id.clone(),
        name: "bootstrap-admin".into(),
        role: Role::Admin,
        created_at: ctx.now,
        created_by: Some("bootstrap".into()),
        expires_at: None,
        revoked_at: None,
    };
    let insert_org = store::admin::insert_org(ctx, &body.org, &display_name)?;
    let event = Event {
        org: body.org.clone(),
        actor: Some("bootstrap".into()),
        role: None,
        action: "org.init".into(),
        target: format!("orgs/{}", body.org),
        outcome: Outcome::Ok,
        details: json!({"admin_token": minted.id}),
    };
    match audit::commit(
        ctx,
        event,
        vec![
            insert_org,
            store::admin::insert_token(ctx, &body.org, &minted, &record)?,
        ],
    )
    .await
    {
        Ok(_) => {}
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "organizations") => {
            return Err(ApiError::conflict(format!(
                "organisation `{}` already exists; ask one of its admins for a token",
                body.org
            )));
        }
        Err(err) => return Err(err.into()),
    }
    let response = InitResponse {
        org: OrgRecord {
            name: body.org.clone(),
            display_name,
            created_at: ctx.now,
        },
        token: TokenCreated {
            record,
            token: minted.text,
        },
    };
    Ok(http::created(&response, &format!("/v1/orgs/{}", body.org))?)
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
        &json!({
            "org": caller.org,
            "token_id": caller.token_id,
            "token_name": caller.token_name,
            "role": caller.role,
        }),
        200,
    )?)
}

fn record(row: TokenListRow) -> ApiResult<TokenRecord> {
    Ok(TokenRecord {
        role: row
            .role
            .parse()
            .map_err(|_| ApiError::internal(format!("stored role `{}`", row.role)))?,
        id: row.id,
        name: row.name,
        created_at: as_i64(row.created_at),
        created_by: row.created_by,
        expires_at: row.expires_at.map(as_i64),
        revoked_at: row.revoked_at.map(as_i64),
    })
}

/// `GET /v1/orgs/{org}/tokens`.
pub async fn list_tokens(ctx: &Ctx) -> ApiResult<Response> {
    let rows = store::admin::tokens(ctx, ctx.org()?).await?;
    let items = rows
        .into_iter()
        .map(record)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(http::json(&json!({ "items": items }), 200)?)
}

/// `POST /v1/orgs/{org}/tokens`.
pub async fn create_token(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let body: CreateTokenRequest = http::read_json(req).await?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::unprocessable(
            "token name must be 1-64 characters",
        ));
    }
    let expires_at = match body.expires_in {
        Some(0) => {
            return Err(ApiError::unprocessable(
                "expires_in must be at least 1 second",
            ));
        }
        Some(secs) => Some(
            ctx.now.saturating_add(
                i64::try_from(secs)
                    .unwrap_or(i64::MAX / 2)
                    .saturating_mul(1000),
            ),
        ),
        None => None,
    };
    let caller = ctx.caller()?;
    let minted = mint()?;
    let record = TokenRecord {
        id: minted.id.clone(),
        name: name.to_owned(),
        role: body.role,
        created_at: ctx.now,
        created_by: Some(caller.token_id.clone()),
        expires_at,
        revoked_at: None,
    };
    let org = ctx.org()?;
    let event = Event::by_caller(
        ctx,
        "token.create",
        format!("tokens/{}", minted.id),
        json!({"name": name, "role": body.role, "expires_at": expires_at}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    audit::commit(
        ctx,
        event,
        vec![store::admin::insert_token(ctx, org, &minted, &record)?],
    )
    .await?;
    let location = format!("/v1/orgs/{org}/tokens/{}", minted.id);
    Ok(http::created(
        &TokenCreated {
            record,
            token: minted.text,
        },
        &location,
    )?)
}

/// `DELETE /v1/orgs/{org}/tokens/{token}`: revocation is permanent.
pub async fn revoke_token(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let org = ctx.org()?;
    let id = matched.param("token");
    let row = store::admin::token(ctx, org, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no token `{id}` in organisation `{org}`")))?;
    let mut record = record(row)?;
    if record.revoked_at.is_some() {
        return Ok(http::json(&record, 200)?);
    }
    let update = store::admin::revoke_token(ctx, org, id)?;
    let event = Event::by_caller(
        ctx,
        "token.revoke",
        format!("tokens/{id}"),
        json!({"name": record.name}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    audit::commit(ctx, event, vec![update]).await?;
    record.revoked_at = Some(ctx.now);
    Ok(http::json(&record, 200)?)
}
