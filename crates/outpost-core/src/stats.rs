//! Registry statistics (`GET /v1/orgs/{org}/stats`, `outpost stats`): what
//! an organisation holds — models, versions, what each stage routes to,
//! bytes stored — and how much it is used: resolves and downloads per model
//! over the last 24 hours and 30 days.
//!
//! Usage is counted per hour (`usage_counts`, one row per organisation,
//! kind, subject and hour). Resolves are counted per model; artifact
//! downloads through the blobs route per digest (`sha256:…`), then
//! attributed here to every model with a version of that artifact (content
//! is deduplicated per organisation, so one download of bytes two models
//! share counts for both), and through the TUF targets route per model
//! (`model:NAME`). A download is a 200, or a 206 from the first byte (a
//! download resumed in parts counts once). Each isolate holds its counts
//! in memory ([`Pending`]) and writes them after a request once a minute
//! has passed or a thousand events are held, after the cron and before
//! `/stats` reads — never a write per resolve (issue "Edge-native hot
//! path"). So another isolate's counts arrive with its next request after
//! a minute, and an isolate evicted while it holds counts loses them:
//! statistics, not an audit.
//!
//! Bytes: *logical* is the sum of the versions' sizes, *stored* the sum of
//! the distinct artifacts' sizes (the R2 objects); `dedup_ratio` is logical
//! ÷ stored. An artifact may also have a gzip copy (`crate::content_coding`),
//! sent to clients that accept gzip: *compressed* is the sum over the
//! distinct artifacts of the smaller of the two, what such a client
//! downloads once of each, and `compression_ratio` is stored ÷ compressed
//! (1 when no artifact has a copy). The copies are kept beside the
//! artifacts, so R2 holds stored + (Σ copies) bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Stage, StageState};

/// One hour, in ms: the width of a usage bucket.
pub const HOUR_MS: i64 = 3_600_000;

/// What is counted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// A director-signed resolution answered (200), counted per model.
    Resolve,
    /// Artifact bytes served (200 or 206 to a GET), counted per digest.
    Download,
}

impl UsageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageKind::Resolve => "resolve",
            UsageKind::Download => "download",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "resolve" => Some(UsageKind::Resolve),
            "download" => Some(UsageKind::Download),
            _ => None,
        }
    }
}

/// Whether an answer to a resolve or download request counts as a use:
/// a GET answered 200, or 206 for a range from the first byte (a download
/// resumed in parts counts once). A HEAD, a 304 or a refusal does not.
pub fn is_counted(get: bool, status: u16, range: Option<&str>) -> bool {
    get && (status == 200
        || (status == 206 && range.is_some_and(|r| r.trim_start().starts_with("bytes=0-"))))
}

/// The start of the hour holding `at_ms`.
pub fn hour_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// The first hour counted in the last 24 hours and the last 30 days before
/// `now_ms`: the hour `now` is in and the 23 (719) whole hours before it.
pub fn windows(now_ms: i64) -> (i64, i64) {
    let now = hour_of(now_ms);
    (now - 23 * HOUR_MS, now - (30 * 24 - 1) * HOUR_MS)
}

/// Counts of one kind over the two windows.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Usage {
    pub last_24h: u64,
    pub last_30d: u64,
}

/// One usage row as stored: the counts of `subject` (a model name for
/// resolves, a digest for downloads) summed over each window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub kind: UsageKind,
    pub subject: String,
    pub usage: Usage,
}

/// One model's versions and bytes as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelHoldings {
    pub model: String,
    pub versions: u64,
    /// Σ of its versions' sizes (bytes).
    pub logical_bytes: u64,
    /// Σ of its distinct artifacts' sizes (bytes).
    pub stored_bytes: u64,
    /// Σ over its distinct artifacts of the smaller of the artifact and
    /// its gzip copy (bytes).
    pub compressed_bytes: u64,
    /// Its versions' digests.
    pub digests: BTreeSet<String>,
}

/// The organisation's bytes as stored: every version, and every artifact
/// (also those no version refers to yet, or any more, until the cron
/// collects them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgHoldings {
    pub logical_bytes: u64,
    pub stored_bytes: u64,
    /// As [`ModelHoldings::compressed_bytes`], over every artifact.
    pub compressed_bytes: u64,
    pub artifacts: u64,
}

