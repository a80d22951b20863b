//! Promote, rollout, clear and rollback against the in-memory adapters:
//! each gate failing alone, force rules, races for the next history entry,
//! and what every move commits with it (history entry, audit entry, webhook
//! event, guardrails).

#![expect(
    clippy::unwrap_used,
    clippy::result_large_err,
    reason = "tests compare whole problems"
)]

use outpost_core::Problem;
use outpost_core::api::{PromoteRequest, RollbackRequest, RolloutRequest};
use outpost_core::auth::Role;
use outpost_core::digest::Digest;
use outpost_core::guardrail::Guardrails;
use outpost_core::lifecycle::{Deployment, Move, Stage, StageState};
use outpost_core::routing::Arm;
use outpost_core::trust::{Targets, target_path};
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::ports::{Actor, Change, TrustRole};
use outpost_registry::stages::{Moved, clear_rollout, promote, rollback, set_rollout};
use pollster::block_on;
use serde_json::json;

const ORG: &str = "acme";
const MODEL: &str = "fraud";

fn actor(role: Role) -> Actor {
    Actor::Caller {
        token_id: format!("tok_{}", role.as_str()),
        name: format!("ci-{}", role.as_str()),
        role,
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

fn release_all(registry: &MemoryRegistry) {
    let targets = ["1.0.0", "1.1.0", "2.0.0"]
        .iter()
        .map(|v| {
            (
                target_path(MODEL, v),
                serde_json::from_value(json!({"length": v.len(), "hashes": {"sha256": Digest::of(v.as_bytes()).hex()}}))
                    .unwrap(),
            )
        })
        .collect();
    let targets = Targets {
        kind: "targets".into(),
        spec_version: "1.0.31".into(),
        version: 1,
        expires: "2099-01-01T00:00:00Z".into(),
        targets,
    };
    registry.put_trust_file(
        ORG,
        TrustRole::Targets,
        1,
        outpost_core::trust::Envelope {
            signed: serde_json::to_value(targets).unwrap(),
            signatures: Vec::new(),
        },
    );
}

fn promote_as(
    registry: &MemoryRegistry,
    role: Role,
    stage: Stage,
    version: &str,
    force: bool,
    reason: &str,
) -> Result<Moved, Problem> {
    let request = PromoteRequest {
        version: version.into(),
        reason: reason.into(),
        force,
    };
    block_on(promote(registry, ORG, &actor(role), MODEL, stage, &request))
        .map_err(|e| e.to_problem())
}

fn to(registry: &MemoryRegistry, stage: Stage, version: &str) -> Result<Moved, Problem> {
    promote_as(registry, Role::Operator, stage, version, false, "")
}

fn entry(moved: Moved) -> Deployment {
    match moved {
        Moved::Entry(entry) => entry,
        Moved::Unchanged(state) => panic!("expected a move, the stage stayed {state:?}"),
    }
}

fn rollout(
    registry: &MemoryRegistry,
    stage: Stage,
    request: RolloutRequest,
) -> Result<Moved, Problem> {
    block_on(set_rollout(
        registry,
        ORG,
        &actor(Role::Operator),
        MODEL,
        stage,
        &request,
    ))
    .map_err(|e| e.to_problem())
}

fn canary(version: &str, weight: u32) -> Option<Arm> {
    Some(Arm {
        version: version.into(),
        weight,
    })
}

#[test]
fn a_promotion_commits_its_entry_audit_and_webhook_together() {
    let registry = registry();
    let moved = entry(to(&registry, Stage::Staging, "1.0.0").unwrap());
    assert_eq!((moved.seq, moved.kind), (1, Move::Promote));
    assert_eq!(moved.to, StageState::single("1.0.0"));
    assert_eq!(moved.actor, "ci-operator", "the history names the token");
    assert_eq!(registry.history(ORG, MODEL, Stage::Staging), vec![moved]);
    let audit = registry.audit_log(ORG);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "stage.promote");
    assert_eq!(audit[0].target, "models/fraud/stages/staging");
    assert_eq!(audit[0].actor.as_deref(), Some("tok_operator"));
    let outbox = registry.outbox(ORG);
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].0, "stage.promoted");
    assert_eq!(outbox[0].1["seq"], 1);
}

