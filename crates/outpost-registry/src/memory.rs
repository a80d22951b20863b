//! In-memory adapters of every port (feature `memory`), for native tests of
//! the use cases: the same reads and writes as the D1/R2 adapters, kept in
//! maps, with a fixed clock and a scripted random source. Failures can be
//! injected per port to test the storage-error paths.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use outpost_core::api::{ModelPolicies, TokenRecord, VersionRecord};
use outpost_core::audit::{AuditEntry, Outcome, chain_after};
use outpost_core::conditional::ByteRange;
use outpost_core::content_coding::Coding;
use outpost_core::digest::Digest;
use outpost_core::guardrail::Guardrails;
use outpost_core::lifecycle::{Deployment, Move, Stage, StageState};
use outpost_core::profile::ReferenceProfile;
use outpost_core::signing::SigningKey;
use outpost_core::telemetry::TelemetryWindow;
use outpost_core::trust::{Envelope, Targets};
use outpost_core::version::{ArtifactFormat, PrimaryMetric};
use serde_json::Value;

use crate::error::StoreError;
use crate::ports::{
    Arrival, AttemptOutcome, AuditEvent, BlobFacts, Blobs, Change, Clock, Commit, CommitError,
    CopyArrival, Deployments, DueDelivery, FeedbackRow, GateFacts, Inspection, Keys, Models,
    MonitorCheck, Monitors, OnlineKey, OpenUpload, Outbox, Outcomes, Policies, PredictionRecord,
    Profiles, Received, Rehashed, Runtime, Sender, StageHead, Stages, StoredCopy, StoredMonitor,
    Telemetry, Tokens, TrustFiles, TrustRole, VersionAge, VersionArtifact, VersionDetails,
    Versions, WebhookEndpoint, Webhooks,
};
use crate::routing::{PLAN_LIFETIME_MS, ResolutionPlan, ResolutionPlans};
use outpost_core::monitor::Episodes;
use outpost_core::quality::{LabelledOutcome, OutcomeWindow};

type ModelKey = (String, String);
/// A stage's guardrails: the canary watched, since when (ms), the policy.
type Watched = (String, i64, Guardrails);
/// A monitor's key: (org, model, stage).
type MonitorKey = (String, String, Stage);
/// A device's outcome window: version, stage, received at (ms), window.
type StoredOutcomes = (String, Stage, i64, OutcomeWindow);
/// A webhook endpoint, its secret, and whether it was deleted.
type StoredWebhook = (WebhookEndpoint, String, bool);
/// A telemetry window with its org, model, version, stage and source.
type StoredWindow = (String, String, String, Stage, String, TelemetryWindow);
/// A request the sender posted: url, headers, body.
pub type Posted = (String, Vec<(String, String)>, String);

/// Plans kept by (org, model, stage), each with when it was drawn (ms).
type KeptPlans = BTreeMap<(String, String, Stage), (i64, Rc<ResolutionPlan>)>;

/// A whole registry in memory. Interior mutability: use cases take `&self`
/// ports, as they do over D1.
/// A copy another upload records meanwhile: (org, digest, copy, bytes).
type RacingCopy = (String, Digest, StoredCopy, Vec<u8>);

