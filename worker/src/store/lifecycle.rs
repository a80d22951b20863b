//! The D1/R2 side of stage moves: deployment histories, the facts the
//! promotion gates need (version row, policies, the artifact re-read from
//! R2, whether it loads), and the statements a move commits.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use outpost_core::api::ModelPolicies;
use outpost_core::digest::{Digest, Sha256Hasher};
use outpost_core::lifecycle::{Deployment, Move, Stage};
use outpost_registry::StoreError;
use outpost_registry::ports::{
    Deployments, GateFacts, Inspection, Policies, Rehashed, Runtime, VersionAge, VersionDetails,
};
use worker::D1PreparedStatement;

use super::{D1Store, failed};
use crate::ctx::Ctx;
use crate::db::{self, as_i64};

#[derive(serde::Deserialize)]
struct DeploymentRow {
    model: String,
    stage: String,
    seq: f64,
    kind: String,
    from_state: String,
    to_state: String,
    actor: String,
    reason: String,
    at: f64,
    forced: String,
}

impl DeploymentRow {
    fn deployment(self) -> Result<Deployment, StoreError> {
        let corrupt = |what: &str| StoreError::new(format!("stored deployment {what} is corrupt"));
        Ok(Deployment {
            stage: self.stage.parse().map_err(|_| corrupt("stage"))?,
            kind: Move::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            from: serde_json::from_str(&self.from_state).map_err(|_| corrupt("from"))?,
            to: serde_json::from_str(&self.to_state).map_err(|_| corrupt("to"))?,
            forced: serde_json::from_str(&self.forced).map_err(|_| corrupt("forced"))?,
            model: self.model,
            seq: as_i64(self.seq),
            actor: self.actor,
            reason: self.reason,
            at: as_i64(self.at),
        })
    }
}

const DEPLOYMENT_COLUMNS: &str =
    "model, stage, seq, kind, from_state, to_state, actor, reason, at, forced";

async fn deployments(statement: D1PreparedStatement) -> Result<Vec<Deployment>, StoreError> {
    db::all::<DeploymentRow>(&statement)
        .await
        .map_err(failed)?
        .into_iter()
        .map(DeploymentRow::deployment)
        .collect()
}

/// The whole history of one model (optionally one stage), oldest first.
pub async fn history(
    ctx: &Ctx,
    org: &str,
    model: &str,
    stage: Option<Stage>,
) -> Result<Vec<Deployment>, StoreError> {
    let statement = match stage {
        Some(stage) => ctx
            .db
            .prepare(format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY seq"
            ))
            .bind(&[db::text(org), db::text(model), db::text(stage.as_str())]),
        None => ctx
            .db
            .prepare(format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE org = ?1 AND model = ?2 ORDER BY at, stage, seq"
            ))
            .bind(&[db::text(org), db::text(model)]),
    }
    .map_err(failed)?;
    deployments(statement).await
}

/// The newest entry of one stage, if it ever moved.
pub async fn head(
    ctx: &Ctx,
    org: &str,
    model: &str,
    stage: Stage,
) -> Result<Option<Deployment>, StoreError> {
    let statement = ctx
        .db
        .prepare(format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE org = ?1 AND model = ?2 AND stage = ?3 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(&[db::text(org), db::text(model), db::text(stage.as_str())])
        .map_err(failed)?;
    Ok(deployments(statement).await?.pop())
}

/// The newest entry of every stage of a model.
pub async fn heads(ctx: &Ctx, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError> {
    let statement = ctx
        .db
        .prepare(format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE org = ?1 AND model = ?2
               AND seq = (SELECT MAX(seq) FROM deployments e WHERE e.org = d.org AND e.model = d.model AND e.stage = d.stage)"
        ))
        .bind(&[db::text(org), db::text(model)])
        .map_err(failed)?;
    deployments(statement).await
}

/// The newest history entry of every model's every stage (statistics).
pub async fn all_heads(ctx: &Ctx, org: &str) -> Result<Vec<Deployment>, StoreError> {
    let statement = ctx
        .db
        .prepare(format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE org = ?1
               AND seq = (SELECT MAX(seq) FROM deployments e WHERE e.org = d.org AND e.model = d.model AND e.stage = d.stage)"
        ))
        .bind(&[db::text(org)])
        .map_err(failed)?;
    deployments(statement).await
}

