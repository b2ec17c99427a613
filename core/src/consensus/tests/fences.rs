//! Fences: a decision's authority is refused once a newer term is known, however it
//! became known, and the newest fence survives a restart.

use super::{consensus, entry, id};
use crate::consensus::ConsensusRefusal;
use crate::consensus::{Authority, Consensus, Fence, RaftMessage};
use crate::identity::ClusterId;
use crate::time::Instant;

fn authority(leader: u8, term: u64) -> Authority {
    Authority {
        cluster_id: ClusterId([0; 16]),
        term,
        commit_index: 0,
        fence: Fence(term),
        leader: id(leader),
    }
}

/// Whether `node` admits a decision of `leader`'s under `term`.
fn admit(node: &mut Consensus, now: Instant, leader: u8, term: u64) -> Result<(), ConsensusRefusal> {
    let authority = authority(leader, term);
    node.admit_decision(now, id(leader), &authority, authority.digest())
}

#[test]
fn a_decision_older_than_the_current_term_is_refused_though_no_newer_leader_was_seen() {
    let mut node = consensus(3, vec![entry(1, 1)], 4);
    assert_eq!(
        admit(&mut node, Instant::ZERO, 2, 4),
        Ok(()),
        "the leader of the current term is obeyed"
    );
    let vote = RaftMessage::VoteRequest {
        term: 5,
        last_log_index: 1,
        last_log_term: 1,
        pre_vote: false,
        transfer: false,
        genesis: node.state().genesis.expect("a genesis"),
    };
    node.step(Instant::from_millis(5_000), id(3), vote);
    assert_eq!(node.hard_state().term, 5);
    node.drain_effects().for_each(drop);
    let refused = admit(&mut node, Instant::from_millis(5_001), 2, 4);
    assert!(
        matches!(
            refused,
            Err(ConsensusRefusal::StaleFence {
                seen: Fence(5),
                got: Fence(4),
                ..
            })
        ),
        "term 5 is known: the term-4 leader's decision is stale: {refused:?}"
    );
}

#[test]
fn a_newer_fence_survives_a_restart() {
    let mut node = consensus(3, vec![entry(1, 1)], 4);
    assert_eq!(admit(&mut node, Instant::ZERO, 2, 7), Ok(()));
    let persisted = node.hard_state();
    assert_eq!(
        persisted.term, 7,
        "a decision of a newer term is that term's leader speaking"
    );
    let mut restarted = consensus(3, vec![entry(1, 1)], persisted.term);
    assert!(
        admit(&mut restarted, Instant::ZERO, 3, 6).is_err(),
        "a fence older than one seen before the restart"
    );
}
