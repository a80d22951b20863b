//! Resolve and predict routing against the in-memory adapters: every
//! failure path with its problem body pinned (insta), and the property the
//! shared routing path exists for — predict serves exactly what resolve
//! signs, for every device.

#![expect(
    clippy::unwrap_used,
    clippy::result_large_err,
    reason = "tests compare whole problems"
)]

use std::collections::BTreeMap;

use outpost_core::Problem;
use outpost_core::api::RollbackRequest;
use outpost_core::auth::Role;
use outpost_core::digest::Digest;
use outpost_core::lifecycle::{ArmKind, Stage, StageState};
use outpost_core::routing::{Arm, RolloutPolicy};
use outpost_core::signing::verify_threshold;
use outpost_core::trust::{Envelope, Resolution, TargetFile, Targets, target_path};
use outpost_registry::RegistryError;
use outpost_registry::memory::{MemoryRegistry, NOW};
use outpost_registry::ports::Actor;
use outpost_registry::resolve::{RESOLUTION_LIFETIME_MS, resolve_device};
use outpost_registry::routing::{DeviceQuestion, PLAN_LIFETIME_MS, Routed, route_device};
use outpost_registry::stages::rollback;
use pollster::block_on;

const ORG: &str = "acme";
const MODEL: &str = "fraud";

fn bytes_of(version: &str) -> Vec<u8> {
    format!("weights of {version}").into_bytes()
}

/// A registry with `fraud` 1.0.0, 1.1.0 and 2.0.0 registered.
fn registry() -> MemoryRegistry {
    let registry = MemoryRegistry::new();
    registry.add_model(ORG, MODEL);
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        registry.add_version(ORG, MODEL, version, &bytes_of(version));
    }
    registry
}

/// Release metadata naming `versions` with their real digests and lengths.
fn release(versions: &[&str]) -> Targets {
    let targets = versions
        .iter()
        .map(|version| {
            let bytes = bytes_of(version);
            (
                target_path(MODEL, version),
                TargetFile {
                    length: bytes.len() as u64,
                    hashes: BTreeMap::from([("sha256".to_owned(), Digest::of(&bytes).hex())]),
                    custom: None,
                },
            )
        })
        .collect();
    Targets {
        kind: "targets".into(),
        spec_version: "1.0.31".into(),
        version: 1,
        expires: "2099-01-01T00:00:00Z".into(),
        targets,
    }
}

/// 1.0.0 stable, 1.1.0 canary at `canary_weight` (of 10 000), 2.0.0 shadow.
fn canary(canary_weight: u32) -> StageState {
    RolloutPolicy {
        canary: Some(Arm {
            version: "1.1.0".into(),
            weight: canary_weight,
        }),
        shadow: Some("2.0.0".into()),
        ..RolloutPolicy::stable("1.0.0")
    }
    .stage_state()
}

fn asked(stage: Stage, device: Option<&str>) -> DeviceQuestion<'_> {
    DeviceQuestion {
        org: ORG,
        model: MODEL,
        stage,
        device,
    }
}

fn resolve(registry: &MemoryRegistry, question: &DeviceQuestion<'_>) -> Result<Envelope, Problem> {
    block_on(resolve_device(registry, question)).map_err(|e| e.to_problem())
}

fn route(registry: &MemoryRegistry, question: &DeviceQuestion<'_>) -> Result<Routed, Problem> {
    block_on(route_device(registry, question)).map_err(|e| e.to_problem())
}

/// An operator rolls production back to its previous state.
fn roll_back(registry: &MemoryRegistry, reason: &str) -> outpost_core::lifecycle::Deployment {
    let actor = Actor::Caller {
        token_id: "t1".into(),
        name: "ops".into(),
        role: Role::Operator,
    };
    let request = RollbackRequest {
        version: None,
        reason: reason.into(),
    };
    block_on(rollback(
        registry,
        ORG,
        &actor,
        MODEL,
        Stage::Production,
        &request,
    ))
    .unwrap()
}

fn signed(envelope: &Envelope) -> Resolution {
    serde_json::from_value(envelope.signed.clone()).unwrap()
}

