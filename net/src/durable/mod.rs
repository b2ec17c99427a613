//! Durable consensus state in a data directory: the hard state (term and vote), the
//! log, and the latest snapshot.
//!
//! - `hard-state`: one checksummed record, replaced atomically.
//! - `snapshot`: one checksummed record (metadata and payload), replaced atomically,
//!   verified against its own digests on load.
//! - `log-manifest` and `log-<number>`: the log as segments of checksummed records,
//!   one entry each, written in place and synced (see [`segments`]). On start a torn
//!   tail (a record cut by a crash) is dropped; a bad record elsewhere stops the node
//!   with an error naming the file and offset. Compaction drops whole segments.

pub mod backup;
mod records;
mod segments;

use std::io;
use std::path::{Path, PathBuf};

use psionic_core::consensus::{Entry, SnapshotMeta, StoredSnapshot};
use psionic_core::{Durable, HardState};
use serde::{Deserialize, Serialize};

use crate::storage;
use records::Ending;
use segments::SegmentedLog;

/// Why durable state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The OS refused.
    #[error("{path}: cannot {operation}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A record is damaged where a crash cannot explain it.
    #[error("{path}: corrupt record at byte offset {offset}; the data directory needs repair (restore it, or remove the node and add it back)", path = path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
    },
    /// A file that every started data directory holds is gone.
    #[error("{path}: missing, though this data directory has run before; the data directory needs repair (restore it, or remove the node and add it back)", path = path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A directory given as a backup holds no identity.
    #[error("{path}: not a backup of a data directory (no identity file)", path = path.display())]
    NotABackup {
        /// The directory.
        path: PathBuf,
    },
    /// The log's entries are not contiguous or do not follow the snapshot.
    #[error("{path}: entry at byte offset {offset} has index {found}, expected {expected}", path = path.display())]
    Gap {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// Index expected.
        expected: u64,
        /// Index found.
        found: u64,
    },
}

/// The snapshot file's one record.
#[derive(Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

/// The durable consensus state of one node.
#[derive(Debug)]
pub struct DurableStore {
    dir: PathBuf,
    log: SegmentedLog,
    snapshot_bytes: u64,
}

/// How much a store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreSizes {
    /// Entries retained in the log (after the snapshot).
    pub log_entries: u64,
    /// Log segment files.
    pub log_segments: u64,
    /// Bytes in the segment being appended to.
    pub active_segment_bytes: u64,
    /// Bytes of the snapshot's state payload.
    pub snapshot_bytes: u64,
}

impl DurableStore {
    /// Opens the store in `dir`, recovering what a previous life made durable.
    pub async fn open(dir: &Path) -> Result<(Self, Durable), StoreError> {
        Self::open_with_segment_bytes(dir, segments::SEGMENT_BYTES_MAX).await
    }

    /// As [`DurableStore::open`], rolling log segments over at `segment_bytes_max`.
    pub async fn open_with_segment_bytes(dir: &Path, segment_bytes_max: u64) -> Result<(Self, Durable), StoreError> {
        let snapshot = read_snapshot(&dir.join("snapshot")).await?;
        let hard_state = recover_hard_state(dir, has_run(dir).await?).await?;
        let behind = snapshot
            .as_ref()
            .map_or((0, 0), |snapshot| (snapshot.meta.last_index, snapshot.meta.last_term));
        let (log, entries) = SegmentedLog::open(dir, behind, segment_bytes_max).await?;
        let restored = storage::read(&dir.join(backup::RESTORED_MARK))
            .await
            .map_err(|source| StoreError::Io {
                path: dir.join(backup::RESTORED_MARK),
                operation: "read",
                source,
            })?
            .is_some();
        Ok((
            Self {
                dir: dir.to_owned(),
                log,
                snapshot_bytes: snapshot.as_ref().map_or(0, |snapshot| snapshot.meta.size_bytes),
            },
            Durable {
                hard_state,
                snapshot,
                entries,
                restored,
            },
        ))
    }

    /// The node caught up after a restore: drops the restored mark.
    pub async fn end_recovery(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join(backup::RESTORED_MARK);
        storage::discard(&path).await.map_err(|source| StoreError::Io {
            path,
            operation: "remove",
            source,
        })
    }

