//! `outpost audit list|verify`.

use std::process::ExitCode;

use anyhow::Result;
use outpost_core::api::Page;
use outpost_core::audit::{AuditEntry, verify_chain};

use super::Env;
use super::versions::encode;
use crate::cli::AuditCommand;
use crate::http::Client;
use crate::output;

/// Every entry of the organisation's log, in chain order.
fn fetch_all(client: &Client) -> Result<Vec<AuditEntry>> {
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(seq) => format!("/audit?limit=200&after={seq}"),
            None => "/audit?limit=200".to_owned(),
        };
        let page: Page<AuditEntry> = client.get(&path)?;
        entries.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return Ok(entries),
        }
    }
}

pub fn run(env: &Env, command: AuditCommand) -> Result<ExitCode> {
    let client = env.client()?;
    match command {
        AuditCommand::List {
            action,
            outcome,
            actor,
            target,
            limit,
        } => {
            let mut path = format!("/audit?limit={limit}");
            for (key, value) in [
                ("action", action),
                ("outcome", outcome),
                ("actor", actor),
                ("target", target),
            ] {
                if let Some(value) = value {
                    path.push_str(&format!("&{key}={}", encode(&value)));
                }
            }
            let page: Page<AuditEntry> = client.get(&path)?;
            if env.json {
                output::print_json(&page.items)?;
            } else {
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            output::time(e.at),
                            e.actor.clone().unwrap_or_else(|| "-".into()),
                            e.action.clone(),
                            e.target.clone(),
                            e.outcome.as_str().to_owned(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(
                        &["SEQ", "WHEN", "ACTOR", "ACTION", "TARGET", "OUTCOME"],
                        &rows
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let entries = fetch_all(&client)?;
            match verify_chain(&entries) {
                Ok(()) => {
                    if env.json {
                        output::print_json(
                            &serde_json::json!({"ok": true, "entries": entries.len()}),
                        )?;
                    } else {
                        println!(
                            "audit chain of {} verified: {} entries, unbroken",
                            client.org,
                            entries.len()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(broken) => {
                    if env.json {
                        output::print_json(
                            &serde_json::json!({"ok": false, "broken_at": broken.seq, "reason": broken.reason}),
                        )?;
                    }
                    eprintln!(
                        "error: {broken}\nhint: the entry at seq {} (or the one before it) was altered or removed in the database; restore it from a backup and investigate who had write access",
                        broken.seq
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