#[test]
fn resolve_signs_the_routed_released_version_with_the_director_key() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    registry.set_release(ORG, release(&["1.1.0"]));
    let envelope = resolve(&registry, &asked(Stage::Production, Some("dev-1"))).unwrap();
    let director = registry.director_key();
    let id = director.public().key_id();
    verify_threshold(
        "director",
        &envelope.signed,
        &envelope.signatures,
        &BTreeMap::from([(id.clone(), director.public().clone())]),
        &[id],
        1,
    )
    .unwrap();
    let resolution = signed(&envelope);
    assert_eq!(resolution.version, "1.1.0");
    assert_eq!(resolution.target, "fraud/1.1.0");
    assert_eq!(resolution.digest, Digest::of(&bytes_of("1.1.0")));
    assert_eq!(resolution.length, bytes_of("1.1.0").len() as u64);
    assert_eq!(resolution.question.device, "dev-1");
    assert_eq!(resolution.question.stage, "production");
    assert_eq!(resolution.arm, ArmKind::Stable);
    assert_eq!(resolution.shadow, None);
    assert_eq!(
        outpost_core::timefmt::parse_utc(&resolution.expires),
        Some((NOW + RESOLUTION_LIFETIME_MS) / 1000 * 1000)
    );
}

#[test]
fn resolution_numbers_follow_the_change_then_the_issue_time_and_nothing_is_written() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    registry.set_release(ORG, release(&["1.0.0", "1.1.0"]));
    // A resolve commits nothing: with every write failing it still answers.
    registry.fail("commit");
    let number_at = |now: i64| {
        registry.set_now(now);
        signed(&resolve(&registry, &asked(Stage::Production, Some("dev-1"))).unwrap())
            .resolution_version
    };
    let change = NOW as u64 * 1000;
    assert_eq!(number_at(NOW), change);
    assert_eq!(number_at(NOW + 2_500), change + 2);
    assert_eq!(number_at(NOW + 30 * 86_400_000), change + 999);
    // A stage move 10 s after the release outnumbers every earlier answer.
    registry.set_now(NOW + 10_000);
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    let after_move = number_at(NOW + 10_000);
    assert_eq!(after_move, (NOW + 10_000) as u64 * 1000);
    assert!(after_move > change + 999);
}

#[test]
fn a_kept_plan_answers_without_reading_until_its_lifetime_ends() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    registry.set_release(ORG, release(&["1.0.0", "1.1.0"]));
    registry.keep_plans();
    let question = asked(Stage::Production, Some("dev-1"));
    let version = || signed(&resolve(&registry, &question).unwrap()).version;
    assert_eq!(version(), "1.0.0");
    // A promotion made elsewhere (another isolate): this one's plan is kept…
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    for port in ["stage_head", "version_artifacts", "model_exists"] {
        registry.fail(port);
    }
    registry.set_now(NOW + PLAN_LIFETIME_MS);
    assert_eq!(
        version(),
        "1.0.0",
        "answered from the kept plan, read nothing"
    );
    assert_eq!(
        route(&registry, &question).unwrap().primary.version,
        "1.0.0"
    );
    for port in ["stage_head", "version_artifacts", "model_exists"] {
        registry.heal(port);
    }
    // …for no longer than its lifetime.
    registry.set_now(NOW + PLAN_LIFETIME_MS + 1);
    assert_eq!(version(), "1.1.0");
    assert_eq!(
        route(&registry, &question).unwrap().primary.version,
        "1.1.0"
    );
}

#[test]
fn a_change_committed_here_is_answered_at_once() {
    let registry = registry();
    registry.set_release(ORG, release(&["1.0.0", "1.1.0"]));
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    registry.keep_plans();
    let question = asked(Stage::Production, Some("dev-1"));
    let version = || signed(&resolve(&registry, &question).unwrap()).version;
    assert_eq!(version(), "1.1.0");
    roll_back(&registry, "bad canary");
    assert_eq!(version(), "1.0.0", "the commit forgot the kept plan");
}

#[test]
fn resolve_names_a_released_shadow() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Canary, canary(1_000));
    registry.set_release(ORG, release(&["1.0.0", "1.1.0", "2.0.0"]));
    let resolution = signed(&resolve(&registry, &asked(Stage::Canary, Some("dev-1"))).unwrap());
    let shadow = resolution.shadow.unwrap();
    assert_eq!(shadow.version, "2.0.0");
    assert_eq!(shadow.target, "fraud/2.0.0");
    assert_eq!(shadow.digest, Digest::of(&bytes_of("2.0.0")));
}

