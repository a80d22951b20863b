//! Backups of one organisation: which of the registry's tables a backup
//! holds, in which order a restore writes them, which columns it never
//! carries, and the checks a restore page passes before any row is written
//! (`outpost backup ORG --to DIR`, `outpost restore DIR`; the directory's
//! layout is documented in `docs/backup.md`).
//!
//! A backup is the organisation's rows, table by table, exactly as stored
//! (column names and SQL values: integers, reals, text, null), plus its
//! artifacts as plain bytes by digest. Two kinds of column are not carried
//! ([`Table::cleared`]): where this deployment keeps an artifact (the
//! at-rest key version, the gzip copy; the restoring registry stores the
//! artifact anew and decides both itself), and webhook signing secrets,
//! which the registry shows once at creation and never again. Everything
//! else is copied, so that the restored organisation answers exactly as the
//! old one did: its audit chain verifies, its tokens work, its TUF metadata
//! is served byte for byte (devices pinned to its root go on verifying,
//! when the restoring deployment signs with the same online key).
//!
//! What a restore may write is decided here, not in SQL strings: the table
//! must be one of [`TABLES`], every column one the restoring registry's
//! table has (so a newer backup's unknown column is refused, not dropped),
//! each named once, every row as long as the column list, and the
//! organisation's column is always bound to the organisation being
//! restored, whatever the file says.

use serde::{Deserialize, Serialize};

/// `backup.json`'s `format`.
pub const FORMAT: &str = "outpost-backup";
/// `backup.json`'s `format_version` this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Most rows a backup page holds (`GET …/backup/tables/{table}`).
pub const MAX_PAGE_ROWS: u32 = 500;

/// A table a backup carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// The column naming the organisation (`org`, or `name` for the
    /// organisation's own row).
    pub org_column: &'static str,
    /// Columns backed up as a fixed SQL literal instead of their value.
    pub cleared: &'static [(&'static str, &'static str)],
}

const fn table(name: &'static str) -> Table {
    Table {
        name,
        org_column: "org",
        cleared: &[],
    }
}

/// Every table a backup carries, in the order a restore writes them:
/// parents before the rows that reference them, the artifacts' rows early
/// (a restore uploads the artifacts right after `blobs`), and the tokens
/// last, so that nobody can use the organisation before it is all there.
///
/// Not carried: uploads in progress and their parts, the organisation's
/// at-rest key (the restoring deployment has its own secret), retired
/// objects and cron runs (this deployment's storage and schedule).
pub const TABLES: &[Table] = &[
    Table {
        name: "organizations",
        org_column: "name",
        cleared: &[],
    },
    Table {
        name: "blobs",
        org_column: "org",
        cleared: &[
            ("key_version", "NULL"),
            ("seal_failed_at", "NULL"),
            ("gzip_size", "NULL"),
            ("gzip_id", "NULL"),
        ],
    },
    table("models"),
    table("versions"),
    table("model_policies"),
    table("deployments"),
    table("trust_metadata"),
    table("reference_profiles"),
    table("guardrails"),
    table("monitors"),
    table("monitor_checks"),
    Table {
        name: "webhooks",
        org_column: "org",
        // Shown once at creation, never again: a restored endpoint has
        // none, and its deliveries fail until it is created anew.
        cleared: &[("secret", "''")],
    },
    table("webhook_deliveries"),
    table("telemetry_windows"),
    table("telemetry_totals"),
    table("shadow_results"),
    table("predictions"),
    table("feedback"),
    table("outcome_windows"),
    table("usage_counts"),
    table("counters"),
    table("imports"),
    table("audit_log"),
    table("tokens"),
];

/// The table a restore writes artifacts after.
pub const ARTIFACT_TABLE: &str = "blobs";

/// The table called `name`, if a backup carries it.
pub fn table_named(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Whether `name` can stand in SQL as an identifier unquoted: lowercase
/// ASCII letters, digits and `_`, not starting with a digit, at most 64.
pub fn is_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl Table {
    /// The SQL expressions a backup reads, one per column of `columns`
    /// (the registry's own, in table order): the column, or its literal
    /// when cleared.
    pub fn backed_up(&self, columns: &[String]) -> Vec<String> {
        columns
            .iter()
            .map(|column| {
                self.cleared
                    .iter()
                    .find(|(name, _)| name == column)
                    .map_or_else(|| column.clone(), |(_, literal)| (*literal).to_owned())
            })
            .collect()
    }
}

/// Why a restore page is refused (422, nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("a backup carries no table `{0}`")]
    UnknownTable(String),
    #[error(
        "this registry's `{table}` has no column `{column}`: the backup is from a newer Outpost; restore it with that version"
    )]
    UnknownColumn { table: String, column: String },
    #[error("column `{0}` is named twice")]
    DuplicateColumn(String),
    #[error("the page names no `{0}` column, so its rows belong to no organisation")]
    NoOrgColumn(String),
    #[error("row {row} has {found} values for {expected} columns")]
    RowLength {
        row: usize,
        found: usize,
        expected: usize,
    },
}

