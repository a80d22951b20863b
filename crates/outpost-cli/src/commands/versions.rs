//! `outpost versions list|show|search`, `outpost compare`, `outpost tag`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use outpost_core::api::{Comparison, Page, TagChange, VersionRecord};
use outpost_core::query::MetricFilter;

use super::Env;
use crate::cli::{CompareArgs, FilterArgs, TagArgs, VersionsCommand};
use crate::http::Client;
use crate::output;

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The query string for a set of filters; metric filters are checked here
/// first so a typo fails before any request.
pub fn filter_query(model: Option<&str>, filters: &FilterArgs) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    if let Some(model) = model {
        pairs.push(("model".to_owned(), model.to_owned()));
    }
    for tag in &filters.tags {
        pairs.push(("tag".into(), tag.clone()));
    }
    for metric in &filters.metrics {
        MetricFilter::parse(metric)?;
        pairs.push(("metric".into(), metric.clone()));
    }
    let optional = [
        ("format", &filters.format),
        ("author", &filters.author),
        ("status", &filters.status),
        ("q", &filters.text),
        ("sort", &filters.sort),
        ("order", &filters.order),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            pairs.push((key.into(), value.clone()));
        }
    }
    if let Some(limit) = filters.limit {
        pairs.push(("limit".into(), limit.to_string()));
    }
    Ok(pairs)
}

fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn fetch_pages(
    client: &Client,
    base_path: &str,
    pairs: Vec<(String, String)>,
    all: bool,
) -> Result<Vec<VersionRecord>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = pairs.clone();
        if let Some(cursor) = &cursor {
            pairs.push(("cursor".into(), cursor.clone()));
        }
        let page: Page<VersionRecord> =
            client.get(&format!("{base_path}?{}", query_string(&pairs)))?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) if all => cursor = Some(next),
            Some(_) => {
                eprintln!("(more results: pass --all to fetch every page)");
                break;
            }
            None => break,
        }
    }
    Ok(items)
}

fn print_versions(env: &Env, items: &[VersionRecord]) -> Result<()> {
    if env.json {
        return output::print_json(&items);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|v| {
            let metrics = v
                .metrics
                .iter()
                .map(|(k, x)| format!("{k}={x}"))
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                format!("{}@{}", v.model, v.version),
                v.format.to_string(),
                v.status.as_str().to_owned(),
                metrics,
                v.tags.join(","),
                output::time(v.created_at),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &["VERSION", "FORMAT", "STATUS", "METRICS", "TAGS", "CREATED"],
            &rows
        )
    );
    Ok(())
}

fn print_version(env: &Env, v: &VersionRecord) -> Result<()> {
    if env.json {
        return output::print_json(v);
    }
    println!("{}@{}", v.model, v.version);
    let fields = [
        ("digest", v.digest.to_string()),
        ("size", v.size.to_string()),
        ("format", v.format.to_string()),
        (
            "status",
            match &v.status_reason {
                Some(reason) => format!("{} — {reason}", v.status.as_str()),
                None => v.status.as_str().to_owned(),
            },
        ),
        ("framework", output::opt(&v.framework)),
        (
            "metrics",
            v.metrics
                .iter()
                .map(|(k, x)| format!("{k}={x}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("tags", v.tags.join(", ")),
        ("parent", output::opt(&v.parent_version)),
        ("dataset", output::opt(&v.dataset_version)),
        ("author", v.author.clone()),
        ("created", output::time(v.created_at)),
        ("notes", v.notes.clone()),
    ];
    for (key, value) in fields {
        println!("  {key:<10} {value}");
    }
    if let Some(schema) = &v.schema {
        for (kind, values) in [("input", &schema["inputs"]), ("output", &schema["outputs"])] {
            for value in values.as_array().into_iter().flatten() {
                println!(
                    "  {kind:<10} {} {} {}",
                    value["name"].as_str().unwrap_or("?"),
                    value["dtype"].as_str().unwrap_or("?"),
                    value["shape"]
                );
            }
        }
    }
    Ok(())
}

pub fn run(env: &Env, command: VersionsCommand) -> Result<ExitCode> {
    let client = env.client()?;
    match command {
        VersionsCommand::List { model, filters } => {
            let pairs = filter_query(None, &filters)?;
            let items = fetch_pages(
                &client,
                &format!("/models/{model}/versions"),
                pairs,
                filters.all,
            )?;
            print_versions(env, &items)?;
        }
        VersionsCommand::Show { model, version } => {
            let record: VersionRecord =
                client.get(&format!("/models/{model}/versions/{version}"))?;
            print_version(env, &record)?;
        }
        VersionsCommand::Search {
            model,
            filters,
            latest,
        } => {
            let pairs = filter_query(model.as_deref(), &filters)?;
            if latest {
                let record: VersionRecord =
                    client.get(&format!("/versions/latest?{}", query_string(&pairs)))?;
                print_version(env, &record)?;
            } else {
                let items = fetch_pages(&client, "/versions", pairs, filters.all)?;
                print_versions(env, &items)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compare(env: &Env, args: &CompareArgs) -> Result<ExitCode> {
    let mut pairs = Vec::new();
    for v in &args.versions {
        if !v.contains('@') {
            return Err(anyhow!("`{v}` must be MODEL@VERSION"));
        }
        pairs.push(("v".to_owned(), v.clone()));
    }
    for m in &args.metrics {
        pairs.push(("metric".to_owned(), m.clone()));
    }
    let comparison: Comparison = env
        .client()?
        .get(&format!("/compare?{}", query_string(&pairs)))?;
    if env.json {
        output::print_json(&comparison)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut header = vec!["VERSION".to_owned()];
    header.extend(comparison.metrics.iter().cloned());
    let rows: Vec<Vec<String>> = comparison
        .versions
        .iter()
        .map(|v| {
            let name = format!("{}@{}", v.model, v.version);
            let mut row = vec![name.clone()];
            for metric in &comparison.metrics {
                let value = v.metrics.get(metric).copied().flatten();
                let best = comparison.best.get(metric) == Some(&name);
                row.push(match value {
                    Some(x) if best => format!("{x} *"),
                    Some(x) => x.to_string(),
                    None => "-".into(),
                });
            }
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    print!("{}", output::table(&header, &rows));
    println!("* best per metric");
    Ok(ExitCode::SUCCESS)
}

pub fn tag(env: &Env, args: &TagArgs) -> Result<ExitCode> {
    if args.add.is_empty() && args.remove.is_empty() {
        return Err(anyhow!("nothing to do: pass --add TAG and/or --remove TAG"));
    }
    let change = TagChange {
        add: args.add.clone(),
        remove: args.remove.clone(),
    };
    let record: VersionRecord = env.client()?.send(
        "PATCH",
        &format!("/models/{}/versions/{}/tags", args.model, args.version),
        &change,
    )?;
    if env.json {
        output::print_json(&record)?;
    } else {
        println!(
            "{}@{} tags: {}",
            record.model,
            record.version,
            record.tags.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_and_checked() {
        let filters = FilterArgs {
            metrics: vec!["f1>=0.85".into()],
            tags: vec!["a b".into()],
            ..FilterArgs::default()
        };
        let pairs = filter_query(Some("fraud"), &filters).unwrap();
        assert_eq!(
            query_string(&pairs),
            "model=fraud&tag=a%20b&metric=f1%3E%3D0.85"
        );
        let bad = FilterArgs {
            metrics: vec!["f1 high".into()],
            ..FilterArgs::default()
        };
        assert!(filter_query(None, &bad).is_err());
    }
}
