//! The D1/R2 adapters of `outpost-registry`'s ports. The SQL of every use
//! case that has moved into `outpost-registry` lives here, and nowhere in
//! the handlers; each port method is the query (or the one `batch()`) the
//! handler ran before, so round trips stay as they were.

pub mod admin;
pub mod at_rest;
pub mod audit;
pub mod audit_log;
#[cfg(feature = "operations")]
pub mod backup;
pub mod blobs;
pub mod coded_copies;
pub mod cron;
mod edge_cache;
pub mod guardrails;
pub mod health;
pub mod imports;
pub mod keys;
pub mod lifecycle;
pub mod models;
pub mod monitors;
pub mod profiles;
pub mod quality;
pub mod shadow;
pub mod stats;
pub mod telemetry;
pub mod uploads;
pub mod versions;
pub mod webhooks;

use outpost_core::Digest;
use outpost_core::content_coding::Coding;
use outpost_core::lifecycle::{Stage, StageState};
use outpost_core::signing::SigningKey;
use outpost_core::trust::{Envelope, Targets};
use outpost_core::version::PrimaryMetric;
use std::rc::Rc;

use outpost_registry::StoreError;
use outpost_registry::ports::{
    AuditEvent, Change, Clock, Commit, CommitError, Keys, Models, OnlineKey, StageHead, Stages,
    TrustFiles, TrustRole, VersionArtifact, Versions,
};
use outpost_registry::routing::{ResolutionPlan, ResolutionPlans};

use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db::{self, as_i64};

/// An artifact of an organisation, with its size and key version, and
/// whether its object may go into the edge cache as stored.
type Located = (String, Digest, (u64, Option<u32>), bool);

/// The registry's storage as the ports see it, for one request.
pub struct D1Store<'a> {
    ctx: &'a Ctx,
    /// The isolate's forget count when a plan lookup last missed
    /// (`crate::isolate_cache::epoch`).
    plan_epoch: std::cell::Cell<u64>,
    /// Where this request found or put artifacts' objects: their key
    /// version (`None`: plaintext), by organisation and digest. A row
    /// recorded after an upload takes the version the upload was sealed
    /// under from here.
    /// Each with its size (bytes). A request sees one or two artifacts.
    located: std::cell::RefCell<Vec<Located>>,
}

impl<'a> D1Store<'a> {
    pub fn new(ctx: &'a Ctx) -> Self {
        Self {
            ctx,
            plan_epoch: std::cell::Cell::new(u64::MAX),
            located: std::cell::RefCell::default(),
        }
    }
}

impl D1Store<'_> {
    /// Notes where an artifact's object is (size, key version).
    fn remember(&self, org: &str, digest: &Digest, found: (u64, Option<u32>), cacheable: bool) {
        let mut located = self.located.borrow_mut();
        located.retain(|(o, d, _, _)| !(o == org && d == digest));
        located.push((org.to_owned(), *digest, found, cacheable));
    }

    /// Whether this request may use the edge cache for a plaintext object
    /// (not while its organisation has encryption on).
    fn cacheable(&self, org: &str, digest: &Digest) -> bool {
        self.located
            .borrow()
            .iter()
            .find(|(o, d, _, _)| o == org && d == digest)
            .is_none_or(|(_, _, _, cacheable)| *cacheable)
    }

    /// Where this request found or put an artifact's object.
    fn recalled(&self, org: &str, digest: &Digest) -> Option<(u64, Option<u32>)> {
        self.located
            .borrow()
            .iter()
            .find(|(o, d, _, _)| o == org && d == digest)
            .map(|(_, _, found, _)| *found)
    }
}

pub(crate) fn failed(err: impl std::fmt::Display) -> StoreError {
    StoreError::new(err)
}

#[derive(serde::Deserialize)]
struct VersionRow {
    version: String,
    digest: String,
    size: f64,
}

impl VersionRow {
    fn into_artifact(self) -> Result<VersionArtifact, StoreError> {
        Ok(VersionArtifact {
            digest: self.digest.parse::<Digest>().map_err(failed)?,
            length: as_i64(self.size) as u64,
            version: self.version,
        })
    }
}

