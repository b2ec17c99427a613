//! The copies this node serves: a fetch from a member the applied state shows staging
//! an artifact this node holds becomes a read of its disk, and the read a chunk.

use std::collections::BTreeSet;

use super::{
    STAGING_CHUNK_BYTES_MAX, STAGING_READS_MAX, StagingEffect, StagingFailure, StagingIo, StagingMessage,
    StagingRefusal,
};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ClusterState, Residency};

/// The reads in flight for peers, by peer and artifact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    reading: BTreeSet<(NodeId, Digest)>,
}

/// A fetch as it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Fetch {
    /// Its sender.
    pub from: NodeId,
    /// The artifact.
    pub artifact: Digest,
    /// Offset asked for.
    pub offset: u64,
}

impl Sources {
    /// Reads in flight.
    pub fn reading(&self) -> usize {
        self.reading.len()
    }

    /// A fetch: refused unless the state shows its sender staging the artifact,
    /// answered missing unless this node holds it resident (`held_resident`), dropped
    /// when a read for it is in flight or [`STAGING_READS_MAX`] are; read otherwise.
    pub fn on_fetch(
        &mut self,
        state: &ClusterState,
        held_resident: bool,
        fetch: Fetch,
        effects: &mut Vec<StagingEffect>,
    ) {
        let Fetch { from, artifact, offset } = fetch;
        let recorded = state
            .residency
            .get(&from)
            .and_then(|by_artifact| by_artifact.get(&artifact));
        let staging = state.members.contains_key(&from) && matches!(recorded, Some(Residency::Staging { .. }));
        if !staging {
            let refusal = StagingRefusal::NotStaging {
                sender: from,
                artifact,
                recorded: recorded.copied(),
            };
            return effects.push(StagingEffect::Refuse(refusal));
        }
        if !held_resident {
            let message = StagingMessage::Missing { artifact };
            return effects.push(StagingEffect::Send { to: from, message });
        }
        if self.reading.len() >= STAGING_READS_MAX || !self.reading.insert((from, artifact)) {
            return;
        }
        effects.push(StagingEffect::Io(StagingIo::Read {
            peer: from,
            artifact,
            offset,
            len: STAGING_CHUNK_BYTES_MAX as u32,
        }));
    }

    /// A read for `peer` ended: its chunk, or missing, goes to the peer.
    pub fn on_read(
        &mut self,
        peer: NodeId,
        artifact: Digest,
        offset: u64,
        result: Result<(super::Manifest, Vec<u8>), StagingFailure>,
        effects: &mut Vec<StagingEffect>,
    ) {
        if !self.reading.remove(&(peer, artifact)) {
            return;
        }
        let message = match result {
            Ok((manifest, bytes)) => StagingMessage::Chunk {
                artifact,
                manifest,
                offset,
                bytes: bytes.into(),
            },
            Err(_) => StagingMessage::Missing { artifact },
        };
        effects.push(StagingEffect::Send { to: peer, message });
    }
}
