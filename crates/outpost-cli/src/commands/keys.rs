//! `outpost keys generate` and `outpost trust init|rotate`: the offline key
//! ceremony. Root and release keys never leave the operator's machine; every
//! document written here is first checked with the same `outpost_core::trust`
//! code a device runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use outpost_core::signing::{PublicKey, SigningKey};
use outpost_core::timefmt::format_utc;
use outpost_core::trust::{
    Envelope, RoleSpec, TargetFile, TrustedState, check_extends_own_release, next_release,
    root_metadata,
};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

use super::Env;
use super::tokens::parse_duration;
use crate::cli::{KeysCommand, ReleaseCommand, TrustCommand};
use crate::config::write_private;
use crate::output;

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn generate(prefix: &Path) -> Result<(PathBuf, PathBuf, String)> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow!("the operating system's random generator failed"))?;
    let key = SigningKey::from_pkcs8(pkcs8.as_ref())?;
    let (private, public) = (
        with_suffix(prefix, ".pk8"),
        with_suffix(prefix, ".pub.json"),
    );
    if private.exists() {
        bail!(
            "{} exists; refusing to overwrite a key (move it away first)",
            private.display()
        );
    }
    write_private(&private, pkcs8.as_ref())?;
    std::fs::write(&public, serde_json::to_string_pretty(key.public())?)
        .with_context(|| format!("writing {}", public.display()))?;
    Ok((private, public, key.public().key_id()))
}

fn signing_key(path: &Path) -> Result<SigningKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8(&bytes).with_context(|| {
        format!(
            "{} is not an ed25519 PKCS#8 key from `outpost keys generate`",
            path.display()
        )
    })
}

/// A public key from a `.pub.json` file, or derived from a `.pk8`.
fn public_key(path: &Path) -> Result<PublicKey> {
    if path.extension().is_some_and(|ext| ext == "pk8") {
        return Ok(signing_key(path)?.public().clone());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a public key file (.pub.json)", path.display()))
}

fn spec(paths: &[PathBuf], threshold: usize) -> Result<RoleSpec> {
    Ok(RoleSpec {
        keys: paths.iter().map(|p| public_key(p)).collect::<Result<_>>()?,
        threshold,
    })
}

fn sign_all(signed: serde_json::Value, keys: &[SigningKey]) -> Result<Envelope> {
    let signatures = keys
        .iter()
        .map(|k| k.sign(&signed))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Envelope { signed, signatures })
}

fn write_json(path: &Path, envelope: &Envelope) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(envelope)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn expiry(text: &str) -> Result<String> {
    let secs = parse_duration(text)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    Ok(format_utc(now + i64::try_from(secs)? * 1000))
}