fn artifacts(rows: Vec<VersionRow>) -> Result<Vec<VersionArtifact>, StoreError> {
    rows.into_iter().map(VersionRow::into_artifact).collect()
}

/// `SELECT version, digest, size` of some versions of a model (those that
/// exist).
fn version_rows_statement(
    ctx: &Ctx,
    org: &str,
    model: &str,
    versions: &[&str],
) -> Result<worker::D1PreparedStatement, StoreError> {
    // Any number of versions (a plan reads every arm and the shadow) as
    // one bound JSON array: the SQL text never changes with the input.
    let names = serde_json::to_string(versions).map_err(failed)?;
    ctx.db
        .prepare(
            "SELECT version, digest, size FROM versions
             WHERE org = ?1 AND model = ?2 AND version IN (SELECT value FROM json_each(?3))",
        )
        .bind(&[db::text(org), db::text(model), db::text(&names)])
        .map_err(failed)
}

impl Models for D1Store<'_> {
    async fn model_exists(&self, org: &str, model: &str) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Found {
            #[expect(dead_code, reason = "only its presence matters")]
            found: f64,
        }
        let statement = self
            .ctx
            .db
            .prepare("SELECT 1 AS found FROM models WHERE org = ?1 AND name = ?2")
            .bind(&[db::text(org), db::text(model)])
            .map_err(failed)?;
        Ok(db::first::<Found>(&statement)
            .await
            .map_err(failed)?
            .is_some())
    }

    async fn model_primary_metric(
        &self,
        org: &str,
        model: &str,
    ) -> Result<Option<Option<PrimaryMetric>>, StoreError> {
        Ok(models::model(self.ctx, org, model)
            .await
            .map_err(failed)?
            .map(|row| row.primary_metric()))
    }
}

impl Stages for D1Store<'_> {
    async fn stage_head(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        with_release: bool,
    ) -> Result<StageHead, StoreError> {
        #[derive(serde::Deserialize)]
        struct HeadRow {
            state: Option<String>,
            moved_at: Option<f64>,
            #[serde(default)]
            release: Option<String>,
            #[serde(default)]
            released_at: Option<f64>,
        }
        // One round trip for the stage and, for plans, the release.
        let sql = if with_release {
            "WITH head AS (SELECT to_state FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY seq DESC LIMIT 1),
                  rel AS (SELECT body FROM trust_metadata WHERE org = ?1 AND role = 'targets' ORDER BY version DESC LIMIT 1)
             SELECT (SELECT to_state FROM head) AS state,
                    (SELECT MAX(at) FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3) AS moved_at,
                    (SELECT body FROM rel) AS release,
                    (SELECT MAX(created_at) FROM trust_metadata WHERE org = ?1 AND role = 'targets') AS released_at"
        } else {
            "SELECT (SELECT to_state FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY seq DESC LIMIT 1) AS state,
                    (SELECT MAX(at) FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3) AS moved_at"
        };
        let statement = self
            .ctx
            .db
            .prepare(sql)
            .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])
            .map_err(failed)?;
        let Some(row) = db::first::<HeadRow>(&statement).await.map_err(failed)? else {
            return Ok(StageHead::default());
        };
        let state = row
            .state
            .map(|text| serde_json::from_str::<StageState>(&text))
            .transpose()
            .map_err(failed)?;
        let release = row
            .release
            .map(|text| {
                let envelope: Envelope = serde_json::from_str(&text)?;
                serde_json::from_value::<Targets>(envelope.signed)
            })
            .transpose()
            .map_err(failed)?;
        let changed_at = row
            .moved_at
            .map(as_i64)
            .max(row.released_at.map(as_i64))
            .unwrap_or(0);
        Ok(StageHead {
            state,
            release,
            changed_at,
        })
    }
}

impl Versions for D1Store<'_> {
    async fn version_artifacts(
        &self,
        org: &str,
        model: &str,
        versions: &[&str],
    ) -> Result<Vec<VersionArtifact>, StoreError> {
        let statement = version_rows_statement(self.ctx, org, model, versions)?;
        artifacts(db::all(&statement).await.map_err(failed)?)
    }
}

