//! A telemetry window as a client reports it (JSON), then its validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::telemetry::TelemetryWindow;

fuzz_target!(|data: &[u8]| {
    if let Ok(window) = serde_json::from_slice::<TelemetryWindow>(data) {
        let _ = window.validate();
    }
});
