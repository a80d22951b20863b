//! Artifacts: one row per organisation and digest (`blobs`), the bytes in
//! the R2 object `orgs/{org}/sha256/{hex}`, or sealed at rest when the
//! organisation has encryption on (`super::at_rest`; the row's
//! `key_version` says which). R2 checks a plaintext upload's sha256 and
//! length itself (`put(..).sha256(..)` with a fixed-length stream), and the
//! sealer checks a sealed one, so bytes that are not the declared ones are
//! never stored.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use outpost_core::conditional::ByteRange;
use outpost_core::content_coding::Coding;
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_registry::StoreError;
use outpost_registry::ports::{
    Arrival, BlobFacts, Blobs, CopyArrival, Received, Rehashed, StoredCopy,
};
use worker::{ByteStream, D1PreparedStatement, FixedLengthStream, ResponseBody};

use super::{D1Store, failed};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};

pub use outpost_core::digest::object_key;

/// Artifacts bigger than this are not copied into the Workers Cache API
/// (bytes): the copy is a second R2 read streamed into the cache after the
/// response, and must finish within the time `waitUntil` grants.
const CACHED_UP_TO: u64 = 128 << 20;

/// Objects read from R2 by this isolate's requests (`GET /v1/admin/isolate`).
static R2_READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn r2_reads() -> u64 {
    R2_READS.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn counted_read() {
    R2_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

thread_local! {
    /// Cache keys this isolate is filling now: one copy per artifact at a
    /// time, however many downloads miss together.
    static FILLING: RefCell<std::collections::HashSet<String>> = RefCell::default();
}

/// The edge cache key of an artifact (content addressing: the bytes behind
/// it never change, DESIGN "Scale": repeat downloads never touch R2).
fn cache_key(ctx: &Ctx, org: &str, digest: &Digest) -> Option<String> {
    super::edge_cache::key(ctx, &format!("orgs/{org}/sha256/{}", digest.hex()))
}

/// The cached copy of an artifact (the whole of it, or one range, which the
/// cache slices itself), if this data centre has one.
async fn from_cache(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    range: Option<ByteRange>,
) -> Option<ResponseBody> {
    let key = cache_key(ctx, org, digest)?;
    let range = range.map(|r| format!("bytes={}-{}", r.start, r.end));
    super::edge_cache::get(&key, range.as_deref()).await
}

/// Copies an artifact of `size` bytes from R2 into the cache after the
/// response, when a whole download missed (a second read of its own, so
/// neither the response nor the isolate's memory waits on the copy).
/// Skipped, never failed: the copy only saves later reads.
fn fill_cache(ctx: &Ctx, org: &str, digest: &Digest, size: u64) {
    if let Some(url) = cache_key(ctx, org, digest) {
        fill_cache_from(ctx, object_key(org, digest), url, size);
    }
}

/// Copies the R2 object `key` of `size` bytes into the cache under `url`
/// after the response (see [`fill_cache`]); sealed objects are cached as
/// they are stored.
pub(super) fn fill_cache_from(ctx: &Ctx, key: String, url: String, size: u64) {
    if let Some(fill) = cache_filler(ctx, key, url, size) {
        fill();
    }
}

/// What [`fill_cache_from`] does, to be done later (once a download has
/// read the whole object and found it sound); `None` when there is nothing
/// to fill.
pub(super) fn cache_filler(
    ctx: &Ctx,
    key: String,
    url: String,
    size: u64,
) -> Option<impl FnOnce() + 'static> {
    if size > CACHED_UP_TO {
        return None;
    }
    let bucket = bucket(ctx).ok()?;
    let background = ctx.background.clone()?;
    Some(move || {
        if !FILLING.with(|filling| filling.borrow_mut().insert(url.clone())) {
            return;
        }
        background.wait_until(async move {
            counted_read();
            if let Ok(Some(object)) = bucket.get(&key).execute().await
                && let Some(body) = object.body().and_then(|body| body.response_body().ok())
            {
                super::edge_cache::put(&url, body, Some(size), "application/octet-stream").await;
            }
            FILLING.with(|filling| filling.borrow_mut().remove(&url));
        });
    })
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct BlobRow {
    size: f64,
    created_at: f64,
    key_version: Option<f64>,
    /// The organisation's key version when encryption is on: a plaintext
    /// object of such an organisation waits for the cron, and is never
    /// copied into the edge cache meanwhile.
    org_version: Option<f64>,
    /// The size of its checked gzip copy, if one is kept, and which upload.
    gzip_size: Option<f64>,
    gzip_id: Option<String>,
}

impl BlobRow {
    /// Whether its object may be copied into the edge cache as it is.
    fn cacheable(&self) -> bool {
        self.key_version.is_some() || self.org_version.is_none()
    }

    /// Its size and key version (`None`: plaintext).
    pub(super) fn location(&self) -> (u64, Option<u32>) {
        (
            as_i64(self.size) as u64,
            self.key_version.map(|v| as_i64(v) as u32),
        )
    }
}

pub(super) async fn find(ctx: &Ctx, org: &str, digest: &Digest) -> worker::Result<Option<BlobRow>> {
    db::first::<BlobRow>(
        &ctx.db
            .prepare(
                "SELECT b.size, b.created_at, b.key_version, e.key_version AS org_version,
                        b.gzip_size, b.gzip_id
                 FROM blobs b LEFT JOIN org_encryption e ON e.org = b.org
                 WHERE b.org = ?1 AND b.digest = ?2",
            )
            .bind(&[db::text(org), db::text(&digest.to_string())])?,
    )
    .await
}

/// The statement recording an artifact; identical content recorded
/// concurrently keeps the first row.
pub fn insert(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
    (size, key_version): (u64, Option<u32>),
    created_by: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "INSERT INTO blobs (org, digest, size, created_at, created_by, key_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (org, digest) DO NOTHING",
        )
        .bind(&[
            db::text(org),
            db::text(&digest.to_string()),
            db::int(size as i64),
            db::int(ctx.now),
            db::text(created_by),
            db::opt_int(key_version.map(i64::from)),
        ])
}

impl D1Store<'_> {
    /// Where the artifact's object is (its key version, `None` for
    /// plaintext) and its size, from what this request saw or the row.
    /// `None` without a row.
    async fn location(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<(u64, Option<u32>)>, StoreError> {
        let Some(row) = find(self.ctx, org, digest).await.map_err(failed)? else {
            return Ok(None);
        };
        let found = row.location();
        self.remember(org, digest, found, row.cacheable());
        Ok(Some(found))
    }

    /// Puts a plaintext stream of `size` bytes as the artifact's object:
    /// sealed when the organisation has encryption on, else plaintext with
    /// R2's own sha256 check. Remembers where, for the row recorded next.
    pub(super) async fn put_stream(
        &self,
        org: &str,
        digest: &Digest,
        size: u64,
        body: super::at_rest::Plaintext,
    ) -> Result<(Received, Result<Option<String>, String>), StoreError> {
        let version = super::at_rest::current_version(self.ctx, org).await?;
        self.remember(org, digest, (size, version), version.is_some());
        if let Some(version) = version {
            return Ok(
                match super::at_rest::put_sealed(self.ctx, org, digest, (size, version), body)
                    .await?
                {
                    Ok(received) => (received, Ok(None)),
                    Err((received, cause)) => (received, Err(cause)),
                },
            );
        }
        let bucket = bucket(self.ctx)?;
        let key = object_key(org, digest);
        let (tapped, stream) = Tapped::wrap(body, size);
        let put = bucket
            .put(&key, stream)
            .sha256(digest.as_bytes().to_vec())
            .execute()
            .await;
        let received = tapped.received();
        Ok(match put {
            Ok(object) => (received, Ok(object.map(|o| o.etag()))),
            Err(err) => (received, Err(format!("R2 put of {key}: {err}"))),
        })
    }
}

pub(super) fn bucket(ctx: &Ctx) -> Result<worker::Bucket, StoreError> {
    // The runtime's own words go to the log: a binding that is configured
    // was once seen failing under fifty concurrent registrations (503s in
    // one e2e run of many), and its cause is not known yet.
    // `Ctx::bucket` logs the runtime's error.
    ctx.bucket()
        .map_err(|_| StoreError::NotConfigured("the R2 binding is not configured".into()))
}

/// A request body passed through a sha256 hasher on its way to R2, so that
/// what arrived can be reported when R2 refuses it.
pub(super) struct Tapped {
    hasher: Rc<RefCell<Sha256Hasher>>,
}

impl Tapped {
    /// Wraps `body` as a stream of exactly `length` bytes for R2.
    pub(super) fn wrap(body: super::at_rest::Plaintext, length: u64) -> (Self, FixedLengthStream) {
        let hasher = Rc::new(RefCell::new(Sha256Hasher::new()));
        let tap = Rc::clone(&hasher);
        let body = body.map(move |chunk| {
            if let Ok(bytes) = &chunk {
                tap.borrow_mut().update(bytes);
            }
            chunk
        });
        (Self { hasher }, FixedLengthStream::wrap(body, length))
    }

    /// What passed through (the stream is done or dropped by then).
    pub(super) fn received(self) -> Received {
        // Take the state out even if the stream still holds the tap.
        let done = std::mem::replace(&mut *self.hasher.borrow_mut(), Sha256Hasher::new()).finish();
        Received {
            length: done.length,
            digest: done.digest,
        }
    }
}

/// A request's body, taken only when a use case stores it: a stream taken
/// and left unread (an upload of content stored already, a part of an
/// unknown upload) would hold the request open in the runtime.
#[derive(Debug)]
pub struct RequestBody<'a>(pub &'a mut worker::Request);

