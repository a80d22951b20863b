//! `/healthz` (is the isolate alive) and `/readyz` (can it reach D1, R2
//! and the inference Worker).

use std::collections::BTreeMap;

use outpost_core::readiness::{DependencyCheck, ReadinessReport};
use serde_json::json;
use worker::{Env, Response};

use crate::ctx::{D1_BINDING, R2_BINDING};
use crate::http;

/// Liveness: answers without touching any dependency, so a slow D1 cannot make
/// a healthy isolate look dead.
pub fn healthz() -> worker::Result<Response> {
    http::json(
        &outpost_core::api::Health {
            status: "ok".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        200,
    )
}

/// Readiness: runs one D1 query, one R2 operation and the inference
/// Worker's health check, and reports each.
pub async fn readyz(env: &Env) -> worker::Result<Response> {
    let mut checks = BTreeMap::new();
    checks.insert("d1".to_owned(), probe_d1(env).await);
    checks.insert("r2".to_owned(), probe_r2(env).await);
    checks.insert(
        "inference".to_owned(),
        match crate::inference::probe(env).await {
            Ok(()) => DependencyCheck::ok(),
            Err(detail) => DependencyCheck::failed(detail),
        },
    );
    let report = ReadinessReport::from_checks(checks);
    match report.to_problem() {
        None => http::json(&report, 200),
        Some(problem) => {
            worker::console_warn!("not ready: {:?}", problem.detail);
            http::problem(&problem)
        }
    }
}

async fn probe_d1(env: &Env) -> DependencyCheck {
    let db = match env.d1(D1_BINDING) {
        Ok(db) => db,
        Err(_) => {
            return DependencyCheck::failed(format!(
                "binding {D1_BINDING} is not configured (see d1_databases in wrangler.toml)"
            ));
        }
    };
    // The newest applied migration doubles as the schema version.
    let schema = crate::store::health::schema_version(&db).await;
    let mut check = match schema {
        Ok(Some(row)) => DependencyCheck::ok().with_info("schema", row.name),
        Ok(None) => {
            return DependencyCheck::failed(
                "no migration applied; run `wrangler d1 migrations apply DB`",
            );
        }
        Err(err) => {
            return DependencyCheck::failed(format!(
                "query failed: {err}; are the migrations applied (`wrangler d1 migrations apply DB`)?"
            ));
        }
    };
    let last_run = crate::store::health::last_scheduled_run(&db).await;
    if let Ok(Some(run)) = last_run {
        check = check.with_info(
            "last_scheduled_run",
            json!({"cron": run.cron, "finished_at": run.finished_at}),
        );
    }
    check
}

async fn probe_r2(env: &Env) -> DependencyCheck {
    let bucket = match env.bucket(R2_BINDING) {
        Ok(bucket) => bucket,
        Err(_) => {
            return DependencyCheck::failed(format!(
                "binding {R2_BINDING} is not configured (see r2_buckets in wrangler.toml)"
            ));
        }
    };
    match bucket.list().limit(1).execute().await {
        Ok(_) => DependencyCheck::ok(),
        Err(err) => DependencyCheck::failed(format!("listing the bucket failed: {err}")),
    }
}
