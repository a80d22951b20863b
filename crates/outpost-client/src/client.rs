//! `OutpostClient`: the signed distribution for browsers and JS runtimes,
//! with the same checks as the native device client (`outpost pull`), from
//! the same `outpost_core::trust` code.
//!
//! ```js
//! const client = new OutpostClient({ registry, org, token, root, deviceId, store });
//! const resolution = await client.resolve("fraud-detector", "production");
//! const bytes = await client.fetchModel(resolution, (got, total) => {});
//! const model = Model.load(bytes);
//! ```
//!
//! Trusted state (the current root and the highest metadata versions seen)
//! persists in the store, so rollback protection holds across page loads;
//! artifacts are cached there by digest and re-verified on every read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use outpost_core::digest::{Digest, HashedContent, Sha256Hasher};
use outpost_core::trust::{
    Envelope, Question, Resolution, Step, TrustError, TrustedState, UpdateError, Updater, Verified,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::{ErrorCode, error_with_code, js_error};

/// Where trusted state and artifacts live between calls and page loads.
enum Store {
    /// Lost with the page; fine for tests, Workers and one-shot scripts.
    Memory(RefCell<BTreeMap<String, Vec<u8>>>),
    /// Anything with `get(key) → bytes | undefined` and `put(key, bytes)`,
    /// sync or async: the package's Cache API and IndexedDB stores, or the
    /// caller's own.
    Js(JsValue),
}

impl Store {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
        match self {
            Store::Memory(map) => Ok(map.borrow().get(key).cloned()),
            Store::Js(store) => {
                let value = call_method(store, "get", &[JsValue::from_str(key)])?;
                let value = settle(value).await?;
                if value.is_undefined() || value.is_null() {
                    return Ok(None);
                }
                Ok(Some(Uint8Array::new(&value).to_vec()))
            }
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), JsValue> {
        match self {
            Store::Memory(map) => {
                map.borrow_mut().insert(key.to_owned(), bytes.to_vec());
                Ok(())
            }
            Store::Js(store) => {
                let value = call_method(
                    store,
                    "put",
                    &[JsValue::from_str(key), Uint8Array::from(bytes).into()],
                )?;
                settle(value).await.map(|_| ())
            }
        }
    }
}

fn call_method(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let method: Function = Reflect::get(target, &JsValue::from_str(name))?
        .dyn_into()
        .map_err(|_| {
            js_error(
                ErrorCode::ConfigInvalid,
                &format!("the store has no `{name}` method"),
            )
        })?;
    let args: js_sys::Array = args.iter().collect();
    method.apply(target, &args)
}

/// Awaits `value` if it is a promise.
async fn settle(value: JsValue) -> Result<JsValue, JsValue> {
    if value.has_type::<Promise>() || value.is_instance_of::<Promise>() {
        JsFuture::from(Promise::from(value)).await
    } else {
        Ok(value)
    }
}

struct Inner {
    registry: String,
    org: String,
    token: Option<String>,
    device: String,
    pinned: Envelope,
    store: Store,
    fetch: Function,
    now: Option<Function>,
    /// Artifacts at least this large are hashed with WebCrypto where the
    /// runtime has it (`crypto.subtle`), smaller ones with the Rust hasher.
    webcrypto_above: u64,
}

/// The browser / JS-runtime device client.
#[wasm_bindgen]
pub struct OutpostClient {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for OutpostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutpostClient")
            .field("registry", &self.inner.registry)
            .field("org", &self.inner.org)
            .finish_non_exhaustive()
    }
}

fn config_error(message: &str) -> JsValue {
    js_error(ErrorCode::ConfigInvalid, message)
}

fn string_field(config: &JsValue, name: &str) -> Result<Option<String>, JsValue> {
    let value = Reflect::get(config, &JsValue::from_str(name))?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| config_error(&format!("`{name}` must be a string")))
}

