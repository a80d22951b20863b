//! Export bundles: the self-describing tar a model travels in between
//! organisations and registries (`outpost export` / `outpost import`; the
//! format is documented in `docs/bundle.md`).
//!
//! A bundle is a tar (ustar or GNU headers) holding `manifest.json` first, then one
//! `models/{name}.json` per model (a [`ModelExport`], which is also the body
//! of `POST /v1/orgs/{org}/models/{model}/imports`) and one
//! `artifacts/sha256/{hex}` per artifact. The manifest lists every other file
//! with its SHA-256 and size; a reader refuses a bundle with a file the
//! manifest does not list, a listed file that is missing, or any byte that
//! differs ([`Manifest::check_entry`], [`Manifest::check_complete`]).
//!
//! What the importing registry does with a model is decided in
//! `outpost_registry::imports`; what can be decided from the bundle alone
//! (lineage order, audit entry hashes, release signatures) is
//! [`ModelExport::check`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::VersionRecord;
use crate::audit::{AuditEntry, entry_hash};
use crate::digest::{Digest, HashedContent};
use crate::lifecycle::Deployment;
use crate::profile::ReferenceProfile;
use crate::trust::schema::{Envelope, target_path};
use crate::version::{PrimaryMetric, parse_version, validate_model_name};
use semver::Version;

