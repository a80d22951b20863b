//! `outpost pull ORG/MODEL@STAGE`: the device client of the signed
//! distribution. Every check is `outpost_core::trust`'s, in TUF's order:
//! root rotations, root freshness, timestamp → snapshot → targets, the
//! director's resolution for exactly this question, then the bytes. The
//! trusted state (current root, highest versions seen) lives in `--state`, so
//! rollback protection holds across runs; the model is replaced atomically.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use outpost_core::trust::{Envelope, Question, TrustError, TrustedState};

use super::Env;
use super::pull::install;
use crate::cli::{PullArgs, VerifyArgs};
use crate::http::{self, Client};
use crate::output;

/// `ORG/MODEL@STAGE`.
pub fn parse_target(text: &str) -> Result<(String, String, String)> {
    let (path, stage) = text
        .split_once('@')
        .ok_or_else(|| anyhow!("`{text}` must be ORG/MODEL@STAGE"))?;
    let (org, model) = path
        .split_once('/')
        .ok_or_else(|| anyhow!("`{text}` must be ORG/MODEL@STAGE"))?;
    if org.is_empty() || model.is_empty() || stage.is_empty() {
        return Err(anyhow!("`{text}` must be ORG/MODEL@STAGE"));
    }
    Ok((org.to_owned(), model.to_owned(), stage.to_owned()))
}

fn refused(step: &str, err: TrustError) -> anyhow::Error {
    anyhow!(
        "{} refused at {step}: {err}\nhint: the registry's answer failed the {} check; nothing was installed and the previous model is untouched",
        err.code(),
        err.code()
    )
}

fn fetch(client: &Client, file: &str) -> Result<Option<Envelope>> {
    let reply = client.get_reply(&format!("/trust/{file}"))?;
    match reply.status {
        404 => Ok(None),
        200 => Ok(Some(
            serde_json::from_str(&reply.body).with_context(|| format!("{file} is not metadata"))?,
        )),
        _ => Err(http::error_from(&reply)),
    }
}

fn require(client: &Client, file: &str) -> Result<Envelope> {
    fetch(client, file)?.ok_or_else(|| {
        anyhow!("the registry has no {file}: has the organisation uploaded a root and a release?")
    })
}

fn save(state: &TrustedState, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(".trusted.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state)?)?;
    std::fs::rename(&tmp, dir.join("trusted.json"))?;
    Ok(())
}

fn load(trust: Option<&Path>, dir: &Path) -> Result<TrustedState> {
    let saved = dir.join("trusted.json");
    if saved.exists() {
        let text = std::fs::read_to_string(&saved)?;
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is corrupt; remove it to start again from the pinned root",
                saved.display()
            )
        });
    }
    let path = trust.ok_or_else(|| {
        anyhow!(
            "no trusted state in {} yet: pass the pinned root with --trust",
            dir.display()
        )
    })?;
    from_pinned(path)
}

fn from_pinned(path: &Path) -> Result<TrustedState> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let envelope: Envelope = serde_json::from_str(&text)
        .with_context(|| format!("{} is not root metadata", path.display()))?;
    TrustedState::from_pinned_root(&envelope).map_err(|e| refused("the pinned root", e))
}

/// Which resolution each installed file came from, by canonical path, so
/// `outpost verify` can re-check it offline.
const INSTALLED: &str = "installed.json";

fn installed_records(dir: &Path) -> Result<BTreeMap<String, Envelope>> {
    let path = dir.join(INSTALLED);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(&path)?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is corrupt; pull the model again to rebuild it",
            path.display()
        )
    })
}

fn canonical(path: &Path) -> Result<String> {
    Ok(std::fs::canonicalize(path)
        .with_context(|| format!("{} does not exist", path.display()))?
        .to_string_lossy()
        .into_owned())
}

