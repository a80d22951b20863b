//! Backups and restores of one organisation (`outpost backup ORG --to DIR`,
//! `outpost restore DIR`): its rows read table by table, and written back
//! into a registry where it does not exist yet.
//!
//! What a backup carries and what a restore page may write is decided in
//! `outpost_core::backup`; this module orders the steps. A restore is a
//! state of the organisation, recorded by the store: begun only where the
//! organisation does not exist, it takes pages of rows (each page all or
//! nothing) and the artifacts the restored rows name (re-hashed on the way
//! in, never audited: the audit chain is the one restored), and is
//! finished once every artifact is stored. A finished restore takes
//! nothing more; an unfinished one goes on where it stopped
//! ([`RestoreProgress`] counts the rows already written).

use outpost_core::auth;
use outpost_core::backup::{
    self, MAX_PAGE_ROWS, Page, RestoreFinished, RestorePlan, RestoreProgress, Table,
};
use outpost_core::digest::Digest;

use crate::error::{RegistryError, StoreError};
use crate::ports::{Arrival, AtRest, Blobs, Change, Clock, Commit, CommitError};

/// Rows of one table as the store read them: each a JSON array of the
/// row's values, in the column order asked for, with the position to read
/// on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRows {
    pub rows: Vec<String>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<i64>,
}

/// Where an organisation stands for a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreState {
    /// No such organisation: a restore may begin.
    Absent,
    /// A restore began at this time (ms) and is not finished.
    Restoring { started_at: i64 },
    /// The organisation exists (created, or restored and finished).
    Exists,
}

/// The store's side of backups and restores.
#[expect(async_fn_in_trait, reason = "Worker futures are not Send")]
pub trait Backups {
    /// The registry's columns of `table`, in table order.
    async fn table_columns(&self, table: &Table) -> Result<Vec<String>, StoreError>;
    /// Up to `limit` of the organisation's rows of `table` after position
    /// `after`, each read as `expressions` (`Table::backed_up`).
    async fn backup_rows(
        &self,
        org: &str,
        table: &Table,
        expressions: &[String],
        page: (i64, u32),
    ) -> Result<RawRows, StoreError>;
    async fn restore_state(&self, org: &str) -> Result<RestoreState, StoreError>;
    /// Records that a restore of `org` begins, unless the organisation
    /// exists or another restore began first (`false`).
    async fn begin_restore(&self, org: &str, now: i64) -> Result<bool, StoreError>;
    /// How many of the organisation's rows `table` holds.
    async fn rows_held(&self, org: &str, table: &Table) -> Result<u64, StoreError>;
    /// Writes every row of `rows` (a JSON array of row arrays) as `plan`
    /// says, all or nothing: `Ok(Err(reason))` when the database refused
    /// them (a row already there, a missing parent).
    async fn insert_rows(
        &self,
        org: &str,
        plan: &RestorePlan,
        rows: &str,
    ) -> Result<Result<u64, String>, StoreError>;
    /// The artifacts the organisation's rows name, and those of them not
    /// in the object store.
    async fn unstored_artifacts(&self, org: &str) -> Result<(u64, Vec<Digest>), StoreError>;
    async fn finish_restore(&self, org: &str, now: i64) -> Result<(), StoreError>;
}

/// A page of a backup, as `GET …/backup/tables/{table}` sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPage {
    pub table: &'static str,
    pub columns: Vec<String>,
    pub rows: RawRows,
}

/// `GET /v1/orgs/{org}/backup/tables/{table}?after=&limit=`: the
/// organisation's rows of one table, cleared columns as their literal.
///
/// Errors: `InvalidRestorePage` (422: not a table a backup carries), `Store`.
pub async fn backup_page(
    store: &impl Backups,
    org: &str,
    table: &str,
    (after, limit): (i64, u32),
) -> Result<BackupPage, RegistryError> {
    let known = backup::table_named(table).ok_or_else(|| {
        RegistryError::InvalidRestorePage(backup::PageError::UnknownTable(table.to_owned()))
    })?;
    let columns = store.table_columns(known).await?;
    let expressions = known.backed_up(&columns);
    let rows = store
        .backup_rows(
            org,
            known,
            &expressions,
            (after, limit.clamp(1, MAX_PAGE_ROWS)),
        )
        .await?;
    Ok(BackupPage {
        table: known.name,
        columns,
        rows,
    })
}

