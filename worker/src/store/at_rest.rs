//! Artifacts sealed at rest in R2 (`outpost_core::at_rest`; issue
//! "Confidential, compact, portable artifacts").
//!
//! - Keys: the Worker secret [`AT_REST_SECRET`] and an organisation's key
//!   version give its key (HKDF-SHA-256); each artifact has its own key
//!   derived from that. Nothing about keys is stored: a key version is enough
//!   to derive them again.
//! - Where: the blob row's `key_version` says where its object is: `NULL`,
//!   plaintext at `orgs/{org}/sha256/{hex}`; `n`, sealed at
//!   `orgs/{org}/sealed/sha256/{hex}/v{n}`.
//! - Writes: an upload to an organisation with encryption on goes through a
//!   [`Sealer`] on its way to R2, which checks the upload's digest before it
//!   releases the last chunk, so wrong bytes leave R2's fixed-length put short
//!   and nothing is stored. Plaintext never reaches R2 for such an upload
//!   (a multipart upload's parts wait in a staging object until completion).
//! - Reads: a download reads only the chunks its range touches and opens
//!   them as they arrive ([`Opener`]). A chunk that fails authentication is
//!   a `503` naming it when it is the first one read, and ends the body
//!   early otherwise — never wrong bytes.
//! - Re-sealing (cron, [`reseal_pending`]): plaintext objects of organisations
//!   with encryption on, and objects sealed under an older key version, are
//!   sealed under the current one, a few per run; the row moves to the new
//!   object in one statement, and the old object is deleted only after
//!   [`RETIRE_GRACE_MS`], so a download that read the old location still
//!   finds it. Resumable by construction: each artifact is done or not.
//! - The edge cache holds sealed objects as stored, never plaintext: a
//!   repeat download reads its chunks from the cache and opens them as a
//!   first one does.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use outpost_core::at_rest::{
    self, ChunkSpan, Header, MIN_SECRET_LEN, ObjectKey, ObjectsAt, Opener, OrgEncryption, OrgKey,
    Sealer,
};
use outpost_core::conditional::ByteRange;
use outpost_core::digest::{Digest, object_key};
use outpost_registry::StoreError;
use outpost_registry::ports::{AtRest, Received};
use worker::{ByteStream, FixedLengthStream, ResponseBody};

use super::{D1Store, failed};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};

/// Worker secret: the at-rest secret every organisation's key is derived
/// from (at least 32 bytes of text; `wrangler secret put`).
pub const AT_REST_SECRET: &str = "OUTPOST_AT_REST_SECRET";

/// How long a replaced object stays after its artifact moved to a re-sealed
/// copy (ms): longer than a download of it that began before the move
/// takes (a sealed copy; keeping it a day costs only storage).
pub const RETIRE_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// Artifacts re-sealed per cron run at most (each a streamed R2 read and
/// write)...
pub const RESEAL_PER_RUN: usize = 20;
/// ...and plaintext bytes per run at most (a run re-seals at least one
/// artifact, whatever its size).
pub const RESEAL_BYTES_PER_RUN: u64 = 256 << 20;

/// The at-rest secret, when the deployment has one of at least
/// [`MIN_SECRET_LEN`] bytes.
pub fn secret(env: &worker::Env) -> Option<Vec<u8>> {
    env.secret(AT_REST_SECRET)
        .map(|s| s.to_string())
        .or_else(|_| env.var(AT_REST_SECRET).map(|v| v.to_string()))
        .ok()
        .filter(|text| text.len() >= MIN_SECRET_LEN)
        .map(String::into_bytes)
}

fn not_configured() -> StoreError {
    StoreError::NotConfigured(format!(
        "an artifact is encrypted at rest, and the Worker has no {AT_REST_SECRET} secret of at least {MIN_SECRET_LEN} bytes to open it"
    ))
}

/// The key of `org`'s artifact `digest` at `version`.
pub fn object_key_at(
    env: &worker::Env,
    org: &str,
    version: u32,
    digest: &Digest,
) -> Result<ObjectKey, StoreError> {
    let secret = secret(env).ok_or_else(not_configured)?;
    let org_key = OrgKey::derive(&secret, org, version).map_err(failed)?;
    Ok(org_key.object_key(digest))
}

/// The key version `org` seals new artifacts under; `None` while off.
pub async fn current_version(ctx: &Ctx, org: &str) -> Result<Option<u32>, StoreError> {
    Ok(state(ctx, org).await?.map(|state| state.key_version))
}

