//! `outpost feedback` and `outpost quality`: outcomes for Worker
//! predictions, and a version's quality from them (computed by the registry
//! with `outpost_core::quality`).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use outpost_core::api::{FeedbackAccepted, FeedbackItem, FeedbackRequest, QualityView};

use super::Env;
use super::versions::encode;
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
