//! Artifacts encrypted at rest, per organisation (issue "Confidential,
//! compact, portable artifacts"): AES-256-GCM over fixed 64 KiB chunks, so
//! that a Range request decrypts only the chunks it touches, and a chunk that
//! was altered, moved, dropped or taken from another object fails
//! authentication instead of yielding wrong bytes.
//!
//! Keys (HKDF-SHA-256, RFC 5869, through ring):
//! - the organisation's key for a key version: `HKDF(salt = "outpost/at-rest/v1",
//!   ikm = the Worker's at-rest secret)` expanded with `("org", org, version)`;
//! - each object's AES-256-GCM key: the organisation's key expanded with
//!   `("object", the artifact's SHA-256)`. A digest names exactly one
//!   plaintext, so a key never seals two different plaintexts, and the
//!   per-chunk nonce can be the chunk's index (NIST SP 800-38D §8.2.1: unique
//!   per key).
//!
//! A sealed object is a 20-byte header — `b"opsealed"`, the key version (u32,
//! big-endian) and the plaintext's length (u64, big-endian) — then one sealed
//! chunk per 64 KiB of plaintext (at least one, so an empty artifact is
//! authenticated too): the chunk's ciphertext and its 16-byte tag. Each
//! chunk's associated data is the header, the chunk's index (u64) and whether
//! it is the last chunk (one byte), binding the length, the order and the end.
//! The artifact's digest stays the digest of the plaintext, so release
//! signatures, ETags and every device check are unchanged.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Prk, Salt};

use crate::digest::{Digest, HashedContent, Sha256Hasher};

/// Plaintext bytes per chunk.
pub const CHUNK_LEN: u64 = 64 * 1024;
/// The GCM tag after each chunk's ciphertext.
pub const TAG_LEN: u64 = 16;
/// The header before the first chunk.
pub const HEADER_LEN: u64 = 20;
/// The fewest bytes an at-rest secret may have (AES-256's key size).
pub const MIN_SECRET_LEN: usize = 32;

const MAGIC: &[u8; 8] = b"opsealed";
const SALT: &[u8] = b"outpost/at-rest/v1";

/// Why an object could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the at-rest secret is {0} bytes; at least 32 are needed")]
    ShortSecret(usize),
    #[error("not an Outpost sealed object (no `opsealed` header)")]
    NotSealed,
    #[error("the object is sealed under key version {found}, not {expected}")]
    KeyVersion { found: u32, expected: u32 },
    #[error(
        "chunk {0} failed authentication: the stored object was altered, reordered or truncated, or belongs to another artifact"
    )]
    Tampered(u64),
    #[error("the stored object is {found} bytes where its header says {expected}")]
    Length { found: u64, expected: u64 },
    #[error("bytes {start}..{end} are not within the {len}-byte artifact")]
    Range { start: u64, end: u64, len: u64 },
    #[error(
        "the upload was declared as {declared_len} bytes with its SHA-256, and {received_len} bytes arrived that are not those"
    )]
    Upload {
        declared_len: u64,
        received_len: u64,
    },
    #[error("an object key is 64 hex digits")]
    BadKey,
}

/// Where the artifact `digest` of `org` is stored sealed under key version
/// `version`: `orgs/{org}/sealed/sha256/{hex}/v{version}`. Each key version
/// has its own object, so re-sealing under a new version never rewrites an
/// object a download may be reading; every version of one artifact shares
/// the prefix [`sealed_prefix`], so they can be listed and deleted together.
pub fn sealed_object_key(org: &str, version: u32, digest: &Digest) -> String {
    format!("{}v{version}", sealed_prefix(org, digest))
}

/// The prefix of every sealed object of one artifact.
pub fn sealed_prefix(org: &str, digest: &Digest) -> String {
    format!("orgs/{org}/sealed/sha256/{}/", digest.hex())
}

/// An organisation's key at one key version.
pub struct OrgKey {
    version: u32,
    prk: Prk,
}