#[derive(Debug)]
pub struct MemoryRegistry {
    models: RefCell<BTreeSet<ModelKey>>,
    deployments: RefCell<BTreeMap<(String, String, Stage, i64), Deployment>>,
    guardrails: RefCell<BTreeMap<(String, String, Stage), Watched>>,
    outbox: RefCell<Vec<(String, &'static str, Value)>>,
    gate_facts: RefCell<BTreeMap<(String, String, String), GateFacts>>,
    policies: RefCell<BTreeMap<(String, String), ModelPolicies>>,
    blobs: RefCell<BTreeMap<(String, Digest), Vec<u8>>>,
    unloadable: RefCell<BTreeSet<Digest>>,
    /// Artifact rows (D1's `blobs`); objects are in `blobs`.
    /// Each with its upload time (ms).
    blob_rows: RefCell<BTreeMap<(String, Digest), i64>>,
    /// Open multipart uploads by (org, id).
    uploads: RefCell<BTreeMap<(String, String), OpenUpload>>,
    /// Parts' bytes in the object store, by (org, backend id, number).
    part_objects: RefCell<BTreeMap<(String, String, u64), Vec<u8>>>,
    /// Multipart uploads begun in the object store and not yet completed
    /// or aborted, by backend id.
    multiparts: RefCell<BTreeSet<String>>,
    /// When each upload was opened (ms), by (org, id).
    upload_opened: RefCell<BTreeMap<(String, String), i64>>,
    /// When each artifact was last claimed (ms).
    claimed: RefCell<BTreeMap<(String, Digest), i64>>,
    /// Artifacts' gzip copies as stored objects, by (org, digest, id)...
    coded_copies: RefCell<BTreeMap<(String, Digest, String), Vec<u8>>>,
    /// ...and the one recorded for each artifact (D1's `blobs.gzip_size`,
    /// `gzip_key`).
    coded_sizes: RefCell<BTreeMap<(String, Digest), StoredCopy>>,
    /// A copy another upload records while the next one is stored.
    racing_copy: RefCell<Option<RacingCopy>>,
    /// When each object was last written (ms), like R2's `uploaded`.
    object_written: RefCell<BTreeMap<(String, Digest), i64>>,
    created_at: RefCell<BTreeMap<(String, String, String), i64>>,
    versions: RefCell<BTreeMap<(String, String, String), VersionArtifact>>,
    /// Usage as the Worker's isolates would have written it:
    /// (org, kind, subject, hour) → count.
    usage: RefCell<BTreeMap<(String, outpost_core::stats::UsageKind, String, i64), u64>>,
    /// Each organisation's release, with when it was made (ms).
    releases: RefCell<BTreeMap<String, (Targets, i64)>>,
    /// Plans kept like a Worker isolate's, by (org, model, stage), each
    /// with when it was drawn; `None` (the default) keeps none, so that a
    /// test's direct changes are seen at once (see [`Self::keep_plans`]).
    plans: RefCell<Option<KeptPlans>>,
    now: Cell<i64>,
    random: Cell<u32>,
    director_seed: u8,
    salt: Digest,
    /// Whether the deployment has an at-rest secret (see
    /// [`Self::configure_at_rest`]).
    at_rest_configured: Cell<bool>,
    /// Each organisation's encryption at rest.
    encryption: RefCell<BTreeMap<String, outpost_core::at_rest::OrgEncryption>>,
    /// The key version each object is sealed under (absent: plaintext).
    sealed_under: RefCell<BTreeMap<(String, Digest), u32>>,
    failing: RefCell<BTreeSet<&'static str>>,
    unconfigured: RefCell<BTreeSet<&'static str>>,
    trust_files: RefCell<BTreeMap<(String, TrustRole, u64), Envelope>>,
    audit: RefCell<Vec<AuditEntry>>,
    online_seed: u8,
    racing: RefCell<Vec<(String, Change)>>,
    primary_metrics: RefCell<BTreeMap<ModelKey, PrimaryMetric>>,
    registered: RefCell<BTreeMap<(String, String, String), VersionRecord>>,
    references: RefCell<BTreeMap<(String, String, String), ReferenceProfile>>,
    /// Import records by organisation, oldest first.
    imports: RefCell<Vec<(String, outpost_core::bundle::ImportRecord)>>,
    /// Endpoints by (org, id), with their secret and whether deleted.
    webhooks: RefCell<BTreeMap<(String, String), StoredWebhook>>,
    random_counter: Cell<u8>,
    windows: RefCell<Vec<StoredWindow>>,
    orgs: RefCell<BTreeMap<String, String>>,
    checks: RefCell<Vec<(String, String, Stage, Value)>>,
    deliveries: RefCell<Vec<(DueDelivery, Option<AttemptOutcome>)>>,
    responses: RefCell<std::collections::VecDeque<Result<u16, String>>>,
    posted: RefCell<Vec<Posted>>,
    tokens: RefCell<BTreeMap<(String, String), (TokenRecord, Digest)>>,
    /// Monitors by (org, model, stage).
    monitors: RefCell<BTreeMap<MonitorKey, StoredMonitor>>,
    /// Recorded checks, oldest first.
    monitor_checks: RefCell<Vec<(MonitorKey, MonitorCheck)>>,
    /// Kept predictions by (org, id).
    predictions: RefCell<BTreeMap<(String, String), PredictionRecord>>,
    /// Outcomes by (org, model, prediction id, row).
    feedback: RefCell<BTreeMap<(String, String, String, u32), FeedbackRow>>,
    /// Device outcome windows by (org, model, id), with (version, stage,
    /// received at).
    outcome_windows: RefCell<BTreeMap<(String, String, String), StoredOutcomes>>,
}

/// 2026-11-22T23:15:26Z: the default clock.
pub const NOW: i64 = 1_795_389_326_000;

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self {
            models: RefCell::default(),
            deployments: RefCell::default(),
            guardrails: RefCell::default(),
            outbox: RefCell::default(),
            gate_facts: RefCell::default(),
            policies: RefCell::default(),
            blobs: RefCell::default(),
            unloadable: RefCell::default(),
            blob_rows: RefCell::default(),
            uploads: RefCell::default(),
            part_objects: RefCell::default(),
            multiparts: RefCell::default(),
            coded_copies: RefCell::default(),
            coded_sizes: RefCell::default(),
            racing_copy: RefCell::default(),
            object_written: RefCell::default(),
            claimed: RefCell::default(),
            upload_opened: RefCell::default(),
            created_at: RefCell::default(),
            versions: RefCell::default(),
            releases: RefCell::default(),
            plans: RefCell::default(),
            now: Cell::new(NOW),
            random: Cell::new(0),
            director_seed: 7,
            salt: Digest::of(b"outpost-routing-salt\0memory"),
            at_rest_configured: Cell::new(true),
            encryption: RefCell::default(),
            sealed_under: RefCell::default(),
            failing: RefCell::default(),
            unconfigured: RefCell::default(),
            trust_files: RefCell::default(),
            audit: RefCell::default(),
            online_seed: 5,
            racing: RefCell::default(),
            primary_metrics: RefCell::default(),
            registered: RefCell::default(),
            references: RefCell::default(),
            imports: RefCell::default(),
            webhooks: RefCell::default(),
            random_counter: Cell::new(0),
            windows: RefCell::default(),
            usage: RefCell::default(),
            orgs: RefCell::default(),
            checks: RefCell::default(),
            deliveries: RefCell::default(),
            responses: RefCell::default(),
            posted: RefCell::default(),
            tokens: RefCell::default(),
            monitors: RefCell::default(),
            monitor_checks: RefCell::default(),
            predictions: RefCell::default(),
            feedback: RefCell::default(),
            outcome_windows: RefCell::default(),
        }
    }

    /// The director key this registry signs with (a fixed test key).
    pub fn director_key(&self) -> SigningKey {
        test_key(self.director_seed)
    }

    pub fn add_model(&self, org: &str, model: &str) {
        self.models
            .borrow_mut()
            .insert((org.to_owned(), model.to_owned()));
    }

    /// Registers `version` (an ONNX model, status ok, no metrics) with the
    /// digest and length of `bytes`, which are stored as its artifact.
    pub fn add_version(&self, org: &str, model: &str, version: &str, bytes: &[u8]) {
        let digest = Digest::of(bytes);
        let key = (org.to_owned(), model.to_owned(), version.to_owned());
        self.versions.borrow_mut().insert(
            key.clone(),
            VersionArtifact {
                version: version.to_owned(),
                digest,
                length: bytes.len() as u64,
            },
        );
        self.gate_facts.borrow_mut().insert(
            key,
            GateFacts {
                digest,
                length: bytes.len() as u64,
                format: "onnx".into(),
                metrics: BTreeMap::new(),
                status: "ok".into(),
                status_reason: None,
            },
        );
        self.write_object(org, digest, bytes.to_vec());
        self.blob_rows
            .borrow_mut()
            .insert((org.to_owned(), digest), self.now.get());
        self.created_at.borrow_mut().insert(
            (org.to_owned(), model.to_owned(), version.to_owned()),
            self.now.get(),
        );
    }

    /// Whether the artifact's row and object are still stored.
    pub fn has_blob(&self, org: &str, digest: Digest) -> (bool, bool) {
        let key = (org.to_owned(), digest);
        (
            self.blob_rows.borrow().contains_key(&key),
            self.blobs.borrow().contains_key(&key),
        )
    }

    /// Whether a version row exists.
    pub fn has_version(&self, org: &str, model: &str, version: &str) -> bool {
        self.versions
            .borrow()
            .contains_key(&(org.to_owned(), model.to_owned(), version.to_owned()))
    }

    /// Changes what the gates see of a registered version.
    pub fn edit_gate_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
        edit: impl FnOnce(&mut GateFacts),
    ) {
        if let Some(facts) = self.gate_facts.borrow_mut().get_mut(&(
            org.to_owned(),
            model.to_owned(),
            version.to_owned(),
        )) {
            edit(facts);
        }
    }

    /// Replaces (or, with `None`, removes) a stored artifact's bytes.
    pub fn set_blob(&self, org: &str, digest: Digest, bytes: Option<Vec<u8>>) {
        let key = (org.to_owned(), digest);
        match bytes {
            Some(bytes) => {
                self.object_written
                    .borrow_mut()
                    .insert(key.clone(), self.now.get());
                self.blobs.borrow_mut().insert(key, bytes)
            }
            None => self.blobs.borrow_mut().remove(&key),
        };
    }

    /// Makes the runtime refuse to load the artifact with this digest.
    pub fn make_unloadable(&self, digest: Digest) {
        self.unloadable.borrow_mut().insert(digest);
    }

    pub fn set_primary_metric(&self, org: &str, model: &str, metric: PrimaryMetric) {
        self.primary_metrics
            .borrow_mut()
            .insert((org.to_owned(), model.to_owned()), metric);
    }

    /// A version registered through the use case, as recorded.
    pub fn registered(&self, org: &str, model: &str, version: &str) -> Option<VersionRecord> {
        self.registered
            .borrow()
            .get(&(org.to_owned(), model.to_owned(), version.to_owned()))
            .cloned()
    }

    /// Stores an uploaded artifact (row and object) without a version.
    pub fn upload(&self, org: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of(bytes);
        self.write_object(org, digest, bytes.to_vec());
        self.blob_rows
            .borrow_mut()
            .insert((org.to_owned(), digest), self.now.get());
        digest
    }

    pub fn set_policies(&self, org: &str, model: &str, policies: ModelPolicies) {
        self.policies
            .borrow_mut()
            .insert((org.to_owned(), model.to_owned()), policies);
    }

    /// A stage's history, oldest first.
    pub fn history(&self, org: &str, model: &str, stage: Stage) -> Vec<Deployment> {
        self.deployments
            .borrow()
            .iter()
            .filter(|((o, m, s, _), _)| o == org && m == model && *s == stage)
            .map(|(_, d)| d.clone())
            .collect()
    }

    /// The guardrails set on a stage: (canary, since, policy).
    pub fn guardrails_of(&self, org: &str, model: &str, stage: Stage) -> Option<Watched> {
        self.guardrails
            .borrow()
            .get(&(org.to_owned(), model.to_owned(), stage))
            .cloned()
    }

    /// The webhook events the organisation's outbox received, in order.
    pub fn outbox(&self, org: &str) -> Vec<(&'static str, Value)> {
        self.outbox
            .borrow()
            .iter()
            .filter(|(o, _, _)| o == org)
            .map(|(_, e, d)| (*e, d.clone()))
            .collect()
    }

    /// Deletes a version row out of band (what a stage must survive).
    pub fn remove_version(&self, org: &str, model: &str, version: &str) {
        self.versions
            .borrow_mut()
            .remove(&(org.to_owned(), model.to_owned(), version.to_owned()));
    }

    /// Appends a history entry moving `stage` to `state` (as an earlier
    /// promotion would have).
    pub fn deploy(&self, org: &str, model: &str, stage: Stage, state: StageState) {
        let head = self.history(org, model, stage).pop();
        let entry = Deployment {
            model: model.to_owned(),
            stage,
            seq: head.as_ref().map_or(1, |h| h.seq + 1),
            kind: Move::Promote,
            from: head.map(|h| h.to).unwrap_or_default(),
            to: state,
            actor: "fixture".into(),
            reason: String::new(),
            at: self.now.get(),
            forced: Vec::new(),
        };
        self.deployments
            .borrow_mut()
            .insert((org.to_owned(), model.to_owned(), stage, entry.seq), entry);
    }

    pub fn set_release(&self, org: &str, targets: Targets) {
        self.releases
            .borrow_mut()
            .insert(org.to_owned(), (targets, self.now.get()));
    }

    /// Keeps resolution plans from now on, as a Worker isolate does: the
    /// test's own changes (`deploy`, `set_release`) then stand for changes
    /// made elsewhere, seen only once a kept plan is older than
    /// [`crate::routing::PLAN_LIFETIME_MS`]; changes committed through the
    /// ports forget the organisation's plans, as the Worker's do.
    pub fn keep_plans(&self) {
        self.plans.borrow_mut().get_or_insert_with(BTreeMap::new);
    }

    fn forget_plans(&self, org: &str) {
        if let Some(plans) = self.plans.borrow_mut().as_mut() {
            plans.retain(|(kept_org, _, _), _| kept_org != org);
        }
    }

    pub fn set_now(&self, now: i64) {
        self.now.set(now);
    }

    /// The next value [`Clock::random_u32`] returns.
    pub fn set_random(&self, value: u32) {
        self.random.set(value);
    }

    /// The online (snapshot/timestamp) key this registry signs with.
    pub fn online_key(&self) -> SigningKey {
        test_key(self.online_seed)
    }

    /// Stores trust metadata directly (as an earlier upload would have).
    pub fn put_trust_file(&self, org: &str, role: TrustRole, version: u64, envelope: Envelope) {
        self.trust_files
            .borrow_mut()
            .insert((org.to_owned(), role, version), envelope);
    }

    /// A concurrent writer: `change` is applied just before the next
    /// commit, after the use case has read what it reads.
    pub fn commit_first(&self, org: &str, change: Change) {
        self.racing.borrow_mut().push((org.to_owned(), change));
    }

    /// Every stored version of `role`, oldest first.
    pub fn trust_files(&self, org: &str, role: TrustRole) -> Vec<(u64, Envelope)> {
        self.trust_files
            .borrow()
            .iter()
            .filter(|((o, r, _), _)| o == org && *r == role)
            .map(|((_, _, v), e)| (*v, e.clone()))
            .collect()
    }

    /// The organisation's audit chain, oldest first.
    pub fn audit_log(&self, org: &str) -> Vec<AuditEntry> {
        self.audit
            .borrow()
            .iter()
            .filter(|e| e.org == org)
            .cloned()
            .collect()
    }

    /// Whether the deployment has an at-rest secret (it has by default).
    pub fn configure_at_rest(&self, configured: bool) {
        self.at_rest_configured.set(configured);
    }

    /// Re-seals every object of `org` under its current key version, as the
    /// Worker's background job does over a few runs.
    pub fn reseal_all(&self, org: &str) {
        let Some(state) = self.encryption.borrow().get(org).copied() else {
            return;
        };
        let rows: Vec<Digest> = self
            .blob_rows
            .borrow()
            .keys()
            .filter(|(o, _)| o == org)
            .map(|(_, digest)| *digest)
            .collect();
        for digest in rows {
            // A plaintext gzip copy goes with the plaintext object.
            self.coded_sizes
                .borrow_mut()
                .remove(&(org.to_owned(), digest));
            self.coded_copies
                .borrow_mut()
                .retain(|(o, d, _), _| !(o == org && *d == digest));
            self.sealed_under
                .borrow_mut()
                .insert((org.to_owned(), digest), state.key_version);
        }
    }

    /// Makes the port method `name` fail with a storage error.
    pub fn fail(&self, name: &'static str) {
        self.failing.borrow_mut().insert(name);
    }

    /// Undoes [`Self::fail`].
    pub fn heal(&self, name: &'static str) {
        self.failing.borrow_mut().remove(name);
    }

    fn apply(&self, org: &str, change: Change) {
        match change {
            Change::SetKeyVersion { key_version } => {
                let now = self.now.get();
                let mut encryption = self.encryption.borrow_mut();
                let entry = encryption.entry(org.to_owned()).or_insert(
                    outpost_core::at_rest::OrgEncryption {
                        key_version,
                        enabled_at: now,
                        rotated_at: now,
                    },
                );
                entry.key_version = key_version;
                entry.rotated_at = now;
            }
            Change::SetMonitor {
                model,
                stage,
                policy,
                ..
            } => {
                if let Ok(policy) = serde_json::from_value(policy) {
                    self.monitors.borrow_mut().insert(
                        (org.to_owned(), model.clone(), stage),
                        StoredMonitor {
                            org: org.to_owned(),
                            model,
                            stage,
                            policy,
                            episodes: Episodes::new(),
                            checked_at: None,
                        },
                    );
                }
            }
            Change::RecordMonitorCheck {
                model,
                stage,
                episodes,
                checks,
            } => {
                let key = (org.to_owned(), model.clone(), stage);
                if let Some(stored) = self.monitors.borrow_mut().get_mut(&key) {
                    stored.episodes = serde_json::from_value(episodes).unwrap_or_default();
                    stored.checked_at = checks.first().map(|c| c.at);
                }
                self.monitor_checks
                    .borrow_mut()
                    .extend(checks.into_iter().map(|c| (key.clone(), c)));
            }
            Change::TrustFile {
                role,
                version,
                envelope,
            } => self.put_trust_file(org, role, version, envelope),
            Change::Deployment(d) => {
                self.deployments
                    .borrow_mut()
                    .insert((org.to_owned(), d.model.clone(), d.stage, d.seq), d);
            }
            Change::ClearGuardrails { model, stage } => {
                self.guardrails
                    .borrow_mut()
                    .remove(&(org.to_owned(), model, stage));
            }
            Change::SetGuardrails {
                model,
                stage,
                canary,
                since,
                policy,
            } => {
                self.guardrails
                    .borrow_mut()
                    .insert((org.to_owned(), model, stage), (canary, since, policy));
            }
            Change::RecordGuardrailCheck {
                model,
                stage,
                verdict,
                ..
            } => {
                self.checks
                    .borrow_mut()
                    .push((org.to_owned(), model, stage, verdict));
            }
            Change::CreateOrg { name, display_name } => {
                self.orgs.borrow_mut().insert(name, display_name);
            }
            Change::CreateToken {
                record,
                secret_hash,
            } => {
                self.tokens
                    .borrow_mut()
                    .insert((org.to_owned(), record.id.clone()), (record, secret_hash));
            }
            Change::RevokeToken { id } => {
                if let Some((record, _)) = self.tokens.borrow_mut().get_mut(&(org.to_owned(), id)) {
                    record.revoked_at.get_or_insert(self.now.get());
                }
            }
            Change::CreateWebhook(endpoint, secret) => {
                self.webhooks.borrow_mut().insert(
                    (org.to_owned(), endpoint.id.clone()),
                    (endpoint, secret, false),
                );
            }
            Change::DeleteWebhook { id } => {
                if let Some(entry) = self.webhooks.borrow_mut().get_mut(&(org.to_owned(), id)) {
                    entry.2 = true;
                }
            }
            Change::SetReference {
                model,
                version,
                profile,
                ..
            } => {
                self.references
                    .borrow_mut()
                    .insert((org.to_owned(), model, version), *profile);
            }
            Change::SetTags {
                model,
                version,
                old,
                new,
            } => {
                let key = (org.to_owned(), model, version);
                if let Some(record) = self.registered.borrow_mut().get_mut(&key)
                    && record.tags == old
                {
                    record.tags = new;
                }
            }
            Change::CreateModel { request, .. } => {
                self.add_model(org, &request.name);
                if let Some(metric) = request.primary_metric {
                    self.set_primary_metric(org, &request.name, metric);
                }
            }
            Change::RegisterVersion(record) => {
                let metrics = record.metrics.clone();
                let key = (org.to_owned(), record.model.clone(), record.version.clone());
                self.versions.borrow_mut().insert(
                    key.clone(),
                    VersionArtifact {
                        version: record.version.clone(),
                        digest: record.digest,
                        length: record.size,
                    },
                );
                self.gate_facts.borrow_mut().insert(
                    key.clone(),
                    GateFacts {
                        digest: record.digest,
                        length: record.size,
                        format: record.format.as_str().to_owned(),
                        metrics,
                        status: record.status.as_str().to_owned(),
                        status_reason: record.status_reason.clone(),
                    },
                );
                self.created_at
                    .borrow_mut()
                    .insert(key.clone(), record.created_at);
                self.registered.borrow_mut().insert(key, record);
            }
            Change::RecordImport(record) => {
                self.imports.borrow_mut().push((org.to_owned(), *record));
            }
            Change::SetPolicies { model, policies } => {
                self.set_policies(org, &model, policies);
            }
            Change::DeleteVersion { model, version } => {
                let key = (org.to_owned(), model, version);
                self.versions.borrow_mut().remove(&key);
                self.gate_facts.borrow_mut().remove(&key);
            }
            Change::DeleteBlob { digest } => {
                self.blob_rows
                    .borrow_mut()
                    .remove(&(org.to_owned(), digest));
            }
            Change::ClaimBlob { digest } => {
                self.claimed
                    .borrow_mut()
                    .insert((org.to_owned(), digest), self.now.get());
            }
            Change::CollectBlob { digest, before } => {
                let key = (org.to_owned(), digest);
                let claimed = self.claimed.borrow().get(&key).copied().unwrap_or(0);
                let referenced = self
                    .versions
                    .borrow()
                    .iter()
                    .any(|((o, _, _), v)| o == org && v.digest == digest);
                let old = self
                    .blob_rows
                    .borrow()
                    .get(&key)
                    .is_some_and(|created| (*created).max(claimed) < before);
                if old && !referenced {
                    self.blob_rows.borrow_mut().remove(&key);
                }
            }
            Change::RecordCodedCopy { digest, copy, .. } => {
                let key = (org.to_owned(), digest);
                let sealed = self.encryption.borrow().contains_key(org)
                    || self.sealed_under.borrow().contains_key(&key);
                if !sealed && self.blob_rows.borrow().contains_key(&key) {
                    self.coded_sizes.borrow_mut().entry(key).or_insert(copy);
                }
            }
            Change::RecordBlob { digest, .. } => {
                self.blob_rows
                    .borrow_mut()
                    .entry((org.to_owned(), digest))
                    .or_insert(self.now.get());
            }
            Change::OpenUpload { upload, .. } => {
                self.upload_opened
                    .borrow_mut()
                    .insert((org.to_owned(), upload.id.clone()), self.now.get());
                self.uploads
                    .borrow_mut()
                    .insert((org.to_owned(), upload.id.clone()), upload);
            }
            Change::RecordPart {
                upload,
                number,
                etag,
                ..
            } => {
                if let Some(open) = self.uploads.borrow_mut().get_mut(&(org.to_owned(), upload)) {
                    open.parts.retain(|(n, _)| *n != number);
                    open.parts.push((number, etag));
                    open.parts.sort();
                }
            }
            Change::CloseUpload { id } => {
                self.uploads.borrow_mut().remove(&(org.to_owned(), id));
            }
            Change::Webhook { event, data } => {
                self.outbox.borrow_mut().push((org.to_owned(), event, data));
            }
        }
    }

    /// Makes the port method `name` answer "not configured" (a missing
    /// secret or binding).
    pub fn unconfigure(&self, name: &'static str) {
        self.unconfigured.borrow_mut().insert(name);
    }

    fn check(&self, name: &'static str) -> Result<(), StoreError> {
        if self.unconfigured.borrow().contains(name) {
            return Err(StoreError::NotConfigured(format!(
                "signed distribution is not configured: no {name} key"
            )));
        }
        if self.failing.borrow().contains(name) {
            return Err(StoreError::new(format!("{name}: injected failure")));
        }
        Ok(())
    }

    fn artifacts(&self, org: &str, model: &str, versions: &[&str]) -> Vec<VersionArtifact> {
        let rows = self.versions.borrow();
        versions
            .iter()
            .filter_map(|v| rows.get(&(org.to_owned(), model.to_owned(), (*v).to_owned())))
            .cloned()
            .collect()
    }
}

