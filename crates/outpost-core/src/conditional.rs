//! Conditional and range requests on artifacts (RFC 9110 §13 and §14),
//! decided as a whole and without I/O.
//!
//! The preconditions are evaluated in the order of RFC 9110 §13.2.2 —
//! `If-Match`, then `If-Unmodified-Since` (only without `If-Match`), then
//! `If-None-Match`, then `If-Modified-Since` (only without `If-None-Match`),
//! then `If-Range` with `Range` — so a request carrying several gets the one
//! answer the RFC gives, not the answer of whichever header a handler looked
//! at first. Entity tags compare strongly where the RFC says so (`If-Match`,
//! `If-Range`) and weakly for `If-None-Match` (§8.8.3.2). Dates are HTTP-dates
//! (IMF-fixdate and the two obsolete forms, §5.6.7), parsed by `httpdate`;
//! an invalid date makes its header ignored, as the RFC requires.
//!
//! Ranges (§14.1.2): a satisfiable set of one range is one 206 part; several
//! are coalesced when they overlap or touch (§15.3.7.2 allows it) and sent as
//! `multipart/byteranges`; a set whose parts add up to more than
//! [`MAX_MULTIPART_BYTES`], or that has more than [`MAX_RANGES`] members, is
//! ignored (200, as
//! §14.2 allows for sets that are signs of a broken or hostile client); a set
//! with no satisfiable member is a 416. `Range` is only defined for GET
//! (§14.2), so a HEAD answers as the matching GET without `Range` would.

use std::time::{Duration, UNIX_EPOCH};

/// The largest number of ranges answered as `multipart/byteranges`; more is
/// answered with the whole artifact.
pub const MAX_RANGES: usize = 16;

/// The largest `multipart/byteranges` answer, in bytes of its parts: its
/// parts are read into memory to be framed, so a larger set is answered
/// with the whole artifact (streamed) instead.
pub const MAX_MULTIPART_BYTES: u64 = 8 << 20;

/// The request method, as far as preconditions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// The request's conditional and range header fields, as received (`None`:
/// absent). Repeated fields are joined with `, ` as RFC 9110 §5.3 allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub range: Option<&'a str>,
}

/// The selected representation's validators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Representation<'a> {
    /// A strong entity tag with its quotes, e.g. `"sha256:…"`.
    pub etag: &'a str,
    /// Last modification, whole seconds since the epoch (HTTP-dates have
    /// one-second resolution), if known.
    pub last_modified: Option<u64>,
    /// Bytes.
    pub size: u64,
}

/// Bytes `start..=end` of the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// Bytes in the range.
    pub fn length(&self) -> u64 {
        self.end - self.start + 1
    }

    /// `Content-Range` of this part of a representation of `size` bytes.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end)
    }
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 412: a precondition of `If-Match` or `If-Unmodified-Since` failed.
    PreconditionFailed,
    /// 304: the client's copy is current (GET and HEAD only).
    NotModified,
    /// 200 with the whole representation.
    Full,
    /// 206 with one part and `Content-Range`.
    Partial(ByteRange),
    /// 206 `multipart/byteranges`, parts in ascending order, disjoint and
    /// not adjacent.
    Multipart(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

impl Outcome {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Outcome::PreconditionFailed => 412,
            Outcome::NotModified => 304,
            Outcome::Full => 200,
            Outcome::Partial(_) | Outcome::Multipart(_) => 206,
            Outcome::Unsatisfiable => 416,
        }
    }
}