/// A page of rows as a backup holds them and a restore sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Column names, in the order of each row's values.
    pub columns: Vec<String>,
    /// One array of SQL values (JSON numbers, strings, null) per row.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// What a restore page becomes: the table and, per column of the page,
/// whether it is the organisation's (bound to the organisation restored)
/// or the value at that index of each row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    pub table: &'static Table,
    pub columns: Vec<String>,
    /// Index in `columns` of the organisation's column.
    pub org_index: usize,
}

impl RestorePlan {
    /// Checks a page for `table` against the restoring registry's columns
    /// of that table (`present`).
    ///
    /// Errors: [`PageError`].
    pub fn check(table: &str, page: &Page, present: &[String]) -> Result<Self, PageError> {
        let known = table_named(table).ok_or_else(|| PageError::UnknownTable(table.to_owned()))?;
        for (i, column) in page.columns.iter().enumerate() {
            if !is_identifier(column) || !present.contains(column) {
                return Err(PageError::UnknownColumn {
                    table: table.to_owned(),
                    column: column.clone(),
                });
            }
            if page.columns[..i].contains(column) {
                return Err(PageError::DuplicateColumn(column.clone()));
            }
        }
        let org_index = page
            .columns
            .iter()
            .position(|c| c == known.org_column)
            .ok_or_else(|| PageError::NoOrgColumn(known.org_column.to_owned()))?;
        for (row, values) in page.rows.iter().enumerate() {
            if values.len() != page.columns.len() {
                return Err(PageError::RowLength {
                    row,
                    found: values.len(),
                    expected: page.columns.len(),
                });
            }
        }
        Ok(Self {
            table: known,
            columns: page.columns.clone(),
            org_index,
        })
    }

    /// The one statement that writes every row of the page: the rows go in
    /// as one JSON array bound to `?1`, the organisation as `?2`. A row
    /// that is already there (a page sent again after a lost answer) is a
    /// conflict, which fails the page: a restore writes into nothing.
    pub fn insert_sql(&self) -> String {
        let values: Vec<String> = (0..self.columns.len())
            .map(|i| {
                if i == self.org_index {
                    "?2".to_owned()
                } else {
                    format!("json_extract(value, '$[{i}]')")
                }
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM json_each(?1) ORDER BY key",
            self.table.name,
            self.columns.join(", "),
            values.join(", ")
        )
    }
}

/// `POST /v1/admin/restores/{org}`: how far a restore of the organisation
/// has come (rows already written per table), so that an interrupted one
/// goes on where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RestoreProgress {
    pub org: String,
    /// When the restore began, ms since the epoch.
    pub started_at: i64,
    /// Rows of the organisation already in each table, by table name.
    pub rows: std::collections::BTreeMap<String, u64>,
}

/// `POST /v1/admin/restores/{org}/finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RestoreFinished {
    pub org: String,
    pub finished_at: i64,
    /// Artifacts the organisation's rows name, every one stored.
    pub artifacts: u64,
    /// Whether the organisation now seals its artifacts at rest (the
    /// restoring deployment has an at-rest secret; the cron seals the
    /// restored artifacts in the background).
    pub sealed: bool,
}

/// `backup.json`, the directory's manifest, written last: a directory
/// whose manifest is missing or names a file that is not there with its
/// SHA-256 is not a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`]; a reader refuses versions it does not know.
    pub format_version: u32,
    /// The organisation backed up (and restored, under the same name: its
    /// audit chain and TUF metadata name it).
    pub org: String,
    /// When the backup finished reading, ms since the epoch.
    pub taken_at: i64,
    /// The registry's base URL, as the backing-up CLI called it.
    pub registry: String,
    /// Every table of [`TABLES`], in that order.
    pub tables: Vec<TableFile>,
    /// Every artifact the `blobs` rows name, each in [`artifact_path`].
    pub artifacts: Vec<ArtifactFile>,
}

/// One table's rows, in [`TableFile::path`]: a [`Page`] holding all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableFile {
    pub name: String,
    pub rows: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

impl TableFile {
    /// `tables/{name}-{first 16 hex of its SHA-256}.json`: a new backup
    /// into the same directory writes new files beside the old ones, so
    /// the old manifest stays whole until the new one replaces it.
    pub fn path(&self) -> String {
        format!(
            "tables/{}-{}.json",
            self.name,
            self.sha256.get(..16).unwrap_or("")
        )
    }
}

/// An artifact of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactFile {
    pub digest: crate::digest::Digest,
    pub size: u64,
}

/// `artifacts/sha256/{hex}`.
pub fn artifact_path(digest: &crate::digest::Digest) -> String {
    format!("artifacts/sha256/{}", digest.hex())
}

/// Why a manifest is not one this code restores.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not an Outpost backup (format `{0}`)")]
    Format(String),
    #[error(
        "backup format version {0} is not one this outpost reads (1); use the Outpost that wrote it"
    )]
    Version(u32),
    #[error("the organisation name `{0}` is not valid")]
    Org(String),
    #[error("the tables listed are not this version's ({found}); expected {expected}")]
    Tables { found: String, expected: String },
    #[error("table `{0}` has no valid SHA-256")]
    TableHash(String),
}

