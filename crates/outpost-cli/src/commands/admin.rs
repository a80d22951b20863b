//! `outpost admin init` and `outpost org`.

use std::process::ExitCode;

use anyhow::Result;
use outpost_core::api::{InitRequest, InitResponse, OrgRecord};

use super::Env;
use crate::cli::{EncryptionCommand, InitArgs};
use crate::config::{self, Profile};
use crate::http;
use crate::output;
use outpost_core::at_rest::EncryptionStatus;

pub fn init(env: &Env, args: &InitArgs) -> Result<ExitCode> {
    let url = env.settings.url()?;
    let body = InitRequest {
        org: args.new_org.clone(),
        display_name: None,
    };
    // The bootstrap secret is the bearer here; the org does not exist yet.
    let reply = http::post_json(url, "/v1/admin/init", &args.bootstrap_secret, &body)?;
    let created: InitResponse = http::decode(&reply)?;
    if let Some(name) = &args.save_profile {
        let path = config::save_profile(
            name,
            Profile {
                url: Some(url.to_owned()),
                org: Some(created.org.name.clone()),
                token: Some(created.token.token.clone()),
            },
        )?;
        eprintln!("saved profile `{name}` to {}", path.display());
    }
    if env.json {
        output::print_json(&created)?;
    } else {
        println!("created organisation `{}`", created.org.name);
        println!(
            "admin token (shown once, keep it secret):\n{}",
            created.token.token
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn org(env: &Env) -> Result<ExitCode> {
    let org: OrgRecord = env.client()?.get("")?;
    if env.json {
        output::print_json(&org)?;
    } else {
        println!(
            "{} ({}), created {}",
            org.name,
            org.display_name,
            output::time(org.created_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `outpost org encryption status|enable|rotate`: `GET`/`PUT
/// …/encryption`, `POST …/encryption/rotate`.
pub fn encryption(env: &Env, command: &EncryptionCommand) -> Result<ExitCode> {
    let client = env.client()?;
    let status: EncryptionStatus = match command {
        EncryptionCommand::Status => client.get("/encryption")?,
        EncryptionCommand::Enable => client.send("PUT", "/encryption", &serde_json::json!({}))?,
        EncryptionCommand::Rotate => {
            client.send("POST", "/encryption/rotate", &serde_json::json!({}))?
        }
    };
    if env.json {
        output::print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    match status.key_version {
        Some(version) => println!(
            "encryption at rest: on, key version {version} (enabled {}, key set {})",
            status.enabled_at.map(output::time).unwrap_or_default(),
            status.rotated_at.map(output::time).unwrap_or_default()
        ),
        None if status.configured => {
            println!("encryption at rest: off (enable it with `outpost org encryption enable`)")
        }
        None => println!(
            "encryption at rest: off; this deployment has no OUTPOST_AT_REST_SECRET, so it cannot be enabled"
        ),
    }
    for at in &status.objects {
        println!(
            "  {:>6} artifacts, {:>12} bytes: {}",
            at.objects,
            at.bytes,
            at.key_version.map_or("plaintext".to_owned(), |v| format!(
                "sealed under key version {v}"
            ))
        );
    }
    if status.enabled {
        println!(
            "{} of {} artifacts still to seal under the current key version (the cron seals them a few per run, every 5 minutes)",
            status.pending, status.total
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `outpost stats`: `GET /v1/orgs/{org}/stats` as a summary and a table per
/// model.
pub fn stats(env: &Env) -> Result<ExitCode> {
    let stats: outpost_core::stats::RegistryStats = env.client()?.get("/stats")?;
    if env.json {
        output::print_json(&stats)?;
        return Ok(ExitCode::SUCCESS);
    }
    let per_stage: Vec<String> = stats
        .versions_per_stage
        .iter()
        .map(|(stage, n)| format!("{n} in {}", stage.as_str()))
        .collect();
    println!(
        "{}: {} models, {} versions ({}), {} artifacts",
        stats.org,
        stats.models,
        stats.versions,
        if per_stage.is_empty() {
            "none deployed".to_owned()
        } else {
            per_stage.join(", ")
        },
        stats.artifacts
    );
    println!(
        "bytes: {} logical, {} stored (dedup {:.2}x, compression {:.2}x)",
        stats.storage.logical_bytes,
        stats.storage.stored_bytes,
        stats.storage.dedup_ratio,
        stats.storage.compression_ratio
    );
    println!(
        "resolves: {} in 24 h, {} in 30 d; downloads: {} in 24 h, {} in 30 d",
        stats.resolves.last_24h,
        stats.resolves.last_30d,
        stats.downloads.last_24h,
        stats.downloads.last_30d
    );
    let rows: Vec<Vec<String>> = stats
        .per_model
        .iter()
        .map(|m| {
            let stages: Vec<String> = m
                .stages
                .iter()
                .map(|(stage, versions)| format!("{}: {}", stage.as_str(), versions.join(" ")))
                .collect();
            vec![
                m.model.clone(),
                m.versions.to_string(),
                stages.join("; "),
                m.storage.logical_bytes.to_string(),
                m.storage.stored_bytes.to_string(),
                format!("{:.2}", m.storage.dedup_ratio),
                format!("{} / {}", m.resolves.last_24h, m.resolves.last_30d),
                format!("{} / {}", m.downloads.last_24h, m.downloads.last_30d),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &[
                "MODEL",
                "VERSIONS",
                "STAGES",
                "LOGICAL B",
                "STORED B",
                "DEDUP",
                "RESOLVES 24H / 30D",
                "DOWNLOADS 24H / 30D",
            ],
            &rows
        )
    );
    println!(
        "(each Worker isolate adds its usage counts after a request once a minute has passed)"
    );
    Ok(ExitCode::SUCCESS)
}
