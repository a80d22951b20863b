//! Outpost's inference Worker: loads and runs models (tract-onnx and
//! Outpost's `ai.onnx.ml` operators, in `outpost-infer`) for the registry
//! Worker. It is the only Worker that carries tract, so the registry Worker,
//! which answers every device, starts small.
//!
//! The registry Worker reaches it through a service binding; the protocol is
//! `outpost_infer::remote`. It decides nothing about routing, access or
//! telemetry: the registry Worker has done that before it asks. It has no
//! public route and no database. It reads artifacts from the registry's R2
//! bucket and re-hashes every artifact against the digest it was asked for
//! before loading it; loaded models are cached per isolate by organisation
//! and digest within a memory budget, so a warm isolate only runs.
//!
//! Every failure is an RFC 9457 problem, which the registry Worker returns
//! as it is (`422` for wrong inputs or a model that does not run, `503` for
//! a missing or altered artifact).

use std::cell::RefCell;

use futures_util::StreamExt;
use outpost_core::at_rest;
use outpost_core::digest::{Sha256Hasher, object_key};
use outpost_core::problem::{Problem, ProblemKind};
use outpost_core::telemetry::TelemetryWindow;
use outpost_infer::cache::ModelCache;
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use outpost_infer::remote::{
    CHECK_LOADABLE_PATH, HEALTH_PATH, Loadability, MAX_RUN_BYTES, RUN_PATH, RunRequest, RunResult,
};
use outpost_infer::{Model, RunError};
use worker::{Context, Env, Headers, Method, Request, Response, event};

/// The R2 binding, shared with the registry Worker.
const R2_BINDING: &str = "ARTIFACTS";
/// Artifact bytes of loaded models an isolate keeps (Workers have 128 MB).
const MODEL_CACHE_BYTES: u64 = 48 << 20;

thread_local! {
    static MODELS: RefCell<ModelCache<Model>> = RefCell::new(ModelCache::new(MODEL_CACHE_BYTES));
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
    // Once per isolate, not once per request (see run_constructors).
    #[cfg(target_family = "wasm")]
    outpost_infer::run_constructors();
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let path = req.path();
    let answer = match (req.method(), path.as_str()) {
        (Method::Get, HEALTH_PATH) => health(&env).await,
        (Method::Post, RUN_PATH) => run(&mut req, &env).await,
        (Method::Post, CHECK_LOADABLE_PATH) => check_loadable(&mut req).await,
        (method, _) => Err(Box::new(Problem::not_found_route(method.as_ref(), &path))),
    };
    match answer {
        Ok(response) => Ok(response),
        Err(problem) => {
            let headers = Headers::new();
            headers.set("content-type", "application/problem+json")?;
            Ok(Response::from_json(&problem)?
                .with_status(problem.status)
                .with_headers(headers))
        }
    }
}

/// Boxed: error paths are rare, and the happy path stays small.
type Refusal = Box<Problem>;
type Answer = Result<Response, Refusal>;

/// The cause goes to the log; the caller gets the generic 500.
fn internal(what: &str, err: impl std::fmt::Display) -> Refusal {
    worker::console_error!("{what}: {err}");
    Box::new(Problem::internal())
}

fn refusal(kind: ProblemKind, detail: impl Into<String>) -> Refusal {
    Box::new(Problem::new(kind, detail))
}

fn json(value: &impl serde::Serialize) -> Answer {
    Response::from_json(value).map_err(|err| internal("encoding the answer", err))
}

/// `GET /healthz`: `204` when the artifacts bucket is bound and answers
/// (one `head` of a key that never exists).
async fn health(env: &Env) -> Answer {
    let Ok(bucket) = env.bucket(R2_BINDING) else {
        return Err(refusal(
            ProblemKind::ServiceUnavailable,
            format!(
                "the inference Worker has no R2 binding {R2_BINDING} (see worker/inference/wrangler.toml)"
            ),
        ));
    };
    if let Err(err) = bucket.head("readiness-probe").await {
        return Err(refusal(
            ProblemKind::ServiceUnavailable,
            format!("the inference Worker's R2 bucket does not answer: {err}"),
        ));
    }
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(|err| internal("answering", err))
}

