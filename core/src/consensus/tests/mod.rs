//! Unit tests of rules that the in-memory cluster cannot reach on demand.

mod endorsements;
mod fences;
mod forwarding;
mod lease;
mod progress;
mod proposals;
mod recovery;

use crate::consensus::ConsensusEvent;
use crate::consensus::ConsensusRefusal;
use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::election::VoteRequest;
use super::{
    AppendEntries, Consensus, ConsensusConfig, Durable, Effect, Entry, EntryPayload, HardState, Leadership, Progress,
    RaftMessage, Role,
};
use crate::identity::{ClusterId, NodeEpoch, NodeId, NodeRole};
use crate::time::Instant;

pub(super) fn id(n: u8) -> NodeId {
    NodeId([n; 16])
}

pub(super) fn consensus(voters: u8, entries: Vec<Entry>, term: u64) -> Consensus {
    let config = ConsensusConfig {
        initial_voters: (1..=voters).map(|n| (id(n), NodeRole::Both)).collect(),
        ..ConsensusConfig::default()
    };
    let durable = Durable {
        hard_state: HardState { term, voted_for: None },
        snapshot: None,
        entries,
        restored: false,
    };
    let identity = (id(1), NodeEpoch(1), ClusterId([0; 16]));
    Consensus::new(identity, config, durable, ChaCha8Rng::seed_from_u64(1), Instant::ZERO).unwrap()
}

/// `commands` as an operator's, each with the scope it needs.
pub(super) fn as_operator(
    commands: Vec<crate::state::ClusterCommand>,
) -> Vec<(crate::state::Origin, crate::state::ClusterCommand)> {
    let origin = |command: &crate::state::ClusterCommand| crate::state::Origin::operator("ops", command);
    commands
        .into_iter()
        .map(|command| (origin(&command), command))
        .collect()
}

pub(super) fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Noop { leader: id(1) }.into(),
    }
}

pub(super) fn vote(term: u64, last_log_index: u64, last_log_term: u64) -> VoteRequest {
    VoteRequest {
        term,
        last_log_index,
        last_log_term,
        pre_vote: false,
        transfer: false,
        genesis: crate::state::ClusterState::genesis_digest(
            &(1..=3).map(|n| (id(n), NodeRole::Both)).collect::<Vec<_>>(),
        ),
    }
}

pub(super) fn lead_with_matches(consensus: &mut Consensus, matches: &[(u8, u64)]) {
    let progress = matches
        .iter()
        .map(|(n, match_index)| {
            let progress = Progress {
                next_index: match_index + 1,
                match_index: *match_index,
                snapshot_sent: None,
                disposition: None,
            };
            (id(*n), progress)
        })
        .collect();
    let leadership = Leadership {
        progress,
        heard_since_check: BTreeSet::new(),
        acked_sent_at: BTreeMap::new(),
        sent_stamp_us: 0,
        transfer: None,
        since: Instant::ZERO,
        certificate: consensus.leadership_certificate(),
    };
    consensus.role = Role::Leader(Box::new(leadership));
}

#[test]
fn an_older_term_entry_on_a_quorum_is_not_committed_by_counting_replicas() {
    // Reference: Raft §5.4.2 and figure 8. S1 leads term 4; index 2 (term 2) is stored
    // on S1, S2 and S3, a quorum of five, but no term-4 entry is: nothing commits.
    let mut s1 = consensus(5, vec![entry(1, 1), entry(2, 2)], 4);
    s1.commit_index = 1;
    lead_with_matches(&mut s1, &[(2, 2), (3, 2), (4, 1), (5, 1)]);
    s1.advance_commit(Instant::ZERO);
    assert_eq!(s1.commit_index, 1);
    // Once a term-4 entry reaches the quorum, it and everything before it commit.
    s1.log.append([entry(3, 4)]).unwrap();
    lead_with_matches(&mut s1, &[(2, 3), (3, 3), (4, 1), (5, 1)]);
    s1.advance_commit(Instant::ZERO);
    assert_eq!(s1.commit_index, 3);
}

#[test]
fn a_second_conflicting_vote_in_one_term_is_refused_and_recorded() {
    let mut voter = consensus(3, vec![], 1);
    let request = vote(2, 0, 0);
    voter.on_vote_request(Instant::from_millis(1010), id(2), request);
    assert_eq!(voter.hard.voted_for, Some(id(2)));
    voter.effects.clear();
    voter.on_vote_request(Instant::from_millis(1020), id(3), request);
    assert_eq!(voter.hard.voted_for, Some(id(2)));
    assert!(
        voter
            .effects
            .contains(&Effect::Refuse(ConsensusRefusal::VoteAlreadyCast {
                term: 2,
                candidate: id(3),
                voted_for: id(2)
            }))
    );
    assert!(voter.effects.iter().any(|effect| matches!(
        effect,
        Effect::Send { to, message: super::RaftMessage::VoteResponse { granted: false, .. } } if *to == id(3)
    )));
}

#[test]
fn the_vote_is_persisted_before_the_grant_is_sent() {
    let mut voter = consensus(3, vec![], 1);
    let request = vote(2, 0, 0);
    voter.on_vote_request(Instant::from_millis(1010), id(2), request);
    let persisted = voter
        .effects
        .iter()
        .rposition(|effect| matches!(effect, Effect::PersistHardState(HardState { voted_for: Some(_), .. })));
    let granted = voter.effects.iter().position(|effect| {
        matches!(
            effect,
            Effect::Send {
                message: super::RaftMessage::VoteResponse { granted: true, .. },
                ..
            }
        )
    });
    assert!(persisted.unwrap() < granted.unwrap());
}

