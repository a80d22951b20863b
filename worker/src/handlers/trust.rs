//! Trust metadata: the organisation's root and release (TUF targets) signed
//! offline by the operator, snapshot and timestamp signed here with the
//! deployment's online key, all served as versioned immutable files.
//!
//! Everything uploaded is checked with the same `outpost_core::trust` code a
//! device runs, and a release may only name registered versions whose digest
//! and size it repeats exactly.

use outpost_core::signing::SigningKey;
use outpost_core::timefmt::format_utc;
use outpost_core::trust::{
    Envelope, Root, Targets, snapshot_metadata, timestamp_metadata, verify_new_root, verify_release,
};
use outpost_core::{Problem, ProblemKind};
use serde_json::json;
use worker::{D1PreparedStatement, Request, Response};

use crate::audit::{self, CommitError, Event};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::routes::Matched;
use crate::store::D1Store;
use crate::store::keys::{DIRECTOR_KEY, ONLINE_KEY, online_key};
use outpost_registry::resolve::resolve_device;
use outpost_registry::routing::DeviceQuestion;

/// How long online metadata stays valid; the cron re-signs before that.
const SNAPSHOT_LIFETIME_MS: i64 = 7 * 86_400_000;
const TIMESTAMP_LIFETIME_MS: i64 = 86_400_000;

/// `GET /v1/keys`: the deployment's online public keys, for `outpost trust init`.
pub fn deployment_keys(env: &worker::Env) -> ApiResult<Response> {
    let online = online_key(env, ONLINE_KEY)?;
    let director = online_key(env, DIRECTOR_KEY)?;
    Ok(http::json(
        &json!({"online": online.public(), "director": director.public()}),
        200,
    )?)
}

#[derive(serde::Deserialize)]
struct MetaRow {
    version: f64,
    body: String,
}

async fn latest(ctx: &Ctx, role: &str) -> ApiResult<Option<(u64, Envelope)>> {
    let row = db::first::<MetaRow>(
        &ctx.db
            .prepare("SELECT version, body FROM trust_metadata WHERE org = ?1 AND role = ?2 ORDER BY version DESC LIMIT 1")
            .bind(&[db::text(ctx.org()?), db::text(role)])?,
    )
    .await?;
    row.map(|row| Ok((as_i64(row.version) as u64, serde_json::from_str(&row.body)?)))
        .transpose()
}

fn insert(
    ctx: &Ctx,
    role: &str,
    version: u64,
    envelope: &Envelope,
) -> ApiResult<D1PreparedStatement> {
    Ok(ctx
        .db
        .prepare("INSERT INTO trust_metadata (org, role, version, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(&[
            db::text(ctx.org()?),
            db::text(role),
            db::int(version as i64),
            db::text(&serde_json::to_string(envelope)?),
            db::int(ctx.now),
        ])?)
}

fn sign_online(key: &SigningKey, signed: serde_json::Value) -> ApiResult<Envelope> {
    let signature = key.sign(&signed).map_err(ApiError::internal)?;
    Ok(Envelope {
        signed,
        signatures: vec![signature],
    })
}

/// New snapshot and timestamp versions pointing at `targets_version`.
async fn online_statements(ctx: &Ctx, targets_version: u64) -> ApiResult<Vec<D1PreparedStatement>> {
    let key = online_key(&ctx.env, ONLINE_KEY)?;
    let snapshot_version = latest(ctx, "snapshot").await?.map_or(0, |(v, _)| v) + 1;
    let timestamp_version = latest(ctx, "timestamp").await?.map_or(0, |(v, _)| v) + 1;
    let snapshot = sign_online(
        &key,
        snapshot_metadata(
            snapshot_version,
            targets_version,
            &format_utc(ctx.now + SNAPSHOT_LIFETIME_MS),
        ),
    )?;
    let timestamp = sign_online(
        &key,
        timestamp_metadata(
            timestamp_version,
            snapshot_version,
            &format_utc(ctx.now + TIMESTAMP_LIFETIME_MS),
        ),
    )?;
    Ok(vec![
        insert(ctx, "snapshot", snapshot_version, &snapshot)?,
        insert(ctx, "timestamp", timestamp_version, &timestamp)?,
    ])
}

fn bad(detail: String) -> ApiError {
    ApiError::unprocessable(detail)
}

/// Refuses a root that does not let this deployment sign online metadata or
/// resolutions: devices would reject everything the Worker serves.
fn names_deployment_keys(ctx: &Ctx, root: &Root) -> ApiResult<()> {
    let online = online_key(&ctx.env, ONLINE_KEY)?.public().key_id();
    let director = online_key(&ctx.env, DIRECTOR_KEY)?.public().key_id();
    for role in ["snapshot", "timestamp"] {
        let keys = root
            .roles
            .get(role)
            .map(|r| r.keyids.clone())
            .unwrap_or_default();
        if !keys.contains(&online) {
            return Err(bad(format!(
                "the root's {role} role does not include this deployment's online key {online} (GET /v1/keys)"
            )));
        }
    }
    if !root
        .director
        .as_ref()
        .is_some_and(|d| d.keyids.contains(&director))
    {
        return Err(bad(format!(
            "the root's director role does not include this deployment's director key {director} (GET /v1/keys)"
        )));
    }
    Ok(())
}

