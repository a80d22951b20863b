//! One module per command. Each resolves what it needs from the settings,
//! calls the registry (or the core, on disk), and prints.

mod admin;
mod audit;
mod backup;
mod bundle;
mod device;
mod drift;
mod health;
mod keys;
mod lifecycle;
mod models;
mod predict;
mod pull;
mod push;
mod quality;
mod tokens;
mod versions;
mod webhooks;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{AdminCommand, Cli, Command, OrgCommand};
use crate::config::{self, Settings};
use crate::http::Client;

/// What every command gets: settings and the output mode.
pub struct Env {
    pub settings: Settings,
    pub json: bool,
}

impl Env {
    pub fn client(&self) -> Result<Client> {
        Ok(Client::new(
            self.settings.url()?,
            self.settings.org()?,
            self.settings.token()?,
        ))
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let env = Env {
        settings: config::resolve(&cli.conn)?,
        json: cli.json,
    };
    match cli.command {
        Command::Health => health::run(&env),
        Command::Admin(AdminCommand::Init(args)) => admin::init(&env, &args),
        Command::Org(args) => match args.command {
            None => admin::org(&env),
            Some(OrgCommand::Encryption(command)) => admin::encryption(&env, &command),
        },
        Command::Stats => admin::stats(&env),
        Command::Export(args) => bundle::export(&env, &args),
        Command::Import(args) => bundle::import(&env, &args),
        Command::Backup(args) => backup::backup(&env, &args),
        Command::Restore(args) => backup::restore(&env, &args),
        Command::Token(command) => tokens::run(&env, command),
        Command::Model(command) => models::run(&env, command),
        Command::Push(args) => push::run(&env, &args),
        Command::Versions(command) => versions::run(&env, command),
        Command::Compare(args) => versions::compare(&env, &args),
        Command::Tag(args) => versions::tag(&env, &args),
        Command::Pull(args) => match args.into_request()? {
            crate::cli::PullRequest::Download(args) => pull::run(&env, &args),
            crate::cli::PullRequest::Device(args) => device::pull(&env, &args),
        },
        Command::Compress { model, version } => push::compress(&env, &model, &version),
        Command::Verify(args) => device::verify(&env, &args),
        Command::Predict(args) => predict::run(&env, &args),
        Command::Promote(args) => lifecycle::promote(&env, &args),
        Command::Rollback(args) => lifecycle::rollback(&env, &args),
        Command::Stages(command) => lifecycle::stages(&env, command),
        Command::Rollout(command) => lifecycle::rollout(&env, command),
        Command::History {
            model,
            stage,
            limit,
        } => lifecycle::history(&env, &model, stage.as_deref(), limit),
        Command::Delete {
            model,
            version,
            force,
            reason,
        } => lifecycle::delete(&env, &model, &version, force, reason.as_deref()),
        Command::Policy(command) => lifecycle::policy(&env, command),
        Command::Drift(command) => drift::run(&env, command),
        Command::Perf { model, since } => drift::perf(&env, &model, since),
        Command::Feedback {
            model,
            prediction,
            row,
            label,
            value,
            file,
        } => quality::feedback(
            &env,
            &model,
            quality::Given {
                prediction,
                row,
                label,
                value,
                file,
            },
        ),
        Command::Monitor(command) => quality::monitor(&env, command),
        Command::Quality {
            model,
            version,
            stage,
            window,
            positive,
            low,
        } => quality::quality(
            &env,
            &model,
            &quality::Asked {
                version,
                stage,
                window,
                positive,
                low,
            },
        ),
        Command::Reference(command) => drift::reference(&env, command),
        Command::Webhooks(command) => webhooks::run(&env, command),
        Command::Retention(command) => lifecycle::retention(&env, command),
        Command::Audit(command) => audit::run(&env, command),
        Command::Keys(command) => keys::keys(&env, command),
        Command::Trust(command) => keys::trust(&env, command),
        Command::Release(command) => keys::release(&env, command),
    }
}
