//! Answering a GET or HEAD of an artifact: the use case decides under RFC
//! 9110's conditions (`outpost_registry::blobs::download_blob`); this maps
//! its answer to headers and a body. Every route that serves artifact bytes
//! (blobs, TUF targets) answers through here.

use outpost_core::conditional::{Conditions, Method};
use outpost_core::content_coding::Coding;
use outpost_core::digest::Digest;
use outpost_registry::blobs::{self as use_cases, Answer, Download};
use worker::{EncodeBody, Headers, Request, Response, ResponseBody};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::http;
use crate::store::D1Store;

/// Which representations a route may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codings {
    /// The artifact's gzip copy to a client that accepts gzip (the blobs
    /// route: the CLI, the wasm client, browsers).
    Negotiated,
    /// Only the artifact's bytes (the TUF targets route: some TUF clients
    /// ask for gzip and then hash the bytes as received, undecoded).
    IdentityOnly,
}

/// Answers a GET or HEAD of the organisation's artifact `digest` under
/// RFC 9110's conditional and range rules (every artifact download route
/// goes through here).
pub async fn serve(
    ctx: &Ctx,
    req: &Request,
    digest: &Digest,
    codings: Codings,
) -> ApiResult<Response> {
    let headers = req.headers();
    let field = |name: &str| headers.get(name).ok().flatten();
    let (if_match, if_none_match, if_modified_since, if_unmodified_since, if_range, range) = (
        field("if-match"),
        field("if-none-match"),
        field("if-modified-since"),
        field("if-unmodified-since"),
        field("if-range"),
        field("range"),
    );
    let accept_encoding = match codings {
        Codings::Negotiated => client_accept_encoding(req).or_else(|| field("accept-encoding")),
        Codings::IdentityOnly => None,
    };
    let conditions = Conditions {
        if_match: if_match.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: if_modified_since.as_deref(),
        if_unmodified_since: if_unmodified_since.as_deref(),
        if_range: if_range.as_deref(),
        range: range.as_deref(),
    };
    let method = if req.method() == worker::Method::Head {
        Method::Head
    } else {
        Method::Get
    };
    let download = use_cases::download_blob(
        &D1Store::new(ctx),
        ctx.org()?,
        digest,
        method,
        (&conditions, accept_encoding.as_deref()),
    )
    .await?;
    respond(download)
}

/// The client's own `Accept-Encoding` on Cloudflare: the platform sets the
/// header a Worker sees to `br, gzip` whatever the client sent, and keeps
/// the client's in `request.cf.clientAcceptEncoding` (wrangler dev too,
/// with `""` for none). With `cf` present and no such property, the
/// client's preference is unknown: `""`, identity. `None` only without
/// `cf` (not on Cloudflare), where the header is the client's own.
fn client_accept_encoding(req: &Request) -> Option<String> {
    use worker::js_sys::Reflect;
    use worker::wasm_bindgen::JsValue;
    let cf = Reflect::get(req.inner(), &JsValue::from_str("cf")).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    Some(
        Reflect::get(&cf, &JsValue::from_str("clientAcceptEncoding"))
            .ok()
            .and_then(|value| value.as_string())
            .unwrap_or_default(),
    )
}

fn respond(download: Download<ResponseBody>) -> ApiResult<Response> {
    let Download {
        etag,
        last_modified,
        size,
        coding,
        answer,
    } = download;
    let headers = Headers::new();
    headers.set("etag", &etag)?;
    // The answer depends on Accept-Encoding (a gzip copy or the bytes), so
    // caches must key on it (RFC 9110 §12.5.5).
    headers.set("vary", "Accept-Encoding")?;
    headers.set("last-modified", &last_modified)?;
    // Content-addressed: the bytes behind this URL can never change.
    headers.set("cache-control", "private, max-age=31536000, immutable")?;
    headers.set("accept-ranges", "bytes")?;
    // A refusal keeps its problem+json type and gains the validators.
    let refusal = |kind, detail: String| -> ApiResult<Response> {
        let response = http::problem(&outpost_core::Problem::new(kind, detail))?;
        for (name, value) in headers.entries() {
            response.headers().set(&name, &value)?;
        }
        Ok(response)
    };
    let octets = "application/octet-stream";
    match answer {
        Answer::NotModified => Ok(Response::empty()?.with_status(304).with_headers(headers)),
        Answer::PreconditionFailed => refusal(
            outpost_core::ProblemKind::PreconditionFailed,
            format!(
                "the artifact's current entity tag is {etag}; a precondition of the request does not hold"
            ),
        ),
        Answer::Unsatisfiable => {
            headers.set("content-range", &format!("bytes */{size}"))?;
            refusal(
                outpost_core::ProblemKind::RangeNotSatisfiable,
                format!("the requested range lies outside the artifact's {size} bytes"),
            )
        }
        Answer::Whole(body) => {
            headers.set("content-type", octets)?;
            headers.set("content-length", &size.to_string())?;
            let response =
                Response::from_body(body.unwrap_or(ResponseBody::Empty))?.with_headers(headers);
            if coding == Coding::Identity {
                return Ok(response);
            }
            response.headers().set("content-encoding", coding.name())?;
            // The body is the stored copy, coded already: the runtime must
            // send it as it is, not code it again.
            Ok(response.with_encode_body(EncodeBody::Manual))
        }
        Answer::Part(range, body) => {
            headers.set("content-type", octets)?;
            headers.set("content-range", &range.content_range(size))?;
            headers.set("content-length", &range.length().to_string())?;
            Ok(Response::from_body(body)?
                .with_status(206)
                .with_headers(headers))
        }
        Answer::Parts(framing, bodies) => {
            headers.set("content-type", &framing.content_type)?;
            headers.set("content-length", &framing.length().to_string())?;
            let mut body = Vec::with_capacity(framing.length() as usize);
            for ((head, _), bytes) in framing.parts.iter().zip(&bodies) {
                body.extend_from_slice(head.as_bytes());
                body.extend_from_slice(bytes);
            }
            body.extend_from_slice(framing.closing.as_bytes());
            Ok(Response::from_bytes(body)?
                .with_status(206)
                .with_headers(headers))
        }
    }
}
