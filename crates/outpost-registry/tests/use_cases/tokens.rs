//! Organisations and tokens against the in-memory adapters.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::api::{CreateTokenRequest, InitRequest};
use outpost_core::auth::Role;
use outpost_core::digest::Digest;
use outpost_registry::memory::{MemoryRegistry, NOW};
use outpost_registry::ports::Actor;
use outpost_registry::tokens::{create_token, init_org, revoke_token};
use pollster::block_on;

fn admin(token_id: &str) -> Actor {
    Actor::Caller {
        token_id: token_id.into(),
        name: "bootstrap-admin".into(),
        role: Role::Admin,
    }
}

#[test]
fn an_organisation_starts_with_one_admin_token_whose_secret_is_only_hashed() {
    let registry = MemoryRegistry::new();
    let request = InitRequest {
        org: "acme".into(),
        display_name: None,
    };
    let (display_name, created) = block_on(init_org(&registry, &request)).unwrap();
    assert_eq!(display_name, "acme");
    assert_eq!(created.record.role, Role::Admin);
    let (stored, hash) = registry.stored_token("acme", &created.record.id).unwrap();
    assert_eq!(stored, created.record);
    assert_ne!(
        hash,
        Digest::of(created.token.as_bytes()),
        "a domain-separated hash"
    );
    assert!(
        !format!("{hash}").contains(&created.token),
        "never the secret"
    );
    let entry = registry.audit_log("acme").pop().unwrap();
    assert_eq!(entry.actor.as_deref(), Some("bootstrap"));
    assert_eq!(
        entry.role, None,
        "the bootstrap secret has no role in the org"
    );
    let again = block_on(init_org(&registry, &request)).unwrap_err();
    insta::assert_json_snapshot!("org_exists", again.to_problem());
    let bad = InitRequest {
        org: "Not An Org".into(),
        display_name: None,
    };
    assert_eq!(
        block_on(init_org(&registry, &bad))
            .unwrap_err()
            .to_problem()
            .status,
        422
    );
}

#[test]
fn tokens_are_minted_with_a_role_and_lifetime_and_revoked_for_good() {
    let registry = MemoryRegistry::new();
    let actor = admin("tok_admin");
    let request: CreateTokenRequest = serde_json::from_value(
        serde_json::json!({"name": " ci ", "role": "viewer", "expires_in": 60}),
    )
    .unwrap();
    let created = block_on(create_token(&registry, "acme", &actor, &request)).unwrap();
    assert_eq!(created.record.name, "ci", "names are trimmed");
    assert_eq!(created.record.expires_at, Some(NOW + 60_000));
    assert_eq!(created.record.created_by.as_deref(), Some("tok_admin"));
    let id = created.record.id.clone();
    let revoked = block_on(revoke_token(&registry, "acme", &actor, &id)).unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW));
    let entries = registry.audit_log("acme").len();
    let again = block_on(revoke_token(&registry, "acme", &actor, &id)).unwrap();
    assert_eq!(again.revoked_at, Some(NOW));
    assert_eq!(
        registry.audit_log("acme").len(),
        entries,
        "revoking twice writes nothing"
    );
    let other_org = block_on(revoke_token(&registry, "other", &actor, &id));
    insta::assert_json_snapshot!("token_of_another_org", other_org.unwrap_err().to_problem());
}

#[test]
fn token_requests_are_checked() {
    let registry = MemoryRegistry::new();
    let actor = admin("tok_admin");
    for body in [
        serde_json::json!({"name": "  ", "role": "viewer"}),
        serde_json::json!({"name": "x".repeat(65), "role": "viewer"}),
        serde_json::json!({"name": "ci", "role": "viewer", "expires_in": 0}),
    ] {
        let request: CreateTokenRequest = serde_json::from_value(body).unwrap();
        let err = block_on(create_token(&registry, "acme", &actor, &request)).unwrap_err();
        assert_eq!(err.to_problem().status, 422);
    }
    assert!(registry.audit_log("acme").is_empty());
}
