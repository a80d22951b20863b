//! `outpost model create|list|show`.

use std::process::ExitCode;

use anyhow::Result;
use outpost_core::api::{CreateModelRequest, ModelRecord, Page};
use outpost_core::version::PrimaryMetric;

use super::Env;
use crate::cli::ModelCommand;
use crate::output;

fn row(m: &ModelRecord) -> Vec<String> {
    vec![
        m.name.clone(),
        output::opt(&m.latest_version),
        m.version_count.to_string(),
        m.primary_metric
            .as_ref()
            .map_or("-".into(), |p| p.name.clone()),
        m.tags.join(","),
        m.description.clone(),
    ]
}

const HEADER: [&str; 6] = [
    "NAME",
    "LATEST",
    "VERSIONS",
    "PRIMARY",
    "TAGS",
    "DESCRIPTION",
];

pub fn run(env: &Env, command: ModelCommand) -> Result<ExitCode> {
    let client = env.client()?;
    match command {
        ModelCommand::Create {
            name,
            description,
            owner,
            tags,
            primary_metric,
            lower_is_better,
        } => {
            let body = CreateModelRequest {
                name,
                description,
                owner,
                tags,
                primary_metric: primary_metric.map(|name| PrimaryMetric {
                    name,
                    higher_is_better: !lower_is_better,
                }),
            };
            let model: ModelRecord = client.send("POST", "/models", &body)?;
            if env.json {
                output::print_json(&model)?;
            } else {
                println!("created model `{}`", model.name);
            }
        }
        ModelCommand::List => {
            let mut items = Vec::new();
            let mut path = "/models?limit=200".to_owned();
            loop {
                let page: Page<ModelRecord> = client.get(&path)?;
                items.extend(page.items);
                match page.next_cursor {
                    Some(cursor) => path = format!("/models?limit=200&cursor={cursor}"),
                    None => break,
                }
            }
            if env.json {
                output::print_json(&items)?;
            } else {
                let rows: Vec<Vec<String>> = items.iter().map(row).collect();
                print!("{}", output::table(&HEADER, &rows));
            }
        }
        ModelCommand::Show { name } => {
            let model: ModelRecord = client.get(&format!("/models/{name}"))?;
            if env.json {
                output::print_json(&model)?;
            } else {
                print!("{}", output::table(&HEADER, &[row(&model)]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