#[test]
fn predict_serves_exactly_what_resolve_signs_for_every_device() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Canary, canary(2_500));
    registry.set_release(ORG, release(&["1.0.0", "1.1.0", "2.0.0"]));
    let mut canaries = 0u32;
    for n in 0..2_000 {
        let device = format!("device-{n}");
        let question = asked(Stage::Canary, Some(&device));
        let resolution = signed(&resolve(&registry, &question).unwrap());
        let routed = route(&registry, &question).unwrap();
        assert_eq!(routed.assignment.version, resolution.version, "{device}");
        assert_eq!(routed.assignment.arm, resolution.arm, "{device}");
        assert_eq!(routed.primary.digest, resolution.digest, "{device}");
        assert_eq!(
            routed.shadow.map(|s| s.version),
            resolution.shadow.map(|s| s.version),
            "{device}"
        );
        canaries += u32::from(resolution.arm == ArmKind::Canary);
    }
    // Both arms are exercised (25 % canary of 2 000 devices, ± a lot).
    assert!(canaries > 350 && canaries < 650, "{canaries} canaries");
}

#[test]
fn a_device_without_an_id_gets_a_random_bucket() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Canary, canary(1_000));
    registry.set_random(10_000 + 5); // bucket 5: the canary
    assert_eq!(
        route(&registry, &asked(Stage::Canary, None))
            .unwrap()
            .assignment
            .version,
        "1.1.0"
    );
    registry.set_random(9_999); // the stable arm
    assert_eq!(
        route(&registry, &asked(Stage::Canary, None))
            .unwrap()
            .assignment
            .version,
        "1.0.0"
    );
}

#[test]
fn predict_routes_unreleased_versions_resolve_refuses_them() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Development, StageState::single("2.0.0"));
    let question = asked(Stage::Development, Some("dev-1"));
    assert_eq!(
        route(&registry, &question).unwrap().primary.version,
        "2.0.0"
    );
    insta::assert_json_snapshot!(resolve(&registry, &question).unwrap_err());
}

#[test]
fn an_unreleased_shadow_is_refused_by_resolve() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Canary, canary(1_000));
    registry.set_release(ORG, release(&["1.0.0", "1.1.0"]));
    insta::assert_json_snapshot!(
        resolve(&registry, &asked(Stage::Canary, Some("dev-1"))).unwrap_err()
    );
}

#[test]
fn a_release_with_another_digest_is_not_a_release_of_this_version() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    let mut tampered = release(&["1.0.0"]);
    if let Some(file) = tampered.targets.get_mut("fraud/1.0.0") {
        file.length += 1;
    }
    registry.set_release(ORG, tampered);
    let problem = resolve(&registry, &asked(Stage::Production, Some("dev-1"))).unwrap_err();
    assert_eq!(problem.status, 409);
    assert!(problem.detail.unwrap().contains("not released"));
}

#[test]
fn an_unknown_model_is_not_found() {
    let registry = registry();
    let question = DeviceQuestion {
        model: "nope",
        ..asked(Stage::Production, Some("dev-1"))
    };
    let from_resolve = resolve(&registry, &question).unwrap_err();
    assert_eq!(route(&registry, &question).unwrap_err(), from_resolve);
    insta::assert_json_snapshot!(from_resolve);
}

#[test]
fn an_empty_stage_is_not_found() {
    let registry = registry();
    let question = asked(Stage::Staging, Some("dev-1"));
    let from_resolve = resolve(&registry, &question).unwrap_err();
    assert_eq!(route(&registry, &question).unwrap_err(), from_resolve);
    insta::assert_json_snapshot!(from_resolve);
}

/// Issue "One home for every use case": for a stage whose version vanished
/// resolve answered 409 and predict 500; both now give the same problem.
#[test]
fn a_vanished_version_is_the_same_conflict_for_resolve_and_predict() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    registry.set_release(ORG, release(&["1.1.0"]));
    registry.remove_version(ORG, MODEL, "1.1.0");
    let question = asked(Stage::Production, Some("dev-1"));
    let from_resolve = resolve(&registry, &question).unwrap_err();
    assert_eq!(route(&registry, &question).unwrap_err(), from_resolve);
    insta::assert_json_snapshot!(from_resolve);
}