impl std::fmt::Debug for OrgKey {
    // Never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl OrgKey {
    /// Derives `org`'s key at `version` from the at-rest secret.
    ///
    /// # Errors
    /// [`SealError::ShortSecret`] below [`MIN_SECRET_LEN`] bytes.
    pub fn derive(secret: &[u8], org: &str, version: u32) -> Result<Self, SealError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(SealError::ShortSecret(secret.len()));
        }
        let master = Salt::new(HKDF_SHA256, SALT).extract(secret);
        let version_bytes = version.to_be_bytes();
        let info: [&[u8]; 3] = [b"org", org.as_bytes(), &version_bytes];
        let okm = master
            .expand(&info, HKDF_SHA256)
            .map_err(|_| SealError::ShortSecret(secret.len()))?;
        Ok(Self {
            version,
            prk: Prk::from(okm),
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The key of the artifact whose SHA-256 is `digest`.
    pub fn object_key(&self, digest: &Digest) -> ObjectKey {
        let info: [&[u8]; 2] = [b"object", digest.as_bytes()];
        let mut bytes = [0u8; 32];
        #[expect(
            clippy::expect_used,
            reason = "32 bytes of HKDF-SHA-256 output are always available"
        )]
        self.prk
            .expand(&info, &AES_256_GCM)
            .and_then(|okm| okm.fill(&mut bytes))
            .expect("HKDF-SHA-256 gives 32 bytes");
        ObjectKey {
            version: self.version,
            bytes,
        }
    }
}

/// One artifact's AES-256-GCM key at one key version. The registry Worker
/// hands it to the inference Worker for the one artifact it runs (the
/// at-rest secret stays in the registry Worker); as text it is 64 hex
/// digits ([`ObjectKey::to_hex`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectKey {
    version: u32,
    bytes: [u8; 32],
}

impl std::fmt::Debug for ObjectKey {
    // Never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ObjectKey {
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The key as 64 hex digits (for the inference protocol only).
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The key at `version` from [`ObjectKey::to_hex`]'s text.
    ///
    /// # Errors
    /// [`SealError::BadKey`] unless `text` is 64 hex digits.
    pub fn from_hex(version: u32, text: &str) -> Result<Self, SealError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| SealError::BadKey)?;
        Ok(Self { version, bytes })
    }

    fn aead(&self) -> LessSafeKey {
        #[expect(clippy::expect_used, reason = "32 bytes is AES-256's key length")]
        let key = UnboundKey::new(&AES_256_GCM, &self.bytes).expect("a 32-byte key");
        LessSafeKey::new(key)
    }
}

/// What a sealed object's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub key_version: u32,
    pub plaintext_len: u64,
}

impl Header {
    /// Reads the first [`HEADER_LEN`] bytes of a stored object.
    ///
    /// # Errors
    /// [`SealError::NotSealed`] if they are not a header.
    pub fn parse(bytes: &[u8]) -> Result<Self, SealError> {
        let head = bytes
            .get(..HEADER_LEN as usize)
            .ok_or(SealError::NotSealed)?;
        if &head[..8] != MAGIC {
            return Err(SealError::NotSealed);
        }
        let mut version = [0u8; 4];
        version.copy_from_slice(&head[8..12]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&head[12..20]);
        Ok(Self {
            key_version: u32::from_be_bytes(version),
            plaintext_len: u64::from_be_bytes(len),
        })
    }

    fn bytes(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&self.key_version.to_be_bytes());
        out[12..20].copy_from_slice(&self.plaintext_len.to_be_bytes());
        out
    }

    /// How many chunks the object holds (at least one).
    pub fn chunks(&self) -> u64 {
        self.plaintext_len.div_ceil(CHUNK_LEN).max(1)
    }

    /// The stored object's length: header, chunks and their tags.
    pub fn sealed_len(&self) -> u64 {
        HEADER_LEN + self.plaintext_len + self.chunks() * TAG_LEN
    }

    /// Where chunk `index` starts in the stored object.
    fn chunk_offset(&self, index: u64) -> u64 {
        HEADER_LEN + index * (CHUNK_LEN + TAG_LEN)
    }

    /// Plaintext bytes in chunk `index`.
    fn chunk_plain_len(&self, index: u64) -> u64 {
        self.plaintext_len
            .saturating_sub(index * CHUNK_LEN)
            .min(CHUNK_LEN)
    }

    fn aad(&self, index: u64) -> [u8; HEADER_LEN as usize + 9] {
        let mut aad = [0u8; HEADER_LEN as usize + 9];
        aad[..HEADER_LEN as usize].copy_from_slice(&self.bytes());
        aad[HEADER_LEN as usize..HEADER_LEN as usize + 8].copy_from_slice(&index.to_be_bytes());
        aad[HEADER_LEN as usize + 8] = u8::from(index + 1 == self.chunks());
        aad
    }
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// Seals `plaintext` under `key` in one call (the whole object in memory;
/// see [`Sealer`] for a stream).
pub fn seal(key: &ObjectKey, plaintext: &[u8]) -> Vec<u8> {
    let header = Header {
        key_version: key.version,
        plaintext_len: plaintext.len() as u64,
    };
    let aead = key.aead();
    let mut out = Vec::with_capacity(header.sealed_len() as usize);
    out.extend_from_slice(&header.bytes());
    for index in 0..header.chunks() {
        let start = (index * CHUNK_LEN) as usize;
        let end = start + header.chunk_plain_len(index) as usize;
        out.extend_from_slice(&seal_chunk(&aead, &header, index, &plaintext[start..end]));
    }
    out
}

