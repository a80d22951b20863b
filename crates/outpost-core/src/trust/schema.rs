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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub signed: Value,
    pub signatures: Vec<Signature>,
}

/// The keys and threshold of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: usize,
}

/// TUF root metadata, with Outpost's director role as an extension field
/// (TUF clients ignore fields they do not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
}

/// Timestamp or snapshot metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaIndex {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
}

/// One released artifact in targets metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
}

/// Targets ("release") metadata: which artifacts exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub org: String,
    pub model: String,
    pub stage: String,
    pub device: String,
}

/// The director's answer: which released artifact this device should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Increases with every resolution the director signs for this org.
    pub resolution_version: u64,
    pub expires: String,
}

/// A model version as release metadata names it: the shadow of a resolution,
/// and what the Worker checks before it answers with a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedTarget {
    pub version: String,
    pub target: String,
    pub digest: Digest,
    pub length: u64,
}

/// Parses the `signed` part of `envelope` as `kind` metadata for `role`.
pub(crate) fn parse<T: DeserializeOwned>(
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
    serde_json::from_value(envelope.signed.clone()).map_err(|e| TrustError::Malformed {
        role: role.into(),
        detail: e.to_string(),
    })
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