async fn restoring(store: &impl Backups, org: &str) -> Result<i64, RegistryError> {
    match store.restore_state(org).await? {
        RestoreState::Restoring { started_at } => Ok(started_at),
        RestoreState::Absent | RestoreState::Exists => Err(RegistryError::NoRestore {
            org: org.to_owned(),
        }),
    }
}

/// `POST /v1/admin/restores/{org}`: begins a restore of an organisation
/// this registry does not have, or reports how far an unfinished one came.
///
/// Errors: `InvalidOrgName` (422), `RestoreIntoExisting` (409), `Store`.
pub async fn start_restore(
    store: &(impl Backups + Clock),
    org: &str,
) -> Result<RestoreProgress, RegistryError> {
    auth::validate_org_name(org).map_err(RegistryError::InvalidOrgName)?;
    let started_at = match store.restore_state(org).await? {
        RestoreState::Restoring { started_at } => started_at,
        RestoreState::Exists => {
            return Err(RegistryError::RestoreIntoExisting {
                org: org.to_owned(),
            });
        }
        RestoreState::Absent => {
            let now = store.now_ms();
            if !store.begin_restore(org, now).await? {
                // Created or begun by another request meanwhile.
                return Err(RegistryError::RestoreIntoExisting {
                    org: org.to_owned(),
                });
            }
            now
        }
    };
    let mut rows = std::collections::BTreeMap::new();
    for table in backup::TABLES {
        rows.insert(table.name.to_owned(), store.rows_held(org, table).await?);
    }
    Ok(RestoreProgress {
        org: org.to_owned(),
        started_at,
        rows,
    })
}

/// `POST /v1/admin/restores/{org}/tables/{table}`: writes one page of rows,
/// all or nothing. Returns how many rows were written.
///
/// Errors: `NoRestore` (409), `InvalidRestorePage` (422), `RestoreRowsRefused`
/// (409: the database refused a row; nothing of the page written), `Store`.
pub async fn restore_page(
    store: &impl Backups,
    org: &str,
    table: &str,
    page: &Page,
) -> Result<u64, RegistryError> {
    restoring(store, org).await?;
    let known = backup::table_named(table).ok_or_else(|| {
        RegistryError::InvalidRestorePage(backup::PageError::UnknownTable(table.to_owned()))
    })?;
    let present = store.table_columns(known).await?;
    let plan =
        RestorePlan::check(table, page, &present).map_err(RegistryError::InvalidRestorePage)?;
    if page.rows.is_empty() {
        return Ok(0);
    }
    let rows = serde_json::to_string(&page.rows).map_err(StoreError::new)?;
    store
        .insert_rows(org, &plan, &rows)
        .await?
        .map_err(|reason| RegistryError::RestoreRowsRefused {
            table: known.name.to_owned(),
            reason,
        })
}

/// `PUT /v1/admin/restores/{org}/blobs/sha256/{hex}`: the bytes of an
/// artifact the restored rows name, checked against its digest and size
/// as they stream in. Writes no row (the row was restored) and no audit
/// entry (the chain is the one restored). Sending it again stores it again.
///
/// Errors: `NoRestore` (409), `BlobNotFound` (404: no restored row names
/// it), `BlobSizeConflict` (422), `UploadMismatch` (422, nothing stored),
/// `Store`.
pub async fn restore_artifact<S: Backups + Blobs>(
    store: &S,
    org: &str,
    (digest, size): (Digest, u64),
    body: S::Incoming,
) -> Result<(), RegistryError> {
    restoring(store, org).await?;
    let facts =
        store
            .blob_facts(org, &digest)
            .await?
            .ok_or_else(|| RegistryError::BlobNotFound {
                org: org.to_owned(),
                digest,
            })?;
    if facts.size != size {
        return Err(RegistryError::BlobSizeConflict {
            digest,
            stored: facts.size,
            declared: size,
        });
    }
    match store.put_object(org, &digest, size, body).await? {
        Arrival::Stored { .. } => Ok(()),
        Arrival::Refused(received) => Err(RegistryError::UploadMismatch {
            declared: (digest, size),
            received,
        }),
    }
}