/// A deterministic ed25519 key from a seed byte (RFC 8410 PKCS#8 prefix).
pub fn test_key(seed: u8) -> SigningKey {
    let mut doc = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    doc.extend([seed; 32]);
    match SigningKey::from_pkcs8(&doc) {
        Ok(key) => key,
        Err(err) => unreachable!("a 32-byte seed is an ed25519 key: {err}"),
    }
}

impl Models for MemoryRegistry {
    async fn model_exists(&self, org: &str, model: &str) -> Result<bool, StoreError> {
        self.check("model_exists")?;
        Ok(self
            .models
            .borrow()
            .contains(&(org.to_owned(), model.to_owned())))
    }

    async fn model_primary_metric(
        &self,
        org: &str,
        model: &str,
    ) -> Result<Option<Option<PrimaryMetric>>, StoreError> {
        if !self.model_exists(org, model).await? {
            return Ok(None);
        }
        Ok(Some(
            self.primary_metrics
                .borrow()
                .get(&(org.to_owned(), model.to_owned()))
                .cloned(),
        ))
    }
}

impl Stages for MemoryRegistry {
    async fn stage_head(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        with_release: bool,
    ) -> Result<StageHead, StoreError> {
        self.check("stage_head")?;
        let mut history = self.history(org, model, stage);
        // Like the Worker's query: the latest time in the whole history.
        let moved_at = history.iter().map(|h| h.at).max();
        let head = history.pop();
        let release = with_release
            .then(|| self.releases.borrow().get(org).cloned())
            .flatten();
        Ok(StageHead {
            changed_at: moved_at
                .max(release.as_ref().map(|(_, at)| *at))
                .unwrap_or(0),
            state: head.map(|h| h.to),
            release: release.map(|(targets, _)| targets),
        })
    }
}

