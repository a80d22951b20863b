//! `/openapi.json`: the committed document (`web/openapi.json`), which
//! `crate::openapi_document` generates natively from the route table and the
//! API types; a test keeps the two identical. It is a static asset: a `GET`
//! is answered from `web/` before the Worker runs, so the Worker carries
//! neither the schema code nor the document's bytes. The route stays in the
//! table (it is documented, and other methods get their 405); should a
//! `GET` reach the Worker, it is handed to the assets binding.

use worker::{Env, Request, Response};

use crate::error::{ApiError, ApiResult};

/// The static assets binding (wrangler.toml `[assets] binding`).
const ASSETS_BINDING: &str = "ASSETS";

pub async fn serve(env: &Env, req: Request) -> ApiResult<Response> {
    let assets = env.assets(ASSETS_BINDING).map_err(|_| {
        ApiError::new(
            outpost_core::ProblemKind::ServiceUnavailable,
            format!(
                "the API document is a static asset (web/openapi.json), and this deployment has no assets binding {ASSETS_BINDING}"
            ),
        )
    })?;
    Ok(assets.fetch_request(req).await?)
}