/// A refusal of the refresh: `CODE refused at STEP: reason`, with a way out
/// for a store whose state belongs to another root.
fn update_refused(err: &UpdateError) -> JsValue {
    let hint = if err.code() == "ROOT_MISMATCH" {
        " (the store holds the state of another repository: use another store or clear it)"
    } else {
        ""
    };
    error_with_code(err.code(), &format!("{err}{hint}"))
}

fn refused(step: &str, err: &TrustError) -> JsValue {
    error_with_code(
        err.code(),
        &format!("{} refused at {step}: {err}", err.code()),
    )
}

#[wasm_bindgen]
impl OutpostClient {
    /// `{registry, org, token?, root, deviceId?, store?, fetch?, now?, webCryptoAbove?}`:
    /// `root` is the pinned root metadata (object or JSON text) shipped with
    /// the page; `store` defaults to memory; `fetch` to the global one; `now`
    /// (ms since the epoch) to `Date.now`; artifacts of at least
    /// `webCryptoAbove` bytes (4 MiB) are hashed with WebCrypto where present.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<OutpostClient, JsValue> {
        if !config.is_object() {
            return Err(config_error(
                "give a configuration object: {registry, org, root, ...}",
            ));
        }
        let registry = string_field(&config, "registry")?
            .ok_or_else(|| config_error("`registry` (the registry's base URL) is required"))?;
        let org = string_field(&config, "org")?.ok_or_else(|| config_error("`org` is required"))?;
        let root = Reflect::get(&config, &JsValue::from_str("root"))?;
        let root_text = match root.as_string() {
            Some(text) => text,
            None if root.is_object() => String::from(js_sys::JSON::stringify(&root)?),
            None => {
                return Err(config_error(
                    "`root` (the pinned root metadata) is required",
                ));
            }
        };
        let pinned: Envelope = serde_json::from_str(&root_text)
            .map_err(|err| config_error(&format!("`root` is not root metadata: {err}")))?;
        // Refuse a bad pin at once rather than on first use.
        TrustedState::from_pinned_root(&pinned).map_err(|e| refused("the pinned root", &e))?;
        let store = Reflect::get(&config, &JsValue::from_str("store"))?;
        let store = if store.is_undefined() || store.is_null() {
            Store::Memory(RefCell::new(BTreeMap::new()))
        } else {
            Store::Js(store)
        };
        let fetch = Reflect::get(&config, &JsValue::from_str("fetch"))?;
        let fetch = if fetch.is_undefined() || fetch.is_null() {
            let global = js_sys::global();
            let fetch: Function = Reflect::get(&global, &JsValue::from_str("fetch"))?
                .dyn_into()
                .map_err(|_| config_error("this runtime has no global fetch; pass `fetch`"))?;
            fetch.bind0(&global)
        } else {
            fetch
                .dyn_into()
                .map_err(|_| config_error("`fetch` must be a function"))?
        };
        let now = Reflect::get(&config, &JsValue::from_str("now"))?;
        let now = if now.is_undefined() || now.is_null() {
            None
        } else {
            Some(
                now.dyn_into()
                    .map_err(|_| config_error("`now` must be a function"))?,
            )
        };
        let threshold = Reflect::get(&config, &JsValue::from_str("webCryptoAbove"))?;
        let webcrypto_above = match threshold.as_f64() {
            Some(bytes) if bytes >= 0.0 => bytes as u64,
            Some(_) => return Err(config_error("`webCryptoAbove` must be a byte count")),
            None => WEBCRYPTO_ABOVE,
        };
        Ok(OutpostClient {
            inner: Rc::new(Inner {
                webcrypto_above,
                registry: registry.trim_end_matches('/').to_owned(),
                org,
                token: string_field(&config, "token")?,
                device: string_field(&config, "deviceId")?.unwrap_or_default(),
                pinned,
                store,
                fetch,
                now,
            }),
        })
    }

    /// Refreshes the trusted metadata (root rotations, timestamp, snapshot,
    /// release) and asks the director which artifact this device runs for
    /// `model@stage`. Resolves to the verified resolution:
    /// `{org, model, stage, device, version, arm, target, digest, length, shadow, resolutionVersion, expires, envelope}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Resolution>")]
    pub fn resolve(&self, model: String, stage: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move { inner.resolve(&model, &stage).await })
    }

    /// Downloads (or reads from the store) the artifact a resolution names,
    /// checking it against the signed digest and length: reading stops past
    /// the signed length, and bytes from the store are re-verified on every
    /// read. `onProgress(received, total)` is called as bytes arrive.
    #[wasm_bindgen(js_name = fetchModel, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn fetch_model(&self, resolution: JsValue, on_progress: Option<Function>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move { inner.fetch_model(&resolution, on_progress).await })
    }

    /// Sends a telemetry window (`model.report()`) for the version a
    /// resolution named to the registry (`POST …/models/{model}/telemetry`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn report(&self, resolution: JsValue, window: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let (model, version, stage) = resolved(&resolution)?;
            let window = window_json(&window, "a telemetry window")?;
            let body = serde_json::json!({"version": version, "stage": stage, "window": window})
                .to_string();
            let path = format!("/models/{}/telemetry", encode(&model));
            let response = inner.request("POST", &path, Some(&body)).await?;
            match status(&response) {
                200..=299 => Ok(JsValue::UNDEFINED),
                code => Err(registry_error(code, &Inner::text(&response).await?)),
            }
        })
    }
}

