//! The cron's guardrail check of one guarded canary: its telemetry at the
//! stage since the rollout began (and drift against its reference profile)
//! judged by `outpost_core::guardrail::evaluate`; a tripped canary is rolled
//! back as the cron (one history entry, the measurements in the audit
//! entry, `guardrail.tripped` and `drift.detected` events), otherwise the
//! verdict is recorded. Drift is announced once per episode.

use outpost_core::guardrail::{
    Control, Guardrails, Measured, OutcomeFacts, Verdict, evaluate_against_stable, rollback_reason,
    without_canary,
};
use outpost_core::lifecycle::{Move, Stage, StageState};
use outpost_core::quality::{OutcomeWindow, QualityReport};
use outpost_core::routing::RolloutPolicy;
use outpost_core::telemetry::{REPORT_SAMPLE, merge_samples, merge_timing};
use serde_json::json;

use crate::error::{RegistryError, StoreError};
use crate::ports::{
    Actor, Change, Clock, Commit, CommitError, Deployments, Outcomes, Profiles, Telemetry,
};
use crate::stages::{MoveExtras, StageMove, append_move};

/// A rollout whose canary guardrails watch, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedCanary {
    pub org: String,
    pub model: String,
    pub stage: Stage,
    pub canary: String,
    /// When the rollout began (ms).
    pub since: i64,
    pub policy: Guardrails,
    /// Whether drift was announced already in this episode.
    pub drift_notified: bool,
}

/// What one check did.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckOutcome {
    Checked(Verdict),
    RolledBack { seq: i64, reason: String },
}

/// Checks one guarded canary (see the module docs).
///
/// Errors: `Store` (and those of the rollback's move).
pub async fn check_guardrail(
    ports: &(impl Telemetry + Profiles + Deployments + Outcomes + Clock + Commit),
    watched: &WatchedCanary,
) -> Result<CheckOutcome, RegistryError> {
    let w = watched;
    let windows = ports
        .version_windows(&w.org, &w.model, &w.canary, Some(w.stage), w.since)
        .await?;
    let timing = merge_timing(&windows);
    let drift = ports
        .reference_profile(&w.org, &w.model, &w.canary)
        .await?
        .map(|profile| profile.drift(&merge_samples(&windows, REPORT_SAMPLE), 0.5))
        .filter(|report| report.dataset.features > 0);
    let watches_quality = w.policy.min_f1.is_some()
        || w.policy.min_precision.is_some()
        || w.policy.min_recall.is_some()
        || w.policy.compare_with_stable.is_some();
    let canary_outcomes = if watches_quality {
        outcome_facts(ports, w, &w.canary).await?
    } else {
        None
    };
    let measured = Measured::from_window(&timing, drift.as_ref().map(|d| d.dataset.share))
        .with_outcomes(canary_outcomes);
    // The control: the stable arm at the same stage over the same time.
    let stable = match w.policy.compare_with_stable {
        None => None,
        Some(_) => {
            let head = ports.stage_head_entry(&w.org, &w.model, w.stage).await?;
            match head
                .and_then(|entry| RolloutPolicy::from_state(&entry.to))
                .map(|policy| policy.stable)
            {
                Some(version) => {
                    let control = merge_timing(
                        &ports
                            .version_windows(&w.org, &w.model, &version, Some(w.stage), w.since)
                            .await?,
                    );
                    let outcomes = outcome_facts(ports, w, &version)
                        .await?
                        .map(|f| (f.wrong, f.outcomes));
                    Some(Control {
                        calls: (control.errors, control.calls),
                        outcomes,
                    })
                }
                None => None,
            }
        }
    };
    let verdict = evaluate_against_stable(&w.policy, &measured, stable.as_ref());
    let drifted = drift.as_ref().is_some_and(|d| d.dataset.drifted);
    let drift_event = drift
        .as_ref()
        .filter(|_| drifted && !w.drift_notified)
        .map(|d| {
            json!({
                "model": w.model, "version": w.canary, "stage": w.stage, "since": w.since,
                "dataset": d.dataset, "features": d.features,
            })
        });
    if let Verdict::Tripped { breaches } = &verdict {
        let reason = rollback_reason(&w.canary, breaches);
        let guardrail = json!({
            "canary": w.canary, "since": w.since, "policy": w.policy,
            "measured": measured, "breaches": breaches,
        });
        let mut extras = MoveExtras::default();
        extras.details.insert("guardrail".into(), guardrail.clone());
        let mut alert = guardrail;
        alert["model"] = json!(w.model);
        alert["stage"] = json!(w.stage);
        extras.events.push(("guardrail.tripped", alert));
        if let Some(event) = drift_event {
            extras.events.push(("drift.detected", event));
        }
        let canary = w.canary.clone();
        let decide = move |from: &StageState| Ok(without_canary(from, &canary));
        let entry = append_move(
            ports,
            &StageMove {
                org: &w.org,
                model: &w.model,
                stage: w.stage,
                kind: Move::Rollback,
                actor: &Actor::Cron,
                reason: &reason,
                forced: &[],
            },
            &decide,
            extras,
        )
        .await?;
        return Ok(match entry {
            Some(entry) => CheckOutcome::RolledBack {
                seq: entry.seq,
                reason,
            },
            None => CheckOutcome::Checked(verdict),
        });
    }
    let mut changes = vec![Change::RecordGuardrailCheck {
        model: w.model.clone(),
        stage: w.stage,
        since: w.since,
        verdict: serde_json::to_value(&verdict).map_err(StoreError::new)?,
        measured: serde_json::to_value(&measured).map_err(StoreError::new)?,
        drift_notified: drifted,
    }];
    if let Some(event) = drift_event {
        changes.push(Change::Webhook {
            event: "drift.detected",
            data: event,
        });
    }
    match ports.apply(&w.org, changes).await {
        Ok(()) => Ok(CheckOutcome::Checked(verdict)),
        Err(CommitError::Conflict(what)) => Err(StoreError::new(format!("{what} conflict")).into()),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}

/// What the outcomes of `version`'s predictions at the watched stage since
/// the rollout began showed (`None` without any).
async fn outcome_facts(
    ports: &impl Outcomes,
    w: &WatchedCanary,
    version: &str,
) -> Result<Option<OutcomeFacts>, RegistryError> {
    let at = (w.model.as_str(), version);
    let mut window = OutcomeWindow::default();
    for outcome in ports
        .version_outcomes(&w.org, at, Some(w.stage), w.since)
        .await?
    {
        let _ = window.observe(&outcome);
    }
    for reported in ports
        .version_outcome_windows(&w.org, at, Some(w.stage), w.since)
        .await?
    {
        window.merge(&reported);
    }
    Ok(OutcomeFacts::of(&QualityReport::of(&window, None, 0.5)))
}
