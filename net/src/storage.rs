//! Durable small files, on the real disk or on madsim's simulated per-node disk.
//!
//! Invariant: after [`write_atomic`] returns, the file holds exactly the new bytes and
//! survives a crash; before it returns, a crash leaves the old bytes (real disk: temp
//! file, fsync, rename, directory fsync).

use std::io;
use std::path::Path;

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
