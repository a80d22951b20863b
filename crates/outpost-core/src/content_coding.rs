//! Compressed delivery of artifacts: which content coding a download is
//! sent with, and whether a compressed copy is worth storing (issue
//! "Confidential, compact, portable artifacts").
//!
//! An artifact may have a gzip copy next to its bytes. A download is sent
//! gzip-coded when the client accepts gzip (RFC 9110 §12.5.3
//! `Accept-Encoding`), the copy exists and the request asks for no range
//! (ranges address the artifact's own bytes, so a ranged request always gets
//! identity). The digest and size stay those of the artifact: a client
//! decodes and then hashes, so release signatures and every device check
//! are unchanged.
//!
//! Only gzip (RFC 9112 §7.2, RFC 1952): the registry checks a copy before it
//! keeps it by decoding it, and the Workers runtime decodes gzip natively
//! (`DecompressionStream`) but not zstd.

/// A content coding the registry stores and sends (RFC 9110 §8.4.1).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Coding {
    /// The artifact's bytes as uploaded.
    Identity,
    /// RFC 1952 gzip.
    Gzip,
}

impl Coding {
    /// The coding's name in `Content-Encoding` and in paths.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
        }
    }

    /// A stored coding by its name (`None`: not one the registry stores).
    pub fn stored(name: &str) -> Option<Self> {
        name.eq_ignore_ascii_case("gzip").then_some(Self::Gzip)
    }
}

/// The largest fraction of the artifact's size a compressed copy may take
/// and still be kept: it must save at least 1/16 (6.25 %) of the bytes, or
/// storing a second copy and decoding it costs more than it saves.
pub const KEEP_AT_MOST: (u64, u64) = (15, 16);

/// The fewest bytes a copy must save to be kept (a few hundred bytes do
/// not pay for a second object).
pub const MIN_SAVING: u64 = 512;

/// Whether a copy of `encoded` bytes of an artifact of `size` bytes is worth
/// keeping: it saves at least [`MIN_SAVING`] bytes and 1/16 of the size.
pub fn worth_keeping(size: u64, encoded: u64) -> bool {
    let (num, den) = KEEP_AT_MOST;
    encoded.saturating_add(MIN_SAVING) <= size
        && u128::from(encoded) * u128::from(den) <= u128::from(size) * u128::from(num)
}

