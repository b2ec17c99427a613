//! Snapshots: compaction by policy, transfer in verified chunks, install.
//!
//! Invariants: a snapshot is installed only whole, after its payload digest matches the
//! metadata and the payload decodes to a state at the metadata's index; chunks are
//! accepted only in order. Chunk bytes travel outside the frames' tags
//! ([`crate::detached::Detached`]): the payload digest, in the authenticated metadata, is
//! what authenticates them. The state digest is the digest of the same bytes under the
//! state domain, so a payload that matches its digest is the leader's encoding of the
//! state that `state_digest` names.

use super::ConsensusEvent;
use serde::{Deserialize, Serialize};

use super::{Consensus, Effect, RaftMessage};
use super::{ConsensusMessageKind, ConsensusRefusal};
use crate::digest::{Digest, DigestKind};
use crate::identity::NodeId;
use crate::state::{ClusterState, STATE_SCHEMA_VERSION};
use crate::time::Instant;

/// What a snapshot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Index of the last entry it includes.
    pub last_index: u64,
    /// Term of that entry.
    pub last_term: u64,
    /// Payload size.
    pub size_bytes: u64,
    /// Digest (snapshot domain) of the payload.
    pub digest: Digest,
    /// Digest of the state the payload decodes to ([`ClusterState::digest`]: the
    /// payload bytes under the state domain).
    pub state_digest: Digest,
    /// Schema version of the payload's encoding.
    pub state_schema: u16,
    /// The genesis of the state (as in it), so a receiver of another genesis refuses
    /// the first chunk.
    pub genesis: Option<Digest>,
}

/// A snapshot with its payload (the postcard encoding of a [`ClusterState`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// Metadata.
    pub meta: SnapshotMeta,
    /// Payload.
    pub bytes: Vec<u8>,
}

impl StoredSnapshot {
    /// Snapshot of `state`.
    pub fn of(state: &ClusterState) -> Self {
        let bytes = state.to_bytes();
        let meta = SnapshotMeta {
            last_index: state.applied_index,
            last_term: state.applied_term,
            size_bytes: bytes.len() as u64,
            digest: Digest::of_bytes(DigestKind::Snapshot, &bytes),
            state_digest: Digest::of_bytes(DigestKind::ClusterState, &bytes),
            state_schema: STATE_SCHEMA_VERSION,
            genesis: state.genesis,
        };
        Self { meta, bytes }
    }

    /// Decodes and checks the payload against the metadata: one pass of SHA-256 over
    /// the payload, one decoding.
    pub fn verify(&self) -> Result<ClusterState, SnapshotFault> {
        if self.meta.state_schema != STATE_SCHEMA_VERSION {
            return Err(SnapshotFault::Schema {
                ours: STATE_SCHEMA_VERSION,
                theirs: self.meta.state_schema,
            });
        }
        if self.bytes.len() as u64 != self.meta.size_bytes {
            return Err(SnapshotFault::Size {
                expected: self.meta.size_bytes,
                got: self.bytes.len() as u64,
            });
        }
        if Digest::of_bytes(DigestKind::Snapshot, &self.bytes) != self.meta.digest {
            return Err(SnapshotFault::PayloadDigest);
        }
        let state = ClusterState::from_bytes(&self.bytes).map_err(|_| SnapshotFault::Decode)?;
        if state.genesis != self.meta.genesis {
            return Err(SnapshotFault::Genesis {
                ours: self.meta.genesis,
                theirs: state.genesis,
            });
        }
        if state.applied_index != self.meta.last_index {
            return Err(SnapshotFault::Index {
                expected: self.meta.last_index,
                got: state.applied_index,
            });
        }
        Ok(state)
    }
}

