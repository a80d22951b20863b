//! `outpost promote|rollback|stages|history|delete|policy|retention`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use outpost_core::api::{
    Deleted, ModelPolicies, Page, PromoteRequest, RetentionReport, RollbackRequest, RolloutRequest,
    RolloutView, StagesView,
};
use outpost_core::lifecycle::{
    ArmKind, Deployment, PolicyRule, RetentionPolicy, Stage, StageState,
};
use outpost_core::routing::Arm;
use serde_json::Value;

use super::Env;
use super::versions::encode;
use crate::cli::{
    PolicyCommand, PromoteArgs, RetentionCommand, RollbackArgs, RolloutCommand, StagesCommand,
};
use crate::output;

fn describe(state: &StageState) -> String {
    if state.is_empty() {
        return "-".into();
    }
    let mut parts: Vec<String> = state
        .targets
        .iter()
        .map(|t| {
            let label = match t.arm {
                ArmKind::Stable => String::new(),
                arm => format!("{} ", arm.as_str()),
            };
            if t.weight == outpost_core::lifecycle::FULL_WEIGHT {
                format!("{label}{}", t.version)
            } else {
                format!("{label}{} ({:.2}%)", t.version, f64::from(t.weight) / 100.0)
            }
        })
        .collect();
    if let Some(shadow) = &state.shadow {
        parts.push(format!("shadow {shadow}"));
    }
    parts.join(", ")
}

fn print_move(env: &Env, entry: &Deployment) -> Result<()> {
    if env.json {
        return output::print_json(entry);
    }
    println!(
        "{}@{}: {} → {} (#{}{})",
        entry.model,
        entry.stage,
        describe(&entry.from),
        describe(&entry.to),
        entry.seq,
        if entry.forced.is_empty() {
            String::new()
        } else {
            format!(", forced past {}", entry.forced.join(", "))
        }
    );
    Ok(())
}

/// `1.2.0:10` (or `1.2.0:10%`, `1.2.0:0.5`) → an arm of 10 % (1 000 basis points).
fn parse_arm(text: &str) -> Result<Arm> {
    let (version, percent) = text
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("`{text}` must be VERSION:PERCENT, e.g. 1.2.0:10"))?;
    let percent: f64 = percent
        .trim_end_matches('%')
        .parse()
        .map_err(|_| anyhow!("`{percent}` in `{text}` is not a percentage, e.g. 10 or 0.5"))?;
    if !(percent > 0.0 && percent <= 100.0) || version.is_empty() {
        return Err(anyhow!(
            "`{text}`: the share must be above 0 and at most 100 percent"
        ));
    }
    let weight = (percent * 100.0).round() as u32;
    if weight == 0 {
        return Err(anyhow!("`{text}`: the smallest share is 0.01 percent"));
    }
    Ok(Arm {
        version: version.to_owned(),
        weight,
    })
}