/// Decides the answer to a GET or HEAD of `representation` (RFC 9110
/// §13.2.2, then §14.2).
pub fn evaluate(
    method: Method,
    conditions: &Conditions<'_>,
    representation: &Representation<'_>,
) -> Outcome {
    // Step 1 and 2: If-Match, else If-Unmodified-Since.
    if let Some(field) = conditions.if_match {
        if !if_match_holds(field, representation.etag) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(date) = conditions.if_unmodified_since.and_then(http_date)
        && representation
            .last_modified
            .is_some_and(|modified| modified > date)
    {
        return Outcome::PreconditionFailed;
    }
    // Step 3 and 4: If-None-Match, else If-Modified-Since. For GET and HEAD
    // a failure is a 304.
    if let Some(field) = conditions.if_none_match {
        if if_none_match_hits(field, representation.etag) {
            return Outcome::NotModified;
        }
    } else if let Some(date) = conditions.if_modified_since.and_then(http_date)
        && representation
            .last_modified
            .is_some_and(|modified| modified <= date)
    {
        return Outcome::NotModified;
    }
    // Step 5: Range (GET only), unless If-Range says the client's partial
    // copy is of another representation.
    let Some(range) = conditions.range else {
        return Outcome::Full;
    };
    if method != Method::Get {
        return Outcome::Full;
    }
    if let Some(field) = conditions.if_range
        && !if_range_holds(field, representation)
    {
        return Outcome::Full;
    }
    decide_ranges(range, representation.size)
}

/// Parses an HTTP-date into seconds since the epoch; `None` when it is not
/// one (the header is then ignored).
pub fn http_date(text: &str) -> Option<u64> {
    httpdate::parse_http_date(text.trim())
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Formats seconds since the epoch as an IMF-fixdate (`Last-Modified`).
pub fn format_http_date(seconds: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The members of an entity-tag list (`*` stays `*`), whitespace trimmed.
/// Commas inside quoted tags are kept (entity tags may not contain `"`).
fn entity_tags(field: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = field;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return tags;
        }
        let opaque_from = if rest.starts_with("W/\"") { 2 } else { 0 };
        let end = if rest[opaque_from..].starts_with('"') {
            // The closing quote of the opaque tag.
            match rest[opaque_from + 1..].find('"') {
                Some(at) => opaque_from + 1 + at + 1,
                None => rest.len(),
            }
        } else {
            rest.find(',').unwrap_or(rest.len())
        };
        tags.push(rest[..end].trim());
        rest = &rest[end..];
    }
}

/// `If-Match` (§13.1.1): true for `*` (the representation exists) or a
/// strongly matching tag; weak tags never match strongly.
fn if_match_holds(field: &str, etag: &str) -> bool {
    entity_tags(field)
        .iter()
        .any(|tag| *tag == "*" || *tag == etag)
}

/// Whether an `If-None-Match` field (§13.1.2) names this entity tag, by
/// weak comparison, or is `*`.
pub fn if_none_match_hits(field: &str, etag: &str) -> bool {
    let opaque = etag.strip_prefix("W/").unwrap_or(etag);
    entity_tags(field)
        .iter()
        .any(|tag| *tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == opaque)
}

/// `If-Range` (§13.1.5): an entity tag must match strongly (a weak one never
/// does); a date must equal the last modification exactly.
fn if_range_holds(field: &str, representation: &Representation<'_>) -> bool {
    let field = field.trim();
    if field.starts_with('"') {
        field == representation.etag
    } else if field.starts_with("W/") {
        false
    } else {
        match (http_date(field), representation.last_modified) {
            (Some(date), Some(modified)) => date == modified,
            _ => false,
        }
    }
}

/// Decides a `Range` field against a representation of `size` bytes
/// (§14.1.2): `Full` when the field is not a valid `bytes` range set (it is
/// then ignored) or is ignored as a whole, `Unsatisfiable` when no member
/// is satisfiable.
pub fn decide_ranges(field: &str, size: u64) -> Outcome {
    // Range units are case-insensitive (§14.1).
    let field = field.trim();
    let set = match field.split_once('=') {
        Some((unit, set)) if unit.trim().eq_ignore_ascii_case("bytes") => set,
        _ => return Outcome::Full, // another unit, or not a range: ignored
    };
    let mut members = Vec::new();
    for spec in set.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue; // the list syntax allows empty elements (§5.6.1)
        }
        let Some(member) = RangeSpec::parse(spec) else {
            return Outcome::Full; // invalid syntax: ignore the field
        };
        members.push(member);
        if members.len() > MAX_RANGES {
            return Outcome::Full;
        }
    }
    if members.is_empty() {
        return Outcome::Full;
    }
    // A suffix of a non-zero length is satisfiable whatever the length
    // (§14.1.1); of an empty representation that is all of it: nothing.
    if size == 0
        && members
            .iter()
            .any(|m| matches!(m, RangeSpec::Suffix(n) if *n > 0))
    {
        return Outcome::Full;
    }
    let mut satisfiable: Vec<ByteRange> = members
        .iter()
        .filter_map(|member| member.resolve(size))
        .collect();
    if satisfiable.is_empty() {
        return Outcome::Unsatisfiable;
    }
    satisfiable.sort();
    let mut parts: Vec<ByteRange> = Vec::with_capacity(satisfiable.len());
    for range in satisfiable {
        match parts.last_mut() {
            // Overlapping or adjacent: one part.
            Some(last) if range.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end);
            }
            _ => parts.push(range),
        }
    }
    match parts.as_slice() {
        [one] => Outcome::Partial(*one),
        _ => {
            let total: u64 = parts.iter().map(ByteRange::length).sum();
            if total > MAX_MULTIPART_BYTES {
                Outcome::Full
            } else {
                Outcome::Multipart(parts)
            }
        }
    }
}