fn record_installed(dir: &Path, model: &Path, resolution: &Envelope) -> Result<()> {
    let mut records = installed_records(dir)?;
    records.insert(canonical(model)?, resolution.clone());
    let tmp = dir.join(".installed.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&records)?)?;
    std::fs::rename(&tmp, dir.join(INSTALLED))?;
    Ok(())
}

/// `outpost verify FILE --state DIR [--trust root.json]`: re-checks an
/// installed model offline with the trusted state it was installed under.
pub fn verify(env: &Env, args: &VerifyArgs) -> Result<ExitCode> {
    let saved = args.state.join("trusted.json");
    if !saved.exists() {
        return Err(anyhow!(
            "no trusted state in {}: install the model with `outpost pull ORG/MODEL@STAGE --state {}` first",
            args.state.display(),
            args.state.display()
        ));
    }
    let state = load(None, &args.state)?;
    if let Some(pinned) = &args.trust {
        // Rotations past the pinned root were checked when they were pulled;
        // the state cannot be older than the pin, nor differ at the same version.
        let pinned = from_pinned(pinned)?;
        if pinned.root.version > state.root.version
            || (pinned.root.version == state.root.version && pinned.root != state.root)
        {
            return Err(anyhow!(
                "ROOT_MISMATCH refused at the pinned root: the state in {} does not descend from the root given with --trust\nhint: the state directory belongs to another repository; pull again into a fresh --state",
                args.state.display()
            ));
        }
    }
    let key = canonical(&args.file)?;
    let records = installed_records(&args.state)?;
    let resolution = records.get(&key).ok_or_else(|| {
        anyhow!(
            "{} was not installed with this state directory ({}): verify checks files `outpost pull ORG/MODEL@STAGE -o FILE` wrote",
            args.file.display(),
            args.state.display()
        )
    })?;
    let mut file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut hasher = outpost_core::digest::Sha256Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let verified = state
        .verify_installed(resolution, &hasher.finish())
        .map_err(|e| {
            anyhow!(
                "{} refused at the installed model: {e}\nhint: {} is not the artifact the release role signed; pull it again",
                e.code(),
                args.file.display()
            )
        })?;
    let chosen = verified.inner();
    if env.json {
        output::print_json(&serde_json::json!({
            "path": args.file, "org": chosen.question.org, "model": chosen.question.model,
            "stage": chosen.question.stage, "version": chosen.version, "digest": chosen.digest,
            "length": chosen.length, "release_version": state.targets.as_ref().map(|t| t.version),
        }))?;
    } else {
        println!(
            "verified {}: {}/{}@{} = {} ({}, {} bytes; director signature and release metadata v{} checked)",
            args.file.display(),
            chosen.question.org,
            chosen.question.model,
            chosen.question.stage,
            chosen.version,
            chosen.digest,
            chosen.length,
            state.targets.as_ref().map_or(0, |t| t.version)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pull(env: &Env, args: &PullArgs) -> Result<ExitCode> {
    let (org, model, stage) = parse_target(&args.model)?;
    let dir = args
        .state
        .as_deref()
        .ok_or_else(|| anyhow!("device pulls need --state DIR"))?;
    let client = Client::new(env.settings.url()?, &org, env.settings.token()?);
    let mut state = load(args.trust.as_deref(), dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;

    // TUF 5.3: newer roots, each signed by the old and the new threshold.
    loop {
        let next = state.root.version + 1;
        match fetch(&client, &format!("{next}.root.json"))? {
            Some(root) => state
                .update_root(&root)
                .map_err(|e| refused(&format!("root {next}"), e))?,
            None => break,
        }
    }
    state
        .check_root_fresh(now)
        .map_err(|e| refused("root", e))?;
    state
        .update_timestamp(&require(&client, "timestamp.json")?, now)
        .map_err(|e| refused("timestamp", e))?;
    state
        .update_snapshot(&require(&client, &state.next_snapshot_file())?, now)
        .map_err(|e| refused("snapshot", e))?;
    state
        .update_targets(&require(&client, &state.next_targets_file())?, now)
        .map_err(|e| refused("targets", e))?;
    save(&state, dir)?;

    let device = args.device_id.clone().unwrap_or_default();
    let mut path = format!("/models/{model}/resolve?stage={stage}");
    if !device.is_empty() {
        path.push_str(&format!("&device={}", super::versions::encode(&device)));
    }
    let resolution: Envelope = client.get(&path)?;
    let asked = Question {
        org: org.clone(),
        model: model.clone(),
        stage: stage.clone(),
        device,
    };
    let verified = state
        .verify_resolution(&resolution, &asked, now)
        .map_err(|e| refused("the resolution", e))?;
    save(&state, dir)?;
    let chosen = verified.inner();

    let (status, mut body) =
        client.get_stream(&format!("/blobs/sha256/{}", chosen.digest.hex()))?;
    if status != 200 {
        return Err(anyhow!(
            "downloading {} failed with HTTP {status}",
            chosen.digest
        ));
    }
    install(&mut body, &args.output, chosen.length, &|received| {
        outpost_core::trust::verify_artifact(&verified, received)
            .map_err(|e| refused("the artifact", e))
    })
    .map_err(|e| {
        let text = format!("{e:#}");
        if text.contains("hint:") {
            e
        } else {
            anyhow!("{text}\nhint: the artifact did not match the signed digest and length; the previous model is untouched")
        }
    })?;
    record_installed(dir, &args.output, &resolution)?;
    if env.json {
        output::print_json(&serde_json::json!({
            "model": model, "stage": stage, "version": chosen.version, "digest": chosen.digest,
            "length": chosen.length, "resolution_version": chosen.resolution_version, "path": args.output,
        }))?;
    } else {
        println!(
            "installed {org}/{model}@{stage} = {} to {} (signatures, freshness, versions and {} verified)",
            chosen.version,
            args.output.display(),
            chosen.digest
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets_parse() {
        let parsed = parse_target("acme/fraud-detector@production").ok();
        assert_eq!(
            parsed,
            Some(("acme".into(), "fraud-detector".into(), "production".into()))
        );
        assert!(parse_target("fraud-detector@production").is_err());
        assert!(parse_target("acme/fraud").is_err());
        assert!(parse_target("/m@s").is_err());
    }
}
