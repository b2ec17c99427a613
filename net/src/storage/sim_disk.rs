//! madsim's per-node disk with the failure model it lacks: a write is volatile until
//! synced, and a killed node's volatile writes are undone when it boots again, before
//! anything reads the disk. A sync takes simulated time, so a kill can land between a
//! write and its sync. Scoped to the current thread, which is one simulated run.
//!
//! The simulated disk cannot remove files: an empty file stands for an absent one.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use madsim::fs::File;

/// Simulated fsync latency range, microseconds.
const SYNC_LATENCY_US: std::ops::Range<u64> = 50..1_000;

/// How to undo one volatile write: put `old` back at `offset`, then cut to `old_len`.
#[derive(Debug)]
struct Undo {
    path: PathBuf,
    offset: u64,
    old: Vec<u8>,
    old_len: u64,
}

thread_local! {
    /// Volatile writes per madsim node, oldest first.
    static VOLATILE: RefCell<BTreeMap<madsim::task::NodeId, Vec<Undo>>> = RefCell::default();
}

/// Reads a whole file.
pub(super) async fn read(path: &Path) -> io::Result<Vec<u8>> {
    madsim::fs::read(path).await
}

/// Replaces the file at `path` with `bytes`, durable when this returns.
pub(super) async fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let old = match madsim::fs::read(path).await {
        Ok(old) => old,
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error),
    };
    let file = File::create(path).await?;
    remember(Undo {
        path: path.to_owned(),
        offset: 0,
        old_len: old.len() as u64,
        old,
    });
    file.write_all_at(bytes, 0).await?;
    file.set_len(bytes.len() as u64).await?;
    sync(&file, path).await
}

/// Opens `path` for writing after making its contents exactly `contents`.
pub(super) async fn open_for_writing(path: &Path, contents: &[u8]) -> io::Result<File> {
    // The simulated disk opens for writing only by truncating: write it back.
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await?;
    file.sync_all().await?;
    Ok(file)
}

/// Writes `bytes` at `offset`; volatile until [`sync`].
pub(super) async fn write_at(file: &File, path: &Path, bytes: &[u8], offset: u64) -> io::Result<()> {
    let old_len = file.metadata().await?.len();
    let overlap_end = old_len.min(offset + bytes.len() as u64);
    let mut old = vec![0; overlap_end.saturating_sub(offset) as usize];
    if !old.is_empty() {
        file.read_at(&mut old, offset).await?;
    }
    remember(Undo {
        path: path.to_owned(),
        offset,
        old,
        old_len,
    });
    file.write_all_at(bytes, offset).await
}

/// Cuts the file to `len`; volatile until [`sync`].
pub(super) async fn truncate(file: &File, path: &Path, len: u64) -> io::Result<()> {
    let old_len = file.metadata().await?.len();
    let mut old = vec![0; old_len.saturating_sub(len) as usize];
    if !old.is_empty() {
        file.read_at(&mut old, len).await?;
    }
    remember(Undo {
        path: path.to_owned(),
        offset: len,
        old,
        old_len,
    });
    file.set_len(len).await
}

/// Makes every write to `path` durable, after a simulated fsync latency.
pub(super) async fn sync(file: &File, path: &Path) -> io::Result<()> {
    use madsim::rand::Rng as _;
    let latency_us = madsim::rand::thread_rng().gen_range(SYNC_LATENCY_US);
    tokio::time::sleep(Duration::from_micros(latency_us)).await;
    file.sync_all().await?;
    let node = madsim::plugin::node();
    VOLATILE.with_borrow_mut(|volatile| {
        if let Some(undos) = volatile.get_mut(&node) {
            undos.retain(|undo| undo.path != path);
        }
    });
    Ok(())
}

/// Undoes the current node's writes that were never synced (call first thing when it
/// boots). Returns how many writes were lost.
pub async fn lose_unsynced_writes() -> io::Result<usize> {
    let node = madsim::plugin::node();
    let undos = VOLATILE.with_borrow_mut(|volatile| volatile.remove(&node).unwrap_or_default());
    for undo in undos.iter().rev() {
        let mut restored = read(&undo.path).await?;
        let (offset, old_end) = (undo.offset as usize, undo.offset as usize + undo.old.len());
        restored.resize(restored.len().max(old_end), 0);
        restored[offset..old_end].copy_from_slice(&undo.old);
        restored.resize(undo.old_len as usize, 0);
        let file = File::create(&undo.path).await?;
        file.write_all_at(&restored, 0).await?;
    }
    Ok(undos.len())
}

fn remember(undo: Undo) {
    let node = madsim::plugin::node();
    VOLATILE.with_borrow_mut(|volatile| volatile.entry(node).or_default().push(undo));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::lose_unsynced_writes;
    use crate::storage::{AppendFile, read, write_atomic};

    #[madsim::test]
    async fn a_write_not_synced_is_lost_and_a_synced_one_survives() {
        let path = Path::new("/log");
        let file = AppendFile::replace_and_open(path, b"head").await.unwrap();
        file.write_at(b"tail", 4).await.unwrap();
        assert_eq!(lose_unsynced_writes().await.unwrap(), 1);
        assert_eq!(read(path).await.unwrap().unwrap(), b"head");

        let file = AppendFile::replace_and_open(path, b"head").await.unwrap();
        file.write_at(b"tail", 4).await.unwrap();
        file.sync().await.unwrap();
        file.truncate(2).await.unwrap();
        file.write_at(b"XY", 2).await.unwrap();
        assert_eq!(lose_unsynced_writes().await.unwrap(), 2, "the cut and the rewrite");
        assert_eq!(read(path).await.unwrap().unwrap(), b"headtail");
    }

    #[madsim::test]
    async fn an_atomic_replace_is_durable_once_it_returns() {
        let path = Path::new("/state");
        write_atomic(path, b"old", false).await.unwrap();
        write_atomic(path, b"new!", false).await.unwrap();
        assert_eq!(lose_unsynced_writes().await.unwrap(), 0);
        assert_eq!(read(path).await.unwrap().unwrap(), b"new!");
    }
}