/// One member of a byte range set (§14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    /// `first-` or `first-last`.
    Int { first: u64, last: Option<u64> },
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

impl RangeSpec {
    fn parse(spec: &str) -> Option<Self> {
        let (first, last) = spec.split_once('-')?;
        let digits = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // More digits than u64 holds: a position beyond any artifact.
            Some(s.parse::<u64>().unwrap_or(u64::MAX))
        };
        if first.is_empty() {
            return Some(RangeSpec::Suffix(digits(last)?));
        }
        let first = digits(first)?;
        if last.is_empty() {
            return Some(RangeSpec::Int { first, last: None });
        }
        let last = digits(last)?;
        // last < first makes the whole field invalid (§14.1.1).
        (last >= first).then_some(RangeSpec::Int {
            first,
            last: Some(last),
        })
    }

    /// The bytes this member selects of `size`, `None` if unsatisfiable.
    fn resolve(self, size: u64) -> Option<ByteRange> {
        match self {
            RangeSpec::Int { first, last } if first < size => Some(ByteRange {
                start: first,
                end: last.map_or(size - 1, |last| last.min(size - 1)),
            }),
            RangeSpec::Int { .. } => None,
            RangeSpec::Suffix(n) if n > 0 && size > 0 => Some(ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }),
            RangeSpec::Suffix(_) => None,
        }
    }
}

/// The framing of a `multipart/byteranges` body (RFC 9110 §14.6): each
/// part's header block precedes its bytes; `closing` ends the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// `multipart/byteranges; boundary=…`.
    pub content_type: String,
    /// Per part: the delimiter and header lines (ending in a blank line),
    /// and the range whose bytes follow them.
    pub parts: Vec<(String, ByteRange)>,
    pub closing: String,
}

impl Multipart {
    /// Frames `ranges` of a representation of `size` bytes and media type
    /// `media_type`, with `boundary` (1–70 characters of the RFC 2046
    /// alphabet; the caller makes it random so the body cannot contain it).
    pub fn new(boundary: &str, media_type: &str, ranges: &[ByteRange], size: u64) -> Self {
        let parts = ranges
            .iter()
            .map(|range| {
                (
                    format!(
                        "\r\n--{boundary}\r\ncontent-type: {media_type}\r\ncontent-range: {}\r\n\r\n",
                        range.content_range(size)
                    ),
                    *range,
                )
            })
            .collect();
        Self {
            content_type: format!("multipart/byteranges; boundary={boundary}"),
            parts,
            closing: format!("\r\n--{boundary}--\r\n"),
        }
    }

    /// The body's length in bytes (`Content-Length`).
    pub fn length(&self) -> u64 {
        self.parts
            .iter()
            .map(|(head, range)| head.len() as u64 + range.length())
            .sum::<u64>()
            + self.closing.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"sha256:abc\"";
    /// Sun, 06 Nov 1994 08:49:37 GMT.
    const MODIFIED: u64 = 784_111_777;

    fn rep() -> Representation<'static> {
        Representation {
            etag: ETAG,
            last_modified: Some(MODIFIED),
            size: 10,
        }
    }

    fn get(conditions: Conditions<'_>) -> Outcome {
        evaluate(Method::Get, &conditions, &rep())
    }

    fn range(field: &str) -> Outcome {
        decide_ranges(field, 10)
    }

