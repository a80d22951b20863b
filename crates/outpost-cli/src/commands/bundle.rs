//! `outpost export` and `outpost import`: models travelling between
//! organisations and registries in a bundle (`outpost_core::bundle`,
//! documented in `docs/bundle.md`). The tar format is the `tar` crate's.
//!
//! Export reads everything through the API a token can read, re-hashes every
//! artifact it downloads, and writes the bundle to a temporary file renamed
//! into place at the end: a failed export leaves nothing behind. Import
//! checks every file against the manifest before anything is sent, then
//! uploads the artifacts (the registry re-hashes them) and posts each model;
//! the registry decides the rest (`outpost_registry::imports`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use outpost_core::api::{ModelRecord, Page, VersionRecord};
use outpost_core::audit::AuditEntry;
use outpost_core::bundle::{
    ExportSource, ExportedModel, FileEntry, ImportOutcome, MANIFEST_PATH, Manifest, ModelExport,
    ReleaseSignatures, Source, artifact_path, model_path,
};
use outpost_core::digest::{Digest, HashedContent, Sha256Hasher};
use outpost_core::lifecycle::Deployment;
use outpost_core::profile::ReferenceProfile;
use outpost_core::trust::Envelope;

use super::Env;
use super::push::{CopyOffer, offer_gzip_copy, parse_size, upload_file};
use super::versions::encode;
use crate::cli::{ExportArgs, ImportArgs};
use crate::http::{self, Client};
use crate::output;

/// The largest manifest an import reads into memory.
const MAX_METADATA_BYTES: u64 = 16 << 20;

/// The largest import request the registry takes (its JSON body limit):
/// a model export larger than this cannot be imported, so it is neither
/// written nor sent.
const MAX_EXPORT_JSON: usize = 1 << 20;

/// The longest path a GNU long-name entry may give (bundle paths are short).
const MAX_PATH_BYTES: u64 = 1024;

/// `MODEL` or `MODEL@VERSION` arguments, grouped by model: `None` for every
/// version.
fn selections(specs: &[String]) -> Result<BTreeMap<String, Option<BTreeSet<String>>>> {
    let mut chosen: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for spec in specs {
        match spec.split_once('@') {
            None => {
                chosen.insert(spec.clone(), None);
            }
            Some((model, version)) if !model.is_empty() && !version.is_empty() => {
                // A whole model asked for already stays whole.
                if let Some(versions) = chosen
                    .entry(model.to_owned())
                    .or_insert_with(|| Some(BTreeSet::new()))
                {
                    versions.insert(version.to_owned());
                }
            }
            Some(_) => bail!("`{spec}` is not MODEL or MODEL@VERSION"),
        }
    }
    Ok(chosen)
}

/// The versions asked for and every ancestor of theirs among `all`, so
/// that lineage holds in the importing registry.
fn with_ancestors(
    model: &str,
    all: &[VersionRecord],
    asked: &BTreeSet<String>,
) -> Result<Vec<VersionRecord>> {
    let by_version: BTreeMap<&str, &VersionRecord> =
        all.iter().map(|v| (v.version.as_str(), v)).collect();
    let mut keep = BTreeSet::new();
    for wanted in asked {
        let mut next = Some(wanted.as_str());
        let mut first = true;
        while let Some(version) = next {
            let Some(record) = by_version.get(version) else {
                if first {
                    bail!("{model} has no version {version} (outpost versions list {model})");
                }
                // A parent deleted since: the importing registry must have it.
                break;
            };
            first = false;
            if !keep.insert(record.version.clone()) {
                break;
            }
            next = record.parent_version.as_deref();
        }
    }
    Ok(all
        .iter()
        .filter(|v| keep.contains(&v.version))
        .cloned()
        .collect())
}

/// Every item of a paged list (`?limit=100&cursor=…`), in the order served.
fn all_pages<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_path = format!("{path}?limit=100");
        if let Some(cursor) = &cursor {
            page_path.push_str(&format!("&cursor={}", encode(cursor)));
        }
        let page: Page<T> = client.get(&page_path)?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

fn all_versions(client: &Client, model: &str) -> Result<Vec<VersionRecord>> {
    all_pages(client, &format!("/models/{model}/versions"))
}

