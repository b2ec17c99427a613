//! The node identity file: secret key and epoch, checksummed, written atomically with
//! owner-only permissions.
//!
//! Layout: `MAGIC (16) | format version (u16 LE) | secret key (32) | epoch (u64 LE) |
//! SHA-256 of everything before (32)`. A file that is short, has another magic or
//! version, or fails its checksum is an error naming the file; it is never replaced.

use std::io;
use std::path::{Path, PathBuf};

use psionic_core::{NodeEpoch, NodeIdentity};
use sha2::{Digest as _, Sha256};

use crate::storage;

const MAGIC: &[u8; 16] = b"psionic-identity";
const FORMAT_VERSION: u16 = 1;
const FILE_LEN: usize = 16 + 2 + 32 + 8 + 32;

/// The file name of the identity inside a data directory.
pub const IDENTITY_FILE_NAME: &str = "identity";

/// Why the identity file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No identity yet.
    #[error("{path}: no node identity here; create one with `psionic-node init --data-dir {dir}`", path = path.display(), dir = path.parent().unwrap_or(Path::new(".")).display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// `init` found an identity already.
    #[error("{path}: a node identity already exists; refusing to replace it", path = path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("{path}: cannot {operation}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The file has the wrong length (truncated or padded).
    #[error("{path}: identity file is {len} bytes, expected {expected}; it is corrupt or truncated (restore it from backup; it is never replaced automatically)", path = path.display())]
    WrongLength {
        /// The file.
        path: PathBuf,
        /// Bytes found.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The file is not an identity file, or of another format version.
    #[error("{path}: not a psionic identity file of format version {expected} (found magic {magic_ok}, version {version})", path = path.display(), magic_ok = if *magic_ok { "ok" } else { "wrong" })]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// Whether the magic matched.
        magic_ok: bool,
        /// Version found.
        version: u16,
        /// Version this build reads.
        expected: u16,
    },
    /// The checksum does not match the contents.
    #[error("{path}: identity file checksum mismatch; it is corrupt (restore it from backup; it is never replaced automatically)", path = path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
    },
}

/// A node identity on disk.
#[derive(Debug, Clone)]
pub struct IdentityFile {
    path: PathBuf,
}

impl IdentityFile {
    /// The identity file inside `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(IDENTITY_FILE_NAME),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a new identity with a fresh key at epoch 0. Refuses to replace one.
    pub async fn create(&self, secret_key: [u8; 32]) -> Result<NodeIdentity, IdentityError> {
        if self.read_bytes().await?.is_some() {
            return Err(IdentityError::AlreadyExists {
                path: self.path.clone(),
            });
        }
        self.write(&secret_key, NodeEpoch(0)).await?;
        Ok(NodeIdentity::new(secret_key, NodeEpoch(0)))
    }

    /// Loads the identity, advances its epoch (to at least `floor`) and makes the new
    /// epoch durable before returning it: the node may speak only after this. With a
    /// floor from the wall clock ([`epoch_floor`]), a node restored from an older copy
    /// of its directory still starts in an epoch no peer has seen.
    pub async fn load_and_advance(&self, floor: NodeEpoch) -> Result<NodeIdentity, IdentityError> {
        let (secret_key, epoch) = self.load_raw().await?;
        let next = epoch.next().max(floor);
        self.write(&secret_key, next).await?;
        Ok(NodeIdentity::new(secret_key, next))
    }

    /// The stored epoch: above 0 once a node has started from this directory. `None`
    /// when there is no identity file.
    pub async fn stored_epoch(&self) -> Result<Option<NodeEpoch>, IdentityError> {
        match self.read_bytes().await? {
            None => Ok(None),
            Some(bytes) => decode(&self.path, &bytes).map(|(_, epoch)| Some(epoch)),
        }
    }

    /// Loads the identity without changing it.
    pub async fn load(&self) -> Result<NodeIdentity, IdentityError> {
        let (secret_key, epoch) = self.load_raw().await?;
        Ok(NodeIdentity::new(secret_key, epoch))
    }

    async fn load_raw(&self) -> Result<([u8; 32], NodeEpoch), IdentityError> {
        let bytes = self.read_bytes().await?.ok_or_else(|| IdentityError::Missing {
            path: self.path.clone(),
        })?;
        decode(&self.path, &bytes)
    }