fn seal_chunk(aead: &LessSafeKey, header: &Header, index: u64, plain: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(plain.len() + TAG_LEN as usize);
    chunk.extend_from_slice(plain);
    #[expect(
        clippy::expect_used,
        reason = "sealing fails only past GCM's 64 GiB per message; a chunk is 64 KiB"
    )]
    let tag = aead
        .seal_in_place_separate_tag(nonce(index), Aad::from(header.aad(index)), &mut chunk)
        .expect("a 64 KiB chunk seals");
    chunk.extend_from_slice(tag.as_ref());
    chunk
}

/// Seals a stream of plaintext as it arrives, for an upload that goes
/// straight to storage: feed it with [`Sealer::push`], which returns the
/// sealed bytes ready to store (the header first), then [`Sealer::finish`].
///
/// The last chunk is sealed only by `finish`, after the plaintext's length
/// and SHA-256 are checked against what was declared, so a store that takes
/// a fixed-length stream ([`Sealer::sealed_len`] bytes) ends up one chunk
/// short of the object, and stores nothing, when the upload was not the
/// declared bytes.
pub struct Sealer {
    aead: LessSafeKey,
    header: Header,
    expected: Digest,
    hasher: Sha256Hasher,
    /// Plaintext of the chunk being filled.
    pending: Vec<u8>,
    /// The index of the chunk being filled.
    index: u64,
    started: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("header", &self.header)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Seals `plaintext_len` bytes whose SHA-256 must be `expected`.
    pub fn new(key: &ObjectKey, expected: Digest, plaintext_len: u64) -> Self {
        Self {
            aead: key.aead(),
            header: Header {
                key_version: key.version,
                plaintext_len,
            },
            expected,
            hasher: Sha256Hasher::new(),
            pending: Vec::new(),
            index: 0,
            started: false,
        }
    }

    /// The stored object's length (bytes).
    pub fn sealed_len(&self) -> u64 {
        self.header.sealed_len()
    }

    /// Takes the next plaintext bytes and returns sealed bytes to store
    /// (possibly none).
    ///
    /// # Errors
    /// [`SealError::Upload`] once more bytes arrive than were declared.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<u8>, SealError> {
        self.hasher.update(bytes);
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.extend_from_slice(&self.header.bytes());
        }
        let last = self.header.chunks() - 1;
        while !bytes.is_empty() {
            let want = self.header.chunk_plain_len(self.index) as usize - self.pending.len();
            if want == 0 || self.index > last {
                return Err(self.mismatch());
            }
            let take = want.min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if take == want && self.index < last {
                out.extend_from_slice(&seal_chunk(
                    &self.aead,
                    &self.header,
                    self.index,
                    &self.pending,
                ));
                self.pending.clear();
                self.index += 1;
            }
        }
        Ok(out)
    }

    /// What arrived so far: its length and SHA-256 (a copy; the sealer goes on).
    pub fn received(&self) -> HashedContent {
        self.hasher.clone().finish()
    }

    fn mismatch(&self) -> SealError {
        let received = self.received();
        SealError::Upload {
            declared_len: self.header.plaintext_len,
            received_len: received.length,
        }
    }

    /// Checks what arrived against the declared length and digest and
    /// returns the last sealed bytes.
    ///
    /// # Errors
    /// [`SealError::Upload`] when the length or the digest differ.
    pub fn finish(self) -> Result<Vec<u8>, SealError> {
        let received = self.received();
        if received.length != self.header.plaintext_len || received.digest != self.expected {
            return Err(SealError::Upload {
                declared_len: self.header.plaintext_len,
                received_len: received.length,
            });
        }
        let mut out = Vec::new();
        if !self.started {
            out.extend_from_slice(&self.header.bytes());
        }
        out.extend_from_slice(&seal_chunk(
            &self.aead,
            &self.header,
            self.index,
            &self.pending,
        ));
        Ok(out)
    }
}