impl ResolutionPlans for D1Store<'_> {
    fn kept_plan(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        now_ms: i64,
    ) -> Option<Rc<ResolutionPlan>> {
        // A miss is followed by a draw: remember where the isolate stood.
        self.plan_epoch.set(crate::isolate_cache::epoch());
        crate::isolate_cache::plan(org, model, stage, now_ms)
    }

    fn keep_plan(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
        plan: Rc<ResolutionPlan>,
        now_ms: i64,
    ) {
        crate::isolate_cache::keep_plan(org, model, stage, plan, now_ms, self.plan_epoch.get());
    }
}

impl Keys for D1Store<'_> {
    fn director(&self) -> Result<SigningKey, StoreError> {
        keys::online_key(&self.ctx.env, keys::DIRECTOR_KEY)
    }

    fn routing_salt(&self) -> Result<Digest, StoreError> {
        keys::routing_salt(&self.ctx.env)
    }
}

impl Clock for D1Store<'_> {
    fn now_ms(&self) -> i64 {
        self.ctx.now
    }

    fn random_bytes(&self, n: usize) -> Result<Vec<u8>, StoreError> {
        crate::ctx::random_bytes(n).map_err(|_| StoreError::new("no randomness"))
    }

    fn wall_clock_ms(&self) -> i64 {
        worker::Date::now().as_millis() as i64
    }

    fn random_u32(&self) -> Result<u32, StoreError> {
        let bytes = crate::ctx::random_bytes(4).map_err(|_| StoreError::new("no randomness"))?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

impl OnlineKey for D1Store<'_> {
    fn online(&self) -> Result<SigningKey, StoreError> {
        keys::online_key(&self.ctx.env, keys::ONLINE_KEY)
    }
}

impl TrustFiles for D1Store<'_> {
    async fn latest_trust_file(
        &self,
        org: &str,
        role: TrustRole,
    ) -> Result<Option<(u64, Envelope)>, StoreError> {
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT version, body FROM trust_metadata WHERE org = ?1 AND role = ?2 ORDER BY version DESC LIMIT 1",
            )
            .bind(&[db::text(org), db::text(role.as_str())])
            .map_err(failed)?;
        db::first::<TrustRow>(&statement)
            .await
            .map_err(failed)?
            .map(TrustRow::parse)
            .transpose()
    }

    async fn trust_file(
        &self,
        org: &str,
        role: TrustRole,
        version: u64,
    ) -> Result<Option<Envelope>, StoreError> {
        // A version of a role never changes once stored (no row is updated
        // or deleted), so its text is kept in the edge cache.
        let key = edge_cache::key(
            self.ctx,
            &format!("orgs/{org}/trust/{version}.{}.json", role.as_str()),
        );
        if let Some(key) = &key
            && let Some(bytes) = edge_cache::get_bytes(key).await
            && let Ok(envelope) = serde_json::from_slice(&bytes)
        {
            return Ok(Some(envelope));
        }
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT version, body FROM trust_metadata WHERE org = ?1 AND role = ?2 AND version = ?3",
            )
            .bind(&[db::text(org), db::text(role.as_str()), db::int(version as i64)])
            .map_err(failed)?;
        let Some(row) = db::first::<TrustRow>(&statement).await.map_err(failed)? else {
            return Ok(None);
        };
        let text = row.body.clone();
        let Some(url) = key else {
            return Ok(Some(row.parse()?.1));
        };
        self.ctx.after_response(async move {
            let length = text.len() as u64;
            edge_cache::put(
                &url,
                worker::ResponseBody::Body(text.into_bytes()),
                Some(length),
                "application/json",
            )
            .await;
        });
        Ok(Some(row.parse()?.1))
    }
}