async fn state(ctx: &Ctx, org: &str) -> Result<Option<OrgEncryption>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Row {
        key_version: f64,
        enabled_at: f64,
        rotated_at: f64,
    }
    let row = db::first::<Row>(
        &ctx.db
            .prepare(
                "SELECT key_version, enabled_at, rotated_at FROM org_encryption WHERE org = ?1",
            )
            .bind(&[db::text(org)])
            .map_err(failed)?,
    )
    .await
    .map_err(failed)?;
    Ok(row.map(|row| OrgEncryption {
        key_version: as_i64(row.key_version) as u32,
        enabled_at: as_i64(row.enabled_at),
        rotated_at: as_i64(row.rotated_at),
    }))
}

/// The statement that sets `org`'s key version (enabling or rotating).
pub fn set_version(
    ctx: &Ctx,
    org: &str,
    key_version: u32,
) -> worker::Result<worker::D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO org_encryption (org, key_version, enabled_at, rotated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (org) DO UPDATE SET key_version = excluded.key_version, rotated_at = excluded.rotated_at",
        )
        .bind(&[db::text(org), db::int(i64::from(key_version)), db::int(ctx.now)])
}

/// Where `org`'s artifact `digest` is read from: its size and key version
/// (`None`: plaintext), or `None` outright when it has no row.
pub async fn located(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
) -> Result<Option<(u64, Option<u32>)>, StoreError> {
    Ok(super::blobs::find(ctx, org, digest)
        .await
        .map_err(failed)?
        .map(|row| row.location()))
}

/// The whole plaintext of a sealed artifact as a stream that ends at the
/// first chunk failing authentication; `None` when the object is missing.
pub async fn plaintext(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (size, version): (u64, u32),
) -> Result<
    Option<futures_util::stream::LocalBoxStream<'static, Result<Vec<u8>, StoreError>>>,
    StoreError,
> {
    Ok(sealed_span(ctx, org, digest, (size, version), None)
        .await?
        .map(|span| opened(org, digest, span)))
}

thread_local! {
    /// Key versions this isolate looked up for predictions, with when (ms):
    /// a prediction would otherwise read the blob row every time. A stale
    /// entry is safe for [`LOCATION_TTL_MS`]: a replaced object is kept
    /// for [`RETIRE_GRACE_MS`].
    #[expect(clippy::type_complexity, reason = "a short list, described above")]
    static LOCATIONS: RefCell<Vec<(String, Digest, Option<u32>, i64)>> = RefCell::default();
}

/// How long an isolate trusts a key version it looked up (ms).
const LOCATION_TTL_MS: i64 = 60_000;

/// The key version and key of an artifact to run, when it is sealed (for
/// the inference Worker, which has no secret of its own).
pub async fn for_inference(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
) -> Result<Option<ObjectKey>, StoreError> {
    let known = LOCATIONS.with(|kept| {
        kept.borrow()
            .iter()
            .find(|(o, d, _, at)| o == org && d == digest && ctx.now - at < LOCATION_TTL_MS)
            .map(|(_, _, version, _)| *version)
    });
    let version = match known {
        Some(version) => version,
        None => {
            let version = located(ctx, org, digest).await?.and_then(|(_, v)| v);
            LOCATIONS.with(|kept| {
                let mut kept = kept.borrow_mut();
                kept.retain(|(o, d, _, at)| {
                    !(o == org && d == digest) && ctx.now - at < LOCATION_TTL_MS
                });
                // A few models per isolate; a bound all the same.
                if kept.len() >= 256 {
                    kept.remove(0);
                }
                kept.push((org.to_owned(), *digest, version, ctx.now));
            });
            version
        }
    };
    version
        .map(|version| object_key_at(&ctx.env, org, version, digest))
        .transpose()
}

/// The R2 key of an artifact's object, plaintext or sealed.
pub fn stored_key(org: &str, version: Option<u32>, digest: &Digest) -> String {
    match version {
        Some(version) => at_rest::sealed_object_key(org, version, digest),
        None => object_key(org, digest),
    }
}

/// A plaintext stream sealed on its way to R2: the fixed-length stream R2
/// takes, and a handle on what arrived.
pub struct Sealing {
    sealer: Rc<RefCell<Option<Sealer>>>,
    received: Rc<RefCell<Option<Received>>>,
}

