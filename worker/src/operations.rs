//! The operations Worker, reached through the service binding `OPERATIONS`
//! (worker/wrangler.operations.toml): this crate built with the
//! `operations` feature, which answers backups and restores of
//! organisations (`handlers::backup`). They are rare, operator-only and a
//! few kilobytes of wasm each, which the registry Worker, started by every
//! device's request, does not carry (its size goal is 1 MB gzipped).
//!
//! The registry Worker checks the caller first (the route table's access
//! rule: an admin token of the organisation, or the bootstrap secret) and
//! forwards the request unchanged but for [`SEALS_HEADER`]: the operations
//! Worker holds no secrets, so it is told whether this deployment seals
//! artifacts at rest (a restored organisation then seals from its end on,
//! as a new one would). Not reaching it is a `503` naming the binding.

/// The service binding to the operations Worker (wrangler.toml `[[services]]`).
#[cfg(not(feature = "operations"))]
pub const OPERATIONS_BINDING: &str = "OPERATIONS";

/// The routes the registry Worker forwards here, and the only ones the
/// operations Worker answers.
#[cfg(feature = "operations")]
pub const FORWARDED: &[crate::routes::Route] = &[
    crate::routes::Route::BackupTable,
    crate::routes::Route::StartRestore,
    crate::routes::Route::RestoreTable,
    crate::routes::Route::RestoreArtifact,
    crate::routes::Route::FinishRestore,
];

/// `1` when the forwarding registry Worker has an at-rest secret, else `0`.
pub const SEALS_HEADER: &str = "x-outpost-deployment-seals";

#[cfg(not(feature = "operations"))]
pub async fn forward(
    env: &worker::Env,
    req: &worker::Request,
) -> crate::error::ApiResult<worker::Response> {
    use crate::error::ApiError;
    use outpost_core::ProblemKind;

    let unavailable = |cause: String| {
        worker::console_error!("operations Worker: {cause}");
        ApiError::new(
            ProblemKind::ServiceUnavailable,
            format!(
                "the operations Worker is unavailable (service binding {OPERATIONS_BINDING}); backups and restores need it: deploy it (worker/wrangler.operations.toml) and retry"
            ),
        )
    };
    let seals = crate::store::at_rest::secret(env).is_some();
    let headers = req.headers().clone();
    headers.set(SEALS_HEADER, if seals { "1" } else { "0" })?;
    // Answers come back uncompressed; this Worker's own answer is encoded
    // for the client as any other.
    headers.delete("accept-encoding")?;
    // The body passes through as a stream: an artifact is never held here.
    let mut init = worker::RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let forwarded = worker::Request::new_with_init(req.url()?.as_str(), &init)?;
    let fetcher = env
        .service(OPERATIONS_BINDING)
        .map_err(|err| unavailable(format!("binding {OPERATIONS_BINDING}: {err}")))?;
    let answer = fetcher.fetch_request(forwarded).await.map_err(|err| {
        unavailable(format!(
            "{} {}: {err}",
            crate::routes::method_name(&req.method()),
            req.path()
        ))
    })?;
    // A fetched response's headers are immutable; the answer gets a copy
    // this Worker can add its own to.
    let headers = answer.headers().clone();
    headers.delete("content-encoding")?;
    Ok(answer.with_headers(headers))
}

/// Whether the forwarding registry Worker said this deployment seals.
#[cfg(feature = "operations")]
pub fn deployment_seals(req: &worker::Request) -> bool {
    req.headers().get(SEALS_HEADER).ok().flatten().as_deref() == Some("1")
}