/// The statement appending `entry` to its stage's history.
pub fn insert_deployment(
    ctx: &Ctx,
    org: &str,
    entry: &Deployment,
) -> Result<D1PreparedStatement, StoreError> {
    ctx.db
        .prepare(
            "INSERT INTO deployments (org, model, stage, seq, kind, from_state, to_state, actor, reason, at, forced)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(&[
            db::text(org),
            db::text(&entry.model),
            db::text(entry.stage.as_str()),
            db::int(entry.seq),
            db::text(entry.kind.as_str()),
            db::text(&json_text(&entry.from)?),
            db::text(&json_text(&entry.to)?),
            db::text(&entry.actor),
            db::text(&entry.reason),
            db::int(entry.at),
            db::text(&json_text(&entry.forced)?),
        ])
        .map_err(failed)
}

/// A value as JSON text for a column.
fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(failed)
}

/// A model's promotion and retention policies (defaults when none is set).
pub async fn policies(ctx: &Ctx, org: &str, model: &str) -> Result<ModelPolicies, StoreError> {
    #[derive(serde::Deserialize)]
    struct Row {
        promotion: String,
        retention: Option<String>,
    }
    let statement = ctx
        .db
        .prepare("SELECT promotion, retention FROM model_policies WHERE org = ?1 AND model = ?2")
        .bind(&[db::text(org), db::text(model)])
        .map_err(failed)?;
    Ok(match db::first::<Row>(&statement).await.map_err(failed)? {
        None => ModelPolicies::default(),
        Some(row) => ModelPolicies {
            promotion: serde_json::from_str(&row.promotion).map_err(failed)?,
            retention: row
                .retention
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(failed)?,
        },
    })
}

/// Re-reads the artifact from R2 and hashes it; `None` when it is missing.
/// Keeps the bytes when small enough to load for the runtime check.
pub async fn reverify(
    ctx: &Ctx,
    org: &str,
    digest: &Digest,
) -> Result<Option<Rehashed>, StoreError> {
    if let Some((size, Some(version))) = super::at_rest::located(ctx, org, digest).await? {
        // Sealed: every chunk is authenticated as it is opened, and the
        // plaintext is hashed as well.
        let Some(mut stream) = super::at_rest::plaintext(ctx, org, digest, (size, version)).await?
        else {
            return Ok(None);
        };
        let keep = size <= outpost_registry::versions::MAX_INSPECTED_BYTES;
        let mut hasher = Sha256Hasher::new();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                // A chunk that fails authentication: altered.
                Err(StoreError::Damaged(_)) => {
                    return Ok(Some(Rehashed {
                        matches: false,
                        bytes: None,
                    }));
                }
                Err(err) => return Err(err),
            };
            hasher.update(&chunk);
            if keep {
                bytes.extend_from_slice(&chunk);
            }
        }
        return Ok(Some(Rehashed {
            matches: hasher.finish().digest == *digest,
            bytes: keep.then_some(bytes),
        }));
    }
    let key = super::blobs::object_key(org, digest);
    let bucket = ctx.bucket().map_err(|_| StoreError::new("no R2 binding"))?;
    let Some(object) = bucket.get(&key).execute().await.map_err(failed)? else {
        return Ok(None);
    };
    let keep = object.size() <= outpost_registry::versions::MAX_INSPECTED_BYTES;
    let mut stream = object
        .body()
        .ok_or_else(|| StoreError::new("R2 object without a body"))?
        .stream()
        .map_err(failed)?;
    let mut hasher = Sha256Hasher::new();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(failed)?;
        hasher.update(&chunk);
        if keep {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(Some(Rehashed {
        matches: hasher.finish().digest == *digest,
        bytes: keep.then_some(bytes),
    }))
}

impl Deployments for D1Store<'_> {
    async fn stage_head_entry(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Option<Deployment>, StoreError> {
        head(self.ctx, org, model, stage).await
    }

    async fn stage_history(
        &self,
        org: &str,
        model: &str,
        stage: Stage,
    ) -> Result<Vec<Deployment>, StoreError> {
        history(self.ctx, org, model, Some(stage)).await
    }

    async fn stage_heads(&self, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError> {
        heads(self.ctx, org, model).await
    }

    async fn model_history(&self, org: &str, model: &str) -> Result<Vec<Deployment>, StoreError> {
        history(self.ctx, org, model, None).await
    }

    async fn was_in_staging(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            #[expect(dead_code, reason = "only its presence matters")]
            hit: f64,
        }
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT 1 AS hit FROM deployments d, json_each(d.to_state, '$.targets') t
                 WHERE d.org = ?1 AND d.model = ?2 AND d.stage = 'staging'
                   AND json_extract(t.value, '$.version') = ?3 LIMIT 1",
            )
            .bind(&[db::text(org), db::text(model), db::text(version)])
            .map_err(failed)?;
        Ok(db::first::<Row>(&statement)
            .await
            .map_err(failed)?
            .is_some())
    }
}