#[test]
fn a_candidate_with_an_older_log_gets_no_vote() {
    // Reference: Raft §5.4.1.
    let mut voter = consensus(3, vec![entry(1, 1), entry(2, 3)], 3);
    let stale = vote(4, 5, 2);
    voter.on_vote_request(Instant::from_millis(1010), id(2), stale);
    assert_eq!(voter.hard.voted_for, None);
    let current = vote(4, 2, 3);
    voter.on_vote_request(Instant::from_millis(1020), id(3), current);
    assert_eq!(voter.hard.voted_for, Some(id(3)));
}

#[test]
fn a_snapshot_whose_digest_does_not_match_is_refused_and_nothing_is_installed() {
    use super::snapshot::{Chunk, StoredSnapshot};
    let source = state_with_noops(3);
    let mut snapshot = StoredSnapshot::of(&source);
    snapshot.bytes[0] ^= 0xff;
    let mut follower = consensus(3, vec![], 1);
    let chunk = Chunk {
        term: 1,
        meta: snapshot.meta,
        offset: 0,
        data: snapshot.bytes.clone(),
    };
    follower.on_snapshot_chunk(Instant::from_millis(10), id(2), chunk);
    assert!(follower.effects.iter().any(|effect| matches!(
        effect,
        Effect::Refuse(ConsensusRefusal::Snapshot {
            fault: super::SnapshotFault::PayloadDigest,
            ..
        })
    )));
    assert_eq!(follower.state.applied_index, 0);
    assert_eq!(follower.log.snapshot_index(), 0, "only the genesis snapshot");
    // Chunks must arrive in order.
    let good = StoredSnapshot::of(&source);
    let late = Chunk {
        term: 1,
        meta: good.meta,
        offset: 4,
        data: good.bytes[4..].to_vec(),
    };
    follower.effects.clear();
    follower.on_snapshot_chunk(Instant::from_millis(20), id(2), late);
    assert!(follower.effects.iter().any(|effect| matches!(
        effect,
        Effect::Refuse(ConsensusRefusal::Snapshot {
            fault: super::SnapshotFault::OutOfOrder { expected: 0, got: 4 },
            ..
        })
    )));
    let whole = Chunk {
        term: 1,
        meta: good.meta,
        offset: 0,
        data: good.bytes.clone(),
    };
    follower.on_snapshot_chunk(Instant::from_millis(30), id(2), whole);
    assert_eq!(follower.state.applied_index, 3);
    assert_eq!(follower.state.digest(), good.meta.state_digest);
}

fn state_with_noops(count: u64) -> crate::state::ClusterState {
    let voters: Vec<_> = (1..=3).map(|n| (id(n), NodeRole::Both)).collect();
    let mut state = crate::state::ClusterState::genesis(&voters);
    for index in 1..=count {
        state.apply(index, 1, &EntryPayload::Noop { leader: id(1) }).unwrap();
    }
    state
}

#[test]
fn a_follower_in_another_state_schema_gets_a_full_resync() {
    use super::replication::AppendResponse;
    use super::{CatchupDisposition, ResyncReason};
    let mut leader = consensus(3, vec![entry(1, 1), entry(2, 1)], 1);
    lead_with_matches(&mut leader, &[(2, 2), (3, 0)]);
    leader.advance_commit(Instant::ZERO);
    assert_eq!(leader.state.applied_index, 2);
    leader.effects.clear();
    let response = AppendResponse {
        term: 1,
        success: true,
        match_index: 2,
        conflict_index: 0,
        last_index: 2,
        state_schema: 0,
        genesis: leader.state.genesis,
        echo_us: 0,
    };
    leader.on_append_response(Instant::from_millis(10), id(3), response);
    let reason = ResyncReason::StateSchema {
        ours: super::STATE_SCHEMA_VERSION,
        theirs: 0,
    };
    assert!(leader.effects.contains(&Effect::Event(ConsensusEvent::Catchup {
        peer: id(3),
        disposition: CatchupDisposition::FullResync { reason }
    })));
    assert!(leader.effects.iter().any(|effect| matches!(
        effect,
        Effect::Send { to, message: super::RaftMessage::SnapshotChunk { offset: 0, .. } } if *to == id(3)
    )));
    let mut foreign = super::StoredSnapshot::of(&leader.state);
    foreign.meta.state_schema = 0;
    assert_eq!(
        foreign.verify(),
        Err(super::SnapshotFault::Schema {
            ours: super::STATE_SCHEMA_VERSION,
            theirs: 0
        })
    );
}

#[test]
fn followers_at_the_same_next_index_share_one_slice_and_others_get_their_own() {
    let mut leader = consensus(4, vec![entry(1, 1), entry(2, 1), entry(3, 1)], 1);
    lead_with_matches(&mut leader, &[(2, 1), (3, 1), (4, 0)]);
    leader.effects.clear();
    leader.broadcast_append(Instant::ZERO);
    let slices: BTreeMap<NodeId, AppendEntries> = leader
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send {
                to,
                message: RaftMessage::Append { entries, .. },
            } => Some((*to, entries.clone())),
            _ => None,
        })
        .collect();
    let first_index = |node: u8| slices[&id(node)].first().map(|entry| entry.index);
    assert_eq!(
        (first_index(2), first_index(3), first_index(4)),
        (Some(2), Some(2), Some(1))
    );
    let shares = |a: u8, b: u8| std::ptr::eq(slices[&id(a)].as_ptr(), slices[&id(b)].as_ptr());
    assert!(shares(2, 3), "one slice, encoded once, for n2 and n3");
    assert!(!shares(2, 4), "n4 needs entries from 1");
}
