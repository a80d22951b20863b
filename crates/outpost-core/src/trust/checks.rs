//! The checks every step of the trust model shares: signature thresholds
//! against the trusted root's keys (TUF 5.3.4, 5.4.2, 5.5.3, 5.6.3), expiry
//! (freeze attacks) and versions that never decrease (rollback attacks).

use super::error::TrustError;
use super::schema::{Envelope, RoleKeys, Root};
use crate::signing::verify_threshold;
use crate::timefmt::parse_utc;

pub(super) fn unexpired(role: &str, expires: &str, now: i64) -> Result<(), TrustError> {
    let at = parse_utc(expires).ok_or_else(|| TrustError::Malformed {
        role: role.into(),
        detail: format!("expires `{expires}` is not YYYY-MM-DDTHH:MM:SSZ"),
    })?;
    if at <= now {
        return Err(TrustError::Expired {
            role: role.into(),
            expires: expires.into(),
        });
    }
    Ok(())
}

pub(super) fn not_older(role: &str, trusted: u64, offered: u64) -> Result<(), TrustError> {
    if offered < trusted {
        return Err(TrustError::Rollback {
            role: role.into(),
            trusted,
            offered,
        });
    }
    Ok(())
}

pub(super) fn role_keys<'a>(root: &'a Root, role: &str) -> Result<&'a RoleKeys, TrustError> {
    root.roles.get(role).ok_or_else(|| TrustError::Malformed {
        role: "root".into(),
        detail: format!("no `{role}` role"),
    })
}

pub(super) fn check_role(
    root: &Root,
    role: &str,
    keys: &RoleKeys,
    envelope: &Envelope,
) -> Result<(), TrustError> {
    verify_threshold(
        role,
        &envelope.signed,
        &envelope.signatures,
        &root.keys,
        &keys.keyids,
        keys.threshold,
    )?;
    Ok(())
}
