//! `outpost health`: is the registry ready, and if not, which dependency fails?

use std::process::ExitCode;

use anyhow::{Result, bail};
use outpost_core::readiness::{CheckStatus, ReadinessReport};

use super::Env;
use crate::http;

pub fn run(env: &Env) -> Result<ExitCode> {
    let url = env.settings.url()?;
    let reply = http::get(url, "/readyz")?;
    let report = parse_report(&reply)?;
    if env.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(url, &report));
    }
    if report.is_ready() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {url} is not ready ({} failing). Check the Worker's log and its bindings in wrangler.toml.",
            report.failing().join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `/readyz` answers 200 with a report, or 503 with a problem that carries the
/// report's checks; anything else is not an Outpost registry.
fn parse_report(reply: &http::Reply) -> Result<ReadinessReport> {
    match reply.status {
        200 => Ok(serde_json::from_str(&reply.body)?),
        503 => {
            let checks = reply
                .problem()
                .and_then(|problem| problem.extensions.get("checks").cloned())
                .and_then(|checks| serde_json::from_value(checks).ok());
            match checks {
                Some(checks) => Ok(ReadinessReport::from_checks(checks)),
                None => bail!(
                    "the registry answered 503 without a readiness report: {}",
                    reply.body
                ),
            }
        }
        status => bail!(
            "unexpected HTTP {status} from /readyz; is --url pointing at an Outpost registry?"
        ),
    }
}

fn render(url: &str, report: &ReadinessReport) -> String {
    let mut out = format!(
        "{url} is {}\n",
        if report.is_ready() {
            "ready"
        } else {
            "NOT ready"
        }
    );
    for (name, check) in &report.checks {
        let status = match check.status {
            CheckStatus::Ok => "ok",
            CheckStatus::Failed => "FAILED",
        };
        let mut line = format!("  {name:<4} {status}");
        if let Some(detail) = &check.detail {
            line.push_str(&format!("  {detail}"));
        }
        for (key, value) in &check.info {
            line.push_str(&format!("  {key}={value}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use outpost_core::readiness::DependencyCheck;
    use std::collections::BTreeMap;

    fn reply(status: u16, body: &str) -> http::Reply {
        http::Reply {
            status,
            body: body.to_owned(),
        }
    }

    #[test]
    fn reads_a_ready_report() {
        let report = parse_report(&reply(
            200,
            r#"{"status":"ready","checks":{"d1":{"status":"ok"},"r2":{"status":"ok"}}}"#,
        ))
        .unwrap();
        assert!(report.is_ready());
        assert_eq!(render("u", &report), "u is ready\n  d1   ok\n  r2   ok\n");
    }

    #[test]
    fn reads_the_checks_out_of_a_503_problem() {
        let mut checks = BTreeMap::new();
        checks.insert("d1".to_owned(), DependencyCheck::ok());
        checks.insert(
            "r2".to_owned(),
            DependencyCheck::failed("binding ARTIFACTS missing"),
        );
        let problem = ReadinessReport::from_checks(checks).to_problem().unwrap();
        let report = parse_report(&reply(503, &problem.to_json())).unwrap();
        assert_eq!(report.failing(), vec!["r2"]);
        assert!(render("u", &report).contains("r2   FAILED  binding ARTIFACTS missing"));
    }

    #[test]
    fn refuses_what_is_not_a_registry() {
        let err = parse_report(&reply(404, "<html>")).unwrap_err().to_string();
        assert!(err.contains("HTTP 404"), "{err}");
        let err = parse_report(&reply(503, "busy")).unwrap_err().to_string();
        assert!(err.contains("without a readiness report"), "{err}");
    }
}
