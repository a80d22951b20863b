//! The safety scan on any byte stream: the pickle machine, and zip
//! archives found from their end-of-central-directory record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scan = outpost_core::pickle::scan_pickle(data);
    // An unsafe verdict always says why.
    assert!(scan.is_safe() || scan.reason().is_some());
    if let Some(scan) = outpost_core::pickle::scan_zip(data) {
        assert!(scan.is_safe() || scan.reason().is_some());
    }
    let _ = outpost_core::pickle::parses_as_pickle(data);
});