#[wasm_bindgen]
impl OutpostClient {
    /// Sends an outcome window (`model.takeOutcomes()`) for the version a
    /// resolution named (`POST …/models/{model}/outcomes`) under `id`
    /// (1 to 64 of `[A-Za-z0-9._:-]`, unique per model): the registry counts
    /// each id once, so sending a window again after a failure, under the
    /// same id, never counts it twice. Resolves to `{stored, outcomes}`.
    #[wasm_bindgen(js_name = reportOutcomes, unchecked_return_type = "Promise<{stored: boolean, outcomes: number}>")]
    pub fn report_outcomes(&self, resolution: JsValue, id: String, window: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let (model, version, stage) = resolved(&resolution)?;
            let window = window_json(&window, "an outcome window")?;
            let body =
                serde_json::json!({"version": version, "stage": stage, "id": id, "window": window})
                    .to_string();
            let path = format!("/models/{}/outcomes", encode(&model));
            let response = inner.request("POST", &path, Some(&body)).await?;
            let text = Inner::text(&response).await?;
            match status(&response) {
                200..=299 => js_sys::JSON::parse(&text),
                code => Err(registry_error(code, &text)),
            }
        })
    }
}

/// `(model, version, stage)` of a resolution `resolve` returned: what a
/// window reported for it is counted under.
fn resolved(resolution: &JsValue) -> Result<(String, String, String), JsValue> {
    let field = |name: &str| {
        Reflect::get(resolution, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or_else(|| config_error("pass the resolution `resolve` returned"))
    };
    Ok((field("model")?, field("version")?, field("stage")?))
}

/// A window object as JSON, or `CONFIG_INVALID` saying it is not `what`.
fn window_json(window: &JsValue, what: &str) -> Result<serde_json::Value, JsValue> {
    serde_json::from_str(&String::from(js_sys::JSON::stringify(window)?))
        .map_err(|err| config_error(&format!("not {what}: {err}")))
}

/// Loading needs the runtime: not in the verify-only package.
#[cfg(feature = "inference")]
#[wasm_bindgen]
impl OutpostClient {
    /// `resolve`, `fetchModel` and `Model.load` in one step.
    #[wasm_bindgen(unchecked_return_type = "Promise<Model>")]
    pub fn load(&self, model: String, stage: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let resolution = inner.resolve(&model, &stage).await?;
            let bytes = inner.fetch_model(&resolution, None).await?;
            let bytes = Uint8Array::new(&bytes).to_vec();
            crate::Model::load(&bytes).map(JsValue::from)
        })
    }
}