impl Sealing {
    /// Seals `body`, `size` bytes that must hash to `digest`, under `key`.
    pub fn wrap(
        body: Plaintext,
        key: &ObjectKey,
        digest: Digest,
        size: u64,
    ) -> (Self, FixedLengthStream) {
        let sealer = Sealer::new(key, digest, size);
        let sealed_len = sealer.sealed_len();
        let sealer = Rc::new(RefCell::new(Some(sealer)));
        let received = Rc::new(RefCell::new(None));
        let (feed, end, seen) = (Rc::clone(&sealer), Rc::clone(&sealer), Rc::clone(&received));
        let body = body
            .map(move |chunk| {
                let chunk = chunk?;
                let mut sealer = feed.borrow_mut();
                let sealer = sealer
                    .as_mut()
                    .ok_or_else(|| worker::Error::RustError("sealer finished".into()))?;
                sealer
                    .push(&chunk)
                    .map_err(|err| worker::Error::RustError(err.to_string()))
            })
            .chain(futures_util::stream::once(async move {
                let sealer = end
                    .borrow_mut()
                    .take()
                    .ok_or_else(|| worker::Error::RustError("sealer finished".into()))?;
                let done = sealer.received();
                *seen.borrow_mut() = Some(Received {
                    length: done.length,
                    digest: done.digest,
                });
                sealer
                    .finish()
                    .map_err(|err| worker::Error::RustError(err.to_string()))
            }));
        (
            Self { sealer, received },
            FixedLengthStream::wrap(body, sealed_len),
        )
    }

    /// What arrived (the stream is done or dropped by then).
    pub fn received(self) -> Received {
        if let Some(received) = self.received.borrow_mut().take() {
            return received;
        }
        // The stream stopped before its end: what the sealer saw so far.
        let done = self
            .sealer
            .borrow()
            .as_ref()
            .map(Sealer::received)
            .unwrap_or_else(|| outpost_core::digest::Sha256Hasher::new().finish());
        Received {
            length: done.length,
            digest: done.digest,
        }
    }
}

/// Puts `body` (`size` plaintext bytes hashing to `digest`) sealed under
/// `version` at its sealed key. `Ok(received)` when stored; `Err((received,
/// cause))` when R2 stored nothing.
pub async fn put_sealed(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (size, version): (u64, u32),
    body: Plaintext,
) -> Result<Result<Received, (Received, String)>, StoreError> {
    let key = object_key_at(&ctx.env, org, version, digest)?;
    let bucket = super::blobs::bucket(ctx)?;
    let (sealing, stream) = Sealing::wrap(body, &key, *digest, size);
    let put = bucket
        .put(at_rest::sealed_object_key(org, version, digest), stream)
        .execute()
        .await;
    let received = sealing.received();
    Ok(match put {
        Ok(_) => Ok(received),
        Err(err) => Err((received, err.to_string())),
    })
}

/// Plaintext on its way to R2 (one type, so the sealing code exists once).
pub type Plaintext = futures_util::stream::LocalBoxStream<'static, worker::Result<Vec<u8>>>;

/// An empty stream, for an empty artifact.
pub fn nothing() -> Plaintext {
    futures_util::stream::empty().boxed_local()
}

fn damaged(org: &str, digest: &Digest, err: &at_rest::SealError) -> StoreError {
    StoreError::Damaged(format!(
        "the stored artifact {digest} of organisation {org} cannot be read back: {err}; no bytes of it are served — restore the object from a backup (outpost restore) or register the artifact again"
    ))
}

