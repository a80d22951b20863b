//! The inference Worker, reached through the service binding `INFERENCE`
//! (protocol: `outpost_infer::remote`). This Worker carries no tract: it
//! routes, checks and records, and asks the inference Worker to load and run
//! models — `predict`, shadow runs and the promotion gate "it loads".
//!
//! The inference Worker's refusals (`422` wrong inputs or a model that does
//! not run, `503` a missing or altered artifact) come back to the caller as
//! they are. Not reaching it at all is a `503` naming the binding; anything
//! else it answers is logged and becomes the generic `500`.

use outpost_core::{Problem, ProblemKind};
use outpost_infer::remote::{
    CHECK_LOADABLE_PATH, HEALTH_PATH, Loadability, RUN_PATH, RunRequest, RunResult,
};
use wasm_bindgen::JsValue;
use worker::js_sys::Uint8Array;
use worker::{Env, Fetcher, Headers, Method, RequestInit, Response};

use crate::error::{ApiError, ApiResult};

/// The service binding to the inference Worker (wrangler.toml `[[services]]`).
pub const INFERENCE_BINDING: &str = "INFERENCE";

/// Any URL reaches the bound Worker; its host is never looked up.
const ORIGIN: &str = "https://inference.internal";

fn unavailable(cause: impl std::fmt::Display) -> ApiError {
    worker::console_error!("inference Worker: {cause}");
    ApiError::new(
        ProblemKind::ServiceUnavailable,
        format!(
            "the inference Worker is unavailable (service binding {INFERENCE_BINDING}); predictions and the loadable gate need it: retry later, or see /readyz"
        ),
    )
}

fn fetcher(env: &Env) -> ApiResult<Fetcher> {
    env.service(INFERENCE_BINDING)
        .map_err(|err| unavailable(format!("binding {INFERENCE_BINDING}: {err}")))
}

async fn post(env: &Env, path: &str, body: JsValue, content_type: &str) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body));
    fetcher(env)?
        .fetch(format!("{ORIGIN}{path}"), Some(init))
        .await
        .map_err(|err| unavailable(format!("POST {path}: {err}")))
}

/// The inference Worker's answer when it is not a `200`: its own refusals
/// pass through; anything else is ours to log.
async fn refusal(path: &str, mut response: Response) -> ApiError {
    let status = response.status_code();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Problem>(&text) {
        Ok(mut problem) if matches!(status, 422 | 503) && problem.status == status => {
            problem.instance = None;
            ApiError::Problem(Box::new(problem))
        }
        _ => ApiError::internal(format!(
            "the inference Worker answered POST {path} with {status}: {}",
            text.chars().take(500).collect::<String>()
        )),
    }
}

/// `POST path` and the `200` answer as `T`; any other status through
/// [`refusal`].
async fn call<T: serde::de::DeserializeOwned>(
    env: &Env,
    path: &str,
    body: JsValue,
    content_type: &str,
) -> ApiResult<T> {
    let mut response = post(env, path, body, content_type).await?;
    if response.status_code() != 200 {
        return Err(refusal(path, response).await);
    }
    response.json::<T>().await.map_err(|err| {
        ApiError::internal(format!(
            "the inference Worker's answer to POST {path}: {err}"
        ))
    })
}

/// Runs one version on the caller's inputs.
pub async fn run(env: &Env, request: &RunRequest) -> ApiResult<RunResult> {
    let body = serde_json::to_string(request).map_err(ApiError::internal)?;
    call(env, RUN_PATH, JsValue::from_str(&body), "application/json").await
}

/// Whether ONNX bytes load, optimise and plan.
pub async fn check_loadable(env: &Env, bytes: &[u8]) -> ApiResult<Loadability> {
    let body = Uint8Array::from(bytes);
    call(
        env,
        CHECK_LOADABLE_PATH,
        body.into(),
        "application/octet-stream",
    )
    .await
}

/// `/readyz`: whether the inference Worker answers its health check;
/// `Err` says why not, in words an operator can act on.
pub async fn probe(env: &Env) -> Result<(), String> {
    let fetcher = env.service(INFERENCE_BINDING).map_err(|_| {
        format!(
            "service binding {INFERENCE_BINDING} is not configured (see [[services]] in wrangler.toml)"
        )
    })?;
    let mut response = fetcher
        .fetch(format!("{ORIGIN}{HEALTH_PATH}"), None)
        .await
        .map_err(|err| format!("the inference Worker did not answer: {err}"))?;
    match response.status_code() {
        204 => Ok(()),
        status => {
            let detail = response
                .json::<Problem>()
                .await
                .ok()
                .and_then(|problem| problem.detail)
                .unwrap_or_default();
            Err(format!("the inference Worker answered {status}: {detail}"))
        }
    }
}
