//! Encryption at rest against the in-memory adapters: enabling is refused
//! without a secret and is idempotent, rotating needs it on, and the status
//! counts what the background job has left to re-seal.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::ProblemKind;
use outpost_core::api::InitRequest;
use outpost_core::auth::Role;
use outpost_registry::RegistryError;
use outpost_registry::encryption::{enable_encryption, encryption_status, rotate_key};
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::ports::Actor;
use outpost_registry::tokens::init_org;
use pollster::block_on;

const ORG: &str = "acme";

fn admin() -> Actor {
    Actor::Caller {
        token_id: "tok_admin".into(),
        name: "ci-admin".into(),
        role: Role::Admin,
    }
}

fn actions(registry: &MemoryRegistry) -> Vec<String> {
    registry
        .audit_log(ORG)
        .into_iter()
        .map(|entry| entry.action)
        .filter(|action| action.starts_with("encryption."))
        .collect()
}

#[test]
fn enabling_seals_new_artifacts_and_the_job_seals_the_rest() {
    let registry = MemoryRegistry::new();
    registry.add_model(ORG, "fraud");
    registry.add_version(ORG, "fraud", "1.0.0", b"plaintext before");

    let off = block_on(encryption_status(&registry, ORG)).unwrap();
    assert!(off.configured && !off.enabled);
    assert_eq!((off.pending, off.total), (0, 1));

    let on = block_on(enable_encryption(&registry, ORG, &admin())).unwrap();
    assert_eq!(on.key_version, Some(1));
    assert_eq!(
        (on.pending, on.total),
        (1, 1),
        "the old object waits for the job"
    );
    // Enabling again changes nothing and audits nothing.
    let again = block_on(enable_encryption(&registry, ORG, &admin())).unwrap();
    assert_eq!(again.key_version, Some(1));
    assert_eq!(actions(&registry), ["encryption.enable"]);

    // A new artifact is sealed at once; the job seals the old one.
    registry.add_version(ORG, "fraud", "1.1.0", b"sealed from the start");
    let status = block_on(encryption_status(&registry, ORG)).unwrap();
    assert_eq!((status.pending, status.total), (1, 2));
    registry.reseal_all(ORG);
    let sealed = block_on(encryption_status(&registry, ORG)).unwrap();
    assert_eq!(sealed.pending, 0);
    assert_eq!(sealed.objects.len(), 1);
    assert_eq!(sealed.objects[0].key_version, Some(1));
    assert_eq!(sealed.objects[0].bytes, 16 + 21);

    // Rotation: everything is pending under version 2 until the job runs.
    let rotated = block_on(rotate_key(&registry, ORG, &admin())).unwrap();
    assert_eq!(rotated.key_version, Some(2));
    assert_eq!(rotated.pending, 2);
    registry.reseal_all(ORG);
    assert_eq!(
        block_on(encryption_status(&registry, ORG)).unwrap().pending,
        0
    );
    assert_eq!(
        actions(&registry),
        ["encryption.enable", "encryption.rotate"]
    );
}

#[test]
fn without_a_secret_nothing_is_enabled_and_rotation_needs_it_on() {
    let registry = MemoryRegistry::new();
    let err = block_on(rotate_key(&registry, ORG, &admin())).unwrap_err();
    assert!(matches!(err, RegistryError::EncryptionOff { .. }));
    assert_eq!(err.kind(), ProblemKind::Conflict);
    assert!(
        err.to_string().contains("outpost org encryption enable"),
        "{err}"
    );

    registry.configure_at_rest(false);
    let err = block_on(enable_encryption(&registry, ORG, &admin())).unwrap_err();
    assert_eq!(err.kind(), ProblemKind::ServiceUnavailable);
    assert!(
        err.to_problem()
            .detail
            .unwrap()
            .contains("OUTPOST_AT_REST_SECRET")
    );
    let status = block_on(encryption_status(&registry, ORG)).unwrap();
    assert!(!status.configured && !status.enabled);
    assert!(actions(&registry).is_empty());
}

#[test]
fn a_new_organisation_seals_from_the_start_once_the_deployment_has_a_secret() {
    let registry = MemoryRegistry::new();
    let request = |org: &str| InitRequest {
        org: org.into(),
        display_name: None,
    };
    block_on(init_org(&registry, &request("sealed"))).unwrap();
    let status = block_on(encryption_status(&registry, "sealed")).unwrap();
    assert_eq!(status.key_version, Some(1));

    registry.configure_at_rest(false);
    block_on(init_org(&registry, &request("plain"))).unwrap();
    let status = block_on(encryption_status(&registry, "plain")).unwrap();
    assert!(!status.enabled);
}