const STATE_KEY: &str = "outpost:trusted-state";
/// Default size from which WebCrypto hashes artifacts (native SHA-256 in the
/// browser beats SHA-256 compiled to wasm on large inputs).
const WEBCRYPTO_ABOVE: u64 = 4 << 20;

/// `crypto.subtle.digest("SHA-256", bytes)`, or None without WebCrypto.
async fn webcrypto_sha256(bytes: &[u8]) -> Result<Option<[u8; 32]>, JsValue> {
    let global = js_sys::global();
    let Some(subtle) = Reflect::get(&global, &JsValue::from_str("crypto"))
        .ok()
        .filter(JsValue::is_object)
        .and_then(|c| Reflect::get(&c, &JsValue::from_str("subtle")).ok())
        .filter(JsValue::is_object)
    else {
        return Ok(None);
    };
    let data = Uint8Array::from(bytes);
    let digest = settle(call_method(
        &subtle,
        "digest",
        &[JsValue::from_str("SHA-256"), data.into()],
    )?)
    .await?;
    let digest = Uint8Array::new(&digest).to_vec();
    Ok(<[u8; 32]>::try_from(digest.as_slice()).ok())
}

impl Inner {
    fn now(&self) -> Result<i64, JsValue> {
        match &self.now {
            Some(now) => now
                .call0(&JsValue::NULL)?
                .as_f64()
                .map(|ms| ms as i64)
                .ok_or_else(|| config_error("`now()` must return milliseconds")),
            None => Ok(js_sys::Date::now() as i64),
        }
    }

    fn state_key(&self) -> String {
        format!("{STATE_KEY}:{}:{}", self.registry, self.org)
    }

    /// The saved state, if the store has one that parses. (One that does
    /// not parse is ignored: the pin starts again.)
    async fn saved_state(&self) -> Result<Option<TrustedState>, JsValue> {
        Ok(self
            .store
            .get(&self.state_key())
            .await?
            .and_then(|bytes| serde_json::from_slice::<TrustedState>(&bytes).ok()))
    }

    async fn save_state(&self, state: &TrustedState) -> Result<(), JsValue> {
        let bytes = serde_json::to_vec(state).map_err(|e| config_error(&e.to_string()))?;
        self.store.put(&self.state_key(), &bytes).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/orgs/{}{path}", self.registry, self.org)
    }

    /// GETs `path` under the organisation; the Response object.
    async fn get(&self, path: &str) -> Result<JsValue, JsValue> {
        self.request("GET", path, None).await
    }

    /// Sends a request under the organisation; the Response object.
    async fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> Result<JsValue, JsValue> {
        let init = Object::new();
        let headers = Object::new();
        Reflect::set(
            &init,
            &JsValue::from_str("method"),
            &JsValue::from_str(method),
        )?;
        if let Some(body) = json {
            Reflect::set(&init, &JsValue::from_str("body"), &JsValue::from_str(body))?;
            Reflect::set(
                &headers,
                &JsValue::from_str("content-type"),
                &JsValue::from_str("application/json"),
            )?;
        }
        if let Some(token) = &self.token {
            Reflect::set(
                &headers,
                &JsValue::from_str("authorization"),
                &JsValue::from_str(&format!("Bearer {token}")),
            )?;
        }
        Reflect::set(&init, &JsValue::from_str("headers"), &headers)?;
        let url = self.url(path);
        let response = self
            .fetch
            .call2(&JsValue::NULL, &JsValue::from_str(&url), &init)
            .map_err(|err| network(&url, &err))?;
        settle(response).await.map_err(|err| network(&url, &err))
    }

    async fn text(response: &JsValue) -> Result<String, JsValue> {
        let text = settle(call_method(response, "text", &[])?).await?;
        Ok(text.as_string().unwrap_or_default())
    }