/// Which stored bytes hold plaintext bytes `start..end`: whole chunks, the
/// first of them `first_chunk`, at `sealed_start..sealed_end` of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    pub first_chunk: u64,
    pub sealed_start: u64,
    pub sealed_end: u64,
}

/// The chunks a read of plaintext bytes `start..end` (end exclusive) needs.
///
/// # Errors
/// [`SealError::Range`] unless `start < end <= plaintext_len` (or both are 0
/// for an empty artifact).
pub fn chunk_span(header: &Header, start: u64, end: u64) -> Result<ChunkSpan, SealError> {
    let len = header.plaintext_len;
    let empty_whole = start == 0 && end == 0;
    if !empty_whole && (start >= end || end > len) {
        return Err(SealError::Range { start, end, len });
    }
    let first = start / CHUNK_LEN;
    let last = if empty_whole {
        0
    } else {
        (end - 1) / CHUNK_LEN
    };
    Ok(ChunkSpan {
        first_chunk: first,
        sealed_start: header.chunk_offset(first),
        sealed_end: header.chunk_offset(last) + header.chunk_plain_len(last) + TAG_LEN,
    })
}

/// Opens a stream of stored bytes (a [`ChunkSpan`]'s, read from storage)
/// as it arrives: [`Opener::push`] returns the plaintext of each chunk that
/// is complete and authentic, trimmed to the requested range, and
/// [`Opener::finish`] checks nothing is missing. A chunk that fails
/// authentication is an error before any of its bytes are returned, so a
/// reader gets a short stream, never wrong bytes.
pub struct Opener {
    aead: LessSafeKey,
    header: Header,
    /// The chunk being filled.
    index: u64,
    last: u64,
    /// Stored bytes of the chunk being filled.
    pending: Vec<u8>,
    /// Plaintext bytes still to skip at the start, and still to return.
    skip: u64,
    remaining: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("header", &self.header)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// Opens plaintext bytes `start..end` from the stored bytes of `span`
    /// (`chunk_span(header, start, end)`).
    ///
    /// # Errors
    /// [`SealError::KeyVersion`] when `key` is not the header's version.
    pub fn new(
        key: &ObjectKey,
        header: Header,
        span: &ChunkSpan,
        (start, end): (u64, u64),
    ) -> Result<Self, SealError> {
        if header.key_version != key.version {
            return Err(SealError::KeyVersion {
                found: header.key_version,
                expected: key.version,
            });
        }
        let last = if end == 0 { 0 } else { (end - 1) / CHUNK_LEN };
        Ok(Self {
            aead: key.aead(),
            header,
            index: span.first_chunk,
            last,
            pending: Vec::new(),
            skip: start - span.first_chunk * CHUNK_LEN,
            remaining: end - start,
        })
    }

    /// Takes the next stored bytes and returns the plaintext they complete.
    ///
    /// # Errors
    /// [`SealError::Tampered`] naming a chunk that fails authentication;
    /// [`SealError::Length`] for bytes past the span.
    pub fn push(&mut self, mut sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        while !sealed.is_empty() {
            if self.index > self.last {
                return Err(SealError::Length {
                    found: sealed.len() as u64,
                    expected: 0,
                });
            }
            let want =
                (self.header.chunk_plain_len(self.index) + TAG_LEN) as usize - self.pending.len();
            let take = want.min(sealed.len());
            self.pending.extend_from_slice(&sealed[..take]);
            sealed = &sealed[take..];
            if take == want {
                let index = self.index;
                let opened = self
                    .aead
                    .open_in_place(
                        nonce(index),
                        Aad::from(self.header.aad(index)),
                        &mut self.pending,
                    )
                    .map_err(|_| SealError::Tampered(index))?;
                let skip = (self.skip as usize).min(opened.len());
                let give = ((opened.len() - skip) as u64).min(self.remaining) as usize;
                out.extend_from_slice(&opened[skip..skip + give]);
                self.skip -= skip as u64;
                self.remaining -= give as u64;
                self.pending.clear();
                self.index += 1;
            }
        }
        Ok(out)
    }