impl Versions for MemoryRegistry {
    async fn version_artifacts(
        &self,
        org: &str,
        model: &str,
        versions: &[&str],
    ) -> Result<Vec<VersionArtifact>, StoreError> {
        self.check("version_artifacts")?;
        Ok(self.artifacts(org, model, versions))
    }
}

impl ResolutionPlans for MemoryRegistry {
    fn kept_plan(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        now_ms: i64,
    ) -> Option<Rc<ResolutionPlan>> {
        let plans = self.plans.borrow();
        let (drawn, plan) = plans
            .as_ref()?
            .get(&(org.to_owned(), model.to_owned(), stage))?;
        (now_ms - drawn <= PLAN_LIFETIME_MS).then(|| plan.clone())
    }

    fn keep_plan(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        plan: Rc<ResolutionPlan>,
        now_ms: i64,
    ) {
        if let Some(plans) = self.plans.borrow_mut().as_mut() {
            plans.insert((org.to_owned(), model.to_owned(), stage), (now_ms, plan));
        }
    }
}

impl Keys for MemoryRegistry {
    fn director(&self) -> Result<SigningKey, StoreError> {
        self.check("director")?;
        Ok(self.director_key())
    }

    fn routing_salt(&self) -> Result<Digest, StoreError> {
        self.check("routing_salt")?;
        Ok(self.salt)
    }
}

impl Clock for MemoryRegistry {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }

    fn random_u32(&self) -> Result<u32, StoreError> {
        self.check("random_u32")?;
        Ok(self.random.get())
    }

    /// Deterministic "random" bytes: a counter, so ids differ per call.
    fn random_bytes(&self, n: usize) -> Result<Vec<u8>, StoreError> {
        let next = self.random_counter.get().wrapping_add(1);
        self.random_counter.set(next);
        Ok(vec![next; n])
    }
}

impl OnlineKey for MemoryRegistry {
    fn online(&self) -> Result<SigningKey, StoreError> {
        self.check("online")?;
        Ok(self.online_key())
    }
}

impl TrustFiles for MemoryRegistry {
    async fn latest_trust_file(
        &self,
        org: &str,
        role: TrustRole,
    ) -> Result<Option<(u64, Envelope)>, StoreError> {
        self.check("latest_trust_file")?;
        Ok(self.trust_files(org, role).pop())
    }

    async fn trust_file(
        &self,
        org: &str,
        role: TrustRole,
        version: u64,
    ) -> Result<Option<Envelope>, StoreError> {
        Ok(self
            .trust_files
            .borrow()
            .get(&(org.to_owned(), role, version))
            .cloned())
    }
}

impl Commit for MemoryRegistry {
    async fn apply(&self, org: &str, changes: Vec<Change>) -> Result<(), CommitError> {
        self.check("commit")?;
        self.forget_plans(org);
        for change in changes {
            self.apply(org, change);
        }
        Ok(())
    }

    /// All or nothing, like D1's `batch()`: every change is checked against
    /// its unique key before any is applied, then the audit entry chains.
    async fn commit(
        &self,
        org: &str,
        changes: Vec<Change>,
        event: AuditEvent,
    ) -> Result<(), CommitError> {
        self.check("commit")?;
        self.forget_plans(org);
        if self.failing.borrow().contains("commit_conflict") {
            return Err(CommitError::Conflict("deployments"));
        }
        for (racer, change) in self.racing.take() {
            self.apply(&racer, change);
        }
        {
            let files = self.trust_files.borrow();
            let deployments = self.deployments.borrow();
            for change in &changes {
                match change {
                    Change::TrustFile { role, version, .. }
                        if files.contains_key(&(org.to_owned(), *role, *version)) =>
                    {
                        return Err(CommitError::Conflict("trust_metadata"));
                    }
                    Change::CreateOrg { name, .. } if self.orgs.borrow().contains_key(name) => {
                        return Err(CommitError::Conflict("organizations"));
                    }
                    Change::SetReference { model, version, .. }
                        if self.references.borrow().contains_key(&(
                            org.to_owned(),
                            model.clone(),
                            version.clone(),
                        )) =>
                    {
                        return Err(CommitError::Conflict("reference_profiles"));
                    }
                    Change::RecordImport(record)
                        if self.imports.borrow().iter().any(|(o, r)| {
                            o == org && r.model == record.model && r.id == record.id
                        }) =>
                    {
                        return Err(CommitError::Conflict("imports"));
                    }
                    Change::CreateModel { request, .. }
                        if self
                            .models
                            .borrow()
                            .contains(&(org.to_owned(), request.name.clone())) =>
                    {
                        return Err(CommitError::Conflict("models"));
                    }
                    Change::RegisterVersion(record)
                        if self.versions.borrow().contains_key(&(
                            org.to_owned(),
                            record.model.clone(),
                            record.version.clone(),
                        )) =>
                    {
                        return Err(CommitError::Conflict("versions"));
                    }
                    Change::Deployment(d)
                        if deployments.contains_key(&(
                            org.to_owned(),
                            d.model.clone(),
                            d.stage,
                            d.seq,
                        )) =>
                    {
                        return Err(CommitError::Conflict("deployments"));
                    }
                    Change::OpenUpload { upload, .. }
                        if self
                            .uploads
                            .borrow()
                            .iter()
                            .any(|((o, _), open)| o == org && open.digest == upload.digest) =>
                    {
                        return Err(CommitError::Conflict("uploads"));
                    }
                    _ => {}
                }
            }
        }
        for change in changes {
            self.apply(org, change);
        }
        let (actor, role) = event.actor.audit_fields();
        let mut audit = self.audit.borrow_mut();
        let last = audit
            .iter()
            .rev()
            .find(|e| e.org == org)
            .map(|e| (e.seq, e.hash.clone()));
        let entry = chain_after(
            AuditEntry {
                org: org.to_owned(),
                seq: 0,
                at: self.now.get(),
                actor: Some(actor),
                role,
                action: event.action,
                target: event.target,
                outcome: Outcome::Ok,
                details: event.details,
                prev_hash: String::new(),
                hash: String::new(),
            },
            last.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        );
        audit.push(entry);
        Ok(())
    }
}

