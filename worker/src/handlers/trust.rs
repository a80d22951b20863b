//! Trust metadata: the organisation's root and release (TUF targets) signed
//! offline by the operator, snapshot and timestamp signed here with the
//! deployment's online key, all served as versioned immutable files.
//!
//! Everything uploaded is checked with the same `outpost_core::trust` code a
//! device runs, and a release may only name registered versions whose digest
//! and size it repeats exactly.

use outpost_core::api::{DeploymentKeys, TrustStored};
use outpost_core::trust::Envelope;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::keys::{DIRECTOR_KEY, ONLINE_KEY, online_key};
use outpost_registry::ports::{TrustFiles, Versions};
use outpost_registry::resolve::resolve_device;
use outpost_registry::routing::DeviceQuestion;
use outpost_registry::trust::{parse_trust_file, upload_release, upload_root};

/// `GET /v1/keys`: the deployment's online public keys, for `outpost trust init`.
pub fn deployment_keys(env: &worker::Env) -> ApiResult<Response> {
    let online = online_key(env, ONLINE_KEY)?;
    let director = online_key(env, DIRECTOR_KEY)?;
    Ok(http::json(
        &DeploymentKeys {
            online: online.public().clone(),
            director: director.public().clone(),
        },
        200,
    )?)
}

/// `PUT /v1/orgs/{org}/trust/root`: the first root, or a rotation.
pub async fn put_root(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let envelope: Envelope = http::read_json(req).await?;
    let org = ctx.org()?;
    let version = upload_root(&D1Store::new(ctx), org, ctx.actor()?, envelope).await?;
    Ok(http::created(
        &TrustStored {
            role: "root".to_owned(),
            version,
        },
        &format!("/v1/orgs/{org}/trust/{version}.root.json"),
    )?)
}

/// `PUT /v1/orgs/{org}/trust/targets`: release metadata signed offline.
pub async fn put_targets(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let envelope: Envelope = http::read_json(req).await?;
    let org = ctx.org()?;
    let version = upload_release(&D1Store::new(ctx), org, ctx.actor()?, envelope).await?;
    Ok(http::created(
        &TrustStored {
            role: "targets".to_owned(),
            version,
        },
        &format!("/v1/orgs/{org}/trust/{version}.targets.json"),
    )?)
}

/// `GET /v1/orgs/{org}/trust/{file}`: `root.json`, `timestamp.json`,
/// `snapshot.json`, `targets.json` (newest), or `N.root.json`,
/// `N.snapshot.json`, `N.targets.json` (immutable).
pub async fn get_trust_file(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let file = matched.param("file");
    let not_found = || {
        ApiError::not_found(format!(
            "no trust metadata `{file}` in organisation `{}`",
            ctx.org().unwrap_or_default()
        ))
    };
    let (role, version) = parse_trust_file(file).ok_or_else(not_found)?;
    let store = D1Store::new(ctx);
    let org = ctx.org()?;
    let envelope = match version {
        None => store.latest_trust_file(org, role).await?.map(|(_, e)| e),
        Some(version) => store.trust_file(org, role, version).await?,
    }
    .ok_or_else(not_found)?;
    let response = http::json(&envelope, 200)?;
    let cache = if version.is_some() {
        "private, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    response.headers().set("cache-control", cache)?;
    Ok(response)
}

/// `GET /v1/orgs/{org}/trust/targets/{model}/{file}`: a target file as TUF
/// clients download it (`VERSION`, or `SHA256.VERSION` with consistent
/// snapshots), so an organisation's repository works with any TUF client.
pub async fn get_target(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let file = matched.param("file");
    let (hash, version) = outpost_core::trust::parse_target_file(file);
    let digest = D1Store::new(ctx)
        .version_artifacts(ctx.org()?, model, &[version])
        .await?
        .pop()
        .map(|row| row.digest);
    match digest {
        Some(digest) if hash.is_none_or(|h| h.eq_ignore_ascii_case(&digest.hex())) => {
            crate::download::serve(ctx, req, &digest, crate::download::Codings::IdentityOnly).await
        }
        _ => Err(ApiError::not_found(format!(
            "no target `{model}/{file}` in organisation `{}`",
            ctx.org()?
        ))),
    }
}

/// `GET /v1/orgs/{org}/models/{model}/resolve?stage=…&device=…`: the
/// director-signed statement of which released artifact this device runs.
pub async fn resolve(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let (stage, device) = http::stage_and_device(req, "resolve")?;
    let asked = DeviceQuestion {
        org: ctx.org()?,
        model: matched.param("model"),
        stage,
        device: device.as_deref(),
    };
    let envelope = resolve_device(&D1Store::new(ctx), &asked).await?;
    Ok(http::json(&envelope, 200)?)
}
