//! Every proposal gets one outcome event: committed with its index, or rejected with
//! the reason (and a redirect hint when this node does not lead).
//!
//! proves: F3

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::ConsensusEvent;
use psionic_core::consensus::ProposalRejection;
use psionic_core::{Event, ProposalId};

fn cluster() -> Harness {
    Harness::new(consensus_configs(3, 3), 23)
}

fn outcomes_of(harness: &Harness, index: usize, id: ProposalId) -> usize {
    harness
        .events_of(index)
        .filter(|event| match event {
            Event::Consensus(ConsensusEvent::ProposalCommitted { id: seen, .. })
            | Event::Consensus(ConsensusEvent::ProposalRejected { id: seen, .. }) => *seen == id,
            _ => false,
        })
        .count()
}

#[test]
fn a_follower_rejects_with_the_leader_as_redirect_hint() {
    let mut harness = cluster();
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let follower = (leader + 1) % 3;
    let rejection = harness
        .propose_on(follower)
        .expect_err("a follower does not take proposals");
    assert_eq!(
        rejection,
        ProposalRejection::NotLeader {
            leader_hint: Some(harness.nodes[leader].node_id())
        }
    );
}

#[test]
fn a_committed_proposal_reports_its_index_once() {
    let mut harness = cluster();
    let leader = harness.await_leader(3_000);
    let id = harness.propose_on(leader).expect("the leader takes it");
    harness.run_until_ms(harness.now.as_millis() + 500);
    let index = harness.outcome_of(leader, id).expect("an outcome").expect("committed");
    assert!(harness.nodes[leader].consensus().state().applied_index >= index);
    assert_eq!(outcomes_of(&harness, leader, id), 1);
}

#[test]
fn a_deposed_leaders_proposal_is_rejected_once_another_entry_commits_at_its_index() {
    // Raft §5.3/§5.4: the deposed leader's uncommitted entry is overwritten; the
    // proposer learns it when the overwriting entry is applied, not before.
    let mut harness = cluster();
    let old_leader = harness.await_leader(3_000);
    harness.isolate(old_leader);
    let id = harness.propose_on(old_leader).expect("still believes it leads");
    let taken_index = harness.nodes[old_leader].consensus().log().last_index();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(harness.outcome_of(old_leader, id), None, "no outcome while cut off");
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let new_term = harness.nodes[old_leader].consensus().hard_state().term;
    match harness.outcome_of(old_leader, id) {
        Some(Err(ProposalRejection::Superseded { index, term })) => {
            assert_eq!(index, taken_index);
            assert!(
                term > 1 && term <= new_term,
                "superseded by a later leader's entry (term {term})"
            );
        }
        other => panic!("expected superseded, got {other:?}"),
    }
    assert_eq!(outcomes_of(&harness, old_leader, id), 1);
}