impl MemoryRegistry {
    /// Counts `n` usage events of `subject` at `at_ms`, as an isolate's
    /// write would (`outpost_core::stats::Pending`).
    pub fn count_usage(
        &self,
        org: &str,
        kind: outpost_core::stats::UsageKind,
        subject: &str,
        at_ms: i64,
        n: u64,
    ) {
        let hour = outpost_core::stats::hour_of(at_ms);
        *self
            .usage
            .borrow_mut()
            .entry((org.to_owned(), kind, subject.to_owned(), hour))
            .or_default() += n;
    }
}

impl crate::ports::AtRest for MemoryRegistry {
    fn at_rest_configured(&self) -> bool {
        self.at_rest_configured.get()
    }

    async fn org_encryption(
        &self,
        org: &str,
    ) -> Result<Option<outpost_core::at_rest::OrgEncryption>, StoreError> {
        self.check("org_encryption")?;
        Ok(self.encryption.borrow().get(org).copied())
    }

    async fn objects_at(
        &self,
        org: &str,
    ) -> Result<Vec<outpost_core::at_rest::ObjectsAt>, StoreError> {
        self.check("objects_at")?;
        let mut counts: BTreeMap<Option<u32>, (u64, u64)> = BTreeMap::new();
        let sealed = self.sealed_under.borrow();
        let blobs = self.blobs.borrow();
        for key in self.blob_rows.borrow().keys().filter(|(o, _)| o == org) {
            let count = counts.entry(sealed.get(key).copied()).or_default();
            count.0 += 1;
            count.1 += blobs.get(key).map_or(0, |b| b.len() as u64);
        }
        Ok(counts
            .into_iter()
            .map(
                |(key_version, (objects, bytes))| outpost_core::at_rest::ObjectsAt {
                    key_version,
                    objects,
                    bytes,
                },
            )
            .collect())
    }
}

impl crate::ports::Statistics for MemoryRegistry {
    async fn model_holdings(
        &self,
        org: &str,
    ) -> Result<Vec<outpost_core::stats::ModelHoldings>, StoreError> {
        self.check("model_holdings")?;
        let versions = self.versions.borrow();
        let sizes = self.blobs.borrow();
        let copies = self.coded_sizes.borrow();
        Ok(self
            .models
            .borrow()
            .iter()
            .filter(|key| key.0 == org)
            .map(|key| {
                let held: Vec<&VersionArtifact> = versions
                    .iter()
                    .filter(|((o, m, _), _)| o == org && *m == key.1)
                    .map(|(_, v)| v)
                    .collect();
                let digests: BTreeSet<String> = held.iter().map(|v| v.digest.to_string()).collect();
                let distinct: Vec<(u64, u64)> = held
                    .iter()
                    .map(|v| (v.digest, v.length))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .map(|(digest, length)| {
                        let key = (org.to_owned(), digest);
                        let size = sizes.get(&key).map_or(length, |bytes| bytes.len() as u64);
                        (
                            size,
                            copies.get(&key).map_or(size, |copy| size.min(copy.size)),
                        )
                    })
                    .collect();
                let stored = distinct.iter().map(|(size, _)| size).sum();
                let compressed = distinct.iter().map(|(_, smallest)| smallest).sum();
                outpost_core::stats::ModelHoldings {
                    model: key.1.clone(),
                    versions: held.len() as u64,
                    logical_bytes: held.iter().map(|v| v.length).sum(),
                    stored_bytes: stored,
                    compressed_bytes: compressed,
                    digests,
                }
            })
            .collect())
    }

    async fn org_holdings(
        &self,
        org: &str,
    ) -> Result<outpost_core::stats::OrgHoldings, StoreError> {
        self.check("org_holdings")?;
        let rows = self.blob_rows.borrow();
        let blobs = self.blobs.borrow();
        let mine: Vec<&(String, Digest)> = rows.keys().filter(|(o, _)| o == org).collect();
        Ok(outpost_core::stats::OrgHoldings {
            logical_bytes: self
                .versions
                .borrow()
                .iter()
                .filter(|((o, _, _), _)| o == org)
                .map(|(_, v)| v.length)
                .sum(),
            stored_bytes: mine
                .iter()
                .map(|key| blobs.get(*key).map_or(0, |bytes| bytes.len() as u64))
                .sum(),
            compressed_bytes: mine
                .iter()
                .map(|key| {
                    let size = blobs.get(*key).map_or(0, |bytes| bytes.len() as u64);
                    self.coded_sizes
                        .borrow()
                        .get(*key)
                        .map_or(size, |copy| size.min(copy.size))
                })
                .sum(),
            artifacts: mine.len() as u64,
        })
    }

    async fn all_stage_heads(&self, org: &str) -> Result<Vec<Deployment>, StoreError> {
        self.check("all_stage_heads")?;
        let mut heads: BTreeMap<(String, Stage), Deployment> = BTreeMap::new();
        for ((o, model, stage, _), entry) in self.deployments.borrow().iter() {
            if o == org {
                heads.insert((model.clone(), *stage), entry.clone());
            }
        }
        Ok(heads.into_values().collect())
    }

    async fn usage(
        &self,
        org: &str,
        day_from: i64,
        month_from: i64,
    ) -> Result<Vec<outpost_core::stats::UsageRow>, StoreError> {
        self.check("usage")?;
        let mut rows: BTreeMap<
            (outpost_core::stats::UsageKind, String),
            outpost_core::stats::Usage,
        > = BTreeMap::new();
        for ((o, kind, subject, hour), n) in self.usage.borrow().iter() {
            if o != org || *hour < month_from {
                continue;
            }
            let usage = rows.entry((*kind, subject.clone())).or_default();
            usage.last_30d += n;
            if *hour >= day_from {
                usage.last_24h += n;
            }
        }
        Ok(rows
            .into_iter()
            .map(|((kind, subject), usage)| outpost_core::stats::UsageRow {
                kind,
                subject,
                usage,
            })
            .collect())
    }
}

