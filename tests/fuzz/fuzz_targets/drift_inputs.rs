//! `drift compare`'s inputs as the core sees them: two columns of text
//! cells (a CSV's), typed by `Column::infer`, compared with the default
//! test and every named one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::drift::{Column, StatTest, feature_drift};

fn column(text: &str) -> Column {
    let cells: Vec<&str> = text.split([',', '\n']).collect();
    Column::infer(&cells)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (reference, current) = text.split_once('|').unwrap_or((text, text));
    let (reference, current) = (column(reference), column(current));
    let _ = feature_drift(&reference, &current, None, None);
    for test in [
        StatTest::Ks,
        StatTest::ChiSquare,
        StatTest::ZTest,
        StatTest::Wasserstein,
        StatTest::JensenShannon,
        StatTest::Psi,
        StatTest::Kl,
    ] {
        let _ = feature_drift(&reference, &current, Some(test), None);
    }
});
