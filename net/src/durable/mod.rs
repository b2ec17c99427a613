//! Durable consensus state in a data directory: the hard state (term and vote), the
//! log, and the latest snapshot.
//!
//! - `hard-state`: one checksummed record, replaced atomically.
//! - `snapshot`: one checksummed record (metadata and payload), replaced atomically,
//!   verified against its own digests on load.
//! - `log`: checksummed records, one entry each, written in place and synced. On start
//!   a torn tail (a record cut by a crash) is dropped; a bad record followed by more
//!   data stops the node with an error naming the file and offset. Compaction after a
//!   snapshot rewrites the log atomically.

mod records;

use std::io;
use std::path::{Path, PathBuf};

use psionic_core::consensus::{Entry, SnapshotMeta, StoredSnapshot};
use psionic_core::{Durable, HardState};
use serde::{Deserialize, Serialize};

use crate::storage::{self, AppendFile};
use records::Ending;

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
    log: AppendFile,
    /// Retained entries, in index order (bounded by snapshot compaction).
    entries: Vec<Entry>,
    /// Byte offset of each retained entry's record.
    offsets: Vec<u64>,
    /// Index of the first retained entry.
    first_index: u64,
    log_len: u64,
}

/// A log file rewritten to hold exactly some entries.
struct RewrittenLog {
    file: AppendFile,
    offsets: Vec<u64>,
    len: u64,
}

impl DurableStore {
    /// Opens the store in `dir`, recovering what a previous life made durable.
    pub async fn open(dir: &Path) -> Result<(Self, Durable), StoreError> {
        let hard_state = read_single::<HardState>(&dir.join("hard-state"))
            .await?
            .unwrap_or_default();
        let snapshot = read_snapshot(&dir.join("snapshot")).await?;
        let first_index = snapshot.as_ref().map_or(1, |snapshot| snapshot.meta.last_index + 1);
        let log_path = dir.join("log");
        let mut entries = read_log(&log_path).await?;
        entries.retain(|(_, entry)| entry.index >= first_index);
        if let Some((offset, entry)) = entries.first()
            && entry.index != first_index
        {
            return Err(StoreError::Gap {
                path: log_path,
                offset: *offset,
                expected: first_index,
                found: entry.index,
            });
        }
        let entries: Vec<Entry> = entries.into_iter().map(|(_, entry)| entry).collect();
        let log = rewrite_log(&log_path, &entries).await?;
        let store = Self {
            dir: dir.to_owned(),
            log: log.file,
            entries: entries.clone(),
            offsets: log.offsets,
            first_index,
            log_len: log.len,
        };
        Ok((
            store,
            Durable {
                hard_state,
                snapshot,
                entries,
            },
        ))
    }

    /// Makes the term and vote durable.
    pub async fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StoreError> {
        write_single(&self.dir.join("hard-state"), &hard_state).await
    }

    /// Drops stored entries from `first_index` on, appends `entries`, and syncs.
    pub async fn save_entries(&mut self, first_index: u64, entries: &[Entry]) -> Result<(), StoreError> {
        let keep = first_index.saturating_sub(self.first_index) as usize;
        if keep < self.offsets.len() {
            self.log_len = self.offsets[keep];
            self.offsets.truncate(keep);
            self.entries.truncate(keep);
            self.log
                .truncate(self.log_len)
                .await
                .map_err(|source| self.io_error("truncate", source))?;
        }
        let mut bytes = Vec::new();
        for entry in entries {
            self.offsets.push(self.log_len + bytes.len() as u64);
            records::encode(&postcard::to_allocvec(entry).expect("entries encode"), &mut bytes);
        }
        self.entries.extend_from_slice(entries);
        self.log
            .write_at(&bytes, self.log_len)
            .await
            .map_err(|source| self.io_error("write", source))?;
        self.log_len += bytes.len() as u64;
        self.log.sync().await.map_err(|source| self.io_error("sync", source))
    }

    /// Makes `snapshot` durable, then compacts the log behind it: entries after the
    /// snapshot are kept if the log agrees with it at its index, else all are dropped.
    pub async fn save_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), StoreError> {
        let record = SnapshotRecord {
            meta: snapshot.meta,
            bytes: snapshot.bytes.clone(),
        };
        write_single(&self.dir.join("snapshot"), &record).await?;
        let (index, term) = (snapshot.meta.last_index, snapshot.meta.last_term);
        let agrees = self
            .entries
            .iter()
            .any(|entry| entry.index == index && entry.term == term);
        let retained: Vec<Entry> = self
            .entries
            .iter()
            .filter(|entry| agrees && entry.index > index)
            .cloned()
            .collect();
        let log = rewrite_log(self.log.path(), &retained).await?;
        self.log = log.file;
        self.offsets = log.offsets;
        self.log_len = log.len;
        self.entries = retained;
        self.first_index = index + 1;
        Ok(())
    }

    fn io_error(&self, operation: &'static str, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.log.path().to_owned(),
            operation,
            source,
        }
    }
}

/// Atomically replaces the log at `path` with `entries` and opens it for appending.
async fn rewrite_log(path: &Path, entries: &[Entry]) -> Result<RewrittenLog, StoreError> {
    let mut bytes = Vec::new();
    let mut offsets = Vec::with_capacity(entries.len());
    for entry in entries {
        offsets.push(bytes.len() as u64);
        records::encode(&postcard::to_allocvec(entry).expect("entries encode"), &mut bytes);
    }
    let file = AppendFile::replace_and_open(path, &bytes)
        .await
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            operation: "rewrite",
            source,
        })?;
    Ok(RewrittenLog {
        file,
        offsets,
        len: bytes.len() as u64,
    })
}

async fn read_log(path: &Path) -> Result<Vec<(u64, Entry)>, StoreError> {
    let bytes = storage::read(path)
        .await
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            operation: "read",
            source,
        })?
        .unwrap_or_default();
    let (records, ending) = records::decode(&bytes);
    if let Ending::Corrupt { offset } = ending {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            offset,
        });
    }
    if let Ending::TornTail { offset } = ending {
        tracing::warn!(path = %path.display(), offset, "dropping a torn record at the end of the log");
    }
    let mut entries: Vec<(u64, Entry)> = Vec::with_capacity(records.len());
    for (offset, payload) in records {
        let entry: Entry = postcard::from_bytes(payload).map_err(|_| StoreError::Corrupt {
            path: path.to_owned(),
            offset,
        })?;
        if let Some((_, previous)) = entries.last()
            && entry.index != previous.index + 1
        {
            let expected = previous.index + 1;
            return Err(StoreError::Gap {
                path: path.to_owned(),
                offset,
                expected,
                found: entry.index,
            });
        }
        entries.push((offset, entry));
    }
    Ok(entries)
}

async fn read_single<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StoreError> {
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

async fn write_single<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
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
