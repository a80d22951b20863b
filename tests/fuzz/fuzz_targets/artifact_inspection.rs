//! Registration's inspection of any bytes: format detection (pickle by
//! parsing, zip by its end-of-central-directory record, safetensors, ONNX),
//! the safety scan, ONNX summary and validation. Must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::version::ArtifactFormat;

fuzz_target!(|data: &[u8]| {
    let _ = outpost_infer::inspect::inspect_artifact(data, None);
    if let Some((&first, rest)) = data.split_first() {
        let declared = match first % 5 {
            0 => ArtifactFormat::Onnx,
            1 => ArtifactFormat::Pickle,
            2 => ArtifactFormat::Joblib,
            3 => ArtifactFormat::Pytorch,
            _ => ArtifactFormat::Safetensors,
        };
        let _ = outpost_infer::inspect::inspect_artifact(rest, Some(declared));
    }
});
