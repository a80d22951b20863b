//! Trust metadata as a device meets it: a pin parsed from any bytes, and a
//! refresh from an honest pin (the `fresh-pin` scenario's) where every file
//! the updater asks for is cut from the input. Refusals are fine; panics,
//! hangs and an accepted refresh of tampered files are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::trust::{Envelope, TrustedState, Updater};

const PINNED: &[u8] =
    include_bytes!("../../../crates/outpost-core/tests/data/trust/fresh-pin/pinned.json");
/// The scenarios' clock (ms).
const NOW: i64 = 1_795_389_326_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(pin) = serde_json::from_slice::<Envelope>(data) {
        let _ = TrustedState::from_pinned_root(&pin);
    }
    let Ok(pin) = serde_json::from_slice::<Envelope>(PINNED) else {
        return;
    };
    let Ok(mut updater) = Updater::new(Some(&pin), None, NOW) else {
        return;
    };
    // Files separated by 0xFF (a byte JSON text never contains); an empty
    // piece is a missing file.
    let mut pieces = data.split(|&b| b == 0xFF);
    let mut steps = 0;
    while updater.next_file().is_some() && steps < 64 {
        steps += 1;
        let piece = pieces.next();
        let offered = piece.filter(|p| !p.is_empty());
        if updater.offer(offered).is_err() {
            return;
        }
    }
    // No key signs what a fuzzer writes: a refresh that got this far was
    // offered nothing it had to verify, or failed.
    let _ = updater.finish();
});