impl VersionDetails for D1Store<'_> {
    async fn deletion_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<(Digest, u64)>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            digest: String,
            others: f64,
        }
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT v.digest,
                        (SELECT COUNT(*) FROM versions o WHERE o.org = v.org AND o.digest = v.digest
                           AND NOT (o.model = v.model AND o.version = v.version)) AS others
                 FROM versions v WHERE v.org = ?1 AND v.model = ?2 AND v.version = ?3",
            )
            .bind(&[db::text(org), db::text(model), db::text(version)])
            .map_err(failed)?;
        db::first::<Row>(&statement)
            .await
            .map_err(failed)?
            .map(|row| {
                Ok((
                    row.digest.parse().map_err(failed)?,
                    as_i64(row.others) as u64,
                ))
            })
            .transpose()
    }

    async fn highest_version(
        &self,
        org: &str,
        model: &str,
        metric: Option<&str>,
    ) -> Result<Option<(semver::Version, Option<f64>)>, StoreError> {
        let path = metric
            .map(outpost_core::query::metric_json_path)
            .unwrap_or_else(|| "$.\"\"".into());
        let row = super::versions::highest(self.ctx, org, model, &path)
            .await
            .map_err(failed)?;
        Ok(row.and_then(|row| {
            Some((
                outpost_core::version::parse_version(&row.version).ok()?,
                row.metric,
            ))
        }))
    }

    async fn version_record(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<outpost_core::api::VersionRecord>, StoreError> {
        super::versions::version(self.ctx, org, model, version)
            .await
            .map_err(failed)?
            .map(super::versions::VersionRow::record)
            .transpose()
    }

    async fn version_ages(&self, org: &str, model: &str) -> Result<Vec<VersionAge>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            version: String,
            created_at: f64,
            metrics: String,
        }
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT version, created_at, metrics FROM versions WHERE org = ?1 AND model = ?2",
            )
            .bind(&[db::text(org), db::text(model)])
            .map_err(failed)?;
        db::all::<Row>(&statement)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|row| {
                Ok(VersionAge {
                    version: row.version,
                    created_at: as_i64(row.created_at),
                    metrics: serde_json::from_str(&row.metrics).map_err(failed)?,
                })
            })
            .collect()
    }

    async fn gate_facts(
        &self,
        org: &str,
        model: &str,
        version: &str,
    ) -> Result<Option<GateFacts>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            digest: String,
            size: f64,
            format: String,
            metrics: String,
            status: String,
            status_reason: Option<String>,
        }
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT digest, size, format, metrics, status, status_reason FROM versions WHERE org = ?1 AND model = ?2 AND version = ?3",
            )
            .bind(&[db::text(org), db::text(model), db::text(version)])
            .map_err(failed)?;
        let Some(row) = db::first::<Row>(&statement).await.map_err(failed)? else {
            return Ok(None);
        };
        Ok(Some(GateFacts {
            digest: row.digest.parse().map_err(failed)?,
            length: as_i64(row.size) as u64,
            format: row.format,
            metrics: serde_json::from_str::<BTreeMap<String, f64>>(&row.metrics).map_err(failed)?,
            status: row.status,
            status_reason: row.status_reason,
        }))
    }
}

impl Policies for D1Store<'_> {
    async fn model_policies(&self, org: &str, model: &str) -> Result<ModelPolicies, StoreError> {
        policies(self.ctx, org, model).await
    }
}

impl Runtime for D1Store<'_> {
    async fn check_loadable(&self, bytes: &[u8]) -> Result<Result<(), String>, StoreError> {
        match crate::inference::check_loadable(&self.ctx.env, bytes).await {
            Ok(answer) if answer.loadable => Ok(Ok(())),
            Ok(answer) => Ok(Err(answer.reason.unwrap_or_default())),
            // Not an answer: the move is refused as unavailable (503), or
            // failed (500, logged), never judged unloadable.
            Err(crate::error::ApiError::Problem(problem)) if problem.status == 503 => Err(
                StoreError::NotConfigured(problem.detail.unwrap_or_default()),
            ),
            Err(err) => Err(StoreError::new(format!("{err:?}"))),
        }
    }

    fn inspect(
        &self,
        bytes: &[u8],
        declared: Option<outpost_core::version::ArtifactFormat>,
    ) -> Result<Inspection, String> {
        let found =
            outpost_infer::inspect::inspect_artifact(bytes, declared).map_err(|e| e.to_string())?;
        Ok(Inspection {
            format: found.format,
            schema: found.schema,
            unsafe_reason: found.unsafe_reason,
        })
    }
}
