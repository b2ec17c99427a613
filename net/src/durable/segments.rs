//! The log as segment files of checksummed records, listed by a manifest.
//!
//! - `log-manifest`: one checksummed record listing the segments in order (file number
//!   and first index), replaced atomically. A segment exists for the log only once the
//!   manifest names it; files the manifest no longer names are discarded.
//! - `log-<number>`: one record per entry. Only the last segment is written; it rolls
//!   over to a new one past its size limit ([`SEGMENT_BYTES_MAX`] by default).
//!
//! Recovery: a torn last record of the last segment is dropped (a crash cut it); any
//! other bad record stops the node with an error naming the file and offset.
//! Compaction after a snapshot drops whole segments below it.

use std::path::{Path, PathBuf};

use psionic_core::consensus::Entry;
use serde::{Deserialize, Serialize};

use super::records::{self, Ending};
use super::{StoreError, read_single, write_single};
use crate::storage::{self, AppendFile};

/// By default, a segment rolls over once it holds this many bytes.
pub const SEGMENT_BYTES_MAX: u64 = 8 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Segment {
    number: u64,
    first_index: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Manifest {
    segments: Vec<Segment>,
    next_number: u64,
}

/// Where an entry's record is.
#[derive(Clone, Copy, Debug)]
struct Position {
    segment: usize,
    offset: u64,
}

/// The log of one node.
#[derive(Debug)]
pub(super) struct SegmentedLog {
    dir: PathBuf,
    manifest: Manifest,
    active: AppendFile,
    active_len: u64,
    segment_bytes_max: u64,
    /// Retained entries and where each is, in index order (bounded by compaction).
    entries: Vec<(Entry, Position)>,
}

impl SegmentedLog {
    /// (retained entries, segment files, bytes in the active segment).
    pub fn sizes(&self) -> (u64, u64, u64) {
        (
            self.entries.len() as u64,
            self.manifest.segments.len() as u64,
            self.active_len,
        )
    }

    /// Recovers the log in `dir` behind a snapshot at `(index, term)` of `snapshot`,
    /// keeping the entries after it. If the log holds the snapshot's index with another
    /// term (a crash between writing the snapshot and compacting the log behind it),
    /// the tail is from another history: every segment is replaced by an empty one.
    pub async fn open(
        dir: &Path,
        snapshot: (u64, u64),
        segment_bytes_max: u64,
    ) -> Result<(Self, Vec<Entry>), StoreError> {
        let first_index = snapshot.0 + 1;
        let mut manifest: Manifest = read_single(&dir.join("log-manifest")).await?.unwrap_or_default();
        let mut entries = Vec::new();
        let mut active_bytes = Vec::new();
        let count = manifest.segments.len();
        for (position, segment) in manifest.segments.iter().enumerate() {
            let path = segment_path(dir, segment.number);
            let bytes = read(&path).await?;
            let (records, ending) = records::decode(&bytes);
            let last = position + 1 == count;
            let valid_len = match ending {
                Ending::Clean => bytes.len() as u64,
                Ending::TornTail { offset } if last => {
                    tracing::warn!(path = %path.display(), offset, "dropping a torn record at the end of the log");
                    offset
                }
                Ending::TornTail { offset } | Ending::Corrupt { offset } => {
                    return Err(StoreError::Corrupt { path, offset });
                }
            };
            for (offset, payload) in records {
                let entry: Entry = postcard::from_bytes(payload).map_err(|_| StoreError::Corrupt {
                    path: path.clone(),
                    offset,
                })?;
                check_contiguous(&entries, &entry, &path, offset)?;
                entries.push((
                    entry,
                    Position {
                        segment: position,
                        offset,
                    },
                ));
            }
            if last {
                active_bytes = bytes[..valid_len as usize].to_vec();
            }
        }
        if manifest.segments.is_empty() {
            manifest.segments.push(Segment {
                number: manifest.next_number,
                first_index,
            });
            manifest.next_number += 1;
            write_single(&dir.join("log-manifest"), &manifest).await?;
        }
        let active_number = manifest.segments.last().expect("at least one segment").number;
        let active = open_rewritten(&segment_path(dir, active_number), &active_bytes).await?;
        let contradicts = entries
            .iter()
            .any(|(entry, _)| entry.index == snapshot.0 && entry.term != snapshot.1);
        entries.retain(|(entry, _)| entry.index >= first_index && !contradicts);
        if let Some((entry, position)) = entries.first()
            && entry.index != first_index
        {
            let path = segment_path(dir, manifest.segments[position.segment].number);
            return Err(StoreError::Gap {
                path,
                offset: position.offset,
                expected: first_index,
                found: entry.index,
            });
        }
        let recovered = entries.iter().map(|(entry, _)| entry.clone()).collect();
        let active_len = active_bytes.len() as u64;
        let mut log = Self {
            dir: dir.to_owned(),
            manifest,
            active,
            active_len,
            segment_bytes_max,
            entries,
        };
        if contradicts {
            log.restart_at(first_index).await?;
        }
        Ok((log, recovered))
    }

    /// Drops entries from `first_index` on, appends `entries`, and syncs.
    pub async fn save(&mut self, first_index: u64, entries: &[Entry]) -> Result<(), StoreError> {
        self.truncate_from(first_index).await?;
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            offsets.push(bytes.len() as u64);
            records::encode(&postcard::to_allocvec(entry).expect("entries encode"), &mut bytes);
        }
        if self.active_len > 0 && self.active_len + bytes.len() as u64 > self.segment_bytes_max {
            let next_index = entries.first().map_or(first_index, |entry| entry.index);
            self.roll_over(next_index).await?;
        }
        let segment = self.manifest.segments.len() - 1;
        for (entry, offset) in entries.iter().zip(offsets) {
            self.entries.push((
                entry.clone(),
                Position {
                    segment,
                    offset: self.active_len + offset,
                },
            ));
        }
        let io = |operation| {
            let path = self.active.path().to_owned();
            move |source| StoreError::Io {
                path,
                operation,
                source,
            }
        };
        let written = self.active.write_at(&bytes, self.active_len).await.map_err(io("write"));
        let synced = self.active.sync().await.map_err(io("sync"));
        written.and(synced)?;
        self.active_len += bytes.len() as u64;
        Ok(())
    }

    /// Whether the log holds `index` with `term`.
    pub fn agrees(&self, index: u64, term: u64) -> bool {
        (index, term) == (0, 0)
            || self
                .entries
                .iter()
                .any(|(entry, _)| entry.index == index && entry.term == term)
    }

    /// After a snapshot at `index`: keeps later entries if `keep_tail`, drops whole
    /// segments that hold nothing after `index`.
    pub async fn compact(&mut self, index: u64, keep_tail: bool) -> Result<(), StoreError> {
        if !keep_tail {
            self.entries.clear();
            return self.restart_at(index + 1).await;
        }
        self.entries.retain(|(entry, _)| entry.index > index);
        let droppable = self
            .manifest
            .segments
            .windows(2)
            .take_while(|pair| pair[1].first_index <= index + 1)
            .count();
        if droppable == 0 {
            return Ok(());
        }
        let dropped: Vec<Segment> = self.manifest.segments.drain(..droppable).collect();
        for (_, position) in &mut self.entries {
            position.segment -= droppable;
        }
        write_single(&self.dir.join("log-manifest"), &self.manifest).await?;
        self.discard(&dropped).await
    }

    async fn truncate_from(&mut self, index: u64) -> Result<(), StoreError> {
        let Some(cut) = self.entries.iter().position(|(entry, _)| entry.index >= index) else {
            return Ok(());
        };
        let position = self.entries[cut].1;
        self.entries.truncate(cut);
        let active = self.manifest.segments.len() - 1;
        if position.segment != active {
            let dropped: Vec<Segment> = self.manifest.segments.drain(position.segment + 1..).collect();
            write_single(&self.dir.join("log-manifest"), &self.manifest).await?;
            self.discard(&dropped).await?;
            let path = segment_path(&self.dir, self.manifest.segments[position.segment].number);
            let prefix = read(&path).await?;
            self.active = open_rewritten(&path, &prefix[..position.offset as usize]).await?;
            self.active_len = position.offset;
            return Ok(());
        }
        self.active_len = position.offset;
        let path = self.active.path().to_owned();
        // Synced before anything is written over the cut: a crash must never leave new
        // records followed by old ones.
        let truncated = self.active.truncate(position.offset).await;
        let synced = match truncated {
            Ok(()) => self.active.sync().await,
            Err(error) => Err(error),
        };
        synced.map_err(|source| StoreError::Io {
            path,
            operation: "truncate",
            source,
        })
    }

    async fn roll_over(&mut self, first_index: u64) -> Result<(), StoreError> {
        let segment = Segment {
            number: self.manifest.next_number,
            first_index,
        };
        self.manifest.next_number += 1;
        let active = open_rewritten(&segment_path(&self.dir, segment.number), &[]).await?;
        self.manifest.segments.push(segment);
        write_single(&self.dir.join("log-manifest"), &self.manifest).await?;
        self.active = active;
        self.active_len = 0;
        Ok(())
    }

    /// Replaces every segment by one empty segment starting at `first_index`.
    async fn restart_at(&mut self, first_index: u64) -> Result<(), StoreError> {
        let dropped = std::mem::take(&mut self.manifest.segments);
        self.roll_over(first_index).await?;
        self.discard(&dropped).await
    }

    async fn discard(&self, segments: &[Segment]) -> Result<(), StoreError> {
        for segment in segments {
            let path = segment_path(&self.dir, segment.number);
            storage::discard(&path).await.map_err(|source| StoreError::Io {
                path,
                operation: "remove",
                source,
            })?;
        }
        Ok(())
    }
}

/// The file names of the segments `dir`'s manifest names, in order.
pub(super) async fn named_segments(dir: &Path) -> Result<Vec<String>, StoreError> {
    let manifest: Manifest = read_single(&dir.join("log-manifest")).await?.unwrap_or_default();
    Ok(manifest
        .segments
        .iter()
        .map(|segment| segment_file_name(segment.number))
        .collect())
}

fn segment_file_name(number: u64) -> String {
    format!("log-{number:08}")
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(segment_file_name(number))
}

fn check_contiguous(entries: &[(Entry, Position)], entry: &Entry, path: &Path, offset: u64) -> Result<(), StoreError> {
    match entries.last() {
        Some((previous, _)) if entry.index != previous.index + 1 => Err(StoreError::Gap {
            path: path.to_owned(),
            offset,
            expected: previous.index + 1,
            found: entry.index,
        }),
        _ => Ok(()),
    }
}

async fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    storage::read(path)
        .await
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            operation: "read",
            source,
        })
        .map(Option::unwrap_or_default)
}

async fn open_rewritten(path: &Path, contents: &[u8]) -> Result<AppendFile, StoreError> {
    AppendFile::replace_and_open(path, contents)
        .await
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            operation: "rewrite",
            source,
        })
}
