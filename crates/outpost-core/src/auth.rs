//! Organisations, roles and API tokens.
//!
//! A token belongs to exactly one organisation and carries one role. Its
//! secret is shown once and stored only as a SHA-256 hash: 256 random bits need
//! no slow password hash, and a leaked table yields no usable token. The text
//! form `opt_<id>_<secret>` carries the token id so the Worker can look up one
//! row and compare hashes in constant time, instead of searching by secret.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// What a token may do. Each role includes everything the ones below it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read models, versions, blobs, stages, telemetry and quality.
    Viewer,
    /// + upload artifacts, create models, register versions, tag.
    Developer,
    /// + stages, rollouts, retention, and reading the audit log.
    Operator,
    /// + tokens, deletion.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether a token with this role may act where `required` is needed.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown role `{0}`; use viewer, developer, operator or admin")]
    UnknownRole(String),
    #[error("malformed token: expected `opt_<id>_<secret>`")]
    MalformedToken,
    #[error(
        "invalid organisation name `{0}`: use 2-63 characters a-z, 0-9 and '-', starting with a letter"
    )]
    InvalidOrgName(String),
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| AuthError::UnknownRole(s.chars().take(40).collect()))
    }
}

/// Prefix of every Outpost token, so secret scanners can recognise leaks.
pub const TOKEN_PREFIX: &str = "opt_";

/// A presented token split into its id and secret. Never logged: it has no
/// `Display`, and its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub id: String,
    secret: String,
}

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Lengths of the two random parts, in base-62 characters.
pub const TOKEN_ID_LEN: usize = 16;
pub const TOKEN_SECRET_LEN: usize = 43;

impl PresentedToken {
    /// Parses `opt_<id>_<secret>` as found after `Bearer `.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let rest = text
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(AuthError::MalformedToken)?;
        let (id, secret) = rest.split_once('_').ok_or(AuthError::MalformedToken)?;
        if !is_token_part(id, TOKEN_ID_LEN) || !is_token_part(secret, TOKEN_SECRET_LEN) {
            return Err(AuthError::MalformedToken);
        }
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The hash stored for this token.
    pub fn secret_hash(&self) -> Digest {
        secret_hash(&self.secret)
    }

    /// Compares with a stored hash in time independent of where they differ.
    pub fn matches(&self, stored: &Digest) -> bool {
        let presented = self.secret_hash();
        let difference = presented
            .as_bytes()
            .iter()
            .zip(stored.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        difference == 0
    }
}

/// Hash under which a token secret is stored. Domain-separated so that the hash
/// of a secret is never also the digest of some artifact.
pub fn secret_hash(secret: &str) -> Digest {
    let mut hasher = crate::digest::Sha256Hasher::new();
    hasher.update(b"outpost-token-v1\0");
    hasher.update(secret.as_bytes());
    hasher.finish().digest
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Turns random bytes into base-62 text of `len` characters by rejection
/// sampling (no modulo bias). Returns `None` when `random` runs out; callers
/// pass plenty (4 × len bytes is ample).
pub fn base62_from_random(random: &[u8], len: usize) -> Option<String> {
    let mut out = String::with_capacity(len);
    for &byte in random {
        if out.len() == len {
            break;
        }
        // 248 = 4 × 62: accept only bytes below it so each symbol is equally likely.
        if byte < 248 {
            out.push(BASE62[(byte % 62) as usize] as char);
        }
    }
    (out.len() == len).then_some(out)
}

/// A freshly minted token: the text shown once, and what is stored.
#[derive(Clone)]
pub struct MintedToken {
    pub id: String,
    pub text: String,
    pub secret_hash: Digest,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("text", &"<redacted>")
            .finish()
    }
}

impl MintedToken {
    /// Builds a token from `random` bytes (at least 4 × 59 of them, from a
    /// CSPRNG: the Worker uses `crypto.getRandomValues`, the CLI the OS).
    pub fn from_random(random: &[u8]) -> Option<Self> {
        let half = random.len() / 2;
        let id = base62_from_random(&random[..half], TOKEN_ID_LEN)?;
        let secret = base62_from_random(&random[half..], TOKEN_SECRET_LEN)?;
        Some(Self {
            text: format!("{TOKEN_PREFIX}{id}_{secret}"),
            secret_hash: secret_hash(&secret),
            id,
        })
    }
}

/// Organisation names appear in URLs and R2 keys: keep them plain.
/// What [`validate_org_name`] accepts, for API documents.
pub const ORG_NAME_PATTERN: &str = "^[a-z][a-z0-9-]{0,61}[a-z0-9]$";

pub fn validate_org_name(name: &str) -> Result<(), AuthError> {
    let ok = (2..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidOrgName(name.chars().take(80).collect()))
    }
}

/// The facts about a stored token that decide whether a request may proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: String,
    pub org: String,
    pub role: Role,
    pub secret_hash: Digest,
    /// ms since the epoch.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Why a request was refused, for the problem body and the audit log. The
/// messages deliberately never say whether another organisation exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("no bearer token: send `Authorization: Bearer opt_…`")]
    MissingToken,
    #[error("the bearer token is not valid (unknown, malformed or wrong secret)")]
    InvalidToken,
    #[error("the bearer token has expired; ask an admin for a new one")]
    Expired,
    #[error("the bearer token was revoked; ask an admin for a new one")]
    Revoked,
    #[error("this token is not valid for organisation `{0}`")]
    WrongOrganisation(String),
    #[error("this action needs the {required} role; the token has {held}")]
    InsufficientRole { required: Role, held: Role },
}

