//! Monitors at work: a policy per model and stage (`PUT …/monitor`), and the
//! cron's check of every monitor — each version the stage routes to,
//! production included, measured over the policy's window (telemetry,
//! drift against its reference profile, quality from outcomes) and judged
//! by `outpost_core::monitor`. A check is recorded; a new episode of a
//! signal raises its webhook event and an audit entry, once.

use outpost_core::api::{MonitorHistory, MonitorView};
use outpost_core::lifecycle::Stage;
use outpost_core::monitor::{Observed, advance, evaluate};
use outpost_core::quality::{OutcomeWindow, QualityReport};
use outpost_core::telemetry::{REPORT_SAMPLE, merge_samples, merge_timing, parse_window};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, AuditEvent, Change, Clock, Commit, CommitError, Models, MonitorCheck, Monitors,
    Outcomes, Profiles, Stages, StoredMonitor, Telemetry, VersionDetails,
};

fn store(err: CommitError) -> RegistryError {
    RegistryError::Store(err.into_store())
}

async fn existing_model(ports: &impl Models, org: &str, model: &str) -> Result<(), RegistryError> {
    if ports.model_exists(org, model).await? {
        Ok(())
    } else {
        Err(RegistryError::ModelNotFound {
            org: org.to_owned(),
            model: model.to_owned(),
        })
    }
}

/// `PUT …/models/{model}/stages/{stage}/monitor`: sets the stage's monitor
/// (its episodes start over), with an audit entry.
///
/// Errors: `InvalidMonitor` (422), `ModelNotFound` (404), `Store`.
pub async fn set_monitor(
    ports: &(impl Models + Commit),
    org: &str,
    actor: &Actor,
    (model, stage): (&str, Stage),
    policy: &outpost_core::monitor::MonitorPolicy,
) -> Result<(), RegistryError> {
    policy
        .validate()
        .map_err(|err| RegistryError::InvalidMonitor(err.to_string()))?;
    existing_model(ports, org, model).await?;
    let value = serde_json::to_value(policy).map_err(StoreError::new)?;
    ports
        .commit(
            org,
            vec![Change::SetMonitor {
                model: model.to_owned(),
                stage,
                policy: value.clone(),
                by: actor.history_name().to_owned(),
            }],
            AuditEvent {
                actor: actor.clone(),
                action: "monitor.set".into(),
                target: format!("models/{model}/stages/{stage}"),
                details: json!({"policy": value}),
            },
        )
        .await
        .map_err(store)
}

/// `GET …/models/{model}/stages/{stage}/monitor`.
///
/// Errors: `MonitorNotFound`, `ModelNotFound` (404), `Store`.
pub async fn get_monitor(
    ports: &(impl Models + Monitors),
    org: &str,
    (model, stage): (&str, Stage),
) -> Result<MonitorView, RegistryError> {
    existing_model(ports, org, model).await?;
    let stored =
        ports
            .monitor(org, model, stage)
            .await?
            .ok_or_else(|| RegistryError::MonitorNotFound {
                model: model.to_owned(),
                stage,
            })?;
    // The newest check of each version the last run covered.
    let mut last: Vec<MonitorCheck> = Vec::new();
    if let Some(at) = stored.checked_at {
        for check in ports.monitor_checks(org, model, stage, 50).await? {
            if check.at == at && !last.iter().any(|c| c.version == check.version) {
                last.push(check);
            }
        }
    }
    Ok(MonitorView {
        model: model.to_owned(),
        stage,
        policy: stored.policy,
        checked_at: stored.checked_at,
        episodes: stored.episodes,
        last,
    })
}

/// `GET …/models/{model}/stages/{stage}/monitor/history?limit=`.
///
/// Errors: `ModelNotFound` (404), `Store`.
pub async fn monitor_history(
    ports: &(impl Models + Monitors),
    org: &str,
    (model, stage): (&str, Stage),
    limit: usize,
) -> Result<MonitorHistory, RegistryError> {
    existing_model(ports, org, model).await?;
    Ok(MonitorHistory {
        model: model.to_owned(),
        stage,
        checks: ports.monitor_checks(org, model, stage, limit).await?,
    })
}

/// What one check did: per version, the events raised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checked {
    pub versions: usize,
    pub raised: Vec<(String, &'static str)>,
}