    /// How much the store holds now.
    pub fn sizes(&self) -> StoreSizes {
        let (log_entries, log_segments, active_segment_bytes) = self.log.sizes();
        StoreSizes {
            log_entries,
            log_segments,
            active_segment_bytes,
            snapshot_bytes: self.snapshot_bytes,
        }
    }

    /// Makes the term and vote durable.
    pub async fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StoreError> {
        write_single(&self.dir.join("hard-state"), &hard_state).await
    }

    /// Drops stored entries from `first_index` on, appends `entries`, and syncs.
    pub async fn save_entries(&mut self, first_index: u64, entries: &[Entry]) -> Result<(), StoreError> {
        self.log.save(first_index, entries).await
    }

    /// Makes `snapshot` durable, then compacts the log behind it: entries after the
    /// snapshot are kept if the log agrees with it at its index, else all are dropped.
    pub async fn save_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), StoreError> {
        let record = SnapshotRecord {
            meta: snapshot.meta,
            bytes: snapshot.bytes.clone(),
        };
        write_single(&self.dir.join("snapshot"), &record).await?;
        self.snapshot_bytes = snapshot.meta.size_bytes;
        let (index, term) = (snapshot.meta.last_index, snapshot.meta.last_term);
        let keep_tail = self.log.agrees(index, term);
        self.log.compact(index, keep_tail).await
    }
}

/// Whether a node has started from `dir` (its identity's epoch advanced past 0).
async fn has_run(dir: &Path) -> Result<bool, StoreError> {
    let identity = crate::IdentityFile::in_dir(dir);
    match identity.stored_epoch().await {
        Ok(epoch) => Ok(epoch.is_some_and(|epoch| epoch.0 > 0)),
        Err(_) => Err(StoreError::Corrupt {
            path: identity.path().to_owned(),
            offset: 0,
        }),
    }
}

/// The term and vote. Before a node has run from the directory, what is missing is
/// written (the initial term and vote; the log's manifest follows); once it has, both
/// must exist: one found missing was lost, and the node must not start (it could vote
/// twice, or have forgotten entries).
async fn recover_hard_state(dir: &Path, has_run: bool) -> Result<HardState, StoreError> {
    let path = dir.join("hard-state");
    let manifest = dir.join("log-manifest");
    let manifest_exists = storage::read(&manifest)
        .await
        .map_err(|source| StoreError::Io {
            path: manifest.clone(),
            operation: "read",
            source,
        })?
        .is_some();
    match (read_single::<HardState>(&path).await?, manifest_exists, has_run) {
        (Some(hard_state), true, _) | (Some(hard_state), false, false) => Ok(hard_state),
        (None, _, true) => Err(StoreError::Missing { path }),
        (Some(_), false, true) => Err(StoreError::Missing { path: manifest }),
        (None, _, false) => {
            write_single(&path, &HardState::default()).await?;
            Ok(HardState::default())
        }
    }
}

/// The log segment files the manifest in `dir` names, in order.
pub async fn log_segment_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let names = segments::named_segments(dir).await?;
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

pub(super) async fn read_single<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StoreError> {
    let Some(bytes) = storage::read(path).await.map_err(|source| StoreError::Io {
        path: path.to_owned(),
        operation: "read",
        source,
    })?
    else {
        return Ok(None);
    };
    let (records, ending) = records::decode(&bytes);
    let corrupt = || StoreError::Corrupt {
        path: path.to_owned(),
        offset: 0,
    };
    if ending != Ending::Clean || records.len() != 1 {
        return Err(corrupt());
    }
    postcard::from_bytes(records[0].1).map(Some).map_err(|_| corrupt())
}

pub(super) async fn write_single<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let mut bytes = Vec::new();
    records::encode(&postcard::to_allocvec(value).expect("values encode"), &mut bytes);
    storage::write_atomic(path, &bytes, false)
        .await
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            operation: "write",
            source,
        })
}

async fn read_snapshot(path: &Path) -> Result<Option<StoredSnapshot>, StoreError> {
    let Some(record) = read_single::<SnapshotRecord>(path).await? else {
        return Ok(None);
    };
    let snapshot = StoredSnapshot {
        meta: record.meta,
        bytes: record.bytes,
    };
    snapshot.verify().map_err(|_| StoreError::Corrupt {
        path: path.to_owned(),
        offset: 0,
    })?;
    Ok(Some(snapshot))
}

#[cfg(all(test, not(madsim)))]
mod tests;