    async fn read_bytes(&self) -> Result<Option<Vec<u8>>, IdentityError> {
        storage::read(&self.path).await.map_err(|source| IdentityError::Io {
            path: self.path.clone(),
            operation: "read",
            source,
        })
    }

    async fn write(&self, secret_key: &[u8; 32], epoch: NodeEpoch) -> Result<(), IdentityError> {
        let bytes = encode(secret_key, epoch);
        storage::write_atomic(&self.path, &bytes, true)
            .await
            .map_err(|source| IdentityError::Io {
                path: self.path.clone(),
                operation: "write",
                source,
            })
    }
}

fn encode(secret_key: &[u8; 32], epoch: NodeEpoch) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FILE_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(secret_key);
    bytes.extend_from_slice(&epoch.0.to_le_bytes());
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    bytes
}

fn decode(path: &Path, bytes: &[u8]) -> Result<([u8; 32], NodeEpoch), IdentityError> {
    if bytes.len() != FILE_LEN {
        return Err(IdentityError::WrongLength {
            path: path.to_owned(),
            len: bytes.len(),
            expected: FILE_LEN,
        });
    }
    let (content, checksum) = bytes.split_at(FILE_LEN - 32);
    let version = u16::from_le_bytes([content[16], content[17]]);
    let magic_ok = &content[..16] == MAGIC;
    if !magic_ok || version != FORMAT_VERSION {
        return Err(IdentityError::WrongFormat {
            path: path.to_owned(),
            magic_ok,
            version,
            expected: FORMAT_VERSION,
        });
    }
    if Sha256::digest(content).as_slice() != checksum {
        return Err(IdentityError::ChecksumMismatch { path: path.to_owned() });
    }
    let mut secret_key = [0u8; 32];
    secret_key.copy_from_slice(&content[18..50]);
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&content[50..58]);
    Ok((secret_key, NodeEpoch(u64::from_le_bytes(epoch))))
}

/// A fresh secret key from the OS (under simulation: from the seeded simulator).
pub fn generate_secret_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    crate::entropy::fill(&mut key);
    key
}

/// An epoch no earlier life of this node can have used, as long as the wall clock
/// never went back: milliseconds since the Unix epoch (each start takes at least one).
pub fn epoch_floor() -> NodeEpoch {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    NodeEpoch(u64::try_from(since_unix.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn epoch_advances_and_persists_on_every_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = IdentityFile::in_dir(dir.path());
        let created = block_on(file.create([5; 32])).unwrap();
        let first = block_on(file.load_and_advance(NodeEpoch(0))).unwrap();
        let second = block_on(file.load_and_advance(NodeEpoch(0))).unwrap();
        assert_eq!(created.node_id(), second.node_id());
        assert_eq!((first.epoch(), second.epoch()), (NodeEpoch(1), NodeEpoch(2)));
        assert_eq!(block_on(file.load()).unwrap().epoch(), NodeEpoch(2));
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn init_refuses_to_replace_an_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = IdentityFile::in_dir(dir.path());
        block_on(file.create([5; 32])).unwrap();
        assert!(matches!(
            block_on(file.create([6; 32])),
            Err(IdentityError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn corrupt_and_truncated_files_are_errors_that_name_the_file_and_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = IdentityFile::in_dir(dir.path());
        block_on(file.create([5; 32])).unwrap();
        let mut bytes = std::fs::read(file.path()).unwrap();
        bytes[40] ^= 1;
        std::fs::write(file.path(), &bytes).unwrap();
        let error = block_on(file.load_and_advance(NodeEpoch(0))).unwrap_err();
        assert!(matches!(error, IdentityError::ChecksumMismatch { .. }));
        assert!(error.to_string().contains(&file.path().display().to_string()));
        assert_eq!(
            std::fs::read(file.path()).unwrap(),
            bytes,
            "a corrupt file is never rewritten"
        );
        std::fs::write(file.path(), &bytes[..30]).unwrap();
        let error = block_on(file.load()).unwrap_err();
        assert!(matches!(error, IdentityError::WrongLength { len: 30, .. }));
        assert!(matches!(
            block_on(IdentityFile::in_dir(&dir.path().join("none")).load()),
            Err(IdentityError::Missing { .. })
        ));
    }
}
