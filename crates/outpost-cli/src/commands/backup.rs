//! `outpost backup` and `outpost restore`: an organisation copied into a
//! directory and written back into a registry that does not have it
//! (`outpost_core::backup`; the layout is documented in `docs/backup.md`).
//!
//! Backup reads every table a backup carries, page by page, and downloads
//! the artifacts its `blobs` rows name, each re-hashed; an artifact already
//! in the directory with the right digest is kept, not downloaded again.
//! Table files are named by their hash and the manifest is renamed into
//! place last, so a backup that fails leaves the previous one whole.
//!
//! Restore checks the whole directory first (manifest, every table file's
//! hash, every artifact re-hashed, artifacts and `blobs` rows naming the
//! same set), then sends the rows table by table and the artifacts right
//! after the `blobs` rows, skipping what an interrupted run already wrote.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use outpost_core::backup::{
    ARTIFACT_TABLE, ArtifactFile, FORMAT, FORMAT_VERSION, Manifest, Page, RestoreFinished,
    RestoreProgress, TABLES, TableFile, artifact_path,
};
use outpost_core::digest::{Digest, HashedContent};
use serde::Deserialize;
use serde_json::Value;

use super::Env;
use super::bundle::copy_hashing;
use crate::cli::{BackupArgs, RestoreArgs};
use crate::http::{self, Client};
use crate::output;

const MANIFEST: &str = "backup.json";

/// A restore request's rows stay under this many bytes of JSON (the
/// registry takes 1 MiB).
const MAX_PAGE_JSON: usize = 512 << 10;

/// The largest artifact a restore sends: one request, and Cloudflare
/// takes request bodies up to 100 MB on every plan.
const MAX_RESTORE_ARTIFACT: u64 = 100_000_000;

#[derive(Deserialize)]
struct ServedPage {
    table: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    next: Option<i64>,
}

fn hash_file(path: &Path) -> Result<HashedContent> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    copy_hashing(&mut BufReader::new(file), &mut std::io::sink())
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The organisation's rows of one table, every page of them.
fn read_table(client: &Client, table: &str) -> Result<Page> {
    let mut page = Page {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    let mut after = 0;
    loop {
        let reply = client.get_reply(&format!("/backup/tables/{table}?after={after}"))?;
        if reply.status == 403 {
            bail!(
                "a backup reads every row of the organisation, which only an admin token may: back up with one (outpost token create NAME --role admin)"
            );
        }
        let served: ServedPage = http::decode(&reply)?;
        if served.table != table {
            bail!(
                "the registry answered with table `{}` for `{table}`",
                served.table
            );
        }
        if !page.columns.is_empty() && page.columns != served.columns {
            bail!("the columns of `{table}` changed while it was read; back up again");
        }
        page.columns = served.columns;
        page.rows.extend(served.rows);
        match served.next {
            Some(next) if next > after => after = next,
            Some(_) => bail!("the registry's pages of `{table}` did not move on"),
            None => return Ok(page),
        }
    }
}

/// The artifacts a `blobs` page names: `(digest, size)` of each row.
fn artifacts_of(blobs: &Page) -> Result<Vec<ArtifactFile>> {
    let column = |name: &str| {
        blobs
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| anyhow!("the `blobs` rows have no `{name}` column"))
    };
    let (digest, size) = (column("digest")?, column("size")?);
    blobs
        .rows
        .iter()
        .map(|row| {
            let text = row[digest]
                .as_str()
                .ok_or_else(|| anyhow!("a `blobs` row's digest is not text"))?;
            Ok(ArtifactFile {
                digest: text
                    .parse()
                    .map_err(|e| anyhow!("a `blobs` row's digest `{text}`: {e}"))?,
                size: row[size]
                    .as_u64()
                    .ok_or_else(|| anyhow!("the size of {text} is not a byte count"))?,
            })
        })
        .collect()
}

/// Downloads an artifact into `path` unless it is there with the right
/// bytes; `true` when it was downloaded.
fn fetch_artifact(client: &Client, artifact: &ArtifactFile, path: &Path) -> Result<bool> {
    if path.exists()
        && hash_file(path)?
            .expect(&artifact.digest, artifact.size)
            .is_ok()
    {
        return Ok(false);
    }
    let (status, body) = client.get_stream(&format!("/blobs/sha256/{}", artifact.digest.hex()))?;
    if status != 200 {
        let mut text = String::new();
        body.take(64 << 10).read_to_string(&mut text).ok();
        return Err(http::error_from(&http::Reply { status, body: text }));
    }
    let partial = path.with_extension("partial");
    let mut file = BufWriter::new(
        File::create(&partial).with_context(|| format!("creating {}", partial.display()))?,
    );
    let received = copy_hashing(&mut body.take(artifact.size + 1), &mut file)?;
    file.flush()?;
    drop(file);
    if let Err(e) = received.expect(&artifact.digest, artifact.size) {
        let _ = fs::remove_file(&partial);
        bail!(
            "the registry sent other bytes for {} than it recorded ({e}); the backup is not updated",
            artifact.digest
        );
    }
    fs::rename(&partial, path)?;
    Ok(true)
}