#[test]
fn promoting_what_is_there_already_writes_nothing() {
    let registry = registry();
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    assert_eq!(
        to(&registry, Stage::Staging, "1.0.0").unwrap(),
        Moved::Unchanged(StageState::single("1.0.0"))
    );
    assert_eq!(registry.history(ORG, MODEL, Stage::Staging).len(), 1);
    assert_eq!(registry.audit_log(ORG).len(), 1);
}

#[test]
fn an_unknown_model_or_version_is_not_found() {
    let registry = registry();
    let request = PromoteRequest {
        version: "1.0.0".into(),
        reason: String::new(),
        force: false,
    };
    let unknown_model = block_on(promote(
        &registry,
        ORG,
        &actor(Role::Operator),
        "nope",
        Stage::Staging,
        &request,
    ))
    .unwrap_err()
    .to_problem();
    assert_eq!(unknown_model.status, 404);
    insta::assert_json_snapshot!(
        "unknown_version",
        to(&registry, Stage::Staging, "9.9.9").unwrap_err()
    );
}

#[test]
fn a_missing_artifact_fails_the_artifact_gate() {
    let registry = registry();
    registry.set_blob(ORG, Digest::of(b"1.0.0"), None);
    insta::assert_json_snapshot!(to(&registry, Stage::Staging, "1.0.0").unwrap_err());
    assert!(registry.history(ORG, MODEL, Stage::Staging).is_empty());
    assert!(registry.audit_log(ORG).is_empty());
}

#[test]
fn an_overwritten_artifact_fails_the_digest_gate() {
    let registry = registry();
    registry.set_blob(ORG, Digest::of(b"1.0.0"), Some(b"1.0.1".to_vec()));
    let problem = to(&registry, Stage::Staging, "1.0.0").unwrap_err();
    assert_eq!(problem.extensions["failed_gates"][0]["gate"], "digest");
}

#[test]
fn an_unsafe_pickle_fails_the_safety_gate_and_cannot_be_forced() {
    let registry = registry();
    registry.edit_gate_facts(ORG, MODEL, "1.0.0", |facts| {
        facts.format = "pickle".into();
        facts.status = "unsafe".into();
        facts.status_reason = Some("calls os.system".into());
    });
    let problem = promote_as(
        &registry,
        Role::Admin,
        Stage::Staging,
        "1.0.0",
        true,
        "trust me",
    )
    .unwrap_err();
    assert_eq!(problem.extensions["failed_gates"][0]["gate"], "safety");
    assert_eq!(problem.extensions["forceable"], false);
}

#[test]
fn a_model_the_runtime_cannot_load_fails_the_loadable_gate() {
    let registry = registry();
    registry.make_unloadable(Digest::of(b"1.0.0"));
    let problem = to(&registry, Stage::Staging, "1.0.0").unwrap_err();
    assert_eq!(problem.extensions["failed_gates"][0]["gate"], "loadable");
    assert!(problem.detail.unwrap().contains("TreeEnsembleRegressor"));
}

/// The runtime lives in another Worker: not reaching it is an error (5xx),
/// never a verdict that the model does not load, and nothing moves.
#[test]
fn a_runtime_that_cannot_be_asked_refuses_the_move_as_unavailable() {
    let registry = registry();
    registry.fail("check_loadable");
    let problem = to(&registry, Stage::Staging, "1.0.0").unwrap_err();
    assert!(problem.status >= 500, "{problem:?}");
    assert!(problem.extensions.get("failed_gates").is_none());
    registry.heal("check_loadable");
    assert!(to(&registry, Stage::Staging, "1.0.0").is_ok());
}

#[test]
fn production_needs_staging_first_unless_an_admin_forces_it_with_a_reason() {
    let registry = registry();
    insta::assert_json_snapshot!(to(&registry, Stage::Production, "1.0.0").unwrap_err());
    release_all(&registry);
    let operator = promote_as(
        &registry,
        Role::Operator,
        Stage::Production,
        "1.0.0",
        true,
        "hotfix",
    );
    assert_eq!(operator.unwrap_err().status, 403);
    let no_reason = promote_as(
        &registry,
        Role::Admin,
        Stage::Production,
        "1.0.0",
        true,
        " ",
    );
    assert_eq!(no_reason.unwrap_err().status, 422);
    let forced = entry(
        promote_as(
            &registry,
            Role::Admin,
            Stage::Production,
            "1.0.0",
            true,
            "hotfix",
        )
        .unwrap(),
    );
    assert_eq!(forced.forced, ["staging"]);
    assert_eq!(
        registry.audit_log(ORG)[0].details["forced"],
        json!(["staging"])
    );
}

