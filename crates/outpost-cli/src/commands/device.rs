//! `outpost pull ORG/MODEL@STAGE`: the device client of the signed
//! distribution. The order and every check are `outpost_core::trust`'s:
//! its `Updater` asks for root rotations, timestamp, snapshot and targets in
//! TUF's order (this module only fetches), then the director's resolution
//! for exactly this question is verified, then the bytes. The
//! trusted state (current root, highest versions seen) lives in `--state`, so
//! rollback protection holds across runs; the model is replaced atomically.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use outpost_core::trust::{
    Envelope, Question, Step, TrustError, TrustedState, UpdateError, Updater,
};

use super::Env;
use crate::cli::{DevicePullArgs, VerifyArgs, parse_target};
use crate::http::{self, Client};
use crate::install::install;
use crate::output;

fn refused(step: &str, err: TrustError) -> anyhow::Error {
    anyhow!(
        "{} refused at {step}: {err}\nhint: the registry's answer failed the {} check; nothing was installed and the previous model is untouched",
        err.code(),
        err.code()
    )
}

/// Trust metadata `file`, or None when the registry has none (404).
fn fetch(client: &Client, file: &str) -> Result<Option<Vec<u8>>> {
    let reply = client.get_reply(&format!("/trust/{file}"))?;
    match reply.status {
        404 => Ok(None),
        200 => Ok(Some(reply.body.into_bytes())),
        _ => Err(http::error_from(&reply)),
    }
}

fn save(state: &TrustedState, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(".trusted.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state)?)?;
    std::fs::rename(&tmp, dir.join("trusted.json"))?;
    Ok(())
}

/// The state saved in `dir`, if any.
fn saved_state(dir: &Path) -> Result<Option<TrustedState>> {
    let saved = dir.join("trusted.json");
    if !saved.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&saved)?;
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "{} is corrupt; remove it to start again from the pinned root",
            saved.display()
        )
    })
}

/// The pinned root metadata `--trust` names.
fn pinned_root(path: &Path) -> Result<Envelope> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not root metadata", path.display()))
}

/// A refusal of the refresh, with the hint that fits it.
fn refused_update(err: UpdateError, dir: &Path) -> anyhow::Error {
    if err.code() == "ROOT_MISMATCH" {
        return anyhow!(
            "{err}\nhint: the state in {} belongs to another repository than the root given with --trust; pull into a fresh --state",
            dir.display()
        );
    }
    if let TrustError::Unavailable { .. } = err.error {
        return anyhow!(
            "{err}\nhint: the organisation must upload a root and sign a release first"
        );
    }
    refused(&err.step.to_string(), err.error)
}

/// TUF 5.3–5.6 through the core's updater: the saved state (which must
/// descend from `--trust` when both exist) or the pin, refreshed from the
/// registry. Nothing is saved unless the whole refresh verified.
fn refresh(client: &Client, trust: Option<&Path>, dir: &Path, now: i64) -> Result<TrustedState> {
    let saved = saved_state(dir)?;
    if saved.is_none() && trust.is_none() {
        return Err(anyhow!(
            "no trusted state in {} yet: pass the pinned root with --trust",
            dir.display()
        ));
    }
    let pinned = trust.map(pinned_root).transpose()?;
    let mut updater =
        Updater::new(pinned.as_ref(), saved, now).map_err(|e| refused_update(e, dir))?;
    while let Some(request) = updater.next_file() {
        let bytes = fetch(client, &request.file)?;
        updater
            .offer(bytes.as_deref())
            .map_err(|e| refused_update(e, dir))?;
    }
    updater.finish().map_err(|e| refused_update(e, dir))
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
    let state = saved_state(&args.state)?.ok_or_else(|| anyhow!("no trusted state"))?;
    if let Some(pinned) = &args.trust {
        // Rotations past the pinned root were checked when they were pulled;
        // the state must have accepted exactly this root on its way.
        state.descends_from(&pinned_root(pinned)?).map_err(|e| {
            refused_update(
                UpdateError {
                    step: Step::PinnedRoot,
                    error: e,
                },
                &args.state,
            )
        })?;
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

pub fn pull(env: &Env, args: &DevicePullArgs) -> Result<ExitCode> {
    let (org, model, stage) = parse_target(&args.target)?;
    let dir = args.state.as_path();
    let client = Client::new(env.settings.url()?, &org, env.settings.token()?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut state = refresh(&client, args.trust.as_deref(), dir, now)?;
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
