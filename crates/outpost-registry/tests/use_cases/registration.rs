//! Registering versions against the in-memory adapters: each refusal with
//! its problem pinned, explicit and bumped numbers, the race for the next
//! number, and what commits with a registration (audit entry, webhook).

#![expect(
    clippy::unwrap_used,
    clippy::result_large_err,
    reason = "tests compare whole problems"
)]

use outpost_core::Problem;
use outpost_core::api::{RegisterVersionRequest, RegisteredVersion, VersionStatus};
use outpost_core::auth::Role;
use outpost_core::version::{ArtifactFormat, PrimaryMetric};
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::ports::{Actor, Change};
use outpost_registry::versions::register_version;
use pollster::block_on;
use serde_json::json;

const ORG: &str = "acme";
const MODEL: &str = "fraud";

fn developer() -> Actor {
    Actor::Caller {
        token_id: "tok_dev".into(),
        name: "ci-developer".into(),
        role: Role::Developer,
    }
}

fn registry() -> MemoryRegistry {
    let registry = MemoryRegistry::new();
    registry.add_model(ORG, MODEL);
    registry
}

fn request(
    registry: &MemoryRegistry,
    bytes: &[u8],
    extra: serde_json::Value,
) -> RegisterVersionRequest {
    let digest = registry.upload(ORG, bytes);
    let mut body = json!({"digest": digest, "size": bytes.len()});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::from_value(body).unwrap()
}

fn register(
    registry: &MemoryRegistry,
    request: &RegisterVersionRequest,
) -> Result<RegisteredVersion, Problem> {
    block_on(register_version(
        registry,
        ORG,
        &developer(),
        MODEL,
        request,
    ))
    .map_err(|e| e.to_problem())
}

#[test]
fn an_explicit_version_is_registered_audited_and_announced() {
    let registry = registry();
    let body = request(
        &registry,
        b"onnx bytes",
        json!({"version": "1.0.0", "tags": ["b", "a", "b"], "metrics": {"f1": 0.8}}),
    );
    let registered = register(&registry, &body).unwrap();
    assert_eq!(registered.version_reason, "explicit version");
    let record = registry.registered(ORG, MODEL, "1.0.0").unwrap();
    assert_eq!(record, registered.version);
    assert_eq!(record.tags, ["a", "b"], "tags are a set");
    assert_eq!(record.author, "ci-developer");
    assert_eq!(record.status, VersionStatus::Ready);
    let entry = registry.audit_log(ORG).pop().unwrap();
    assert_eq!(entry.action, "version.register");
    assert_eq!(entry.target, "models/fraud/versions/1.0.0");
    assert_eq!(registry.outbox(ORG)[0].0, "version.registered");
}

#[test]
fn versions_are_immutable() {
    let registry = registry();
    let body = request(&registry, b"onnx bytes", json!({"version": "1.0.0"}));
    register(&registry, &body).unwrap();
    insta::assert_json_snapshot!(register(&registry, &body).unwrap_err());
}

#[test]
fn bumps_number_from_the_highest_version() {
    let registry = registry();
    let first = request(&registry, b"one", json!({"bump": "patch"}));
    // The first version of a model is 1.0.0 whatever the bump.
    assert_eq!(
        register(&registry, &first).unwrap().version.version,
        "1.0.0"
    );
    let minor = request(&registry, b"two", json!({"bump": "minor"}));
    assert_eq!(
        register(&registry, &minor).unwrap().version.version,
        "1.1.0"
    );
    let major = request(&registry, b"three", json!({"bump": "major"}));
    assert_eq!(
        register(&registry, &major).unwrap().version.version,
        "2.0.0"
    );
}

#[test]
fn an_auto_bump_is_minor_on_a_primary_metric_gain() {
    let registry = registry();
    registry.set_primary_metric(
        ORG,
        MODEL,
        serde_json::from_value::<PrimaryMetric>(json!({"name": "f1", "higher_is_better": true}))
            .unwrap(),
    );
    let first = request(
        &registry,
        b"one",
        json!({"version": "1.0.0", "metrics": {"f1": 0.80}}),
    );
    register(&registry, &first).unwrap();
    let better = request(
        &registry,
        b"two",
        json!({"bump": "auto", "metrics": {"f1": 0.90}}),
    );
    let registered = register(&registry, &better).unwrap();
    assert_eq!(
        registered.version.version, "1.1.0",
        "{}",
        registered.version_reason
    );
    let same = request(
        &registry,
        b"three",
        json!({"bump": "auto", "metrics": {"f1": 0.90}}),
    );
    assert_eq!(register(&registry, &same).unwrap().version.version, "1.1.1");
}