impl Deployments for MemoryRegistry {
    async fn stage_head_entry(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Option<Deployment>, StoreError> {
        self.check("stage_head_entry")?;
        Ok(self.history(org, model, stage).pop())
    }

    async fn stage_history(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Vec<Deployment>, StoreError> {
        self.check("stage_history")?;
        Ok(self.history(org, model, stage))
    }

    async fn stage_heads(&self, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError> {
        let mut heads: BTreeMap<Stage, Deployment> = BTreeMap::new();
        for entry in self.model_history(org, model).await? {
            heads.insert(entry.stage, entry);
        }
        Ok(heads.into_values().collect())
    }

    async fn model_history(&self, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError> {
        self.check("model_history")?;
        let mut all: Vec<Deployment> = self
            .deployments
            .borrow()
            .iter()
            .filter(|((o, m, _, _), _)| o == org && m == model)
            .map(|(_, d)| d.clone())
            .collect();
        all.sort_by_key(|d| (d.at, d.stage, d.seq));
        Ok(all)
    }

    async fn was_in_staging(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .history(org, model, Stage::Staging)
            .iter()
            .any(|d| d.to.targets.iter().any(|t| t.version == version)))
    }
}

impl VersionDetails for MemoryRegistry {
    async fn deletion_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<(Digest, u64)>, StoreError> {
        let versions = self.versions.borrow();
        let Some(row) = versions.get(&(org.to_owned(), model.to_owned(), version.to_owned()))
        else {
            return Ok(None);
        };
        let others = versions
            .iter()
            .filter(|((o, m, v), other)| {
                o == org && other.digest == row.digest && !(m == model && v == version)
            })
            .count() as u64;
        Ok(Some((row.digest, others)))
    }

    async fn highest_version(
        &self,
        org: &str,
        model: &str,
        metric: Option<&str>,
    ) -> Result<Option<(semver::Version, Option<f64>)>, StoreError> {
        let facts = self.gate_facts.borrow();
        Ok(self
            .versions
            .borrow()
            .keys()
            .filter(|(o, m, _)| o == org && m == model)
            .filter_map(|key| Some((semver::Version::parse(&key.2).ok()?, key)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(version, key)| {
                let value = metric
                    .and_then(|name| facts.get(key).and_then(|f| f.metrics.get(name).copied()));
                (version, value)
            }))
    }

    async fn version_record(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        Ok(self
            .registered
            .borrow()
            .get(&(org.to_owned(), model.to_owned(), version.to_owned()))
            .cloned())
    }

    async fn version_ages(&self, org: &str, model: &str) -> Result<Vec<VersionAge>, StoreError> {
        let created = self.created_at.borrow();
        let facts = self.gate_facts.borrow();
        Ok(self
            .versions
            .borrow()
            .keys()
            .filter(|(o, m, _)| o == org && m == model)
            .map(|key| VersionAge {
                version: key.2.clone(),
                created_at: created.get(key).copied().unwrap_or_default(),
                metrics: facts
                    .get(key)
                    .map(|f| f.metrics.clone())
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn gate_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<GateFacts>, StoreError> {
        self.check("gate_facts")?;
        let exists = self.versions.borrow().contains_key(&(
            org.to_owned(),
            model.to_owned(),
            version.to_owned(),
        ));
        Ok(exists
            .then(|| {
                self.gate_facts
                    .borrow()
                    .get(&(org.to_owned(), model.to_owned(), version.to_owned()))
                    .cloned()
            })
            .flatten())
    }
}

impl Policies for MemoryRegistry {
    async fn model_policies(&self, org: &str, model: &str) -> Result<ModelPolicies, StoreError> {
        Ok(self
            .policies
            .borrow()
            .get(&(org.to_owned(), model.to_owned()))
            .cloned()
            .unwrap_or_default())
    }
}

/// Bytes `range` of `bytes` (clamped: ranges are decided against the
/// stored size, so clamping only matters if the test edited the bytes).
fn slice(bytes: &[u8], range: ByteRange) -> Vec<u8> {
    let start = usize::try_from(range.start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = usize::try_from(range.end.saturating_add(1))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes[start..end.max(start)].to_vec()
}

impl Blobs for MemoryRegistry {
    type Incoming = Vec<u8>;
    type Object = Vec<u8>;

    async fn rehash(&self, org: &str, digest: &Digest) -> Result<Option<Rehashed>, StoreError> {
        self.check("rehash")?;
        Ok(self
            .blobs
            .borrow()
            .get(&(org.to_owned(), *digest))
            .map(|bytes| Rehashed {
                matches: Digest::of(bytes) == *digest,
                bytes: Some(bytes.clone()),
            }))
    }

    async fn blob_facts(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<BlobFacts>, StoreError> {
        self.check("blob_facts")?;
        let key = (org.to_owned(), *digest);
        let Some(created_at) = self.blob_rows.borrow().get(&key).copied() else {
            return Ok(None);
        };
        let sealed = self.encryption.borrow().contains_key(org)
            || self.sealed_under.borrow().contains_key(&key);
        let gzip = self.coded_sizes.borrow().get(&key).cloned();
        Ok(self.blobs.borrow().get(&key).map(|bytes| BlobFacts {
            size: bytes.len() as u64,
            created_at,
            gzip: gzip.filter(|_| !sealed),
            sealed,
        }))
    }

    /// Stores the bytes only if they are `size` bytes hashing to `digest`,
    /// like R2's checked put.
    async fn put_object(
        &self,
        org: &str,
        digest: &Digest,
        size: u64,
        body: Vec<u8>,
    ) -> Result<Arrival, StoreError> {
        self.check("put_object")?;
        let received = Received {
            length: body.len() as u64,
            digest: Digest::of(&body),
        };
        if received.length != size || received.digest != *digest {
            return Ok(Arrival::Refused(received));
        }
        self.write_object(org, *digest, body);
        Ok(Arrival::Stored {
            etag: digest.hex(),
            received,
        })
    }

    async fn open_object(
        &self,
        org: &str,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let bytes = self.blobs.borrow().get(&(org.to_owned(), *digest)).cloned();
        Ok(match range {
            None => bytes,
            Some(range) => bytes.map(|b| slice(&b, range)),
        })
    }

    async fn read_range(
        &self,
        org: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.open_object(org, digest, Some(range)).await
    }

    async fn read(&self, org: &str, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blobs.borrow().get(&(org.to_owned(), *digest)).cloned())
    }

    async fn unreferenced_blobs(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(String, Digest)>, StoreError> {
        self.check("unreferenced_blobs")?;
        let versions = self.versions.borrow();
        let mut old: Vec<(i64, String, Digest)> = self
            .blob_rows
            .borrow()
            .iter()
            .filter(|((org, digest), created)| {
                let claimed = self
                    .claimed
                    .borrow()
                    .get(&(org.clone(), *digest))
                    .copied()
                    .unwrap_or(0);
                (**created).max(claimed) < before
                    && !versions
                        .iter()
                        .any(|((o, _, _), v)| o == org && v.digest == *digest)
            })
            .map(|((org, digest), created)| (*created, org.clone(), *digest))
            .collect();
        old.sort();
        Ok(old
            .into_iter()
            .take(limit)
            .map(|(_, org, digest)| (org, digest))
            .collect())
    }

    async fn delete_stale_object(
        &self,
        org: &str,
        digest: &Digest,
        before: i64,
    ) -> Result<bool, StoreError> {
        let key = (org.to_owned(), *digest);
        let written = self.object_written.borrow().get(&key).copied();
        if written.is_some_and(|at| at < before) {
            self.remove_object(org, digest);
            self.object_written.borrow_mut().remove(&key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn delete_object(&self, org: &str, digest: &Digest) -> Result<(), StoreError> {
        self.remove_object(org, digest);
        Ok(())
    }

    /// Keeps the body if it is `encoded_size` bytes, and decodes it with
    /// flate2 as the Worker does with `DecompressionStream`.
    async fn put_coded_copy(
        &self,
        org: &str,
        (digest, id): (&Digest, &str),
        (coding, encoded_size): (Coding, u64),
        limit: u64,
        body: Vec<u8>,
    ) -> Result<CopyArrival, StoreError> {
        use std::io::Read;
        self.check("put_coded_copy")?;
        if let Some((o, d, copy, bytes)) = self.racing_copy.borrow_mut().take() {
            self.record_coded_copy(&o, d, copy, bytes);
        }
        if body.len() as u64 != encoded_size {
            return Ok(CopyArrival::Refused(format!(
                "{} bytes arrived, not the {encoded_size} declared",
                body.len()
            )));
        }
        if coding != Coding::Gzip {
            return Ok(CopyArrival::Refused(format!("{coding:?} is not stored")));
        }
        // Every member, as browsers' and Node's decoders read them.
        let mut decoded = Vec::new();
        let read = flate2::read::MultiGzDecoder::new(&body[..])
            .take(limit + 1)
            .read_to_end(&mut decoded);
        let trailer = body[body.len().saturating_sub(8)..].to_vec();
        self.coded_copies
            .borrow_mut()
            .insert((org.to_owned(), *digest, id.to_owned()), body);
        Ok(match read {
            Ok(_) => CopyArrival::Decoded {
                received: Received {
                    length: decoded.len() as u64,
                    digest: Digest::of(&decoded),
                },
                trailer,
            },
            Err(err) => CopyArrival::Refused(format!("it does not decode: {err}")),
        })
    }

    async fn open_coded_copy(
        &self,
        org: &str,
        digest: &Digest,
        (_, id): (Coding, &str),
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .coded_copies
            .borrow()
            .get(&(org.to_owned(), *digest, id.to_owned()))
            .cloned())
    }

    async fn discard_coded_copy(
        &self,
        org: &str,
        digest: &Digest,
        (_, id): (Coding, &str),
    ) -> Result<(), StoreError> {
        self.coded_copies
            .borrow_mut()
            .remove(&(org.to_owned(), *digest, id.to_owned()));
        Ok(())
    }
}

impl crate::ports::Uploads for MemoryRegistry {
    type Part = Vec<u8>;

    async fn open_upload(&self, org: &str, id: &str) -> Result<Option<OpenUpload>, StoreError> {
        self.check("open_upload")?;
        Ok(self
            .uploads
            .borrow()
            .get(&(org.to_owned(), id.to_owned()))
            .cloned())
    }

    async fn open_upload_of(
        &self,
        org: &str,
        digest: &Digest,
    ) -> Result<Option<OpenUpload>, StoreError> {
        Ok(self
            .uploads
            .borrow()
            .iter()
            .find(|((o, _), open)| o == org && open.digest == *digest)
            .map(|(_, open)| open.clone()))
    }

    async fn stale_uploads(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(String, OpenUpload)>, StoreError> {
        let opened = self.upload_opened.borrow();
        let mut stale: Vec<(i64, String, OpenUpload)> = self
            .uploads
            .borrow()
            .iter()
            .filter_map(|((org, id), upload)| {
                let at = opened.get(&(org.clone(), id.clone())).copied()?;
                (at < before).then(|| (at, org.clone(), upload.clone()))
            })
            .collect();
        stale.sort_by_key(|(at, _, _)| *at);
        Ok(stale
            .into_iter()
            .take(limit)
            .map(|(_, org, upload)| (org, upload))
            .collect())
    }

    async fn begin_multipart(&self, _org: &str, _digest: &Digest) -> Result<String, StoreError> {
        self.check("begin_multipart")?;
        let id = format!("mpu-{}", self.multiparts.borrow().len() + 1);
        self.multiparts.borrow_mut().insert(id.clone());
        Ok(id)
    }

    async fn abort_multipart(&self, org: &str, _digest: &Digest, backend_id: &str) {
        self.multiparts.borrow_mut().remove(backend_id);
        self.part_objects
            .borrow_mut()
            .retain(|(o, b, _), _| !(o == org && b == backend_id));
    }

    /// Refuses a part of the wrong length (R2's fixed-length stream does).
    async fn put_part(
        &self,
        org: &str,
        upload: &OpenUpload,
        number: u64,
        length: u64,
        body: Vec<u8>,
    ) -> Result<Arrival, StoreError> {
        self.check("put_part")?;
        let received = Received {
            length: body.len() as u64,
            digest: Digest::of(&body),
        };
        if received.length != length {
            return Ok(Arrival::Refused(received));
        }
        self.part_objects
            .borrow_mut()
            .insert((org.to_owned(), upload.backend_id.clone(), number), body);
        Ok(Arrival::Stored {
            etag: format!("etag-{number}-{}", &received.digest.hex()[..8]),
            received,
        })
    }

    async fn complete_multipart(
        &self,
        org: &str,
        upload: &OpenUpload,
    ) -> Result<Received, StoreError> {
        self.check("complete_multipart")?;
        let mut object = Vec::new();
        {
            let parts = self.part_objects.borrow();
            for (number, _) in &upload.parts {
                let key = (org.to_owned(), upload.backend_id.clone(), *number);
                let part = parts
                    .get(&key)
                    .ok_or_else(|| StoreError::new(format!("part {number} is not stored")))?;
                object.extend_from_slice(part);
            }
        }
        self.multiparts.borrow_mut().remove(&upload.backend_id);
        let received = Received {
            length: object.len() as u64,
            digest: Digest::of(&object),
        };
        if received.digest == upload.digest && received.length == upload.plan.size {
            self.write_object(org, upload.digest, object);
        }
        Ok(received)
    }
}

impl MemoryRegistry {
    /// Multipart uploads open in the object store (begun, not completed or
    /// aborted): what a failed start must not leave behind.
    pub fn open_multiparts(&self) -> usize {
        self.multiparts.borrow().len()
    }

    /// Whether the artifact's object exists (whatever its row says).
    pub fn has_object(&self, org: &str, digest: Digest) -> bool {
        self.blobs.borrow().contains_key(&(org.to_owned(), digest))
    }

    fn write_object(&self, org: &str, digest: Digest, bytes: Vec<u8>) {
        let key = (org.to_owned(), digest);
        // New objects are sealed under the organisation's key version.
        if let Some(state) = self.encryption.borrow().get(org) {
            self.sealed_under
                .borrow_mut()
                .insert(key.clone(), state.key_version);
        }
        self.object_written
            .borrow_mut()
            .insert(key.clone(), self.now.get());
        self.blobs.borrow_mut().insert(key, bytes);
    }

    fn remove_object(&self, org: &str, digest: &Digest) {
        let key = (org.to_owned(), *digest);
        self.blobs.borrow_mut().remove(&key);
        self.coded_copies
            .borrow_mut()
            .retain(|(o, d, _), _| !(o == org && d == digest));
        self.coded_sizes.borrow_mut().remove(&key);
    }

    /// How many gzip copies of the artifact are stored (recorded or not).
    pub fn coded_copies_of(&self, org: &str, digest: Digest) -> usize {
        self.coded_copies
            .borrow()
            .keys()
            .filter(|(o, d, _)| o == org && *d == digest)
            .count()
    }

    /// Makes another upload record `copy` while the next copy is stored
    /// (a race the use case must lose gracefully).
    pub fn record_during_next_copy_upload(
        &self,
        org: &str,
        digest: Digest,
        copy: StoredCopy,
        bytes: Vec<u8>,
    ) {
        *self.racing_copy.borrow_mut() = Some((org.to_owned(), digest, copy, bytes));
    }

    /// Records `copy` as the artifact's gzip copy, as a concurrent upload
    /// that finished first would have (see [`Change::RecordCodedCopy`]).
    pub fn record_coded_copy(&self, org: &str, digest: Digest, copy: StoredCopy, bytes: Vec<u8>) {
        self.coded_copies
            .borrow_mut()
            .insert((org.to_owned(), digest, copy.id.clone()), bytes);
        self.coded_sizes
            .borrow_mut()
            .insert((org.to_owned(), digest), copy);
    }
}

impl Runtime for MemoryRegistry {
    async fn check_loadable(&self, bytes: &[u8]) -> Result<Result<(), String>, StoreError> {
        self.check("check_loadable")?;
        Ok(if self.unloadable.borrow().contains(&Digest::of(bytes)) {
            Err("unsupported operator TreeEnsembleRegressor".into())
        } else {
            Ok(())
        })
    }

    /// A stand-in for the real inspection: empty bytes are not a model,
    /// bytes that mention `os.system` are an unsafe pickle, anything else is
    /// what was declared (ONNX by default).
    fn inspect(
        &self,
        bytes: &[u8],
        declared: Option<ArtifactFormat>,
    ) -> Result<Inspection, String> {
        if bytes.is_empty() {
            return Err("an empty file is not a model".into());
        }
        let calls_system = bytes.windows(9).any(|w| w == b"os.system");
        Ok(Inspection {
            format: if calls_system {
                ArtifactFormat::Pickle
            } else {
                declared.unwrap_or(ArtifactFormat::Onnx)
            },
            schema: None,
            unsafe_reason: calls_system.then(|| "calls os.system".to_owned()),
        })
    }
}

impl crate::ports::Imports for MemoryRegistry {
    async fn import_record(
        &self,
        org: &str,
        model: &str,
        id: &Digest,
    ) -> Result<Option<outpost_core::bundle::ImportRecord>, StoreError> {
        self.check("imports")?;
        Ok(self
            .imports
            .borrow()
            .iter()
            .find(|(o, r)| o == org && r.model == model && r.id == *id)
            .map(|(_, r)| r.clone()))
    }

    async fn import_records(
        &self,
        org: &str,
        model: &str,
    ) -> Result<Vec<outpost_core::bundle::ImportRecord>, StoreError> {
        self.check("imports")?;
        Ok(self
            .imports
            .borrow()
            .iter()
            .filter(|(o, r)| o == org && r.model == model)
            .map(|(_, r)| r.clone())
            .collect())
    }
}

impl Profiles for MemoryRegistry {
    async fn reference_profile(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<ReferenceProfile>, StoreError> {
        Ok(self
            .references
            .borrow()
            .get(&(org.to_owned(), model.to_owned(), version.to_owned()))
            .cloned())
    }
}

impl MemoryRegistry {
    /// A webhook's secret, as stored (tests compare it with what was shown).
    pub fn webhook_secret(&self, org: &str, id: &str) -> Option<String> {
        self.webhooks
            .borrow()
            .get(&(org.to_owned(), id.to_owned()))
            .map(|(_, secret, _)| secret.clone())
    }
}

impl Webhooks for MemoryRegistry {
    async fn webhook_count(&self, org: &str) -> Result<usize, StoreError> {
        Ok(self
            .webhooks
            .borrow()
            .iter()
            .filter(|((o, _), (_, _, deleted))| o == org && !deleted)
            .count())
    }

    async fn webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(self
            .webhooks
            .borrow()
            .get(&(org.to_owned(), id.to_owned()))
            .filter(|(_, _, deleted)| !deleted)
            .map(|(endpoint, _, _)| endpoint.clone()))
    }
}

impl MemoryRegistry {
    /// How many telemetry windows a version has at a stage, by source.
    pub fn window_count(&self, org: &str, model: &str, version: &str, source: &str) -> usize {
        self.windows
            .borrow()
            .iter()
            .filter(|(o, m, v, _, s, _)| o == org && m == model && v == version && s == source)
            .count()
    }
}

impl MemoryRegistry {
    /// The guardrail verdicts recorded for a stage, oldest first.
    pub fn recorded_checks(&self, org: &str, model: &str, stage: Stage) -> Vec<Value> {
        self.checks
            .borrow()
            .iter()
            .filter(|(o, m, s, _)| o == org && m == model && *s == stage)
            .map(|(_, _, _, v)| v.clone())
            .collect()
    }

    /// Stores a window as a client would have reported it.
    pub fn add_window(&self, org: &str, at: (&str, &str, Stage), window: TelemetryWindow) {
        let (model, version, stage) = at;
        self.windows.borrow_mut().push((
            org.to_owned(),
            model.to_owned(),
            version.to_owned(),
            stage,
            "client".to_owned(),
            window,
        ));
    }
}

impl Telemetry for MemoryRegistry {
    async fn version_windows(
        &self,
        org: &str,
        model: &str,
        version: &str,
        stage: Option<Stage>,
        _since: i64,
    ) -> Result<Vec<TelemetryWindow>, StoreError> {
        Ok(self
            .windows
            .borrow()
            .iter()
            .filter(|(o, m, v, s, _, _)| {
                o == org && m == model && v == version && stage.is_none_or(|want| *s == want)
            })
            .map(|(.., w)| w.clone())
            .collect())
    }

    async fn insert_window(
        &self,
        org: &str,
        (model, version, stage, source): (&str, &str, Stage, &str),
        window: &TelemetryWindow,
    ) -> Result<(), StoreError> {
        self.check("insert_window")?;
        self.windows.borrow_mut().push((
            org.to_owned(),
            model.to_owned(),
            version.to_owned(),
            stage,
            source.to_owned(),
            window.clone(),
        ));
        Ok(())
    }
}

impl MemoryRegistry {
    /// A token's record and secret hash, as stored.
    pub fn stored_token(&self, org: &str, id: &str) -> Option<(TokenRecord, Digest)> {
        self.tokens
            .borrow()
            .get(&(org.to_owned(), id.to_owned()))
            .cloned()
    }
}

impl Tokens for MemoryRegistry {
    async fn token(&self, org: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.stored_token(org, id).map(|(record, _)| record))
    }
}

impl MemoryRegistry {
    /// Puts a delivery in the outbox, due at `next_attempt_at`.
    pub fn queue_delivery(&self, delivery: DueDelivery) {
        self.deliveries.borrow_mut().push((delivery, None));
    }

    /// The next answers the sender gives, in order (then 200s).
    pub fn respond_with(&self, answers: Vec<Result<u16, String>>) {
        self.responses.borrow_mut().extend(answers);
    }

    /// What was posted: (url, headers, body).
    pub fn posted(&self) -> Vec<Posted> {
        self.posted.borrow().clone()
    }

    /// A delivery's state: (attempts, next attempt, last outcome).
    pub fn delivery(&self, id: &str) -> Option<(u64, i64, Option<AttemptOutcome>)> {
        self.deliveries
            .borrow()
            .iter()
            .find(|(d, _)| d.id == id)
            .map(|(d, o)| (d.attempts, d.next_attempt_at, o.clone()))
    }
}

impl Outbox for MemoryRegistry {
    async fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<DueDelivery>, StoreError> {
        Ok(self
            .deliveries
            .borrow()
            .iter()
            .filter(|(d, o)| {
                d.next_attempt_at <= now && !matches!(o, Some(AttemptOutcome::Delivered(_)))
            })
            .filter(|(_, o)| !matches!(o, Some(AttemptOutcome::Failed { next: None, .. })))
            .map(|(d, _)| d.clone())
            .take(limit)
            .collect())
    }

    async fn claim_delivery(&self, due: &DueDelivery, lease: i64) -> Result<bool, StoreError> {
        let mut deliveries = self.deliveries.borrow_mut();
        let Some((stored, _)) = deliveries.iter_mut().find(|(d, _)| d.id == due.id) else {
            return Ok(false);
        };
        if stored.next_attempt_at != due.next_attempt_at {
            return Ok(false);
        }
        stored.next_attempt_at = lease;
        Ok(true)
    }

    async fn record_attempt(
        &self,
        id: &str,
        attempts: u64,
        _at: i64,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut deliveries = self.deliveries.borrow_mut();
        if let Some((stored, last)) = deliveries.iter_mut().find(|(d, _)| d.id == id) {
            stored.attempts = attempts;
            if let AttemptOutcome::Failed {
                next: Some(next), ..
            } = outcome
            {
                stored.next_attempt_at = *next;
            }
            *last = Some(outcome.clone());
        }
        Ok(())
    }
}

impl Sender for MemoryRegistry {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &str,
        _timeout_ms: u64,
    ) -> Result<u16, String> {
        self.posted.borrow_mut().push((
            url.to_owned(),
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            body.to_owned(),
        ));
        self.responses.borrow_mut().pop_front().unwrap_or(Ok(200))
    }
}

impl Outcomes for MemoryRegistry {
    async fn insert_prediction(
        &self,
        org: &str,
        record: &PredictionRecord,
    ) -> Result<(), StoreError> {
        self.check("insert_prediction")?;
        self.predictions
            .borrow_mut()
            .insert((org.to_owned(), record.id.clone()), record.clone());
        Ok(())
    }

    async fn predictions(
        &self,
        org: &str,
        model: &str,
        ids: &[&str],
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        let kept = self.predictions.borrow();
        Ok(ids
            .iter()
            .filter_map(|id| kept.get(&(org.to_owned(), (*id).to_owned())))
            .filter(|p| p.model == model)
            .cloned()
            .collect())
    }

    async fn insert_feedback(
        &self,
        org: &str,
        model: &str,
        rows: &[FeedbackRow],
    ) -> Result<u64, StoreError> {
        self.check("insert_feedback")?;
        let mut stored = self.feedback.borrow_mut();
        let mut new = 0;
        for row in rows {
            let key = (
                org.to_owned(),
                model.to_owned(),
                row.prediction_id.clone(),
                row.row,
            );
            if let std::collections::btree_map::Entry::Vacant(slot) = stored.entry(key) {
                slot.insert(row.clone());
                new += 1;
            }
        }
        Ok(new)
    }

    async fn insert_outcome_window(
        &self,
        org: &str,
        (model, version, stage): (&str, &str, Stage),
        id: &str,
        window: &OutcomeWindow,
    ) -> Result<bool, StoreError> {
        self.check("insert_outcome_window")?;
        let key = (org.to_owned(), model.to_owned(), id.to_owned());
        let mut stored = self.outcome_windows.borrow_mut();
        if stored.contains_key(&key) {
            return Ok(false);
        }
        stored.insert(
            key,
            (version.to_owned(), stage, self.now.get(), window.clone()),
        );
        Ok(true)
    }

    async fn version_outcomes(
        &self,
        org: &str,
        (model, version): (&str, &str),
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<LabelledOutcome>, StoreError> {
        Ok(self
            .feedback
            .borrow()
            .iter()
            .filter(|((o, m, ..), row)| {
                o == org
                    && m == model
                    && row.version == version
                    && stage.is_none_or(|s| s == row.stage)
                    && row.predicted_at >= since
            })
            .map(|(_, row)| row.outcome.clone())
            .collect())
    }

    async fn version_outcome_windows(
        &self,
        org: &str,
        (model, version): (&str, &str),
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<OutcomeWindow>, StoreError> {
        Ok(self
            .outcome_windows
            .borrow()
            .iter()
            .filter(|((o, m, _), (v, s, at, _))| {
                o == org
                    && m == model
                    && v == version
                    && stage.is_none_or(|x| x == *s)
                    && *at >= since
            })
            .map(|(_, (.., w))| w.clone())
            .collect())
    }
}

impl Monitors for MemoryRegistry {
    async fn monitor(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Option<StoredMonitor>, StoreError> {
        Ok(self
            .monitors
            .borrow()
            .get(&(org.to_owned(), model.to_owned(), stage))
            .cloned())
    }

    async fn all_monitors(&self) -> Result<Vec<StoredMonitor>, StoreError> {
        Ok(self.monitors.borrow().values().cloned().collect())
    }

    async fn monitor_checks(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        limit: usize,
    ) -> Result<Vec<MonitorCheck>, StoreError> {
        let key = (org.to_owned(), model.to_owned(), stage);
        Ok(self
            .monitor_checks
            .borrow()
            .iter()
            .rev()
            .filter(|(k, _)| *k == key)
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }
}