impl D1Store<'_> {
    /// The statements that apply one change.
    fn statements(
        &self,
        org: &str,
        change: &Change,
    ) -> Result<Vec<D1PreparedStatement>, StoreError> {
        match change {
            Change::CreateWebhook(endpoint, secret) => {
                let row = webhooks::WebhookRow {
                    id: endpoint.id.clone(),
                    url: endpoint.url.clone(),
                    events: serde_json::to_string(&endpoint.events).map_err(failed)?,
                    description: endpoint.description.clone(),
                    created_at: endpoint.created_at as f64,
                    created_by: endpoint.created_by.clone(),
                };
                Ok(vec![
                    webhooks::insert(self.ctx, org, &row, secret).map_err(failed)?,
                ])
            }
            Change::DeleteWebhook { id } => webhooks::delete(self.ctx, org, id).map_err(failed),
            Change::CloseUpload { id } => uploads::cleanup(self.ctx, org, id).map_err(failed),
            Change::RecordMonitorCheck {
                model,
                stage,
                episodes,
                checks,
            } => monitors::record(
                self.ctx,
                org,
                (model, *stage),
                &episodes.to_string(),
                checks,
            ),
            other => Ok(vec![self.statement(org, other)?]),
        }
    }

    /// The statement that applies a one-statement change.
    fn statement(&self, org: &str, change: &Change) -> Result<D1PreparedStatement, StoreError> {
        let db = &self.ctx.db;
        match change {
            Change::RecordGuardrailCheck {
                model,
                stage,
                since,
                verdict,
                measured,
                drift_notified,
            } => guardrails::record_check(
                self.ctx,
                (org, model, *stage, *since),
                &verdict.to_string(),
                &measured.to_string(),
                *drift_notified,
            )
            .map_err(failed),
            Change::CreateOrg { name, display_name } => {
                admin::insert_org(self.ctx, name, display_name).map_err(failed)
            }
            Change::SetKeyVersion { key_version } => {
                at_rest::set_version(self.ctx, org, *key_version).map_err(failed)
            }
            Change::RecordImport(record) => imports::insert(self.ctx, org, record).map_err(failed),
            Change::CreateToken {
                record,
                secret_hash,
            } => admin::insert_token(self.ctx, org, &record.id, secret_hash, record)
                .map_err(failed),
            Change::RevokeToken { id } => admin::revoke_token(self.ctx, org, id).map_err(failed),
            Change::SetMonitor {
                model,
                stage,
                policy,
                by,
            } => monitors::set(self.ctx, org, (model, *stage), &policy.to_string(), by)
                .map_err(failed),
            Change::CreateWebhook(..)
            | Change::DeleteWebhook { .. }
            | Change::CloseUpload { .. }
            | Change::RecordMonitorCheck { .. } => {
                Err(StoreError::new(
                    "this change takes several statements; use `statements`",
                ))
            }
            Change::TrustFile {
                role,
                version,
                envelope,
            } => db
                .prepare(
                    "INSERT INTO trust_metadata (org, role, version, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(&[
                    db::text(org),
                    db::text(role.as_str()),
                    db::int(*version as i64),
                    db::text(&serde_json::to_string(envelope).map_err(failed)?),
                    db::int(self.ctx.now),
                ])
                .map_err(failed),
            Change::Deployment(entry) => lifecycle::insert_deployment(self.ctx, org, entry),
            Change::ClearGuardrails { model, stage } => db
                .prepare("DELETE FROM guardrails WHERE org = ?1 AND model = ?2 AND stage = ?3")
                .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])
                .map_err(failed),
            Change::SetGuardrails {
                model,
                stage,
                canary,
                since,
                policy,
            } => db
                .prepare(
                    "INSERT INTO guardrails (org, model, stage, canary, since, policy) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .bind(&[
                    db::text(org),
                    db::text(model),
                    db::text(stage.as_str()),
                    db::text(canary),
                    db::int(*since),
                    db::text(&serde_json::to_string(policy).map_err(failed)?),
                ])
                .map_err(failed),
            Change::SetReference {
                model,
                version,
                profile,
                created_by,
            } => profiles::insert(
                self.ctx,
                org,
                (model, version),
                &serde_json::to_string(profile).map_err(failed)?,
                created_by,
            )
            .map_err(failed),
            Change::SetTags {
                model,
                version,
                old,
                new,
            } => versions::set_tags(
                self.ctx,
                org,
                (model, version),
                &serde_json::to_string(old).map_err(failed)?,
                &serde_json::to_string(new).map_err(failed)?,
            )
            .map_err(failed),
            Change::CreateModel {
                request,
                created_by,
            } => {
                let tags = serde_json::to_string(&request.tags).map_err(failed)?;
                let primary = request
                    .primary_metric
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(failed)?;
                models::insert(self.ctx, org, request, &tags, primary.as_deref(), created_by)
                    .map_err(failed)
            }
            Change::RegisterVersion(record) => {
                let version = outpost_core::version::parse_version(&record.version).map_err(failed)?;
                versions::insert(self.ctx, org, &version, record)
            }
            Change::SetPolicies { model, policies } => db
                .prepare(
                    "INSERT INTO model_policies (org, model, promotion, retention, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (org, model) DO UPDATE SET promotion = excluded.promotion, retention = excluded.retention, updated_at = excluded.updated_at",
                )
                .bind(&[
                    db::text(org),
                    db::text(model),
                    db::text(&serde_json::to_string(&policies.promotion).map_err(failed)?),
                    match &policies.retention {
                        Some(retention) => {
                            db::text(&serde_json::to_string(retention).map_err(failed)?)
                        }
                        None => wasm_bindgen::JsValue::NULL,
                    },
                    db::int(self.ctx.now),
                ])
                .map_err(failed),
            Change::DeleteVersion { model, version } => db
                .prepare("DELETE FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3")
                .bind(&[db::text(org), db::text(model), db::text(version)])
                .map_err(failed),
            Change::DeleteBlob { digest } => db
                .prepare("DELETE FROM blobs WHERE org = ?1 AND digest = ?2")
                .bind(&[db::text(org), db::text(&digest.to_string())])
                .map_err(failed),
            Change::Webhook { event, data } => enqueue_webhook(self.ctx, org, event, data),
            Change::ClaimBlob { digest } => db
                .prepare("UPDATE blobs SET claimed_at = ?3 WHERE org = ?1 AND digest = ?2")
                .bind(&[
                    db::text(org),
                    db::text(&digest.to_string()),
                    db::int(self.ctx.now),
                ])
                .map_err(failed),
            Change::CollectBlob { digest, before } => db
                .prepare(
                    "DELETE FROM blobs WHERE org = ?1 AND digest = ?2
                     AND max(created_at, coalesce(claimed_at, 0)) < ?3
                     AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.org = ?1 AND v.digest = ?2)",
                )
                .bind(&[
                    db::text(org),
                    db::text(&digest.to_string()),
                    db::int(*before),
                ])
                .map_err(failed),
            Change::RecordBlob {
                digest,
                size,
                created_by,
            } => {
                let key_version = self.recalled(org, digest).and_then(|(_, v)| v);
                blobs::insert(self.ctx, org, digest, (*size, key_version), created_by)
                    .map_err(failed)
            }
            Change::RecordCodedCopy {
                digest,
                coding: Coding::Gzip,
                copy,
            } => self
                .ctx
                .db
                .prepare(
                    "UPDATE blobs SET gzip_size = ?3, gzip_id = ?4
                     WHERE org = ?1 AND digest = ?2 AND key_version IS NULL AND gzip_size IS NULL
                       AND NOT EXISTS (SELECT 1 FROM org_encryption e WHERE e.org = ?1)",
                )
                .bind(&[
                    db::text(org),
                    db::text(&digest.to_string()),
                    db::int(copy.size as i64),
                    db::text(&copy.id),
                ])
                .map_err(failed),
            Change::RecordCodedCopy {
                coding: Coding::Identity,
                ..
            } => Err(failed("an identity copy is the artifact itself")),
            Change::OpenUpload { upload, created_by } => {
                uploads::insert(self.ctx, org, upload, created_by).map_err(failed)
            }
            Change::RecordPart {
                upload,
                number,
                etag,
                digest,
                length,
            } => uploads::record_part(self.ctx, org, (upload, *number), (etag, digest, *length))
                .map_err(failed),
        }
    }
}

