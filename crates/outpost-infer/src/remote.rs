//! The protocol between Outpost's two Workers. The registry Worker decides
//! (routing, gates, telemetry, shadow records) and carries no tract; the
//! inference Worker loads and runs models. The registry Worker reaches it
//! through a Cloudflare service binding (`INFERENCE`): an HTTP request
//! handed to the other Worker on the same machine, with no public route.
//!
//! Routes of the inference Worker:
//! - `POST` [`RUN_PATH`], body a [`RunRequest`] as JSON: `200` with a
//!   [`RunResult`], or an RFC 9457 problem (`422` when the inputs or the
//!   model are wrong, `503` when the artifact is missing or does not match
//!   its digest). The registry Worker returns the problem as it is.
//! - `POST` [`CHECK_LOADABLE_PATH`], body the ONNX bytes: `200` with a
//!   [`Loadability`] (the promotion gate "it loads").
//! - `GET` [`HEALTH_PATH`]: `204` (the registry Worker's `/readyz`).
//!
//! The inference Worker reads artifacts from the same R2 bucket, under the
//! same keys ([`outpost_core::digest::object_key`]), and re-hashes every
//! artifact against the digest it was asked for before loading it.

use outpost_core::digest::Digest;
use outpost_core::telemetry::TelemetryWindow;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Runs one version on the caller's inputs.
pub const RUN_PATH: &str = "/run";
/// Whether ONNX bytes load, optimise and plan.
pub const CHECK_LOADABLE_PATH: &str = "/check-loadable";
/// Liveness of the inference Worker.
pub const HEALTH_PATH: &str = "/healthz";

/// Artifacts larger than this are not run in a Worker (bytes): a Worker
/// isolate has 128 MB, and registration scans no more than this either.
pub const MAX_RUN_BYTES: u64 = 64 << 20;

/// One version to run, as routing chose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub org: String,
    /// `model@version`, for messages.
    pub name: String,
    /// The registered digest; the artifact is re-hashed against it.
    pub digest: Digest,
    /// The registered length (bytes); the model cache weighs entries by it.
    pub length: u64,
    /// The caller's inputs, as `POST …/predict` took them (see [`crate::json`]).
    pub inputs: Value,
    /// Present when the artifact is sealed at rest (`outpost_core::at_rest`):
    /// the object to read and the key that opens it. The at-rest secret
    /// stays with the registry Worker; this key opens this artifact only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedArtifact>,
}

/// A sealed artifact's key version and key (64 hex digits).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedArtifact {
    pub key_version: u32,
    pub key: String,
}

impl std::fmt::Debug for SealedArtifact {
    // Never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedArtifact")
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// What one run gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResult {
    /// The outputs as nested arrays by name (see [`crate::json`]).
    pub outputs: Value,
    /// The call as a telemetry window: one call, its latency and the first
    /// input's feature values.
    pub window: TelemetryWindow,
    /// Milliseconds reading and re-hashing the artifact (0 when cached).
    pub fetch_ms: f64,
    /// Milliseconds loading, optimising and planning (0 when cached).
    pub load_ms: f64,
    /// Milliseconds running.
    pub run_ms: f64,
    /// Whether the loaded model came from the isolate's cache.
    pub cached: bool,
}

/// Whether ONNX bytes load; the reason when they do not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loadability {
    pub loadable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_run_result_with_missing_values_survives_json() {
        let mut window = TelemetryWindow::new(Vec::new());
        window.record_call(&[1.0, f64::NAN, 3.0, 4.0], 2, 250.0);
        let result = RunResult {
            outputs: serde_json::json!({"y": [[0.5]]}),
            window,
            fetch_ms: 1.5,
            load_ms: 2.0,
            run_ms: 0.25,
            cached: false,
        };
        let text = serde_json::to_string(&result).unwrap();
        let back: RunResult = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        assert_eq!(back.window.calls, 1);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text =
            r#"{"org":"o","name":"m@1","digest":"sha256:00","length":1,"inputs":{},"extra":1}"#;
        assert!(serde_json::from_str::<RunRequest>(text).is_err());
    }
}
