//! `GET /v1/orgs/{org}/stats`: what the organisation holds and how much it
//! is used, put together by the core (`outpost_core::stats`).

use std::collections::BTreeMap;

use outpost_core::stats::{RegistryStats, assemble, windows};

use crate::error::RegistryError;
use crate::ports::{Clock, Statistics};

/// The organisation's statistics now.
///
/// Errors: `Store`.
pub async fn registry_stats(
    ports: &(impl Statistics + Clock),
    org: &str,
) -> Result<RegistryStats, RegistryError> {
    let now = ports.now_ms();
    let (day_from, month_from) = windows(now);
    let models = ports.model_holdings(org).await?;
    let holdings = ports.org_holdings(org).await?;
    let mut stages: BTreeMap<String, BTreeMap<_, _>> = BTreeMap::new();
    for head in ports.all_stage_heads(org).await? {
        stages
            .entry(head.model)
            .or_default()
            .insert(head.stage, head.to);
    }
    let usage = ports.usage(org, day_from, month_from).await?;
    Ok(assemble(org, now, models, &stages, holdings, &usage))
}
