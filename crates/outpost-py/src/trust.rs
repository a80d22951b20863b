//! `outpost.Device`'s core: the sans-I/O TUF refresh
//! (`outpost_core::trust::Updater`), the director's resolution, the
//! artifact check and offline re-verification, and the release signer's side
//! (`next_release` after `check_extends_own_release`). The Python side only
//! fetches the files these ask for and writes what they accept.
//!
//! Every refusal is an `outpost.errors.TrustError(code, step, message)` with
//! the code the CLI and the wasm client print (`SIGNATURE_THRESHOLD`,
//! `EXPIRED`, `ROLLBACK`, `LENGTH_MISMATCH`, …).

use outpost_core::digest::{HashedContent, Sha256Hasher};
use outpost_core::signing::{PublicKey, SigningKey};
use outpost_core::trust::{
    Envelope, Question, Resolution, TargetFile, TrustError, UpdateError, Verified,
    check_extends_own_release, next_release, target_path, verify_artifact,
};
use pyo3::prelude::*;

use crate::{error, input_error};

fn refused(py: Python<'_>, step: &str, err: &TrustError) -> PyErr {
    error(
        py,
        "TrustError",
        (
            err.code(),
            step.to_owned(),
            format!("{} refused at {step}: {err}", err.code()),
        ),
    )
}

fn refused_update(py: Python<'_>, err: &UpdateError) -> PyErr {
    refused(py, &err.step.to_string(), &err.error)
}

fn envelope(py: Python<'_>, what: &str, data: &[u8]) -> PyResult<Envelope> {
    serde_json::from_slice(data).map_err(|e| {
        refused(
            py,
            what,
            &TrustError::Malformed {
                role: what.to_owned(),
                detail: format!("not signed metadata: {e}"),
            },
        )
    })
}

/// What a device trusts: the current root, the newest timestamp, snapshot
/// and release metadata it accepted, and the highest version of each role
/// and resolution it has seen (rollback protection across runs). Saved as
/// JSON between runs (`to_json` / `from_json`), the CLI's `trusted.json`.
#[pyclass(module = "outpost._native")]
#[derive(Debug, Clone)]
pub struct TrustedState {
    inner: outpost_core::trust::TrustedState,
}

#[pymethods]
impl TrustedState {
    /// A state saved with `to_json`. Raises `InputError` when it is corrupt.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        serde_json::from_str(text)
            .map(|inner| Self { inner })
            .map_err(|e| {
                input_error(
                    py,
                    format!("the saved trusted state is corrupt ({e}); remove it to start again from the pinned root"),
                )
            })
    }

    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string_pretty(&self.inner).map_err(|e| input_error(py, e.to_string()))
    }

    /// The trusted root's version.
    #[getter]
    fn root_version(&self) -> u64 {
        self.inner.root.version
    }

    /// The trusted release (targets) metadata's version, if any.
    #[getter]
    fn release_version(&self) -> Option<u64> {
        self.inner.targets.as_ref().map(|t| t.version)
    }

    /// Checks that this state accepted exactly the root `pinned` (JSON bytes)
    /// on its way. Raises `TrustError` (`ROOT_MISMATCH`) otherwise.
    fn descends_from(&self, py: Python<'_>, pinned: &[u8]) -> PyResult<()> {
        let pinned = envelope(py, "the pinned root", pinned)?;
        self.inner
            .descends_from(&pinned)
            .map_err(|e| refused(py, "the pinned root", &e))
    }

    /// The director's step: `resolution` (the bytes of `GET …/resolve`) must
    /// be signed by the director, answer exactly this question, be fresh at
    /// `now_ms` and not older than one already trusted, and name an artifact
    /// the release role signed. The state remembers its number on success.
    #[pyo3(signature = (resolution, org, model, stage, device, now_ms))]
    #[expect(
        clippy::too_many_arguments,
        reason = "the question's four parts are Python keyword arguments"
    )]
    fn verify_resolution(
        &mut self,
        py: Python<'_>,
        resolution: &[u8],
        org: String,
        model: String,
        stage: String,
        device: String,
        now_ms: i64,
    ) -> PyResult<VerifiedResolution> {
        let envelope = envelope(py, "the resolution", resolution)?;
        let asked = Question {
            org,
            model,
            stage,
            device,
        };
        let verified = self
            .inner
            .verify_resolution(&envelope, &asked, now_ms)
            .map_err(|e| refused(py, "the resolution", &e))?;
        Ok(VerifiedResolution { verified, envelope })
    }

    /// `outpost verify`: re-checks an installed file offline against the
    /// resolution (JSON bytes) it was installed from, hashing `path`.
    /// Expiry is not checked: a model installed while everything was fresh
    /// stays what it was.
    fn verify_installed(
        &self,
        py: Python<'_>,
        resolution: &[u8],
        path: std::path::PathBuf,
    ) -> PyResult<VerifiedResolution> {
        let envelope = envelope(py, "the installed model", resolution)?;
        let hashed = py
            .detach(|| hash_file(&path))
            .map_err(|e| input_error(py, format!("reading {}: {e}", path.display())))?;
        let verified = self
            .inner
            .verify_installed(&envelope, &hashed)
            .map_err(|e| refused(py, "the installed model", &e))?;
        Ok(VerifiedResolution { verified, envelope })
    }
}

