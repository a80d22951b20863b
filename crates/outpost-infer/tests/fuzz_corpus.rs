//! The committed fuzz corpora of the targets that need the ONNX runtime
//! (`tests/fuzz/corpus/{artifact_inspection,onnx_load}`), replayed natively
//! on every test run: the sanitizer build of those targets is too slow for
//! `scripts/test.sh`'s smoke run, so its inputs — seeds and whatever a long
//! run added — are kept as regression inputs here. Errors are fine; a panic
//! fails the test.

use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

#[test]
fn the_inspection_corpus_inspects_without_panicking() {
    for (name, bytes) in corpus("artifact_inspection") {
        let inspected = std::panic::catch_unwind(|| {
            let _ = outpost_infer::inspect::inspect_artifact(&bytes, None);
        });
        assert!(inspected.is_ok(), "{name} panicked");
    }
}

#[test]
fn the_onnx_corpus_loads_or_is_refused_without_panicking() {
    for (name, bytes) in corpus("onnx_load") {
        let loaded = std::panic::catch_unwind(|| {
            let _ = outpost_infer::validate::validate_onnx(&bytes);
            let _ = outpost_infer::Model::load(&bytes);
        });
        assert!(loaded.is_ok(), "{name} panicked");
    }
}
