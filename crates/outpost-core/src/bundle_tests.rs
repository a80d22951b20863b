#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;
use crate::api::VersionStatus;
use crate::audit::{AuditEntry, Outcome, chain_after};
use crate::digest::Sha256Hasher;
use crate::version::ArtifactFormat;

fn hashed(bytes: &[u8]) -> HashedContent {
    let mut hasher = Sha256Hasher::new();
    hasher.update(bytes);
    hasher.finish()
}

fn entry(bytes: &[u8]) -> FileEntry {
    FileEntry {
        sha256: Digest::of(bytes),
        size: bytes.len() as u64,
    }
}

fn manifest(files: &[(&str, &[u8])]) -> Manifest {
    Manifest::new(
        1_700_000_000_000,
        Source {
            registry: "http://localhost:8787".into(),
            org: "acme".into(),
        },
        files
            .iter()
            .map(|(path, bytes)| ((*path).to_owned(), entry(bytes)))
            .collect(),
    )
}

#[test]
fn paths_outside_the_layout_are_refused() {
    let digest = Digest::of(b"x");
    assert_eq!(
        classify(&artifact_path(&digest)).unwrap(),
        BundleFile::Artifact(digest)
    );
    assert_eq!(
        classify("models/fraud.json").unwrap(),
        BundleFile::Model("fraud".into())
    );
    for bad in [
        "/etc/passwd",
        "../models/fraud.json",
        "models/../x.json",
        "models/Fraud.json",
        "models/fraud.txt",
        "artifacts/sha256/abc",
        &format!("artifacts/sha256/{}", digest.hex().to_uppercase()),
        "manifest.json",
        "extra/file",
    ] {
        assert_eq!(
            classify(bad),
            Err(BundleError::Path(bad.to_owned())),
            "{bad}"
        );
    }
}

#[test]
fn a_manifest_lists_models_and_names_artifacts_by_their_digest() {
    let model = b"{}".as_slice();
    let artifact = b"weights".as_slice();
    let path = artifact_path(&Digest::of(artifact));
    let good = manifest(&[("models/fraud.json", model), (&path, artifact)]);
    assert_eq!(good.models, vec!["fraud".to_owned()]);
    good.validate().unwrap();

    let mut misnamed = good.clone();
    misnamed.files.insert(path.clone(), entry(b"other"));
    assert!(matches!(
        misnamed.validate(),
        Err(BundleError::ArtifactName { .. })
    ));

    let mut unlisted_model = good.clone();
    unlisted_model.models.clear();
    assert_eq!(
        unlisted_model.validate(),
        Err(BundleError::ModelListing("fraud".into()))
    );

    let mut newer = good.clone();
    newer.format_version = 2;
    assert_eq!(newer.validate(), Err(BundleError::FormatVersion(2)));
    let mut other = good;
    other.format = "zip".into();
    assert_eq!(other.validate(), Err(BundleError::Format("zip".into())));
}

#[test]
fn every_byte_and_every_file_is_checked_against_the_manifest() {
    let artifact = b"weights".as_slice();
    let path = artifact_path(&Digest::of(artifact));
    let m = manifest(&[("models/fraud.json", b"{}"), (&path, artifact)]);

    assert_eq!(
        m.check_entry(&path, &hashed(artifact)).unwrap(),
        BundleFile::Artifact(Digest::of(artifact))
    );
    // A flipped byte, a truncated file, a file the manifest does not list.
    assert!(matches!(
        m.check_entry(&path, &hashed(b"weighty")),
        Err(BundleError::Mismatch { .. })
    ));
    assert!(matches!(
        m.check_entry(&path, &hashed(b"weight")),
        Err(BundleError::Mismatch { .. })
    ));
    assert_eq!(
        m.check_entry("models/other.json", &hashed(b"{}")),
        Err(BundleError::Unlisted("models/other.json".into()))
    );

    let mut seen = BTreeSet::from([path.clone()]);
    assert_eq!(
        m.check_complete(&seen),
        Err(BundleError::Missing("models/fraud.json".into()))
    );
    seen.insert("models/fraud.json".into());
    m.check_complete(&seen).unwrap();
}

fn version(v: &str, at: i64, parent: Option<&str>) -> VersionRecord {
    VersionRecord {
        model: "fraud".into(),
        version: v.into(),
        digest: Digest::of(v.as_bytes()),
        size: v.len() as u64,
        format: ArtifactFormat::Onnx,
        framework: None,
        schema: None,
        metrics: BTreeMap::new(),
        params: serde_json::Map::new(),
        dataset_version: None,
        parent_version: parent.map(str::to_owned),
        tags: vec![],
        notes: String::new(),
        author: "ci".into(),
        created_at: at,
        status: VersionStatus::Ready,
        status_reason: None,
    }
}

