//! `/openapi.json`: the committed document (`worker/openapi.json`), which
//! `crate::openapi_document` generates natively from the route table and the API
//! types; a test keeps the two identical, so the Worker carries the bytes
//! and none of the schema code.

use worker::{Headers, Response};

use crate::error::ApiResult;

const DOCUMENT: &str = include_str!("../../openapi.json");

pub fn serve() -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "public, max-age=300")?;
    Ok(Response::ok(DOCUMENT)?.with_headers(headers))
}
