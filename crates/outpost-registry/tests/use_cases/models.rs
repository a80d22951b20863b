//! Creating models against the in-memory adapters.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::api::CreateModelRequest;
use outpost_core::auth::Role;
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::models::create_model;
use outpost_registry::ports::{Actor, Models};
use pollster::block_on;
use serde_json::json;

fn developer() -> Actor {
    Actor::Caller {
        token_id: "tok_dev".into(),
        name: "ci-developer".into(),
        role: Role::Developer,
    }
}

fn request(body: serde_json::Value) -> CreateModelRequest {
    serde_json::from_value(body).unwrap()
}

#[test]
fn a_model_is_created_once_with_its_audit_entry() {
    let registry = MemoryRegistry::new();
    let body = request(json!({"name": "fraud", "tags": ["cards"],
                               "primary_metric": {"name": "f1", "higher_is_better": true}}));
    block_on(create_model(&registry, "acme", &developer(), &body)).unwrap();
    assert!(block_on(registry.model_exists("acme", "fraud")).unwrap());
    let metric = block_on(registry.model_primary_metric("acme", "fraud")).unwrap();
    assert_eq!(metric.flatten().map(|m| m.name), Some("f1".into()));
    let entry = registry.audit_log("acme").pop().unwrap();
    assert_eq!(
        (entry.action.as_str(), entry.target.as_str()),
        ("model.create", "models/fraud")
    );
    let again = block_on(create_model(&registry, "acme", &developer(), &body)).unwrap_err();
    insta::assert_json_snapshot!(again.to_problem());
    // Another organisation's namespace is its own.
    block_on(create_model(&registry, "other", &developer(), &body)).unwrap();
}

#[test]
fn invalid_requests_create_nothing() {
    let registry = MemoryRegistry::new();
    for body in [
        json!({"name": "Fraud Detector"}),
        json!({"name": "fraud", "tags": ["no spaces"]}),
        json!({"name": "fraud", "primary_metric": {"name": "f 1", "higher_is_better": true}}),
        json!({"name": "fraud", "description": "x".repeat(4097)}),
    ] {
        let err = block_on(create_model(
            &registry,
            "acme",
            &developer(),
            &request(body),
        ));
        assert_eq!(err.unwrap_err().to_problem().status, 422);
    }
    assert!(!block_on(registry.model_exists("acme", "fraud")).unwrap());
    assert!(registry.audit_log("acme").is_empty());
}