    /// Checks that the whole span arrived.
    ///
    /// # Errors
    /// [`SealError::Length`] when the stored bytes stopped short.
    pub fn finish(self) -> Result<(), SealError> {
        if self.index <= self.last {
            return Err(SealError::Length {
                found: self.pending.len() as u64,
                expected: self.header.chunk_plain_len(self.index) + TAG_LEN,
            });
        }
        Ok(())
    }
}

/// Opens the chunks of `span` (the stored bytes `sealed`, exactly
/// `span.sealed_start..span.sealed_end`) and returns plaintext bytes
/// `start..end`.
///
/// # Errors
/// [`SealError::KeyVersion`] for another key version, [`SealError::Length`]
/// when `sealed` is not the span, [`SealError::Tampered`] naming the first
/// chunk that fails authentication.
pub fn open_span(
    key: &ObjectKey,
    header: &Header,
    span: &ChunkSpan,
    sealed: &[u8],
    range: (u64, u64),
) -> Result<Vec<u8>, SealError> {
    let expected = span.sealed_end - span.sealed_start;
    if sealed.len() as u64 != expected {
        return Err(SealError::Length {
            found: sealed.len() as u64,
            expected,
        });
    }
    let mut opener = Opener::new(key, *header, span, range)?;
    let plain = opener.push(sealed)?;
    opener.finish()?;
    Ok(plain)
}

/// Opens a whole stored object.
///
/// # Errors
/// As [`Header::parse`] and [`open_span`]; [`SealError::Length`] when the
/// object is longer or shorter than its header says.
pub fn open(key: &ObjectKey, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let header = Header::parse(sealed)?;
    if sealed.len() as u64 != header.sealed_len() {
        return Err(SealError::Length {
            found: sealed.len() as u64,
            expected: header.sealed_len(),
        });
    }
    let span = chunk_span(&header, 0, header.plaintext_len)?;
    open_span(
        key,
        &header,
        &span,
        &sealed[HEADER_LEN as usize..],
        (0, header.plaintext_len),
    )
}

/// An organisation's encryption at rest as stored: the key version new
/// objects are sealed under, and when it was enabled and last rotated (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgEncryption {
    pub key_version: u32,
    pub enabled_at: i64,
    pub rotated_at: i64,
}

/// How many artifacts, and how many plaintext bytes, are stored one way.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ObjectsAt {
    /// The key version they are sealed under; absent for plaintext objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    pub objects: u64,
    /// Their plaintext bytes.
    pub bytes: u64,
}

/// `GET /v1/orgs/{org}/encryption`: whether the organisation's artifacts
/// are encrypted at rest, under which key version, and how far the
/// background job has come sealing them under it.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct EncryptionStatus {
    /// Whether this deployment has an at-rest secret
    /// (`OUTPOST_AT_REST_SECRET`); without it nothing can be sealed.
    pub configured: bool,
    /// Whether new artifacts are sealed.
    pub enabled: bool,
    /// The key version new artifacts are sealed under, and old ones are
    /// being re-sealed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// When encryption was enabled, and the key last rotated (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<i64>,
    /// The artifacts, by how they are stored now (plaintext first).
    pub objects: Vec<ObjectsAt>,
    /// Artifacts not yet sealed under `key_version` (0 when off).
    pub pending: u64,
    /// Every artifact of the organisation.
    pub total: u64,
}

