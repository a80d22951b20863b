//! Deleting versions and retention against the in-memory adapters: refusals
//! while deployed, admin force clearing stages with history entries, the
//! shared artifact kept until its last version goes, plan = apply, and the
//! cron acting as itself.

#![expect(
    clippy::unwrap_used,
    clippy::result_large_err,
    reason = "tests compare whole problems"
)]

use outpost_core::Problem;
use outpost_core::api::{Deleted, ModelPolicies, RetentionReport};
use outpost_core::auth::Role;
use outpost_core::digest::Digest;
use outpost_core::lifecycle::{Move, RetentionPolicy, Stage, StageState};
use outpost_registry::deletion::{delete_version, retention};
use outpost_registry::memory::{MemoryRegistry, NOW};
use outpost_registry::ports::Actor;
use pollster::block_on;

const ORG: &str = "acme";
const MODEL: &str = "fraud";
const DAY: i64 = 86_400_000;

fn admin() -> Actor {
    Actor::Caller {
        token_id: "tok_admin".into(),
        name: "ci-admin".into(),
        role: Role::Admin,
    }
}

fn registry() -> MemoryRegistry {
    let registry = MemoryRegistry::new();
    registry.add_model(ORG, MODEL);
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        registry.add_version(ORG, MODEL, version, version.as_bytes());
    }
    registry
}

fn delete(
    registry: &MemoryRegistry,
    version: &str,
    force: bool,
    reason: &str,
) -> Result<Deleted, Problem> {
    block_on(delete_version(
        registry,
        ORG,
        &admin(),
        MODEL,
        version,
        force,
        reason,
    ))
    .map_err(|e| e.to_problem())
}

fn retain(
    registry: &MemoryRegistry,
    actor: &Actor,
    dry_run: bool,
) -> Result<RetentionReport, Problem> {
    block_on(retention(registry, ORG, actor, MODEL, dry_run)).map_err(|e| e.to_problem())
}

#[test]
fn an_unused_version_is_deleted_with_its_artifact_and_audited() {
    let registry = registry();
    let deleted = delete(&registry, "1.0.0", false, "").unwrap();
    assert!(deleted.blob_removed && deleted.cleared.is_empty());
    assert!(!registry.has_version(ORG, MODEL, "1.0.0"));
    assert_eq!(registry.has_blob(ORG, Digest::of(b"1.0.0")), (false, false));
    let entry = registry.audit_log(ORG).pop().unwrap();
    assert_eq!(entry.action, "version.delete");
    assert_eq!(entry.target, "models/fraud/versions/1.0.0");
}

#[test]
fn an_artifact_another_version_uses_stays() {
    let registry = registry();
    registry.add_version(ORG, "fraud-copy", "1.0.0", b"1.0.0");
    registry.add_model(ORG, "fraud-copy");
    let deleted = delete(&registry, "1.0.0", false, "").unwrap();
    assert!(!deleted.blob_removed);
    assert_eq!(registry.has_blob(ORG, Digest::of(b"1.0.0")), (true, true));
}

#[test]
fn a_deployed_version_is_refused_and_nothing_changes() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Staging, StageState::single("1.0.0"));
    insta::assert_json_snapshot!(delete(&registry, "1.0.0", false, "").unwrap_err());
    assert!(registry.has_version(ORG, MODEL, "1.0.0"));
    assert!(registry.audit_log(ORG).is_empty());
}

#[test]
fn force_clears_the_stages_that_used_it_with_history_entries() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Staging, StageState::single("1.0.0"));
    let deleted = delete(&registry, "1.0.0", true, "leaked training data").unwrap();
    assert_eq!(deleted.cleared, [Stage::Staging]);
    let cleared = registry.history(ORG, MODEL, Stage::Staging).pop().unwrap();
    assert_eq!(cleared.kind, Move::Cleared);
    assert!(cleared.to.is_empty());
    assert_eq!(cleared.reason, "1.0.0 deleted: leaked training data");
    assert_eq!(cleared.forced, ["deletion"]);
    assert_eq!(cleared.actor, "ci-admin");
}

#[test]
fn force_needs_a_reason_and_never_touches_production() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Staging, StageState::single("1.0.0"));
    assert_eq!(
        delete(&registry, "1.0.0", true, "").unwrap_err().status,
        409
    );
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    insta::assert_json_snapshot!(delete(&registry, "1.1.0", true, "because").unwrap_err());
}

#[test]
fn an_unknown_version_is_not_found() {
    let registry = registry();
    assert_eq!(
        delete(&registry, "9.9.9", false, "").unwrap_err().status,
        404
    );
}

#[test]
fn retention_needs_a_policy() {
    let registry = registry();
    insta::assert_json_snapshot!(retain(&registry, &admin(), true).unwrap_err());
}

#[test]
fn retention_applies_exactly_what_it_plans_and_keeps_deployed_versions() {
    let registry = MemoryRegistry::new();
    registry.add_model(ORG, MODEL);
    // Four versions, a day apart; 1.0.0 is deployed.
    for (n, version) in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"].iter().enumerate() {
        registry.set_now(NOW - (10 - n as i64) * DAY);
        registry.add_version(ORG, MODEL, version, version.as_bytes());
    }
    registry.set_now(NOW);
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    registry.set_policies(
        ORG,
        MODEL,
        ModelPolicies {
            retention: Some(RetentionPolicy {
                keep_last: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let plan = retain(&registry, &admin(), true).unwrap();
    let planned: Vec<&str> = plan.drops.iter().map(|d| d.version.as_str()).collect();
    assert_eq!(planned, ["1.2.0", "1.1.0"], "{plan:?}");
    assert!(
        registry.has_version(ORG, MODEL, "1.1.0"),
        "a plan deletes nothing"
    );
    let applied = retain(&registry, &Actor::Cron, false).unwrap();
    assert_eq!(applied.drops, plan.drops);
    for version in ["1.1.0", "1.2.0"] {
        assert!(!registry.has_version(ORG, MODEL, version));
    }
    assert!(registry.has_version(ORG, MODEL, "1.0.0"), "deployed");
    assert!(registry.has_version(ORG, MODEL, "2.0.0"), "newest");
    let entry = registry.audit_log(ORG).pop().unwrap();
    assert_eq!(entry.action, "retention.delete");
    assert_eq!(
        entry.actor.as_deref(),
        Some("cron"),
        "the cron, no fake caller"
    );
}
