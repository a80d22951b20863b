//! Encryption at rest per organisation (issue "Confidential, compact,
//! portable artifacts"; the format is `outpost_core::at_rest`): reading the
//! state, enabling it, rotating the key. Enabling and rotating only name the
//! key version new artifacts are sealed under; the storage's background job
//! re-seals the others, one artifact at a time, each readable throughout
//! (the old object stays until the new one is recorded, and a grace period
//! after).

use outpost_core::at_rest::EncryptionStatus;
use serde_json::json;

use crate::StoreError;
use crate::error::RegistryError;
use crate::ports::{Actor, AtRest, AuditEvent, Change, Commit, CommitError};

/// What an organisation's encryption at rest is now.
///
/// # Errors
/// Storage failures.
pub async fn encryption_status(
    ports: &impl AtRest,
    org: &str,
) -> Result<EncryptionStatus, RegistryError> {
    let state = ports.org_encryption(org).await?;
    let objects = ports.objects_at(org).await?;
    Ok(EncryptionStatus::assemble(
        ports.at_rest_configured(),
        state,
        objects,
    ))
}

fn not_configured() -> RegistryError {
    RegistryError::Store(StoreError::NotConfigured(
        "encryption at rest is not configured: the Worker has no OUTPOST_AT_REST_SECRET secret (at least 32 bytes; `wrangler secret put OUTPOST_AT_REST_SECRET`)".into(),
    ))
}

/// Seals the organisation's new artifacts from now on, under key version 1
/// (the background job seals the existing ones). Enabling it again changes
/// nothing and writes no audit entry.
///
/// # Errors
/// `503` when the deployment has no at-rest secret; storage failures.
pub async fn enable_encryption(
    ports: &(impl AtRest + Commit),
    org: &str,
    actor: &Actor,
) -> Result<EncryptionStatus, RegistryError> {
    if !ports.at_rest_configured() {
        return Err(not_configured());
    }
    if ports.org_encryption(org).await?.is_none() {
        set_key_version(
            ports,
            org,
            actor,
            ("encryption.enable", json!({"key_version": 1})),
            1,
        )
        .await?;
    }
    encryption_status(ports, org).await
}

/// Moves the organisation to the next key version: new artifacts are
/// sealed under it at once, existing ones by the background job, and every
/// artifact stays readable meanwhile.
///
/// # Errors
/// `409` [`RegistryError::EncryptionOff`] while encryption is off; `503`
/// without an at-rest secret; storage failures.
pub async fn rotate_key(
    ports: &(impl AtRest + Commit),
    org: &str,
    actor: &Actor,
) -> Result<EncryptionStatus, RegistryError> {
    if !ports.at_rest_configured() {
        return Err(not_configured());
    }
    let Some(state) = ports.org_encryption(org).await? else {
        return Err(RegistryError::EncryptionOff {
            org: org.to_owned(),
        });
    };
    let key_version = state.key_version + 1;
    let details = json!({"from": state.key_version, "key_version": key_version});
    set_key_version(
        ports,
        org,
        actor,
        ("encryption.rotate", details),
        key_version,
    )
    .await?;
    encryption_status(ports, org).await
}

/// Commits the organisation's new key version with its audit entry.
async fn set_key_version(
    ports: &impl Commit,
    org: &str,
    actor: &Actor,
    (action, details): (&str, serde_json::Value),
    key_version: u32,
) -> Result<(), RegistryError> {
    let event = AuditEvent {
        actor: actor.clone(),
        action: action.into(),
        target: "encryption".into(),
        details,
    };
    ports
        .commit(org, vec![Change::SetKeyVersion { key_version }], event)
        .await
        .map_err(CommitError::into_store)?;
    Ok(())
}