#[test]
fn a_bump_that_loses_the_race_takes_the_next_number() {
    let registry = registry();
    let first = request(&registry, b"one", json!({"version": "1.0.0"}));
    register(&registry, &first).unwrap();
    // Another registration takes 1.0.1 after this one read 1.0.0.
    let mut other = registry.registered(ORG, MODEL, "1.0.0").unwrap();
    other.version = "1.0.1".into();
    registry.commit_first(ORG, Change::RegisterVersion(other));
    let bumped = request(&registry, b"two", json!({"bump": "patch"}));
    assert_eq!(
        register(&registry, &bumped).unwrap().version.version,
        "1.0.2"
    );
}

#[test]
fn bumps_that_keep_losing_give_up_with_a_conflict() {
    let registry = registry();
    registry.fail("commit_conflict");
    let body = request(&registry, b"one", json!({"bump": "patch"}));
    insta::assert_json_snapshot!(register(&registry, &body).unwrap_err());
}

#[test]
fn the_request_is_checked_before_anything_is_read() {
    let registry = registry();
    let both = request(
        &registry,
        b"one",
        json!({"version": "1.0.0", "bump": "patch"}),
    );
    insta::assert_json_snapshot!("version_and_bump", register(&registry, &both).unwrap_err());
    let neither = request(&registry, b"one", json!({}));
    assert_eq!(register(&registry, &neither).unwrap_err().status, 422);
    let bad_tag = request(
        &registry,
        b"one",
        json!({"bump": "patch", "tags": ["no spaces"]}),
    );
    assert_eq!(register(&registry, &bad_tag).unwrap_err().status, 422);
    assert!(registry.audit_log(ORG).is_empty());
}

#[test]
fn an_unknown_model_or_parent_is_refused() {
    let registry = registry();
    let body = request(&registry, b"one", json!({"version": "1.0.0"}));
    let unknown = block_on(register_version(
        &registry,
        ORG,
        &developer(),
        "nope",
        &body,
    ));
    assert_eq!(unknown.unwrap_err().to_problem().status, 404);
    let orphan = request(
        &registry,
        b"one",
        json!({"version": "1.0.0", "parent_version": "0.9.0"}),
    );
    insta::assert_json_snapshot!("missing_parent", register(&registry, &orphan).unwrap_err());
}

#[test]
fn the_artifact_must_be_uploaded_with_exactly_the_declared_size() {
    let registry = registry();
    let mut body = request(&registry, b"one", json!({"version": "1.0.0"}));
    body.size += 1;
    insta::assert_json_snapshot!("size_mismatch", register(&registry, &body).unwrap_err());
    let never: RegisterVersionRequest = serde_json::from_value(json!({
        "digest": outpost_core::Digest::of(b"never uploaded"), "size": 14, "version": "1.0.0"
    }))
    .unwrap();
    insta::assert_json_snapshot!("not_uploaded", register(&registry, &never).unwrap_err());
}

#[test]
fn an_unsafe_pickle_is_registered_as_unsafe() {
    let registry = registry();
    let body = request(
        &registry,
        b"cposix\nsystem os.system",
        json!({"version": "1.0.0"}),
    );
    let record = register(&registry, &body).unwrap().version;
    assert_eq!(record.status, VersionStatus::Unsafe);
    assert_eq!(record.format, ArtifactFormat::Pickle);
    assert_eq!(record.status_reason.as_deref(), Some("calls os.system"));
}

#[test]
fn bytes_that_are_not_a_model_are_refused() {
    let registry = registry();
    let body = request(&registry, b"", json!({"version": "1.0.0"}));
    let problem = register(&registry, &body).unwrap_err();
    assert_eq!(problem.status, 422);
    assert!(registry.registered(ORG, MODEL, "1.0.0").is_none());
}

#[test]
fn artifacts_too_large_to_scan_are_not_trusted_if_pickled() {
    let registry = registry();
    let large = vec![0u8; outpost_registry::versions::MAX_INSPECTED_BYTES as usize + 1];
    let body = request(
        &registry,
        &large,
        json!({"version": "1.0.0", "format": "pickle"}),
    );
    let record = register(&registry, &body).unwrap().version;
    assert_eq!(record.status, VersionStatus::Unsafe);
    assert!(record.status_reason.unwrap().contains("not scanned"));
}

#[test]
fn tags_change_as_a_set_with_their_audit_entry() {
    use outpost_core::api::TagChange;
    use outpost_registry::versions::change_tags;
    let registry = registry();
    let body = request(
        &registry,
        b"one",
        json!({"version": "1.0.0", "tags": ["a"]}),
    );
    register(&registry, &body).unwrap();
    let change = TagChange {
        add: vec!["b".into()],
        remove: vec!["a".into()],
    };
    let at = (MODEL, "1.0.0");
    let after = block_on(change_tags(&registry, ORG, &developer(), at, &change)).unwrap();
    assert_eq!(after.tags, ["b"]);
    assert_eq!(
        registry.audit_log(ORG).pop().unwrap().action,
        "version.tags"
    );
    // The same change again writes nothing.
    let entries = registry.audit_log(ORG).len();
    block_on(change_tags(&registry, ORG, &developer(), at, &change)).unwrap();
    assert_eq!(registry.audit_log(ORG).len(), entries);
    let missing = block_on(change_tags(
        &registry,
        ORG,
        &developer(),
        (MODEL, "9.9.9"),
        &change,
    ));
    insta::assert_json_snapshot!(
        "tags_of_a_missing_version",
        missing.unwrap_err().to_problem()
    );
}

