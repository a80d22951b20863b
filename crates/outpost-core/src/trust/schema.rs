//! The metadata formats: TUF 1.0.31 §4 (root, timestamp, snapshot, targets)
//! and Outpost's director resolution. Parsing checks `_type` before fields,
//! so a file offered for the wrong role is named as such.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::TrustError;
use crate::digest::Digest;
use crate::signing::{PublicKey, Signature};

/// A signed metadata document, as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Envelope {
    pub signed: Value,
    pub signatures: Vec<Signature>,
}

/// The keys and threshold of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: usize,
}

/// TUF root metadata, with Outpost's director role as an extension field
/// (TUF clients ignore fields they do not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Root {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub version: u64,
    pub expires: String,
    pub keys: BTreeMap<String, PublicKey>,
    pub roles: BTreeMap<String, RoleKeys>,
    #[serde(
        rename = "x-outpost-director",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub director: Option<RoleKeys>,
}

/// An entry of timestamp's or snapshot's `meta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MetaFile {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
}

/// Timestamp or snapshot metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MetaIndex {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
}

/// One released artifact in targets metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
}

/// Targets ("release") metadata: which artifacts exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub targets: BTreeMap<String, TargetFile>,
}

impl Targets {
    /// Whether this release metadata names `target` with exactly this digest
    /// and length: the one test of "released" the Worker and devices share.
    pub fn names(&self, target: &str, digest: &Digest, length: u64) -> bool {
        self.targets.get(target).is_some_and(|file| {
            file.length == length
                && file.hashes.get("sha256").map(String::as_str) == Some(digest.hex().as_str())
        })
    }
}

/// The question a device asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Question {
    pub org: String,
    pub model: String,
    pub stage: String,
    pub device: String,
}

/// The director's answer: which released artifact this device should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resolution {
    #[serde(rename = "_type")]
    pub kind: String,
    #[serde(flatten)]
    pub question: Question,
    /// The model version chosen.
    pub version: String,
    /// Which arm of the stage's rollout the device landed in.
    #[serde(default)]
    pub arm: crate::lifecycle::ArmKind,
    /// Path of the artifact in targets metadata.
    pub target: String,
    pub digest: Digest,
    pub length: u64,
    /// A shadow artifact to run alongside (telemetry only), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ReleasedTarget>,
    /// Orders this question's resolutions: see [`resolution_version`]. A
    /// device refuses one lower than the highest it has trusted for the
    /// same organisation, model and stage.
    pub resolution_version: u64,
    pub expires: String,
}

/// How many seconds after a change [`resolution_version`] keeps counting.
pub const RESOLUTION_SECONDS_COUNTED: i64 = 999;

/// The number of a resolution, computed without any write: the time of the
/// newest change the answer reflects (the stage's last move or the
/// organisation's last release, whichever is later, in ms since the epoch)
/// times 1 000, plus the whole seconds between that change and the issue,
/// capped at [`RESOLUTION_SECONDS_COUNTED`].
///
/// Why a device can refuse an older answer with it (TUF's rollback rule,
/// applied per question): every resolution drawn from a later change
/// outnumbers every resolution drawn from an earlier one, however late the
/// earlier one was issued (the seconds part is below 1 000, one ms step of
/// the change time). So once a device has trusted an answer that reflects
/// a promotion or rollback, no replayed answer and no answer from a stale
/// cache that predates it is accepted. Answers drawn from the same change
/// name the same stage state; among them the count of seconds orders them
/// for the first ~16 minutes and equal numbers are accepted after that
/// (each still expires an hour after issue).
///
/// Assumes change times increase, as the clocks that stamp them do; the
/// result stays below 2^53 (exact as a JSON number in JavaScript) until
/// the year 2255. A change time before the epoch counts as 0, and an issue
/// time before the change adds nothing.
pub fn resolution_version(changed_at_ms: i64, issued_at_ms: i64) -> u64 {
    let changed = changed_at_ms.max(0);
    let seconds = ((issued_at_ms - changed) / 1000).clamp(0, RESOLUTION_SECONDS_COUNTED);
    // A version is at least 1 (the schema's rule), also for a change at 0.
    (changed as u64)
        .saturating_mul(1000)
        .saturating_add(seconds as u64)
        .max(1)
}

