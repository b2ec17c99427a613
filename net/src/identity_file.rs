//! The node identity file: node id, secret key, the key a pending rotation moves to,
//! and epoch, checksummed, written atomically with owner-only permissions.
//!
//! Layout (format 2): `MAGIC (16) | format version (u16 LE) | node id (16) | secret key
//! (32) | staged flag (u8) | staged secret key (32) | epoch (u64 LE) | SHA-256 of
//! everything before (32)`. Format 1 (`MAGIC | 1 | secret key | epoch | SHA-256`, a
//! node whose id is its key's digest) is read, and written back as format 2. A file
//! that is short, has another magic or version, or fails its checksum is an error
//! naming the file; it is never replaced.

use std::io;
use std::path::{Path, PathBuf};

use psionic_core::{NodeEpoch, NodeId, NodeIdentity, PublicKey};
use sha2::{Digest as _, Sha256};

use crate::storage;

const MAGIC: &[u8; 16] = b"psionic-identity";
const FORMAT_VERSION: u16 = 2;
const FILE_LEN: usize = 16 + 2 + 16 + 32 + 1 + 32 + 8 + 32;
const FILE_LEN_FORMAT_1: usize = 16 + 2 + 32 + 8 + 32;

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

/// What the identity file holds.
#[derive(Clone)]
pub struct StoredIdentity {
    /// The node's id (the digest of its first key).
    pub node_id: NodeId,
    /// The secret key it speaks with.
    pub secret_key: [u8; 32],
    /// The secret key a pending rotation moves it to.
    pub staged_key: Option<[u8; 32]>,
    /// The epoch last started in.
    pub epoch: NodeEpoch,
}

impl StoredIdentity {
    /// The identity it speaks as.
    pub fn identity(&self) -> NodeIdentity {
        NodeIdentity::of_node(self.node_id, self.secret_key, self.epoch)
    }
}

impl std::fmt::Debug for StoredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIdentity")
            .field("node_id", &self.node_id)
            .field("staged", &self.staged_key.is_some())
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A node identity on disk.
///
/// Invariant: every read-modify-write of the file through clones of one value is
/// serialised (two key rotations asked at once stage one key, not one each).
#[derive(Debug, Clone)]
pub struct IdentityFile {
    path: PathBuf,
    changes: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl IdentityFile {
    /// The identity file inside `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(IDENTITY_FILE_NAME),
            changes: Default::default(),
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
        let identity = NodeIdentity::new(secret_key, NodeEpoch(0));
        let stored = StoredIdentity {
            node_id: identity.node_id(),
            secret_key,
            staged_key: None,
            epoch: NodeEpoch(0),
        };
        self.write(&stored).await?;
        Ok(identity)
    }

    /// Loads the identity, advances its epoch (to at least `floor`) and makes the new
    /// epoch durable before returning it: the node may speak only after this. With a
    /// floor from the wall clock ([`epoch_floor`]), a node restored from an older copy
    /// of its directory still starts in an epoch no peer has seen.
    pub async fn load_and_advance(&self, floor: NodeEpoch) -> Result<StoredIdentity, IdentityError> {
        let _changing = self.changes.lock().await;
        let mut stored = self.load_stored().await?;
        stored.epoch = stored.epoch.next().max(floor);
        self.write(&stored).await?;
        Ok(stored)
    }

    /// The stored epoch: above 0 once a node has started from this directory. `None`
    /// when there is no identity file.
    pub async fn stored_epoch(&self) -> Result<Option<NodeEpoch>, IdentityError> {
        match self.read_bytes().await? {
            None => Ok(None),
            Some(bytes) => decode(&self.path, &bytes).map(|stored| Some(stored.epoch)),
        }
    }

    /// Loads the identity without changing it.
    pub async fn load(&self) -> Result<NodeIdentity, IdentityError> {
        Ok(self.load_stored().await?.identity())
    }

    /// Keeps `secret_key` durably as the key a pending rotation moves to (replacing
    /// any staged before).
    pub async fn stage(&self, secret_key: [u8; 32]) -> Result<(), IdentityError> {
        let _changing = self.changes.lock().await;
        self.stage_unlocked(secret_key).await
    }

