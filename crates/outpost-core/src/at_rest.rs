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

use crate::digest::Digest;

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

    fn object_key(&self, digest: &Digest) -> LessSafeKey {
        let info: [&[u8]; 2] = [b"object", digest.as_bytes()];
        #[expect(
            clippy::expect_used,
            reason = "32 bytes of HKDF-SHA-256 output are always available"
        )]
        let okm = self
            .prk
            .expand(&info, &AES_256_GCM)
            .expect("HKDF-SHA-256 gives 32 bytes");
        LessSafeKey::new(UnboundKey::from(okm))
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

/// Seals `plaintext`, whose SHA-256 is `digest`, under `key`.
pub fn seal(key: &OrgKey, digest: &Digest, plaintext: &[u8]) -> Vec<u8> {
    let header = Header {
        key_version: key.version,
        plaintext_len: plaintext.len() as u64,
    };
    let object_key = key.object_key(digest);
    let mut out = Vec::with_capacity(header.sealed_len() as usize);
    out.extend_from_slice(&header.bytes());
    for index in 0..header.chunks() {
        let start = (index * CHUNK_LEN) as usize;
        let end = start + header.chunk_plain_len(index) as usize;
        let mut chunk = plaintext[start..end].to_vec();
        #[expect(
            clippy::expect_used,
            reason = "sealing fails only past GCM's 64 GiB per message; a chunk is 64 KiB"
        )]
        let tag = object_key
            .seal_in_place_separate_tag(nonce(index), Aad::from(header.aad(index)), &mut chunk)
            .expect("a 64 KiB chunk seals");
        out.extend_from_slice(&chunk);
        out.extend_from_slice(tag.as_ref());
    }
    out
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

/// Opens the chunks of `span` (the stored bytes `sealed`, exactly
/// `span.sealed_start..span.sealed_end`) and returns plaintext bytes
/// `start..end`.
///
/// # Errors
/// [`SealError::KeyVersion`] for another key version, [`SealError::Length`]
/// when `sealed` is not the span, [`SealError::Tampered`] naming the first
/// chunk that fails authentication.
pub fn open_span(
    key: &OrgKey,
    digest: &Digest,
    header: &Header,
    span: &ChunkSpan,
    sealed: &[u8],
    (start, end): (u64, u64),
) -> Result<Vec<u8>, SealError> {
    if header.key_version != key.version {
        return Err(SealError::KeyVersion {
            found: header.key_version,
            expected: key.version,
        });
    }
    let expected = span.sealed_end - span.sealed_start;
    if sealed.len() as u64 != expected {
        return Err(SealError::Length {
            found: sealed.len() as u64,
            expected,
        });
    }
    let object_key = key.object_key(digest);
    let mut plain = Vec::with_capacity((end - start) as usize);
    let mut offset = 0usize;
    let mut index = span.first_chunk;
    while offset < sealed.len() {
        let take = (header.chunk_plain_len(index) + TAG_LEN) as usize;
        let mut chunk = sealed
            .get(offset..offset + take)
            .ok_or(SealError::Tampered(index))?
            .to_vec();
        let opened = object_key
            .open_in_place(nonce(index), Aad::from(header.aad(index)), &mut chunk)
            .map_err(|_| SealError::Tampered(index))?;
        plain.extend_from_slice(opened);
        offset += take;
        index += 1;
    }
    let skip = (start - span.first_chunk * CHUNK_LEN) as usize;
    Ok(plain[skip..skip + (end - start) as usize].to_vec())
}