/// Why a snapshot was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotFault {
    /// Payload size differs from the metadata.
    #[error("snapshot is {got} bytes, metadata says {expected}")]
    Size {
        /// Size in the metadata.
        expected: u64,
        /// Size received.
        got: u64,
    },
    /// Payload digest differs from the metadata.
    #[error("snapshot payload digest mismatch")]
    PayloadDigest,
    /// Payload does not decode.
    #[error("snapshot payload does not decode")]
    Decode,
    /// The decoded state is at another index than the metadata names.
    #[error("snapshot state is at index {got}, metadata says {expected}")]
    Index {
        /// Index in the metadata.
        expected: u64,
        /// Index of the decoded state.
        got: u64,
    },
    /// The payload is in a state schema this build does not read.
    #[error("snapshot state schema {theirs}, this node reads {ours}")]
    Schema {
        /// Version read here.
        ours: u16,
        /// Version of the snapshot.
        theirs: u16,
    },
    /// The metadata declares a snapshot larger than any this build accepts.
    #[error("snapshot of {size_bytes} bytes declared; at most {max} accepted")]
    TooLarge {
        /// Size declared.
        size_bytes: u64,
        /// Limit.
        max: u64,
    },
    /// A chunk would carry the payload past the size the metadata declares.
    #[error("chunk ends at byte {end}, past the declared size {size_bytes}")]
    Overrun {
        /// Where the chunk ends.
        end: u64,
        /// Size declared.
        size_bytes: u64,
    },
    /// The snapshot's state is of another genesis than this node's (or than its
    /// metadata names).
    #[error("snapshot of genesis {theirs:?}, expected {ours:?}")]
    Genesis {
        /// The genesis expected.
        ours: Option<Digest>,
        /// The state's.
        theirs: Option<Digest>,
    },
    /// A chunk arrived out of order.
    #[error("chunk at offset {got}, expected {expected}")]
    OutOfOrder {
        /// Offset expected.
        expected: u64,
        /// Offset received.
        got: u64,
    },
}

/// Largest snapshot payload accepted from a leader.
pub const SNAPSHOT_BYTES_MAX: u64 = 1 << 30;

/// Whether `chunk` continues a payload of which `received` bytes arrived.
fn chunk_fits(chunk: &Chunk, received: u64) -> Result<(), SnapshotFault> {
    let size_bytes = chunk.meta.size_bytes;
    if size_bytes > SNAPSHOT_BYTES_MAX {
        return Err(SnapshotFault::TooLarge {
            size_bytes,
            max: SNAPSHOT_BYTES_MAX,
        });
    }
    if chunk.offset != received {
        return Err(SnapshotFault::OutOfOrder {
            expected: received,
            got: chunk.offset,
        });
    }
    let end = received + chunk.data.len() as u64;
    if end > size_bytes {
        return Err(SnapshotFault::Overrun { end, size_bytes });
    }
    Ok(())
}

/// A snapshot being received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Assembly {
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

impl Assembly {
    /// Bytes received so far, and the size its metadata declares.
    #[cfg(any(fuzzing, test, feature = "fuzz-harness"))]
    pub fn buffered_of_declared_bytes(&self) -> (u64, u64) {
        (self.bytes.len() as u64, self.meta.size_bytes)
    }
}

/// A snapshot chunk's fields.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    pub term: u64,
    pub meta: SnapshotMeta,
    pub offset: u64,
    pub data: Vec<u8>,
}

/// The trust anchors of an applied state that a restart must not lose: the admission
/// token cut over to, and the rotated node keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotAnchors {
    admission_token: Option<crate::digest::Digest>,
    node_keys: std::collections::BTreeMap<crate::identity::NodeId, crate::state::NodeKeys>,
    /// The consensus key generation at which `node_keys` was last found equal to the
    /// applied state's: the keys are compared again only once it moved.
    key_generation: u64,
}

impl SnapshotAnchors {
    /// The anchors `state` holds, at consensus key generation `key_generation`.
    pub(crate) fn of(state: &ClusterState, key_generation: u64) -> Self {
        Self {
            admission_token: state.admission_token,
            node_keys: state.node_keys.clone(),
            key_generation,
        }
    }

    /// Whether `state` (at key generation `key_generation`) holds other anchors.
    fn differ_from(&mut self, state: &ClusterState, key_generation: u64) -> bool {
        if self.admission_token != state.admission_token {
            return true;
        }
        if self.key_generation == key_generation {
            return false;
        }
        if self.node_keys != state.node_keys {
            return true;
        }
        self.key_generation = key_generation;
        false
    }
}