#[test]
fn a_vanished_shadow_is_the_same_conflict_for_resolve_and_predict() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Canary, canary(1_000));
    registry.set_release(ORG, release(&["1.0.0", "1.1.0", "2.0.0"]));
    registry.remove_version(ORG, MODEL, "2.0.0");
    let question = asked(Stage::Canary, Some("dev-1"));
    let from_resolve = resolve(&registry, &question).unwrap_err();
    assert_eq!(route(&registry, &question).unwrap_err(), from_resolve);
    insta::assert_json_snapshot!(from_resolve);
}

/// The other half of that defect: a shadow equal to the version a device
/// runs was dropped by predict only; now by both (in the core's routing).
#[test]
fn a_shadow_equal_to_the_primary_is_no_shadow_in_either() {
    let registry = registry();
    let state = RolloutPolicy {
        shadow: Some("1.0.0".into()),
        ..RolloutPolicy::stable("1.0.0")
    }
    .stage_state();
    registry.deploy(ORG, MODEL, Stage::Production, state);
    registry.set_release(ORG, release(&["1.0.0"]));
    let question = asked(Stage::Production, Some("dev-1"));
    assert_eq!(signed(&resolve(&registry, &question).unwrap()).shadow, None);
    assert_eq!(route(&registry, &question).unwrap().shadow, None);
}

#[test]
fn storage_failures_are_internal_and_say_nothing_of_the_cause() {
    for port in [
        "stage_head",
        "version_artifacts",
        "director",
        "routing_salt",
    ] {
        let registry = registry();
        registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
        registry.set_release(ORG, release(&["1.0.0"]));
        registry.fail(port);
        let err = block_on(resolve_device(
            &registry,
            &asked(Stage::Production, Some("dev-1")),
        ))
        .unwrap_err();
        assert!(matches!(err, RegistryError::Store(_)), "{port}: {err:?}");
        assert!(err.to_string().contains(port), "the log keeps the cause");
        let problem = err.to_problem();
        assert_eq!(problem.status, 500, "{port}");
        assert!(!problem.detail.unwrap_or_default().contains(port));
    }
    let registry = registry();
    registry.fail("model_exists");
    let err = block_on(route_device(&registry, &asked(Stage::Production, None))).unwrap_err();
    assert!(matches!(err, RegistryError::Store(_)), "{err:?}");
    insta::assert_json_snapshot!(err.to_problem());
}

#[test]
fn a_deployment_without_its_keys_is_unavailable_not_broken() {
    let registry = registry();
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    registry.set_release(ORG, release(&["1.0.0"]));
    registry.unconfigure("director");
    let problem = resolve(&registry, &asked(Stage::Production, Some("dev-1"))).unwrap_err();
    assert_eq!(problem.status, 503);
    assert!(problem.detail.unwrap().contains("director"));
    // Predict needs no director key.
    assert!(route(&registry, &asked(Stage::Production, Some("dev-1"))).is_ok());
}

#[test]
fn a_move_is_stamped_after_the_entry_it_follows_whatever_its_clock_says() {
    let registry = registry();
    registry.set_release(ORG, release(&["1.0.0", "1.1.0"]));
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.0.0"));
    // A later move, committed by a request whose clock ran ahead…
    registry.set_now(NOW + 10_000);
    registry.deploy(ORG, MODEL, Stage::Production, StageState::single("1.1.0"));
    let question = asked(Stage::Production, Some("dev-1"));
    let before = signed(&resolve(&registry, &question).unwrap()).resolution_version;
    // …then a rollback from a request that read the clock earlier.
    registry.set_now(NOW);
    let entry = roll_back(&registry, "slow request");
    assert_eq!(entry.at, NOW + 10_001);
    // Its answers outnumber every answer of the state before it.
    let after = signed(&resolve(&registry, &question).unwrap());
    assert_eq!(after.version, "1.0.0");
    assert!(
        after.resolution_version > before,
        "{} > {before}",
        after.resolution_version
    );
}