/// The quality value (RFC 9110 §12.4.2) the client gave `coding` in its
/// `Accept-Encoding`, in thousandths: a named entry wins over `*`;
/// identity is acceptable (1000) unless excluded by name or by `*;q=0`.
fn quality(accept_encoding: &str, coding: Coding) -> u16 {
    let (mut named, mut any) = (None, None);
    for member in accept_encoding.split(',') {
        let mut params = member.split(';');
        let name = params.next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in params {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("q") {
                q = parse_qvalue(value.trim()).unwrap_or(0);
            }
        }
        if name.eq_ignore_ascii_case(coding.name())
            || (coding == Coding::Gzip && name.eq_ignore_ascii_case("x-gzip"))
        {
            named = Some(named.map_or(q, |n: u16| n.max(q)));
        } else if name == "*" {
            any = Some(q);
        }
    }
    match (named, any, coding) {
        (Some(q), _, _) | (None, Some(q), _) => q,
        (None, None, Coding::Identity) => 1000,
        (None, None, Coding::Gzip) => 0,
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in
/// thousandths; `None` when malformed (treated as 0: refuse, not guess).
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The coding a download is sent with: gzip when a gzip copy is stored
/// (`gzip_stored`), the request names no range, and the client's
/// `Accept-Encoding` gives gzip a quality above zero and at least that of
/// identity; identity otherwise (also when the client accepts nothing the
/// registry has: RFC 9110 §12.5.3 lets a server send identity then, and a
/// device that cannot decode gzip never asks for it).
pub fn negotiate(accept_encoding: Option<&str>, ranged: bool, gzip_stored: bool) -> Coding {
    let Some(accept) = accept_encoding else {
        return Coding::Identity;
    };
    if ranged || !gzip_stored {
        return Coding::Identity;
    }
    let gzip = quality(accept, Coding::Gzip);
    if gzip > 0 && gzip >= quality(accept, Coding::Identity) {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Where an artifact's copies in `coding` are kept in R2, beside its
/// plaintext object (`crate::digest::object_key`):
/// `orgs/{org}/gzip/sha256/{hex}/`, one object per upload under it.
pub fn copy_prefix(org: &str, digest: &crate::digest::Digest, coding: Coding) -> String {
    format!("orgs/{org}/{}/sha256/{}/", coding.name(), digest.hex())
}

/// The object key of one uploaded copy (`id`: random hex, so that two
/// uploads of a copy of the same artifact never write the same object).
pub fn copy_key(org: &str, digest: &crate::digest::Digest, coding: Coding, id: &str) -> String {
    format!("{}{id}", copy_prefix(org, digest, coding))
}

/// Whether the last 8 bytes of a gzip copy — the RFC 1952 §2.3 trailer,
/// CRC-32 then ISIZE, the input size mod 2^32, little-endian — end a single
/// member that decoded to `size` bytes. A decoder that stops after the
/// first member, one that goes on to a second, and one that ignores
/// trailing bytes then all give the same bytes: a copy of several members,
/// or with bytes after its member, is refused rather than trusted to every
/// client's decoder.
pub fn trailer_matches(trailer: &[u8], size: u64) -> bool {
    let Some(isize_bytes) = trailer
        .len()
        .checked_sub(4)
        .and_then(|at| trailer.get(at..))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
    else {
        return false;
    };
    u64::from(u32::from_le_bytes(isize_bytes)) == size & 0xffff_ffff
}

/// The strong entity tag of a coded representation: the artifact's tag
/// (`"sha256:…"`) for identity, with `+gzip` inside the quotes for gzip
/// (RFC 9110 §8.8.3: each representation has its own strong tag).
pub fn entity_tag(digest: &crate::digest::Digest, coding: Coding) -> String {
    match coding {
        Coding::Identity => format!("\"{digest}\""),
        Coding::Gzip => format!("\"{digest}+gzip\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it_for_whole_downloads_of_stored_copies() {
        let cases: &[(Option<&str>, bool, bool, Coding)] = &[
            (None, false, true, Coding::Identity),
            (Some("gzip"), false, true, Coding::Gzip),
            (Some("gzip, deflate, br, zstd"), false, true, Coding::Gzip),
            (Some("GZIP"), false, true, Coding::Gzip),
            (Some("x-gzip"), false, true, Coding::Gzip),
            (Some("*"), false, true, Coding::Gzip),
            // `*` stands for identity too: equal qualities, gzip is sent.
            (Some("br;q=1, *;q=0.5"), false, true, Coding::Gzip),
            (Some("br, identity, *;q=0.5"), false, true, Coding::Identity),
            (Some("identity"), false, true, Coding::Identity),
            (Some(""), false, true, Coding::Identity),
            (Some("gzip;q=0"), false, true, Coding::Identity),
            (Some("gzip;q=0.000"), false, true, Coding::Identity),
            (
                Some("gzip;q=0.5, identity;q=0.9"),
                false,
                true,
                Coding::Identity,
            ),
            (
                Some("gzip;q=0.9, identity;q=0.5"),
                false,
                true,
                Coding::Gzip,
            ),
            (Some("gzip;q=1.0, identity;q=0"), false, true, Coding::Gzip),
            (Some("*;q=0, gzip"), false, true, Coding::Gzip),
            (Some("gzip;q=2"), false, true, Coding::Identity),
            (Some("gzip;q=0.1234"), false, true, Coding::Identity),
            (Some("gzip;q=abc"), false, true, Coding::Identity),
            // A range addresses the artifact's own bytes.
            (Some("gzip"), true, true, Coding::Identity),
            // No copy: identity whatever the client prefers.
            (
                Some("gzip;q=1, identity;q=0"),
                false,
                false,
                Coding::Identity,
            ),
        ];
        for (accept, ranged, stored, expected) in cases {
            assert_eq!(
                negotiate(*accept, *ranged, *stored),
                *expected,
                "Accept-Encoding {accept:?}, ranged {ranged}, stored {stored}"
            );
        }
    }

    #[test]
    fn a_copy_is_kept_only_when_it_saves_a_sixteenth_and_512_bytes() {
        assert!(worth_keeping(16_000, 15_000));
        assert!(!worth_keeping(16_000, 15_001));
        assert!(!worth_keeping(16_000, 16_000));
        assert!(!worth_keeping(16_000, 20_000));
        // A sixteenth of 4 KiB is 256 bytes: not enough.
        assert!(!worth_keeping(4096, 3800));
        assert!(worth_keeping(4096, 3584));
        assert!(!worth_keeping(0, 0));
        assert!(worth_keeping(u64::MAX, 1));
    }

    #[test]
    fn the_trailer_must_end_a_member_of_the_artifacts_size() {
        assert!(trailer_matches(&[0, 0, 0, 0, 10, 0, 0, 0], 10));
        assert!(trailer_matches(&[1, 2, 3, 4, 0, 0, 0, 0], 1 << 32));
        assert!(!trailer_matches(&[0, 0, 0, 0, 9, 0, 0, 0], 10));
        assert!(!trailer_matches(&[10, 0, 0], 10));
        assert_eq!(
            copy_key("acme", &crate::digest::Digest::of(b""), Coding::Gzip, "ab"),
            format!(
                "orgs/acme/gzip/sha256/{}/ab",
                crate::digest::Digest::of(b"").hex()
            )
        );
    }

    #[test]
    fn each_representation_has_its_own_strong_tag() {
        let digest = crate::digest::Digest::of(b"abc");
        assert_eq!(
            entity_tag(&digest, Coding::Identity),
            format!("\"{digest}\"")
        );
        assert_eq!(
            entity_tag(&digest, Coding::Gzip),
            format!("\"{digest}+gzip\"")
        );
        assert_eq!(Coding::stored("gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::stored("zstd"), None);
        assert_eq!(Coding::stored("identity"), None);
    }
}
