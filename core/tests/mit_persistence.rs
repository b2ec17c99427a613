//! Persistence in the style of MIT 6.824 lab 2C: nodes crash (one, the leader and a
//! follower, or all at once) and restart from what they made durable; committed entries
//! survive and the cluster goes on committing. Also crashes that fall between a persist
//! and the sends after it: no acknowledged proposal is lost.
//!
//! proves: F4

mod harness;

use harness::checks::{
    assert_acknowledged_entries_kept, assert_applied_histories_agree, assert_live_nodes_converged,
    assert_no_safety_alarm, commit_one,
};
use harness::{Harness, mesh_configs};
use psionic_core::ConsensusEvent;
use psionic_core::Event;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn cluster(count: usize, seed: u64) -> Harness {
    Harness::new(mesh_configs(count), seed)
}

fn run_for(harness: &mut Harness, millis: u64) {
    harness.run_until_ms(harness.now.as_millis() + millis);
}

/// Panics unless node `index`'s log still holds every index up to `committed` with the
/// term the cluster applied there.
fn assert_log_holds(harness: &Harness, index: usize, committed: u64) {
    let history = harness::checks::agreed_history(harness);
    let log = harness.nodes[index].consensus().log();
    for (at, entry) in history.range(log.snapshot_index() + 1..=committed) {
        assert_eq!(
            log.term_at(*at),
            Some(entry.term),
            "node {index} lost committed index {at}"
        );
    }
    assert!(log.last_index() >= committed, "node {index} lost its tail");
}

#[test]
fn persist1_committed_entries_survive_crashes_of_all_nodes_the_leader_and_a_follower() {
    // 6.824 TestPersist12C; Raft §5 figure 2 (term, vote and log are persistent state).
    let mut harness = cluster(3, 201);
    let first = commit_one(&mut harness, 3, 3_000);
    for index in 0..3 {
        harness.crash(index);
    }
    run_for(&mut harness, 1_000);
    for index in 0..3 {
        harness.reboot(index);
        assert_log_holds(&harness, index, first);
    }
    let second = commit_one(&mut harness, 3, 5_000);
    assert!(second > first);
    let leader = harness.await_leader(1_000);
    harness.crash(leader);
    harness.reboot(leader);
    let third = commit_one(&mut harness, 3, 5_000);
    let leader = harness.await_leader(1_000);
    harness.crash(leader);
    commit_one(&mut harness, 2, 5_000);
    harness.reboot(leader);
    let follower = (harness.await_leader(1_000) + 1) % 3;
    harness.crash(follower);
    commit_one(&mut harness, 2, 5_000);
    harness.reboot(follower);
    assert_log_holds(&harness, follower, third);
    commit_one(&mut harness, 3, 5_000);
    assert_eq!(
        harness.nodes.iter().map(|node| node.epoch().0).sum::<u64>(),
        3 + 6,
        "the crashes happened"
    );
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}

#[test]
fn persist2_only_a_node_holding_every_committed_entry_can_lead_after_restarts() {
    // 6.824 TestPersist22C; Raft §5.4.1 (election restriction over persisted logs).
    let mut harness = cluster(5, 202);
    for round in 0..3 {
        commit_one(&mut harness, 5, 5_000);
        let leader = harness.await_leader(1_000);
        let [_, behind_a, behind_b, keeper, last] = [0, 1, 2, 3, 4].map(|step| (leader + step) % 5);
        harness.isolate(behind_a);
        harness.isolate(behind_b);
        let missed = commit_one(&mut harness, 3, 5_000);
        for index in [leader, keeper, last, behind_a, behind_b] {
            harness.crash(index);
        }
        harness.heal();
        harness.reboot(behind_a);
        harness.reboot(behind_b);
        run_for(&mut harness, 2_000);
        assert_eq!(harness.leaders(), [], "round {round}: two of five elect no one");
        harness.reboot(keeper);
        let resumed = commit_one(&mut harness, 3, 5_000);
        assert!(resumed > missed);
        assert_eq!(
            harness.await_leader(1_000),
            keeper,
            "round {round}: only the node holding index {missed} can lead"
        );
        harness.reboot(last);
        harness.reboot(leader);
    }
    commit_one(&mut harness, 5, 5_000);
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}