/// The outbox statement announcing `event` to every endpoint of `org` that
/// subscribed to it; run it in the batch of the change it announces.
pub fn enqueue_webhook(
    ctx: &Ctx,
    org: &str,
    event: &str,
    data: &serde_json::Value,
) -> Result<D1PreparedStatement, StoreError> {
    ctx.db
        .prepare(
            "INSERT INTO webhook_deliveries (id, org, webhook, event, payload, created_at, status, attempts, next_attempt_at)
             SELECT 'msg_' || lower(hex(randomblob(16))), w.org, w.id, ?2, ?3, ?4, 'pending', 0, ?4
             FROM webhooks w
             WHERE w.org = ?1 AND w.deleted_at IS NULL
               AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value IN (?2, '*'))",
        )
        .bind(&[
            db::text(org),
            db::text(event),
            db::text(&outpost_core::webhook::payload(event, ctx.now, data)),
            db::int(ctx.now),
        ])
        .map_err(failed)
}

#[derive(serde::Deserialize)]
struct TrustRow {
    version: f64,
    body: String,
}

impl TrustRow {
    fn parse(self) -> Result<(u64, Envelope), StoreError> {
        let envelope = serde_json::from_str(&self.body).map_err(failed)?;
        Ok((as_i64(self.version) as u64, envelope))
    }
}

