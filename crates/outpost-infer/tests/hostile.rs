//! The hostile ONNX corpus of `tests/data/hostile/cases.json`, natively:
//! each refused file is refused by `Model::load` (every runtime's loader)
//! and by registration's inspection with the same message, before tract
//! sees it; each accepted one gives exactly the expected outputs. The wasm32
//! build runs the same corpus in `tests/node/conformance.test.mjs`.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_infer::Model;
use outpost_infer::inspect::{InspectError, inspect_artifact};
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile/");

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{DIR}cases.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn case(file: &str) -> (Vec<u8>, Value) {
    let case = cases()
        .into_iter()
        .find(|c| c["file"] == file)
        .unwrap_or_else(|| panic!("{file} is not in cases.json"));
    (std::fs::read(format!("{DIR}{file}")).unwrap(), case)
}

/// Load and inspection both refuse, with the corpus's message.
fn assert_refused(file: &str) -> String {
    let (bytes, case) = case(file);
    let error = case["error"].as_str().unwrap();
    let load = Model::load(&bytes).unwrap_err();
    assert_eq!(load.stage, "validate", "{file}");
    assert_eq!(load.to_string(), format!("validate: {error}"), "{file}");
    let inspection = inspect_artifact(&bytes, None).unwrap_err();
    assert!(
        matches!(inspection, InspectError::OnnxRefused(_)),
        "{file}: {inspection:?}"
    );
    assert_eq!(
        inspection.to_string(),
        format!("the ONNX model is refused: {error}"),
        "{file}"
    );
    // A declared format changes nothing.
    let declared = inspect_artifact(&bytes, Some(outpost_core::version::ArtifactFormat::Onnx));
    assert!(declared.is_err(), "{file}");
    assert!(
        outpost_infer::load::check_loadable(&bytes).is_err(),
        "{file}"
    );
    error.to_owned()
}

#[test]
fn a_dimension_beyond_u32_is_refused_before_tract_on_every_target() {
    let error = assert_refused("onnx-dim-beyond-u32.onnx");
    assert!(error.contains("4294967297"), "{error}");
}

#[test]
fn external_data_is_refused_at_registration_naming_its_location() {
    let error = assert_refused("onnx-external-data-dotdot.onnx");
    assert!(error.contains("../../../../../../etc/passwd"), "{error}");
}

#[test]
fn a_tree_with_a_shared_leaf_runs() {
    let (bytes, case) = case("tree-shared-child.onnx");
    let inspection = inspect_artifact(&bytes, None).unwrap();
    assert!(inspection.unsafe_reason.is_none());
    let model = Model::load(&bytes).unwrap();
    let inputs = inputs_from_json(model.inputs(), &case["inputs"]).unwrap();
    let outputs = outputs_to_json(&model.run(&inputs).unwrap());
    assert_eq!(outputs, case["outputs"]);
}

#[test]
fn every_case_is_tested() {
    let files: Vec<String> = cases()
        .iter()
        .map(|c| c["file"].as_str().unwrap().to_owned())
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".onnx"))
        .collect();
    on_disk.sort();
    let mut listed = files.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "every hostile file has a verdict");
    for case in cases() {
        assert!(
            case.get("error").is_some() != case.get("outputs").is_some(),
            "{case}: exactly one of error and outputs"
        );
    }
}
