//! Importing an exported model against the in-memory adapters: what comes
//! along (versions as they were, profiles, history and audit entries kept
//! as history), what the importing registry decides itself (safety), what
//! stops an import with nothing written, and that importing twice changes
//! nothing.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use outpost_core::ProblemKind;
use outpost_core::api::{VersionRecord, VersionStatus};
use outpost_core::audit::{AuditEntry, Outcome, chain_after};
use outpost_core::auth::Role;
use outpost_core::bundle::{ExportSource, ExportedModel, ImportRecord, ModelExport};
use outpost_core::lifecycle::{Deployment, Move, Stage, StageState};
use outpost_core::profile::ReferenceProfile;
use outpost_core::version::ArtifactFormat;
use outpost_registry::RegistryError;
use outpost_registry::imports::{import_model, import_records};
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::ports::{Actor, Change, Deployments, Models, Profiles};
use outpost_registry::versions::register_version;
use pollster::block_on;
use serde_json::json;

const SOURCE: &str = "acme";
const TARGET: &str = "beta";
const MODEL: &str = "fraud";

fn admin() -> Actor {
    Actor::Caller {
        token_id: "tok_admin".into(),
        name: "importer".into(),
        role: Role::Admin,
    }
}

fn version(v: &str, bytes: &[u8], at: i64, parent: Option<&str>) -> VersionRecord {
    VersionRecord {
        model: MODEL.into(),
        version: v.into(),
        digest: outpost_core::digest::Digest::of(bytes),
        size: bytes.len() as u64,
        format: ArtifactFormat::Other,
        framework: Some("sklearn".into()),
        schema: None,
        metrics: BTreeMap::from([("f1".to_owned(), 0.9)]),
        params: serde_json::Map::new(),
        dataset_version: Some("2026-10".into()),
        parent_version: parent.map(str::to_owned),
        tags: vec!["fraud".into()],
        notes: format!("notes of {v}"),
        author: "original-author".into(),
        created_at: at,
        status: VersionStatus::Ready,
        status_reason: None,
    }
}

/// An export of two versions (the second a child of the first) with a
/// profile, a deployment and the source's audit entries about them.
fn exported() -> ModelExport {
    let history = vec![Deployment {
        model: MODEL.into(),
        stage: Stage::Production,
        seq: 1,
        kind: Move::Promote,
        from: StageState::default(),
        to: StageState::single("1.0.0"),
        actor: "releaser".into(),
        reason: "launch".into(),
        at: 2_000,
        forced: vec![],
    }];
    ModelExport {
        source: ExportSource {
            registry: "http://source.example".into(),
            org: SOURCE.into(),
            exported_at: 9_000,
        },
        model: ExportedModel {
            name: MODEL.into(),
            description: "card fraud".into(),
            owner: Some("risk-team".into()),
            tags: vec!["payments".into()],
            primary_metric: None,
            created_at: 500,
            created_by: Some("founder".into()),
        },
        versions: vec![
            version("1.1.0", b"weights two", 3_000, Some("1.0.0")),
            version("1.0.0", b"weights one", 1_000, None),
        ],
        profiles: BTreeMap::from([(
            "1.0.0".to_owned(),
            ReferenceProfile::from_columns(&[(
                "amount".to_owned(),
                vec!["1".into(), "2".into(), "3".into()],
            )])
            .unwrap(),
        )]),
        history,
        audit: vec![chain_after(
            AuditEntry {
                org: SOURCE.into(),
                seq: 0,
                at: 1_000,
                actor: Some("tok_dev".into()),
                role: Some("developer".into()),
                action: "version.register".into(),
                target: "models/fraud/versions/1.0.0".into(),
                outcome: Outcome::Ok,
                details: json!({"status": "ready"}),
                prev_hash: String::new(),
                hash: String::new(),
            },
            None,
        )],
        release: None,
    }
}

fn import(target: &MemoryRegistry, export: &ModelExport) -> Result<bool, RegistryError> {
    block_on(import_model(target, TARGET, &admin(), MODEL, export)).map(|o| o.unchanged)
}