impl Denial {
    /// Whether the caller proved it holds a token that exists (its secret
    /// matched) and was refused for what that token is: such refusals are
    /// audited. The others — no token, or one that is unknown, malformed or
    /// wrongly signed — come from anyone, so recording each would let
    /// anyone write to an organisation's audit chain; they are counted.
    pub fn by_token_holder(&self) -> bool {
        !matches!(self, Denial::MissingToken | Denial::InvalidToken)
    }

    /// 401 when the caller is not authenticated, 403 when it is but may not.
    pub fn status(&self) -> u16 {
        match self {
            Denial::MissingToken | Denial::InvalidToken | Denial::Expired | Denial::Revoked => 401,
            Denial::WrongOrganisation(_) | Denial::InsufficientRole { .. } => 403,
        }
    }
}

/// Decides whether `token` (as presented, and as stored if found) may act on
/// `org` with `required` role at time `now_ms`.
pub fn authorize(
    presented: &PresentedToken,
    stored: Option<&StoredToken>,
    org: &str,
    required: Role,
    now_ms: i64,
) -> Result<(), Denial> {
    let stored = stored.ok_or(Denial::InvalidToken)?;
    if stored.id != presented.id || !presented.matches(&stored.secret_hash) {
        return Err(Denial::InvalidToken);
    }
    if stored.revoked_at.is_some() {
        return Err(Denial::Revoked);
    }
    if stored.expires_at.is_some_and(|at| at <= now_ms) {
        return Err(Denial::Expired);
    }
    if stored.org != org {
        return Err(Denial::WrongOrganisation(org.chars().take(63).collect()));
    }
    if !stored.role.allows(required) {
        return Err(Denial::InsufficientRole {
            required,
            held: stored.role,
        });
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn minted() -> MintedToken {
        let random: Vec<u8> = (0..=255u8).cycle().take(512).collect();
        MintedToken::from_random(&random).unwrap()
    }

    fn stored(token: &MintedToken, org: &str, role: Role) -> StoredToken {
        StoredToken {
            id: token.id.clone(),
            org: org.into(),
            role,
            secret_hash: token.secret_hash,
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Developer.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Developer));
        assert!(!Role::Operator.allows(Role::Admin));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn minted_tokens_parse_back_and_match_their_hash() {
        let token = minted();
        assert!(token.text.starts_with("opt_"));
        let presented = PresentedToken::parse(&token.text).unwrap();
        assert_eq!(presented.id, token.id);
        assert!(presented.matches(&token.secret_hash));
        assert!(!format!("{presented:?}").contains(&token.text[21..]));
        assert!(!format!("{token:?}").contains(&token.text));
    }

    #[test]
    fn base62_rejects_biased_bytes_and_runs_out_cleanly() {
        assert_eq!(
            base62_from_random(&[0, 61, 62, 248, 255, 1], 4).unwrap(),
            "0z01"
        );
        assert_eq!(base62_from_random(&[250, 251], 1), None);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for text in [
            "",
            "opt_",
            "Bearer x",
            "opt_short_secret",
            "xyz_0123456789abcdef_x",
        ] {
            assert_eq!(
                PresentedToken::parse(text),
                Err(AuthError::MalformedToken),
                "{text}"
            );
        }
        let token = minted();
        let with_symbol = token.text.replace(&token.text[25..26], "!");
        assert!(PresentedToken::parse(&with_symbol).is_err());
    }

    #[test]
    fn authorize_checks_secret_state_org_and_role_in_that_order() {
        let token = minted();
        let presented = PresentedToken::parse(&token.text).unwrap();
        let ok = stored(&token, "acme", Role::Developer);
        assert_eq!(
            authorize(&presented, Some(&ok), "acme", Role::Developer, 0),
            Ok(())
        );
        assert_eq!(
            authorize(&presented, None, "acme", Role::Viewer, 0),
            Err(Denial::InvalidToken)
        );

        let mut wrong_secret = ok.clone();
        wrong_secret.secret_hash = secret_hash("something else");
        assert_eq!(
            authorize(&presented, Some(&wrong_secret), "acme", Role::Viewer, 0),
            Err(Denial::InvalidToken)
        );
        let mut revoked = ok.clone();
        revoked.revoked_at = Some(5);
        assert_eq!(
            authorize(&presented, Some(&revoked), "acme", Role::Viewer, 10),
            Err(Denial::Revoked)
        );
        let mut expiring = ok.clone();
        expiring.expires_at = Some(100);
        assert_eq!(
            authorize(&presented, Some(&expiring), "acme", Role::Viewer, 99),
            Ok(())
        );
        assert_eq!(
            authorize(&presented, Some(&expiring), "acme", Role::Viewer, 100),
            Err(Denial::Expired)
        );

        let denied = authorize(&presented, Some(&ok), "globex", Role::Viewer, 0).unwrap_err();
        assert_eq!(denied, Denial::WrongOrganisation("globex".into()));
        assert_eq!(denied.status(), 403);
        let denied = authorize(&presented, Some(&ok), "acme", Role::Operator, 0).unwrap_err();
        assert_eq!(
            denied,
            Denial::InsufficientRole {
                required: Role::Operator,
                held: Role::Developer
            }
        );
        assert_eq!(Denial::MissingToken.status(), 401);
    }

    #[test]
    fn org_names_are_plain() {
        for good in ["acme", "acme-eu-1", "a1"] {
            validate_org_name(good).unwrap();
        }
        for bad in [
            "",
            "a",
            "Acme",
            "1acme",
            "acme-",
            "ac/me",
            "ac me",
            &"a".repeat(64),
        ] {
            assert!(validate_org_name(bad).is_err(), "{bad}");
        }
    }
}
