//! Request handlers, one module per resource. Each extracts what the request
//! says, calls one use case (`outpost_registry`) or reads through the store
//! (`crate::store`, which holds every SQL string), and maps the answer. No
//! handler decides, and none holds SQL.

pub mod admin;
pub mod audit_log;
#[cfg(feature = "operations")]
pub mod backup;
pub mod blobs;
pub mod encryption;
pub mod guardrails;
pub mod imports;
pub mod metrics;
pub mod models;
pub mod monitors;
pub mod openapi;
pub mod policies;
pub mod predict;
pub mod profiles;
pub mod quality;
pub mod stages;
pub mod stats;
pub mod telemetry;
pub mod trust;
pub mod uploads;
pub mod versions;
pub mod webhooks;
