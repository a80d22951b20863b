//! Loading any bytes as an ONNX model: validation before tract, then
//! tract's parse, optimise and plan. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = outpost_infer::validate::validate_onnx(data);
    let _ = outpost_infer::Model::load(data);
});
