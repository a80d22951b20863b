//! Outpost's client for browsers, Workers, Node and Deno, as a wasm-bindgen
//! module.
//!
//! It exposes the same verification the native CLI performs, from the same
//! `outpost-core` code, so a page can refuse an artifact whose bytes do not
//! match what the registry signed. Errors carry a stable `code` for programs
//! and a readable message for people.
//!
//! ```js
//! import { verifyDigest } from "./outpost_client.js";
//! verifyDigest(bytes, "sha256:…"); // throws Error with .code = "DIGEST_MISMATCH"
//! ```
//!
//! The `inference` feature (default) adds `Model` and `OutpostClient.load`
//! (tract). Without it the module is the verify-only package
//! (`@outpost/client-verify`): resolve, fetch, every trust check, hashing
//! and drift, for devices that bring their own runtime.

use outpost_core::digest::{Digest, DigestError};
use wasm_bindgen::prelude::*;

mod audit;
mod client;
mod drift;
#[cfg(feature = "inference")]
mod inference;
pub use audit::verify_audit_chain;
pub use client::OutpostClient;
pub use drift::drift_compare;
#[cfg(feature = "inference")]
pub use inference::Model;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** A resolution the client verified: which artifact this device runs. */
export interface Resolution {
  org: string;
  model: string;
  stage: string;
  device: string;
  version: string;
  arm: "stable" | "canary" | "variant";
  target: string;
  digest: string;
  length: number;
  shadow: { version: string; target: string; digest: string; length: number } | null;
  resolutionVersion: number;
  expires: string;
  /** The director-signed envelope, as served. */
  envelope: unknown;
}

/** Errors the client throws are `Error`s with one of these codes. */
export type OutpostErrorCode =
  | "DIGEST_MALFORMED" | "DIGEST_MISMATCH" | "LENGTH_MISMATCH"
  | "BAD_SIGNATURE" | "EXPIRED" | "ROLLBACK" | "MIX_AND_MATCH" | "WRONG_ANSWER"
  | "NOT_RELEASED" | "MALFORMED" | "MISSING" | "NO_DIRECTOR" | "ROOT_MISMATCH" | "TOO_MANY_ROOTS"
  | "MODEL_INVALID" | "INPUT_INVALID" | "RUN_FAILED"
  | "CONFIG_INVALID" | "NETWORK" | "REGISTRY";
"#;

/// Stable error codes the JS side can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    DigestMalformed,
    DigestMismatch,
    LengthMismatch,
    ModelInvalid,
    InputInvalid,
    RunFailed,
    ConfigInvalid,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::DigestMalformed => "DIGEST_MALFORMED",
            ErrorCode::DigestMismatch => "DIGEST_MISMATCH",
            ErrorCode::LengthMismatch => "LENGTH_MISMATCH",
            ErrorCode::ModelInvalid => "MODEL_INVALID",
            ErrorCode::InputInvalid => "INPUT_INVALID",
            ErrorCode::RunFailed => "RUN_FAILED",
            ErrorCode::ConfigInvalid => "CONFIG_INVALID",
        }
    }
}

impl From<&DigestError> for ErrorCode {
    fn from(err: &DigestError) -> Self {
        match err {
            DigestError::Mismatch { .. } => ErrorCode::DigestMismatch,
            DigestError::LengthMismatch { .. } => ErrorCode::LengthMismatch,
            DigestError::UnsupportedAlgorithm(_)
            | DigestError::WrongLength(_)
            | DigestError::NotLowercaseHex(_) => ErrorCode::DigestMalformed,
        }
    }
}

/// Runs once when the module is instantiated.
#[cfg(all(target_family = "wasm", feature = "inference"))]
#[wasm_bindgen(start)]
fn start() {
    outpost_infer::run_constructors();
}

/// The crate version, so a page can report which client it runs.
#[wasm_bindgen(js_name = clientVersion)]
pub fn client_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// `sha256:<hex>` of `bytes`.
#[wasm_bindgen(js_name = digestOf)]
pub fn digest_of(bytes: &[u8]) -> String {
    Digest::of(bytes).to_string()
}

/// Checks `bytes` against a declared digest and length, the check every client
/// makes before it uses an artifact.
pub fn check_artifact(bytes: &[u8], expected: &str, length: u64) -> Result<(), DigestError> {
    let expected: Digest = expected.parse()?;
    let mut hasher = outpost_core::Sha256Hasher::new();
    hasher.update(bytes);
    hasher.finish().expect(&expected, length)
}

/// JS entry point of [`check_artifact`]: throws an `Error` whose `code` is one of
/// `DIGEST_MALFORMED`, `DIGEST_MISMATCH`, `LENGTH_MISMATCH`.
#[wasm_bindgen(js_name = verifyArtifact)]
pub fn verify_artifact(bytes: &[u8], expected: &str, length: f64) -> Result<(), JsValue> {
    if !(length.is_finite() && length >= 0.0 && length.fract() == 0.0) {
        return Err(js_error(
            ErrorCode::LengthMismatch,
            &format!("declared length must be a non-negative integer, got {length}"),
        ));
    }
    check_artifact(bytes, expected, length as u64)
        .map_err(|err| js_error(ErrorCode::from(&err), &err.to_string()))
}

fn js_error(code: ErrorCode, message: &str) -> JsValue {
    error_with_code(code.as_str(), message)
}

/// A JS `Error` with a stable `code` property.
fn error_with_code(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property on a fresh Error cannot fail; if it ever did, the
    // message alone still reaches the caller.
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn accepts_matching_bytes() {
        check_artifact(b"abc", ABC, 3).unwrap();
        assert_eq!(digest_of(b"abc"), ABC);
    }

    #[test]
    fn maps_each_failure_to_its_code() {
        let code = |r: Result<(), DigestError>| ErrorCode::from(&r.unwrap_err()).as_str();
        assert_eq!(code(check_artifact(b"abd", ABC, 3)), "DIGEST_MISMATCH");
        assert_eq!(code(check_artifact(b"abcd", ABC, 3)), "LENGTH_MISMATCH");
        assert_eq!(
            code(check_artifact(b"abc", "sha256:zz", 3)),
            "DIGEST_MALFORMED"
        );
    }
}