/// Bytes, with the ratios between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Storage {
    /// Σ of the versions' sizes (bytes).
    pub logical_bytes: u64,
    /// Σ of the distinct artifacts' sizes (bytes): what R2 holds.
    pub stored_bytes: u64,
    /// Σ over the distinct artifacts of the smaller of the artifact and its
    /// gzip copy (bytes): what a client accepting gzip downloads once of
    /// each.
    pub compressed_bytes: u64,
    /// logical ÷ stored (1 when nothing is stored).
    pub dedup_ratio: f64,
    /// stored ÷ compressed (1 when no artifact has a gzip copy).
    pub compression_ratio: f64,
}

impl Storage {
    fn of(logical_bytes: u64, stored_bytes: u64, compressed_bytes: u64) -> Self {
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        Storage {
            logical_bytes,
            stored_bytes,
            compressed_bytes,
            dedup_ratio: ratio(logical_bytes, stored_bytes),
            compression_ratio: ratio(stored_bytes, compressed_bytes),
        }
    }
}

/// One model's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelStats {
    pub model: String,
    pub versions: u64,
    /// The versions each stage routes to now (stable, canary, variants and
    /// shadow); stages with nothing deployed are left out.
    pub stages: BTreeMap<Stage, Vec<String>>,
    pub storage: Storage,
    pub resolves: Usage,
    pub downloads: Usage,
}

/// `GET /v1/orgs/{org}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryStats {
    pub org: String,
    /// ms since the epoch.
    pub generated_at: i64,
    pub models: u64,
    pub versions: u64,
    /// How many versions each stage routes to now, over all models.
    pub versions_per_stage: BTreeMap<Stage, u64>,
    pub artifacts: u64,
    pub storage: Storage,
    pub resolves: Usage,
    pub downloads: Usage,
    /// By model name.
    pub per_model: Vec<ModelStats>,
}

/// The versions a stage's state routes to: its targets, then its shadow.
fn routed(state: &StageState) -> Vec<String> {
    let mut versions: Vec<String> = state.targets.iter().map(|t| t.version.clone()).collect();
    if let Some(shadow) = &state.shadow
        && !versions.contains(shadow)
    {
        versions.push(shadow.clone());
    }
    versions
}