fn hash_file(path: &std::path::Path) -> std::io::Result<HashedContent> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buffer[..n]);
    }
}

/// One TUF refresh (5.3–5.6) as a sans-I/O loop:
///
/// ```python
/// updater = Updater(pinned_root_bytes, saved_state_or_None, now_ms)
/// while (request := updater.next_file()) is not None:
///     file, optional = request
///     updater.offer(fetch(file))      # bytes, or None on 404
/// state = updater.finish()
/// ```
#[pyclass(module = "outpost._native")]
#[derive(Debug)]
pub struct Updater {
    inner: Option<outpost_core::trust::Updater>,
}

impl Updater {
    fn running(&mut self, py: Python<'_>) -> PyResult<&mut outpost_core::trust::Updater> {
        self.inner
            .as_mut()
            .ok_or_else(|| input_error(py, "this refresh has finished"))
    }
}

#[pymethods]
impl Updater {
    /// Starts a refresh at `now_ms` from the pinned root (its JSON bytes)
    /// and/or a saved state, which must descend from the pin when both are
    /// given. Raises `TrustError` at `the pinned root`.
    #[new]
    #[pyo3(signature = (pinned, saved, now_ms))]
    fn new(
        py: Python<'_>,
        pinned: Option<&[u8]>,
        saved: Option<PyRef<'_, TrustedState>>,
        now_ms: i64,
    ) -> PyResult<Self> {
        let pinned = pinned
            .map(|bytes| envelope(py, "the pinned root", bytes))
            .transpose()?;
        let updater = outpost_core::trust::Updater::new(
            pinned.as_ref(),
            saved.map(|s| s.inner.clone()),
            now_ms,
        )
        .map_err(|e| refused_update(py, &e))?;
        Ok(Self {
            inner: Some(updater),
        })
    }

    /// `(file, optional)`: the trust file to fetch next (relative to
    /// `…/trust/`), and whether a 404 is a normal answer; `None` when done.
    fn next_file(&mut self, py: Python<'_>) -> PyResult<Option<(String, bool)>> {
        Ok(self
            .running(py)?
            .next_file()
            .map(|request| (request.file, request.optional)))
    }

    /// Offers the bytes of the file `next_file` asked for, or `None` when the
    /// registry has no such file. Raises `TrustError` on a refusal; the
    /// caller keeps its old state.
    fn offer(&mut self, py: Python<'_>, data: Option<&[u8]>) -> PyResult<()> {
        self.running(py)?
            .offer(data)
            .map_err(|e| refused_update(py, &e))
    }

    /// The refreshed state, once every file was offered and verified.
    fn finish(&mut self, py: Python<'_>) -> PyResult<TrustedState> {
        let updater = self
            .inner
            .take()
            .ok_or_else(|| input_error(py, "this refresh has finished"))?;
        updater
            .finish()
            .map(|inner| TrustedState { inner })
            .map_err(|e| refused_update(py, &e))
    }
}

/// A resolution the trusted state accepted: which artifact to run.
#[pyclass(module = "outpost._native", frozen)]
#[derive(Debug, Clone)]
pub struct VerifiedResolution {
    verified: Verified<Resolution>,
    envelope: Envelope,
}