#[test]
fn canary_and_production_need_a_release_which_no_force_skips() {
    let registry = registry();
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    let problem =
        promote_as(&registry, Role::Admin, Stage::Canary, "1.0.0", true, "now").unwrap_err();
    assert_eq!(problem.extensions["failed_gates"][0]["gate"], "release");
    release_all(&registry);
    to(&registry, Stage::Canary, "1.0.0").unwrap();
}

#[test]
fn a_move_that_loses_the_race_re_reads_and_appends_after_the_winner() {
    let registry = registry();
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    // Another request appends seq 2 after this one read seq 1.
    registry.commit_first(
        ORG,
        Change::Deployment(Deployment {
            model: MODEL.into(),
            stage: Stage::Staging,
            seq: 2,
            kind: Move::Promote,
            from: StageState::single("1.0.0"),
            to: StageState::single("1.1.0"),
            actor: "someone".into(),
            reason: String::new(),
            at: 0,
            forced: Vec::new(),
        }),
    );
    let moved = entry(to(&registry, Stage::Staging, "2.0.0").unwrap());
    assert_eq!(moved.seq, 3);
    assert_eq!(
        moved.from,
        StageState::single("1.1.0"),
        "decided on what won"
    );
}

#[test]
fn a_stage_that_keeps_moving_is_a_conflict() {
    let registry = registry();
    registry.fail("commit_conflict");
    insta::assert_json_snapshot!(to(&registry, Stage::Staging, "1.0.0").unwrap_err());
}