/// The manifest's `format`.
pub const FORMAT: &str = "outpost-bundle";
/// The manifest's `format_version` this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's path: the tar's first entry.
pub const MANIFEST_PATH: &str = "manifest.json";

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`]; a reader refuses versions it does not know.
    pub format_version: u32,
    /// When the bundle was written, ms since the epoch.
    pub exported_at: i64,
    pub source: Source,
    /// The models the bundle carries, each in `models/{name}.json`.
    pub models: Vec<String>,
    /// Every file but the manifest, by path.
    pub files: BTreeMap<String, FileEntry>,
}

/// Where a bundle was exported from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The registry's base URL, as the exporting CLI called it.
    pub registry: String,
    pub org: String,
}

/// One file of a bundle: its SHA-256 and size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub sha256: Digest,
    pub size: u64,
}

/// What a path inside a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleFile {
    /// `models/{name}.json`: a [`ModelExport`].
    Model(String),
    /// `artifacts/sha256/{hex}`: the artifact with this digest.
    Artifact(Digest),
}

/// Why a bundle is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("this is not an Outpost bundle (format `{0}`)")]
    Format(String),
    #[error(
        "bundle format version {0} is not one this outpost reads (it reads {FORMAT_VERSION}); upgrade outpost"
    )]
    FormatVersion(u32),
    #[error("`{0}` is not a path an Outpost bundle holds")]
    Path(String),
    #[error("`{path}` holds the artifact {named} but the manifest gives it {listed}")]
    ArtifactName {
        path: String,
        named: Digest,
        listed: Digest,
    },
    #[error("`{0}` is in the bundle but not in its manifest")]
    Unlisted(String),
    #[error("`{0}` is listed in the manifest but missing from the bundle")]
    Missing(String),
    #[error("`{0}` appears twice in the bundle")]
    Duplicate(String),
    #[error("`{path}` does not match the manifest: {detail}")]
    Mismatch { path: String, detail: String },
    #[error("the manifest lists model `{0}` without its file, or its file without listing it")]
    ModelListing(String),
}

/// The path of a model's file.
pub fn model_path(model: &str) -> String {
    format!("models/{model}.json")
}

/// The path of an artifact's file.
pub fn artifact_path(digest: &Digest) -> String {
    format!("artifacts/sha256/{}", digest.hex())
}

/// What `path` holds, refusing anything outside the layout (absolute paths,
/// `..`, unknown directories, names a model could not have).
///
/// Errors: [`BundleError::Path`].
pub fn classify(path: &str) -> Result<BundleFile, BundleError> {
    let refused = || BundleError::Path(path.to_owned());
    if let Some(name) = path
        .strip_prefix("models/")
        .and_then(|rest| rest.strip_suffix(".json"))
    {
        validate_model_name(name).map_err(|_| refused())?;
        return Ok(BundleFile::Model(name.to_owned()));
    }
    if let Some(hex) = path.strip_prefix("artifacts/sha256/") {
        let digest: Digest = format!("sha256:{hex}").parse().map_err(|_| refused())?;
        // Only the canonical lowercase spelling: one artifact, one path.
        if digest.hex() != hex {
            return Err(refused());
        }
        return Ok(BundleFile::Artifact(digest));
    }
    Err(refused())
}

impl Manifest {
    /// A manifest for `files`, listing the models among them.
    pub fn new(exported_at: i64, source: Source, files: BTreeMap<String, FileEntry>) -> Self {
        let models = files
            .keys()
            .filter_map(|path| match classify(path) {
                Ok(BundleFile::Model(name)) => Some(name),
                _ => None,
            })
            .collect();
        Self {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            exported_at,
            source,
            models,
            files,
        }
    }

    /// Checks the manifest on its own: format and version, every path in the
    /// layout, every artifact's path naming its listed digest, and `models`
    /// exactly the model files listed.
    pub fn validate(&self) -> Result<(), BundleError> {
        if self.format != FORMAT {
            return Err(BundleError::Format(self.format.clone()));
        }
        if self.format_version != FORMAT_VERSION {
            return Err(BundleError::FormatVersion(self.format_version));
        }
        let mut listed_models = BTreeSet::new();
        for (path, entry) in &self.files {
            match classify(path)? {
                BundleFile::Model(name) => {
                    listed_models.insert(name);
                }
                BundleFile::Artifact(named) if named != entry.sha256 => {
                    return Err(BundleError::ArtifactName {
                        path: path.clone(),
                        named,
                        listed: entry.sha256,
                    });
                }
                BundleFile::Artifact(_) => {}
            }
        }
        let models: BTreeSet<String> = self.models.iter().cloned().collect();
        if let Some(odd) = models.symmetric_difference(&listed_models).next() {
            return Err(BundleError::ModelListing(odd.clone()));
        }
        if models.len() != self.models.len() {
            return Err(BundleError::Duplicate("models".to_owned()));
        }
        Ok(())
    }

    /// Checks one file read from the bundle (hashed while it was read)
    /// against its manifest entry.
    ///
    /// Errors: [`BundleError::Path`], [`BundleError::Unlisted`],
    /// [`BundleError::Mismatch`].
    pub fn check_entry(
        &self,
        path: &str,
        received: &HashedContent,
    ) -> Result<BundleFile, BundleError> {
        let file = classify(path)?;
        let entry = self
            .files
            .get(path)
            .ok_or_else(|| BundleError::Unlisted(path.to_owned()))?;
        received
            .expect(&entry.sha256, entry.size)
            .map_err(|err| BundleError::Mismatch {
                path: path.to_owned(),
                detail: err.to_string(),
            })?;
        Ok(file)
    }

    /// After the whole bundle was read: every listed file was seen (each
    /// once: `seen` is what the reader collected, duplicates refused as
    /// they came).
    pub fn check_complete(&self, seen: &BTreeSet<String>) -> Result<(), BundleError> {
        match self.files.keys().find(|path| !seen.contains(*path)) {
            Some(missing) => Err(BundleError::Missing(missing.clone())),
            None => Ok(()),
        }
    }
}

/// A model as exported: `models/{name}.json` in a bundle, and the body of
/// `POST /v1/orgs/{org}/models/{model}/imports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelExport {
    pub source: ExportSource,
    pub model: ExportedModel,
    /// The exported versions with everything registered about them.
    pub versions: Vec<VersionRecord>,
    /// Reference profiles by version.
    #[serde(default)]
    pub profiles: BTreeMap<String, ReferenceProfile>,
    /// The model's deployment history in the source registry, every stage.
    #[serde(default)]
    pub history: Vec<Deployment>,
    /// The source organisation's audit entries about the model, each with
    /// its chain hashes (they are a subset of a chain, so each entry's own
    /// hash is checked, not the links between them).
    #[serde(default)]
    pub audit: Vec<AuditEntry>,
    /// The source's release signatures, when its trust repository was set up.
    #[serde(default)]
    pub release: Option<ReleaseSignatures>,
}