    /// Trust metadata `file`, or None when the registry has none (404).
    async fn metadata(&self, file: &str) -> Result<Option<Vec<u8>>, JsValue> {
        let response = self.get(&format!("/trust/{file}")).await?;
        match status(&response) {
            404 => Ok(None),
            200 => Ok(Some(Self::text(&response).await?.into_bytes())),
            code => Err(registry_error(code, &Self::text(&response).await?)),
        }
    }

    /// TUF 5.3–5.6 through the core's updater (the same sequence as `outpost
    /// pull`): the saved state, which must descend from the pinned root, or
    /// the pin, refreshed from the registry and saved only when it verified.
    async fn refresh(&self) -> Result<TrustedState, JsValue> {
        let saved = self.saved_state().await?;
        let mut updater =
            Updater::new(Some(&self.pinned), saved, self.now()?).map_err(|e| update_refused(&e))?;
        while let Some(request) = updater.next_file() {
            let bytes = self.metadata(&request.file).await?;
            updater
                .offer(bytes.as_deref())
                .map_err(|e| update_refused(&e))?;
        }
        let state = updater.finish().map_err(|e| update_refused(&e))?;
        self.save_state(&state).await?;
        Ok(state)
    }

    async fn resolve(&self, model: &str, stage: &str) -> Result<JsValue, JsValue> {
        let mut state = self.refresh().await?;
        let mut path = format!("/models/{}/resolve?stage={}", encode(model), encode(stage));
        if !self.device.is_empty() {
            path.push_str(&format!("&device={}", encode(&self.device)));
        }
        let response = self.get(&path).await?;
        let text = Self::text(&response).await?;
        if status(&response) != 200 {
            return Err(registry_error(status(&response), &text));
        }
        let envelope: Envelope = serde_json::from_str(&text).map_err(|err| {
            error_with_code(
                "MALFORMED",
                &format!("MALFORMED refused at the resolution: {err}"),
            )
        })?;
        let asked = Question {
            org: self.org.clone(),
            model: model.to_owned(),
            stage: stage.to_owned(),
            device: self.device.clone(),
        };
        let verified = state
            .verify_resolution(&envelope, &asked, self.now()?)
            .map_err(|e| refused("the resolution", &e))?;
        self.save_state(&state).await?;
        resolution_object(&verified, &envelope)
    }

    async fn fetch_model(
        &self,
        resolution: &JsValue,
        on_progress: Option<Function>,
    ) -> Result<JsValue, JsValue> {
        let envelope = Reflect::get(resolution, &JsValue::from_str("envelope"))?;
        if envelope.is_undefined() {
            return Err(config_error("pass the resolution `resolve` returned"));
        }
        let envelope: Envelope =
            serde_json::from_str(&String::from(js_sys::JSON::stringify(&envelope)?))
                .map_err(|err| config_error(&format!("not a resolution: {err}")))?;
        // The trusted state as the last refresh left it; offline, so it must
        // already descend from the pin (no rotation can follow here).
        let saved = self.saved_state().await?;
        let state = TrustedState::resume(saved, &self.pinned).map_err(|error| {
            update_refused(&UpdateError {
                step: Step::PinnedRoot,
                error,
            })
        })?;
        let claimed: Resolution = serde_json::from_value(envelope.signed.clone())
            .map_err(|err| config_error(&format!("not a resolution: {err}")))?;
        let key = claimed.digest.to_string();
        if let Some(bytes) = self.store.get(&key).await? {
            let mut hasher = Sha256Hasher::new();
            hasher.update(&bytes);
            // A cached copy that no longer verifies is fetched again.
            if state.verify_installed(&envelope, &hasher.finish()).is_ok() {
                if let Some(progress) = &on_progress {
                    let n = JsValue::from_f64(bytes.len() as f64);
                    progress.call2(&JsValue::NULL, &n, &n)?;
                }
                return Ok(Uint8Array::from(&bytes[..]).into());
            }
        }
        let bytes = self
            .download(&claimed.digest, claimed.length, on_progress)
            .await?;
        let webcrypto = if bytes.len() as u64 >= self.webcrypto_above {
            webcrypto_sha256(&bytes).await?
        } else {
            None
        };
        let hashed = match webcrypto {
            Some(digest) => HashedContent {
                digest: Digest::from_bytes(digest),
                length: bytes.len() as u64,
            },
            None => {
                let mut hasher = Sha256Hasher::new();
                hasher.update(&bytes);
                hasher.finish()
            }
        };
        state
            .verify_installed(&envelope, &hashed)
            .map_err(|e| refused("the artifact", &e))?;
        self.store.put(&key, &bytes).await?;
        Ok(Uint8Array::from(&bytes[..]).into())
    }