/// Checks one monitor (the cron does, for every monitor).
///
/// Errors: `Store`.
pub async fn check_monitor(
    ports: &(impl Stages + Telemetry + Profiles + Outcomes + VersionDetails + Clock + Commit),
    monitor: &StoredMonitor,
) -> Result<Checked, RegistryError> {
    let m = monitor;
    let now = ports.now_ms();
    let window_ms = parse_window(&m.policy.window)
        .map_err(|err| RegistryError::InvalidMonitor(err.to_string()))?;
    let since = now - window_ms;
    let head = ports.stage_head(&m.org, &m.model, m.stage, false).await?;
    let versions: Vec<String> = head
        .state
        .map(|state| {
            let mut v: Vec<String> = state.targets.into_iter().map(|t| t.version).collect();
            v.dedup();
            v
        })
        .unwrap_or_default();
    let mut episodes = outpost_core::monitor::Episodes::new();
    let mut checks = Vec::new();
    let mut events = Vec::new();
    for version in &versions {
        let windows = ports
            .version_windows(&m.org, &m.model, version, Some(m.stage), since)
            .await?;
        let timing = merge_timing(&windows);
        let drift_share = ports
            .reference_profile(&m.org, &m.model, version)
            .await?
            .map(|profile| profile.drift(&merge_samples(&windows, REPORT_SAMPLE), 0.5))
            .filter(|report| report.dataset.features > 0)
            .map(|report| report.dataset.share);
        let measured = outpost_core::guardrail::Measured::from_window(&timing, drift_share);
        let at = (m.model.as_str(), version.as_str());
        let mut outcomes = OutcomeWindow::default();
        for outcome in ports
            .version_outcomes(&m.org, at, Some(m.stage), since)
            .await?
        {
            let _ = outcomes.observe(&outcome);
        }
        for window in ports
            .version_outcome_windows(&m.org, at, Some(m.stage), since)
            .await?
        {
            outcomes.merge(&window);
        }
        let quality = (outcomes.outcomes() > 0)
            .then(|| QualityReport::of(&outcomes, None, m.policy.low_confidence));
        let registered = ports
            .version_record(&m.org, &m.model, version)
            .await?
            .map(|r| r.metrics);
        let evaluation = evaluate(
            &m.policy,
            &Observed {
                calls: measured.calls,
                error_rate: measured.error_rate,
                p95_ms: measured.p95_ms,
                drift_share,
                quality: quality.as_ref(),
                registered: registered.as_ref(),
            },
        );
        let (active, raised) = advance(&m.episodes, version, &evaluation);
        for kind in &raised {
            let signals: Vec<_> = evaluation
                .signals
                .iter()
                .filter(|s| s.kind == *kind)
                .collect();
            events.push((
                version.clone(),
                kind.event(),
                json!({
                    "model": m.model, "version": version, "stage": m.stage,
                    "window": m.policy.window, "signals": signals,
                    "calls": evaluation.calls, "outcomes": evaluation.outcomes,
                }),
            ));
        }
        episodes.insert(version.clone(), active);
        checks.push(MonitorCheck {
            version: version.clone(),
            at: now,
            raised: raised.iter().map(|k| k.event().to_owned()).collect(),
            evaluation,
        });
    }
    let checked = Checked {
        versions: versions.len(),
        raised: events.iter().map(|(v, e, _)| (v.clone(), *e)).collect(),
    };
    let mut changes = vec![Change::RecordMonitorCheck {
        model: m.model.clone(),
        stage: m.stage,
        episodes: serde_json::to_value(&episodes).map_err(StoreError::new)?,
        checks: checks.clone(),
    }];
    let raised: Vec<&str> = events.iter().map(|(_, e, _)| *e).collect();
    changes.extend(events.iter().map(|(_, event, data)| Change::Webhook {
        event,
        data: data.clone(),
    }));
    if raised.is_empty() {
        ports.apply(&m.org, changes).await.map_err(store)?;
    } else {
        ports
            .commit(
                &m.org,
                changes,
                AuditEvent {
                    actor: Actor::Cron,
                    action: "monitor.alert".into(),
                    target: format!("models/{}/stages/{}", m.model, m.stage),
                    details: json!({"raised": raised, "checks": checks}),
                },
            )
            .await
            .map_err(store)?;
    }
    Ok(checked)
}
