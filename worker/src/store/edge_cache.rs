//! The Workers Cache API for what never changes behind its key: artifacts
//! (content-addressed) and versioned trust metadata (`N.root.json`, …).
//! Keys are URLs under the request's own host (a zone's cache is shared by
//! every Worker on it), in a path no route serves, scoped to this
//! deployment by a tag derived from its director secret (two deployments
//! on one zone never share an entry). Authorisation is checked before any
//! lookup. Caches are per data centre, and `workers.dev` has none (every
//! lookup misses, and the D1 or R2 read answers as before).

use worker::{Cache, Headers, Request, RequestInit, Response, ResponseBody};

use crate::ctx::Ctx;

/// The cache key of `path` (e.g. `orgs/acme/sha256/…`) for this deployment,
/// or `None` where there is no cache to use (no host, or no keys: the
/// deployment cannot tell itself from another).
pub fn key(ctx: &Ctx, path: &str) -> Option<String> {
    let host = ctx.host.as_deref()?;
    let salt = super::keys::routing_salt(&ctx.env).ok()?;
    let tag =
        outpost_core::digest::Digest::of(format!("outpost-edge-cache\0{}", salt.hex()).as_bytes());
    Some(format!(
        "https://{host}/.outpost-cache/{}/{path}",
        &tag.hex()[..16]
    ))
}

/// The cached body under `url` (the whole, or the `range` — an RFC 9110
/// `bytes=` value — which the cache slices itself), if this data centre
/// has it.
pub async fn get(url: &str, range: Option<&str>) -> Option<ResponseBody> {
    let headers = Headers::new();
    if let Some(range) = range {
        headers.set("range", range).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let key = Request::new_with_init(url, &init).ok()?;
    let cached = Cache::default().get(&key, false).await.ok()??;
    let expected = if range.is_some() { 206 } else { 200 };
    (cached.status_code() == expected).then(|| cached.into_parts().1)
}

/// Stores `body` under `url` for a year, `immutable`. A failure is logged
/// and otherwise ignored: the copy only saves later reads.
pub async fn put(url: &str, body: ResponseBody, length: Option<u64>, content_type: &str) {
    let headers = Headers::new();
    let mut filled = headers
        .set("content-type", content_type)
        .and_then(|()| headers.set("cache-control", "public, max-age=31536000, immutable"));
    if let Some(length) = length {
        filled = filled.and_then(|()| headers.set("content-length", &length.to_string()));
    }
    let Ok(response) = Response::from_body(body) else {
        return;
    };
    if filled.is_ok()
        && let Err(err) = Cache::default()
            .put(url, response.with_headers(headers))
            .await
    {
        worker::console_warn!("filling the edge cache failed: {err}");
    }
}

/// The whole cached body under `url`, read into memory (small entries:
/// trust metadata).
pub async fn get_bytes(url: &str) -> Option<Vec<u8>> {
    let body = get(url, None).await?;
    Response::from_body(body).ok()?.bytes().await.ok()
}
