//! Durable files on the real disk or on madsim's simulated per-node disk.
//!
//! Invariants: after [`write_atomic`] returns, the file holds exactly the new bytes and
//! survives a crash; before it returns, a crash leaves the old bytes (real disk: temp
//! file, fsync, rename, directory fsync). An [`AppendFile`] write is durable once
//! [`AppendFile::sync`] returns.

use std::io;
use std::path::{Path, PathBuf};

/// Reads a whole file; `Ok(None)` if it does not exist.
pub async fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    #[cfg(madsim)]
    let result = madsim::fs::read(path).await;
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
        let file = madsim::fs::File::create(path).await?;
        file.write_all_at(bytes, 0).await?;
        file.set_len(bytes.len() as u64).await?;
        file.sync_all().await
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
        let file = madsim::fs::File::create(path).await?;
        file.sync_all().await
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
        let file = {
            // The simulated disk opens for writing only by truncating: write it back.
            let file = madsim::fs::File::create(path).await?;
            file.write_all_at(contents, 0).await?;
            file.sync_all().await?;
            file
        };
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
            self.file.write_all_at(bytes, offset).await
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
            self.file.set_len(len).await
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
            self.file.sync_all().await
        }
        #[cfg(not(madsim))]
        {
            self.file.sync_data()
        }
    }
}

#[cfg(not(madsim))]
mod real {
    use std::fs::{self, File, OpenOptions};
    use std::io::{self, Write as _};
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    use std::path::Path;

    pub(super) fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> io::Result<()> {
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
        temp_name.push(".tmp");
        let temp = dir.join(temp_name);
        let mode = if secret { 0o600 } else { 0o644 };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    }
}
