//! Outpost's pure core.
//!
//! Everything that *decides* lives here, without I/O, so it runs identically
//! natively (CLI, tests), inside the Worker (wasm32) and in browser and edge
//! clients (wasm32 + wasm-bindgen):
//!
//! - [`digest`]: the `sha256:<hex>` identity of every artifact, with a streaming
//!   hasher that also counts bytes, so uploads and downloads are checked against
//!   a declared digest *and* length.
//! - [`problem`]: RFC 9457 problem details, the one shape of every API error.
//! - [`readiness`]: whether the Worker may take traffic, and which dependency is
//!   at fault when not.
//! - [`auth`]: roles, API tokens (stored as hashes only) and the authorisation
//!   decision every org-scoped route makes.
//! - [`version`]: semver, how `major`/`minor`/`patch`/`auto` choose the next
//!   number, and name/tag rules.
//! - [`query`]: version search filters (`f1>=0.85`), sorting and cursors.
//! - [`pickle`]: the static safety scan of pickle-based artifacts.
//! - [`audit`]: the audit log's hash chain and its verification.
//! - [`conditional`]: RFC 9110 conditional and range requests on artifact downloads.
//! - [`ratelimit`]: which rate-limit counters a request draws on.
//! - [`upload`]: how large artifacts are cut into parts for resumable uploads.
//! - [`lifecycle`]: stages, deployment history and its replay, rollback,
//!   promotion gates, deletion and retention rules.
//! - [`routing`]: sticky canary / A-B / shadow assignment of devices to versions.
//! - [`signing`]: TUF canonical JSON, ed25519 key ids, signing and threshold checks.
//! - [`trust`]: the client's trust checks — root rotation, timestamp →
//!   snapshot → targets, director-signed resolutions, artifact bytes.
//! - [`timefmt`]: TUF's `YYYY-MM-DDTHH:MM:SSZ` timestamps.
//! - [`api`]: request and response bodies shared by Worker, CLI and client.
//! - [`bundle`]: export bundles (manifest, layout, what an exported model
//!   must satisfy before a registry imports it).
//! - [`at_rest`]: artifacts encrypted at rest per organisation, in
//!   authenticated 64 KiB chunks that Range reads open one by one.
//! - [`backup`]: what a backup of an organisation carries and what a
//!   restore may write.
//!
//! ```
//! use outpost_core::digest::{Digest, Sha256Hasher};
//!
//! let declared: Digest =
//!     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse()?;
//! let mut hasher = Sha256Hasher::new();
//! for chunk in [b"a".as_slice(), b"bc"] {
//!     hasher.update(chunk);
//! }
//! hasher.finish().expect(&declared, 3)?;
//! # Ok::<(), outpost_core::digest::DigestError>(())
//! ```

pub mod api;
pub mod at_rest;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bundle;
pub mod conditional;
pub mod content_coding;
pub mod digest;
pub mod drift;
pub mod guardrail;
pub mod kolmogorov;
pub mod lifecycle;
pub mod monitor;
pub mod openmetrics;
pub mod pickle;
pub mod problem;
pub mod profile;
pub mod quality;
pub mod query;
pub mod ratelimit;
pub mod readiness;
pub mod reservoir;
pub mod routing;
pub mod sequential;
pub mod signing;
pub mod stats;
pub mod telemetry;
pub mod timefmt;
pub mod trust;
pub mod upload;
pub mod version;
pub mod webhook;
pub mod zip;

pub use digest::{Digest, DigestError, HashedContent, Sha256Hasher};
pub use problem::{PROBLEM_JSON, Problem, ProblemKind};
pub use readiness::{CheckStatus, DependencyCheck, ReadinessReport};
