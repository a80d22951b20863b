//! `outpost webhooks add|list|remove|deliveries` (admin).

use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value, json};

use super::Env;
use crate::cli::WebhooksCommand;
use crate::output;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn run(env: &Env, command: WebhooksCommand) -> Result<ExitCode> {
    let client = env.client()?;
    let body: Value = match command {
        WebhooksCommand::Add {
            url,
            events,
            description,
        } => {
            let created: Value = client.send(
                "POST",
                "/webhooks",
                &json!({"url": url, "events": events, "description": description}),
            )?;
            if !env.json {
                println!(
                    "webhook {} → {}",
                    text(&created["id"]),
                    text(&created["url"])
                );
                println!("  events: {}", created["events"]);
                println!("  signing secret (shown once; verify webhook-signature with it):");
                println!("  {}", text(&created["secret"]));
                return Ok(ExitCode::SUCCESS);
            }
            created
        }
        WebhooksCommand::List => {
            let list: Value = client.get("/webhooks")?;
            if !env.json {
                let rows: Vec<Vec<String>> = list["webhooks"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|w| {
                        vec![
                            text(&w["id"]),
                            text(&w["url"]),
                            w["events"].to_string(),
                            text(&w["description"]),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(&["ID", "URL", "EVENTS", "DESCRIPTION"], &rows)
                );
                return Ok(ExitCode::SUCCESS);
            }
            list
        }
        WebhooksCommand::Remove { id } => client.delete(&format!("/webhooks/{id}"))?,
        WebhooksCommand::Deliveries { id, status, limit } => {
            let mut path = format!("/webhooks/{id}/deliveries?limit={limit}");
            if let Some(status) = status {
                path.push_str(&format!("&status={status}"));
            }
            let list: Value = client.get(&path)?;
            if !env.json {
                let rows: Vec<Vec<String>> = list["deliveries"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|d| {
                        vec![
                            text(&d["id"]),
                            text(&d["event"]),
                            text(&d["status"]),
                            text(&d["attempts"]),
                            text(&d["response_status"]),
                            text(&d["last_error"]),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(
                        &[
                            "ID",
                            "EVENT",
                            "STATUS",
                            "ATTEMPTS",
                            "RESPONSE",
                            "LAST ERROR"
                        ],
                        &rows
                    )
                );
                return Ok(ExitCode::SUCCESS);
            }
            list
        }
    };
    output::print_json(&body)?;
    Ok(ExitCode::SUCCESS)
}