/// The model's deployment history, oldest first.
fn all_history(client: &Client, model: &str) -> Result<Vec<Deployment>> {
    let mut items: Vec<Deployment> = all_pages(client, &format!("/models/{model}/history"))?;
    items.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
    Ok(items)
}

/// The organisation's audit entries about the model (`models/{model}` and
/// below), in chain order. Reading the audit log needs an operator token.
fn model_audit(client: &Client, model: &str) -> Result<Vec<AuditEntry>> {
    let prefix = format!("models/{model}");
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/audit?limit=200&target={}", encode(&prefix));
        if let Some(seq) = &after {
            path.push_str(&format!("&after={seq}"));
        }
        let reply = client.get_reply(&path)?;
        if reply.status == 403 {
            bail!(
                "exporting {model} needs its audit entries, which only an operator or admin token may read; export with such a token"
            );
        }
        let page: Page<AuditEntry> = http::decode(&reply)?;
        entries.extend(
            page.items
                .into_iter()
                .filter(|e| e.target == prefix || e.target.starts_with(&format!("{prefix}/"))),
        );
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return Ok(entries),
        }
    }
}

/// The reference profile of a version, if it has one.
fn profile(client: &Client, model: &str, version: &str) -> Result<Option<ReferenceProfile>> {
    let reply = client.get_reply(&format!("/models/{model}/versions/{version}/reference"))?;
    if reply.status == 404 {
        return Ok(None);
    }
    Ok(Some(http::decode(&reply)?))
}

/// The root chain and the newest release metadata, when the organisation
/// has a trust repository.
fn release_signatures(client: &Client) -> Result<Option<ReleaseSignatures>> {
    let reply = client.get_reply("/trust/root.json")?;
    if reply.status == 404 {
        return Ok(None);
    }
    let current: Envelope = http::decode(&reply)?;
    let version = current
        .signed
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| anyhow!("the registry's root.json has no version"))?;
    let mut roots = Vec::new();
    for n in 1..version {
        roots.push(client.get::<Envelope>(&format!("/trust/{n}.root.json"))?);
    }
    roots.push(current);
    let reply = client.get_reply("/trust/targets.json")?;
    if reply.status == 404 {
        return Ok(None);
    }
    Ok(Some(ReleaseSignatures {
        roots,
        targets: http::decode(&reply)?,
    }))
}

/// Downloads an artifact into `dir`, hashing it on the way; refuses bytes
/// that are not exactly the version's digest and size.
fn download(client: &Client, version: &VersionRecord, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(version.digest.hex());
    let (status, body) = client.get_stream(&format!("/blobs/sha256/{}", version.digest.hex()))?;
    if status != 200 {
        let mut text = String::new();
        body.take(64 << 10).read_to_string(&mut text).ok();
        return Err(http::error_from(&http::Reply { status, body: text }));
    }
    let mut file = BufWriter::new(File::create(&path)?);
    let received = copy_hashing(&mut body.take(version.size + 1), &mut file)?;
    file.flush()?;
    received
        .expect(&version.digest, version.size)
        .map_err(|e| {
            anyhow!(
                "{}@{}: the registry sent other bytes than it recorded ({e}); nothing was exported",
                version.model,
                version.version
            )
        })?;
    Ok(path)
}

/// Copies `from` into `to`, hashing what passes.
pub(super) fn copy_hashing(from: &mut impl Read, to: &mut impl Write) -> Result<HashedContent> {
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
}

fn file_entry(path: &Path) -> Result<FileEntry> {
    let mut file = BufReader::new(File::open(path)?);
    let hashed = copy_hashing(&mut file, &mut std::io::sink())?;
    Ok(FileEntry {
        sha256: hashed.digest,
        size: hashed.length,
    })
}

fn append(
    builder: &mut tar::Builder<BufWriter<File>>,
    path: &str,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, path, data)
        .with_context(|| format!("writing {path} into the bundle"))
}

