//! Consensus between real cores in memory, in the style of the Raft paper's cases.
//!
//! proves: F3, F5

mod harness;

use harness::{Harness, consensus_configs, node_id};
use psionic_core::ConsensusEvent;
use psionic_core::ConsensusRefusal;
use psionic_core::ServingEvent;
use psionic_core::consensus::{CatchupDisposition, RaftMessage, StepDownReason};
use psionic_core::serving::Decision;
use psionic_core::{ClusterEvent, Event, NodeRole, Refusal, RoleKind};

fn cluster(count: usize, voters: usize) -> Harness {
    Harness::new(consensus_configs(count, voters), 11)
}

fn applied_digests(harness: &Harness) -> Vec<(usize, u64, psionic_core::Digest)> {
    (0..harness.nodes.len())
        .filter(|index| !harness.down.contains(index))
        .map(|index| {
            let state = harness.nodes[index].consensus().state();
            (index, state.applied_index, state.digest())
        })
        .collect()
}

fn assert_converged(harness: &Harness) {
    let digests = applied_digests(harness);
    let first = &digests[0];
    for other in &digests[1..] {
        assert_eq!(
            (first.1, first.2),
            (other.1, other.2),
            "node {} vs node {}",
            first.0,
            other.0
        );
    }
}

#[test]
fn initial_election_gives_one_leader_that_everyone_follows() {
    // Reference: Raft §5.2.
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let leader_id = harness.nodes[leader].node_id();
    for node in &harness.nodes {
        assert_eq!(node.consensus().leader(), Some(leader_id));
        assert_eq!(
            node.consensus().hard_state().term,
            harness.nodes[leader].consensus().hard_state().term
        );
    }
    assert!(
        harness
            .events
            .iter()
            .all(|(_, _, event)| !matches!(event, Event::Consensus(ConsensusEvent::SplitBrain { .. })))
    );
}

#[test]
fn a_new_leader_is_elected_after_the_leader_is_lost_and_the_old_one_steps_down() {
    // Reference: Raft §5.2; check-quorum from the dissertation §6.2.
    let mut harness = cluster(5, 5);
    let old = harness.await_leader(3_000);
    let old_term = harness.nodes[old].consensus().hard_state().term;
    harness.isolate(old);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let leaders = harness.leaders();
    let new = *leaders.iter().find(|index| **index != old).expect("a new leader");
    assert!(harness.nodes[new].consensus().hard_state().term > old_term);
    assert!(
        !harness.nodes[old].consensus().is_leader(),
        "the isolated leader stepped down"
    );
    assert!(harness.events_of(old).any(|event| matches!(
        event,
        Event::Consensus(ConsensusEvent::SteppedDown {
            reason: StepDownReason::LostQuorum { .. },
            ..
        })
    )));
}

#[test]
fn a_returning_partitioned_follower_does_not_depose_a_healthy_leader() {
    // Pre-vote (dissertation §9.6): the isolated node never raises its term.
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    let term = harness.nodes[leader].consensus().hard_state().term;
    let follower = (leader + 1) % 3;
    harness.isolate(follower);
    harness.run_until_ms(harness.now.as_millis() + 10_000);
    assert_eq!(
        harness.nodes[follower].consensus().hard_state().term,
        term,
        "pre-vote kept the term"
    );
    assert!(harness.events_of(follower).any(|event| matches!(
        event,
        Event::Consensus(ConsensusEvent::RoleChanged {
            role: RoleKind::PreCandidate,
            ..
        })
    )));
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(harness.leaders(), vec![leader]);
    assert_eq!(harness.nodes[leader].consensus().hard_state().term, term);
}

