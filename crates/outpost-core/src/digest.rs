//! Content digests: the identity of every artifact Outpost stores or ships.
//!
//! Artifacts are content-addressed, so a digest is both a name (the R2 key
//! `sha256/<hex>`) and a promise (the bytes a client receives must hash to it).
//! The textual form is the OCI/TUF-style `sha256:<64 lowercase hex>`; parsing is
//! strict so that two spellings of one digest can never name two objects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only algorithm Outpost accepts. Naming it in the text form leaves room
/// for another one later without ambiguity.
pub const SHA256_PREFIX: &str = "sha256:";

/// The object-store key of an organisation's artifact:
/// `orgs/{org}/sha256/{hex}`. Both Workers read artifacts by it (the
/// registry Worker to serve and re-hash them, the inference Worker to load
/// them), so it is defined once, here.
pub fn object_key(org: &str, digest: &Digest) -> String {
    format!("orgs/{org}/sha256/{}", digest.hex())
}

/// A SHA-256 digest of an artifact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Why a digest string or a set of bytes was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest must start with `sha256:`, got `{0}`")]
    UnsupportedAlgorithm(String),
    #[error("digest must have 64 hex characters after `sha256:`, got {0}")]
    WrongLength(usize),
    #[error("digest must be lowercase hexadecimal: `{0}`")]
    NotLowercaseHex(String),
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    Mismatch { expected: Digest, actual: Digest },
    #[error("content length mismatch: expected {expected} bytes, got {actual}")]
    LengthMismatch { expected: u64, actual: u64 },
}

impl Digest {
    /// Hashes a complete buffer. For streams use [`Sha256Hasher`].
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = Sha256Hasher::new();
        hasher.update(bytes);
        hasher.finish().digest
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without the algorithm prefix, as used in
    /// content-addressed keys and URLs (`blobs/sha256/<hex>`).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses only the hex part (as found in a URL path segment).
    pub fn from_hex(hex_part: &str) -> Result<Self, DigestError> {
        if hex_part.len() != 64 {
            return Err(DigestError::WrongLength(hex_part.len()));
        }
        if !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::NotLowercaseHex(hex_part.to_owned()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out)
            .map_err(|_| DigestError::NotLowercaseHex(hex_part.to_owned()))?;
        Ok(Self(out))
    }

    /// Checks that `bytes` are exactly the content this digest names.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DigestError> {
        let actual = Digest::of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: *self,
                actual,
            })
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s
            .strip_prefix(SHA256_PREFIX)
            .ok_or_else(|| DigestError::UnsupportedAlgorithm(truncate_for_error(s)))?;
        Self::from_hex(hex_part)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256_PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The pattern of a digest's text, for API documents (the OpenAPI schema):
/// `sha256:` and 64 lowercase hex digits, exactly what [`Digest::from_str`]
/// accepts.
pub const DIGEST_PATTERN: &str = "^sha256:[0-9a-f]{64}$";

/// The pattern of the hex part alone (the `{hex}` of blob paths).
pub const HEX_PATTERN: &str = "^[0-9a-f]{64}$";

impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DIGEST_PATTERN,
            "description": "SHA-256 of the content: `sha256:` and 64 lowercase hex digits",
            "examples": ["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
        })
    }
}

/// Error messages echo user input; keep them bounded.
fn truncate_for_error(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Hashes a stream chunk by chunk while counting its bytes, so an upload or a
/// download can be checked against a declared digest *and* length without
/// buffering the whole artifact.
#[derive(Clone)]
pub struct Sha256Hasher {
    context: ring::digest::Context,
    length: u64,
}

/// What a finished stream turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedContent {
    pub digest: Digest,
    pub length: u64,
}

impl HashedContent {
    /// Checks a finished stream against what its sender declared. The length is
    /// checked first: it is the cheaper and more telling mismatch (truncation).
    pub fn expect(&self, digest: &Digest, length: u64) -> Result<(), DigestError> {
        if self.length != length {
            return Err(DigestError::LengthMismatch {
                expected: length,
                actual: self.length,
            });
        }
        if self.digest != *digest {
            return Err(DigestError::Mismatch {
                expected: *digest,
                actual: self.digest,
            });
        }
        Ok(())
    }
}

impl Sha256Hasher {
    pub fn new() -> Self {
        Self {
            context: ring::digest::Context::new(&ring::digest::SHA256),
            length: 0,
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.context.update(chunk);
        self.length += chunk.len() as u64;
    }

    /// Bytes hashed so far; lets a reader stop at a signed length.
    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn finish(self) -> HashedContent {
        let out = self.context.finish();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(out.as_ref());
        HashedContent {
            digest: Digest(bytes),
            length: self.length,
        }
    }
}

impl Default for Sha256Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha256Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256Hasher")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    // FIPS 180-2 / NIST CAVP test vectors.
    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const TWO_BLOCKS: &str =
        "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    const MILLION_A: &str =
        "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

    #[test]
    fn nist_vectors() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
        assert_eq!(Digest::of(b"abc").to_string(), ABC);
        assert_eq!(
            Digest::of(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").to_string(),
            TWO_BLOCKS
        );
    }

    #[test]
    fn streaming_equals_one_shot_whatever_the_chunking() {
        let data = vec![b'a'; 1_000_000];
        for chunk in [1usize, 63, 64, 65, 4096, 1_000_000] {
            let mut hasher = Sha256Hasher::new();
            for part in data.chunks(chunk) {
                hasher.update(part);
            }
            let done = hasher.finish();
            assert_eq!(done.digest.to_string(), MILLION_A, "chunk size {chunk}");
            assert_eq!(done.length, 1_000_000);
        }
    }

    #[test]
    fn parse_and_format_round_trip() {
        let d: Digest = ABC.parse().unwrap();
        assert_eq!(d.to_string(), ABC);
        assert_eq!(Digest::from_hex(&d.hex()).unwrap(), d);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn parse_is_strict() {
        assert!(matches!(
            "md5:abc".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert_eq!(
            "sha256:abc".parse::<Digest>(),
            Err(DigestError::WrongLength(3))
        );
        let upper = ABC.to_uppercase().replace("SHA256:", "sha256:");
        assert!(matches!(
            upper.parse::<Digest>(),
            Err(DigestError::NotLowercaseHex(_))
        ));
        let not_hex = format!("sha256:{}", "g".repeat(64));
        assert!(matches!(
            not_hex.parse::<Digest>(),
            Err(DigestError::NotLowercaseHex(_))
        ));
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }

    #[test]
    fn long_garbage_is_truncated_in_errors() {
        let garbage = "x".repeat(10_000);
        let err = garbage.parse::<Digest>().unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn verify_reports_both_sides() {
        let expected: Digest = ABC.parse().unwrap();
        assert_eq!(expected.verify(b"abc"), Ok(()));
        assert_eq!(
            expected.verify(b"abd"),
            Err(DigestError::Mismatch {
                expected,
                actual: Digest::of(b"abd"),
            })
        );
    }

    #[test]
    fn hashed_content_checks_length_then_digest() {
        let mut hasher = Sha256Hasher::new();
        hasher.update(b"abc");
        let done = hasher.finish();
        let abc: Digest = ABC.parse().unwrap();
        assert_eq!(done.expect(&abc, 3), Ok(()));
        assert_eq!(
            done.expect(&abc, 4),
            Err(DigestError::LengthMismatch {
                expected: 4,
                actual: 3
            })
        );
        let empty: Digest = EMPTY.parse().unwrap();
        assert!(matches!(
            done.expect(&empty, 3),
            Err(DigestError::Mismatch { .. })
        ));
    }
}
