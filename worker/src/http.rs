//! Response helpers: the one place bodies get their content type and caching.

use outpost_core::{PROBLEM_JSON, Problem};
use serde::Serialize;
use worker::{Headers, Response};

/// A JSON body that must not be cached (health, state that changes).
pub fn json<T: Serialize>(value: &T, status: u16) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    let body = serde_json::to_string(value)?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

/// An RFC 9457 error response.
pub fn problem(problem: &Problem) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", PROBLEM_JSON)?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(problem.to_json())?
        .with_status(problem.status)
        .with_headers(headers))
}