pub fn keys(env: &Env, command: KeysCommand) -> Result<ExitCode> {
    let KeysCommand::Generate { out } = command;
    let (private, public, id) = generate(&out)?;
    if env.json {
        output::print_json(
            &serde_json::json!({"keyid": id, "private": private, "public": public}),
        )?;
    } else {
        println!(
            "key {id}\n  private {} (keep offline for root and release keys)\n  public  {}",
            private.display(),
            public.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn trust(env: &Env, command: TrustCommand) -> Result<ExitCode> {
    let (envelope, output) = match command {
        TrustCommand::FetchKeys { out_dir } => {
            let reply = crate::http::get(env.settings.url()?, "/v1/keys")?;
            let keys: serde_json::Value = crate::http::decode(&reply)?;
            std::fs::create_dir_all(&out_dir)?;
            for role in ["online", "director"] {
                let path = out_dir.join(format!("{role}.pub.json"));
                std::fs::write(&path, serde_json::to_string_pretty(&keys[role])?)?;
                println!(
                    "{role} key {} saved to {}",
                    public_key(&path)?.key_id(),
                    path.display()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        TrustCommand::Upload { root } => {
            let text = std::fs::read_to_string(&root)
                .with_context(|| format!("reading {}", root.display()))?;
            let envelope: Envelope = serde_json::from_str(&text)
                .with_context(|| format!("{} is not root metadata", root.display()))?;
            let stored: serde_json::Value = env.client()?.send("PUT", "/trust/root", &envelope)?;
            println!("uploaded root version {}", stored["version"]);
            return Ok(ExitCode::SUCCESS);
        }
        TrustCommand::Init {
            root_keys,
            root_threshold,
            release_keys,
            release_threshold,
            online_keys,
            director_keys,
            expires_in,
            output,
        } => {
            let signers = root_keys
                .iter()
                .map(|p| signing_key(p))
                .collect::<Result<Vec<_>>>()?;
            let signed = root_metadata(
                1,
                &expiry(&expires_in)?,
                &spec(&root_keys, root_threshold)?,
                &spec(&release_keys, release_threshold)?,
                &spec(&online_keys, 1)?,
                &spec(&director_keys, 1)?,
            )?;
            let envelope = sign_all(signed, &signers)?;
            TrustedState::from_pinned_root(&envelope).context("the new root does not verify")?;
            (envelope, output)
        }
        TrustCommand::Rotate {
            current,
            old_keys,
            root_keys,
            root_threshold,
            expires_in,
            output,
        } => {
            let text = std::fs::read_to_string(&current)
                .with_context(|| format!("reading {}", current.display()))?;
            let current_envelope: Envelope = serde_json::from_str(&text)
                .with_context(|| format!("{} is not root metadata", current.display()))?;
            let state = TrustedState::from_pinned_root(&current_envelope)?;
            let mut signed = serde_json::to_value(&state.root)?;
            let new_root = spec(&root_keys, root_threshold)?;
            // Same roles as before, new root keys and threshold.
            let old_ids = state.root.roles["root"].keyids.clone();
            let keys = signed["keys"]
                .as_object_mut()
                .ok_or_else(|| anyhow!("root without keys"))?;
            for id in &old_ids {
                keys.remove(id);
            }
            for key in &new_root.keys {
                keys.insert(key.key_id(), serde_json::to_value(key)?);
            }
            signed["roles"]["root"] = serde_json::json!({
                "keyids": new_root.keys.iter().map(PublicKey::key_id).collect::<Vec<_>>(),
                "threshold": root_threshold,
            });
            signed["version"] = serde_json::json!(state.root.version + 1);
            signed["expires"] = serde_json::json!(expiry(&expires_in)?);
            let signers = old_keys
                .iter()
                .chain(&root_keys)
                .map(|p| signing_key(p))
                .collect::<Result<Vec<_>>>()?;
            let envelope = sign_all(signed, &signers)?;
            outpost_core::trust::verify_new_root(Some(&current_envelope), &envelope)
                .context("the rotation does not verify: it needs a threshold of the old root keys and of the new ones")?;
            (envelope, output)
        }
    };
    write_json(&output, &envelope)?;
    let version = envelope.signed["version"].as_u64().unwrap_or_default();
    if env.json {
        output::print_json(&serde_json::json!({"version": version, "path": output}))?;
    } else {
        println!(
            "wrote root version {version} to {} (verified)",
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `outpost release sign MODEL VERSION`: the next release metadata, with the
/// version's digest and size as the registry records them, signed offline.
/// How often `release sign` re-reads and re-signs when another release
/// landed between its read and its upload.
const RELEASE_ATTEMPTS: usize = 8;

pub fn release(env: &Env, command: ReleaseCommand) -> Result<ExitCode> {
    let ReleaseCommand::Sign {
        model,
        versions,
        keys,
        expires_in,
    } = command;
    let client = env.client()?;
    let mut additions = Vec::new();
    for version in &versions {
        let record: outpost_core::api::VersionRecord =
            client.get(&format!("/models/{model}/versions/{version}"))?;
        additions.push((
            outpost_core::trust::target_path(&model, version),
            TargetFile {
                length: record.size,
                hashes: [("sha256".to_owned(), record.digest.hex())].into(),
                custom: Some(serde_json::json!({
                    "model": model, "version": version, "format": record.format,
                })),
            },
        ));
    }
    let signers = keys
        .iter()
        .map(|p| signing_key(p))
        .collect::<Result<Vec<_>>>()?;
    let publics: Vec<PublicKey> = signers.iter().map(|k| k.public().clone()).collect();
    let expires = expiry(&expires_in)?;
    for _ in 0..RELEASE_ATTEMPTS {
        let reply = client.get_reply("/trust/targets.json")?;
        let current = match reply.status {
            404 => None,
            200 => {
                let envelope: Envelope = serde_json::from_str(&reply.body)
                    .context("the registry's targets.json is not metadata")?;
                Some(check_extends_own_release(&envelope, &publics).map_err(|e| {
                    anyhow!(
                        "{}: the registry's current release metadata is not signed by these release keys: {e}\nhint: refusing to sign a release list someone else wrote; check the keys, or investigate the registry",
                        e.code()
                    )
                })?)
            }
            _ => return Err(crate::http::error_from(&reply)),
        };
        let signed = next_release(current.as_ref(), additions.clone(), &expires);
        let next = signed["version"].as_u64().unwrap_or_default();
        let envelope = sign_all(signed, &signers)?;
        let stored = client.send_reply("PUT", "/trust/targets", &envelope)?;
        let raced = stored.status == 409
            || (stored.status == 422
                && stored
                    .problem()
                    .and_then(|p| p.extensions.get("code").cloned())
                    == Some(serde_json::json!("MIX_AND_MATCH")));
        if raced {
            continue;
        }
        let stored: serde_json::Value = crate::http::decode(&stored)?;
        if env.json {
            output::print_json(&stored)?;
        } else {
            for (target, file) in &additions {
                println!(
                    "released {target} (sha256:{}) in release metadata version {next}",
                    file.hashes["sha256"]
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    Err(anyhow!(
        "other releases kept landing while signing ({RELEASE_ATTEMPTS} attempts)\nhint: run the command again"
    ))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn env() -> Env {
        Env {
            settings: Settings::default(),
            json: false,
        }
    }

    #[test]
    fn a_key_ceremony_from_generate_to_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        for name in ["root1", "root2", "root3", "release", "online", "director"] {
            generate(&p(name)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(p("root1.pk8"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(generate(&p("root1")).is_err(), "never overwrites a key");

        trust(
            &env(),
            TrustCommand::Init {
                root_keys: vec![p("root1.pk8"), p("root2.pk8")],
                root_threshold: 2,
                release_keys: vec![p("release.pub.json")],
                release_threshold: 1,
                online_keys: vec![p("online.pub.json")],
                director_keys: vec![p("director.pk8")],
                expires_in: "365d".into(),
                output: p("root.json"),
            },
        )
        .unwrap();
        let root: Envelope =
            serde_json::from_str(&std::fs::read_to_string(p("root.json")).unwrap()).unwrap();
        let state = TrustedState::from_pinned_root(&root).unwrap();
        assert_eq!(state.root.roles["root"].threshold, 2);

        // Rotating with only one of the two old keys is refused and writes nothing.
        let rotate = |old: Vec<PathBuf>, out: &str| {
            trust(
                &env(),
                TrustCommand::Rotate {
                    current: p("root.json"),
                    old_keys: old,
                    root_keys: vec![p("root3.pk8")],
                    root_threshold: 1,
                    expires_in: "365d".into(),
                    output: p(out),
                },
            )
        };
        let err = rotate(vec![p("root1.pk8")], "bad.json").unwrap_err();
        assert!(
            format!("{err:#}").contains("threshold of the old root keys"),
            "{err:#}"
        );
        assert!(!p("bad.json").exists());
        rotate(vec![p("root1.pk8"), p("root2.pk8")], "root.2.json").unwrap();
        let next: Envelope =
            serde_json::from_str(&std::fs::read_to_string(p("root.2.json")).unwrap()).unwrap();
        let rotated = outpost_core::trust::verify_new_root(Some(&root), &next).unwrap();
        assert_eq!(rotated.version, 2);
        assert_eq!(rotated.roles["root"].keyids.len(), 1);
    }
}
