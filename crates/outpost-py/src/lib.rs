//! `outpost._native`: the Python SDK's bridge to the Rust core. Every
//! decision the SDK makes — digests, the TUF refresh and the director's
//! resolution, the artifact check, release metadata, reference profiles,
//! drift tests and inference — is `outpost-core` / `outpost-infer` code, the
//! same the CLI, the Worker and the wasm client run; the Python package
//! (`crates/outpost-py/python/outpost`) only moves bytes (httpx, files) and
//! converts arrays. Errors are raised as the package's own exception classes
//! (`outpost.errors`), so a caller catches one hierarchy.
//!
//! The API is small and typed in `python/outpost/_native.pyi`.

use std::borrow::Cow;

use pyo3::call::PyCallArgs;
use pyo3::prelude::*;

mod drift;
mod inference;
mod trust;

/// Raises `outpost.errors.{class}(*args)`.
fn error<'py>(py: Python<'py>, class: &str, args: impl PyCallArgs<'py>) -> PyErr {
    let made = py
        .import("outpost.errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1(args));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// `outpost.errors.InputError(message)`: the caller's input was refused.
fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error(py, "InputError", (message.into(),))
}

/// SHA-256 of a stream, chunk by chunk, counting its bytes
/// (`outpost_core::digest::Sha256Hasher`).
#[pyclass(module = "outpost._native")]
#[derive(Debug)]
struct Hasher {
    inner: Option<outpost_core::digest::Sha256Hasher>,
}

#[pymethods]
impl Hasher {
    #[new]
    fn new() -> Self {
        Self {
            inner: Some(outpost_core::digest::Sha256Hasher::new()),
        }
    }

    fn update(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<()> {
        let hasher = self
            .inner
            .as_mut()
            .ok_or_else(|| input_error(py, "this hasher has finished"))?;
        hasher.update(chunk);
        Ok(())
    }

    /// `("sha256:<hex>", length in bytes)`.
    fn finish(&mut self, py: Python<'_>) -> PyResult<(String, u64)> {
        let hasher = self
            .inner
            .take()
            .ok_or_else(|| input_error(py, "this hasher has finished"))?;
        let done = hasher.finish();
        Ok((done.digest.to_string(), done.length))
    }
}

/// A reference profile (`outpost_core::profile::ReferenceProfile`, as JSON)
/// of named columns of text cells, exactly as `outpost push --reference`
/// makes one from a CSV file. Raises `InputError` when the sample cannot be
/// profiled (no rows, too many features, …).
#[pyfunction]
fn reference_profile(py: Python<'_>, columns: Vec<(String, Vec<String>)>) -> PyResult<String> {
    let profile = outpost_core::profile::ReferenceProfile::from_columns(&columns)
        .map_err(|e| input_error(py, e.to_string()))?;
    profile
        .validate()
        .map_err(|e| input_error(py, e.to_string()))?;
    serde_json::to_string(&profile).map_err(|e| input_error(py, e.to_string()))
}

/// Bytes as Python `bytes` (a `Vec<u8>` would become a list of ints).
fn bytes(data: Vec<u8>) -> Cow<'static, [u8]> {
    Cow::Owned(data)
}

#[pymodule]
mod _native {
    #[pymodule_export]
    use super::Hasher;
    #[pymodule_export]
    use super::drift::drift_compare;
    #[pymodule_export]
    use super::inference::Model;
    #[pymodule_export]
    use super::reference_profile;
    #[pymodule_export]
    use super::trust::{ArtifactCheck, TrustedState, Updater, VerifiedResolution, sign_release};
}