#[test]
fn a_concurrent_tag_edit_is_not_lost() {
    use outpost_core::api::TagChange;
    use outpost_registry::versions::change_tags;
    let registry = registry();
    let body = request(
        &registry,
        b"one",
        json!({"version": "1.0.0", "tags": ["a"]}),
    );
    register(&registry, &body).unwrap();
    // Another edit lands between this one's read and its write.
    registry.commit_first(
        ORG,
        Change::SetTags {
            model: MODEL.into(),
            version: "1.0.0".into(),
            old: vec!["a".into()],
            new: vec!["a".into(), "z".into()],
        },
    );
    let change = TagChange {
        add: vec!["b".into()],
        ..TagChange::default()
    };
    let lost = block_on(change_tags(
        &registry,
        ORG,
        &developer(),
        (MODEL, "1.0.0"),
        &change,
    ));
    insta::assert_json_snapshot!("tags_changed_concurrently", lost.unwrap_err().to_problem());
    assert_eq!(
        registry.registered(ORG, MODEL, "1.0.0").unwrap().tags,
        ["a", "z"]
    );
}

fn profile(values: &[&str]) -> outpost_core::profile::ReferenceProfile {
    outpost_core::profile::ReferenceProfile::from_columns(&[(
        "amount".to_owned(),
        values.iter().map(|v| (*v).to_owned()).collect(),
    )])
    .unwrap()
}

#[test]
fn a_reference_profile_is_written_once() {
    use outpost_registry::profiles::{Stored, set_reference};
    let registry = registry();
    let body = request(&registry, b"one", json!({"version": "1.0.0"}));
    register(&registry, &body).unwrap();
    let at = (MODEL, "1.0.0");
    let first = profile(&["1.0", "2.5", "3.0"]);
    let stored = block_on(set_reference(
        &registry,
        ORG,
        &developer(),
        at,
        first.clone(),
    ));
    assert_eq!(stored.unwrap(), Stored::Created);
    assert_eq!(
        registry.audit_log(ORG).pop().unwrap().action,
        "version.reference"
    );
    let again = block_on(set_reference(&registry, ORG, &developer(), at, first));
    assert_eq!(
        again.unwrap(),
        Stored::Unchanged,
        "the same profile again changes nothing"
    );
    let other = block_on(set_reference(
        &registry,
        ORG,
        &developer(),
        at,
        profile(&["9.0"]),
    ));
    insta::assert_json_snapshot!("another_reference", other.unwrap_err().to_problem());
    let missing = block_on(set_reference(
        &registry,
        ORG,
        &developer(),
        (MODEL, "2.0.0"),
        profile(&["1.0"]),
    ));
    assert_eq!(missing.unwrap_err().to_problem().status, 404);
}

#[test]
fn telemetry_is_stored_for_registered_versions_only() {
    use outpost_core::lifecycle::Stage;
    use outpost_core::telemetry::TelemetryWindow;
    use outpost_registry::telemetry::report_window;
    let registry = registry();
    let body = request(&registry, b"one", json!({"version": "1.0.0"}));
    register(&registry, &body).unwrap();
    let mut window = TelemetryWindow::new(Vec::new());
    window.record_call(&[], 0, 1_500.0);
    let at = (MODEL, "1.0.0", Stage::Production);
    block_on(report_window(&registry, ORG, at, &window)).unwrap();
    assert_eq!(registry.window_count(ORG, MODEL, "1.0.0", "client"), 1);
    let unknown = block_on(report_window(
        &registry,
        ORG,
        (MODEL, "9.9.9", Stage::Production),
        &window,
    ));
    insta::assert_json_snapshot!(
        "telemetry_for_unknown_version",
        unknown.unwrap_err().to_problem()
    );
    let no_model = block_on(report_window(
        &registry,
        ORG,
        ("nope", "1.0.0", Stage::Production),
        &window,
    ));
    assert_eq!(no_model.unwrap_err().to_problem().status, 404);
    let mut inconsistent = window.clone();
    inconsistent.errors = inconsistent.calls + 1;
    let refused = block_on(report_window(&registry, ORG, at, &inconsistent));
    assert_eq!(refused.unwrap_err().to_problem().status, 422);
    assert_eq!(registry.window_count(ORG, MODEL, "1.0.0", "client"), 1);
}
