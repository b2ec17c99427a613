//! Nodes whose disks lost or damaged what they had written: the cluster brings them
//! back, and never reports a catch-up that cannot be.
//!
//! proves: F4

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::ConsensusEvent;
use psionic_core::consensus::CatchupDisposition;
use psionic_core::{Event, RoleKind};

fn assert_converged(harness: &Harness) {
    let states: Vec<_> = (0..harness.nodes.len())
        .map(|index| {
            let state = harness.nodes[index].consensus().state();
            (state.applied_index, state.digest())
        })
        .collect();
    assert!(states.iter().all(|state| *state == states[0]), "{states:?}");
}

fn impossible_catchups(harness: &Harness) -> Vec<CatchupDisposition> {
    harness
        .events
        .iter()
        .filter_map(|(_, _, event)| match event {
            Event::Consensus(ConsensusEvent::Catchup {
                disposition: disposition @ CatchupDisposition::ReplayTail { from, to },
                ..
            }) if from > to => Some(*disposition),
            _ => None,
        })
        .collect()
}

#[test]
fn a_follower_whose_log_lost_its_tail_is_brought_back() {
    let mut harness = Harness::new(consensus_configs(3, 3), 41);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 20);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let follower = (leader + 1) % 3;
    harness.crash(follower);
    let disk = &mut harness.disks[follower];
    let kept = disk.entries.len() - 3;
    disk.entries.truncate(kept);
    harness.restart(follower, 2);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert_eq!(impossible_catchups(&harness), []);
    assert_eq!(harness.nodes[follower].consensus().role_kind(), RoleKind::Follower);
    harness.propose(leader, 5);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_converged(&harness);
}

#[test]
fn a_node_restored_from_a_backup_votes_only_once_it_has_caught_up() {
    let mut harness = Harness::new(consensus_configs(3, 3), 42);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 10);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let restored = (leader + 1) % 3;
    let mut backup = harness.disks[restored].clone();
    harness.propose(leader, 10);
    harness.run_until_ms(harness.now.as_millis() + 500);
    harness.crash(restored);
    backup.restored = true;
    harness.disks[restored] = backup;
    // The third node is cut off: the restored node alone with the leader.
    let third = (leader + 2) % 3;
    harness.isolate(third);
    harness.restart(restored, 2);
    assert!(harness.nodes[restored].consensus().is_recovering());
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert!(
        !harness.nodes[restored].consensus().is_recovering(),
        "caught up from the leader"
    );
    assert!(
        harness
            .events_of(restored)
            .any(|event| matches!(event, Event::Consensus(ConsensusEvent::Recovered { .. })))
    );
    assert!(!harness.disks[restored].restored, "the mark is dropped once recovered");
    assert_converged_except(&harness, third);
}

#[test]
fn a_recovering_node_refuses_votes_and_never_stands() {
    let mut harness = Harness::new(consensus_configs(3, 3), 44);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 5);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let restored = (leader + 1) % 3;
    harness.crash(leader);
    harness.crash(restored);
    harness.disks[restored].restored = true;
    harness.restart(restored, 2);
    harness.run_until_ms(harness.now.as_millis() + 5_000);
    assert_eq!(
        harness.leaders(),
        Vec::<usize>::new(),
        "no quorum without the recovering node's vote"
    );
    assert!(
        harness.events_of(restored).all(|event| !matches!(
            event,
            Event::Consensus(ConsensusEvent::RoleChanged {
                role: RoleKind::Candidate | RoleKind::PreCandidate,
                ..
            })
        )),
        "it never stands"
    );
    let refused = harness.nodes[restored]
        .refusals()
        .get(psionic_core::RefusalKind::Recovering);
    assert!(refused > 0, "the other voter asked and was refused");
    harness.restart(leader, 2);
    harness.await_leader(5_000);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert!(!harness.nodes[restored].consensus().is_recovering());
}

fn assert_converged_except(harness: &Harness, skipped: usize) {
    let states: Vec<_> = (0..harness.nodes.len())
        .filter(|index| *index != skipped)
        .map(|index| {
            let state = harness.nodes[index].consensus().state();
            (state.applied_index, state.digest())
        })
        .collect();
    assert!(states.iter().all(|state| *state == states[0]), "{states:?}");
}