/// Opens a whole stored object.
///
/// # Errors
/// As [`Header::parse`] and [`open_span`]; [`SealError::Length`] when the
/// object is longer or shorter than its header says.
pub fn open(key: &OrgKey, digest: &Digest, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
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
        digest,
        &header,
        &span,
        &sealed[HEADER_LEN as usize..],
        (0, header.plaintext_len),
    )
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

    fn key() -> OrgKey {
        OrgKey::derive(SECRET, "acme", 1).unwrap()
    }

    const C: usize = CHUNK_LEN as usize;

    #[test]
    fn every_size_round_trips_and_shows_no_plaintext() {
        for len in [0, 1, 15, C - 1, C, C + 1, 3 * C + 5] {
            let (plain, digest) = artifact(len);
            let sealed = seal(&key(), &digest, &plain);
            let header = Header::parse(&sealed).unwrap();
            assert_eq!(header.plaintext_len, len as u64);
            assert_eq!(sealed.len() as u64, header.sealed_len());
            assert_eq!(open(&key(), &digest, &sealed).unwrap(), plain, "{len}");
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
        let sealed = seal(&key(), &digest, &plain);
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
            let got = open_span(&key(), &digest, &header, &span, stored, (start, end)).unwrap();
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
        let sealed = seal(&key(), &digest, &plain);
        let stride = C + TAG_LEN as usize;
        let h = HEADER_LEN as usize;

        // One flipped byte in the second chunk's ciphertext, and in its tag.
        for at in [h + stride + 10, h + 2 * stride - 1] {
            let mut flipped = sealed.clone();
            flipped[at] ^= 1;
            assert_eq!(open(&key(), &digest, &flipped), Err(SealError::Tampered(1)));
        }
        // The first two chunks swapped.
        let mut swapped = sealed.clone();
        let (a, b) = (h..h + stride, h + stride..h + 2 * stride);
        let first = sealed[a.clone()].to_vec();
        swapped[a].copy_from_slice(&sealed[b.clone()]);
        swapped[b].copy_from_slice(&first);
        assert_eq!(open(&key(), &digest, &swapped), Err(SealError::Tampered(0)));
        // Truncated to whole chunks, with the header's length made to match:
        // the new last chunk was not sealed as the last one.
        let mut truncated = sealed[..h + 2 * stride].to_vec();
        truncated[12..20].copy_from_slice(&(2 * CHUNK_LEN).to_be_bytes());
        assert_eq!(
            open(&key(), &digest, &truncated),
            Err(SealError::Tampered(0))
        );
        // Cut short without touching the header.
        assert!(matches!(
            open(&key(), &digest, &sealed[..sealed.len() - 1]),
            Err(SealError::Length { .. })
        ));
        // Another artifact's object under this digest, another organisation's
        // key, another key version.
        let mut other = plain.clone();
        other[0] ^= 1;
        let foreign = seal(&key(), &Digest::of(&other), &other);
        assert_eq!(open(&key(), &digest, &foreign), Err(SealError::Tampered(0)));
        let globex = OrgKey::derive(SECRET, "globex", 1).unwrap();
        assert_eq!(open(&globex, &digest, &sealed), Err(SealError::Tampered(0)));
        let rotated = OrgKey::derive(SECRET, "acme", 2).unwrap();
        assert_eq!(
            open(&rotated, &digest, &sealed),
            Err(SealError::KeyVersion {
                found: 1,
                expected: 2
            })
        );
        // Plaintext is not an object.
        assert_eq!(open(&key(), &digest, &plain), Err(SealError::NotSealed));
    }

    #[test]
    fn keys_need_a_long_secret_and_never_print() {
        assert_eq!(
            OrgKey::derive(&SECRET[..31], "acme", 1).unwrap_err(),
            SealError::ShortSecret(31)
        );
        let shown = format!("{:?}", key());
        assert_eq!(shown, "OrgKey { version: 1, .. }");
    }

    #[test]
    fn sealing_is_deterministic_per_key_and_digest() {
        // The same artifact under the same key seals to the same bytes (one
        // digest, one plaintext: nonces are never reused with other data),
        // and to other bytes under another key version.
        let (plain, digest) = artifact(1000);
        assert_eq!(seal(&key(), &digest, &plain), seal(&key(), &digest, &plain));
        let rotated = OrgKey::derive(SECRET, "acme", 2).unwrap();
        assert_ne!(
            seal(&key(), &digest, &plain)[HEADER_LEN as usize..],
            seal(&rotated, &digest, &plain)[HEADER_LEN as usize..]
        );
    }
}