/// `POST /v1/admin/restores/{org}/finish`: once every artifact is stored,
/// the restore is finished (the organisation takes no more restore
/// writes) and, where the deployment has an at-rest secret, the
/// organisation seals its artifacts from now on, as a new one would; the
/// cron seals the restored ones in the background.
///
/// Errors: `NoRestore` (409), `RestoreIncomplete` (409: artifacts missing),
/// `Store`.
pub async fn finish_restore(
    store: &(impl Backups + AtRest + Commit + Clock),
    org: &str,
) -> Result<RestoreFinished, RegistryError> {
    restoring(store, org).await?;
    let (artifacts, missing) = store.unstored_artifacts(org).await?;
    if let Some(first) = missing.first() {
        return Err(RegistryError::RestoreIncomplete {
            org: org.to_owned(),
            missing: missing.len(),
            first: *first,
        });
    }
    let sealed = store.at_rest_configured();
    if sealed && store.org_encryption(org).await?.is_none() {
        match store
            .apply(org, vec![Change::SetKeyVersion { key_version: 1 }])
            .await
        {
            Ok(()) => {}
            Err(CommitError::Conflict(what)) => {
                return Err(StoreError::new(format!("{what} conflict")).into());
            }
            Err(CommitError::Store(err)) => return Err(err.into()),
        }
    }
    let finished_at = store.now_ms();
    store.finish_restore(org, finished_at).await?;
    Ok(RestoreFinished {
        org: org.to_owned(),
        finished_at,
        artifacts,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    /// Tables as column lists and rows of JSON text; a restore's state.
    #[derive(Default)]
    struct Fake {
        orgs: RefCell<Vec<String>>,
        restores: RefCell<BTreeMap<String, (i64, Option<i64>)>>,
        rows: RefCell<BTreeMap<(String, String), Vec<String>>>,
    }

    impl Clock for Fake {
        fn now_ms(&self) -> i64 {
            1_000
        }
        fn random_u32(&self) -> Result<u32, StoreError> {
            Ok(4)
        }
        fn random_bytes(&self, n: usize) -> Result<Vec<u8>, StoreError> {
            Ok(vec![4; n])
        }
    }

    impl Backups for Fake {
        async fn table_columns(&self, table: &Table) -> Result<Vec<String>, StoreError> {
            Ok(vec![table.org_column.to_owned(), "name".into()])
        }
        async fn backup_rows(
            &self,
            org: &str,
            table: &Table,
            _: &[String],
            (after, limit): (i64, u32),
        ) -> Result<RawRows, StoreError> {
            let rows = self.rows.borrow();
            let all = rows
                .get(&(org.to_owned(), table.name.to_owned()))
                .cloned()
                .unwrap_or_default();
            let from = usize::try_from(after).unwrap_or(0);
            let page: Vec<String> = all
                .iter()
                .skip(from)
                .take(limit as usize)
                .cloned()
                .collect();
            let end = from + page.len();
            Ok(RawRows {
                next: (end < all.len()).then_some(end as i64),
                rows: page,
            })
        }
        async fn restore_state(&self, org: &str) -> Result<RestoreState, StoreError> {
            Ok(match self.restores.borrow().get(org) {
                Some((started_at, None)) => RestoreState::Restoring {
                    started_at: *started_at,
                },
                Some(_) => RestoreState::Exists,
                None if self.orgs.borrow().iter().any(|o| o == org) => RestoreState::Exists,
                None => RestoreState::Absent,
            })
        }
        async fn begin_restore(&self, org: &str, now: i64) -> Result<bool, StoreError> {
            Ok(self
                .restores
                .borrow_mut()
                .insert(org.to_owned(), (now, None))
                .is_none())
        }
        async fn rows_held(&self, org: &str, table: &Table) -> Result<u64, StoreError> {
            Ok(self
                .rows
                .borrow()
                .get(&(org.to_owned(), table.name.to_owned()))
                .map_or(0, |r| r.len() as u64))
        }
        async fn insert_rows(
            &self,
            org: &str,
            plan: &RestorePlan,
            rows: &str,
        ) -> Result<Result<u64, String>, StoreError> {
            let rows: Vec<Vec<serde_json::Value>> =
                serde_json::from_str(rows).map_err(StoreError::new)?;
            let mut tables = self.rows.borrow_mut();
            let held = tables
                .entry((org.to_owned(), plan.table.name.to_owned()))
                .or_default();
            for mut row in rows {
                // As the SQL binds it: the organisation restored.
                row[plan.org_index] = json!(org);
                held.push(serde_json::to_string(&row).map_err(StoreError::new)?);
            }
            Ok(Ok(held.len() as u64))
        }
        async fn unstored_artifacts(&self, _: &str) -> Result<(u64, Vec<Digest>), StoreError> {
            Ok((0, Vec::new()))
        }
        async fn finish_restore(&self, org: &str, now: i64) -> Result<(), StoreError> {
            if let Some(restore) = self.restores.borrow_mut().get_mut(org) {
                restore.1 = Some(now);
            }
            Ok(())
        }
    }

    fn page(rows: Vec<Vec<serde_json::Value>>) -> Page {
        Page {
            columns: vec!["org".into(), "name".into()],
            rows,
        }
    }

    #[test]
    fn a_restore_begins_only_where_the_organisation_does_not_exist() {
        let store = Fake::default();
        store.orgs.borrow_mut().push("acme".into());
        let refused = pollster::block_on(start_restore(&store, "acme"));
        assert!(matches!(
            refused,
            Err(RegistryError::RestoreIntoExisting { .. })
        ));
        let invalid = pollster::block_on(start_restore(&store, "Not An Org"));
        assert!(matches!(invalid, Err(RegistryError::InvalidOrgName(_))));
        let begun = pollster::block_on(start_restore(&store, "beta")).expect("absent");
        assert_eq!(begun.started_at, 1_000);
        assert!(begun.rows.values().all(|&n| n == 0));
        assert_eq!(begun.rows.len(), backup::TABLES.len());
    }

    #[test]
    fn pages_land_in_the_restored_organisation_and_progress_counts_them() {
        let store = Fake::default();
        let no_restore = pollster::block_on(restore_page(
            &store,
            "beta",
            "models",
            &page(vec![vec![json!("beta"), json!("m")]]),
        ));
        assert!(matches!(no_restore, Err(RegistryError::NoRestore { .. })));
        pollster::block_on(start_restore(&store, "beta")).expect("begun");
        let written = pollster::block_on(restore_page(
            &store,
            "beta",
            "models",
            &page(vec![vec![json!("elsewhere"), json!("m")]]),
        ))
        .expect("written");
        assert_eq!(written, 1);
        let again = pollster::block_on(start_restore(&store, "beta")).expect("resumed");
        assert_eq!(again.rows["models"], 1);
        let read =
            pollster::block_on(backup_page(&store, "beta", "models", (0, 10))).expect("read");
        assert_eq!(read.rows.rows, [r#"["beta","m"]"#]);
        let unknown = pollster::block_on(restore_page(&store, "beta", "uploads", &page(vec![])));
        assert!(matches!(unknown, Err(RegistryError::InvalidRestorePage(_))));
        let short = pollster::block_on(restore_page(
            &store,
            "beta",
            "models",
            &page(vec![vec![json!("beta")]]),
        ));
        assert!(matches!(short, Err(RegistryError::InvalidRestorePage(_))));
    }

    #[test]
    fn a_backup_pages_through_a_table() {
        let store = Fake::default();
        store.rows.borrow_mut().insert(
            ("acme".into(), "models".into()),
            (0..5).map(|i| format!(r#"["acme","m{i}"]"#)).collect(),
        );
        let first =
            pollster::block_on(backup_page(&store, "acme", "models", (0, 3))).expect("read");
        assert_eq!(first.rows.rows.len(), 3);
        assert_eq!(first.rows.next, Some(3));
        let rest = pollster::block_on(backup_page(&store, "acme", "models", (3, 3))).expect("read");
        assert_eq!((rest.rows.rows.len(), rest.rows.next), (2, None));
        let unknown = pollster::block_on(backup_page(&store, "acme", "sqlite_master", (0, 3)));
        assert!(matches!(unknown, Err(RegistryError::InvalidRestorePage(_))));
    }
}