impl RequestBody<'_> {
    /// The body's stream; `None` when the request has none.
    pub(super) fn stream(self) -> Option<ByteStream> {
        self.0.stream().ok()
    }
}

impl<'a> Blobs for D1Store<'a> {
    type Incoming = RequestBody<'a>;
    type Object = ResponseBody;

    async fn blob_facts(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<BlobFacts>, StoreError> {
        let Some(row) = find(self.ctx, org, digest).await.map_err(failed)? else {
            return Ok(None);
        };
        self.remember(org, digest, row.location(), row.cacheable());
        let sealed = row.key_version.is_some() || row.org_version.is_some();
        Ok(Some(BlobFacts {
            size: as_i64(row.size) as u64,
            created_at: as_i64(row.created_at),
            gzip: match (row.gzip_size, row.gzip_id) {
                (Some(size), Some(id)) if !sealed => Some(StoredCopy {
                    size: as_i64(size) as u64,
                    id,
                }),
                _ => None,
            },
            sealed,
        }))
    }

    async fn put_object(
        &self,
        org: &str,
        digest: &Digest,
        size: u64,
        body: RequestBody<'a>,
    ) -> Result<Arrival, StoreError> {
        let refused = |received: Received| Ok(Arrival::Refused(received));
        let (received, put) = if size == 0 {
            // An empty body has no stream to wrap.
            self.put_stream(org, digest, 0, super::at_rest::nothing())
                .await?
        } else {
            let Some(body) = body.stream() else {
                return refused(Received {
                    length: 0,
                    digest: Digest::of(&[]),
                });
            };
            self.put_stream(org, digest, size, body.boxed_local())
                .await?
        };
        match put {
            Ok(etag) => Ok(Arrival::Stored {
                etag: etag.unwrap_or_default(),
                received,
            }),
            // R2 stored nothing; if the bytes are what was declared, the
            // failure was R2's own.
            Err(_) if received.length != size || received.digest != *digest => refused(received),
            Err(err) => Err(failed(err)),
        }
    }

    async fn open_object(
        &self,
        org: &str,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<Option<ResponseBody>, StoreError> {
        if let Some((size, Some(version))) = self.sealed_or_not(org, digest).await? {
            return super::at_rest::open_stream(self.ctx, org, digest, (size, version), range)
                .await;
        }
        let cacheable = self.cacheable(org, digest);
        if cacheable && let Some(body) = from_cache(self.ctx, org, digest, range).await {
            return Ok(Some(body));
        }
        let bucket = bucket(self.ctx)?;
        let key = object_key(org, digest);
        counted_read();
        let mut get = bucket.get(&key);
        if let Some(range) = range {
            get = get.range(worker::Range::OffsetWithLength {
                offset: range.start,
                length: range.length(),
            });
        }
        let Some(object) = get.execute().await.map_err(failed)? else {
            return Ok(None);
        };
        let body = object
            .body()
            .ok_or_else(|| StoreError::new("R2 object without a body"))?;
        if range.is_none() && cacheable {
            fill_cache(self.ctx, org, digest, object.size());
        }
        Ok(Some(body.response_body().map_err(failed)?))
    }

    async fn read_range(
        &self,
        org: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some((size, Some(version))) = self.sealed_or_not(org, digest).await? {
            return super::at_rest::open_bytes(self.ctx, org, digest, (size, version), Some(range))
                .await;
        }
        if self.cacheable(org, digest)
            && let Some(body) = from_cache(self.ctx, org, digest, Some(range)).await
        {
            let mut response = worker::Response::from_body(body).map_err(failed)?;
            return Ok(Some(response.bytes().await.map_err(failed)?));
        }
        let key = object_key(org, digest);
        counted_read();
        let object = bucket(self.ctx)?
            .get(&key)
            .range(worker::Range::OffsetWithLength {
                offset: range.start,
                length: range.length(),
            })
            .execute()
            .await
            .map_err(failed)?;
        let Some(object) = object else {
            return Ok(None);
        };
        let body = object
            .body()
            .ok_or_else(|| StoreError::new("R2 object without a body"))?;
        Ok(Some(body.bytes().await.map_err(failed)?))
    }

    async fn rehash(&self, org: &str, digest: &Digest) -> Result<Option<Rehashed>, StoreError> {
        super::lifecycle::reverify(self.ctx, org, digest).await
    }

    async fn unreferenced_blobs(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(String, Digest)>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            org: String,
            digest: String,
        }
        // An organisation being restored has its artifacts' rows before
        // the versions that name them: none of them is collected.
        let rows = db::all::<Row>(
            &self
                .ctx
                .db
                .prepare(
                    "SELECT b.org, b.digest FROM blobs b
                     WHERE max(b.created_at, coalesce(b.claimed_at, 0)) < ?1
                       AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.org = b.org AND v.digest = b.digest)
                       AND NOT EXISTS (SELECT 1 FROM restores r WHERE r.org = b.org AND r.finished_at IS NULL)
                     ORDER BY b.created_at LIMIT ?2",
                )
                .bind(&[db::int(before), db::int(limit as i64)])
                .map_err(failed)?,
        )
        .await
        .map_err(failed)?;
        rows.into_iter()
            .map(|row| Ok((row.org, row.digest.parse().map_err(failed)?)))
            .collect()
    }