/// Plaintext bytes `range` (all of them when `None`) of the sealed
/// artifact `digest` of `size` bytes, as a stream that ends early at a chunk
/// that fails authentication. `None` when the object is missing.
///
/// # Errors
/// [`StoreError::Damaged`] when the first chunk read fails authentication.
pub async fn open_stream(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (size, version): (u64, u32),
    range: Option<ByteRange>,
) -> Result<Option<ResponseBody>, StoreError> {
    let Some(span) = sealed_span(ctx, org, digest, (size, version), range).await? else {
        return Ok(None);
    };
    let mut opened = opened(org, digest, span);
    // The first plaintext before any header goes out, so that a damaged
    // first chunk is a problem response rather than a cut body.
    let mut first = Vec::new();
    loop {
        match opened.next().await {
            Some(Ok(bytes)) if bytes.is_empty() => continue,
            Some(Ok(bytes)) => {
                first = bytes;
                break;
            }
            Some(Err(err)) => return Err(err),
            None => break,
        }
    }
    let length = range.map_or(size, |r| r.length());
    let rest = opened.map(|item| {
        item.map_err(|err| {
            worker::console_error!("{err}");
            worker::Error::RustError(err.to_string())
        })
    });
    let body = futures_util::stream::once(async move { Ok::<_, worker::Error>(first) })
        .chain(rest)
        .boxed_local();
    // Through the runtime's FixedLengthStream, so the answer keeps its
    // Content-Length (a plain stream would be sent chunked) and ends short,
    // never padded, when a later chunk fails.
    let fixed: worker::worker_sys::FixedLengthStream = FixedLengthStream::wrap(body, length).into();
    use worker::wasm_bindgen::JsCast as _;
    let readable = fixed
        .unchecked_ref::<worker::web_sys::TransformStream>()
        .readable();
    Ok(Some(ResponseBody::Stream(readable)))
}

/// Plaintext bytes `range` (all when `None`) of a sealed artifact, in
/// memory.
///
/// # Errors
/// [`StoreError::Damaged`] when any chunk fails authentication.
pub async fn open_bytes(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (size, version): (u64, u32),
    range: Option<ByteRange>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(span) = sealed_span(ctx, org, digest, (size, version), range).await? else {
        return Ok(None);
    };
    let mut opened = opened(org, digest, span);
    let mut out = Vec::new();
    while let Some(bytes) = opened.next().await {
        out.extend(bytes?);
    }
    Ok(Some(out))
}

/// The stored bytes of the chunks a range needs, and the opener for them.
async fn sealed_span(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (size, version): (u64, u32),
    range: Option<ByteRange>,
) -> Result<Option<Span>, StoreError> {
    let key = object_key_at(&ctx.env, org, version, digest)?;
    let header = Header {
        key_version: version,
        plaintext_len: size,
    };
    let (start, end) = range.map_or((0, size), |r| (r.start, r.end + 1));
    let span: ChunkSpan = at_rest::chunk_span(&header, start, end).map_err(failed)?;
    let opener = Opener::new(&key, header, &span, (start, end)).map_err(failed)?;
    // The edge cache holds sealed objects as stored (never their
    // plaintext) and slices the span itself.
    let stored = at_rest::sealed_object_key(org, version, digest);
    let cache_url = super::edge_cache::key(ctx, &stored);
    if let Some(url) = &cache_url
        && let Some(body) = super::edge_cache::get(
            url,
            Some(&format!(
                "bytes={}-{}",
                span.sealed_start,
                span.sealed_end - 1
            )),
        )
        .await
    {
        let stream = worker::Response::from_body(body)
            .and_then(|mut response| response.stream())
            .map_err(failed)?;
        return Ok(Some((opener, stream, None)));
    }
    super::blobs::counted_read();
    let object = super::blobs::bucket(ctx)?
        .get(&stored)
        .range(worker::Range::OffsetWithLength {
            offset: span.sealed_start,
            length: span.sealed_end - span.sealed_start,
        })
        .execute()
        .await
        .map_err(failed)?;
    let Some(object) = object else {
        return Ok(None);
    };
    // Copied into the cache only once a whole read found every chunk sound.
    let fill = match (range, cache_url) {
        (None, Some(url)) => super::blobs::cache_filler(ctx, stored, url, header.sealed_len())
            .map(|fill| Box::new(fill) as Box<dyn FnOnce()>),
        _ => None,
    };
    let stream = object
        .body()
        .ok_or_else(|| StoreError::new("R2 object without a body"))?
        .stream()
        .map_err(failed)?;
    Ok(Some((opener, stream, fill)))
}

/// The opener of a span, its stored bytes, and what to do once all of them
/// opened soundly (fill the edge cache).
type Span = (Opener, ByteStream, Option<Box<dyn FnOnce()>>);

