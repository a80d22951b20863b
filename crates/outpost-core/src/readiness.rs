//! Readiness: may this Worker take traffic, and if not, which dependency is at fault?
//!
//! The Worker probes its dependencies (D1, R2) and hands the outcomes here; the
//! decision and both response shapes (a report when ready, a problem naming the
//! failing dependency when not) are pure so that the CLI, the tests and the Worker
//! agree on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::problem::{Problem, ProblemKind};

/// Outcome of probing one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Failed,
}

/// One dependency's probe result, as reported by `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DependencyCheck {
    pub status: CheckStatus,
    /// Why it failed, in words an operator can act on. Absent when healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What the probe learned on the way (schema version, last cron run, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty", flatten)]
    pub info: Map<String, Value>,
}

impl DependencyCheck {
    pub fn ok() -> Self {
        Self {
            status: CheckStatus::Ok,
            detail: None,
            info: Map::new(),
        }
    }

    pub fn failed(detail: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Failed,
            detail: Some(detail.into()),
            info: Map::new(),
        }
    }

    pub fn with_info(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.info.insert(key.to_owned(), value.into());
        self
    }
}

/// Overall state, the single word a load balancer or `outpost health` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ready,
    NotReady,
}

/// Every dependency's outcome, keyed by dependency name (`d1`, `r2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReadinessReport {
    pub status: Readiness,
    pub checks: BTreeMap<String, DependencyCheck>,
}

impl ReadinessReport {
    /// Ready only when every dependency is; an empty set of checks proves
    /// nothing and is not ready.
    pub fn from_checks(checks: BTreeMap<String, DependencyCheck>) -> Self {
        let all_ok =
            !checks.is_empty() && checks.values().all(|check| check.status == CheckStatus::Ok);
        Self {
            status: if all_ok {
                Readiness::Ready
            } else {
                Readiness::NotReady
            },
            checks,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.status == Readiness::Ready
    }

    /// Names of the dependencies that failed, in a stable order.
    pub fn failing(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|(_, check)| check.status == CheckStatus::Failed)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The 503 body when not ready: names each failing dependency and why, and
    /// carries the full report as the `checks` extension. `None` when ready.
    pub fn to_problem(&self) -> Option<Problem> {
        if self.is_ready() {
            return None;
        }
        let reasons: Vec<String> = self
            .checks
            .iter()
            .filter(|(_, check)| check.status == CheckStatus::Failed)
            .map(|(name, check)| match &check.detail {
                Some(detail) => format!("{name} ({detail})"),
                None => name.clone(),
            })
            .collect();
        let detail = if reasons.is_empty() {
            "no dependency was checked".to_owned()
        } else {
            format!("not ready: {} failing", reasons.join("; "))
        };
        Some(
            Problem::new(ProblemKind::ServiceUnavailable, detail)
                .with_extension("failing", self.failing())
                .with_extension("checks", &self.checks),
        )
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    fn checks(entries: &[(&str, DependencyCheck)]) -> BTreeMap<String, DependencyCheck> {
        entries
            .iter()
            .map(|(name, check)| ((*name).to_owned(), check.clone()))
            .collect()
    }

    #[test]
    fn ready_when_every_dependency_is_ok() {
        let report = ReadinessReport::from_checks(checks(&[
            (
                "d1",
                DependencyCheck::ok().with_info("schema", "0001_init.sql"),
            ),
            ("r2", DependencyCheck::ok()),
        ]));
        assert!(report.is_ready());
        assert!(report.to_problem().is_none());
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"status": "ready", "checks": {
                "d1": {"status": "ok", "schema": "0001_init.sql"},
                "r2": {"status": "ok"}
            }})
        );
    }

    #[test]
    fn one_failure_makes_a_503_naming_it() {
        let report = ReadinessReport::from_checks(checks(&[
            ("d1", DependencyCheck::ok()),
            (
                "r2",
                DependencyCheck::failed("binding ARTIFACTS is not configured"),
            ),
        ]));
        assert!(!report.is_ready());
        assert_eq!(report.failing(), vec!["r2"]);
        let problem = report.to_problem().unwrap();
        assert_eq!(problem.status, 503);
        let detail = problem.detail.unwrap();
        assert!(
            detail.contains("r2 (binding ARTIFACTS is not configured)"),
            "{detail}"
        );
        assert!(!detail.contains("d1"), "{detail}");
        assert_eq!(problem.extensions["failing"], json!(["r2"]));
        assert_eq!(problem.extensions["checks"]["d1"]["status"], "ok");
    }

    #[test]
    fn nothing_checked_is_not_ready() {
        let report = ReadinessReport::from_checks(BTreeMap::new());
        assert!(!report.is_ready());
        assert_eq!(
            report.to_problem().unwrap().detail.unwrap(),
            "no dependency was checked"
        );
    }

    #[test]
    fn report_round_trips() {
        let report = ReadinessReport::from_checks(checks(&[(
            "d1",
            DependencyCheck::failed("no such table").with_info("elapsed_ms", 3),
        )]));
        let back: ReadinessReport =
            serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(back, report);
    }
}
