//! `outpost perf MODEL` (the registry's performance report) and
//! `outpost drift compare REFERENCE.csv CURRENT.csv`: the drift report of
//! `outpost_core::drift`, computed locally on two CSV files (header row;
//! numeric and string columns), for data checks in CI pipelines. Each column
//! gets Evidently's default test; the dataset drifts when at least `--share`
//! of the columns do.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use outpost_core::drift::{Column, FeatureDrift, dataset_drift, feature_drift};
use outpost_core::telemetry::PerformanceRow;
use serde_json::json;

use super::Env;
use crate::cli::DriftCommand;
use crate::output;

/// Columns by header, in file order.
fn as_str(cells: &[String]) -> Vec<&str> {
    cells.iter().map(String::as_str).collect()
}

fn read_csv(path: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| {
            format!(
                "cannot read {}; give a CSV file with a header row",
                path.display()
            )
        })?;
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("{} has no header row", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut columns: Vec<(String, Vec<String>)> =
        headers.into_iter().map(|h| (h, Vec::new())).collect();
    for (line, record) in reader.records().enumerate() {
        let record = record
            .with_context(|| format!("{} row {} is not valid CSV", path.display(), line + 2))?;
        for (column, cell) in columns.iter_mut().zip(record.iter()) {
            column.1.push(cell.to_owned());
        }
    }
    Ok(columns)
}

pub fn run(env: &Env, command: DriftCommand) -> Result<ExitCode> {
    let DriftCommand::Compare {
        reference,
        current,
        share,
        fail_on_drift,
    } = command;
    let reference_columns = read_csv(&reference)?;
    let current_columns: BTreeMap<String, Vec<String>> = read_csv(&current)?.into_iter().collect();
    let mut reports: Vec<(String, &'static str, FeatureDrift)> = Vec::new();
    for (name, cells) in &reference_columns {
        let current_cells = current_columns.get(name).ok_or_else(|| {
            anyhow!(
                "column `{name}` of {} is missing from {}; both files need the same header",
                reference.display(),
                current.display()
            )
        })?;
        let reference_column = Column::infer(&as_str(cells));
        let current_column = Column::like(&reference_column, &as_str(current_cells));
        if reference_column.is_empty() || current_column.is_empty() {
            return Err(anyhow!("column `{name}` has no values in one of the files"));
        }
        let drift = feature_drift(&reference_column, &current_column, None, None)
            .map_err(|err| anyhow!("column `{name}`: {err}"))?;
        reports.push((name.clone(), reference_column.kind(), drift));
    }
    let features: Vec<FeatureDrift> = reports.iter().map(|(_, _, d)| d.clone()).collect();
    let dataset = dataset_drift(&features, share);
    if env.json {
        output::print_json(&json!({
            "features": reports.iter().map(|(name, kind, d)| json!({
                "feature": name, "type": kind, "test": d.test, "score": d.score,
                "threshold": d.threshold, "drifted": d.drifted,
            })).collect::<Vec<_>>(),
            "dataset": dataset,
        }))?;
    } else {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|(name, kind, d)| {
                vec![
                    name.clone(),
                    (*kind).to_owned(),
                    serde_json::to_value(d.test)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    format!("{:.6}", d.score),
                    format!("{}", d.threshold),
                    if d.drifted {
                        "DRIFT".into()
                    } else {
                        "ok".into()
                    },
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                &["FEATURE", "TYPE", "TEST", "SCORE", "THRESHOLD", "DRIFT"],
                &rows
            )
        );
        println!(
            "dataset: {} of {} features drifted ({:.0} %, threshold {:.0} %): {}",
            dataset.drifted_features,
            dataset.features,
            dataset.share * 100.0,
            share * 100.0,
            if dataset.drifted { "DRIFT" } else { "no drift" }
        );
    }
    Ok(if fail_on_drift && dataset.drifted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `outpost perf MODEL`: the registry's performance report.
pub fn perf(env: &Env, model: &str, since: Option<i64>) -> Result<ExitCode> {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Report {
        rows: Vec<PerformanceRow>,
    }
    let path = format!("/models/{model}/performance?since={}", since.unwrap_or(0));
    let report: Report = env.client()?.get(&path)?;
    if env.json {
        output::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("≤ {v} µs"));
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                r.version.clone(),
                r.stage.clone(),
                r.source.clone(),
                r.calls.to_string(),
                r.rows.to_string(),
                format!("{:.2} %", r.error_rate * 100.0),
                us(r.p50_us),
                us(r.p95_us),
                us(r.p99_us),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no telemetry for {model} yet");
    } else {
        print!(
            "{}",
            output::table(
                &[
                    "VERSION", "STAGE", "SOURCE", "CALLS", "ROWS", "ERRORS", "P50", "P95", "P99"
                ],
                &rows
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_are_read_by_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "amount,merchant\n1.5,food\n, travel\n3,food\n").unwrap();
        let columns = read_csv(&path).unwrap();
        assert_eq!(
            columns[0],
            (
                "amount".to_owned(),
                vec!["1.5".to_owned(), String::new(), "3".to_owned()]
            )
        );
        assert_eq!(columns[1].1, ["food", "travel", "food"]);
        std::fs::write(&path, "a,b\n1\n").unwrap();
        assert!(read_csv(&path).unwrap_err().to_string().contains("row 2"));
    }
}
