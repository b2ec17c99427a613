//! Configuration changes one at a time (Ongaro's dissertation §4.1 and the 2015
//! correction to single-server changes): an operator's change is refused while another
//! is uncommitted, and before the leader has committed an entry of its own term.
//!
//! proves: F3, F5

mod harness;

use psionic_core::ConsensusEvent;
use std::collections::BTreeMap;

use harness::{Harness, consensus_configs};
use psionic_core::consensus::ProposalRejection;
use psionic_core::{ClusterCommand, Event};

/// Every node's applied (index -> term), checked to agree wherever two nodes applied
/// the same index (state-machine safety).
fn assert_applied_histories_agree(harness: &Harness) {
    let mut first_seen: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    for (node, _, event) in &harness.events {
        if let Event::Consensus(ConsensusEvent::Applied { index, term, .. }) = event {
            let (other, other_term) = *first_seen.entry(*index).or_insert((*node, *term));
            assert_eq!(
                other_term, *term,
                "index {index} applied in term {other_term} on node {other} and in term {term} on node {node}"
            );
        }
    }
}

#[test]
fn two_removals_while_their_voters_are_down_cannot_both_commit() {
    let mut harness = Harness::new(consensus_configs(3, 3), 31);
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let (b, c) = ((leader + 1) % 3, (leader + 2) % 3);
    let (b_id, c_id) = (harness.nodes[b].node_id(), harness.nodes[c].node_id());
    harness.crash(b);
    harness.crash(c);
    let first = harness.nodes[leader].propose(harness.now, ClusterCommand::RemoveMember { node: b_id });
    let second = harness.nodes[leader].propose(harness.now, ClusterCommand::RemoveMember { node: c_id });
    let write = harness.propose(leader, 1)[0];
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert!(
        harness.outcome_of(leader, first).is_none(),
        "the first removal waits for a quorum of the old configuration"
    );
    assert!(
        matches!(
            harness.outcome_of(leader, second),
            Some(Err(ProposalRejection::ConfigChangePending { .. }))
        ),
        "a second change while one is uncommitted is refused: {:?}",
        harness.outcome_of(leader, second)
    );
    assert!(
        harness.outcome_of(leader, write).is_none(),
        "nothing commits on one of three"
    );
    harness.restart(b, 2);
    harness.restart(c, 2);
    harness.run_until_ms(harness.now.as_millis() + 5_000);
    assert_applied_histories_agree(&harness);
    let leaders = harness.leaders();
    assert_eq!(leaders.len(), 1, "one leader after the restart: {leaders:?}");
}

#[test]
fn a_batch_holds_at_most_one_configuration_change() {
    let mut harness = Harness::new(consensus_configs(5, 5), 32);
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let others: Vec<_> = (0..5).filter(|index| *index != leader).collect();
    let commands = vec![
        ClusterCommand::RemoveMember {
            node: harness.nodes[others[0]].node_id(),
        },
        ClusterCommand::RemoveMember {
            node: harness.nodes[others[1]].node_id(),
        },
    ];
    let ids = harness.nodes[leader].propose_batch(harness.now, commands);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert!(matches!(harness.outcome_of(leader, ids[0]), Some(Ok(_))));
    assert!(matches!(
        harness.outcome_of(leader, ids[1]),
        Some(Err(ProposalRejection::ConfigChangePending { .. }))
    ));
    assert_eq!(harness.nodes[leader].consensus().state().voters().len(), 4);
}