impl Consensus {
    /// Takes a snapshot once enough entries were applied past the last one, or once
    /// the applied state holds other trust anchors than the last snapshot (a cut-over
    /// to another admission token, a rotated key): a restarted node recovers them from
    /// its snapshot, so it never accepts a retired token or key again while it waits
    /// to learn the commit index.
    pub(crate) fn maybe_snapshot(&mut self) {
        let applied = self.state.applied_index;
        let entries_due = applied >= self.log.snapshot_index() + self.config.snapshot_after_entries.max(1);
        let bytes_due = self.applied_bytes_since_snapshot >= self.config.snapshot_after_bytes.max(1);
        let trust_due = self.snapshot_anchors.differ_from(&self.state, self.key_generation);
        if applied <= self.log.snapshot_index() || !(entries_due || bytes_due || trust_due) {
            return;
        }
        self.take_snapshot();
    }

    fn take_snapshot(&mut self) {
        let applied = self.state.applied_index;
        self.applied_bytes_since_snapshot = 0;
        let snapshot = StoredSnapshot::of(&self.state);
        self.snapshot_anchors = SnapshotAnchors::of(&self.state, self.key_generation);
        self.log.compact_to(applied, self.state.applied_term);
        self.push_event(ConsensusEvent::SnapshotTaken {
            index: applied,
            term: self.state.applied_term,
        });
        self.effects.push(Effect::PersistSnapshot(snapshot.clone()));
        self.snapshot = Some(snapshot);
    }

    /// Leader: replaces `to`'s log and state with the snapshot (taking one if the
    /// log has none), reporting the disposition.
    pub(crate) fn full_resync(&mut self, to: NodeId, reason: super::ResyncReason) {
        if self.log.snapshot_index() == 0 && self.state.applied_index > 0 {
            self.take_snapshot();
        }
        let snapshot_index = self.log.snapshot_index();
        let Some(progress) = self
            .role
            .leadership_mut()
            .and_then(|leadership| leadership.progress.get_mut(&to))
        else {
            return;
        };
        if let Some(disposition) = progress.start_resync(snapshot_index, reason) {
            self.push_event(ConsensusEvent::Catchup { peer: to, disposition });
        }
        if snapshot_index > 0 {
            self.send_snapshot_chunk(to);
        }
    }

    /// Leader: sends `to` the next chunk of the current snapshot.
    pub(crate) fn send_snapshot_chunk(&mut self, to: NodeId) {
        let Some(snapshot) = &self.snapshot else { return };
        let Some(progress) = self
            .role
            .leadership_mut()
            .and_then(|leadership| leadership.progress.get_mut(&to))
        else {
            return;
        };
        let offset = *progress.snapshot_sent.get_or_insert(0);
        let start = (offset as usize).min(snapshot.bytes.len());
        let end = (start + self.config.snapshot_chunk_bytes.max(1)).min(snapshot.bytes.len());
        let message = RaftMessage::SnapshotChunk {
            term: self.hard.term,
            meta: snapshot.meta,
            offset: start as u64,
            data: snapshot.bytes[start..end].to_vec().into(),
        };
        self.effects.push(Effect::Send { to, message });
    }

