//! The registry's use cases against the in-memory adapters, one module per
//! area, in one test binary (one link instead of eight).

mod artifacts;
mod deletion;
mod device_routing;
mod encryption;
mod imports;
mod models;
mod monitors;
mod quality;
mod registration;
mod stage_moves;
mod stats;
mod tokens;
mod trust_repository;
mod webhooks;
