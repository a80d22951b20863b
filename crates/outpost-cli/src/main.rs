//! `outpost`: the admin CLI and native device client.
//!
//! Commands are thin: parse flags, call the registry over HTTP or the core on
//! disk, print. Every failure ends in a message that says what to do next and a
//! non-zero exit code.

mod cli;
mod commands;
mod config;
mod http;
mod install;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
