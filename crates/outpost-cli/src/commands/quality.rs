//! `outpost feedback` and `outpost quality`: outcomes for Worker
//! predictions, and a version's quality from them (computed by the registry
//! with `outpost_core::quality`).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use outpost_core::api::{
    FeedbackAccepted, FeedbackItem, FeedbackRequest, MonitorCheck, MonitorHistory, MonitorView,
    QualityView,
};
use outpost_core::monitor::{MonitorPolicy, RetrainRule};

use super::Env;
use super::versions::encode;
use crate::cli::MonitorCommand;
use crate::output;

/// Outcomes as the flags give them.
pub struct Given {
    pub prediction: Option<String>,
    pub row: u32,
    pub label: Option<String>,
    pub value: Option<f64>,
    pub file: Option<std::path::PathBuf>,
}

pub fn feedback(env: &Env, model: &str, given: Given) -> Result<ExitCode> {
    let request = match (&given.file, given.prediction, given.label) {
        (Some(path), ..) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<FeedbackRequest>(&text).with_context(|| {
                format!(
                    "{} is not {{\"outcomes\": [{{\"prediction_id\", \"row\", \"label\", \"value\"}}]}}",
                    path.display()
                )
            })?
        }
        (None, Some(prediction_id), Some(label)) => FeedbackRequest {
            outcomes: vec![FeedbackItem {
                prediction_id,
                row: given.row,
                label: serde_json::Value::String(label),
                value: given.value,
            }],
        },
        _ => bail!("give --prediction and --label, or --file with many outcomes"),
    };
    let accepted: FeedbackAccepted = env.client()?.send(
        "POST",
        &format!("/models/{}/feedback", encode(model)),
        &request,
    )?;
    if env.json {
        output::print_json(&accepted)?;
    } else {
        println!(
            "stored {} outcomes for {model} ({} given before, unchanged)",
            accepted.accepted, accepted.duplicates
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `outpost quality` asks for.
pub struct Asked {
    pub version: String,
    pub stage: Option<String>,
    pub window: String,
    pub positive: Option<String>,
    pub low: Option<f64>,
}

pub fn quality(env: &Env, model: &str, asked: &Asked) -> Result<ExitCode> {
    let mut path = format!(
        "/models/{}/quality?version={}&window={}",
        encode(model),
        encode(&asked.version),
        encode(&asked.window)
    );
    if let Some(stage) = &asked.stage {
        path.push_str(&format!("&stage={}", encode(stage)));
    }
    if let Some(positive) = &asked.positive {
        path.push_str(&format!("&positive={}", encode(positive)));
    }
    if let Some(low) = asked.low {
        path.push_str(&format!("&low={low}"));
    }
    let view: QualityView = env.client()?.get(&path)?;
    if env.json {
        output::print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_view(&view);
    Ok(ExitCode::SUCCESS)
}

fn number(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{x:.4}"))
}

fn print_view(view: &QualityView) {
    let q = &view.quality;
    println!(
        "{}@{} over {}{}: {} outcomes ({} given for Worker predictions, {} device windows)",
        view.model,
        view.version,
        view.window,
        view.stage
            .map(|s| format!(" at {}", s.as_str()))
            .unwrap_or_default(),
        q.outcomes,
        view.feedback,
        view.reported_windows
    );
    if q.outcomes == 0 {
        println!(
            "no outcomes yet: give them with `outpost feedback {} --prediction ID --label LABEL`",
            view.model
        );
        return;
    }
    println!("accuracy {}", number(q.accuracy));
    let rows: Vec<Vec<String>> = q
        .classes
        .iter()
        .map(|c| {
            vec![
                c.class.clone(),
                c.support.to_string(),
                c.predicted.to_string(),
                format!("{:.4}", c.precision),
                format!("{:.4}", c.recall),
                format!("{:.4}", c.f1),
                match (c.roc_auc, c.roc_auc_error) {
                    (Some(auc), Some(err)) => format!("{auc:.4} ± {err:.4}"),
                    _ => "-".to_owned(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &[
                "CLASS",
                "SUPPORT",
                "PREDICTED",
                "PRECISION",
                "RECALL",
                "F1",
                "ROC AUC"
            ],
            &rows
        )
    );
    if let Some(m) = &q.macro_avg {
        println!(
            "macro: precision {:.4}, recall {:.4}, F1 {:.4}, ROC AUC {}",
            m.precision,
            m.recall,
            m.f1,
            number(m.roc_auc)
        );
    }
    if let Some(positive) = &q.positive_class {
        println!(
            "positive class {positive}: predicted for {}",
            q.positive_rate
                .map_or_else(|| "-".to_owned(), |r| format!("{:.2} %", r * 100.0))
        );
    }
    if let Some(c) = &q.confidence {
        println!(
            "confidence: mean top score {:.4} (p10 ≤ {:.2}, p50 ≤ {:.2}, p90 ≤ {:.2}), {:.2} % below {:.2}, mean entropy {:.4} nats; calibration error {}",
            c.mean_top_score,
            c.p10,
            c.p50,
            c.p90,
            c.low_rate * 100.0,
            c.low_threshold,
            c.mean_entropy,
            number(q.calibration_error)
        );
    }
    if let Some(sum) = q.value_sum {
        println!("business value: {sum} over {} outcomes", q.value_count);
    }
    if !view.registered.is_empty() {
        let rows: Vec<Vec<String>> = view
            .registered
            .iter()
            .map(|r| {
                vec![
                    r.metric.clone(),
                    format!("{:.4}", r.registered),
                    format!("{:.4}", r.measured),
                    format!("{:+.4}", r.change),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(&["METRIC", "REGISTERED", "MEASURED", "CHANGE"], &rows)
        );
    }
}

/// `outpost monitor set|show|history`.
pub fn monitor(env: &Env, command: MonitorCommand) -> Result<ExitCode> {
    let path = |model: &str, stage: &str| {
        format!("/models/{}/stages/{}/monitor", encode(model), encode(stage))
    };
    match command {
        MonitorCommand::Set {
            model,
            stage,
            max_drift_share,
            min_f1,
            min_precision,
            min_recall,
            max_drop,
            max_low_confidence,
            low,
            max_error_rate,
            max_p95_ms,
            min_calls,
            min_outcomes,
            window,
            retrain_drift_share,
            no_retrain_on_quality,
        } => {
            let policy = MonitorPolicy {
                max_drift_share,
                min_f1,
                min_precision,
                min_recall,
                max_relative_drop: max_drop,
                max_low_confidence_rate: max_low_confidence,
                low_confidence: low,
                max_error_rate,
                max_p95_ms,
                min_calls,
                min_outcomes,
                window,
                retrain_when: RetrainRule {
                    drift_share_above: retrain_drift_share,
                    on_quality: !no_retrain_on_quality,
                },
            };
            // The registry checks it too; saying so here saves a round trip.
            policy.validate().map_err(|err| {
                anyhow::anyhow!("{err}; see `outpost monitor set --help` for the lines")
            })?;
            let view: MonitorView = env.client()?.send("PUT", &path(&model, &stage), &policy)?;
            if env.json {
                output::print_json(&view)?;
            } else {
                println!(
                    "monitor set on {model}@{stage}: the cron checks every version deployed there every run"
                );
            }
        }
        MonitorCommand::Show { model, stage } => {
            let view: MonitorView = env.client()?.get(&path(&model, &stage))?;
            if env.json {
                output::print_json(&view)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{model}@{stage}: {}",
                serde_json::to_string(&view.policy).unwrap_or_default()
            );
            match view.checked_at {
                None => println!("not checked yet (the cron runs every five minutes)"),
                Some(at) => println!("last checked {}", outpost_core::timefmt::format_utc(at)),
            }
            for (version, kinds) in &view.episodes {
                if !kinds.is_empty() {
                    let names: Vec<&str> = kinds.iter().map(|k| k.event()).collect();
                    println!("{version}: open episodes: {}", names.join(", "));
                }
            }
            print_checks(&view.last);
        }
        MonitorCommand::History {
            model,
            stage,
            limit,
        } => {
            let history: MonitorHistory = env
                .client()?
                .get(&format!("{}/history?limit={limit}", path(&model, &stage)))?;
            if env.json {
                output::print_json(&history)?;
            } else if history.checks.is_empty() {
                println!("no checks of {model}@{stage} yet");
            } else {
                print_checks(&history.checks);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_checks(checks: &[MonitorCheck]) {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let signals: Vec<String> = c
                .evaluation
                .signals
                .iter()
                .map(|s| format!("{} {:.4} (line {:.4})", s.metric, s.measured, s.threshold))
                .collect();
            vec![
                outpost_core::timefmt::format_utc(c.at),
                c.version.clone(),
                c.evaluation.calls.to_string(),
                c.evaluation.outcomes.to_string(),
                if signals.is_empty() {
                    c.evaluation.waiting.join("; ")
                } else {
                    signals.join("; ")
                },
                c.raised.join(", "),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &[
                "CHECKED",
                "VERSION",
                "CALLS",
                "OUTCOMES",
                "SIGNALS (OR WAITING)",
                "RAISED"
            ],
            &rows
        )
    );
}
