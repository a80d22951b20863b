//! Ground truth: Worker predictions kept for feedback, outcomes given for
//! them, outcome windows devices aggregate, and the quality of a version
//! over a window (`outpost_core::quality` computes it).

use std::collections::{BTreeMap, BTreeSet};

use outpost_core::api::{
    FeedbackAccepted, FeedbackRequest, MAX_FEEDBACK_ITEMS, OutcomeReport, OutcomesAccepted,
    QualityView, RegisteredMetric,
};
use outpost_core::lifecycle::Stage;
use outpost_core::quality::{
    LabelledOutcome, OutcomeWindow, QualityReport, label_text, read_classifier_outputs,
};

use crate::error::RegistryError;
use crate::ports::{
    Clock, FeedbackRow, Models, Outcomes, PredictionRecord, VersionDetails, Versions,
};

/// Kept predictions are named `pred_` and 24 hex digits.
fn prediction_id(clock: &impl Clock) -> Result<String, RegistryError> {
    let bytes = clock.random_bytes(12)?;
    Ok(format!(
        "pred_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Keeps what a classifier predicted for each row, so that outcomes can be
/// given for it later; its id. `None` (nothing kept) when the outputs are
/// not a classifier's (`outpost_core::quality::read_classifier_outputs`).
pub async fn keep_prediction(
    ports: &(impl Outcomes + Clock),
    org: &str,
    (model, version, stage): (&str, &str, Stage),
    outputs: &serde_json::Value,
) -> Result<Option<String>, RegistryError> {
    let Some(rows) = read_classifier_outputs(outputs) else {
        return Ok(None);
    };
    let id = prediction_id(ports)?;
    ports
        .insert_prediction(
            org,
            &PredictionRecord {
                id: id.clone(),
                model: model.to_owned(),
                version: version.to_owned(),
                stage,
                at: ports.now_ms(),
                rows,
            },
        )
        .await?;
    Ok(Some(id))
}

/// `POST …/models/{model}/feedback`: each outcome is paired with what its
/// prediction's row predicted and stored once (a repeat is a duplicate, not
/// an error). The whole request is refused — nothing stored — when any
/// outcome names an unknown prediction or row, or is not a valid label.
///
/// Errors: `InvalidFeedback` (422), `ModelNotFound` (404), `Store`.
pub async fn give_feedback(
    ports: &(impl Outcomes + Models),
    org: &str,
    model: &str,
    request: &FeedbackRequest,
) -> Result<FeedbackAccepted, RegistryError> {
    let invalid = |why: String| RegistryError::InvalidFeedback(why);
    if request.outcomes.is_empty() || request.outcomes.len() > MAX_FEEDBACK_ITEMS {
        return Err(invalid(format!(
            "give 1 to {MAX_FEEDBACK_ITEMS} outcomes, not {}",
            request.outcomes.len()
        )));
    }
    if !ports.model_exists(org, model).await? {
        return Err(RegistryError::ModelNotFound {
            org: org.to_owned(),
            model: model.to_owned(),
        });
    }
    let ids: BTreeSet<&str> = request
        .outcomes
        .iter()
        .map(|o| o.prediction_id.as_str())
        .collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let kept: BTreeMap<String, PredictionRecord> = ports
        .predictions(org, model, &ids)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let mut rows = Vec::with_capacity(request.outcomes.len());
    let mut seen = BTreeSet::new();
    for (i, item) in request.outcomes.iter().enumerate() {
        let Some(prediction) = kept.get(&item.prediction_id) else {
            return Err(invalid(format!(
                "outcome {i}: no prediction `{}` of {model} (ids come from `predict` answers; \
                 predictions are kept {} days)",
                item.prediction_id,
                PREDICTIONS_KEPT_MS / 86_400_000
            )));
        };
        let Some(predicted) = prediction.rows.get(item.row as usize) else {
            return Err(invalid(format!(
                "outcome {i}: prediction `{}` has rows 0 to {}, not {}",
                item.prediction_id,
                prediction.rows.len().saturating_sub(1),
                item.row
            )));
        };
        let Some(actual) = label_text(&item.label) else {
            return Err(invalid(format!(
                "outcome {i}: label must be text, a number or a boolean, not {}",
                item.label
            )));
        };
        let outcome = LabelledOutcome {
            actual,
            predicted: predicted.label.clone(),
            scores: predicted.scores.clone(),
            value: item.value,
        };
        OutcomeWindow::default()
            .observe(&outcome)
            .map_err(|err| invalid(format!("outcome {i}: {err}")))?;
        // Twice in one request: the first stands, as across requests.
        if !seen.insert((item.prediction_id.as_str(), item.row)) {
            continue;
        }
        rows.push(FeedbackRow {
            prediction_id: item.prediction_id.clone(),
            row: item.row,
            version: prediction.version.clone(),
            stage: prediction.stage,
            predicted_at: prediction.at,
            outcome,
        });
    }
    let accepted = ports.insert_feedback(org, model, &rows).await?;
    Ok(FeedbackAccepted {
        accepted,
        duplicates: request.outcomes.len() as u64 - accepted,
    })
}

/// How long kept predictions wait for their outcomes (ms): the cron drops
/// older ones, and feedback for them is refused as unknown.
pub const PREDICTIONS_KEPT_MS: i64 = 30 * 86_400_000;

fn valid_report_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// `POST …/models/{model}/outcomes`: a device's own outcome window, kept
/// once per id.
///
/// Errors: `InvalidFeedback`, `TelemetryForUnknownVersion` (422),
/// `ModelNotFound` (404), `Store`.
pub async fn report_outcomes(
    ports: &(impl Outcomes + Models + Versions),
    org: &str,
    model: &str,
    report: &OutcomeReport,
) -> Result<OutcomesAccepted, RegistryError> {
    if !valid_report_id(&report.id) {
        return Err(RegistryError::InvalidFeedback(
            "id must be 1 to 64 characters of letters, digits, `.`, `_`, `:` and `-`".into(),
        ));
    }
    report
        .window
        .validate()
        .map_err(|err| RegistryError::InvalidFeedback(format!("window: {err}")))?;
    crate::telemetry::known_version(ports, org, model, &report.version).await?;
    let stored = ports
        .insert_outcome_window(
            org,
            (model, &report.version, report.stage),
            &report.id,
            &report.window,
        )
        .await?;
    Ok(OutcomesAccepted {
        stored,
        outcomes: report.window.outcomes(),
    })
}

/// What a quality report is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityQuery<'a> {
    pub model: &'a str,
    pub version: &'a str,
    pub stage: Option<Stage>,
    /// As asked (`24h`), and as ms.
    pub window: (&'a str, i64),
    /// The positive class; the default is `1` or `true`.
    pub positive: Option<&'a str>,
    /// Top scores below this are low-confidence.
    pub low: f64,
}

/// `GET …/models/{model}/quality`: outcomes given for the version's
/// predictions made in the window, merged with the windows devices
/// reported in it, and the registered metrics beside what they measure.
///
/// Errors: `TelemetryForUnknownVersion` (422), `ModelNotFound` (404),
/// `Store`.
pub async fn version_quality(
    ports: &(impl Outcomes + Models + Versions + VersionDetails + Clock),
    org: &str,
    query: &QualityQuery<'_>,
) -> Result<QualityView, RegistryError> {
    crate::telemetry::known_version(ports, org, query.model, query.version).await?;
    let since = ports.now_ms() - query.window.1;
    let at = (query.model, query.version);
    let outcomes = ports.version_outcomes(org, at, query.stage, since).await?;
    let windows = ports
        .version_outcome_windows(org, at, query.stage, since)
        .await?;
    let mut merged = OutcomeWindow::default();
    for outcome in &outcomes {
        // Stored outcomes were checked on the way in; one that no longer
        // passes (a later, stricter bound) is left out, not fatal.
        let _ = merged.observe(outcome);
    }
    for window in &windows {
        merged.merge(window);
    }
    let quality = QualityReport::of(&merged, query.positive, query.low);
    let registered = ports
        .version_record(org, query.model, query.version)
        .await?
        .map(|record| {
            record
                .metrics
                .iter()
                .filter_map(|(metric, &value)| {
                    let measured = quality.measured(metric)?;
                    Some(RegisteredMetric {
                        metric: metric.clone(),
                        registered: value,
                        measured,
                        change: measured - value,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(QualityView {
        model: query.model.to_owned(),
        version: query.version.to_owned(),
        stage: query.stage,
        window: query.window.0.to_owned(),
        since,
        feedback: outcomes.len() as u64,
        reported_windows: windows.len() as u64,
        quality,
        registered,
    })
}