#[test]
fn proposals_replicate_commit_and_apply_in_order_everywhere() {
    // Reference: Raft §5.3.
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    let ids = harness.propose(leader, 100);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_converged(&harness);
    let acknowledged: Vec<_> = harness
        .events_of(leader)
        .filter_map(|event| match event {
            Event::Consensus(ConsensusEvent::ProposalCommitted { id, .. }) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(acknowledged, ids, "every proposal acknowledged, in order");
    for index in 0..3 {
        let applied: Vec<u64> = harness
            .events_of(index)
            .filter_map(|event| match event {
                Event::Consensus(ConsensusEvent::Applied { index, .. }) => Some(*index),
                _ => None,
            })
            .collect();
        assert_eq!(
            applied,
            (1..=applied.len() as u64).collect::<Vec<_>>(),
            "node {index} applies in order"
        );
    }
}

#[test]
fn a_lagging_follower_catches_up_by_replaying_the_tail() {
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    let lagging = (leader + 1) % 3;
    harness.isolate(lagging);
    harness.propose(leader, 50);
    harness.run_until_ms(harness.now.as_millis() + 500);
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert_converged(&harness);
    let lagging_id = harness.nodes[lagging].node_id();
    assert!(harness.events_of(leader).any(|event| matches!(
        event,
        Event::Consensus(ConsensusEvent::Catchup { peer, disposition: CatchupDisposition::ReplayTail { .. } }) if *peer == lagging_id
    )));
}

#[test]
fn a_follower_behind_the_compacted_log_installs_a_snapshot() {
    let mut configs = consensus_configs(3, 3);
    for config in &mut configs {
        config.consensus.snapshot_after_entries = 20;
        config.consensus.snapshot_chunk_bytes = 256;
    }
    let mut harness = Harness::new(configs, 5);
    let leader = harness.await_leader(3_000);
    let lagging = (leader + 1) % 3;
    harness.isolate(lagging);
    for _ in 0..10 {
        harness.propose(leader, 10);
        harness.run_until_ms(harness.now.as_millis() + 200);
    }
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_converged(&harness);
    assert!(
        harness
            .events_of(lagging)
            .any(|event| matches!(event, Event::Consensus(ConsensusEvent::SnapshotInstalled { .. })))
    );
    assert!(harness.nodes[leader].consensus().log().snapshot_index() > 0);
    let lagging_id = harness.nodes[lagging].node_id();
    assert!(harness.events_of(leader).any(|event| matches!(
        event,
        Event::Consensus(ConsensusEvent::Catchup { peer, disposition: CatchupDisposition::InstallSnapshot { .. } }) if *peer == lagging_id
    )));
}

#[test]
fn a_crashed_node_recovers_its_log_and_vote_from_disk() {
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 20);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let follower = (leader + 1) % 3;
    let before = harness.nodes[follower].consensus().hard_state();
    let last_index = harness.nodes[follower].consensus().log().last_index();
    harness.crash(follower);
    harness.run_until_ms(harness.now.as_millis() + 500);
    harness.restart(follower, 2);
    assert_eq!(harness.nodes[follower].consensus().hard_state(), before);
    assert_eq!(harness.nodes[follower].consensus().log().last_index(), last_index);
    harness.propose(harness.leaders()[0], 5);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert_converged(&harness);
}

#[test]
fn new_nodes_join_as_learners_and_coordinators_are_promoted_one_at_a_time() {
    // Three genesis voters, a fourth coordinator-capable node and a fifth executor.
    let mut configs = consensus_configs(5, 3);
    configs[4].role = NodeRole::Executor;
    let mut harness = Harness::new(configs, 9);
    harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 5_000);
    let leader = harness.await_leader(1_000);
    let state = harness.nodes[leader].consensus().state();
    assert_eq!(state.members.len(), 5);
    assert!(
        state.members[&node_id(3)].voter,
        "the coordinator-capable node was promoted"
    );
    assert!(!state.members[&node_id(4)].voter, "the executor stays a learner");
    assert_eq!(state.voters().len(), 4);
    let facts: Vec<&ClusterEvent> = harness
        .events_of(leader)
        .filter_map(|event| match event {
            Event::Consensus(ConsensusEvent::Applied { fact, .. }) => Some(fact),
            _ => None,
        })
        .collect();
    let promotions = facts
        .iter()
        .filter(|fact| {
            matches!(fact, ClusterEvent::Applied { command, .. }
                if matches!(**command, psionic_core::ClusterCommand::PromoteVoter { .. }))
        })
        .count();
    assert_eq!(promotions, 1);
    assert_converged(&harness);
}