/// `PUT /v1/orgs/{org}/trust/root`: the first root, or a rotation.
pub async fn put_root(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let envelope: Envelope = http::read_json(req).await?;
    let stored = latest(ctx, "root").await?;
    let root = verify_new_root(stored.as_ref().map(|(_, e)| e), &envelope).map_err(|e| {
        ApiError::from(
            Problem::new(ProblemKind::UnprocessableContent, e.to_string())
                .with_extension("code", e.code()),
        )
    })?;
    names_deployment_keys(ctx, &root)?;
    let mut statements = vec![insert(ctx, "root", root.version, &envelope)?];
    if stored.is_none() {
        // Devices need a timestamp and snapshot from the start.
        statements.extend(online_statements(ctx, 0).await?);
    }
    let event = Event::by_caller(
        ctx,
        "trust.root",
        format!("trust/{}.root.json", root.version),
        json!({"version": root.version}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    match audit::commit(ctx, event, statements).await {
        Ok(_) => Ok(http::created(
            &json!({"role": "root", "version": root.version}),
            &format!("/v1/orgs/{}/trust/{}.root.json", ctx.org()?, root.version),
        )?),
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "trust_metadata") => {
            Err(ApiError::conflict(
                "another root or release was stored concurrently; fetch the current one and retry",
            ))
        }
        Err(err) => Err(err.into()),
    }
}

/// `PUT /v1/orgs/{org}/trust/targets`: release metadata signed offline.
pub async fn put_targets(ctx: &Ctx, req: &mut Request) -> ApiResult<Response> {
    let envelope: Envelope = http::read_json(req).await?;
    let Some((_, root_envelope)) = latest(ctx, "root").await? else {
        return Err(bad(format!(
            "organisation `{}` has no root yet; upload one with `outpost trust upload`",
            ctx.org()?
        )));
    };
    let root: Root = serde_json::from_value(root_envelope.signed)?;
    let stored = latest(ctx, "targets").await?;
    let stored_version = stored.as_ref().map_or(0, |(v, _)| *v);
    let previous: Option<Targets> = match stored {
        Some((_, envelope)) => Some(serde_json::from_value(envelope.signed)?),
        None => None,
    };
    let targets: Targets = verify_release(&root, &envelope, stored_version).map_err(|e| {
        ApiError::from(
            Problem::new(ProblemKind::UnprocessableContent, e.to_string())
                .with_extension("code", e.code()),
        )
    })?;
    check_targets_are_registered(ctx, &targets, previous.as_ref()).await?;
    let mut statements = vec![insert(ctx, "targets", targets.version, &envelope)?];
    statements.extend(online_statements(ctx, targets.version).await?);
    let event = Event::by_caller(
        ctx,
        "trust.release",
        format!("trust/{}.targets.json", targets.version),
        json!({"version": targets.version, "targets": targets.targets.keys().collect::<Vec<_>>()}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    match audit::commit(ctx, event, statements).await {
        Ok(_) => Ok(http::created(
            &json!({"role": "targets", "version": targets.version}),
            &format!(
                "/v1/orgs/{}/trust/{}.targets.json",
                ctx.org()?,
                targets.version
            ),
        )?),
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "trust_metadata") => {
            Err(ApiError::conflict(
                "another release was stored concurrently; fetch targets.json again, re-sign and retry",
            ))
        }
        Err(err) => Err(err.into()),
    }
}

/// Every target is `model/version` of a registered version with the same
/// digest and size: a release can only vouch for what the registry holds.
///
/// Entries carried over unchanged from the previous release are not checked
/// again: they were checked when first released, and a version deleted since
/// (by retention, say) must not block the next release.
async fn check_targets_are_registered(
    ctx: &Ctx,
    targets: &Targets,
    previous: Option<&Targets>,
) -> ApiResult<()> {
    #[derive(serde::Deserialize)]
    struct Row {
        digest: String,
        size: f64,
    }
    for (path, file) in &targets.targets {
        if previous.and_then(|p| p.targets.get(path)) == Some(file) {
            continue;
        }
        let Some((model, version)) = path.split_once('/') else {
            return Err(bad(format!("target `{path}` must be named MODEL/VERSION")));
        };
        let row = db::first::<Row>(
            &ctx.db
                .prepare("SELECT digest, size FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3")
                .bind(&[db::text(ctx.org()?), db::text(model), db::text(version)])?,
        )
        .await?
        .ok_or_else(|| bad(format!("target `{path}` is not a registered version")))?;
        let declared = file.hashes.get("sha256").map(|h| format!("sha256:{h}"));
        if declared.as_deref() != Some(row.digest.as_str())
            || file.length != as_i64(row.size) as u64
        {
            return Err(bad(format!(
                "target `{path}` says {} / {} bytes, but the registry holds {} / {} bytes",
                declared.unwrap_or_else(|| "no sha256".into()),
                file.length,
                row.digest,
                as_i64(row.size)
            )));
        }
    }
    Ok(())
}

/// `GET /v1/orgs/{org}/trust/{file}`: `root.json`, `timestamp.json`,
/// `snapshot.json`, `targets.json` (newest), or `N.root.json`,
/// `N.snapshot.json`, `N.targets.json` (immutable).
pub async fn get_file(ctx: &Ctx, matched: &Matched) -> ApiResult<Response> {
    let file = matched.param("file");
    let not_found = || {
        ApiError::not_found(format!(
            "no trust metadata `{file}` in organisation `{}`",
            ctx.org().unwrap_or_default()
        ))
    };
    let stem = file.strip_suffix(".json").ok_or_else(not_found)?;
    let (version, role) = match stem.split_once('.') {
        Some((n, role)) => (Some(n.parse::<u64>().map_err(|_| not_found())?), role),
        None => (None, stem),
    };
    if !["root", "targets", "snapshot", "timestamp"].contains(&role)
        || (role == "timestamp" && version.is_some())
    {
        return Err(not_found());
    }
    let envelope = match version {
        None => latest(ctx, role).await?.map(|(_, e)| e),
        Some(version) => db::first::<MetaRow>(
            &ctx.db
                .prepare("SELECT version, body FROM trust_metadata WHERE org = ?1 AND role = ?2 AND version = ?3")
                .bind(&[db::text(ctx.org()?), db::text(role), db::int(version as i64)])?,
        )
        .await?
        .map(|row| serde_json::from_str::<Envelope>(&row.body))
        .transpose()?,
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

/// Re-signs the organisation's timestamp (same snapshot, fresh expiry) when
/// it is in the second half of its life. Returns whether it did.
pub async fn refresh_timestamp(ctx: &Ctx) -> ApiResult<bool> {
    let Some((version, envelope)) = latest(ctx, "timestamp").await? else {
        return Ok(false);
    };
    let expires = envelope.signed["expires"].as_str().unwrap_or_default();
    if !outpost_core::trust::needs_resign(expires, ctx.now, TIMESTAMP_LIFETIME_MS) {
        return Ok(false);
    }
    let snapshot = envelope.signed["meta"]["snapshot.json"]["version"]
        .as_u64()
        .unwrap_or_default();
    let key = online_key(&ctx.env, ONLINE_KEY)?;
    let next = sign_online(
        &key,
        timestamp_metadata(
            version + 1,
            snapshot,
            &format_utc(ctx.now + TIMESTAMP_LIFETIME_MS),
        ),
    )?;
    let event = Event::by_caller(
        ctx,
        "trust.timestamp",
        "trust/timestamp.json".to_owned(),
        json!({"version": version + 1}),
    )
    .ok_or_else(|| ApiError::internal("no caller"))?;
    match audit::commit(
        ctx,
        event,
        vec![insert(ctx, "timestamp", version + 1, &next)?],
    )
    .await
    {
        Ok(_) => Ok(true),
        // Someone (a release) signed a newer one meanwhile: nothing to do.
        Err(CommitError::Statement(err)) if db::is_unique_violation(&err, "trust_metadata") => {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /v1/orgs/{org}/trust/targets/{model}/{file}`: a target file as TUF
/// clients download it (`VERSION`, or `SHA256.VERSION` with consistent
/// snapshots), so an organisation's repository works with any TUF client.
pub async fn get_target(ctx: &Ctx, req: &Request, matched: &Matched) -> ApiResult<Response> {
    let model = matched.param("model");
    let file = matched.param("file");
    let (hash, version) = outpost_core::trust::parse_target_file(file);
    #[derive(serde::Deserialize)]
    struct Row {
        digest: String,
    }
    let row = db::first::<Row>(
        &ctx.db
            .prepare("SELECT digest FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3")
            .bind(&[db::text(ctx.org()?), db::text(model), db::text(version)])?,
    )
    .await?;
    let digest: Option<outpost_core::Digest> = match row {
        Some(row) => Some(row.digest.parse().map_err(ApiError::internal)?),
        None => None,
    };
    match digest {
        Some(digest) if hash.is_none_or(|h| h.eq_ignore_ascii_case(&digest.hex())) => {
            crate::handlers::blobs::serve(ctx, req, &digest).await
        }
        _ => Err(ApiError::not_found(format!(
            "no target `{model}/{file}` in organisation `{}`",
            ctx.org()?
        ))),
    }
}

/// Whether the organisation's current release metadata names this version
/// with exactly this digest and length.
pub async fn is_released(
    ctx: &Ctx,
    model: &str,
    version: &str,
    digest: &outpost_core::Digest,
    length: u64,
) -> ApiResult<bool> {
    Ok(match latest(ctx, "targets").await? {
        Some((_, envelope)) => serde_json::from_value::<Targets>(envelope.signed)?.names(
            &outpost_core::trust::target_path(model, version),
            digest,
            length,
        ),
        None => false,
    })
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