    async fn stage_unlocked(&self, secret_key: [u8; 32]) -> Result<(), IdentityError> {
        let mut stored = self.load_stored().await?;
        stored.staged_key = Some(secret_key);
        self.write(&stored).await
    }

    /// The key the file already stages (a rotation follows one key at a time), or a
    /// new one from the OS, kept there first.
    pub async fn staged_or_new(&self) -> Result<[u8; 32], IdentityError> {
        let _changing = self.changes.lock().await;
        if let Some(staged) = self.load_stored().await?.staged_key {
            return Ok(staged);
        }
        let secret_key = generate_secret_key();
        self.stage_unlocked(secret_key).await?;
        Ok(secret_key)
    }

    /// Makes the staged key the one the node speaks with, if it is the key of
    /// `public_key` (its rotation applied); the old secret is gone from the file.
    pub async fn promote(&self, public_key: PublicKey) -> Result<bool, IdentityError> {
        let _changing = self.changes.lock().await;
        let mut stored = self.load_stored().await?;
        let Some(staged) = stored.staged_key else {
            return Ok(false);
        };
        if NodeIdentity::new(staged, NodeEpoch(0)).public_key().to_bytes() != public_key.0 {
            return Ok(false);
        }
        stored.secret_key = staged;
        stored.staged_key = None;
        self.write(&stored).await?;
        Ok(true)
    }

    /// Everything the file holds.
    pub async fn load_stored(&self) -> Result<StoredIdentity, IdentityError> {
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

    async fn write(&self, stored: &StoredIdentity) -> Result<(), IdentityError> {
        let bytes = encode(stored);
        storage::write_atomic(&self.path, &bytes, true)
            .await
            .map_err(|source| IdentityError::Io {
                path: self.path.clone(),
                operation: "write",
                source,
            })
    }
}

fn encode(stored: &StoredIdentity) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FILE_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&stored.node_id.0);
    bytes.extend_from_slice(&stored.secret_key);
    bytes.push(u8::from(stored.staged_key.is_some()));
    bytes.extend_from_slice(&stored.staged_key.unwrap_or([0; 32]));
    bytes.extend_from_slice(&stored.epoch.0.to_le_bytes());
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    bytes
}

fn decode(path: &Path, bytes: &[u8]) -> Result<StoredIdentity, IdentityError> {
    let version = (bytes.len() >= 18).then(|| u16::from_le_bytes([bytes[16], bytes[17]]));
    let magic_ok = bytes.get(..16) == Some(MAGIC.as_slice());
    let expected = match version {
        Some(1) => FILE_LEN_FORMAT_1,
        _ => FILE_LEN,
    };
    if bytes.len() != expected {
        return Err(IdentityError::WrongLength {
            path: path.to_owned(),
            len: bytes.len(),
            expected,
        });
    }
    if !magic_ok || !matches!(version, Some(1 | FORMAT_VERSION)) {
        return Err(IdentityError::WrongFormat {
            path: path.to_owned(),
            magic_ok,
            version: version.unwrap_or(0),
            expected: FORMAT_VERSION,
        });
    }
    let (content, checksum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content).as_slice() != checksum {
        return Err(IdentityError::ChecksumMismatch { path: path.to_owned() });
    }
    let mut fields = Fields(&content[18..]);
    Ok(if version == Some(1) {
        let secret_key = fields.take::<32>();
        StoredIdentity {
            node_id: NodeIdentity::new(secret_key, NodeEpoch(0)).node_id(),
            secret_key,
            staged_key: None,
            epoch: NodeEpoch(u64::from_le_bytes(fields.take::<8>())),
        }
    } else {
        let node_id = NodeId(fields.take::<16>());
        let secret_key = fields.take::<32>();
        let staged = fields.take::<1>()[0] != 0;
        let staged_key = fields.take::<32>();
        StoredIdentity {
            node_id,
            secret_key,
            staged_key: staged.then_some(staged_key),
            epoch: NodeEpoch(u64::from_le_bytes(fields.take::<8>())),
        }
    })
}

/// Fixed-size fields read in order from a buffer of checked length.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (field, rest) = self.0.split_at(N);
        self.0 = rest;
        field.try_into().expect("split at N")
    }
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
mod tests;
