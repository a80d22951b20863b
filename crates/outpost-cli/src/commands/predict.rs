//! `outpost predict`: run a model on an input file, natively from a local
//! `.onnx` file or remotely through the registry's predict endpoint
//! (`ORG/MODEL@STAGE`, routed like a device of `--device-id`).
//!
//! The input file maps input names to nested arrays in row-major order
//! (`{"X": [[0.1, 2.0, 3.5, 1.0]]}`); the element type comes from the model.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use outpost_infer::Model;
use outpost_infer::json::{inputs_from_json, outputs_to_json};
use serde_json::{Value, json};

use super::Env;
use crate::cli::PredictArgs;
use crate::http::{Client, decode};
use crate::output;

pub fn run(env: &Env, args: &PredictArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.input).with_context(|| {
        format!(
            "cannot read the input file {}; give a JSON file mapping input names to nested arrays",
            args.input.display()
        )
    })?;
    let inputs: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON; it should look like {{\"X\": [[0.1, 2.0, 3.5, 1.0]]}}",
            args.input.display()
        )
    })?;
    let path = Path::new(&args.model);
    let answer = if path.exists() || args.model.ends_with(".onnx") {
        native(path, &inputs)?
    } else {
        remote(env, &args.model, args.device_id.as_deref(), &inputs)?
    };
    if env.json {
        output::print_json(&answer)?;
    } else {
        print_plain(&answer);
    }
    Ok(ExitCode::SUCCESS)
}

fn native(path: &Path, inputs: &Value) -> Result<Value> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}; is the model path right?", path.display()))?;
    let started = Instant::now();
    let model = Model::load(&bytes).map_err(|err| {
        anyhow!(
            "{} cannot be run: {err}. Outpost runs ONNX models (scikit-learn exports included)",
            path.display()
        )
    })?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let tensors = inputs_from_json(model.inputs(), inputs)
        .map_err(|err| anyhow!("{err}; the model takes {}", model.describe_inputs()))?;
    let started = Instant::now();
    let outputs = model.run(&tensors).map_err(|err| anyhow!("{err}"))?;
    let run_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(json!({
        "model": path.display().to_string(),
        "digest": outpost_core::Digest::of(&bytes),
        "outputs": outputs_to_json(&outputs),
        "timing_ms": {"load": load_ms, "run": run_ms},
    }))
}

/// `ORG/MODEL@STAGE` → (org, model, stage).
fn parse_target(target: &str) -> Result<(&str, &str, &str)> {
    let (org, rest) = target.split_once('/').ok_or_else(|| hint(target))?;
    let (model, stage) = rest.split_once('@').ok_or_else(|| hint(target))?;
    if org.is_empty() || model.is_empty() || stage.is_empty() {
        return Err(hint(target));
    }
    Ok((org, model, stage))
}

fn hint(target: &str) -> anyhow::Error {
    anyhow!(
        "`{target}` is neither a model file nor ORG/MODEL@STAGE; give a path to an .onnx file \
         or e.g. acme/fraud-detector@production"
    )
}

fn remote(env: &Env, target: &str, device: Option<&str>, inputs: &Value) -> Result<Value> {
    let (org, model, stage) = parse_target(target)?;
    let client = Client::new(env.settings.url()?, org, env.settings.token()?);
    let mut path = format!("/models/{model}/predict?stage={stage}");
    if let Some(device) = device {
        path.push_str("&device=");
        path.push_str(&percent_encode(device));
    }
    decode(&client.send_reply("POST", &path, inputs)?)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn print_plain(answer: &Value) {
    let empty = serde_json::Map::new();
    let outputs = answer["outputs"].as_object().unwrap_or(&empty);
    match (answer["version"].as_str(), answer["model"].as_str()) {
        (Some(version), Some(model)) => println!(
            "{model}@{version} ({} arm of {})",
            answer["arm"].as_str().unwrap_or("stable"),
            answer["stage"].as_str().unwrap_or("?")
        ),
        (None, Some(model)) => println!(
            "{model}: loaded in {:.1} ms, ran in {:.2} ms",
            answer["timing_ms"]["load"].as_f64().unwrap_or(0.0),
            answer["timing_ms"]["run"].as_f64().unwrap_or(0.0)
        ),
        _ => {}
    }
    let names: Vec<&String> = outputs.keys().collect();
    let rows = names
        .iter()
        .filter_map(|name| outputs[*name].as_array().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut table = Vec::with_capacity(rows);
    for row in 0..rows {
        let mut cells = vec![row.to_string()];
        for name in &names {
            cells.push(outputs[*name].get(row).map_or_else(|| "-".to_owned(), cell));
        }
        table.push(cells);
    }
    let mut header = vec!["row"];
    header.extend(names.iter().map(|n| n.as_str()));
    print!("{}", output::table(&header, &table));
    if let Some(id) = answer["prediction_id"].as_str() {
        println!(
            "prediction {id}: give outcomes with `outpost feedback MODEL --prediction {id} --row N --label LABEL`"
        );
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(x) if !n.is_i64() && !n.is_u64() => format!("{x:.6}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        ),
        Value::Null => "NaN".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn targets_name_org_model_and_stage() {
        assert_eq!(
            parse_target("acme/fraud-detector@production").unwrap(),
            ("acme", "fraud-detector", "production")
        );
        for bad in ["fraud-detector", "acme/fraud", "/m@s", "acme/@s"] {
            let err = parse_target(bad).unwrap_err().to_string();
            assert!(err.contains("ORG/MODEL@STAGE"), "{err}");
        }
    }

    #[test]
    fn cells_print_rows_compactly() {
        assert_eq!(cell(&json!([0.25, 1])), "[0.250000, 1]");
        assert_eq!(cell(&json!("fraud")), "fraud");
        assert_eq!(cell(&Value::Null), "NaN");
    }

    #[test]
    fn device_ids_are_escaped() {
        assert_eq!(percent_encode("pos 7/&x"), "pos%207%2F%26x");
    }
}
