//! Backups of a stopped node's data directory, and restoring one.
//!
//! A backup copies the files that hold the node's durable state: `identity`,
//! `hard-state`, `snapshot`, `log-manifest` and the segments the manifest names. A
//! restore writes the restored mark first, then replaces each of those files by the
//! backup's (removing those the backup lacks), so a restore cut short by a crash still
//! leaves the mark: the node starts recovering (see `psionic_core::consensus`'s
//! recovery) and neither votes nor stands until it has caught up with a leader, when
//! the driver removes the mark.

use std::path::{Path, PathBuf};

use super::StoreError;
use crate::storage;

/// The file whose presence marks a data directory as restored from a backup.
pub const RESTORED_MARK: &str = "restored";

/// Files of fixed name that hold durable state.
const STATE_FILES: [&str; 4] = ["identity", "hard-state", "snapshot", "log-manifest"];

/// Copies the durable state of `data_dir` into `to` (which should be empty); returns
/// the files copied. The node must not be running.
pub async fn backup(data_dir: &Path, to: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let names = state_files(data_dir).await?;
    copy(data_dir, to, &names).await
}

/// How a restored node rejoins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejoin {
    /// It catches up with its cluster's leader before it votes (the restored mark).
    Recover,
    /// It trusts the backup as it is: for restoring every node of a cluster at once,
    /// when there is no leader to catch up with (what was acknowledged after the
    /// backups is lost).
    TrustBackup,
}

/// Replaces the durable state of `data_dir` by the backup in `from`, marked restored
/// unless `rejoin` trusts the backup; returns the files written. The node must not be
/// running.
pub async fn restore(from: &Path, data_dir: &Path, rejoin: Rejoin) -> Result<Vec<PathBuf>, StoreError> {
    if read(&from.join("identity")).await?.is_none() {
        return Err(StoreError::NotABackup { path: from.to_owned() });
    }
    let mark = data_dir.join(RESTORED_MARK);
    match rejoin {
        Rejoin::Recover => storage::write_atomic(&mark, b"restored from a backup\n", false).await,
        Rejoin::TrustBackup => storage::discard(&mark).await,
    }
    .map_err(io_error(&mark, "write"))?;
    for name in STATE_FILES {
        if read(&from.join(name)).await?.is_none() {
            let path = data_dir.join(name);
            storage::discard(&path).await.map_err(io_error(&path, "remove"))?;
        }
    }
    let names = state_files(from).await?;
    copy(from, data_dir, &names).await
}

/// The names of the files holding `dir`'s durable state that exist.
async fn state_files(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for name in STATE_FILES {
        if read(&dir.join(name)).await?.is_some() {
            names.push(name.to_owned());
        }
    }
    names.extend(super::segments::named_segments(dir).await?);
    Ok(names)
}

async fn copy(from: &Path, to: &Path, names: &[String]) -> Result<Vec<PathBuf>, StoreError> {
    let mut written = Vec::with_capacity(names.len());
    for name in names {
        let Some(bytes) = read(&from.join(name)).await? else {
            continue;
        };
        let path = to.join(name);
        storage::write_atomic(&path, &bytes, name == "identity")
            .await
            .map_err(io_error(&path, "write"))?;
        written.push(path);
    }
    Ok(written)
}

async fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    storage::read(path).await.map_err(io_error(path, "read"))
}

fn io_error(path: &Path, operation: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io {
        path,
        operation,
        source,
    }
}