pub fn rollout(env: &Env, command: RolloutCommand) -> Result<ExitCode> {
    let client = env.client()?;
    let stage_of = |text: &str| -> Result<Stage> { Ok(text.parse::<Stage>()?) };
    let answer: Value = match command {
        RolloutCommand::Show { model, stage } => {
            let stage = stage_of(&stage)?;
            let view: RolloutView =
                client.get(&format!("/models/{model}/stages/{stage}/rollout"))?;
            if env.json {
                output::print_json(&view)?;
            } else {
                match &view.rollout {
                    None => println!("{model}@{stage}: nothing deployed"),
                    Some(rollout) => {
                        println!("{model}@{stage}: {}", describe(&rollout.stage_state()))
                    }
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        RolloutCommand::Set {
            model,
            stage,
            stable,
            canary,
            variants,
            shadow,
            reason,
            force,
            guardrails,
        } => {
            let stage = stage_of(&stage)?;
            let crate::cli::GuardrailFlags {
                max_error_rate,
                max_p95_ms,
                max_drift_share,
                compare_with_stable,
                min_f1,
                min_precision,
                min_recall,
                min_calls,
            } = *guardrails;
            let guardrails = outpost_core::guardrail::Guardrails {
                max_error_rate,
                max_p95_ms,
                max_drift_share,
                compare_with_stable,
                min_f1,
                min_precision,
                min_recall,
                min_outcomes: None,
                min_calls,
            };
            // No threshold given: no guardrails (the registry checks the rest).
            let guardrails = (guardrails.validate()
                != Err(outpost_core::guardrail::GuardrailError::Empty))
            .then_some(guardrails);
            let body = RolloutRequest {
                guardrails,
                stable,
                canary: canary.as_deref().map(parse_arm).transpose()?,
                variants: variants
                    .iter()
                    .map(|v| parse_arm(v))
                    .collect::<Result<_>>()?,
                shadow,
                reason,
                force,
            };
            client.send(
                "PUT",
                &format!("/models/{model}/stages/{stage}/rollout"),
                &body,
            )?
        }
        RolloutCommand::Guardrails { model, stage } => {
            let stage = stage_of(&stage)?;
            let view: serde_json::Value =
                client.get(&format!("/models/{model}/stages/{stage}/guardrails"))?;
            if env.json {
                output::print_json(&view)?;
            } else {
                println!(
                    "{model}@{stage}: canary {} guarded by {}",
                    view["canary"], view["guardrails"]
                );
                println!("  last verdict: {}", view["verdict"]);
                println!("  measured: {}", view["measured"]);
            }
            return Ok(ExitCode::SUCCESS);
        }
        RolloutCommand::Clear {
            model,
            stage,
            reason,
        } => {
            let stage = stage_of(&stage)?;
            client.delete(&format!(
                "/models/{model}/stages/{stage}/rollout?reason={}",
                encode(&reason)
            ))?
        }
    };
    if env.json {
        output::print_json(&answer)?;
    } else if let Some(Value::Bool(changed)) = answer.get("changed") {
        let state: StageState = serde_json::from_value(answer["state"].clone())?;
        println!(
            "{}@{}: {}{}",
            answer["model"].as_str().unwrap_or_default(),
            answer["stage"].as_str().unwrap_or_default(),
            if *changed { "" } else { "already " },
            describe(&state)
        );
    } else {
        print_move(env, &serde_json::from_value(answer)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn promote(env: &Env, args: &PromoteArgs) -> Result<ExitCode> {
    let stage: Stage = args.stage.parse()?;
    let body = PromoteRequest {
        version: args.version.clone(),
        reason: args.reason.clone(),
        force: args.force,
    };
    let answer: Value = env.client()?.send(
        "POST",
        &format!("/models/{}/stages/{stage}/promote", args.model),
        &body,
    )?;
    if answer.get("changed") == Some(&Value::Bool(false)) {
        if env.json {
            output::print_json(&answer)?;
        } else {
            println!(
                "{}@{stage} already serves {}; nothing changed",
                args.model, args.version
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    print_move(env, &serde_json::from_value(answer)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(env: &Env, args: &RollbackArgs) -> Result<ExitCode> {
    let stage: Stage = args.stage.parse()?;
    let body = RollbackRequest {
        version: args.version.clone(),
        reason: args.reason.clone(),
    };
    let entry: Deployment = env.client()?.send(
        "POST",
        &format!("/models/{}/stages/{stage}/rollback", args.model),
        &body,
    )?;
    print_move(env, &entry)?;
    Ok(ExitCode::SUCCESS)
}

pub fn stages(env: &Env, command: StagesCommand) -> Result<ExitCode> {
    let StagesCommand::Show { model } = command;
    let view: StagesView = env.client()?.get(&format!("/models/{model}/stages"))?;
    if env.json {
        output::print_json(&view)?;
    } else {
        let rows: Vec<Vec<String>> = Stage::ALL
            .iter()
            .map(|stage| {
                let state = view.stages.get(stage).cloned().unwrap_or_default();
                vec![stage.to_string(), describe(&state)]
            })
            .collect();
        print!("{}", output::table(&["STAGE", "SERVES"], &rows));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn history(env: &Env, model: &str, stage: Option<&str>, limit: u32) -> Result<ExitCode> {
    let mut path = format!("/models/{model}/history?limit={limit}");
    if let Some(stage) = stage {
        path.push_str(&format!("&stage={}", encode(stage)));
    }
    let page: Page<Deployment> = env.client()?.get(&path)?;
    if env.json {
        output::print_json(&page.items)?;
    } else {
        let rows: Vec<Vec<String>> = page
            .items
            .iter()
            .map(|d| {
                vec![
                    output::time(d.at),
                    d.stage.to_string(),
                    d.kind.as_str().to_owned(),
                    describe(&d.from),
                    describe(&d.to),
                    d.actor.clone(),
                    d.reason.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                &["WHEN", "STAGE", "MOVE", "FROM", "TO", "BY", "REASON"],
                &rows
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delete(
    env: &Env,
    model: &str,
    version: &str,
    force: bool,
    reason: Option<&str>,
) -> Result<ExitCode> {
    let mut path = format!("/models/{model}/versions/{version}");
    if force {
        path.push_str(&format!(
            "?force=true&reason={}",
            encode(reason.unwrap_or_default())
        ));
    }
    let deleted: Deleted = env.client()?.delete(&path)?;
    if env.json {
        output::print_json(&deleted)?;
    } else {
        println!(
            "deleted {}@{}{}{}",
            deleted.model,
            deleted.version,
            if deleted.cleared.is_empty() {
                String::new()
            } else {
                format!(
                    "; cleared {}",
                    deleted
                        .cleared
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            if deleted.blob_removed {
                "; its artifact was removed"
            } else {
                "; its artifact is still used by another version"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_policies(env: &Env, policies: &ModelPolicies) -> Result<()> {
    if env.json {
        return output::print_json(policies);
    }
    if policies.promotion.rules.is_empty() {
        println!("promotion: no metric requirements");
    }
    for rule in &policies.promotion.rules {
        let stages = if rule.stages.is_empty() {
            "every stage".to_owned()
        } else {
            rule.stages
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("promotion: {} for {stages}", rule.requirement);
    }
    match &policies.retention {
        None => println!("retention: none"),
        Some(r) => println!("retention: {}", serde_json::to_string(r)?),
    }
    Ok(())
}

pub fn policy(env: &Env, command: PolicyCommand) -> Result<ExitCode> {
    let client = env.client()?;
    match command {
        PolicyCommand::Show { model } => {
            let policies: ModelPolicies = client.get(&format!("/models/{model}/policy"))?;
            print_policies(env, &policies)?;
        }
        PolicyCommand::Set {
            model,
            requirements,
            stages,
        } => {
            let stages = stages
                .iter()
                .map(|s| s.parse::<Stage>().map_err(|e| anyhow!(e)))
                .collect::<Result<Vec<_>>>()?;
            let mut policies: ModelPolicies = client.get(&format!("/models/{model}/policy"))?;
            policies.promotion.rules = requirements
                .into_iter()
                .map(|requirement| PolicyRule {
                    requirement,
                    stages: stages.clone(),
                })
                .collect();
            policies.promotion.validate().map_err(|e| anyhow!(e))?;
            let saved: ModelPolicies =
                client.send("PUT", &format!("/models/{model}/policy"), &policies)?;
            print_policies(env, &saved)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(env: &Env, report: &RetentionReport) -> Result<()> {
    if env.json {
        return output::print_json(report);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    if report.drops.is_empty() {
        println!("retention {verb} nothing from {}", report.model);
    }
    for drop in &report.drops {
        println!(
            "{verb} {}@{}: {}",
            report.model,
            drop.version,
            drop.reasons.join("; ")
        );
    }
    Ok(())
}

pub fn retention(env: &Env, command: RetentionCommand) -> Result<ExitCode> {
    let client = env.client()?;
    match command {
        RetentionCommand::Set {
            model,
            keep_last,
            min_metric,
            max_age_days,
            keep_deployed_within_days,
        } => {
            let mut policies: ModelPolicies = client.get(&format!("/models/{model}/policy"))?;
            let retention = RetentionPolicy {
                keep_last,
                min_metric,
                max_age_days,
                keep_deployed_within_days,
            };
            retention.validate().map_err(|e| anyhow!(e))?;
            policies.retention = Some(retention);
            let saved: ModelPolicies =
                client.send("PUT", &format!("/models/{model}/policy"), &policies)?;
            print_policies(env, &saved)?;
        }
        RetentionCommand::Plan { model } => {
            let report: RetentionReport = client.get(&format!("/models/{model}/retention"))?;
            print_report(env, &report)?;
        }
        RetentionCommand::Apply { model } => {
            let report: RetentionReport = client.send(
                "POST",
                &format!("/models/{model}/retention"),
                &serde_json::json!({}),
            )?;
            print_report(env, &report)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_arm;

    #[test]
    fn arms_parse_from_percentages() {
        let arm = parse_arm("1.2.0:10").ok();
        assert_eq!(
            arm.map(|a| (a.version, a.weight)),
            Some(("1.2.0".into(), 1_000))
        );
        assert_eq!(parse_arm("1.2.0:0.5%").ok().map(|a| a.weight), Some(50));
        assert_eq!(parse_arm("1.2.0:100").ok().map(|a| a.weight), Some(10_000));
        for bad in [
            "1.2.0",
            "1.2.0:0",
            "1.2.0:101",
            "1.2.0:ten",
            ":10",
            "1.2.0:0.001",
        ] {
            assert!(parse_arm(bad).is_err(), "{bad}");
        }
    }
}