/// Puts the statistics together: each model's holdings and stages, and the
/// usage rows attributed to models (downloads through the digests of their
/// versions). Downloads of an artifact no version holds any more count for
/// the organisation, not for a model.
pub fn assemble(
    org: &str,
    now_ms: i64,
    models: Vec<ModelHoldings>,
    stages: &BTreeMap<String, BTreeMap<Stage, StageState>>,
    holdings: OrgHoldings,
    usage: &[UsageRow],
) -> RegistryStats {
    let mut total_resolves = Usage::default();
    let mut total_downloads = Usage::default();
    let mut resolves: BTreeMap<&str, Usage> = BTreeMap::new();
    let mut downloads: BTreeMap<&str, Usage> = BTreeMap::new();
    let add = |into: &mut Usage, usage: &Usage| {
        into.last_24h += usage.last_24h;
        into.last_30d += usage.last_30d;
    };
    for row in usage {
        match row.kind {
            UsageKind::Resolve => {
                add(&mut total_resolves, &row.usage);
                add(resolves.entry(&row.subject).or_default(), &row.usage);
            }
            UsageKind::Download => {
                add(&mut total_downloads, &row.usage);
                add(downloads.entry(&row.subject).or_default(), &row.usage);
            }
        }
    }
    let mut versions_per_stage: BTreeMap<Stage, u64> = BTreeMap::new();
    let per_model: Vec<ModelStats> = models
        .into_iter()
        .map(|held| {
            let stages: BTreeMap<Stage, Vec<String>> = stages
                .get(&held.model)
                .map(|by_stage| {
                    by_stage
                        .iter()
                        .map(|(stage, state)| (*stage, routed(state)))
                        .filter(|(_, versions)| !versions.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            for (stage, versions) in &stages {
                *versions_per_stage.entry(*stage).or_default() += versions.len() as u64;
            }
            let mut model_downloads = downloads
                .get(format!("model:{}", held.model).as_str())
                .copied()
                .unwrap_or_default();
            for digest in &held.digests {
                if let Some(usage) = downloads.get(digest.as_str()) {
                    add(&mut model_downloads, usage);
                }
            }
            ModelStats {
                resolves: resolves
                    .get(held.model.as_str())
                    .copied()
                    .unwrap_or_default(),
                downloads: model_downloads,
                storage: Storage::of(held.logical_bytes, held.stored_bytes, held.compressed_bytes),
                versions: held.versions,
                stages,
                model: held.model,
            }
        })
        .collect();
    RegistryStats {
        org: org.to_owned(),
        generated_at: now_ms,
        models: per_model.len() as u64,
        versions: per_model.iter().map(|m| m.versions).sum(),
        versions_per_stage,
        artifacts: holdings.artifacts,
        storage: Storage::of(
            holdings.logical_bytes,
            holdings.stored_bytes,
            holdings.compressed_bytes,
        ),
        resolves: total_resolves,
        downloads: total_downloads,
        per_model,
    }
}

/// Usage events an isolate holds until it writes them: counts per
/// (organisation, kind, subject, hour), written when [`Pending::due`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    counts: BTreeMap<(String, UsageKind, String, i64), u64>,
    events: u64,
    /// When the counts were last taken (ms); 0 before the first event.
    since_ms: i64,
}

/// Events held before they are written, at most.
pub const WRITE_AFTER_EVENTS: u64 = 1_000;
/// How long events are held before they are written, at most (ms).
pub const WRITE_AFTER_MS: i64 = 60_000;
/// Distinct counters held, at most: past this an isolate writes at once.
pub const MAX_COUNTERS: usize = 5_000;

impl Pending {
    /// Counts one event at `now_ms`.
    pub fn count(&mut self, org: &str, kind: UsageKind, subject: &str, now_ms: i64) {
        if self.events == 0 {
            self.since_ms = now_ms;
        }
        *self
            .counts
            .entry((org.to_owned(), kind, subject.to_owned(), hour_of(now_ms)))
            .or_default() += 1;
        self.events += 1;
    }

    /// Whether the counts should be written now.
    pub fn due(&self, now_ms: i64) -> bool {
        self.events > 0
            && (self.events >= WRITE_AFTER_EVENTS
                || now_ms - self.since_ms >= WRITE_AFTER_MS
                || self.counts.len() >= MAX_COUNTERS)
    }

    /// The counts held, as (org, kind, subject, hour, count) rows, and a
    /// fresh start.
    pub fn take(&mut self) -> Vec<(String, UsageKind, String, i64, u64)> {
        self.events = 0;
        std::mem::take(&mut self.counts)
            .into_iter()
            .map(|((org, kind, subject, hour), n)| (org, kind, subject, hour, n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(
        model: &str,
        versions: u64,
        logical: u64,
        stored: u64,
        digests: &[&str],
    ) -> ModelHoldings {
        ModelHoldings {
            model: model.into(),
            versions,
            logical_bytes: logical,
            stored_bytes: stored,
            compressed_bytes: stored,
            digests: digests.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn downloads_count_for_every_model_holding_the_artifact_and_ratios_follow() {
        let stages = BTreeMap::from([(
            "fraud".to_owned(),
            BTreeMap::from([
                (Stage::Production, StageState::single("1.0.0")),
                (Stage::Staging, StageState::default()),
            ]),
        )]);
        let usage = |kind, subject: &str, day, month| UsageRow {
            kind,
            subject: subject.into(),
            usage: Usage {
                last_24h: day,
                last_30d: month,
            },
        };
        let stats = assemble(
            "acme",
            7,
            vec![
                held("fraud", 2, 200, 100, &["sha256:a"]),
                held("copy", 1, 100, 100, &["sha256:a"]),
            ],
            &stages,
            OrgHoldings {
                logical_bytes: 300,
                stored_bytes: 150,
                // One artifact of 100 bytes has a gzip copy of 25.
                compressed_bytes: 75,
                artifacts: 2,
            },
            &[
                usage(UsageKind::Resolve, "fraud", 3, 10),
                usage(UsageKind::Download, "sha256:a", 2, 4),
                usage(UsageKind::Download, "sha256:gone", 1, 1),
                usage(UsageKind::Download, "model:copy", 5, 5),
            ],
        );
        assert_eq!((stats.models, stats.versions, stats.artifacts), (2, 3, 2));
        assert_eq!(stats.storage.dedup_ratio, 2.0);
        assert_eq!(stats.storage.compression_ratio, 2.0);
        assert_eq!(stats.per_model[0].storage.compression_ratio, 1.0);
        assert_eq!(
            stats.versions_per_stage,
            BTreeMap::from([(Stage::Production, 1)])
        );
        assert_eq!(
            stats.resolves,
            Usage {
                last_24h: 3,
                last_30d: 10
            }
        );
        assert_eq!(
            stats.downloads,
            Usage {
                last_24h: 8,
                last_30d: 10
            },
            "the organisation's, gone ones too"
        );
        let fraud = &stats.per_model[0];
        assert_eq!(fraud.stages[&Stage::Production], ["1.0.0"]);
        assert!(
            !fraud.stages.contains_key(&Stage::Staging),
            "nothing deployed there"
        );
        assert_eq!(
            fraud.downloads,
            Usage {
                last_24h: 2,
                last_30d: 4
            }
        );
        assert_eq!(fraud.storage.dedup_ratio, 2.0);
        let copy = &stats.per_model[1];
        assert_eq!(
            copy.downloads,
            Usage {
                last_24h: 7,
                last_30d: 9
            },
            "the shared artifact's downloads count for both, its TUF target downloads for it alone"
        );
        assert_eq!(copy.resolves, Usage::default());
    }

    #[test]
    fn nothing_stored_is_a_ratio_of_one() {
        let stats = assemble(
            "acme",
            0,
            vec![],
            &BTreeMap::new(),
            OrgHoldings::default(),
            &[],
        );
        assert_eq!(stats.storage.dedup_ratio, 1.0);
        assert!(stats.per_model.is_empty());
    }

    #[test]
    fn a_use_is_a_get_answered_whole_or_from_the_first_byte() {
        assert!(is_counted(true, 200, None));
        assert!(is_counted(true, 206, Some("bytes=0-99")));
        assert!(
            !is_counted(true, 206, Some("bytes=100-199")),
            "a resumed part"
        );
        assert!(!is_counted(true, 206, None));
        assert!(!is_counted(false, 200, None), "a HEAD");
        assert!(!is_counted(true, 304, None));
        assert!(!is_counted(true, 404, None));
    }

    #[test]
    fn windows_end_with_the_current_hour() {
        let now = 1_000 * HOUR_MS + 1_234;
        assert_eq!(hour_of(now), 1_000 * HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
        let (day, month) = windows(now);
        assert_eq!(day, 977 * HOUR_MS);
        assert_eq!(month, (1_000 - 719) * HOUR_MS);
    }

    #[test]
    fn pending_counts_are_written_after_a_thousand_events_or_a_minute() {
        let mut pending = Pending::default();
        assert!(!pending.due(0));
        pending.count("acme", UsageKind::Resolve, "fraud", 10);
        assert!(!pending.due(10 + WRITE_AFTER_MS - 1));
        assert!(pending.due(10 + WRITE_AFTER_MS));
        for i in 1..WRITE_AFTER_EVENTS {
            pending.count("acme", UsageKind::Resolve, "fraud", 10 + i as i64);
        }
        assert!(pending.due(20));
        pending.count("acme", UsageKind::Download, "sha256:a", HOUR_MS + 5);
        let rows = pending.take();
        assert_eq!(
            rows,
            vec![
                (
                    "acme".to_owned(),
                    UsageKind::Resolve,
                    "fraud".to_owned(),
                    0,
                    WRITE_AFTER_EVENTS
                ),
                (
                    "acme".to_owned(),
                    UsageKind::Download,
                    "sha256:a".to_owned(),
                    HOUR_MS,
                    1
                ),
            ]
        );
        assert!(!pending.due(i64::MAX / 2), "taken: nothing held");
        assert!(pending.take().is_empty());
    }
}