#[test]
fn a_deposed_leader_on_the_minority_side_issues_a_decision_that_is_refused() {
    let mut harness = cluster(5, 5);
    let old = harness.await_leader(3_000);
    let minority = [old, (old + 1) % 5];
    let majority: Vec<usize> = (0..5).filter(|index| !minority.contains(index)).collect();
    let target = majority[0];
    // Before the partition, the leader's decision is accepted.
    let target_id = harness.nodes[target].node_id();
    harness.nodes[old]
        .issue_decision(harness.now, target_id, Decision::Directive { id: 1, body: vec![] })
        .unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert!(
        harness
            .events_of(target)
            .any(|event| matches!(event, Event::Serving(ServingEvent::DecisionAccepted { .. })))
    );
    harness.partition(&minority, &majority);
    // The old leader still believes it leads for a while: it issues a decision that the
    // partition delays. The harness keeps the frame and delivers it after the failover.
    let sent_before = harness.sent.len();
    harness.nodes[old]
        .issue_decision(harness.now, target_id, Decision::Directive { id: 2, body: vec![] })
        .unwrap();
    harness.run_until_ms(harness.now.as_millis() + 1);
    let delayed = harness.sent[sent_before..]
        .iter()
        .find(|packet| packet.to == harness.addrs[target] && packet.from == harness.addrs[old])
        .expect("the decision was sent")
        .clone();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let new = *harness
        .leaders()
        .iter()
        .find(|index| majority.contains(index))
        .expect("majority elected a leader");
    assert!(harness.nodes[new].consensus().hard_state().term > harness.nodes[old].consensus().hard_state().term);
    harness.inject(delayed.from, target, delayed.bytes);
    let refusal = harness
        .events_of(target)
        .filter_map(|event| match event {
            Event::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .last();
    assert!(
        matches!(refusal, Some(Refusal::Consensus(ConsensusRefusal::StaleFence { seen, got, .. })) if got < seen),
        "{refusal:?}"
    );
    assert!(!harness.events_of(target).any(|event| matches!(
        event,
        Event::Serving(ServingEvent::DecisionAccepted {
            decision: Decision::Directive { id: 2, .. },
            ..
        })
    )));
}

#[test]
fn raft_messages_over_the_limits_are_refused() {
    let chunk = |len| RaftMessage::SnapshotChunk {
        term: 1,
        meta: psionic_core::consensus::StoredSnapshot::of(&psionic_core::ClusterState::default()).meta,
        offset: 0,
        data: vec![0; len].into(),
    };
    assert!(
        chunk(psionic_core::consensus::message::SNAPSHOT_CHUNK_BYTES_MAX)
            .within_limits()
            .is_ok()
    );
    assert!(
        chunk(psionic_core::consensus::message::SNAPSHOT_CHUNK_BYTES_MAX + 1)
            .within_limits()
            .is_err()
    );
}

#[test]
fn consensus_travels_on_streams_when_peers_announce_them() {
    let mut configs = consensus_configs(3, 3);
    for config in &mut configs {
        config.stream_port = Some(7401);
    }
    let mut harness = Harness::new(configs, 4);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 10);
    harness.run_until_ms(harness.now.as_millis() + 500);
    assert_converged(&harness);
    let streamed = harness
        .sent
        .iter()
        .filter(|packet| packet.class == psionic_core::TransportClass::Stream)
        .count();
    assert!(streamed > 0, "consensus frames went on streams");
    assert!(
        harness
            .sent
            .iter()
            .filter(|packet| packet.class == psionic_core::TransportClass::Stream)
            .all(|packet| packet.to.port() == 7401)
    );
    assert_eq!(
        harness.nodes[leader].discovery().peers().count(),
        2,
        "stream frames did not move discovery addresses"
    );
    for node in &harness.nodes {
        for (_, peer) in node.discovery().peers() {
            assert_eq!(peer.addr.port(), 7400);
        }
    }
}

#[test]
fn a_leader_hands_over_to_an_up_to_date_voter_before_leaving() {
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 5);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let old_term = harness.nodes[leader].consensus().hard_state().term;
    let successor = harness.nodes[leader]
        .transfer_leadership(harness.now)
        .expect("a voter to hand over to");
    harness.run_until_ms(harness.now.as_millis() + 200);
    let new = harness.await_leader(1_000);
    assert_eq!(harness.nodes[new].node_id(), successor);
    assert_eq!(
        harness.nodes[new].consensus().hard_state().term,
        old_term + 1,
        "one election, no timeout"
    );
    assert!(
        harness.propose_on(leader).is_err(),
        "the old leader no longer takes proposals"
    );
}

#[test]
fn a_removed_voter_leaves_the_quorum() {
    let mut harness = cluster(3, 3);
    let leader = harness.await_leader(3_000);
    let removed = (leader + 1) % 3;
    let command = psionic_core::ClusterCommand::RemoveMember {
        node: harness.nodes[removed].node_id(),
    };
    harness.nodes[leader].propose(harness.now, command);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let state = harness.nodes[leader].consensus().state().clone();
    assert_eq!(state.voters().len(), 2);
    assert!(!state.is_member(harness.nodes[removed].node_id()));
    // The two remaining voters still commit with the removed node crashed.
    harness.crash(removed);
    harness.propose(leader, 3);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let survivor = (leader + 2) % 3;
    assert_eq!(
        harness.nodes[survivor].consensus().state().applied_index,
        harness.nodes[leader].consensus().state().applied_index
    );
    assert!(harness.nodes[leader].consensus().commit_index() >= state.applied_index + 3);
}

#[test]
fn compaction_also_follows_the_bytes_policy() {
    let mut configs = consensus_configs(3, 3);
    for config in &mut configs {
        config.consensus.snapshot_after_entries = 1_000_000;
        config.consensus.snapshot_after_bytes = 2_000;
    }
    let mut harness = Harness::new(configs, 6);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 100);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert!(
        harness.nodes[leader].consensus().log().snapshot_index() > 0,
        "a snapshot was taken by size"
    );
    assert!(
        harness
            .events_of(leader)
            .any(|event| matches!(event, Event::Consensus(ConsensusEvent::SnapshotTaken { .. })))
    );
    assert_converged(&harness);
}