impl Manifest {
    /// Checks what can be checked without the files.
    ///
    /// Errors: [`ManifestError`].
    pub fn check(&self) -> Result<(), ManifestError> {
        if self.format != FORMAT {
            return Err(ManifestError::Format(self.format.clone()));
        }
        if self.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version(self.format_version));
        }
        crate::auth::validate_org_name(&self.org)
            .map_err(|_| ManifestError::Org(self.org.clone()))?;
        let found: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
        let expected: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        if found != expected {
            return Err(ManifestError::Tables {
                found: found.join(", "),
                expected: expected.join(", "),
            });
        }
        for table in &self.tables {
            if table.sha256.len() != 64
                || !table
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(ManifestError::TableHash(table.name.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(columns: &[&str], rows: Vec<Vec<serde_json::Value>>) -> Page {
        Page {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
        }
    }

    fn present(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn every_table_is_named_once_and_tokens_come_last() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(names.last(), Some(&"tokens"));
        assert_eq!(names[0], "organizations");
        assert!(TABLES.iter().all(|t| is_identifier(t.name)));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
        assert!(table_named(ARTIFACT_TABLE).is_some());
    }

    #[test]
    fn cleared_columns_are_read_as_their_literal() {
        let blobs = table_named("blobs").expect("carried");
        assert_eq!(
            blobs.backed_up(&present(&["org", "digest", "key_version", "gzip_id"])),
            ["org", "digest", "NULL", "NULL"]
        );
        let hooks = table_named("webhooks").expect("carried");
        assert_eq!(hooks.backed_up(&present(&["id", "secret"])), ["id", "''"]);
    }

    #[test]
    fn a_manifest_names_every_table_in_order_with_a_hash() {
        let mut manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            org: "acme".into(),
            taken_at: 1,
            registry: "http://x".into(),
            tables: TABLES
                .iter()
                .map(|t| TableFile {
                    name: t.name.into(),
                    rows: 0,
                    sha256: "ab".repeat(32),
                })
                .collect(),
            artifacts: vec![],
        };
        assert_eq!(manifest.check(), Ok(()));
        assert_eq!(
            manifest.tables[0].path(),
            "tables/organizations-abababababababab.json"
        );
        manifest.tables[1].sha256 = "../../etc/passwd".into();
        assert_eq!(
            manifest.check(),
            Err(ManifestError::TableHash("blobs".into()))
        );
        manifest.tables.swap(0, 1);
        assert!(matches!(
            manifest.check(),
            Err(ManifestError::Tables { .. })
        ));
        manifest.format_version = 2;
        assert_eq!(manifest.check(), Err(ManifestError::Version(2)));
    }

    #[test]
    fn identifiers_are_plain_lowercase_words() {
        for ok in ["org", "gzip_id", "a1"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "Org", "org;", "a b", "a\"", &"x".repeat(65)] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn a_page_binds_the_organisation_and_reads_the_rest_by_index() {
        let plan = RestorePlan::check(
            "models",
            &page(
                &["org", "name"],
                vec![vec![json!("elsewhere"), json!("fraud")]],
            ),
            &present(&["org", "name", "owner"]),
        )
        .expect("valid");
        assert_eq!(
            plan.insert_sql(),
            "INSERT INTO models (org, name) SELECT ?2, json_extract(value, '$[1]') \
             FROM json_each(?1) ORDER BY key"
        );
        let org_row = RestorePlan::check(
            "organizations",
            &page(&["name", "display_name"], vec![]),
            &present(&["name", "display_name", "created_at"]),
        )
        .expect("valid");
        assert_eq!(org_row.org_index, 0);
    }

    #[test]
    fn a_page_that_could_write_anything_else_is_refused() {
        let cols = present(&["org", "name", "owner"]);
        let check = |table: &str, p: Page| RestorePlan::check(table, &p, &cols);
        assert_eq!(
            check("uploads", page(&["org"], vec![])),
            Err(PageError::UnknownTable("uploads".into()))
        );
        assert_eq!(
            check("sqlite_master", page(&["org"], vec![])),
            Err(PageError::UnknownTable("sqlite_master".into()))
        );
        assert!(matches!(
            check("models", page(&["org", "name); DROP TABLE x; --"], vec![])),
            Err(PageError::UnknownColumn { .. })
        ));
        assert!(matches!(
            check("models", page(&["org", "colour"], vec![])),
            Err(PageError::UnknownColumn { .. })
        ));
        assert_eq!(
            check("models", page(&["org", "name", "org"], vec![])),
            Err(PageError::DuplicateColumn("org".into()))
        );
        assert_eq!(
            check("models", page(&["name"], vec![])),
            Err(PageError::NoOrgColumn("org".into()))
        );
        assert_eq!(
            check(
                "models",
                page(
                    &["org", "name"],
                    vec![vec![json!("a"), json!("b"), json!(1)]]
                )
            ),
            Err(PageError::RowLength {
                row: 0,
                found: 3,
                expected: 2
            })
        );
    }
}
