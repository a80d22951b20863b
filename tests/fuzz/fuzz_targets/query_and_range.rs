//! Request parsing: version search queries (`?metric=f1>=0.8&sort=…`) and
//! RFC 9110 conditional and range headers against a representation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::conditional::{Conditions, Method, Outcome, Representation, evaluate};
use outpost_core::query::VersionQuery;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    let _ = VersionQuery::from_pairs(pairs.iter().copied());

    let mut fields = text.split('\n');
    let mut next = || fields.next();
    let conditions = Conditions {
        range: next(),
        if_range: next(),
        if_match: next(),
        if_none_match: next(),
        if_modified_since: next(),
        if_unmodified_since: next(),
    };
    let size = data.len() as u64 * 37;
    let representation = Representation {
        etag: "\"sha256:abc\"",
        last_modified: Some(784_111_777),
        size,
    };
    for method in [Method::Get, Method::Head] {
        match evaluate(method, &conditions, &representation) {
            Outcome::Partial(range) => assert!(range.start <= range.end && range.end < size),
            Outcome::Multipart(parts) => {
                assert!(parts.len() > 1);
                for pair in parts.windows(2) {
                    assert!(pair[0].end + 1 < pair[1].start, "{parts:?}");
                }
                assert!(parts.iter().all(|r| r.end < size));
            }
            _ => {}
        }
    }
});