    fn part(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn single_ranges_follow_the_byte_range_grammar() {
        assert_eq!(range("bytes=0-3"), Outcome::Partial(part(0, 3)));
        assert_eq!(range("bytes=4-"), Outcome::Partial(part(4, 9)));
        assert_eq!(range("bytes=-3"), Outcome::Partial(part(7, 9)));
        assert_eq!(range("bytes=-30"), Outcome::Partial(part(0, 9)));
        assert_eq!(range("bytes=5-100"), Outcome::Partial(part(5, 9)));
        assert_eq!(
            range("bytes=5-99999999999999999999999"),
            Outcome::Partial(part(5, 9))
        );
        assert_eq!(range("bytes=10-"), Outcome::Unsatisfiable);
        assert_eq!(range("bytes=12-15"), Outcome::Unsatisfiable);
        assert_eq!(range("bytes=-0"), Outcome::Unsatisfiable);
        // The whole of an empty artifact is nothing: sent with 200.
        assert_eq!(decide_ranges("bytes=-1", 0), Outcome::Full);
        assert_eq!(decide_ranges("bytes=0-", 0), Outcome::Unsatisfiable);
        assert_eq!(range("Bytes=0-3"), Outcome::Partial(part(0, 3)));
        // Invalid fields are ignored, never half-read.
        for ignored in [
            "items=0-1",
            "bytes=5-2",
            "bytes=x-y",
            "bytes=-",
            "bytes=",
            "bytes=1-2,x",
            "bytes=+1-2",
        ] {
            assert_eq!(range(ignored), Outcome::Full, "{ignored}");
        }
    }

    #[test]
    fn several_ranges_are_coalesced_or_sent_as_parts() {
        assert_eq!(
            range("bytes=0-1,4-5"),
            Outcome::Multipart(vec![part(0, 1), part(4, 5)])
        );
        // Unordered, overlapping and adjacent members are merged.
        assert_eq!(
            range("bytes=6-7, 0-1,1-2,3-3"),
            Outcome::Multipart(vec![part(0, 3), part(6, 7)])
        );
        // Adjacent members become one part, even the whole artifact.
        assert_eq!(range("bytes=0-4,5-9"), Outcome::Partial(part(0, 9)));
        assert_eq!(range("bytes=0-4,6-9,0-8"), Outcome::Partial(part(0, 9)));
        // Parts too large to frame in memory: sent whole (streamed).
        assert_eq!(
            decide_ranges("bytes=0-0,2-", MAX_MULTIPART_BYTES + 10),
            Outcome::Full
        );
        assert_eq!(
            decide_ranges("bytes=0-0,2-9", 10),
            Outcome::Multipart(vec![part(0, 0), part(2, 9)])
        );
        assert_eq!(range("bytes=0-1,2-3"), Outcome::Partial(part(0, 3)));
        // Unsatisfiable members are dropped; none left is a 416.
        assert_eq!(range("bytes=0-1,20-30"), Outcome::Partial(part(0, 1)));
        assert_eq!(range("bytes=20-30,40-"), Outcome::Unsatisfiable);
        // Too many members: ignored rather than answered.
        let many = (0..=MAX_RANGES)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(decide_ranges(&format!("bytes={many}"), 100), Outcome::Full);
    }

    #[test]
    fn if_range_with_another_validator_sends_the_whole_representation() {
        let ranged = |if_range| {
            get(Conditions {
                range: Some("bytes=0-9"),
                if_range: Some(if_range),
                ..Conditions::default()
            })
        };
        // The case from the hostile inputs: a failed If-Range is a 200.
        assert_eq!(ranged("\"something-else\""), Outcome::Full);
        assert_eq!(ranged(ETAG), Outcome::Partial(part(0, 9)));
        assert_eq!(ranged("W/\"sha256:abc\""), Outcome::Full); // weak never matches
        assert_eq!(
            ranged("Sun, 06 Nov 1994 08:49:37 GMT"),
            Outcome::Partial(part(0, 9))
        );
        assert_eq!(ranged("Sun, 06 Nov 1994 08:49:38 GMT"), Outcome::Full);
        assert_eq!(ranged("not a date"), Outcome::Full);
        // If-Range without Range changes nothing.
        assert_eq!(
            get(Conditions {
                if_range: Some("\"x\""),
                ..Conditions::default()
            }),
            Outcome::Full
        );
    }

    #[test]
    fn preconditions_are_evaluated_in_the_rfc_order() {
        // If-Match fails: 412 even though If-None-Match would give 304.
        assert_eq!(
            get(Conditions {
                if_match: Some("\"other\""),
                if_none_match: Some(ETAG),
                ..Conditions::default()
            }),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            get(Conditions {
                if_match: Some("\"a\", \"sha256:abc\""),
                ..Conditions::default()
            }),
            Outcome::Full
        );
        assert_eq!(
            get(Conditions {
                if_match: Some("*"),
                ..Conditions::default()
            }),
            Outcome::Full
        );
        // If-Match compares strongly.
        assert_eq!(
            get(Conditions {
                if_match: Some("W/\"sha256:abc\""),
                ..Conditions::default()
            }),
            Outcome::PreconditionFailed
        );
        // If-Unmodified-Since is ignored when If-Match is present.
        assert_eq!(
            get(Conditions {
                if_match: Some(ETAG),
                if_unmodified_since: Some("Sat, 01 Jan 1994 00:00:00 GMT"),
                ..Conditions::default()
            }),
            Outcome::Full
        );
        assert_eq!(
            get(Conditions {
                if_unmodified_since: Some("Sat, 01 Jan 1994 00:00:00 GMT"),
                ..Conditions::default()
            }),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            get(Conditions {
                if_unmodified_since: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
                ..Conditions::default()
            }),
            Outcome::Full
        );
        // If-None-Match compares weakly; a match is 304 for GET and HEAD.
        for field in [ETAG, "W/\"sha256:abc\"", "\"x\", \"sha256:abc\"", "*"] {
            let conditions = Conditions {
                if_none_match: Some(field),
                range: Some("bytes=0-1"),
                ..Conditions::default()
            };
            assert_eq!(get(conditions), Outcome::NotModified, "{field}");
            assert_eq!(
                evaluate(Method::Head, &conditions, &rep()),
                Outcome::NotModified
            );
        }
        // If-Modified-Since is ignored when If-None-Match is present.
        assert_eq!(
            get(Conditions {
                if_none_match: Some("\"other\""),
                if_modified_since: Some("Mon, 07 Nov 1994 00:00:00 GMT"),
                ..Conditions::default()
            }),
            Outcome::Full
        );
        assert_eq!(
            get(Conditions {
                if_modified_since: Some("Mon, 07 Nov 1994 00:00:00 GMT"),
                ..Conditions::default()
            }),
            Outcome::NotModified
        );
        // The obsolete date forms count; an invalid date is ignored.
        assert_eq!(
            get(Conditions {
                if_modified_since: Some("Sunday, 06-Nov-94 08:49:37 GMT"),
                ..Conditions::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            get(Conditions {
                if_modified_since: Some("yesterday"),
                ..Conditions::default()
            }),
            Outcome::Full
        );
        assert_eq!(
            get(Conditions {
                if_modified_since: Some("Sat, 05 Nov 1994 00:00:00 GMT"),
                ..Conditions::default()
            }),
            Outcome::Full
        );
    }

    #[test]
    fn head_ignores_range() {
        let conditions = Conditions {
            range: Some("bytes=0-1"),
            ..Conditions::default()
        };
        assert_eq!(evaluate(Method::Head, &conditions, &rep()), Outcome::Full);
        assert_eq!(get(conditions), Outcome::Partial(part(0, 1)));
    }

    #[test]
    fn entity_tag_lists_keep_commas_inside_tags() {
        assert_eq!(
            entity_tags("\"a,b\", W/\"c\" ,*"),
            vec!["\"a,b\"", "W/\"c\"", "*"]
        );
        assert!(!if_none_match_hits("\"sha256:abc, x\"", ETAG));
    }

    #[test]
    fn multipart_framing_counts_every_byte() {
        let framing = Multipart::new(
            "b0undary",
            "application/octet-stream",
            &[part(0, 1), part(4, 5)],
            10,
        );
        assert_eq!(
            framing.content_type,
            "multipart/byteranges; boundary=b0undary"
        );
        assert!(framing.parts[1].0.contains("content-range: bytes 4-5/10"));
        let body: usize = framing
            .parts
            .iter()
            .map(|(h, _)| h.len() + 2)
            .sum::<usize>()
            + framing.closing.len();
        assert_eq!(framing.length(), body as u64);
        assert_eq!(format_http_date(MODIFIED), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