    /// Streams the artifact, stopping one byte past the signed length.
    async fn download(
        &self,
        digest: &Digest,
        length: u64,
        on_progress: Option<Function>,
    ) -> Result<Vec<u8>, JsValue> {
        let response = self.get(&format!("/blobs/sha256/{}", digest.hex())).await?;
        if status(&response) != 200 {
            return Err(registry_error(
                status(&response),
                &Self::text(&response).await?,
            ));
        }
        let total = JsValue::from_f64(length as f64);
        let too_long = || {
            let err = TrustError::Artifact(outpost_core::digest::DigestError::LengthMismatch {
                expected: length,
                actual: length + 1,
            });
            refused("the artifact", &err)
        };
        let mut bytes = Vec::with_capacity(usize::try_from(length.min(1 << 28)).unwrap_or(0));
        let body = Reflect::get(&response, &JsValue::from_str("body"))?;
        if body.is_undefined() || body.is_null() {
            let buffer = settle(call_method(&response, "arrayBuffer", &[])?).await?;
            bytes = Uint8Array::new(&buffer).to_vec();
            if bytes.len() as u64 > length {
                return Err(too_long());
            }
        } else {
            let reader = call_method(&body, "getReader", &[])?;
            loop {
                let chunk = settle(call_method(&reader, "read", &[])?).await?;
                if Reflect::get(&chunk, &JsValue::from_str("done"))?.is_truthy() {
                    break;
                }
                let value = Uint8Array::new(&Reflect::get(&chunk, &JsValue::from_str("value"))?);
                bytes.extend(value.to_vec());
                if bytes.len() as u64 > length {
                    let _ = call_method(&reader, "cancel", &[]);
                    return Err(too_long());
                }
                if let Some(progress) = &on_progress {
                    progress.call2(
                        &JsValue::NULL,
                        &JsValue::from_f64(bytes.len() as f64),
                        &total,
                    )?;
                }
            }
        }
        Ok(bytes)
    }
}

fn status(response: &JsValue) -> u16 {
    Reflect::get(response, &JsValue::from_str("status"))
        .ok()
        .and_then(|s| s.as_f64())
        .unwrap_or(0.0) as u16
}

fn network(url: &str, err: &JsValue) -> JsValue {
    let detail = Reflect::get(err, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{err:?}"));
    error_with_code("NETWORK", &format!("could not reach {url}: {detail}"))
}

/// A registry error answer (problem+json), with its detail.
fn registry_error(status: u16, body: &str) -> JsValue {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    error_with_code(
        "REGISTRY",
        &format!("the registry answered {status}: {detail}"),
    )
}

fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

fn resolution_object(
    verified: &Verified<Resolution>,
    envelope: &Envelope,
) -> Result<JsValue, JsValue> {
    let r = verified.inner();
    let value = serde_json::json!({
        "org": r.question.org,
        "model": r.question.model,
        "stage": r.question.stage,
        "device": r.question.device,
        "version": r.version,
        "arm": r.arm,
        "target": r.target,
        "digest": r.digest,
        "length": r.length,
        "shadow": r.shadow,
        "resolutionVersion": r.resolution_version,
        "expires": r.expires,
        "envelope": envelope,
    });
    js_sys::JSON::parse(&value.to_string())
}