/// Where and when a model was exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportSource {
    pub registry: String,
    pub org: String,
    /// ms since the epoch.
    pub exported_at: i64,
}

/// The model's own record as the source had it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedModel {
    pub name: String,
    pub description: String,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub primary_metric: Option<PrimaryMetric>,
    pub created_at: i64,
    pub created_by: Option<String>,
}

/// The source's TUF root chain (`1.root.json` … current) and its newest
/// release (targets) metadata, both as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSignatures {
    pub roots: Vec<Envelope>,
    pub targets: Envelope,
}

/// Why an exported model cannot be imported, decided from the export alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    ModelName(String),
    #[error("version `{version}` is not semver: {detail}")]
    Version { version: String, detail: String },
    #[error("version {version} belongs to model `{model}`, not to the model exported")]
    ForeignVersion { model: String, version: String },
    #[error("version {0} appears twice")]
    DuplicateVersion(String),
    #[error("version {version}'s lineage leads back to itself through {parent}")]
    ParentOrder { version: String, parent: String },
    #[error("the reference profile of {0} belongs to no exported version")]
    StrayProfile(String),
    #[error("a deployment of model `{0}` is in this model's history")]
    ForeignHistory(String),
    /// Detects corruption and edits that did not recompute the chain; a
    /// forger who recomputes it is caught only by what is signed.
    #[error(
        "audit entry {seq} does not hash to the hash it carries, or does not link to the entry before it: it was changed after it was written"
    )]
    AuditEntry { seq: i64 },
    #[error("audit entry {seq} is of organisation `{org}`, not of the export's source")]
    AuditOrg { seq: i64, org: String },
    #[error("audit entry {seq} is out of chain order")]
    AuditOrder { seq: i64 },
    #[error("the release signatures do not verify: {0}")]
    Release(String),
}