    /// Follower: a chunk of the leader's snapshot.
    pub(crate) fn on_snapshot_chunk(&mut self, now: Instant, from: NodeId, chunk: Chunk) {
        if let Err(refusal) = self.same_genesis(from, chunk.meta.genesis) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        if chunk.term < self.hard.term {
            self.refuse_stale_term(from, ConsensusMessageKind::SnapshotChunk, chunk.term);
            return self.reply_snapshot(from, chunk.meta.last_index, 0, false);
        }
        if let Err(refusal) = self.check_leader_seat(from, chunk.term, ConsensusMessageKind::SnapshotChunk) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        self.observe_leader(now, from, chunk.term);
        if chunk.meta.last_index <= self.commit_index && self.state.genesis.is_some() {
            return self.reply_snapshot(from, chunk.meta.last_index, chunk.meta.size_bytes, true);
        }
        let assembly = self.incoming_snapshot.get_or_insert_with(|| Assembly {
            meta: chunk.meta,
            bytes: Vec::new(),
        });
        if assembly.meta != chunk.meta {
            *assembly = Assembly {
                meta: chunk.meta,
                bytes: Vec::new(),
            };
        }
        let expected = assembly.bytes.len() as u64;
        if let Err(fault) = chunk_fits(&chunk, expected) {
            self.effects
                .push(Effect::Refuse(ConsensusRefusal::Snapshot { sender: from, fault }));
            return self.reply_snapshot(from, chunk.meta.last_index, expected, false);
        }
        assembly.bytes.extend_from_slice(&chunk.data);
        let received = assembly.bytes.len() as u64;
        if received < chunk.meta.size_bytes {
            return self.reply_snapshot(from, chunk.meta.last_index, received, false);
        }
        let Some(Assembly { meta, bytes }) = self.incoming_snapshot.take() else {
            return;
        };
        let snapshot = StoredSnapshot { meta, bytes };
        match snapshot.verify().and_then(|state| self.same_genesis_state(state)) {
            Ok(state) => self.install_snapshot(now, from, snapshot, state),
            Err(fault) => {
                self.effects
                    .push(Effect::Refuse(ConsensusRefusal::Snapshot { sender: from, fault }));
                self.reply_snapshot(from, meta.last_index, 0, false);
            }
        }
    }

    /// A snapshot's state, if of this node's genesis (or this node has none yet).
    fn same_genesis_state(&self, state: ClusterState) -> Result<ClusterState, SnapshotFault> {
        match self.state.genesis {
            Some(ours) if state.genesis != Some(ours) => Err(SnapshotFault::Genesis {
                ours: Some(ours),
                theirs: state.genesis,
            }),
            _ => Ok(state),
        }
    }

    fn install_snapshot(&mut self, now: Instant, from: NodeId, snapshot: StoredSnapshot, state: ClusterState) {
        let meta = snapshot.meta;
        self.log.compact_to(meta.last_index, meta.last_term);
        self.snapshot_anchors = SnapshotAnchors::of(&state, self.key_generation);
        self.state = state;
        self.key_generation = self.key_generation.wrapping_add(1);
        self.digest_cache = Some((meta.last_index, meta.state_digest));
        self.settle_proposals_covered_by(meta.last_index);
        self.applied_bytes_since_snapshot = 0;
        self.commit_index = self.commit_index.max(meta.last_index);
        self.effects.push(Effect::PersistSnapshot(snapshot.clone()));
        self.snapshot = Some(snapshot);
        self.push_event(ConsensusEvent::SnapshotInstalled {
            index: meta.last_index,
            term: meta.last_term,
            state_digest: meta.state_digest,
        });
        self.apply_committed(now);
        self.reply_snapshot(from, meta.last_index, meta.size_bytes, true);
    }

    fn reply_snapshot(&mut self, to: NodeId, snapshot_index: u64, received_bytes: u64, installed: bool) {
        let message = RaftMessage::SnapshotResponse {
            term: self.hard.term,
            snapshot_index,
            received_bytes,
            installed,
        };
        self.effects.push(Effect::Send { to, message });
    }

    /// Leader: a follower's progress through a snapshot.
    pub(crate) fn on_snapshot_response(
        &mut self,
        now: Instant,
        from: NodeId,
        term: u64,
        snapshot_index: u64,
        received_bytes: u64,
        installed: bool,
    ) {
        if term > self.hard.term {
            return self.become_follower(now, term, None);
        }
        if term < self.hard.term {
            return;
        }
        let last_index = self.log.last_index();
        if installed && snapshot_index > last_index {
            let fault = super::message::ValueFault::MatchBeyondLog {
                match_index: snapshot_index,
                last_index,
            };
            return self.refuse_values(from, fault);
        }
        let current = self.snapshot.as_ref().map(|snapshot| snapshot.meta.last_index);
        let Some(leadership) = self.role.leadership_mut() else {
            return;
        };
        leadership.heard_since_check.insert(from);
        let Some(progress) = leadership.progress.get_mut(&from) else {
            return;
        };
        if progress.take_snapshot_answer(snapshot_index, received_bytes, installed, current) {
            self.advance_commit(now);
        }
        self.send_append(now, from);
    }
}