impl EncryptionStatus {
    /// The status from the stored state and the artifacts' counts per key
    /// version (`None`: plaintext), in any order.
    pub fn assemble(
        configured: bool,
        state: Option<OrgEncryption>,
        mut objects: Vec<ObjectsAt>,
    ) -> Self {
        objects.sort_by_key(|at| at.key_version);
        let total = objects.iter().map(|at| at.objects).sum();
        let pending = match state {
            Some(state) => objects
                .iter()
                .filter(|at| at.key_version != Some(state.key_version))
                .map(|at| at.objects)
                .sum(),
            None => 0,
        };
        Self {
            configured,
            enabled: state.is_some(),
            key_version: state.map(|s| s.key_version),
            enabled_at: state.map(|s| s.enabled_at),
            rotated_at: state.map(|s| s.rotated_at),
            objects,
            pending,
            total,
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const SECRET: &[u8; 32] = b"an at-rest secret of 32 bytes!!!";

    fn artifact(len: usize) -> (Vec<u8>, Digest) {
        // Not all zeros, so a leak of plaintext would be visible.
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let digest = Digest::of(&bytes);
        (bytes, digest)
    }

    fn org_key() -> OrgKey {
        OrgKey::derive(SECRET, "acme", 1).unwrap()
    }

    fn key_for(digest: &Digest) -> ObjectKey {
        org_key().object_key(digest)
    }

    const C: usize = CHUNK_LEN as usize;

    #[test]
    fn every_size_round_trips_and_shows_no_plaintext() {
        for len in [0, 1, 15, C - 1, C, C + 1, 3 * C + 5] {
            let (plain, digest) = artifact(len);
            let sealed = seal(&key_for(&digest), &plain);
            let header = Header::parse(&sealed).unwrap();
            assert_eq!(header.plaintext_len, len as u64);
            assert_eq!(sealed.len() as u64, header.sealed_len());
            assert_eq!(open(&key_for(&digest), &sealed).unwrap(), plain, "{len}");
            if len >= 32 {
                let probe = &plain[len / 2..len / 2 + 16];
                assert!(
                    !sealed.windows(16).any(|w| w == probe),
                    "plaintext visible at {len}"
                );
            }
        }
    }

    #[test]
    fn ranges_at_every_boundary_read_exactly_the_plaintext() {
        let (plain, digest) = artifact(3 * C + 5);
        let sealed = seal(&key_for(&digest), &plain);
        let header = Header::parse(&sealed).unwrap();
        let n = plain.len() as u64;
        let c = CHUNK_LEN;
        for (start, end) in [
            (0, 1),
            (0, n),
            (c - 1, c),
            (c - 1, c + 1),
            (c, c + 1),
            (c, 2 * c),
            (2 * c - 1, 3 * c + 1),
            (n - 1, n),
            (3 * c, n),
            (5, 6),
        ] {
            let span = chunk_span(&header, start, end).unwrap();
            let stored = &sealed[span.sealed_start as usize..span.sealed_end as usize];
            let got = open_span(&key_for(&digest), &header, &span, stored, (start, end)).unwrap();
            assert_eq!(got, &plain[start as usize..end as usize], "{start}..{end}");
        }
        for (start, end) in [(0, n + 1), (4, 4), (n, n + 1), (7, 3)] {
            assert!(matches!(
                chunk_span(&header, start, end),
                Err(SealError::Range { .. })
            ));
        }
    }

    #[test]
    fn altered_moved_dropped_or_foreign_chunks_fail_authentication() {
        let (plain, digest) = artifact(2 * C + 100);
        let sealed = seal(&key_for(&digest), &plain);
        let stride = C + TAG_LEN as usize;
        let h = HEADER_LEN as usize;

        // One flipped byte in the second chunk's ciphertext, and in its tag.
        for at in [h + stride + 10, h + 2 * stride - 1] {
            let mut flipped = sealed.clone();
            flipped[at] ^= 1;
            assert_eq!(
                open(&key_for(&digest), &flipped),
                Err(SealError::Tampered(1))
            );
        }
        // The first two chunks swapped.
        let mut swapped = sealed.clone();
        let (a, b) = (h..h + stride, h + stride..h + 2 * stride);
        let first = sealed[a.clone()].to_vec();
        swapped[a].copy_from_slice(&sealed[b.clone()]);
        swapped[b].copy_from_slice(&first);
        assert_eq!(
            open(&key_for(&digest), &swapped),
            Err(SealError::Tampered(0))
        );
        // Truncated to whole chunks, with the header's length made to match:
        // the new last chunk was not sealed as the last one.
        let mut truncated = sealed[..h + 2 * stride].to_vec();
        truncated[12..20].copy_from_slice(&(2 * CHUNK_LEN).to_be_bytes());
        assert_eq!(
            open(&key_for(&digest), &truncated),
            Err(SealError::Tampered(0))
        );
        // Cut short without touching the header.
        assert!(matches!(
            open(&key_for(&digest), &sealed[..sealed.len() - 1]),
            Err(SealError::Length { .. })
        ));
        // Another artifact's object under this digest, another organisation's
        // key, another key version.
        let mut other = plain.clone();
        other[0] ^= 1;
        let foreign = seal(&key_for(&Digest::of(&other)), &other);
        assert_eq!(
            open(&key_for(&digest), &foreign),
            Err(SealError::Tampered(0))
        );
        let globex = OrgKey::derive(SECRET, "globex", 1).unwrap();
        assert_eq!(
            open(&globex.object_key(&digest), &sealed),
            Err(SealError::Tampered(0))
        );
        let rotated = OrgKey::derive(SECRET, "acme", 2).unwrap();
        assert_eq!(
            open(&rotated.object_key(&digest), &sealed),
            Err(SealError::KeyVersion {
                found: 1,
                expected: 2
            })
        );
        // Plaintext is not an object.
        assert_eq!(open(&key_for(&digest), &plain), Err(SealError::NotSealed));
    }

    #[test]
    fn keys_need_a_long_secret_and_never_print() {
        assert_eq!(
            OrgKey::derive(&SECRET[..31], "acme", 1).unwrap_err(),
            SealError::ShortSecret(31)
        );
        let shown = format!("{:?}", org_key());
        assert_eq!(shown, "OrgKey { version: 1, .. }");
    }

    #[test]
    fn sealing_is_deterministic_per_key_and_digest() {
        // The same artifact under the same key seals to the same bytes (one
        // digest, one plaintext: nonces are never reused with other data),
        // and to other bytes under another key version.
        let (plain, digest) = artifact(1000);
        assert_eq!(
            seal(&key_for(&digest), &plain),
            seal(&key_for(&digest), &plain)
        );
        let rotated = OrgKey::derive(SECRET, "acme", 2).unwrap();
        assert_ne!(
            seal(&key_for(&digest), &plain)[HEADER_LEN as usize..],
            seal(&rotated.object_key(&digest), &plain)[HEADER_LEN as usize..]
        );
    }

    /// Feeds `bytes` to `push` in pieces of `piece` bytes.
    fn in_pieces<E>(
        bytes: &[u8],
        piece: usize,
        mut push: impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        let mut out = Vec::new();
        for part in bytes.chunks(piece.max(1)) {
            out.extend(push(part)?);
        }
        Ok(out)
    }

    #[test]
    fn a_streamed_seal_is_the_one_call_seal_in_any_pieces() {
        for len in [0, 1, C - 1, C, C + 1, 2 * C + 7] {
            let (plain, digest) = artifact(len);
            let key = key_for(&digest);
            for piece in [1000, C, C + 3, 3 * C] {
                let mut sealer = Sealer::new(&key, digest, len as u64);
                let mut sealed = in_pieces(&plain, piece, |part| sealer.push(part)).unwrap();
                assert_eq!(sealer.received().length, len as u64);
                let expected_len = sealer.sealed_len();
                sealed.extend(sealer.finish().unwrap());
                assert_eq!(sealed.len() as u64, expected_len);
                assert_eq!(sealed, seal(&key, &plain), "{len} in {piece}");
            }
        }
    }

    #[test]
    fn a_streamed_seal_holds_back_the_last_chunk_of_the_wrong_bytes() {
        let (plain, digest) = artifact(2 * C + 7);
        let key = key_for(&digest);
        // Right length, one byte changed: everything but the last chunk is
        // handed out, and finish refuses, so the stored object stays short.
        let mut altered = plain.clone();
        altered[C + 5] ^= 1;
        let mut sealer = Sealer::new(&key, digest, plain.len() as u64);
        let handed = in_pieces(&altered, 4096, |part| sealer.push(part)).unwrap();
        assert_eq!(handed.len() as u64, HEADER_LEN + 2 * (CHUNK_LEN + TAG_LEN));
        assert!(matches!(sealer.finish(), Err(SealError::Upload { .. })));
        // Too short, and too long.
        let mut sealer = Sealer::new(&key, digest, plain.len() as u64);
        sealer.push(&plain[..C]).unwrap();
        assert!(matches!(sealer.finish(), Err(SealError::Upload { .. })));
        let mut sealer = Sealer::new(&key, digest, plain.len() as u64);
        let mut longer = plain.clone();
        longer.push(0);
        assert!(matches!(
            in_pieces(&longer, C, |part| sealer.push(part)),
            Err(SealError::Upload { .. })
        ));
    }

    #[test]
    fn a_streamed_open_returns_each_range_in_any_pieces_and_stops_at_a_bad_chunk() {
        let (plain, digest) = artifact(3 * C + 5);
        let key = key_for(&digest);
        let sealed = seal(&key, &plain);
        let header = Header::parse(&sealed).unwrap();
        let n = plain.len() as u64;
        for (start, end) in [
            (0, n),
            (1, C as u64 + 1),
            (C as u64, 2 * C as u64),
            (n - 1, n),
        ] {
            let span = chunk_span(&header, start, end).unwrap();
            let stored = &sealed[span.sealed_start as usize..span.sealed_end as usize];
            for piece in [7, 1000, C + 16, stored.len()] {
                let mut opener = Opener::new(&key, header, &span, (start, end)).unwrap();
                let got = in_pieces(stored, piece, |part| opener.push(part)).unwrap();
                opener.finish().unwrap();
                assert_eq!(
                    got,
                    &plain[start as usize..end as usize],
                    "{start}..{end}/{piece}"
                );
            }
            // Cut short: finish says so.
            let mut opener = Opener::new(&key, header, &span, (start, end)).unwrap();
            opener.push(&stored[..stored.len() - 1]).unwrap();
            assert!(matches!(opener.finish(), Err(SealError::Length { .. })));
        }
        // A flipped byte in the third chunk: the first two chunks' plaintext
        // comes out, then an error, and nothing of the third.
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN as usize + 2 * (C + TAG_LEN as usize) + 3] ^= 1;
        let span = chunk_span(&header, 0, n).unwrap();
        let mut opener = Opener::new(&key, header, &span, (0, n)).unwrap();
        let stored = &flipped[span.sealed_start as usize..];
        let mut got = Vec::new();
        let mut failed = None;
        for part in stored.chunks(C) {
            match opener.push(part) {
                Ok(bytes) => got.extend(bytes),
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        assert_eq!(failed, Some(SealError::Tampered(2)));
        assert_eq!(got, &plain[..2 * C]);
    }

    #[test]
    fn an_object_key_travels_as_hex_and_never_prints() {
        let (_, digest) = artifact(10);
        let key = key_for(&digest);
        assert_eq!(ObjectKey::from_hex(1, &key.to_hex()).unwrap(), key);
        assert_eq!(format!("{key:?}"), "ObjectKey { version: 1, .. }");
        assert_eq!(ObjectKey::from_hex(1, "zz"), Err(SealError::BadKey));
        assert_eq!(
            sealed_object_key("acme", 3, &digest),
            format!("orgs/acme/sealed/sha256/{}/v3", digest.hex())
        );
    }

    #[test]
    fn the_status_counts_what_is_left_to_seal_under_the_current_version() {
        let at = |key_version, objects| ObjectsAt {
            key_version,
            objects,
            bytes: objects * 10,
        };
        let state = OrgEncryption {
            key_version: 2,
            enabled_at: 5,
            rotated_at: 9,
        };
        let status = EncryptionStatus::assemble(
            true,
            Some(state),
            vec![at(None, 1), at(Some(1), 3), at(Some(2), 4)],
        );
        assert_eq!(status.total, 8);
        assert_eq!(status.pending, 4);
        assert_eq!(status.objects[0].key_version, None);
        assert_eq!(status.key_version, Some(2));
        let off = EncryptionStatus::assemble(false, None, vec![at(None, 3)]);
        assert!(!off.enabled);
        assert_eq!((off.pending, off.total), (0, 3));
    }
}
