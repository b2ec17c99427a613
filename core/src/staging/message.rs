//! Staging's messages, on the peer streams.

use serde::{Deserialize, Serialize};

use super::{Manifest, STAGING_CHUNK_BYTES_MAX, StagingFault};
use crate::detached::Detached;
use crate::digest::Digest;

/// A message of a copy between a node staging an artifact and a holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StagingMessage {
    /// Asks for the chunk of `artifact` at `offset`.
    Fetch {
        /// The artifact.
        artifact: Digest,
        /// Offset in its files' concatenation.
        offset: u64,
    },
    /// The chunk at `offset`: exactly [`STAGING_CHUNK_BYTES_MAX`] bytes, or the rest
    /// of the artifact when less is left.
    Chunk {
        /// The artifact.
        artifact: Digest,
        /// Its files.
        manifest: Manifest,
        /// Offset in the concatenation.
        offset: u64,
        /// The bytes; detached from the frame's tag, authenticated by the artifact's
        /// digest once the copy is whole.
        bytes: Detached,
    },
    /// The holder asked does not hold `artifact` (any more).
    Missing {
        /// The artifact.
        artifact: Digest,
    },
}

impl StagingMessage {
    /// Checks the limits postcard cannot express.
    pub fn validate(&self) -> Result<(), StagingFault> {
        let StagingMessage::Chunk { manifest, bytes, .. } = self else {
            return Ok(());
        };
        if bytes.len() > STAGING_CHUNK_BYTES_MAX {
            return Err(StagingFault::ChunkTooLong {
                len: bytes.len(),
                max: STAGING_CHUNK_BYTES_MAX,
            });
        }
        manifest.validate()
    }

    /// The artifact it is about.
    pub fn artifact(&self) -> Digest {
        match self {
            StagingMessage::Fetch { artifact, .. }
            | StagingMessage::Chunk { artifact, .. }
            | StagingMessage::Missing { artifact } => *artifact,
        }
    }
}