fn export(versions: Vec<VersionRecord>) -> ModelExport {
    ModelExport {
        source: ExportSource {
            registry: "http://localhost:8787".into(),
            org: "acme".into(),
            exported_at: 10,
        },
        model: ExportedModel {
            name: "fraud".into(),
            description: String::new(),
            owner: None,
            tags: vec![],
            primary_metric: None,
            created_at: 1,
            created_by: None,
        },
        versions,
        profiles: BTreeMap::new(),
        history: vec![],
        audit: vec![],
        release: None,
    }
}

#[test]
fn versions_come_parents_first_and_belong_to_the_model() {
    let checked = export(vec![
        version("1.1.0", 3, Some("1.0.0")),
        version("1.0.0", 2, None),
        version("0.9.0", 2, None),
    ])
    .check()
    .unwrap();
    assert_eq!(checked.order, vec![2, 1, 0]);
    assert!(checked.released.is_empty());
    assert_eq!(checked.root, None);

    // A parent registered after its child (deleted and registered again)
    // still comes first; a lineage cycle is refused.
    assert_eq!(
        export(vec![
            version("1.1.0", 1, Some("1.0.0")),
            version("1.0.0", 2, None)
        ])
        .check()
        .unwrap()
        .order,
        vec![1, 0]
    );
    assert!(matches!(
        export(vec![
            version("1.1.0", 1, Some("1.0.0")),
            version("1.0.0", 2, Some("1.1.0"))
        ])
        .check(),
        Err(ExportError::ParentOrder { .. })
    ));
    // A parent outside the export is for the importing registry to find.
    export(vec![version("1.1.0", 1, Some("1.0.0"))])
        .check()
        .unwrap();

    let mut foreign = version("1.0.0", 1, None);
    foreign.model = "other".into();
    assert!(matches!(
        export(vec![foreign]).check(),
        Err(ExportError::ForeignVersion { .. })
    ));
    assert!(matches!(
        export(vec![version("1.0.0", 1, None), version("1.0.0", 2, None)]).check(),
        Err(ExportError::DuplicateVersion(_))
    ));
    assert!(matches!(
        export(vec![version("one", 1, None)]).check(),
        Err(ExportError::Version { .. })
    ));
}

#[test]
fn a_changed_audit_entry_is_refused_and_the_identity_follows_the_content() {
    let written = chain_after(
        AuditEntry {
            org: "acme".into(),
            seq: 0,
            at: 5,
            actor: Some("tok_1".into()),
            role: Some("developer".into()),
            action: "version.register".into(),
            target: "models/fraud/versions/1.0.0".into(),
            outcome: Outcome::Ok,
            details: json!({"digest": "sha256:00"}),
            prev_hash: String::new(),
            hash: String::new(),
        },
        None,
    );
    let mut good = export(vec![version("1.0.0", 1, None)]);
    good.audit.push(written.clone());
    good.check().unwrap();

    let mut changed = good.clone();
    changed.audit[0].details = json!({"digest": "sha256:01"});
    assert_eq!(
        changed.check(),
        Err(ExportError::AuditEntry { seq: written.seq })
    );
    assert_ne!(good.identity().unwrap(), changed.identity().unwrap());
    assert_eq!(good.identity().unwrap(), good.clone().identity().unwrap());

    // An entry of another organisation; neighbours that do not link.
    let mut foreign = good.clone();
    foreign.audit[0].org = "globex".into();
    assert!(matches!(foreign.check(), Err(ExportError::AuditOrg { .. })));
    let mut unlinked = good.clone();
    let mut next = chain_after(written.clone(), Some((written.seq, &written.hash)));
    next.prev_hash = "sha256:0".into();
    next.hash = crate::audit::entry_hash(&next).to_string();
    unlinked.audit.push(next);
    assert_eq!(
        unlinked.check(),
        Err(ExportError::AuditEntry {
            seq: written.seq + 1
        })
    );

    let mut stray = good;
    stray.profiles.insert(
        "2.0.0".into(),
        crate::profile::ReferenceProfile {
            rows: 0,
            features: vec![],
        },
    );
    assert!(matches!(stray.check(), Err(ExportError::StrayProfile(_))));
}