#[test]
fn a_rollout_with_canary_shadow_and_guardrails_is_one_entry() {
    let registry = registry();
    release_all(&registry);
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        to(&registry, Stage::Staging, version).unwrap();
    }
    to(&registry, Stage::Canary, "1.0.0").unwrap();
    let guardrails: Guardrails =
        serde_json::from_value(json!({"max_error_rate": 0.05, "min_calls": 10})).unwrap();
    let moved = entry(
        rollout(
            &registry,
            Stage::Canary,
            RolloutRequest {
                canary: canary("1.1.0", 1_000),
                shadow: Some("2.0.0".into()),
                guardrails: Some(guardrails.clone()),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    assert_eq!(moved.kind, Move::Rollout);
    assert_eq!(moved.to.targets.len(), 2);
    assert_eq!(moved.to.shadow.as_deref(), Some("2.0.0"));
    let (watched, _, policy) = registry.guardrails_of(ORG, MODEL, Stage::Canary).unwrap();
    assert_eq!((watched.as_str(), policy), ("1.1.0", guardrails));
    assert_eq!(
        registry.outbox(ORG).last().unwrap().0,
        "stage.rollout_changed"
    );
    // Any later move of the stage ends the guardrails.
    to(&registry, Stage::Canary, "1.1.0").unwrap();
    assert_eq!(registry.guardrails_of(ORG, MODEL, Stage::Canary), None);
}

#[test]
fn every_version_entering_by_rollout_passes_the_gates() {
    let registry = registry();
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    registry.set_blob(ORG, Digest::of(b"1.1.0"), None);
    let problem = rollout(
        &registry,
        Stage::Staging,
        RolloutRequest {
            canary: canary("1.1.0", 500),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(problem.extensions["failed_gates"][0]["gate"], "artifact");
}

#[test]
fn rollout_requests_are_checked_before_anything_moves() {
    let registry = registry();
    let no_stable = rollout(
        &registry,
        Stage::Staging,
        RolloutRequest {
            canary: canary("1.1.0", 500),
            ..Default::default()
        },
    );
    insta::assert_json_snapshot!("no_stable", no_stable.unwrap_err());
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    let overweight = rollout(
        &registry,
        Stage::Staging,
        RolloutRequest {
            canary: canary("1.1.0", 20_000),
            ..Default::default()
        },
    );
    insta::assert_json_snapshot!("overweight", overweight.unwrap_err());
    let unwatched = rollout(
        &registry,
        Stage::Staging,
        RolloutRequest {
            shadow: Some("2.0.0".into()),
            guardrails: Some(serde_json::from_value(json!({"max_error_rate": 0.1})).unwrap()),
            ..Default::default()
        },
    );
    insta::assert_json_snapshot!("guardrails_without_canary", unwatched.unwrap_err());
    assert_eq!(registry.history(ORG, MODEL, Stage::Staging).len(), 1);
}

#[test]
fn clearing_a_rollout_keeps_the_stable_version() {
    let registry = registry();
    let operator = actor(Role::Operator);
    let empty = block_on(clear_rollout(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        "",
    ));
    insta::assert_json_snapshot!("nothing_to_clear", empty.unwrap_err().to_problem());
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    to(&registry, Stage::Staging, "1.1.0").unwrap();
    rollout(
        &registry,
        Stage::Staging,
        RolloutRequest {
            canary: canary("1.0.0", 500),
            ..Default::default()
        },
    )
    .unwrap();
    let (cleared, state) = block_on(clear_rollout(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        "done",
    ))
    .unwrap();
    assert_eq!(cleared.unwrap().reason, "done");
    assert_eq!(state, StageState::single("1.1.0"));
    let (again, _) = block_on(clear_rollout(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        "",
    ))
    .unwrap();
    assert_eq!(again, None, "nothing to clear twice");
}

#[test]
fn a_rollback_is_a_new_entry_back_to_an_earlier_state() {
    let registry = registry();
    let operator = actor(Role::Operator);
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    to(&registry, Stage::Staging, "1.1.0").unwrap();
    to(&registry, Stage::Staging, "2.0.0").unwrap();
    let back = block_on(rollback(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        &RollbackRequest::default(),
    ))
    .unwrap();
    assert_eq!((back.seq, back.kind), (4, Move::Rollback));
    assert_eq!(back.to, StageState::single("1.1.0"));
    assert_eq!(back.reason, "rollback");
    assert_eq!(registry.outbox(ORG).last().unwrap().0, "stage.rolled_back");
    let named = block_on(rollback(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        &RollbackRequest {
            version: Some("1.0.0".into()),
            reason: "bad 1.1.0".into(),
        },
    ))
    .unwrap();
    assert_eq!(named.to, StageState::single("1.0.0"));
}

#[test]
fn a_rollback_needs_an_earlier_state_whose_versions_still_exist() {
    let registry = registry();
    let operator = actor(Role::Operator);
    to(&registry, Stage::Staging, "1.0.0").unwrap();
    let nothing_earlier = block_on(rollback(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        &RollbackRequest::default(),
    ));
    insta::assert_json_snapshot!("nothing_earlier", nothing_earlier.unwrap_err().to_problem());
    to(&registry, Stage::Staging, "1.1.0").unwrap();
    registry.remove_version(ORG, MODEL, "1.0.0");
    let deleted = block_on(rollback(
        &registry,
        ORG,
        &operator,
        MODEL,
        Stage::Staging,
        &RollbackRequest::default(),
    ));
    insta::assert_json_snapshot!("deleted", deleted.unwrap_err().to_problem());
    assert_eq!(registry.history(ORG, MODEL, Stage::Staging).len(), 2);
}

/// The guardrail trip's path: the cron appends the canary-less state with
/// its measurements in the audit details and extra webhook events.
#[test]
fn a_guardrail_trip_rolls_the_canary_back_as_the_cron_and_announces_it() {
    use outpost_core::guardrail::without_canary;
    use outpost_registry::stages::{MoveExtras, StageMove, append_move};
    let registry = registry();
    release_all(&registry);
    for version in ["1.0.0", "1.1.0"] {
        to(&registry, Stage::Staging, version).unwrap();
    }
    to(&registry, Stage::Canary, "1.0.0").unwrap();
    rollout(
        &registry,
        Stage::Canary,
        RolloutRequest {
            canary: canary("1.1.0", 3_000),
            guardrails: Some(serde_json::from_value(json!({"max_error_rate": 0.05})).unwrap()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut extras = MoveExtras::default();
    extras.details.insert(
        "guardrail".into(),
        json!({"breaches": ["error rate 0.3 > 0.05"]}),
    );
    extras.events.push((
        "guardrail.tripped",
        json!({"model": MODEL, "canary": "1.1.0"}),
    ));
    let decide = |from: &StageState| Ok(without_canary(from, "1.1.0"));
    let entry = block_on(append_move(
        &registry,
        &StageMove {
            org: ORG,
            model: MODEL,
            stage: Stage::Canary,
            kind: Move::Rollback,
            actor: &Actor::Cron,
            reason: "guardrail tripped",
            forced: &[],
        },
        &decide,
        extras,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(entry.to, StageState::single("1.0.0"));
    assert_eq!(entry.actor, "cron");
    let audit = registry.audit_log(ORG).pop().unwrap();
    assert_eq!(audit.actor.as_deref(), Some("cron"));
    assert_eq!(audit.role.as_deref(), Some("operator"));
    assert_eq!(
        audit.details["guardrail"]["breaches"][0],
        "error rate 0.3 > 0.05"
    );
    let events: Vec<&str> = registry.outbox(ORG).iter().map(|(e, _)| *e).collect();
    assert_eq!(
        &events[events.len() - 2..],
        ["stage.rolled_back", "guardrail.tripped"]
    );
    assert_eq!(registry.guardrails_of(ORG, MODEL, Stage::Canary), None);
    // A second trip finds no canary: nothing is written.
    let again = block_on(append_move(
        &registry,
        &StageMove {
            org: ORG,
            model: MODEL,
            stage: Stage::Canary,
            kind: Move::Rollback,
            actor: &Actor::Cron,
            reason: "guardrail tripped",
            forced: &[],
        },
        &decide,
        MoveExtras::default(),
    ))
    .unwrap();
    assert_eq!(again, None);
}

#[test]
fn a_move_that_fails_to_commit_writes_nothing() {
    let registry = registry();
    registry.fail("commit");
    let problem = to(&registry, Stage::Staging, "1.0.0").unwrap_err();
    assert_eq!(problem.status, 500);
    assert!(registry.history(ORG, MODEL, Stage::Staging).is_empty());
    assert!(registry.outbox(ORG).is_empty());
}

#[test]
fn a_metric_below_the_policy_fails_the_policy_gate_which_an_admin_may_force() {
    use outpost_core::api::ModelPolicies;
    let registry = registry();
    registry.edit_gate_facts(ORG, MODEL, "1.0.0", |facts| {
        facts.metrics.insert("f1".into(), 0.8);
    });
    let policies: ModelPolicies = serde_json::from_value(
        json!({"promotion": {"rules": [{"requirement": "f1>=0.85", "stages": ["staging"]}]}}),
    )
    .unwrap();
    block_on(outpost_registry::stages::set_policies(
        &registry,
        ORG,
        &actor(Role::Operator),
        MODEL,
        policies,
    ))
    .unwrap();
    let problem = to(&registry, Stage::Staging, "1.0.0").unwrap_err();
    assert_eq!(problem.extensions["failed_gates"][0]["gate"], "policy");
    assert_eq!(problem.extensions["forceable"], true);
    let forced = entry(
        promote_as(
            &registry,
            Role::Admin,
            Stage::Staging,
            "1.0.0",
            true,
            "known gap",
        )
        .unwrap(),
    );
    assert_eq!(forced.forced, ["policy"]);
    // Another stage is not held to the staging rule.
    entry(to(&registry, Stage::Development, "1.0.0").unwrap());
}

#[test]
fn an_invalid_policy_is_refused_when_it_is_set() {
    use outpost_core::api::ModelPolicies;
    let registry = registry();
    let policies: ModelPolicies =
        serde_json::from_value(json!({"retention": {"min_metric": "f1==0.9"}})).unwrap();
    let err = block_on(outpost_registry::stages::set_policies(
        &registry,
        ORG,
        &actor(Role::Operator),
        MODEL,
        policies,
    ))
    .unwrap_err();
    insta::assert_json_snapshot!(err.to_problem());
    assert!(registry.audit_log(ORG).is_empty());
}

fn watched(registry: &MemoryRegistry) -> outpost_registry::guardrails::WatchedCanary {
    let (canary, since, policy) = registry.guardrails_of(ORG, MODEL, Stage::Canary).unwrap();
    outpost_registry::guardrails::WatchedCanary {
        org: ORG.into(),
        model: MODEL.into(),
        stage: Stage::Canary,
        canary,
        since,
        policy,
        drift_notified: false,
    }
}

fn guarded_canary(registry: &MemoryRegistry) {
    release_all(registry);
    for version in ["1.0.0", "1.1.0"] {
        to(registry, Stage::Staging, version).unwrap();
    }
    to(registry, Stage::Canary, "1.0.0").unwrap();
    rollout(
        registry,
        Stage::Canary,
        RolloutRequest {
            canary: canary("1.1.0", 3_000),
            guardrails: Some(
                serde_json::from_value(json!({"max_error_rate": 0.05, "min_calls": 10})).unwrap(),
            ),
            ..Default::default()
        },
    )
    .unwrap();
}

fn window(calls: usize, errors: usize) -> outpost_core::telemetry::TelemetryWindow {
    let mut window = outpost_core::telemetry::TelemetryWindow::new(Vec::new());
    for _ in 0..calls - errors {
        window.record_call(&[], 0, 2_000.0);
    }
    for _ in 0..errors {
        window.record_error(2_000.0);
    }
    window
}

#[test]
fn the_cron_trips_a_failing_canary_through_the_guardrail_check() {
    use outpost_registry::guardrails::{CheckOutcome, check_guardrail};
    let registry = registry();
    guarded_canary(&registry);
    registry.add_window(ORG, (MODEL, "1.1.0", Stage::Canary), window(20, 6));
    let outcome = block_on(check_guardrail(&registry, &watched(&registry))).unwrap();
    let CheckOutcome::RolledBack { reason, .. } = outcome else {
        panic!("expected a rollback, got {outcome:?}");
    };
    assert!(reason.contains("1.1.0"), "{reason}");
    let head = registry.history(ORG, MODEL, Stage::Canary).pop().unwrap();
    assert_eq!((head.kind, head.actor.as_str()), (Move::Rollback, "cron"));
    assert_eq!(head.to, StageState::single("1.0.0"));
    let audit = registry.audit_log(ORG).pop().unwrap();
    assert!(audit.details["guardrail"]["breaches"].is_array());
    assert!(
        registry
            .outbox(ORG)
            .iter()
            .any(|(e, _)| *e == "guardrail.tripped")
    );
}

#[test]
fn a_healthy_canary_gets_its_verdict_recorded_and_stays() {
    use outpost_registry::guardrails::{CheckOutcome, check_guardrail};
    let registry = registry();
    guarded_canary(&registry);
    registry.add_window(ORG, (MODEL, "1.1.0", Stage::Canary), window(20, 0));
    let entries = registry.audit_log(ORG).len();
    let outcome = block_on(check_guardrail(&registry, &watched(&registry))).unwrap();
    assert!(matches!(outcome, CheckOutcome::Checked(_)), "{outcome:?}");
    assert_eq!(registry.recorded_checks(ORG, MODEL, Stage::Canary).len(), 1);
    assert_eq!(
        registry.audit_log(ORG).len(),
        entries,
        "a verdict is not a change"
    );
    assert_eq!(
        registry
            .history(ORG, MODEL, Stage::Canary)
            .pop()
            .unwrap()
            .kind,
        Move::Rollout
    );
}

#[test]
fn a_canary_whose_outcomes_fall_under_a_quality_floor_is_rolled_back() {
    use outpost_registry::guardrails::{CheckOutcome, check_guardrail};
    // Each floor alone: F1, precision and recall of class 1 are all 0.5 on
    // the four outcomes below.
    for (floor, metric) in [
        ("min_f1", "f1"),
        ("min_precision", "precision"),
        ("min_recall", "recall"),
    ] {
        let registry = registry();
        release_all(&registry);
        for version in ["1.0.0", "1.1.0"] {
            to(&registry, Stage::Staging, version).unwrap();
        }
        to(&registry, Stage::Canary, "1.0.0").unwrap();
        rollout(
            &registry,
            Stage::Canary,
            RolloutRequest {
                canary: canary("1.1.0", 3_000),
                guardrails: Some(
                    serde_json::from_value(json!({floor: 0.8, "min_outcomes": 4, "min_calls": 10}))
                        .unwrap(),
                ),
                ..Default::default()
            },
        )
        .unwrap();
        registry.add_window(ORG, (MODEL, "1.1.0", Stage::Canary), window(20, 0));
        // Too few outcomes yet: the canary stays.
        let outcome = block_on(check_guardrail(&registry, &watched(&registry))).unwrap();
        assert!(
            matches!(outcome, CheckOutcome::Checked(_)),
            "{floor}: {outcome:?}"
        );
        // Four outcomes, half of them wrong.
        crate::monitors::poor_outcomes(&registry, (ORG, MODEL), ("1.1.0", Stage::Canary));
        let outcome = block_on(check_guardrail(&registry, &watched(&registry))).unwrap();
        let CheckOutcome::RolledBack { reason, .. } = outcome else {
            panic!("{floor}: expected a rollback, got {outcome:?}");
        };
        assert!(
            reason.contains(&format!("{metric} 0.5 < 0.8")),
            "{floor}: {reason}"
        );
    }
}