/// A model version as release metadata names it: the shadow of a resolution,
/// and what the Worker checks before it answers with a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleasedTarget {
    pub version: String,
    pub target: String,
    pub digest: Digest,
    pub length: u64,
}

/// The constraints of a metadata format that its types alone do not carry
/// (TUF 1.0.31 §4, as python-tuf's `Metadata` classes enforce them on
/// load): checked whenever metadata is parsed, so a device, the wasm client
/// and the Worker's upload refuse the same files at the same point — when
/// they are loaded, not when a later step happens to trip over them.
pub(crate) trait Schema {
    /// Why the document breaks its format, if it does.
    fn check(&self) -> Result<(), String>;
}

/// The top-level roles a root must define, no more and no fewer (§4.3).
pub const TOP_LEVEL_ROLES: [&str; 4] = ["root", "snapshot", "targets", "timestamp"];

/// `spec_version`: two or three dot-separated numbers with major exactly
/// `1` (§4.2: a client must refuse metadata of a major version it does not
/// support; python-tuf accepts `MAJOR.MINOR` and `MAJOR.MINOR.PATCH`).
fn check_spec_version(text: &str) -> Result<(), String> {
    let parts: Vec<&str> = text.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) {
        return Err(format!("spec_version `{text}` is not MAJOR.MINOR.PATCH"));
    }
    if parts[0] != "1" {
        return Err(format!(
            "spec_version `{text}` is not of major version 1, the version this client implements"
        ));
    }
    Ok(())
}

/// `version` ≥ 1, `expires` in the one accepted form (§4.2).
fn check_common(spec_version: &str, version: u64, expires: &str) -> Result<(), String> {
    check_spec_version(spec_version)?;
    if version < 1 {
        return Err("version must be at least 1".into());
    }
    if crate::timefmt::parse_utc(expires).is_none() {
        return Err(format!("expires `{expires}` is not YYYY-MM-DDTHH:MM:SSZ"));
    }
    Ok(())
}

/// A role's keys: a threshold of at least 1 that the listed keys can meet,
/// key ids without repeats, each naming a key the root defines.
fn check_role_keys(
    name: &str,
    role: &RoleKeys,
    keys: &BTreeMap<String, PublicKey>,
) -> Result<(), String> {
    if role.threshold < 1 {
        return Err(format!(
            "the {name} role's threshold is {}; it must be at least 1",
            role.threshold
        ));
    }
    let distinct: std::collections::BTreeSet<&String> = role.keyids.iter().collect();
    if distinct.len() != role.keyids.len() {
        return Err(format!("the {name} role lists a key id twice"));
    }
    if let Some(unknown) = role.keyids.iter().find(|id| !keys.contains_key(*id)) {
        return Err(format!(
            "the {name} role names key {unknown}, which the root does not define"
        ));
    }
    if role.threshold > role.keyids.len() {
        return Err(format!(
            "the {name} role's threshold {} exceeds its {} keys: it could never be met",
            role.threshold,
            role.keyids.len()
        ));
    }
    Ok(())
}

/// An ed25519 key (the only type this client verifies) must be one: a
/// 32-byte public key as 64 hex digits. Keys of other types are allowed in
/// a root, as TUF and python-tuf allow them, but never verify a signature
/// here, so they cannot count towards a threshold.
fn check_key(id: &str, key: &PublicKey) -> Result<(), String> {
    if key.keytype != "ed25519" {
        return Ok(());
    }
    if key.scheme != "ed25519" {
        return Err(format!(
            "key {id} is an ed25519 key with scheme `{}`; ed25519 keys use the scheme `ed25519`",
            key.scheme
        ));
    }
    let public = &key.keyval.public;
    if public.len() != 64 || !public.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("key {id}'s public value is not 32 bytes of hex"));
    }
    Ok(())
}