#[test]
fn persist3_an_entry_committed_by_the_leader_and_one_follower_survives_both_crashing() {
    // 6.824 TestPersist32C; Raft §5.4 (leader completeness across restarts).
    let mut harness = cluster(3, 203);
    commit_one(&mut harness, 3, 3_000);
    let leader = harness.await_leader(1_000);
    let (follower, cut_off) = ((leader + 1) % 3, (leader + 2) % 3);
    harness.isolate(cut_off);
    let committed = commit_one(&mut harness, 2, 3_000);
    harness.crash(leader);
    harness.crash(follower);
    harness.heal();
    harness.reboot(leader);
    let next = commit_one(&mut harness, 2, 5_000);
    assert!(next > committed);
    assert_eq!(harness.await_leader(1_000), leader, "the stale node cannot lead");
    assert_log_holds(&harness, cut_off, committed);
    harness.reboot(follower);
    commit_one(&mut harness, 3, 5_000);
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}

#[test]
fn crashes_between_a_persist_and_the_sends_after_it_lose_no_acknowledged_proposal() {
    // Raft §5 figure 2 ("before responding to RPCs"): a node that crashes after making
    // its term, vote or entries durable but before sending what depends on them
    // recovers them, and no acknowledged proposal is lost.
    let mut harness = cluster(3, 204);
    let mut rng = ChaCha8Rng::seed_from_u64(204);
    harness.await_leader(3_000);
    for _ in 0..40 {
        let node = rng.next_u32() as usize % 3;
        harness.crash_after_persist(node, 1 + rng.next_u32() as usize % 2);
        let leader = harness.leaders().first().copied();
        if let Some(leader) = leader {
            if rng.next_u32() % 4 == 0 {
                // An election follows: votes are persisted before they are sent.
                harness.crash(leader);
            } else {
                harness.propose(leader, 1 + rng.next_u32() as usize % 3);
            }
        }
        run_for(&mut harness, 100 + rng.next_u64() % 900);
        harness.disarm_crash_cut();
        let down: Vec<usize> = harness.down.iter().copied().collect();
        for node in down {
            harness.reboot(node);
        }
    }
    run_for(&mut harness, 1_000);
    commit_one(&mut harness, 3, 5_000);
    let cuts = &harness.crash_cuts;
    assert!(cuts.len() >= 10, "{} crash cuts fired", cuts.len());
    assert!(cuts.iter().all(|cut| cut.dropped_transmits > 0));
    assert!((0..3).all(|node| cuts.iter().any(|cut| cut.node == node)), "{cuts:?}");
    assert!(cuts.iter().any(|cut| cut.persists == 2));
    assert!(
        assert_acknowledged_entries_kept(&harness) >= 20,
        "proposals were acknowledged"
    );
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_live_nodes_converged(&harness);
}

#[test]
fn a_leader_that_crashes_after_persisting_proposals_but_before_sending_them_never_acknowledges_them() {
    // Raft §5.3/§5.4: entries stored only on a crashed leader are not committed; the
    // next leader overwrites them, also on the old leader's disk once it is back.
    let mut harness = cluster(3, 205);
    commit_one(&mut harness, 3, 3_000);
    let leader = harness.await_leader(1_000);
    harness.crash_after_persist(leader, 1);
    let unsent = harness.propose(leader, 5);
    assert_eq!(harness.crash_cuts.len(), 1, "the cut fired on the proposal");
    assert_eq!(
        (harness.crash_cuts[0].node, harness.crash_cuts[0].dropped_transmits),
        (leader, 2)
    );
    let last = harness.disks[leader]
        .entries
        .last()
        .expect("the proposals were persisted");
    let (unsent_index, unsent_term) = (last.index, last.term);
    for _ in 0..5 {
        commit_one(&mut harness, 2, 5_000);
    }
    harness.reboot(leader);
    assert_eq!(
        harness.nodes[leader].consensus().log().term_at(unsent_index),
        Some(unsent_term)
    );
    commit_one(&mut harness, 3, 5_000);
    let history = harness::checks::agreed_history(&harness);
    assert!(
        history[&unsent_index].term > unsent_term,
        "the unsent entries were overwritten"
    );
    assert_eq!(
        harness.nodes[leader].consensus().log().term_at(unsent_index),
        Some(history[&unsent_index].term)
    );
    let acknowledged_unsent = harness.events.iter().any(|(_, _, event)| {
        matches!(event, Event::Consensus(ConsensusEvent::ProposalCommitted { id, .. }) | Event::Consensus(ConsensusEvent::ProposalRejected { id, .. }) if unsent.contains(id))
    });
    assert!(!acknowledged_unsent, "the crashed life never reported an outcome");
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}
