//! In-memory adapters of every port (feature `memory`), for native tests of
//! the use cases: the same reads and writes as the D1/R2 adapters, kept in
//! maps, with a fixed clock and a scripted random source. Failures can be
//! injected per port to test the storage-error paths.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use outpost_core::audit::{AuditEntry, Outcome, chain_after};
use outpost_core::digest::Digest;
use outpost_core::lifecycle::{Stage, StageState};
use outpost_core::signing::SigningKey;
use outpost_core::trust::{Envelope, Targets};

use crate::error::StoreError;
use crate::ports::{
    AuditEvent, Change, Clock, Commit, CommitError, Keys, Models, OnlineKey, Resolutions,
    StageHead, Stages, TrustFiles, TrustRole, VersionArtifact, Versions,
};

type ModelKey = (String, String);

/// A whole registry in memory. Interior mutability: use cases take `&self`
/// ports, as they do over D1.
#[derive(Debug)]
pub struct MemoryRegistry {
    models: RefCell<BTreeSet<ModelKey>>,
    stages: RefCell<BTreeMap<(String, String, Stage), StageState>>,
    versions: RefCell<BTreeMap<(String, String, String), VersionArtifact>>,
    releases: RefCell<BTreeMap<String, Targets>>,
    counters: RefCell<BTreeMap<String, u64>>,
    now: Cell<i64>,
    random: Cell<u32>,
    director_seed: u8,
    salt: Digest,
    failing: RefCell<BTreeSet<&'static str>>,
    trust_files: RefCell<BTreeMap<(String, TrustRole, u64), Envelope>>,
    audit: RefCell<Vec<AuditEntry>>,
    online_seed: u8,
    racing: RefCell<Vec<(String, TrustRole, u64, Envelope)>>,
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
            stages: RefCell::default(),
            versions: RefCell::default(),
            releases: RefCell::default(),
            counters: RefCell::default(),
            now: Cell::new(NOW),
            random: Cell::new(0),
            director_seed: 7,
            salt: Digest::of(b"outpost-routing-salt\0memory"),
            failing: RefCell::default(),
            trust_files: RefCell::default(),
            audit: RefCell::default(),
            online_seed: 5,
            racing: RefCell::default(),
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

    /// Registers `version` with the digest and length of `bytes`.
    pub fn add_version(&self, org: &str, model: &str, version: &str, bytes: &[u8]) {
        self.versions.borrow_mut().insert(
            (org.to_owned(), model.to_owned(), version.to_owned()),
            VersionArtifact {
                version: version.to_owned(),
                digest: Digest::of(bytes),
                length: bytes.len() as u64,
            },
        );
    }

    /// Deletes a version row out of band (what a stage must survive).
    pub fn remove_version(&self, org: &str, model: &str, version: &str) {
        self.versions
            .borrow_mut()
            .remove(&(org.to_owned(), model.to_owned(), version.to_owned()));
    }

    pub fn deploy(&self, org: &str, model: &str, stage: Stage, state: StageState) {
        self.stages
            .borrow_mut()
            .insert((org.to_owned(), model.to_owned(), stage), state);
    }

    pub fn set_release(&self, org: &str, targets: Targets) {
        self.releases.borrow_mut().insert(org.to_owned(), targets);
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

    /// A concurrent writer: stores this file just before the next commit,
    /// after the use case has read what it reads.
    pub fn store_before_next_commit(
        &self,
        org: &str,
        role: TrustRole,
        version: u64,
        envelope: Envelope,
    ) {
        self.racing
            .borrow_mut()
            .push((org.to_owned(), role, version, envelope));
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

    /// Makes the port method `name` fail with a storage error.
    pub fn fail(&self, name: &'static str) {
        self.failing.borrow_mut().insert(name);
    }

    fn check(&self, name: &'static str) -> Result<(), StoreError> {
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
        Ok(StageHead {
            state: self
                .stages
                .borrow()
                .get(&(org.to_owned(), model.to_owned(), stage))
                .cloned(),
            release: with_release
                .then(|| self.releases.borrow().get(org).cloned())
                .flatten(),
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

impl Resolutions for MemoryRegistry {
    async fn artifacts_and_next_resolution(
        &self,
        org: &str,
        model: &str,
        versions: &[&str],
    ) -> Result<(Vec<VersionArtifact>, u64), StoreError> {
        self.check("artifacts_and_next_resolution")?;
        let mut counters = self.counters.borrow_mut();
        let counter = counters.entry(org.to_owned()).or_insert(0);
        *counter += 1;
        Ok((self.artifacts(org, model, versions), *counter))
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
}

impl Commit for MemoryRegistry {
    /// All or nothing, like D1's `batch()`: every change is checked against
    /// its unique key before any is applied, then the audit entry chains.
    async fn commit(
        &self,
        org: &str,
        changes: Vec<Change>,
        event: AuditEvent,
    ) -> Result<(), CommitError> {
        self.check("commit")?;
        for (org, role, version, envelope) in self.racing.take() {
            self.put_trust_file(&org, role, version, envelope);
        }
        {
            let files = self.trust_files.borrow();
            for change in &changes {
                let Change::TrustFile { role, version, .. } = change;
                if files.contains_key(&(org.to_owned(), *role, *version)) {
                    return Err(CommitError::Conflict("trust_metadata"));
                }
            }
        }
        for change in changes {
            let Change::TrustFile {
                role,
                version,
                envelope,
            } = change;
            self.put_trust_file(org, role, version, envelope);
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
                role: Some(role),
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
