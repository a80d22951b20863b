//! HTTP `Range` requests on artifacts (RFC 9110 §14), decided without I/O.
//!
//! Devices resume interrupted downloads with single byte ranges. Multi-range
//! requests are answered with the whole artifact (allowed by the RFC), and a
//! range that starts past the end is a 416.

/// What to send for a `Range` header against an artifact of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// No usable range: send everything with 200.
    Full,
    /// Send bytes `start..=end` with 206.
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

impl RangeDecision {
    pub fn length(&self) -> Option<u64> {
        match self {
            RangeDecision::Partial { start, end } => Some(end - start + 1),
            _ => None,
        }
    }
}

pub fn decide_range(header: Option<&str>, size: u64) -> RangeDecision {
    let Some(header) = header else {
        return RangeDecision::Full;
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeDecision::Full; // unknown unit: ignore
    };
    if spec.contains(',') {
        return RangeDecision::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeDecision::Full;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeDecision::Unsatisfiable,
            Some(n) if size > 0 => RangeDecision::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            Some(_) => RangeDecision::Unsatisfiable,
            None => RangeDecision::Full,
        },
        // bytes=A-: from A to the end.
        (false, true) => match parse(first) {
            Some(start) if start < size => RangeDecision::Partial {
                start,
                end: size - 1,
            },
            Some(_) => RangeDecision::Unsatisfiable,
            None => RangeDecision::Full,
        },
        // bytes=A-B, B clamped to the end.
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    RangeDecision::Unsatisfiable
                } else {
                    RangeDecision::Partial {
                        start,
                        end: end.min(size - 1),
                    }
                }
            }
            _ => RangeDecision::Full,
        },
        (true, true) => RangeDecision::Full,
    }
}

/// Whether an `If-None-Match` header names this ETag (or `*`).
pub fn if_none_match_hits(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|value| {
        value.split(',').map(str::trim).any(|candidate| {
            candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(etag)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeDecision::*;

    #[test]
    fn single_ranges() {
        assert_eq!(decide_range(None, 10), Full);
        assert_eq!(
            decide_range(Some("bytes=0-3"), 10),
            Partial { start: 0, end: 3 }
        );
        assert_eq!(
            decide_range(Some("bytes=4-"), 10),
            Partial { start: 4, end: 9 }
        );
        assert_eq!(
            decide_range(Some("bytes=-3"), 10),
            Partial { start: 7, end: 9 }
        );
        assert_eq!(
            decide_range(Some("bytes=-30"), 10),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(
            decide_range(Some("bytes=5-100"), 10),
            Partial { start: 5, end: 9 }
        );
        assert_eq!(decide_range(Some("bytes=0-3"), 10).length(), Some(4));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(decide_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(decide_range(Some("bytes=12-15"), 10), Unsatisfiable);
        assert_eq!(decide_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(decide_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(decide_range(Some("items=0-1"), 10), Full);
        assert_eq!(decide_range(Some("bytes=5-2"), 10), Full);
        assert_eq!(decide_range(Some("bytes=x-y"), 10), Full);
    }

    #[test]
    fn etag_matching() {
        let etag = "\"sha256:abc\"";
        assert!(if_none_match_hits(Some("\"sha256:abc\""), etag));
        assert!(if_none_match_hits(Some("\"x\", W/\"sha256:abc\""), etag));
        assert!(if_none_match_hits(Some("*"), etag));
        assert!(!if_none_match_hits(Some("\"sha256:abd\""), etag));
        assert!(!if_none_match_hits(None, etag));
    }
}