    async fn delete_stale_object(
        &self,
        org: &str,
        digest: &Digest,
        before: i64,
    ) -> Result<bool, StoreError> {
        let bucket = bucket(self.ctx)?;
        let mut stale = Vec::new();
        let key = object_key(org, digest);
        if let Some(object) = bucket.head(&key).await.map_err(failed)? {
            stale.push(object);
        }
        stale.extend(sealed_objects(&bucket, org, digest).await?);
        let mut deleted = false;
        for object in stale {
            if (object.uploaded().as_millis() as i64) < before {
                bucket.delete(object.key()).await.map_err(failed)?;
                deleted = true;
            }
        }
        // Copies go whatever their age: a copy is checked against a row,
        // and a download whose copy is missing gets the artifact instead.
        for copy in super::coded_copies::all(&bucket, org, digest).await? {
            bucket.delete(copy.key()).await.map_err(failed)?;
        }
        Ok(deleted)
    }

    async fn read(&self, org: &str, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some((size, Some(version))) = self.sealed_or_not(org, digest).await? {
            return super::at_rest::open_bytes(self.ctx, org, digest, (size, version), None).await;
        }
        let key = object_key(org, digest);
        let Some(object) = bucket(self.ctx)?
            .get(&key)
            .execute()
            .await
            .map_err(failed)?
        else {
            return Ok(None);
        };
        let body = object
            .body()
            .ok_or_else(|| StoreError::new("R2 object without a body"))?;
        Ok(Some(body.bytes().await.map_err(failed)?))
    }

