//! `outpost perf MODEL` (the registry's performance report) and
//! `outpost drift compare REFERENCE.csv CURRENT.csv`: the drift report of
//! `outpost_core::drift`, computed locally on two CSV files (header row;
//! numeric and string columns), for data checks in CI pipelines. Each column
//! gets Evidently's default test, chosen by `outpost_core::drift::StatTest::
//! default_for` from the distinct values of both files' column together (as
//! the registry and the wasm client choose it); the dataset drifts when at
//! least `--share` of the columns do. A column that cannot be compared (no
//! values in one file, say) stops the command with its name and the reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use outpost_core::drift::{Column, Comparison, DatasetDrift, compare_samples};
use outpost_core::profile::{FeatureReport, FeatureShape, ReferenceProfile};
use outpost_core::telemetry::PerformanceRow;

use super::Env;
use crate::cli::{DriftCommand, ReferenceCommand};
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

/// Columns of a sample file: CSV with a header row, or (`.json`) an object
/// of columns `{"feature": [numbers, strings or nulls]}` in model input order.
pub fn read_columns(path: &Path) -> Result<Vec<(String, Vec<String>)>> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| {
                format!(
                    "{} is not a JSON object of columns like {{\"amount\": [1.5, 2.0]}}",
                    path.display()
                )
            })?;
        return object
            .into_iter()
            .map(|(name, values)| {
                let cells = values
                    .as_array()
                    .ok_or_else(|| {
                        anyhow!("column `{name}` of {} is not an array", path.display())
                    })?
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::Null => Ok(String::new()),
                        serde_json::Value::Number(n) => Ok(n.to_string()),
                        serde_json::Value::String(s) => Ok(s.clone()),
                        serde_json::Value::Bool(b) => Ok(b.to_string()),
                        _ => Err(anyhow!(
                            "column `{name}` holds a nested value; give numbers or strings"
                        )),
                    })
                    .collect::<Result<Vec<String>>>()?;
                Ok((name, cells))
            })
            .collect();
    }
    read_csv(path)
}

/// A reference profile of a sample file, made and checked locally.
pub fn profile_of(path: &Path) -> Result<ReferenceProfile> {
    let columns = read_columns(path)?;
    let profile = ReferenceProfile::from_columns(&columns)
        .map_err(|err| anyhow!("{}: {err}", path.display()))?;
    profile
        .validate()
        .map_err(|err| anyhow!("{}: {err}", path.display()))?;
    Ok(profile)
}

/// Sends a profile for `model@version`.
pub fn put_reference(
    env: &Env,
    model: &str,
    version: &str,
    profile: &ReferenceProfile,
) -> Result<()> {
    let _: serde_json::Value = env.client()?.send(
        "PUT",
        &format!("/models/{model}/versions/{version}/reference"),
        profile,
    )?;
    Ok(())
}

