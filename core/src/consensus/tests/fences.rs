//! Fences: a decision is refused once a newer term is known, however it became known,
//! and the newest fence survives a restart.

use super::{consensus, entry, id};
use crate::consensus::{Authority, Consensus, Decision, Effect, Fence, RaftMessage, StampedDecision};
use crate::identity::ClusterId;
use crate::io::Event;
use crate::refusal::Refusal;
use crate::time::Instant;

fn stamped(leader: u8, term: u64) -> RaftMessage {
    let authority = Authority {
        cluster_id: ClusterId([0; 16]),
        term,
        commit_index: 0,
        fence: Fence(term),
        leader: id(leader),
    };
    RaftMessage::Decision(StampedDecision {
        authority,
        authority_digest: authority.digest(),
        decision: Decision::Directive { id: 1, body: vec![] },
    })
}

fn accepted(node: &mut Consensus) -> bool {
    node.drain_effects()
        .any(|effect| matches!(effect, Effect::Event(Event::DecisionAccepted { .. })))
}

#[test]
fn a_decision_older_than_the_current_term_is_refused_though_no_newer_leader_was_seen() {
    let mut node = consensus(3, vec![entry(1, 1)], 4);
    node.step(Instant::ZERO, id(2), stamped(2, 4));
    assert!(accepted(&mut node), "the leader of the current term is obeyed");
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
    node.step(Instant::from_millis(5_001), id(2), stamped(2, 4));
    let refused = node
        .drain_effects()
        .any(|effect| matches!(effect, Effect::Refuse(Refusal::StaleFence { .. })));
    assert!(refused, "term 5 is known: the term-4 leader's decision is stale");
}

#[test]
fn a_newer_fence_survives_a_restart() {
    let mut node = consensus(3, vec![entry(1, 1)], 4);
    node.step(Instant::ZERO, id(2), stamped(2, 7));
    assert!(accepted(&mut node));
    let persisted = node.hard_state();
    assert_eq!(
        persisted.term, 7,
        "a decision of a newer term is that term's leader speaking"
    );
    let mut restarted = consensus(3, vec![entry(1, 1)], persisted.term);
    restarted.step(Instant::ZERO, id(3), stamped(3, 6));
    assert!(
        !accepted(&mut restarted),
        "a fence older than one seen before the restart"
    );
}
