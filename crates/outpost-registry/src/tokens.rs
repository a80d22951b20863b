//! Organisations and role tokens: an organisation created with its first
//! admin token (by the deployment's bootstrap secret), tokens minted with a
//! role and an optional lifetime (the secret shown once, only its hash
//! stored), and revoked for good — each with its audit entry.

/// How long a shell may trust a token row it read (ms): the most a
/// revocation, expiry change or deletion committed elsewhere takes to stop
/// the token on an isolate that read it earlier. A shell forgets an
/// organisation's rows when it commits a change there itself, and never
/// keeps an absent one (a new token works at once).
pub const TOKEN_LIFETIME_MS: i64 = 5_000;

use outpost_core::api::{CreateTokenRequest, InitRequest, TokenCreated, TokenRecord};
use outpost_core::auth::{self, MintedToken, Role};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{Actor, AuditEvent, Change, Clock, Commit, CommitError, Tokens};

fn mint(ports: &impl Clock) -> Result<MintedToken, RegistryError> {
    // 4 bytes per output character is far more than rejection sampling needs.
    let random = ports.random_bytes(4 * (auth::TOKEN_ID_LEN + auth::TOKEN_SECRET_LEN) * 2)?;
    Ok(MintedToken::from_random(&random)
        .ok_or_else(|| StoreError::new("token minting ran out of randomness"))?)
}

fn committed(result: Result<(), CommitError>) -> Result<(), RegistryError> {
    match result {
        Ok(()) => Ok(()),
        Err(CommitError::Conflict(what)) => Err(StoreError::new(format!("{what} conflict")).into()),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// `POST /v1/admin/init`: the organisation and its bootstrap admin token.
/// Returns the display name and the token (its text shown this once).
///
/// Errors: `InvalidOrgName` (422), `OrgExists` (409), `Store`.
pub async fn init_org(
    ports: &(impl Clock + Commit + crate::ports::AtRest),
    request: &InitRequest,
) -> Result<(String, TokenCreated), RegistryError> {
    auth::validate_org_name(&request.org).map_err(RegistryError::InvalidOrgName)?;
    let display_name = request
        .display_name
        .clone()
        .unwrap_or_else(|| request.org.clone());
    let minted = mint(ports)?;
    let record = TokenRecord {
        id: minted.id.clone(),
        name: "bootstrap-admin".into(),
        role: Role::Admin,
        created_at: ports.now_ms(),
        created_by: Some("bootstrap".into()),
        expires_at: None,
        revoked_at: None,
    };
    let event = AuditEvent {
        actor: Actor::Bootstrap,
        action: "org.init".into(),
        target: format!("orgs/{}", request.org),
        details: json!({"admin_token": minted.id}),
    };
    let mut changes = vec![
        Change::CreateOrg {
            name: request.org.clone(),
            display_name: display_name.clone(),
        },
        Change::CreateToken {
            record: record.clone(),
            secret_hash: minted.secret_hash,
        },
    ];
    // New organisations seal their artifacts from the start once the
    // deployment has an at-rest secret (`crate::encryption`).
    if ports.at_rest_configured() {
        changes.push(Change::SetKeyVersion { key_version: 1 });
    }
    match ports.commit(&request.org, changes, event).await {
        Ok(()) => {}
        Err(CommitError::Conflict(_)) => {
            return Err(RegistryError::OrgExists {
                org: request.org.clone(),
            });
        }
        Err(CommitError::Store(err)) => return Err(err.into()),
    }
    Ok((
        display_name,
        TokenCreated {
            record,
            token: minted.text,
        },
    ))
}

/// `POST …/tokens`: a token with a role, for an optional lifetime (s).
///
/// Errors: `TokenName`, `TokenLifetime` (422), `Store`.
pub async fn create_token(
    ports: &(impl Clock + Commit),
    org: &str,
    actor: &Actor,
    request: &CreateTokenRequest,
) -> Result<TokenCreated, RegistryError> {
    let name = request.name.trim();
    if name.is_empty() || request.name.chars().count() > 64 {
        return Err(RegistryError::TokenName);
    }
    let now = ports.now_ms();
    let expires_at = match request.expires_in {
        Some(0) => return Err(RegistryError::TokenLifetime),
        Some(secs) => Some(
            now.saturating_add(
                i64::try_from(secs)
                    .unwrap_or(i64::MAX / 2)
                    .saturating_mul(1000),
            ),
        ),
        None => None,
    };
    let minted = mint(ports)?;
    let (created_by, _) = actor.audit_fields();
    let record = TokenRecord {
        id: minted.id.clone(),
        name: name.to_owned(),
        role: request.role,
        created_at: now,
        created_by: Some(created_by),
        expires_at,
        revoked_at: None,
    };
    let event = AuditEvent {
        actor: actor.clone(),
        action: "token.create".into(),
        target: format!("tokens/{}", minted.id),
        details: json!({"name": name, "role": request.role, "expires_at": expires_at}),
    };
    let change = Change::CreateToken {
        record: record.clone(),
        secret_hash: minted.secret_hash,
    };
    committed(ports.commit(org, vec![change], event).await)?;
    Ok(TokenCreated {
        record,
        token: minted.text,
    })
}

/// `DELETE …/tokens/{id}`: revocation is permanent; revoking a revoked
/// token changes nothing. Returns the token as it is now.
///
/// Errors: `TokenNotFound` (404), `Store`.
pub async fn revoke_token(
    ports: &(impl Tokens + Clock + Commit),
    org: &str,
    actor: &Actor,
    id: &str,
) -> Result<TokenRecord, RegistryError> {
    let mut record = ports
        .token(org, id)
        .await?
        .ok_or_else(|| RegistryError::TokenNotFound {
            org: org.to_owned(),
            id: id.to_owned(),
        })?;
    if record.revoked_at.is_some() {
        return Ok(record);
    }
    let event = AuditEvent {
        actor: actor.clone(),
        action: "token.revoke".into(),
        target: format!("tokens/{id}"),
        details: json!({"name": record.name}),
    };
    let change = Change::RevokeToken { id: id.to_owned() };
    committed(ports.commit(org, vec![change], event).await)?;
    record.revoked_at = Some(ports.now_ms());
    Ok(record)
}
