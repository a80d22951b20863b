//! `outpost token create|list|revoke`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use outpost_core::api::{CreateTokenRequest, TokenCreated, TokenRecord};
use outpost_core::auth::Role;
use serde::Deserialize;

use super::Env;
use crate::cli::TokenCommand;
use crate::output;

#[derive(Deserialize)]
struct TokenList {
    items: Vec<TokenRecord>,
}

/// `3600`, `90s`, `90m`, `12h`, `30d` → seconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a duration; use e.g. 3600, 90m, 12h or 30d"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(anyhow!("unknown unit in `{text}`; use s, m, h or d")),
    };
    value
        .checked_mul(factor)
        .filter(|&secs| secs > 0)
        .ok_or_else(|| anyhow!("`{text}` must be a positive duration"))
}

pub fn run(env: &Env, command: TokenCommand) -> Result<ExitCode> {
    let client = env.client()?;
    match command {
        TokenCommand::Create {
            name,
            role,
            expires_in,
        } => {
            let role: Role = role.parse()?;
            let expires_in = expires_in.as_deref().map(parse_duration).transpose()?;
            let created: TokenCreated = client.send(
                "POST",
                "/tokens",
                &CreateTokenRequest {
                    name,
                    role,
                    expires_in,
                },
            )?;
            if env.json {
                output::print_json(&created)?;
            } else {
                println!(
                    "created token {} ({}) — shown once, keep it secret:",
                    created.record.id, created.record.role
                );
                println!("{}", created.token);
            }
        }
        TokenCommand::List => {
            let list: TokenList = client.get("/tokens")?;
            if env.json {
                output::print_json(&list.items)?;
            } else {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|t| {
                        let state = match (t.revoked_at, t.expires_at) {
                            (Some(at), _) => format!("revoked {}", output::time(at)),
                            (None, Some(at)) => format!("expires {}", output::time(at)),
                            (None, None) => "active".into(),
                        };
                        vec![
                            t.id.clone(),
                            t.name.clone(),
                            t.role.to_string(),
                            output::time(t.created_at),
                            state,
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(&["ID", "NAME", "ROLE", "CREATED", "STATE"], &rows)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let record: TokenRecord = client.delete(&format!("/tokens/{id}"))?;
            if env.json {
                output::print_json(&record)?;
            } else {
                println!("revoked token {} ({})", record.id, record.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600").unwrap(), 3600);
        assert_eq!(parse_duration("90m").unwrap(), 5400);
        assert_eq!(parse_duration("30d").unwrap(), 2_592_000);
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
