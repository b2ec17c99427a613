//! Staging: copying an artifact to this node from a member that holds it, over the
//! peer streams, under an intent the applied state records (this node's residency of
//! the artifact is `staging`).
//!
//! Invariants:
//! - A transfer has at most one chunk in flight, and a chunk is at most
//!   [`STAGING_CHUNK_BYTES_MAX`]: a peer stream carries at most one chunk per transfer
//!   ahead of the consensus frames queued behind it.
//! - A chunk is written only at the offset its transfer expects, from the source it
//!   asked, and only if its manifest is the one the transfer started with.
//! - A copy counts only once the driver verified the whole of it against the artifact's
//!   digest ([`StagingIo::Finish`]); a copy that fails ends `failed`, its bytes
//!   discarded, and is never reported resident.
//! - A node serves chunks only of an artifact its disk holds resident, and only to a
//!   member the applied state shows staging that artifact.

mod manifest;
mod memory;
mod message;
mod source;
mod store;
mod target;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use manifest::{
    ARTIFACT_BYTES_MAX, ARTIFACT_FILE_NAME_BYTES_MAX, ARTIFACT_FILES_MAX, ArtifactHasher, Manifest, ManifestFile,
    StagingFault,
};
pub use memory::MemoryArtifacts;
pub use message::StagingMessage;
pub use source::{Fetch, Sources};
pub use store::StagingStore;
pub use target::{ArrivedChunk, Here, Transfers};

use crate::digest::Digest;
use crate::identity::NodeId;

/// Most bytes one chunk carries.
pub const STAGING_CHUNK_BYTES_MAX: usize = crate::limits::SNAPSHOT_CHUNK_BYTES_MAX;

/// A fetch unanswered for this long is sent again, to the next holder.
pub const STAGING_FETCH_TIMEOUT_MS: u64 = 2_000;

/// Reads a source has in flight at most (fetches beyond are dropped; their transfers
/// ask again).
pub const STAGING_READS_MAX: usize = 8;

/// Transfers one node runs at once at most (intents beyond wait their turn).
pub const STAGING_TRANSFERS_MAX: usize = 4;

/// Work for the driver's disk; each ends with a [`StagingDone`] handed back to the
/// core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagingIo {
    /// Open the partial copy of `artifact` (creating it if none), keeping the
    /// contiguous prefix of its bytes that a saved manifest accounts for: answered
    /// with [`StagingDone::Opened`].
    Open {
        /// The artifact.
        artifact: Digest,
    },
    /// Write `bytes` at `offset` of the partial copy, laid out by `manifest`:
    /// answered with [`StagingDone::Written`].
    Write {
        /// The artifact.
        artifact: Digest,
        /// Its files.
        manifest: Manifest,
        /// Offset in the files' concatenation.
        offset: u64,
        /// The chunk.
        bytes: Vec<u8>,
    },
    /// Make the partial copy durable, verify it against `artifact`, and move it among
    /// the node's artifacts (or discard it): answered with [`StagingDone::Finished`].
    Finish {
        /// The artifact.
        artifact: Digest,
        /// Its files.
        manifest: Manifest,
    },
    /// Delete the partial copy (its intent was withdrawn). Not answered.
    Discard {
        /// The artifact.
        artifact: Digest,
    },
    /// Read up to `len` bytes at `offset` of the resident `artifact` for `peer`:
    /// answered with [`StagingDone::Read`].
    Read {
        /// Who asked.
        peer: NodeId,
        /// The artifact.
        artifact: Digest,
        /// Offset in the files' concatenation.
        offset: u64,
        /// Most bytes.
        len: u32,
    },
}

/// The driver's answer to a [`StagingIo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagingDone {
    /// The partial copy is open; its first `bytes_present` bytes are kept.
    Opened {
        /// The artifact.
        artifact: Digest,
        /// Bytes kept, or why it could not be opened.
        result: Result<u64, StagingFailure>,
    },
    /// A chunk was written.
    Written {
        /// The artifact.
        artifact: Digest,
        /// The contiguous bytes the copy now holds, or why the write failed.
        result: Result<u64, StagingFailure>,
    },
    /// The copy was verified and moved in, or discarded.
    Finished {
        /// The artifact.
        artifact: Digest,
        /// Why it was discarded.
        result: Result<(), StagingFailure>,
    },
    /// A read for `peer` ended.
    Read {
        /// Who asked.
        peer: NodeId,
        /// The artifact.
        artifact: Digest,
        /// Offset read at.
        offset: u64,
        /// The artifact's files and the bytes, or why there are none.
        result: Result<(Manifest, Vec<u8>), StagingFailure>,
    },
}