/// `POST /check-loadable`: whether the ONNX bytes in the body load,
/// optimise and plan.
async fn check_loadable(req: &mut Request) -> Answer {
    let bytes = req
        .bytes()
        .await
        .map_err(|err| internal("reading the model", err))?;
    let answer = match outpost_infer::load::check_loadable(&bytes) {
        Ok(()) => Loadability {
            loadable: true,
            reason: None,
        },
        Err(err) => Loadability {
            loadable: false,
            reason: Some(err.to_string()),
        },
    };
    json(&answer)
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// `POST /run`: runs one version on the caller's inputs.
async fn run(req: &mut Request, env: &Env) -> Answer {
    let body = req
        .bytes()
        .await
        .map_err(|err| internal("reading the run request", err))?;
    let request: RunRequest = serde_json::from_slice(&body).map_err(|err| {
        refusal(
            ProblemKind::BadRequest,
            format!("not a run request (outpost_infer::remote::RunRequest): {err}"),
        )
    })?;
    let name = &request.name;
    let (model, fetch_ms, load_ms, cached) = loaded(env, &request).await?;
    let declared = || model.describe_inputs();
    let unprocessable = |detail: String| refusal(ProblemKind::UnprocessableContent, detail);
    let started = now_ms();
    let tensors = inputs_from_json(model.inputs(), &request.inputs)
        .map_err(|err| unprocessable(format!("{err} ({name} takes {})", declared())))?;
    let outputs = match model.run(&tensors) {
        Ok(outputs) => outputs_to_json(&outputs),
        Err(RunError::Input(err)) => {
            return Err(unprocessable(format!(
                "{err} ({name} takes {})",
                declared()
            )));
        }
        Err(err) => return Err(unprocessable(format!("{name}: {err}"))),
    };
    let run_ms = now_ms() - started;
    let mut window = TelemetryWindow::new(Vec::new());
    match outpost_infer::tensor::feature_rows(&tensors) {
        Some((values, columns)) => window.record_call(&values, columns, run_ms * 1e3),
        None => window.record_call(&[], 0, run_ms * 1e3),
    }
    json(&RunResult {
        outputs,
        window,
        fetch_ms,
        load_ms,
        run_ms,
        cached,
    })
}

/// The model the request names: from the isolate's cache, or read from R2,
/// re-hashed against its digest, loaded and cached. Returns it with the
/// milliseconds spent fetching and loading, and whether it was cached.
async fn loaded(env: &Env, request: &RunRequest) -> Result<(Model, f64, f64, bool), Refusal> {
    // By organisation too: a hit must never stand in for an organisation's
    // own object, which could be missing or altered.
    let key = format!("{}/{}", request.org, request.digest);
    if let Some(cached) = MODELS.with(|m| m.borrow_mut().get(&key)) {
        return Ok((cached, 0.0, 0.0, true));
    }
    let name = &request.name;
    let unavailable = |detail: String| refusal(ProblemKind::ServiceUnavailable, detail);
    let started = now_ms();
    let bucket = env
        .bucket(R2_BINDING)
        .map_err(|err| internal("binding ARTIFACTS", err))?;
    let stored_key = match &request.sealed {
        Some(sealed) => {
            at_rest::sealed_object_key(&request.org, sealed.key_version, &request.digest)
        }
        None => object_key(&request.org, &request.digest),
    };
    let object = bucket
        .get(stored_key)
        .execute()
        .await
        .map_err(|err| internal("reading the artifact", err))?
        .ok_or_else(|| unavailable(format!("the artifact of {name} is missing from storage")))?;
    // Too large to run, but still hashed: an altered artifact is a 503
    // whatever its size.
    let keep = request.length <= MAX_RUN_BYTES;
    let mut stream = object
        .body()
        .ok_or_else(|| internal("reading the artifact", "R2 object without a body"))?
        .stream()
        .map_err(|err| internal("reading the artifact", err))?;
    // A sealed artifact is opened chunk by chunk as it arrives: each chunk
    // is authenticated, then hashed like plaintext.
    let mut opener = match &request.sealed {
        Some(sealed) => {
            let key = at_rest::ObjectKey::from_hex(sealed.key_version, &sealed.key)
                .map_err(|err| internal("the artifact's key", err))?;
            let header = at_rest::Header {
                key_version: sealed.key_version,
                plaintext_len: request.length,
            };
            let span = at_rest::chunk_span(&header, 0, request.length)
                .map_err(|err| internal("the artifact's chunks", err))?;
            Some((
                at_rest::Opener::new(&key, header, &span, (0, request.length))
                    .map_err(|err| internal("the artifact's key", err))?,
                at_rest::HEADER_LEN as usize,
            ))
        }
        None => None,
    };
    let damaged = |err: at_rest::SealError| {
        unavailable(format!(
            "the stored artifact of {name} cannot be read back ({err}); refusing to run it"
        ))
    };
    let mut hasher = Sha256Hasher::new();
    let mut bytes = Vec::with_capacity(if keep { request.length as usize } else { 0 });
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| internal("reading the artifact", err))?;
        let plain = match &mut opener {
            Some((opener, header_left)) => {
                // The header is bound into every chunk; skip its bytes.
                let skip = (*header_left).min(chunk.len());
                *header_left -= skip;
                opener.push(&chunk[skip..]).map_err(damaged)?
            }
            None => chunk,
        };
        hasher.update(&plain);
        if keep {
            bytes.extend_from_slice(&plain);
        }
    }
    if let Some((opener, _)) = opener {
        opener.finish().map_err(damaged)?;
    }
    if hasher.finish().digest != request.digest {
        return Err(unavailable(format!(
            "the stored artifact of {name} does not match its digest {}; refusing to run it",
            request.digest
        )));
    }
    if !keep {
        return Err(refusal(
            ProblemKind::UnprocessableContent,
            format!(
                "{name} is too large to run in the Worker ({} bytes; at most {MAX_RUN_BYTES})",
                request.length
            ),
        ));
    }
    let fetch_ms = now_ms() - started;
    let started = now_ms();
    let model = Model::load(&bytes).map_err(|err| {
        refusal(
            ProblemKind::UnprocessableContent,
            format!("{name} cannot be run: {err}"),
        )
    })?;
    let load_ms = now_ms() - started;
    MODELS.with(|m| m.borrow_mut().insert(&key, model.clone(), request.length));
    Ok((model, fetch_ms, load_ms, false))
}
