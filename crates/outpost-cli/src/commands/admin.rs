//! `outpost admin init` and `outpost org`.

use std::process::ExitCode;

use anyhow::Result;
use outpost_core::api::{InitRequest, InitResponse, OrgRecord};

use super::Env;
use crate::cli::InitArgs;
use crate::config::{self, Profile};
use crate::http;
use crate::output;

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