/// Why a copy (or a read for one) failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum StagingFailure {
    /// The disk refused: the operation and the system's error.
    #[error("{operation} failed: {error}")]
    Io {
        /// What was being done.
        operation: String,
        /// The system's error.
        error: String,
    },
    /// The node has no models directory to copy into or read from.
    #[error("this node has no models directory")]
    NoModelsDirectory,
    /// The node does not hold the artifact (a source asked for it).
    #[error("artifact {artifact} is not held here")]
    NotHeld {
        /// The artifact.
        artifact: Digest,
    },
    /// The whole copy hashes to another digest.
    #[error("the copy hashes to {got}, not {expected}")]
    DigestMismatch {
        /// The artifact.
        expected: Digest,
        /// What the copy hashes to.
        got: Digest,
    },
    /// A manifest names a file the driver does not write.
    #[error("a manifest names the file {name:?}, which an artifact does not hold")]
    FileName {
        /// The name.
        name: String,
    },
    /// A source's chunk started beyond the artifact's end.
    #[error("a chunk at {offset} is beyond the artifact's {total_bytes} bytes")]
    Beyond {
        /// Its offset.
        offset: u64,
        /// The artifact's bytes.
        total_bytes: u64,
    },
}

/// What staging observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum StagingEvent {
    /// A transfer asked `source` for its first chunk (or asked it again after the
    /// previous source went quiet or lacked the artifact).
    StagingFetching {
        /// The artifact.
        artifact: Digest,
        /// The holder asked.
        source: NodeId,
        /// Offset asked for.
        offset: u64,
    },
    /// The copy was verified and moved among this node's artifacts.
    StagingFinished {
        /// The artifact.
        artifact: Digest,
        /// Its bytes.
        bytes_total: u64,
    },
    /// The copy failed; its bytes were discarded.
    StagingFailed {
        /// The artifact.
        artifact: Digest,
        /// Why.
        failure: StagingFailure,
    },
}

/// What staging asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagingEffect {
    /// Work for the driver's disk.
    Io(StagingIo),
    /// A message to a peer.
    Send {
        /// The peer.
        to: NodeId,
        /// The message.
        message: StagingMessage,
    },
    /// Something to tell the application.
    Event(StagingEvent),
    /// A message broke staging's rules.
    Refuse(StagingRefusal),
}

/// Why a staging message was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum StagingRefusal {
    /// A fetch from a node the applied state does not show staging the artifact.
    #[error("{sender} fetched {artifact}, which the state records it as {recorded:?}, not staging")]
    NotStaging {
        /// The sender.
        sender: NodeId,
        /// The artifact.
        artifact: Digest,
        /// Its residency there, as recorded.
        recorded: Option<crate::state::Residency>,
    },
    /// A chunk no transfer asked the sender for, or at another offset.
    #[error("{sender} sent a chunk of {artifact} at {offset}, expected {expected_offset:?}")]
    UnexpectedChunk {
        /// The sender.
        sender: NodeId,
        /// The artifact.
        artifact: Digest,
        /// Its offset.
        offset: u64,
        /// The offset the transfer asked for (none: no transfer asked the sender).
        expected_offset: Option<u64>,
    },
    /// A chunk of another length than the rest of the artifact or a whole chunk.
    #[error("{sender} sent {len} bytes of {artifact}, expected {expected_len}")]
    ChunkLength {
        /// The sender.
        sender: NodeId,
        /// The artifact.
        artifact: Digest,
        /// Its length.
        len: u64,
        /// The length expected.
        expected_len: u64,
    },
    /// A chunk whose manifest names a file an artifact does not hold.
    #[error("{sender} sent a manifest of {artifact} naming the file {name:?}")]
    ForeignFile {
        /// The sender.
        sender: NodeId,
        /// The artifact.
        artifact: Digest,
        /// The file's name.
        name: String,
    },
    /// A chunk whose manifest differs from the transfer's.
    #[error("{sender} sent a chunk of {artifact} with another manifest")]
    ManifestChanged {
        /// The sender.
        sender: NodeId,
        /// The artifact.
        artifact: Digest,
    },
}

impl StagingRefusal {
    /// The node that sent the refused message.
    pub fn sender(&self) -> NodeId {
        match self {
            StagingRefusal::NotStaging { sender, .. }
            | StagingRefusal::UnexpectedChunk { sender, .. }
            | StagingRefusal::ChunkLength { sender, .. }
            | StagingRefusal::ForeignFile { sender, .. }
            | StagingRefusal::ManifestChanged { sender, .. } => *sender,
        }
    }
}