#[test]
fn an_import_keeps_versions_as_they_were_and_history_as_history() {
    let export = exported();
    let target = MemoryRegistry::new();
    target.upload(TARGET, b"weights one");
    target.upload(TARGET, b"weights two");

    assert!(!import(&target, &export).unwrap());
    for exported in &export.versions {
        let here = target.registered(TARGET, MODEL, &exported.version).unwrap();
        assert_eq!(&here, exported, "registered exactly as exported");
    }
    assert!(
        block_on(target.stage_heads(TARGET, MODEL))
            .unwrap()
            .is_empty(),
        "stages are not moved by an import"
    );
    let records = block_on(import_records(&target, TARGET, MODEL)).unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.added, ["1.0.0", "1.1.0"], "parents first");
    assert!(record.present.is_empty());
    assert_eq!(record.history, export.history);
    assert_eq!(record.audit, export.audit);
    assert_eq!(record.imported_by, "importer");
    assert_eq!(record.id, export.identity().unwrap());
    assert_eq!(
        block_on(target.reference_profile(TARGET, MODEL, "1.0.0")).unwrap(),
        export.profiles.get("1.0.0").cloned()
    );

    let entries = target.audit_log(TARGET);
    let import_entry = entries.last().unwrap();
    assert_eq!(import_entry.action, "model.import");
    assert_eq!(import_entry.target, "models/fraud");
    assert_eq!(import_entry.details["added"], json!(["1.0.0", "1.1.0"]));

    // Again: nothing changes, nothing is audited.
    assert!(import(&target, &export).unwrap());
    assert_eq!(target.audit_log(TARGET).len(), entries.len());
    assert_eq!(
        block_on(import_records(&target, TARGET, MODEL))
            .unwrap()
            .len(),
        1
    );

    // A later export with one more version adds only that one.
    let mut later = export.clone();
    later.source.exported_at += 1;
    later
        .versions
        .push(version("1.2.0", b"weights three", 4_000, Some("1.1.0")));
    target.upload(TARGET, b"weights three");
    assert!(!import(&target, &later).unwrap());
    let records = block_on(import_records(&target, TARGET, MODEL)).unwrap();
    assert_eq!(records[1].added, ["1.2.0"]);
    assert_eq!(records[1].present, ["1.0.0", "1.1.0"]);
}

#[test]
fn the_importing_registry_decides_safety_itself() {
    let mut export = exported();
    export.versions = vec![version("1.0.0", b"import os; os.system('x')", 1_000, None)];
    export.profiles.clear();
    let target = MemoryRegistry::new();
    target.upload(TARGET, b"import os; os.system('x')");
    import(&target, &export).unwrap();
    let here = target.registered(TARGET, MODEL, "1.0.0").unwrap();
    assert_eq!(here.status, VersionStatus::Unsafe, "the bundle said ready");
}

#[test]
fn a_refused_import_writes_nothing() {
    let export = exported();
    let target = MemoryRegistry::new();
    target.upload(TARGET, b"weights one");
    // The second artifact was never uploaded.
    let err = import(&target, &export).unwrap_err();
    assert!(
        matches!(err, RegistryError::ArtifactNotUploaded { .. }),
        "{err}"
    );
    assert!(target.registered(TARGET, MODEL, "1.0.0").is_none());
    assert!(
        !block_on(target.model_exists(TARGET, MODEL)).unwrap(),
        "the model is not created either"
    );
    assert!(
        target
            .audit_log(TARGET)
            .iter()
            .all(|e| e.action != "model.import")
    );

    // A version that exists here with another artifact: 409, nothing written.
    target.add_model(TARGET, MODEL);
    let other = target.upload(TARGET, b"something else");
    let request =
        serde_json::from_value(json!({"version": "1.1.0", "digest": other, "size": 14})).unwrap();
    block_on(register_version(&target, TARGET, &admin(), MODEL, &request)).unwrap();
    target.upload(TARGET, b"weights two");
    let err = import(&target, &export).unwrap_err();
    assert!(matches!(err, RegistryError::ImportConflict { .. }), "{err}");
    assert_eq!(err.kind(), ProblemKind::Conflict);
    assert!(target.registered(TARGET, MODEL, "1.0.0").is_none());

    // A parent neither exported nor here.
    let mut orphan = export.clone();
    orphan.versions.retain(|v| v.version == "1.1.0");
    orphan.profiles.clear();
    let fresh = MemoryRegistry::new();
    fresh.upload(TARGET, b"weights two");
    let err = import(&fresh, &orphan).unwrap_err();
    assert!(matches!(err, RegistryError::ParentMissing { .. }), "{err}");
}