impl Commit for D1Store<'_> {
    async fn apply(&self, org: &str, changes: Vec<Change>) -> Result<(), CommitError> {
        let mut statements = Vec::with_capacity(changes.len());
        for change in &changes {
            statements.extend(self.statements(org, change)?);
        }
        self.ctx.db.batch(statements).await.map_err(failed)?;
        crate::isolate_cache::forget_org(org);
        Ok(())
    }

    /// The changes' statements and the audit entry in one D1 `batch()`
    /// (`audit::commit` chains the entry and retries a lost race for the
    /// next audit position); a unique violation of a change is a conflict.
    async fn commit(
        &self,
        org: &str,
        changes: Vec<Change>,
        event: AuditEvent,
    ) -> Result<(), CommitError> {
        let mut statements = Vec::with_capacity(changes.len());
        for change in &changes {
            statements.extend(self.statements(org, change)?);
        }
        let (actor, role) = event.actor.audit_fields();
        let event = crate::store::audit::Event {
            org: org.to_owned(),
            actor: Some(actor),
            role,
            action: event.action,
            target: event.target,
            outcome: outpost_core::audit::Outcome::Ok,
            details: event.details,
        };
        let committed = crate::store::audit::commit(self.ctx, event, statements).await;
        // Even a failed batch may have been applied (a lost answer): this
        // isolate's plans and tokens of the organisation are read again.
        crate::isolate_cache::forget_org(org);
        match committed {
            Ok(_) => Ok(()),
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "trust_metadata") =>
            {
                Err(CommitError::Conflict("trust_metadata"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "deployments") =>
            {
                Err(CommitError::Conflict("deployments"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "organizations") =>
            {
                Err(CommitError::Conflict("organizations"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "reference_profiles") =>
            {
                Err(CommitError::Conflict("reference_profiles"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "models") =>
            {
                Err(CommitError::Conflict("models"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "versions") =>
            {
                Err(CommitError::Conflict("versions"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "imports") =>
            {
                Err(CommitError::Conflict("imports"))
            }
            Err(crate::store::audit::CommitError::Statement(err))
                if db::is_unique_violation(&err, "uploads") =>
            {
                Err(CommitError::Conflict("uploads"))
            }
            Err(crate::store::audit::CommitError::Statement(err)) => Err(failed(err).into()),
            Err(crate::store::audit::CommitError::Other(err)) => Err(failed(err).into()),
        }
    }
}

impl outpost_registry::ports::Imports for D1Store<'_> {
    async fn import_record(
        &self,
        org: &str,
        model: &str,
        id: &outpost_core::digest::Digest,
    ) -> Result<Option<outpost_core::bundle::ImportRecord>, StoreError> {
        imports::record(self.ctx, org, model, id)
            .await
            .map_err(failed)
    }

    async fn import_records(
        &self,
        org: &str,
        model: &str,
    ) -> Result<Vec<outpost_core::bundle::ImportRecord>, StoreError> {
        imports::records(self.ctx, org, model).await.map_err(failed)
    }
}

impl outpost_registry::ports::Profiles for D1Store<'_> {
    async fn reference_profile(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<outpost_core::profile::ReferenceProfile>, StoreError> {
        profiles::profile_text(self.ctx, org, model, version)
            .await
            .map_err(failed)?
            .map(|text| serde_json::from_str(&text).map_err(failed))
            .transpose()
    }
}

impl outpost_registry::ports::Webhooks for D1Store<'_> {
    async fn webhook_count(&self, org: &str) -> Result<usize, StoreError> {
        webhooks::active_count(self.ctx, org).await.map_err(failed)
    }

    async fn webhook(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<outpost_registry::ports::WebhookEndpoint>, StoreError> {
        webhooks::one(self.ctx, org, id)
            .await
            .map_err(failed)?
            .map(|row| {
                Ok(outpost_registry::ports::WebhookEndpoint {
                    events: serde_json::from_str(&row.events).map_err(failed)?,
                    id: row.id,
                    url: row.url,
                    description: row.description,
                    created_at: as_i64(row.created_at),
                    created_by: row.created_by,
                })
            })
            .transpose()
    }
}

impl outpost_registry::ports::Telemetry for D1Store<'_> {
    async fn version_windows(
        &self,
        org: &str,
        model: &str,
        version: &str,
        stage: Option<Stage>,
        since: i64,
    ) -> Result<Vec<outpost_core::telemetry::TelemetryWindow>, StoreError> {
        let rows = telemetry::version_windows(
            self.ctx,
            org,
            (model, version),
            stage.map(Stage::as_str),
            since,
        )
        .await
        .map_err(failed)?;
        Ok(rows
            .iter()
            .filter_map(|row| serde_json::from_str(&row.window).ok())
            .collect())
    }

    async fn insert_window(
        &self,
        org: &str,
        at: (&str, &str, Stage, &str),
        window: &outpost_core::telemetry::TelemetryWindow,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(window).map_err(failed)?;
        telemetry::insert_window(self.ctx, org, at, &text)
            .await
            .map_err(failed)
    }
}

impl outpost_registry::ports::Tokens for D1Store<'_> {
    async fn token(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<outpost_core::api::TokenRecord>, StoreError> {
        admin::token(self.ctx, org, id)
            .await
            .map_err(failed)?
            .map(admin::TokenListRow::record)
            .transpose()
    }
}

impl outpost_registry::ports::Outbox for D1Store<'_> {
    async fn due_deliveries(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<outpost_registry::ports::DueDelivery>, StoreError> {
        Ok(webhooks::due(&self.ctx.db, now, limit)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|row| outpost_registry::ports::DueDelivery {
                id: row.id,
                payload: row.payload,
                attempts: as_i64(row.attempts) as u64,
                next_attempt_at: as_i64(row.next_attempt_at),
                url: row.url,
                secret: row.secret,
            })
            .collect())
    }

    async fn claim_delivery(
        &self,
        due: &outpost_registry::ports::DueDelivery,
        lease: i64,
    ) -> Result<bool, StoreError> {
        webhooks::claim(&self.ctx.db, &due.id, due.next_attempt_at, lease)
            .await
            .map_err(failed)
    }

    async fn record_attempt(
        &self,
        id: &str,
        attempts: u64,
        at: i64,
        outcome: &outpost_registry::ports::AttemptOutcome,
    ) -> Result<(), StoreError> {
        webhooks::record_attempt(&self.ctx.db, id, attempts as i64, at, outcome)
            .await
            .map_err(failed)
    }
}

impl outpost_registry::ports::Sender for D1Store<'_> {
    /// A POST through the Workers runtime's `fetch`, redirects not followed
    /// (the endpoint is what was registered), bounded by `timeout_ms`.
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &str,
        timeout_ms: u64,
    ) -> Result<u16, String> {
        use futures_util::future::{Either, select};
        let sent = worker::Headers::new();
        for (name, value) in headers {
            sent.set(name, value).map_err(|e| e.to_string())?;
        }
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post)
            .with_headers(sent)
            .with_redirect(worker::RequestRedirect::Manual)
            .with_body(Some(body.into()));
        let request = worker::Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let fetcher = worker::Fetch::Request(request);
        let fetch = Box::pin(fetcher.send());
        let timeout = Box::pin(worker::Delay::from(std::time::Duration::from_millis(
            timeout_ms,
        )));
        match select(fetch, timeout).await {
            Either::Left((Ok(response), _)) => Ok(response.status_code()),
            Either::Left((Err(err), _)) => Err(format!("the request failed: {err}")),
            Either::Right(_) => Err(format!("no answer within {timeout_ms} ms")),
        }
    }
}