#[pymethods]
impl VerifiedResolution {
    #[getter]
    fn org(&self) -> String {
        self.verified.inner().question.org.clone()
    }
    #[getter]
    fn model(&self) -> String {
        self.verified.inner().question.model.clone()
    }
    #[getter]
    fn stage(&self) -> String {
        self.verified.inner().question.stage.clone()
    }
    #[getter]
    fn device(&self) -> String {
        self.verified.inner().question.device.clone()
    }
    #[getter]
    fn version(&self) -> String {
        self.verified.inner().version.clone()
    }
    /// `sha256:<hex>` of the artifact.
    #[getter]
    fn digest(&self) -> String {
        self.verified.inner().digest.to_string()
    }
    /// The artifact's length in bytes.
    #[getter]
    fn length(&self) -> u64 {
        self.verified.inner().length
    }
    #[getter]
    fn resolution_version(&self) -> u64 {
        self.verified.inner().resolution_version
    }
    /// The signed resolution as JSON, kept beside an installed model so it
    /// can be re-verified offline.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.envelope).map_err(|e| input_error(py, e.to_string()))
    }
    /// A check for the artifact's bytes as they stream in.
    fn artifact_check(&self) -> ArtifactCheck {
        ArtifactCheck {
            verified: self.verified.clone(),
            hasher: Some(Sha256Hasher::new()),
        }
    }
}

/// Hashes a download as it streams and refuses it the moment it runs past
/// the signed length; `finish` checks the digest and length.
#[pyclass(module = "outpost._native")]
#[derive(Debug)]
pub struct ArtifactCheck {
    verified: Verified<Resolution>,
    hasher: Option<Sha256Hasher>,
}

#[pymethods]
impl ArtifactCheck {
    /// Raises `TrustError` (`LENGTH_MISMATCH`) when the bytes so far are
    /// longer than the signed length.
    fn update(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<()> {
        let length = self.verified.inner().length;
        let hasher = self
            .hasher
            .as_mut()
            .ok_or_else(|| input_error(py, "this check has finished"))?;
        let received = hasher.length() + chunk.len() as u64;
        if received > length {
            self.hasher = None;
            return Err(refused(
                py,
                "the artifact",
                &TrustError::Artifact(outpost_core::digest::DigestError::LengthMismatch {
                    expected: length,
                    actual: received,
                }),
            ));
        }
        hasher.update(chunk);
        Ok(())
    }

    /// Raises `TrustError` (`LENGTH_MISMATCH`, `DIGEST_MISMATCH`) unless the
    /// bytes were exactly the signed artifact.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        let hasher = self
            .hasher
            .take()
            .ok_or_else(|| input_error(py, "this check has finished"))?;
        verify_artifact(&self.verified, &hasher.finish())
            .map_err(|e| refused(py, "the artifact", &e))
    }
}

/// The next release metadata, signed: the registry's current one
/// (`current`, the bytes of `targets.json`, or `None` before the first
/// release) with `additions` — `(model, version, length, "sha256:<hex>",
/// format)` — added, one version newer, expiring at `expires` (RFC 3339),
/// signed by every key in `keys` (PKCS#8 bytes from `outpost keys
/// generate`). The current release must carry one of these keys'
/// signatures, or a compromised registry could slip its own target in:
/// raises `TrustError` then, `InputError` for a bad key.
#[pyfunction]
pub fn sign_release(
    py: Python<'_>,
    current: Option<&[u8]>,
    additions: Vec<(String, String, u64, String, String)>,
    keys: Vec<Vec<u8>>,
    expires: String,
) -> PyResult<(u64, String)> {
    if keys.is_empty() {
        return Err(input_error(py, "give at least one release key"));
    }
    let signers = keys
        .iter()
        .map(|k| SigningKey::from_pkcs8(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            input_error(
                py,
                format!("not an ed25519 PKCS#8 key from `outpost keys generate`: {e}"),
            )
        })?;
    let publics: Vec<PublicKey> = signers.iter().map(|k| k.public().clone()).collect();
    let current = current
        .map(|bytes| {
            let envelope = envelope(py, "targets", bytes)?;
            check_extends_own_release(&envelope, &publics)
                .map_err(|e| refused(py, "the current release", &e))
        })
        .transpose()?;
    let mut files = Vec::with_capacity(additions.len());
    for (model, version, length, digest, format) in additions {
        let digest: outpost_core::digest::Digest = digest
            .parse()
            .map_err(|e| input_error(py, format!("{model}@{version}: {e}")))?;
        files.push((
            target_path(&model, &version),
            TargetFile {
                length,
                hashes: [("sha256".to_owned(), digest.hex())].into(),
                custom: Some(serde_json::json!({
                    "model": model, "version": version, "format": format,
                })),
            },
        ));
    }
    let signed = next_release(current.as_ref(), files, &expires);
    let version = signed["version"].as_u64().unwrap_or_default();
    let signatures = signers
        .iter()
        .map(|k| k.sign(&signed))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input_error(py, e.to_string()))?;
    let envelope = Envelope { signed, signatures };
    let text = serde_json::to_string(&envelope).map_err(|e| input_error(py, e.to_string()))?;
    Ok((version, text))
}
