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
    // The header fields RFC 9110 requires beside these statuses, from the
    // members that carry the same facts in the body.
    if let (405, Some(allowed)) = (problem.status, problem.extensions.get("allowed")) {
        let methods: Vec<&str> = allowed
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        headers.set("allow", &methods.join(", "))?; // §10.2.1
    }
    if let (429 | 503, Some(seconds)) = (
        problem.status,
        problem
            .extensions
            .get("retry_after")
            .and_then(serde_json::Value::as_u64),
    ) {
        headers.set("retry-after", &seconds.to_string())?; // §10.2.3
    }
    Ok(Response::ok(problem.to_json())?
        .with_status(problem.status)
        .with_headers(headers))
}

/// Largest JSON request body accepted (artifacts go to the blob route).
pub const MAX_JSON_BODY: usize = 1 << 20;

/// Reads a JSON body, answering 400/413 with what was wrong.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: &mut worker::Request,
) -> crate::error::ApiResult<T> {
    let bytes = req.bytes().await.unwrap_or_default();
    if bytes.len() > MAX_JSON_BODY {
        return Err(crate::error::ApiError::new(
            outpost_core::ProblemKind::PayloadTooLarge,
            format!("JSON bodies are limited to {MAX_JSON_BODY} bytes"),
        ));
    }
    let invalid = |err: serde_json::Error| {
        crate::error::ApiError::bad_request(format!(
            "the request body is not valid JSON for this route: {err}"
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
    // Every body of this API is an object.
    if !value.is_object() {
        return Err(crate::error::ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    crate::strict_json::from_value(&value).map_err(invalid)
}

/// A JSON answer with a `Location` header (201 Created).
pub fn created<T: Serialize>(value: &T, location: &str) -> worker::Result<Response> {
    let response = json(value, 201)?;
    response.headers().set("location", location)?;
    Ok(response)
}

/// `limit` and `cursor` of a paged list.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: u32,
    pub offset: u64,
}

impl Paging {
    /// The cursor of the next page after one of `returned` items.
    pub fn next_cursor(&self, returned: usize) -> Option<String> {
        (returned as u32 == self.limit)
            .then(|| outpost_core::query::encode_cursor(self.offset + u64::from(self.limit)))
    }
}

/// The query string's pairs in order (repeats kept), refusing a parameter
/// not in `accepted` with a 400 that names the accepted ones: the one query
/// extractor every route uses.
pub fn query(
    req: &worker::Request,
    accepted: &[&str],
) -> crate::error::ApiResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (key, value) in req.url()?.query_pairs() {
        if !accepted.contains(&key.as_ref()) {
            return Err(crate::error::ApiError::bad_request(format!(
                "unknown query parameter `{key}`; use {}",
                accepted.join(", ")
            )));
        }
        pairs.push((key.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

/// Reads `limit` and `cursor`, and the route's own parameters named in
/// `extra`; any other parameter is a 400 naming what is accepted.
pub fn paging(
    req: &worker::Request,
    extra: &[&str],
) -> crate::error::ApiResult<(Paging, Vec<(String, String)>)> {
    use crate::error::ApiError;
    use outpost_core::query::{DEFAULT_LIMIT, MAX_LIMIT, decode_cursor};
    let mut paging = Paging {
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    let mut rest = Vec::new();
    let accepted: Vec<&str> = extra.iter().copied().chain(["limit", "cursor"]).collect();
    for (key, value) in query(req, &accepted)? {
        match key.as_str() {
            "limit" => {
                paging.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| ApiError::bad_request(format!("limit must be 1-{MAX_LIMIT}")))?;
            }
            "cursor" => {
                paging.offset =
                    decode_cursor(&value).map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            _ => rest.push((key, value)),
        }
    }
    Ok((paging, rest))
}

/// `?stage=…&device=…` of resolve and predict: the stage is required, the
/// device optional (without one, a caller is routed at random). Unknown
/// parameters are refused, naming the accepted ones.
pub fn stage_and_device(
    req: &worker::Request,
    verb: &str,
) -> crate::error::ApiResult<(outpost_core::lifecycle::Stage, Option<String>)> {
    use crate::error::ApiError;
    let mut stage = None;
    let mut device = None;
    for (key, value) in query(req, &["stage", "device"])? {
        if key == "stage" {
            stage = Some(value.parse().map_err(ApiError::bad_request)?);
        } else {
            device = Some(value);
        }
    }
    let stage = stage.ok_or_else(|| {
        ApiError::bad_request(format!("give the stage to {verb}, e.g. ?stage=production"))
    })?;
    Ok((stage, device))
}
