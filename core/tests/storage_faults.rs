//! Nodes whose disks lost or damaged what they had written: the cluster brings them
//! back, and never reports a catch-up that cannot be.

mod harness;

use harness::{Harness, consensus_configs};
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
            Event::Catchup {
                disposition: disposition @ CatchupDisposition::ReplayTail { from, to },
                ..
            } if from > to => Some(*disposition),
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