/// The versions in an order where every parent inside the export comes
/// before its children (a topological order of the lineage), taking the
/// oldest ready version first (by creation time, then semver precedence):
/// `by_age` is that order of everything.
///
/// Errors: [`ExportError::ParentOrder`] for a lineage cycle.
fn lineage_order(
    versions: &[VersionRecord],
    by_age: &[(i64, Version, usize)],
) -> Result<Vec<usize>, ExportError> {
    let index_of: BTreeMap<&str, usize> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| (v.version.as_str(), i))
        .collect();
    let parent_of = |i: usize| {
        versions[i]
            .parent_version
            .as_deref()
            .and_then(|p| index_of.get(p).copied())
    };
    let mut placed = vec![false; versions.len()];
    let mut order = Vec::with_capacity(versions.len());
    while order.len() < versions.len() {
        let next = by_age
            .iter()
            .map(|(_, _, i)| *i)
            .find(|&i| !placed[i] && parent_of(i).is_none_or(|p| placed[p]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                let stuck = by_age
                    .iter()
                    .map(|(_, _, i)| *i)
                    .find(|&i| !placed[i])
                    .unwrap_or_default();
                return Err(ExportError::ParentOrder {
                    version: versions[stuck].version.clone(),
                    parent: versions[stuck].parent_version.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(order)
}

/// What [`ModelExport::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedExport {
    /// Indexes into `versions`, parents before children (by creation time,
    /// then semver precedence).
    pub order: Vec<usize>,
    /// The versions the verified release metadata names with exactly their
    /// digest and size.
    pub released: Vec<String>,
    /// The fingerprint of the first root of the release signatures.
    pub root: Option<Digest>,
}

impl ModelExport {
    /// Everything decidable without the importing registry: the model's
    /// name; each version valid semver, of this model, once; lineage in an
    /// order where parents inside the export come first; profiles and
    /// history about this model; each audit entry's own hash; and the
    /// release signatures (root chain, targets threshold; not expiry).
    pub fn check(&self) -> Result<CheckedExport, ExportError> {
        validate_model_name(&self.model.name)
            .map_err(|err| ExportError::ModelName(err.to_string()))?;
        let mut parsed: Vec<(i64, Version, usize)> = Vec::with_capacity(self.versions.len());
        let mut names = BTreeSet::new();
        for (index, version) in self.versions.iter().enumerate() {
            if version.model != self.model.name {
                return Err(ExportError::ForeignVersion {
                    model: version.model.clone(),
                    version: version.version.clone(),
                });
            }
            let semver = parse_version(&version.version).map_err(|err| ExportError::Version {
                version: version.version.clone(),
                detail: err.to_string(),
            })?;
            if !names.insert(version.version.clone()) {
                return Err(ExportError::DuplicateVersion(version.version.clone()));
            }
            parsed.push((version.created_at, semver, index));
        }
        parsed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let order = lineage_order(&self.versions, &parsed)?;
        if let Some(stray) = self.profiles.keys().find(|v| !names.contains(*v)) {
            return Err(ExportError::StrayProfile(stray.clone()));
        }
        if let Some(foreign) = self.history.iter().find(|d| d.model != self.model.name) {
            return Err(ExportError::ForeignHistory(foreign.model.clone()));
        }
        for entry in &self.audit {
            if entry.org != self.source.org {
                return Err(ExportError::AuditOrg {
                    seq: entry.seq,
                    org: entry.org.clone(),
                });
            }
            if entry_hash(entry).to_string() != entry.hash {
                return Err(ExportError::AuditEntry { seq: entry.seq });
            }
        }
        // Where two exported entries are neighbours in the source's chain,
        // the later one must link to the earlier.
        for pair in self.audit.windows(2) {
            if pair[1].seq <= pair[0].seq {
                return Err(ExportError::AuditOrder { seq: pair[1].seq });
            }
            if pair[1].seq == pair[0].seq + 1 && pair[1].prev_hash != pair[0].hash {
                return Err(ExportError::AuditEntry { seq: pair[1].seq });
            }
        }
        let (released, root) = match &self.release {
            None => (Vec::new(), None),
            Some(release) => {
                let (targets, root) = crate::trust::state::verify_release_provenance(
                    &release.roots,
                    &release.targets,
                )
                .map_err(|err| ExportError::Release(err.to_string()))?;
                let released = order
                    .iter()
                    .map(|&index| &self.versions[index])
                    .filter(|v| {
                        targets
                            .inner()
                            .names(&target_path(&v.model, &v.version), &v.digest, v.size)
                    })
                    .map(|v| v.version.clone())
                    .collect();
                (released, Some(root))
            }
        };
        Ok(CheckedExport {
            order,
            released,
            root,
        })
    }

    /// The identity of this export: the SHA-256 of its JSON. Importing the
    /// same export twice finds this identity recorded and changes nothing.
    pub fn identity(&self) -> Result<Digest, serde_json::Error> {
        Ok(Digest::of(&serde_json::to_vec(self)?))
    }
}

/// What a registry recorded of one import (`GET …/models/{model}/imports`):
/// the source's history and audit entries are kept here as history, beside
/// (not inside) the importing organisation's own deployment history and
/// audit chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportRecord {
    /// [`ModelExport::identity`] of what was imported.
    pub id: Digest,
    pub model: String,
    pub source: ExportSource,
    /// ms since the epoch.
    pub imported_at: i64,
    /// The importing token's name.
    pub imported_by: String,
    /// Versions this import registered.
    pub added: Vec<String>,
    /// Versions that were registered already with the same artifact.
    pub present: Vec<String>,
    /// Versions the verified release signatures name.
    pub released: Vec<String>,
    /// The fingerprint of the source's first root, when signatures came along.
    pub root: Option<Digest>,
    pub history: Vec<Deployment>,
    pub audit: Vec<AuditEntry>,
}

/// The answer to an import: its record, and whether this export had been
/// imported already (then nothing changed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportOutcome {
    pub unchanged: bool,
    #[serde(flatten)]
    pub record: ImportRecord,
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
