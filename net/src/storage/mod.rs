//! Durable files on the real disk or on madsim's simulated per-node disk.
//!
//! Invariants: after [`write_atomic`] returns, the file holds exactly the new bytes and
//! survives a crash; before it returns, a crash leaves the old bytes (real disk: temp
//! file, fsync, rename, directory fsync). An [`AppendFile`] write is durable once
//! [`AppendFile::sync`] returns. The simulated disk enforces the same contract: a
//! write not yet synced when its node is killed is undone (see [`sim_disk`]).

use std::io;
use std::path::{Path, PathBuf};

/// Reads a whole file; `Ok(None)` if it does not exist.
pub async fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    #[cfg(madsim)]
    let result = sim_disk::read(path).await.and_then(|bytes| {
        if bytes.is_empty() {
            Err(io::ErrorKind::NotFound.into())
        } else {
            Ok(bytes)
        }
    });
    #[cfg(not(madsim))]
    let result = std::fs::read(path);
    match result {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Replaces the file at `path` with `bytes` atomically and durably. With `secret`, the
/// file is readable by its owner only.
pub async fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> io::Result<()> {
    #[cfg(madsim)]
    {
        let _ = secret;
        sim_disk::replace(path, bytes).await
    }
    #[cfg(not(madsim))]
    {
        real::write_atomic(path, bytes, secret)
    }
}

/// Removes the file at `path` (a missing file is fine). The simulated disk cannot
/// remove files: there the file is emptied instead.
pub async fn discard(path: &Path) -> io::Result<()> {
    #[cfg(madsim)]
    {
        sim_disk::replace(path, &[]).await
    }
    #[cfg(not(madsim))]
    {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// A file written at explicit offsets and synced on demand (the log).
#[derive(Debug)]
pub struct AppendFile {
    path: PathBuf,
    #[cfg(madsim)]
    file: madsim::fs::File,
    #[cfg(not(madsim))]
    file: std::fs::File,
}

impl AppendFile {
    /// Atomically replaces the file at `path` with `contents`, then opens it for writing
    /// after them.
    pub async fn replace_and_open(path: &Path, contents: &[u8]) -> io::Result<Self> {
        write_atomic(path, contents, false).await?;
        #[cfg(madsim)]
        let file = sim_disk::open_for_writing(path, contents).await?;
        #[cfg(not(madsim))]
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` at `offset`.
    pub async fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        #[cfg(madsim)]
        {
            sim_disk::write_at(&self.file, &self.path, bytes, offset).await
        }
        #[cfg(not(madsim))]
        {
            std::os::unix::fs::FileExt::write_all_at(&self.file, bytes, offset)
        }
    }

    /// Cuts the file to `len` bytes.
    pub async fn truncate(&self, len: u64) -> io::Result<()> {
        #[cfg(madsim)]
        {
            sim_disk::truncate(&self.file, &self.path, len).await
        }
        #[cfg(not(madsim))]
        {
            self.file.set_len(len)
        }
    }

    /// Makes every write so far durable.
    pub async fn sync(&self) -> io::Result<()> {
        #[cfg(madsim)]
        {
            sim_disk::sync(&self.file, &self.path).await
        }
        #[cfg(not(madsim))]
        {
            self.file.sync_data()
        }
    }
}

#[cfg(not(madsim))]
mod real;
#[cfg(madsim)]
pub mod sim_disk;