/// `outpost export MODEL[@VERSION]… -o bundle.tar`.
pub fn export(env: &Env, args: &ExportArgs) -> Result<ExitCode> {
    let client = env.client()?;
    let chosen = selections(&args.models)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let exported_at = i64::try_from(now)?;
    let source = ExportSource {
        registry: env.settings.url()?.to_owned(),
        org: env.settings.org()?.to_owned(),
        exported_at,
    };
    let scratch = tempfile::tempdir()?;
    let release = release_signatures(&client)?;
    // path in the bundle → file on disk
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut summary = Vec::new();
    for (model, asked) in &chosen {
        let record: ModelRecord = client.get(&format!("/models/{model}"))?;
        let all = all_versions(&client, model)?;
        let mut versions = match asked {
            None => all,
            Some(asked) => with_ancestors(model, &all, asked)?,
        };
        // Oldest first, as they were registered (and as an import takes them).
        versions.sort_by(|a, b| (a.created_at, &a.version).cmp(&(b.created_at, &b.version)));
        let mut profiles = BTreeMap::new();
        for version in &versions {
            if let Some(p) = profile(&client, model, &version.version)? {
                profiles.insert(version.version.clone(), p);
            }
            let path = artifact_path(&version.digest);
            if let std::collections::btree_map::Entry::Vacant(slot) = files.entry(path) {
                slot.insert(download(&client, version, scratch.path())?);
            }
        }
        let export = ModelExport {
            source: source.clone(),
            model: ExportedModel {
                name: record.name.clone(),
                description: record.description,
                owner: record.owner,
                tags: record.tags,
                primary_metric: record.primary_metric,
                created_at: record.created_at,
                created_by: record.created_by,
            },
            profiles,
            history: all_history(&client, model)?,
            audit: model_audit(&client, model)?,
            release: release.clone(),
            versions,
        };
        // What an import would refuse is refused here, before writing.
        export
            .check()
            .map_err(|e| anyhow!("{model} cannot be exported as it is: {e}"))?;
        let compact = serde_json::to_vec(&export)?.len();
        if compact > MAX_EXPORT_JSON {
            bail!(
                "{model}'s export is {compact} bytes of JSON, more than the {MAX_EXPORT_JSON} bytes one import takes (long histories and audit logs count); nothing was written"
            );
        }
        let json_path = scratch.path().join(format!("{model}.json"));
        std::fs::write(&json_path, serde_json::to_vec_pretty(&export)?)?;
        files.insert(model_path(model), json_path);
        summary.push(serde_json::json!({
            "model": model,
            "versions": export.versions.iter().map(|v| v.version.clone()).collect::<Vec<_>>(),
            "history": export.history.len(),
            "audit": export.audit.len(),
            "signed": export.release.is_some(),
        }));
    }

    let mut entries = BTreeMap::new();
    for (path, on_disk) in &files {
        entries.insert(path.clone(), file_entry(on_disk)?);
    }
    let manifest = Manifest::new(
        exported_at,
        Source {
            registry: source.registry.clone(),
            org: source.org.clone(),
        },
        entries,
    );
    manifest.validate()?;
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;

    let partial = args.output.with_extension("partial");
    let written = (|| -> Result<()> {
        let mut builder = tar::Builder::new(BufWriter::new(File::create(&partial)?));
        let mtime = u64::try_from(exported_at / 1000)?;
        append(
            &mut builder,
            MANIFEST_PATH,
            manifest_bytes.len() as u64,
            mtime,
            manifest_bytes.as_slice(),
        )?;
        // Models first, then artifacts: an importer learns what it reads.
        let (models, artifacts): (Vec<_>, Vec<_>) = files
            .iter()
            .partition(|(path, _)| path.starts_with("models/"));
        for (path, on_disk) in models.into_iter().chain(artifacts) {
            let size = manifest.files[path].size;
            append(&mut builder, path, size, mtime, File::open(on_disk)?)?;
        }
        let mut out = builder.into_inner()?;
        out.flush()?;
        out.get_ref().sync_all()?;
        Ok(())
    })();
    if let Err(err) = written {
        std::fs::remove_file(&partial).ok();
        return Err(err.context(format!("writing {}", args.output.display())));
    }
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("moving the bundle to {}", args.output.display()))?;

    if env.json {
        output::print_json(&serde_json::json!({
            "bundle": args.output, "manifest_sha256": Digest::of(&manifest_bytes),
            "models": summary, "files": manifest.files.len(),
        }))?;
    } else {
        println!("exported to {}", args.output.display());
        for model in &summary {
            println!(
                "  {}: versions {}; {} history entries, {} audit entries{}",
                model["model"].as_str().unwrap_or_default(),
                model["versions"]
                    .as_array()
                    .map(|v| v
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                model["history"],
                model["audit"],
                if model["signed"] == true {
                    ", release signatures"
                } else {
                    ""
                }
            );
        }
        println!(
            "  manifest sha256 {} ({} files)",
            Digest::of(&manifest_bytes),
            manifest.files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A bundle read and checked: the manifest and where each file went.
struct Unpacked {
    manifest: Manifest,
    on_disk: BTreeMap<String, PathBuf>,
}

/// Reads a bundle into `dir`, every file checked against the manifest;
/// anything else in the tar (links, directories, devices, unlisted or
/// repeated paths, a byte that differs) refuses the whole bundle.
fn unpack(bundle: &Path, dir: &Path) -> Result<Unpacked> {
    let file = File::open(bundle).with_context(|| format!("opening {}", bundle.display()))?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut entries = archive
        .entries()
        .with_context(|| format!("{} is not a tar file", bundle.display()))?
        .raw(true);
    let mut first = entries
        .next()
        .ok_or_else(|| anyhow!("{} is empty", bundle.display()))??;
    if first.path_bytes().as_ref() != MANIFEST_PATH.as_bytes() {
        bail!(
            "{} does not start with {MANIFEST_PATH}: it is not an Outpost bundle",
            bundle.display()
        );
    }
    if first.size() > MAX_METADATA_BYTES {
        bail!("the bundle's manifest is larger than {MAX_METADATA_BYTES} bytes");
    }
    let mut text = Vec::new();
    first.read_to_end(&mut text)?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| anyhow!("the bundle's manifest is not valid: {e}"))?;
    manifest.validate()?;

    let mut on_disk = BTreeMap::new();
    // Entries are read raw, so that a GNU long name is read here, capped,
    // rather than whole into memory by the tar reader.
    let mut long_name: Option<Vec<u8>> = None;
    for (index, entry) in entries.enumerate() {
        let mut entry = entry?;
        match entry.header().entry_type() {
            tar::EntryType::GNULongName => {
                if entry.size() > MAX_PATH_BYTES {
                    bail!("the bundle has a path longer than {MAX_PATH_BYTES} bytes");
                }
                let mut name = Vec::new();
                entry.read_to_end(&mut name)?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some(name);
                continue;
            }
            tar::EntryType::Regular => {}
            other => {
                bail!("the bundle has an entry of type {other:?}; only regular files belong in one")
            }
        }
        let raw_path = long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let path = String::from_utf8(raw_path)
            .map_err(|_| anyhow!("the bundle has a path that is not UTF-8"))?;
        if on_disk.contains_key(&path) {
            bail!(outpost_core::bundle::BundleError::Duplicate(path));
        }
        let listed = manifest
            .files
            .get(&path)
            .ok_or_else(|| outpost_core::bundle::BundleError::Unlisted(path.clone()))?;
        let target = dir.join(format!("{index}"));
        let mut out = BufWriter::new(File::create(&target)?);
        // Never more than one byte past what the manifest lists.
        let received = copy_hashing(&mut (&mut entry).take(listed.size + 1), &mut out)?;
        out.flush()?;
        manifest.check_entry(&path, &received)?;
        on_disk.insert(path, target);
    }
    manifest.check_complete(&on_disk.keys().cloned().collect())?;
    Ok(Unpacked { manifest, on_disk })
}

/// The export's release signatures descend from `pinned`: the bundle's
/// root chain (verified link by link by `ModelExport::check`) contains
/// exactly that root.
fn descends_from(export: &ModelExport, pinned: &Envelope) -> Result<()> {
    let release = export.release.as_ref().ok_or_else(|| {
        anyhow!("--source-root was given, but the bundle carries no release signatures to check")
    })?;
    let want = outpost_core::trust::state::root_fingerprint(pinned)?;
    let mut seen = Vec::new();
    for root in &release.roots {
        let got = outpost_core::trust::state::root_fingerprint(root)?;
        if got == want {
            return Ok(());
        }
        seen.push(got.to_string());
    }
    bail!(
        "the bundle's release signatures do not descend from the root you gave ({want}); its roots are {}",
        seen.join(", ")
    )
}

/// `outpost import BUNDLE`.
pub fn import(env: &Env, args: &ImportArgs) -> Result<ExitCode> {
    let client = env.client()?;
    let part_size = parse_size(&args.part_size)?;
    let scratch = tempfile::tempdir()?;
    let unpacked = unpack(&args.bundle, scratch.path()).map_err(|e| {
        anyhow!(
            "{} was refused, nothing was imported: {e}",
            args.bundle.display()
        )
    })?;
    let pinned: Option<Envelope> = args
        .source_root
        .as_deref()
        .map(|path| -> Result<Envelope> {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&text)
                .map_err(|e| anyhow!("{} is not root metadata: {e}", path.display()))
        })
        .transpose()?;
    // Every model checked, and every artifact it needs present, before
    // anything is sent.
    let mut exports = Vec::new();
    for model in &unpacked.manifest.models {
        let path = &unpacked.on_disk[&model_path(model)];
        let size = std::fs::metadata(path)?.len();
        if size > MAX_METADATA_BYTES {
            bail!("{model}'s file is larger than {MAX_METADATA_BYTES} bytes");
        }
        let export: ModelExport = serde_json::from_slice(&std::fs::read(path)?)
            .map_err(|e| anyhow!("{model}'s file in the bundle is not a model export: {e}"))?;
        if export.model.name != *model {
            bail!(
                "models/{model}.json holds model `{}`; refusing the bundle",
                export.model.name
            );
        }
        export
            .check()
            .map_err(|e| anyhow!("{model} cannot be imported, nothing was imported: {e}"))?;
        let compact = serde_json::to_vec(&export)?.len();
        if compact > MAX_EXPORT_JSON {
            bail!(
                "{model}'s export is {compact} bytes of JSON, more than the {MAX_EXPORT_JSON} bytes one import takes; nothing was imported"
            );
        }
        if let Some(pinned) = &pinned {
            descends_from(&export, pinned)
                .map_err(|e| anyhow!("{model} cannot be imported, nothing was imported: {e}"))?;
        }
        for version in &export.versions {
            if !unpacked
                .on_disk
                .contains_key(&artifact_path(&version.digest))
            {
                bail!(
                    "the bundle lacks the artifact of {model}@{} ({}); nothing was imported",
                    version.version,
                    version.digest
                );
            }
        }
        exports.push(export);
    }
    let mut outcomes = Vec::new();
    for export in &exports {
        for version in &export.versions {
            let path = &unpacked.on_disk[&artifact_path(&version.digest)];
            upload_file(&client, path, version.digest, version.size, part_size).with_context(
                || {
                    format!(
                        "uploading {}@{}; run the same import again to resume",
                        version.model, version.version
                    )
                },
            )?;
        }
        let outcome: ImportOutcome = client
            .send("POST", &format!("/models/{}/imports", export.model.name), export)
            .with_context(|| {
                format!(
                    "importing {}; the registry wrote nothing for it (uploaded artifacts are collected if unused)",
                    export.model.name
                )
            })?;
        // As `outpost push` does: a gzip copy of each artifact, kept when it
        // saves enough. Only bytes saved on the way to clients, so a copy
        // that is refused (an organisation sealed at rest) is reported, not
        // an error.
        let mut copies = (0, Vec::new());
        let digests: BTreeSet<_> = export.versions.iter().map(|v| (v.digest, v.size)).collect();
        for (digest, size) in digests {
            let path = &unpacked.on_disk[&artifact_path(&digest)];
            match offer_gzip_copy(&client, path, digest, size) {
                Ok(CopyOffer::Kept(_)) => copies.0 += 1,
                Ok(CopyOffer::NotWorthIt { .. } | CopyOffer::TooLarge { .. }) => {}
                Err(err) => copies.1.push(format!("{digest}: {err:#}")),
            }
        }
        if !env.json && copies.0 > 0 {
            println!(
                "{}: gzip copies kept for {} artifact(s)",
                export.model.name, copies.0
            );
        }
        if let Some(first) = copies.1.first() {
            eprintln!(
                "note: {} artifact(s) of {} have no gzip copy and are sent uncompressed ({first})",
                copies.1.len(),
                export.model.name
            );
        }
        outcomes.push(outcome);
    }
    if env.json {
        output::print_json(&outcomes)?;
    } else {
        for outcome in &outcomes {
            let r = &outcome.record;
            if outcome.unchanged {
                println!(
                    "{}: this export was imported already ({}); nothing changed",
                    r.model, r.id
                );
                continue;
            }
            println!(
                "imported {} from {} (org {}): {} version(s) added{}",
                r.model,
                r.source.registry,
                r.source.org,
                r.added.len(),
                if r.added.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.added.join(", "))
                }
            );
            if !r.present.is_empty() {
                println!("  already here: {}", r.present.join(", "));
            }
            if let Some(root) = &r.root {
                println!(
                    "  release signatures verified for: {} (source root {root}; {})",
                    if r.released.is_empty() {
                        "no version".to_owned()
                    } else {
                        r.released.join(", ")
                    },
                    if pinned.is_some() {
                        "descends from the root you gave"
                    } else {
                        "the bundle's own root: pass --source-root to check it is the source's"
                    }
                );
            }
            println!(
                "  kept as history: {} deployment(s), {} audit entr{}; stages are not moved — promote here",
                r.history.len(),
                r.audit.len(),
                if r.audit.len() == 1 { "y" } else { "ies" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn version(v: &str, parent: Option<&str>) -> VersionRecord {
        serde_json::from_value(serde_json::json!({
            "model": "fraud", "version": v, "digest": Digest::of(v.as_bytes()), "size": 1,
            "format": "onnx", "framework": null, "schema": null, "metrics": {}, "params": {},
            "dataset_version": null, "parent_version": parent, "tags": [], "notes": "",
            "author": "a", "created_at": 1, "status": "ready", "status_reason": null,
        }))
        .unwrap()
    }

    #[test]
    fn a_version_brings_its_ancestors() {
        let all = vec![
            version("1.0.0", None),
            version("1.1.0", Some("1.0.0")),
            version("1.2.0", Some("1.1.0")),
            version("2.0.0", None),
        ];
        let asked = BTreeSet::from(["1.2.0".to_owned()]);
        let kept: Vec<String> = with_ancestors("fraud", &all, &asked)
            .unwrap()
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(kept, ["1.0.0", "1.1.0", "1.2.0"]);
        let missing = BTreeSet::from(["9.0.0".to_owned()]);
        assert!(with_ancestors("fraud", &all, &missing).is_err());
    }

    /// Writes a bundle of `files` (manifest first, from their hashes) as
    /// export does, plus `extra` entries the manifest does not know.
    fn bundle_of(
        dir: &Path,
        files: &[(&str, &[u8])],
        extra: impl FnOnce(&mut tar::Builder<BufWriter<File>>),
    ) -> PathBuf {
        let entries = files
            .iter()
            .map(|(path, bytes)| {
                (
                    (*path).to_owned(),
                    FileEntry {
                        sha256: Digest::of(bytes),
                        size: bytes.len() as u64,
                    },
                )
            })
            .collect();
        let manifest = Manifest::new(
            1,
            Source {
                registry: "http://x".into(),
                org: "acme".into(),
            },
            entries,
        );
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let path = dir.join("bundle.tar");
        let mut builder = tar::Builder::new(BufWriter::new(File::create(&path).unwrap()));
        append(
            &mut builder,
            MANIFEST_PATH,
            manifest.len() as u64,
            0,
            manifest.as_slice(),
        )
        .unwrap();
        for (name, bytes) in files {
            append(&mut builder, name, bytes.len() as u64, 0, *bytes).unwrap();
        }
        extra(&mut builder);
        builder.into_inner().unwrap().flush().unwrap();
        path
    }

    #[test]
    fn a_long_model_name_round_trips_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("models/{}.json", "m".repeat(120));
        let bundle = bundle_of(dir.path(), &[(long.as_str(), b"{}")], |_| {});
        let out = tempfile::tempdir().unwrap();
        let unpacked = unpack(&bundle, out.path()).unwrap();
        assert!(unpacked.on_disk.contains_key(&long), "GNU long name read");

        let linked = bundle_of(dir.path(), &[("models/fraud.json", b"{}")], |builder| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, "models/other.json", "/etc/passwd")
                .unwrap();
        });
        let err = unpack(&linked, out.path()).err().unwrap().to_string();
        assert!(err.contains("only regular files"), "{err}");
    }

    #[test]
    fn specs_group_by_model() {
        let chosen = selections(&[
            "fraud@1.0.0".into(),
            "fraud@1.1.0".into(),
            "churn".into(),
            "churn@2.0.0".into(),
        ])
        .unwrap();
        assert_eq!(chosen["fraud"].as_ref().unwrap().len(), 2);
        assert_eq!(chosen["churn"], None, "the whole model wins");
        assert!(selections(&["@1.0.0".into()]).is_err());
    }
}