pub fn backup(env: &Env, args: &BackupArgs) -> Result<ExitCode> {
    let url = env.settings.url()?;
    let org = match &args.org {
        Some(org) => org.as_str(),
        None => env.settings.org()?,
    };
    let client = Client::new(url, org, env.settings.token()?);
    let dir = &args.to;
    fs::create_dir_all(dir.join("tables"))
        .and_then(|()| fs::create_dir_all(dir.join("artifacts/sha256")))
        .with_context(|| format!("creating the backup directory {}", dir.display()))?;

    // Children before parents (TABLES backwards): a row written while
    // the backup reads can then only be missing from a child table, never
    // name a parent the backup lacks, so the backup restores.
    let mut pages = Vec::new();
    for table in TABLES.iter().rev() {
        pages.push(read_table(&client, table.name)?);
    }
    pages.reverse();
    let mut tables = Vec::new();
    let mut artifacts = Vec::new();
    let mut written = Vec::new();
    for (table, page) in TABLES.iter().zip(pages) {
        if table.name == ARTIFACT_TABLE {
            artifacts = artifacts_of(&page)?;
        }
        let bytes = serde_json::to_vec(&page)?;
        let entry = TableFile {
            name: table.name.to_owned(),
            rows: page.rows.len() as u64,
            sha256: Digest::of(&bytes).hex(),
        };
        let path = dir.join(entry.path());
        if !path.exists() {
            write_whole(&path, &bytes)?;
        }
        written.push(entry.path());
        tables.push(entry);
    }
    let (mut copied, mut kept) = (0, 0);
    for artifact in &artifacts {
        if fetch_artifact(
            &client,
            artifact,
            &dir.join(artifact_path(&artifact.digest)),
        )? {
            copied += 1;
        } else {
            kept += 1;
        }
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        org: org.to_owned(),
        taken_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        registry: url.to_owned(),
        tables,
        artifacts,
    };
    write_whole(&dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    // Table files of earlier backups: the manifest no longer names them.
    let keep: BTreeSet<String> = written.into_iter().collect();
    for entry in fs::read_dir(dir.join("tables"))?.flatten() {
        let name = format!("tables/{}", entry.file_name().to_string_lossy());
        if !keep.contains(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
    if env.json {
        output::print_json(&serde_json::json!({
            "org": org,
            "dir": dir,
            "rows": manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
            "artifacts": manifest.artifacts.len(),
            "artifacts_copied": copied,
            "artifacts_kept": kept,
        }))?;
    } else {
        println!(
            "backed up `{org}` to {}: {} rows in {} tables, {} artifacts ({copied} downloaded, {kept} already there)",
            dir.display(),
            manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
            manifest.tables.len(),
            manifest.artifacts.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A backup directory, checked whole: the manifest, every table file by
/// its hash, every artifact re-hashed, and the artifacts the same set the
/// `blobs` rows name.
struct Checked {
    manifest: Manifest,
    pages: Vec<Page>,
}

fn check_directory(dir: &Path) -> Result<Checked> {
    let manifest_path = dir.join(MANIFEST);
    let text = fs::read(&manifest_path).with_context(|| {
        format!(
            "{} is missing: {} is not a backup written by `outpost backup`",
            manifest_path.display(),
            dir.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?;
    manifest
        .check()
        .map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    let mut pages = Vec::new();
    for table in &manifest.tables {
        let path = dir.join(table.path());
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if Digest::of(&bytes).hex() != table.sha256 {
            bail!(
                "{} is not the file the manifest lists (its SHA-256 differs): the backup was changed; nothing was restored",
                path.display()
            );
        }
        let page: Page = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a table of rows", path.display()))?;
        if page.rows.len() as u64 != table.rows {
            bail!(
                "{} holds {} rows, the manifest says {}",
                path.display(),
                page.rows.len(),
                table.rows
            );
        }
        pages.push(page);
    }
    let blobs = TABLES
        .iter()
        .position(|t| t.name == ARTIFACT_TABLE)
        .map(|i| &pages[i])
        .ok_or_else(|| anyhow!("no `{ARTIFACT_TABLE}` table"))?;
    let named: BTreeSet<_> = artifacts_of(blobs)?
        .into_iter()
        .map(|a| (a.digest, a.size))
        .collect();
    let listed: BTreeSet<_> = manifest
        .artifacts
        .iter()
        .map(|a| (a.digest, a.size))
        .collect();
    if named != listed {
        bail!(
            "the manifest's artifacts are not the ones the `blobs` rows name; nothing was restored"
        );
    }
    for artifact in &manifest.artifacts {
        if artifact.size > MAX_RESTORE_ARTIFACT {
            bail!(
                "{} is {} bytes, more than a restore sends in one request ({MAX_RESTORE_ARTIFACT}, Cloudflare's request body limit); nothing was restored",
                artifact.digest,
                artifact.size,
            );
        }
        let path = dir.join(artifact_path(&artifact.digest));
        hash_file(&path)?
            .expect(&artifact.digest, artifact.size)
            .map_err(|e| {
                anyhow!(
                    "{} is not the artifact it names ({e}); nothing was restored",
                    path.display()
                )
            })?;
    }
    Ok(Checked { manifest, pages })
}

/// The rows of `page` from `skip` on, in requests under [`MAX_PAGE_JSON`].
fn chunks(page: &Page, skip: usize) -> Result<Vec<Page>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for row in &page.rows[skip..] {
        let size = serde_json::to_string(row)?.len() + 1;
        if size > MAX_PAGE_JSON {
            bail!("a row of {size} bytes is more than a restore request takes");
        }
        if bytes + size > MAX_PAGE_JSON || current.len() == 500 {
            out.push(Page {
                columns: page.columns.clone(),
                rows: std::mem::take(&mut current),
            });
            bytes = 0;
        }
        bytes += size;
        current.push(row.clone());
    }
    if !current.is_empty() {
        out.push(Page {
            columns: page.columns.clone(),
            rows: current,
        });
    }
    Ok(out)
}

fn restore_artifacts(client: &Client, dir: &Path, artifacts: &[ArtifactFile]) -> Result<()> {
    for artifact in artifacts {
        let path = dir.join(artifact_path(&artifact.digest));
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let reply = client.put_stream(
            &format!("/blobs/sha256/{}", artifact.digest.hex()),
            artifact.size,
            BufReader::new(file),
        )?;
        if reply.status != 200 {
            return Err(http::error_from(&reply));
        }
    }
    Ok(())
}

pub fn restore(env: &Env, args: &RestoreArgs) -> Result<ExitCode> {
    let url = env.settings.url()?;
    let Checked { manifest, pages } = check_directory(&args.dir)?;
    let org = &manifest.org;
    let client = Client::restoring(url, org, &args.bootstrap_secret);
    let reply = client.send_reply("POST", "", &serde_json::json!({}))?;
    if reply.status == 401 || reply.status == 403 {
        return Err(http::error_from(&reply).context(
            "a restore is authorised by the restoring registry's bootstrap secret (--bootstrap-secret or OUTPOST_BOOTSTRAP_SECRET)",
        ));
    }
    let progress: RestoreProgress = http::decode(&reply)?;
    let mut sent = 0u64;
    for (table, page) in manifest.tables.iter().zip(&pages) {
        let held = progress.rows.get(&table.name).copied().unwrap_or(0);
        if held > table.rows {
            bail!(
                "the registry holds {held} rows of `{}` for `{org}`, more than the backup's {}: it is not this backup's restore; restore into an empty registry",
                table.name,
                table.rows
            );
        }
        for chunk in chunks(page, held as usize)? {
            let reply = client.send_reply("POST", &format!("/tables/{}", table.name), &chunk)?;
            #[derive(Deserialize)]
            struct Restored {
                restored: u64,
            }
            let restored: Restored = http::decode(&reply)?;
            if restored.restored != chunk.rows.len() as u64 {
                bail!(
                    "the registry wrote {} of {} rows of `{}`",
                    restored.restored,
                    chunk.rows.len(),
                    table.name
                );
            }
            sent += restored.restored;
        }
        if table.name == ARTIFACT_TABLE {
            restore_artifacts(&client, &args.dir, &manifest.artifacts)?;
        }
    }
    let finished: RestoreFinished = client.send("POST", "/finish", &serde_json::json!({}))?;
    if env.json {
        output::print_json(&finished)?;
    } else {
        println!(
            "restored `{org}` into {url}: {sent} rows written now ({} in the backup), {} artifacts{}",
            manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
            finished.artifacts,
            if finished.sealed {
                "; its artifacts are sealed at rest in the background"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunks_skip_what_was_written_and_stay_small() {
        let page = Page {
            columns: vec!["org".into(), "v".into()],
            rows: (0..1200).map(|i| vec![json!("a"), json!(i)]).collect(),
        };
        let sent = chunks(&page, 100).expect("small rows");
        assert_eq!(sent.iter().map(|c| c.rows.len()).sum::<usize>(), 1100);
        assert!(sent.iter().all(|c| c.rows.len() <= 500));
        assert_eq!(sent[0].rows[0][1], json!(100));
        let big = Page {
            columns: vec!["org".into()],
            rows: (0..3).map(|_| vec![json!("x".repeat(300 << 10))]).collect(),
        };
        assert_eq!(chunks(&big, 0).expect("rows fit").len(), 3);
    }
}
