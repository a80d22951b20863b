//! Outpost's use cases, each written once as a plain async function over
//! small storage ports, so that the Worker (D1, R2, secrets), native tests
//! (the in-memory adapters of the `memory` feature) and any later shell run
//! the same order of reads, decisions and writes.
//!
//! The layers: `outpost-core` decides (pure functions, no I/O); this crate
//! orders a use case (what is read, which decision is asked, what is written
//! and what error comes back); shells only move bytes between HTTP, storage
//! and these functions. See `docs/architecture.md`.
//!
//! Futures here are not `Send` (Worker futures are not), and every port
//! method takes the organisation first: a query outside the caller's
//! organisation cannot be written.
//!
//! ```
//! # #[cfg(feature = "memory")] {
//! use outpost_core::lifecycle::{Stage, StageState};
//! use outpost_registry::memory::MemoryRegistry;
//! use outpost_registry::routing::{DeviceQuestion, route_device};
//!
//! let registry = MemoryRegistry::new();
//! registry.add_model("acme", "fraud");
//! registry.add_version("acme", "fraud", "1.0.0", b"weights");
//! registry.deploy("acme", "fraud", Stage::Development, StageState::single("1.0.0"));
//! let asked = DeviceQuestion { org: "acme", model: "fraud", stage: Stage::Development, device: Some("dev-1") };
//! let routed = pollster::block_on(route_device(&registry, &asked)).unwrap();
//! assert_eq!(routed.primary.version, "1.0.0");
//! # }
//! ```
//!
//! Use cases so far: device routing ([`routing::route_device`], which
//! predict serves from) and resolution ([`resolve::resolve_device`]), which
//! share one routing path so that predict answers exactly what resolve signs;
//! the trust repository ([`trust::upload_root`], [`trust::upload_release`],
//! and the cron's [`trust::refresh_timestamp`]), and the stage moves
//! ([`stages::promote`], [`stages::set_rollout`], [`stages::clear_rollout`],
//! [`stages::rollback`], and [`stages::append_move`] under them), whose
//! writes commit with their audit entry through the [`ports::Commit`] port;
//! deletion and retention ([`deletion::delete_version`],
//! [`deletion::retention`]); registration ([`versions::register_version`]);
//! models ([`models::create_model`]); tags ([`versions::change_tags`]);
//! reference profiles ([`profiles::set_reference`]); webhook endpoints
//! ([`webhooks::create_webhook`], [`webhooks::delete_webhook`]); client
//! telemetry ([`telemetry::report_window`]); organisations and tokens
//! ([`tokens::init_org`], [`tokens::create_token`], [`tokens::revoke_token`]);
//! the cron's guardrail check ([`guardrails::check_guardrail`]); artifacts
//! ([`blobs::put_blob`], [`blobs::download_blob`] under RFC 9110's
//! conditional rules) and resumable uploads ([`uploads::start_upload`],
//! [`uploads::put_part`], [`uploads::complete_upload`], …).

pub mod backup;
pub mod blobs;
pub mod deletion;
pub mod encryption;
pub mod error;
pub mod guardrails;
pub mod imports;
#[cfg(feature = "memory")]
pub mod memory;
pub mod models;
pub mod monitors;
pub mod ports;
pub mod profiles;
pub mod quality;
pub mod resolve;
pub mod routing;
pub mod stages;
pub mod stats;
pub mod telemetry;
pub mod tokens;
pub mod trust;
pub mod uploads;
pub mod versions;
pub mod webhooks;

pub use error::{RegistryError, StoreError};