    async fn delete_object(&self, org: &str, digest: &Digest) -> Result<(), StoreError> {
        let bucket = bucket(self.ctx)?;
        let mut keys = vec![object_key(org, digest)];
        keys.extend(
            sealed_objects(&bucket, org, digest)
                .await?
                .iter()
                .map(worker::Object::key),
        );
        keys.extend(
            super::coded_copies::all(&bucket, org, digest)
                .await?
                .iter()
                .map(worker::Object::key),
        );
        for key in keys {
            if let Err(err) = bucket.delete(&key).await {
                worker::console_warn!("deleting R2 object {key}: {err}");
            }
        }
        Ok(())
    }

    async fn put_coded_copy(
        &self,
        org: &str,
        artifact: (&Digest, &str),
        copy: (Coding, u64),
        limit: u64,
        body: RequestBody<'a>,
    ) -> Result<CopyArrival, StoreError> {
        super::coded_copies::put(self.ctx, org, artifact, copy, limit, body).await
    }

    async fn open_coded_copy(
        &self,
        org: &str,
        digest: &Digest,
        copy: (Coding, &str),
    ) -> Result<Option<ResponseBody>, StoreError> {
        super::coded_copies::open(self.ctx, org, digest, copy).await
    }

    async fn discard_coded_copy(
        &self,
        org: &str,
        digest: &Digest,
        copy: (Coding, &str),
    ) -> Result<(), StoreError> {
        super::coded_copies::discard(self.ctx, org, digest, copy).await
    }
}

impl D1Store<'_> {
    /// The artifact's size and key version when this request knows them
    /// (from `blob_facts`) or its row says; `None` without a row.
    async fn sealed_or_not(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<(u64, Option<u32>)>, StoreError> {
        match self.recalled(org, digest) {
            Some(found) => Ok(Some(found)),
            None => self.location(org, digest).await,
        }
    }
}

/// Every sealed object of one artifact (one per key version it was sealed
/// under and not yet deleted).
async fn sealed_objects(
    bucket: &worker::Bucket,
    org: &str,
    digest: &Digest,
) -> Result<Vec<worker::Object>, StoreError> {
    let listed = bucket
        .list()
        .prefix(outpost_core::at_rest::sealed_prefix(org, digest))
        .execute()
        .await
        .map_err(failed)?;
    Ok(listed.objects())
}