#[test]
fn an_export_that_contradicts_itself_is_refused() {
    let export = exported();
    let target = MemoryRegistry::new();

    let mut changed = export.clone();
    changed.audit[0].target = "models/other".into();
    let err = import(&target, &changed).unwrap_err();
    assert!(matches!(err, RegistryError::InvalidImport(_)), "{err}");
    assert_eq!(err.kind(), ProblemKind::UnprocessableContent);
    assert!(err.to_string().contains("audit entry"), "{err}");

    let err = block_on(import_model(&target, TARGET, &admin(), "other", &export)).unwrap_err();
    assert!(err.to_string().contains("not `other`"), "{err}");
}

#[test]
fn a_model_of_the_same_name_with_other_versions_is_not_mixed_in() {
    let export = exported();
    let target = MemoryRegistry::new();
    target.add_model(TARGET, MODEL);
    let other = target.upload(TARGET, b"an unrelated model");
    let request =
        serde_json::from_value(json!({"version": "3.0.0", "digest": other, "size": 18})).unwrap();
    block_on(register_version(&target, TARGET, &admin(), MODEL, &request)).unwrap();
    target.upload(TARGET, b"weights one");
    target.upload(TARGET, b"weights two");
    let err = import(&target, &export).unwrap_err();
    assert!(
        matches!(err, RegistryError::ImportUnrelated { .. }),
        "{err}"
    );
    assert!(target.registered(TARGET, MODEL, "1.0.0").is_none());

    // A later export of one parentless version from the same source is
    // related through the earlier import; from another source it is not.
    let first = MemoryRegistry::new();
    first.upload(TARGET, b"weights one");
    first.upload(TARGET, b"weights two");
    first.upload(TARGET, b"weights three");
    import(&first, &export).unwrap();
    let mut later = export.clone();
    later.versions = vec![version("2.0.0", b"weights three", 5_000, None)];
    later.profiles.clear();
    let mut elsewhere = later.clone();
    elsewhere.source.org = "globex".into();
    elsewhere.audit.clear();
    let err = import(&first, &elsewhere).unwrap_err();
    assert!(
        matches!(err, RegistryError::ImportUnrelated { .. }),
        "{err}"
    );
    assert!(!import(&first, &later).unwrap());
    assert!(first.registered(TARGET, MODEL, "2.0.0").is_some());

    // An existing model without versions takes the export.
    let empty = MemoryRegistry::new();
    empty.add_model(TARGET, MODEL);
    empty.upload(TARGET, b"weights one");
    empty.upload(TARGET, b"weights two");
    assert!(!import(&empty, &export).unwrap());
}

#[test]
fn a_version_from_the_future_and_a_lost_race_are_answered_plainly() {
    let mut future = exported();
    future.versions[0].created_at = i64::MAX / 2;
    let err = import(&MemoryRegistry::new(), &future).unwrap_err();
    assert!(err.to_string().contains("in the future"), "{err}");

    // The commit loses to a concurrent write and this export was not
    // recorded by it: retry, nothing written.
    let target = MemoryRegistry::new();
    target.upload(TARGET, b"weights one");
    target.upload(TARGET, b"weights two");
    target.fail("commit_conflict");
    let err = import(&target, &exported()).unwrap_err();
    assert!(matches!(err, RegistryError::ImportRaced { .. }), "{err}");
    target.heal("commit_conflict");
    assert!(!block_on(target.model_exists(TARGET, MODEL)).unwrap());
    assert!(!import(&target, &exported()).unwrap());

    // The same export imported concurrently, committed first: this one
    // answers as a repeat, and nothing is written twice.
    let racing = MemoryRegistry::new();
    racing.upload(TARGET, b"weights one");
    racing.upload(TARGET, b"weights two");
    let export = exported();
    let theirs = ImportRecord {
        id: export.identity().unwrap(),
        model: MODEL.into(),
        source: export.source.clone(),
        imported_at: 1,
        imported_by: "someone else".into(),
        added: vec!["1.0.0".into(), "1.1.0".into()],
        present: vec![],
        released: vec![],
        root: None,
        history: vec![],
        audit: vec![],
    };
    racing.commit_first(TARGET, Change::RecordImport(Box::new(theirs)));
    let outcome = block_on(import_model(&racing, TARGET, &admin(), MODEL, &export)).unwrap();
    assert!(outcome.unchanged, "the concurrent import counts");
    assert!(racing.registered(TARGET, MODEL, "1.0.0").is_none());
}
