//! Command-line flags as given; each command validates its own.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "outpost",
    version,
    about = "Outpost: a model registry for edge and browser ML",
    long_about = "Outpost keeps models in a Cloudflare Worker (metadata in D1, artifacts in R2) \
                  and ships them signed to edge devices and browsers."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that a registry is up and its dependencies (D1, R2) are reachable.
    Health(HealthArgs),
}

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Base URL of the registry, e.g. http://127.0.0.1:8787.
    #[arg(long, env = "OUTPOST_URL")]
    pub url: String,
    /// Print the readiness report as JSON.
    #[arg(long)]
    pub json: bool,
}