/// The plaintext of a stream of stored bytes, chunk by chunk; the first
/// failure ends it.
fn opened(
    org: &str,
    digest: &Digest,
    (opener, stream, on_sound): Span,
) -> futures_util::stream::LocalBoxStream<'static, Result<Vec<u8>, StoreError>> {
    let (org, digest) = (org.to_owned(), *digest);
    let opener = Rc::new(RefCell::new(Some(opener)));
    let end = Rc::clone(&opener);
    let (org_end, digest_end) = (org.clone(), digest);
    let body = stream.map(move |chunk| {
        let chunk = chunk.map_err(failed)?;
        let mut opener = opener.borrow_mut();
        let opener = opener
            .as_mut()
            .ok_or_else(|| StoreError::new("opener finished"))?;
        opener
            .push(&chunk)
            .map_err(|err| damaged(&org, &digest, &err))
    });
    let tail = futures_util::stream::once(async move {
        let opener = end
            .borrow_mut()
            .take()
            .ok_or_else(|| StoreError::new("opener finished"))?;
        opener
            .finish()
            .map_err(|err| damaged(&org_end, &digest_end, &err))?;
        if let Some(on_sound) = on_sound {
            on_sound();
        }
        Ok(Vec::new())
    });
    // A reader stops at the first failure (an errored JS stream is not
    // pulled again; `open_bytes` returns it).
    body.chain(tail).boxed_local()
}

/// Re-seals up to `limit` artifacts of organisations with encryption on
/// that are not yet under its current key version; returns how many moved.
/// An artifact whose object is missing or does not match its digest is
/// left as it is (and logged): re-sealing never turns damage into a valid
/// object.
pub async fn reseal_pending(ctx: &Ctx, limit: usize) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        org: String,
        digest: String,
        size: f64,
        key_version: Option<f64>,
        target: f64,
    }
    let rows = db::all::<Row>(
        &ctx.db
            .prepare(
                "SELECT b.org, b.digest, b.size, b.key_version, e.key_version AS target
                 FROM blobs b JOIN org_encryption e ON e.org = b.org
                 WHERE b.key_version IS NOT e.key_version
                   AND EXISTS (SELECT 1 FROM versions v WHERE v.org = b.org AND v.digest = b.digest)
                 ORDER BY coalesce(b.seal_failed_at, 0), b.created_at LIMIT ?1",
            )
            .bind(&[db::int(limit as i64)])
            .map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| e.to_string())?;
    let (mut moved, mut bytes) = (0, 0);
    for row in rows {
        let digest: Digest = row.digest.parse().map_err(|e| format!("{e}"))?;
        let (size, from, to) = (
            as_i64(row.size) as u64,
            row.key_version.map(|v| as_i64(v) as u32),
            as_i64(row.target) as u32,
        );
        if bytes > 0 && bytes + size > RESEAL_BYTES_PER_RUN {
            break;
        }
        bytes += size;
        match reseal(ctx, &row.org, &digest, size, (from, to)).await {
            Ok(true) => moved += 1,
            Ok(false) => {}
            Err(err) => {
                // Behind the others from now on, so one damaged artifact
                // never holds up the rest.
                worker::console_error!(
                    "re-sealing {digest} of {} under key version {to}: {err}",
                    row.org
                );
                let _ = ctx
                    .db
                    .prepare("UPDATE blobs SET seal_failed_at = ?3 WHERE org = ?1 AND digest = ?2")
                    .bind(&[db::text(&row.org), db::text(&row.digest), db::int(ctx.now)])
                    .map_err(|e| e.to_string())?
                    .run()
                    .await;
            }
        }
    }
    Ok(moved)
}