impl Schema for Root {
    fn check(&self) -> Result<(), String> {
        check_common(&self.spec_version, self.version, &self.expires)?;
        for (id, key) in &self.keys {
            check_key(id, key)?;
        }
        let names: Vec<&str> = self.roles.keys().map(String::as_str).collect();
        if names != TOP_LEVEL_ROLES {
            return Err(format!(
                "roles are {names:?}; a root defines exactly {TOP_LEVEL_ROLES:?}"
            ));
        }
        for (name, role) in &self.roles {
            check_role_keys(name, role, &self.keys)?;
        }
        if let Some(director) = &self.director {
            check_role_keys("director", director, &self.keys)?;
        }
        Ok(())
    }
}

fn check_meta_file(name: &str, file: &MetaFile) -> Result<(), String> {
    if file.version < 1 {
        return Err(format!("{name}'s version must be at least 1"));
    }
    if file.hashes.as_ref().is_some_and(BTreeMap::is_empty) {
        return Err(format!("{name}'s hashes are empty"));
    }
    Ok(())
}

impl Schema for MetaIndex {
    fn check(&self) -> Result<(), String> {
        check_common(&self.spec_version, self.version, &self.expires)?;
        if self.kind == "timestamp"
            && (self.meta.len() != 1 || !self.meta.contains_key("snapshot.json"))
        {
            return Err("timestamp meta must list exactly snapshot.json".into());
        }
        for (name, file) in &self.meta {
            check_meta_file(name, file)?;
        }
        Ok(())
    }
}

impl Schema for Targets {
    fn check(&self) -> Result<(), String> {
        check_common(&self.spec_version, self.version, &self.expires)?;
        if let Some((path, _)) = self.targets.iter().find(|(_, file)| file.hashes.is_empty()) {
            return Err(format!("target `{path}` has no hashes"));
        }
        Ok(())
    }
}

impl Schema for Resolution {
    fn check(&self) -> Result<(), String> {
        if self.resolution_version < 1 {
            return Err("resolution_version must be at least 1".into());
        }
        if crate::timefmt::parse_utc(&self.expires).is_none() {
            return Err(format!(
                "expires `{}` is not YYYY-MM-DDTHH:MM:SSZ",
                self.expires
            ));
        }
        Ok(())
    }
}

/// Parses the `signed` part of `envelope` as `kind` metadata for `role`,
/// with its format's constraints ([`Schema`]).
pub(crate) fn parse<T: DeserializeOwned + Schema>(
    envelope: &Envelope,
    role: &str,
    kind: &str,
) -> Result<T, TrustError> {
    let found = envelope.signed.get("_type").and_then(Value::as_str);
    if found != Some(kind) {
        return Err(TrustError::Malformed {
            role: role.into(),
            detail: format!("`_type` is {found:?}, expected `{kind}`"),
        });
    }
    let parsed: T =
        serde_json::from_value(envelope.signed.clone()).map_err(|e| TrustError::Malformed {
            role: role.into(),
            detail: e.to_string(),
        })?;
    parsed.check().map_err(|detail| TrustError::Malformed {
        role: role.into(),
        detail,
    })?;
    Ok(parsed)
}

impl Resolution {
    /// The `signed` part of this resolution statement.
    pub fn to_signed(&self) -> Value {
        // Serialising a struct of strings and numbers cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The target path of a model version in release metadata.
pub fn target_path(model: &str, version: &str) -> String {
    format!("{model}/{version}")
}

/// A target file name as TUF clients ask for it under the targets URL:
/// `VERSION`, or with consistent snapshots `SHA256HEX.VERSION`. Returns the
/// hash prefix (if any) and the version.
pub fn parse_target_file(file: &str) -> (Option<&str>, &str) {
    match file.split_once('.') {
        Some((hash, version))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            (Some(hash), version)
        }
        _ => (None, file),
    }
}