/// `outpost reference add|show`.
pub fn reference(env: &Env, command: ReferenceCommand) -> Result<ExitCode> {
    match command {
        ReferenceCommand::Add {
            model,
            version,
            sample,
        } => {
            let profile = profile_of(&sample)?;
            put_reference(env, &model, &version, &profile)?;
            println!(
                "{model}@{version}: reference profile of {} rows, {} features stored",
                profile.rows,
                profile.features.len()
            );
        }
        ReferenceCommand::Show { model, version } => {
            let profile: ReferenceProfile = env
                .client()?
                .get(&format!("/models/{model}/versions/{version}/reference"))?;
            if env.json {
                output::print_json(&profile)?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = profile
                .features
                .iter()
                .map(|f| {
                    let (kind, detail) = match &f.shape {
                        FeatureShape::Numerical {
                            summary,
                            median,
                            edges,
                            ..
                        } => (
                            "numerical",
                            format!(
                                "min {} · median {} · max {} · {} bins",
                                short(summary.min),
                                short(*median),
                                short(summary.max),
                                edges.len() + 1
                            ),
                        ),
                        FeatureShape::Categorical { categories, .. } => {
                            ("categorical", format!("{} categories", categories.len()))
                        }
                    };
                    vec![
                        f.name.clone(),
                        kind.to_owned(),
                        f.count.to_string(),
                        f.missing.to_string(),
                        detail,
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(&["FEATURE", "TYPE", "VALUES", "MISSING", "SUMMARY"], &rows)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A number to six decimals at most, without trailing zeros.
fn short(x: f64) -> String {
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn test_name(test: Option<outpost_core::drift::StatTest>) -> String {
    test.and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".into())
}

/// `outpost drift report MODEL --version V`: the registry's drift report.
fn report(env: &Env, command: DriftCommand) -> Result<ExitCode> {
    let DriftCommand::Report {
        model,
        version,
        window,
        stage,
        share,
        fail_on_drift,
    } = command
    else {
        return Err(anyhow!("not a report"));
    };
    let mut path = format!(
        "/models/{model}/drift?version={}&window={}&share={share}",
        super::versions::encode(&version),
        super::versions::encode(&window)
    );
    if let Some(stage) = &stage {
        path.push_str(&format!("&stage={}", super::versions::encode(stage)));
    }
    let body: serde_json::Value = env.client()?.get(&path)?;
    let dataset: DatasetDrift = serde_json::from_value(body["dataset"].clone())
        .context("the registry's drift report has no dataset verdict")?;
    if env.json {
        output::print_json(&body)?;
    } else {
        let features: Vec<FeatureReport> =
            serde_json::from_value(body["features"].clone()).unwrap_or_default();
        let rows: Vec<Vec<String>> = features
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.kind.clone(),
                    test_name(f.test),
                    f.score.map_or("-".into(), |s| format!("{s:.6}")),
                    f.threshold.map_or("-".into(), |t| t.to_string()),
                    match (f.drifted, &f.error) {
                        (Some(true), _) => "DRIFT".into(),
                        (Some(false), _) => "ok".into(),
                        (None, Some(err)) => err.clone(),
                        (None, None) => "-".into(),
                    },
                    format!("{} / {}", f.reference_values, f.current_values),
                ]
            })
            .collect();
        println!(
            "{model}@{version}, last {window}: {} windows, {} calls, {} rows",
            body["windows"], body["calls"], body["rows"]
        );
        print!(
            "{}",
            output::table(
                &[
                    "FEATURE",
                    "TYPE",
                    "TEST",
                    "SCORE",
                    "THRESHOLD",
                    "DRIFT",
                    "REF / CUR"
                ],
                &rows
            )
        );
        print_dataset(&dataset, share);
    }
    Ok(verdict(&dataset, fail_on_drift))
}

pub fn run(env: &Env, command: DriftCommand) -> Result<ExitCode> {
    if matches!(command, DriftCommand::Report { .. }) {
        return report(env, command);
    }
    let DriftCommand::Compare {
        reference,
        current,
        share,
        fail_on_drift,
    } = command
    else {
        return Err(anyhow!("not a comparison"));
    };
    let reference_columns = read_columns(&reference)?;
    let current_cells: BTreeMap<String, Vec<String>> =
        read_columns(&current)?.into_iter().collect();
    let comparison = compare(&reference_columns, &current_cells, share).with_context(|| {
        format!(
            "comparing {} with {}",
            reference.display(),
            current.display()
        )
    })?;
    let dataset = &comparison.dataset;
    if env.json {
        output::print_json(&comparison)?;
    } else {
        let rows: Vec<Vec<String>> = comparison
            .features
            .iter()
            .map(|f| {
                let d = &f.drift;
                vec![
                    f.feature.clone(),
                    f.kind.to_owned(),
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
        print_dataset(dataset, share);
    }
    Ok(verdict(dataset, fail_on_drift))
}

/// Each reference column against the current column of the same name
/// (typed like the reference column, as pandas would read both files) by
/// the core's `compare_samples`: default test and threshold per feature.
fn compare(
    reference_columns: &[(String, Vec<String>)],
    current_cells: &BTreeMap<String, Vec<String>>,
    share: f64,
) -> Result<Comparison> {
    let reference: Vec<(String, Column)> = reference_columns
        .iter()
        .map(|(name, cells)| (name.clone(), Column::infer(&as_str(cells))))
        .collect();
    let current: Vec<(String, Column)> = reference
        .iter()
        .filter_map(|(name, column)| {
            let cells = current_cells.get(name)?;
            Some((name.clone(), Column::like(column, &as_str(cells))))
        })
        .collect();
    compare_samples(&reference, &current, share).map_err(|e| anyhow!("{e}"))
}

fn print_dataset(dataset: &DatasetDrift, share: f64) {
    println!(
        "dataset: {} of {} features drifted ({:.0} %, threshold {:.0} %): {}",
        dataset.drifted_features,
        dataset.features,
        dataset.share * 100.0,
        share * 100.0,
        if dataset.drifted { "DRIFT" } else { "no drift" }
    );
}

/// The exit code: failure when asked to fail on drift and the dataset drifts.
fn verdict(dataset: &DatasetDrift, fail_on_drift: bool) -> ExitCode {
    if fail_on_drift && dataset.drifted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
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
    fn numbers_print_short() {
        assert_eq!(short(13.693000000000001), "13.693");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(-0.25), "-0.25");
    }

    #[test]
    fn json_columns_read_like_csv_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(
            &path,
            r#"{"amount": [1.5, null, 3], "merchant": ["food", "atm", "food"]}"#,
        )
        .unwrap();
        let columns = read_columns(&path).unwrap();
        assert_eq!(columns[0].1, ["1.5", "", "3"]);
        assert_eq!(columns[1].1, ["food", "atm", "food"]);
        std::fs::write(&path, r#"{"amount": [[1]]}"#).unwrap();
        assert!(
            read_columns(&path)
                .unwrap_err()
                .to_string()
                .contains("nested")
        );
        let profile = {
            std::fs::write(&path, r#"{"amount": [1, 2, 3, 4]}"#).unwrap();
            profile_of(&path).unwrap()
        };
        assert_eq!(profile.rows, 4);
    }

    /// Reference `a, b`, current `a, c`: once "a Z-test needs at most two
    /// categories, got 3"; Evidently counts both files' categories, three,
    /// so chi-square, and the new `c` is drift (p = 0).
    #[test]
    fn a_category_new_in_the_current_file_is_chi_square_drift() {
        let dir = tempfile::tempdir().unwrap();
        let (reference, current) = (dir.path().join("r.csv"), dir.path().join("c.csv"));
        std::fs::write(&reference, "merchant,flag\na,x\nb,x\n").unwrap();
        std::fs::write(&current, "merchant,flag\na,x\nc,x\n").unwrap();
        let cells = |path| read_columns(path).unwrap().into_iter().collect();
        let reports = compare(&read_columns(&reference).unwrap(), &cells(&current), 0.5)
            .unwrap()
            .features;
        let merchant = &reports[0];
        assert_eq!(
            (merchant.feature.as_str(), merchant.kind),
            ("merchant", "categorical")
        );
        let merchant = &merchant.drift;
        assert_eq!(merchant.test, outpost_core::drift::StatTest::ChiSquare);
        assert_eq!(merchant.score, 0.0);
        assert!(merchant.drifted);
        // One category on both sides: the Z-test, p = 1, no drift.
        let flag = &reports[1].drift;
        assert_eq!(
            (flag.test, flag.score, flag.drifted),
            (outpost_core::drift::StatTest::ZTest, 1.0, false)
        );
        // A missing column names itself.
        std::fs::write(&current, "merchant\na\n").unwrap();
        let err = compare(&read_columns(&reference).unwrap(), &cells(&current), 0.5).unwrap_err();
        assert!(err.to_string().contains("feature `flag`"), "{err}");
    }

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
