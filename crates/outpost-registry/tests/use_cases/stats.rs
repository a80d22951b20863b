//! Registry statistics against the in-memory adapters: holdings per model
//! and organisation, what each stage routes to, and usage over the last day
//! and month, downloads attributed through the artifacts' digests.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::digest::Digest;
use outpost_core::lifecycle::{Stage, StageState};
use outpost_core::routing::{Arm, RolloutPolicy};
use outpost_core::stats::{HOUR_MS, Usage, UsageKind};
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::stats::registry_stats;
use pollster::block_on;

const ORG: &str = "acme";

#[test]
fn statistics_count_holdings_stages_and_usage_of_one_organisation() {
    let registry = MemoryRegistry::new();
    let now = 10_000 * HOUR_MS + 5;
    registry.set_now(now);
    registry.add_model(ORG, "fraud");
    registry.add_model(ORG, "churn");
    registry.add_version(ORG, "fraud", "1.0.0", b"forest-a");
    registry.add_version(ORG, "fraud", "1.1.0", b"forest-b!");
    // The same bytes again: stored once.
    registry.add_version(ORG, "churn", "0.1.0", b"forest-a");
    registry.add_model("globex", "other");
    registry.add_version("globex", "other", "9.9.9", b"not acme's");
    registry.deploy(ORG, "fraud", Stage::Staging, StageState::single("1.1.0"));
    registry.deploy(
        ORG,
        "fraud",
        Stage::Production,
        RolloutPolicy {
            stable: "1.0.0".into(),
            canary: Some(Arm {
                version: "1.1.0".into(),
                weight: 1000,
            }),
            variants: vec![],
            shadow: None,
        }
        .stage_state(),
    );
    let shared = Digest::of(b"forest-a").to_string();
    registry.count_usage(ORG, UsageKind::Resolve, "fraud", now, 7);
    registry.count_usage(ORG, UsageKind::Resolve, "fraud", now - 2 * 24 * HOUR_MS, 5);
    registry.count_usage(
        ORG,
        UsageKind::Resolve,
        "fraud",
        now - 31 * 24 * HOUR_MS,
        100,
    );
    registry.count_usage(ORG, UsageKind::Download, &shared, now - HOUR_MS, 2);
    registry.count_usage("globex", UsageKind::Resolve, "other", now, 1_000);

    let stats = block_on(registry_stats(&registry, ORG)).unwrap();
    assert_eq!((stats.models, stats.versions, stats.artifacts), (2, 3, 2));
    assert_eq!(stats.generated_at, now);
    assert_eq!(stats.storage.logical_bytes, 8 + 9 + 8);
    assert_eq!(stats.storage.stored_bytes, 8 + 9);
    assert!((stats.storage.dedup_ratio - 25.0 / 17.0).abs() < 1e-12);
    assert_eq!(
        stats.versions_per_stage.into_iter().collect::<Vec<_>>(),
        [(Stage::Staging, 1), (Stage::Production, 2)]
    );
    assert_eq!(
        stats.resolves,
        Usage {
            last_24h: 7,
            last_30d: 12
        },
        "not globex's, not older than 30 days"
    );
    let names: Vec<&str> = stats.per_model.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(names, ["churn", "fraud"]);
    let (churn, fraud) = (&stats.per_model[0], &stats.per_model[1]);
    assert_eq!(fraud.stages[&Stage::Production], ["1.0.0", "1.1.0"]);
    assert_eq!(fraud.resolves.last_24h, 7);
    assert_eq!(
        (fraud.storage.logical_bytes, fraud.storage.stored_bytes),
        (17, 17)
    );
    assert_eq!(
        fraud.downloads,
        Usage {
            last_24h: 2,
            last_30d: 2
        }
    );
    assert_eq!(churn.downloads, fraud.downloads, "the artifact both hold");
    assert!(churn.stages.is_empty());
}

#[test]
fn a_failing_store_is_an_error_not_empty_statistics() {
    let registry = MemoryRegistry::new();
    registry.fail("usage");
    assert!(block_on(registry_stats(&registry, ORG)).is_err());
}
