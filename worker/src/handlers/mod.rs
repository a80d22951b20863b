//! Request handlers, one module per resource. Each extracts what the request
//! says, calls the core to decide, moves data through D1/R2, and answers.

pub mod admin;
pub mod audit_log;
pub mod blobs;
pub mod guardrails;
pub mod lifecycle;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod predict;
pub mod profiles;
pub mod telemetry;
pub mod trust;
pub mod uploads;
pub mod versions;
pub mod webhooks;
