//! Snapshot chunks into a follower's install path: genuine chunks in and out of order,
//! corrupted chunks, and chunks with arbitrary metadata. Whatever is installed must
//! verify against the metadata it came with; nothing is buffered past the size the
//! metadata declares.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::Draw;
use crate::consensus::EntryPayload;
use crate::consensus::snapshot::Chunk;
use crate::consensus::{Consensus, ConsensusConfig, Durable, SnapshotMeta, StoredSnapshot};
use crate::digest::Digest;
use crate::identity::{ClusterId, NodeEpoch, NodeId, NodeRole};
use crate::state::{ClusterCommand, ClusterState, Proposal, ProposalId};
use crate::time::Instant;

const LEADER: NodeId = NodeId([1; 16]);
const FOLLOWER: NodeId = NodeId([2; 16]);

/// Runs the chunk sequence `bytes` encode; panics on a broken property. Returns how
/// many snapshots were installed.
pub fn snapshot_chunks(bytes: &[u8]) -> usize {
    let mut draw = Draw::new(bytes);
    let voters = vec![(LEADER, NodeRole::Both), (FOLLOWER, NodeRole::Both)];
    let genuine = StoredSnapshot::of(&state_from(&mut draw, &voters));
    let config = ConsensusConfig {
        initial_voters: voters,
        ..ConsensusConfig::default()
    };
    let identity = (FOLLOWER, NodeEpoch(1), ClusterId([7; 16]));
    let rng = ChaCha8Rng::seed_from_u64(0);
    let mut follower =
        Consensus::new(identity, config, Durable::default(), rng, Instant::ZERO).expect("valid configuration");
    let mut sent = 0u64;
    let mut installs = 0;
    while !draw.is_empty() {
        let chunk = next_chunk(&mut draw, &genuine, &mut sent);
        let meta = chunk.meta;
        let applied_before = follower.state().applied_index;
        follower.on_snapshot_chunk(Instant::ZERO, LEADER, chunk);
        follower.effects.clear();
        if let Some(assembly) = &follower.incoming_snapshot {
            let (buffered, declared) = assembly.buffered_of_declared_bytes();
            assert!(
                buffered <= declared,
                "buffered {buffered} bytes of a {declared}-byte snapshot"
            );
        }
        let state = follower.state();
        if state.applied_index != applied_before {
            assert_eq!(state.applied_index, meta.last_index, "installed at another index");
            assert_eq!(
                state.digest(),
                meta.state_digest,
                "installed a state that does not verify"
            );
            installs += 1;
        }
    }
    installs
}

/// A state a few commands past genesis.
fn state_from(draw: &mut Draw<'_>, voters: &[(NodeId, NodeRole)]) -> ClusterState {
    let mut state = ClusterState::genesis(voters);
    for seq in 1..=u64::from(draw.u8() % 16) {
        let name = format!("policy-{}", draw.u8() % 4);
        let len = usize::from(draw.u8() % 64);
        let command = ClusterCommand::SetPolicy {
            name,
            document: draw.bytes(len).to_vec(),
        };
        let id = ProposalId {
            node: LEADER,
            epoch: NodeEpoch(1),
            seq,
        };
        let payload = EntryPayload::Proposal(Proposal {
            id,
            origin: crate::state::Origin::operator("fuzz", &command),
            command: command.into(),
        });
        state.apply(seq, 1, &payload).expect("in order");
    }
    state
}

/// The next chunk: genuine in order, genuine out of order, corrupted, or arbitrary.
fn next_chunk(draw: &mut Draw<'_>, genuine: &StoredSnapshot, sent: &mut u64) -> Chunk {
    let term = 1 + u64::from(draw.u8() % 3);
    let len = 1 + usize::from(draw.u8());
    let slice = |offset: u64| {
        let start = (offset as usize).min(genuine.bytes.len());
        genuine.bytes[start..(start + len).min(genuine.bytes.len())].to_vec()
    };
    let (meta, offset, data) = match draw.u8() % 5 {
        0 => {
            let offset = *sent;
            *sent += len as u64;
            (genuine.meta, offset, slice(offset))
        }
        1 => {
            let offset = draw.below(genuine.bytes.len() + 1) as u64;
            (genuine.meta, offset, slice(offset))
        }
        2 => {
            let offset = *sent;
            let mut data = slice(offset);
            if let Some(byte) = data.get_mut(draw.below(len)) {
                *byte ^= 1 << (draw.u8() % 8);
            }
            *sent += len as u64;
            (genuine.meta, offset, data)
        }
        3 => (arbitrary_meta(draw), u64::from(draw.u16()), draw.bytes(len).to_vec()),
        _ => {
            *sent = 0;
            (genuine.meta, 0, slice(0))
        }
    };
    Chunk {
        term,
        meta,
        offset,
        data,
    }
}

fn arbitrary_meta(draw: &mut Draw<'_>) -> SnapshotMeta {
    let mut digest = || {
        let mut bytes = [0u8; 32];
        bytes.iter_mut().for_each(|byte| *byte = draw.u8());
        Digest(bytes)
    };
    let (digest, state_digest) = (digest(), digest());
    SnapshotMeta {
        last_index: u64::from(draw.u8()),
        last_term: u64::from(draw.u8() % 4),
        size_bytes: u64::from(draw.u16()) << (draw.u8() % 48),
        digest,
        state_digest,
        state_schema: u16::from(draw.u8() % 4),
        genesis: None,
    }
}

#[cfg(test)]
mod tests {
    use super::snapshot_chunks;

    /// Three empty policies, then the whole snapshot in two chunks of term 1, in order.
    const WHOLE: [u8; 13] = [3, 0, 0, 1, 0, 2, 0, 0, 255, 0, 0, 255, 0];

    #[test]
    fn a_genuine_snapshot_in_order_is_installed_once() {
        assert_eq!(snapshot_chunks(&WHOLE), 1);
    }

    #[test]
    fn a_corrupted_or_misplaced_snapshot_is_never_installed() {
        let mut corrupted = WHOLE.to_vec();
        corrupted[9] = 2;
        corrupted.extend([7, 3]);
        assert_eq!(snapshot_chunks(&corrupted), 0);
        let mut misplaced = WHOLE.to_vec();
        misplaced[9] = 1;
        misplaced.extend([1, 0]);
        assert_eq!(snapshot_chunks(&misplaced), 0);
    }
}