/// Seals one artifact under `to` from where it is now (`from`), then moves
/// its row and retires the old object. `Ok(false)` when its row moved
/// meanwhile.
async fn reseal(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    size: u64,
    (from, to): (Option<u32>, u32),
) -> Result<bool, String> {
    let source: Plaintext = match from {
        None => {
            let bucket = super::blobs::bucket(ctx).map_err(|e| e.to_string())?;
            let object = bucket
                .get(object_key(org, digest))
                .execute()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("its plaintext object is missing")?;
            match object.body() {
                Some(body) => body.stream().map_err(|e| e.to_string())?.boxed_local(),
                None => nothing(),
            }
        }
        Some(version) => {
            let span = sealed_span(ctx, org, digest, (size, version), None)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("its sealed object is missing")?;
            opened(org, digest, span)
                .map(|item| item.map_err(|e| worker::Error::RustError(e.to_string())))
                .boxed_local()
        }
    };
    if let Err((received, cause)) = put_sealed(ctx, org, digest, (size, to), source)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "R2 stored nothing ({cause}); {} bytes read{}",
            received.length,
            if received.digest == *digest || received.length != size {
                String::new()
            } else {
                ", which do not hash to the digest: the stored object is damaged".into()
            }
        ));
    }
    let old_key = stored_key(org, from, digest);
    let digest_text = digest.to_string();
    let mut statements = vec![
        // A plaintext gzip copy (`super::coded_copies`) goes with the
        // plaintext object.
        ctx.db
            .prepare(
                "UPDATE blobs SET key_version = ?3, gzip_size = NULL, gzip_id = NULL
                 WHERE org = ?1 AND digest = ?2 AND key_version IS ?4",
            )
            .bind(&[
                db::text(org),
                db::text(&digest_text),
                db::int(i64::from(to)),
                db::opt_int(from.map(i64::from)),
            ])
            .map_err(|e| e.to_string())?,
        // The old object is retired if the row moved (the UPDATE above
        // changed it); the new one if it did not (another run moved it, or
        // the artifact went), so that no object is left behind.
        ctx.db
            .prepare(
                "INSERT INTO retired_objects (object_key, retired_at)
                 SELECT CASE WHEN changes() > 0 THEN ?1 ELSE ?2 END, ?3
                 WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE org = ?4 AND digest = ?5
                                   AND key_version IS ?6 AND changes() = 0)
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(&[
                db::text(&old_key),
                db::text(&at_rest::sealed_object_key(org, to, digest)),
                db::int(ctx.now),
                db::text(org),
                db::text(&digest_text),
                db::int(i64::from(to)),
            ])
            .map_err(|e| e.to_string())?,
    ];
    if from.is_none() {
        // Every plaintext gzip copy is retired with the plaintext object,
        // recorded or not: none may stay in plaintext.
        let bucket = super::blobs::bucket(ctx).map_err(|e| e.to_string())?;
        for copy in super::coded_copies::all(&bucket, org, digest)
            .await
            .map_err(|e| e.to_string())?
        {
            statements.push(
                ctx.db
                    .prepare(
                        "INSERT INTO retired_objects (object_key, retired_at) VALUES (?1, ?2)
                         ON CONFLICT (object_key) DO NOTHING",
                    )
                    .bind(&[db::text(&copy.key()), db::int(ctx.now)])
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    let results = ctx.db.batch(statements).await.map_err(|e| e.to_string())?;
    let changed = results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|meta| meta.changes)
        .unwrap_or(0);
    Ok(changed > 0)
}

/// Deletes objects retired before `before` (ms); returns how many.
pub async fn delete_retired(ctx: &Ctx, before: i64) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        object_key: String,
    }
    let rows = db::all::<Row>(
        &ctx.db
            .prepare(
                "SELECT object_key FROM retired_objects WHERE retired_at < ?1 ORDER BY retired_at LIMIT 100",
            )
            .bind(&[db::int(before)])
            .map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| e.to_string())?;
    let bucket = super::blobs::bucket(ctx).map_err(|e| e.to_string())?;
    let mut deleted = 0;
    for row in rows {
        bucket
            .delete(&row.object_key)
            .await
            .map_err(|e| e.to_string())?;
        ctx.db
            .prepare("DELETE FROM retired_objects WHERE object_key = ?1")
            .bind(&[db::text(&row.object_key)])
            .map_err(|e| e.to_string())?
            .run()
            .await
            .map_err(|e| e.to_string())?;
        deleted += 1;
    }
    Ok(deleted)
}

impl AtRest for D1Store<'_> {
    fn at_rest_configured(&self) -> bool {
        #[cfg(feature = "operations")]
        return self.ctx.seals;
        #[cfg(not(feature = "operations"))]
        secret(&self.ctx.env).is_some()
    }

    async fn org_encryption(&self, org: &str) -> Result<Option<OrgEncryption>, StoreError> {
        state(self.ctx, org).await
    }

    async fn objects_at(&self, org: &str) -> Result<Vec<ObjectsAt>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            key_version: Option<f64>,
            objects: f64,
            bytes: f64,
        }
        let rows = db::all::<Row>(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT key_version, count(*) AS objects, coalesce(sum(size), 0) AS bytes
                     FROM blobs WHERE org = ?1 GROUP BY key_version ORDER BY key_version",
                )
                .bind(&[db::text(org)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        Ok(rows
            .into_iter()
            .map(|row| ObjectsAt {
                key_version: row.key_version.map(|v| as_i64(v) as u32),
                objects: as_i64(row.objects) as u64,
                bytes: as_i64(row.bytes) as u64,
            })
            .collect())
    }
}
