//! The model-file cases of `hostile-inputs` (see its README, "Model-file
//! safety scan"): each ran `os.system` under CPython's `pickle.load` while
//! Outpost called it safe or did not scan it. Copies live in
//! `tests/data/hostile/`.

use outpost_core::pickle::{PickleScan, looks_like_pickle, scan_pickle, scan_zip};

fn assert_unsafe_naming(scan: &PickleScan, callable: &str) {
    assert!(!scan.is_safe(), "{scan:?}");
    assert!(
        scan.unsafe_globals.iter().any(|g| g == callable),
        "{callable} not named: {scan:?}"
    );
    let reason = scan.reason().unwrap_or_default();
    assert!(reason.contains(callable), "{reason}");
}

/// Protocol 0 has no PROTO opcode; the pickle must be recognised by parsing.
#[test]
fn pickle_without_proto_is_recognised_and_unsafe() {
    let data = include_bytes!("data/hostile/pickle-no-proto.pkl");
    assert!(looks_like_pickle(data));
    assert_unsafe_naming(&scan_pickle(data), "os.system");
}

/// MARK/POP_MARK must restore the stack as CPython does, so STACK_GLOBAL sees
/// "os", "system" and not the strings pushed after the mark.
#[test]
fn pop_mark_restores_the_stack_below_the_mark() {
    let data = include_bytes!("data/hostile/pickle-pop-mark.pkl");
    let scan = scan_pickle(data);
    assert_unsafe_naming(&scan, "os.system");
    assert!(
        !scan.globals.iter().any(|g| g == "collections.OrderedDict"),
        "the strings after the mark are not imported: {scan:?}"
    );
}

/// `sklearn.__builtins__.get` reaches `eval` by attribute traversal: a
/// package on the allow-list does not vouch for dotted names below it.
#[test]
fn dotted_name_under_an_allowed_package_is_unsafe() {
    let data = include_bytes!("data/hostile/pickle-allowlist-prefix.pkl");
    assert_unsafe_naming(&scan_pickle(data), "sklearn.__builtins__.get");
}

/// `pickle.load` called twice runs the second pickle.
#[test]
fn second_pickle_in_the_stream_is_scanned() {
    let data = include_bytes!("data/hostile/pickle-two-in-one-stream.pkl");
    let scan = scan_pickle(data);
    assert_unsafe_naming(&scan, "os.system");
    assert_eq!(scan.pickles, 2);
}

/// Bytes before the first local header: readers find the archive from its
/// end-of-central-directory record.
#[test]
fn zip_with_a_prefix_is_found_from_its_end_and_scanned() {
    let data = include_bytes!("data/hostile/zip-with-prefix.pt");
    assert!(!data.starts_with(b"PK\x03\x04"));
    let scan = scan_zip(data).expect("the archive is found");
    assert_unsafe_naming(&scan, "os.system");
    assert!(
        scan.members.iter().any(|m| m == "archive/data.pkl"),
        "{scan:?}"
    );
}
