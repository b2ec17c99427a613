//! Figure 8 of the Raft paper as MIT 6.824 lab 2C tests it: leaders crash again and
//! again with proposals in between, so entries of many terms are left on minorities.
//! A leader commits an older term's entry only through one of its own (§5.4.2), so
//! every index any node applied holds the same entry everywhere, on a reliable network
//! and on a lossy, reordering one.
//!
//! proves: F5

mod harness;

use std::collections::BTreeSet;

use harness::checks::{
    agreed_history, assert_acknowledged_entries_kept, assert_live_nodes_converged, assert_no_safety_alarm, commit_one,
};
use harness::{Harness, mesh_configs};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const SERVERS: usize = 5;

/// The network of one run.
#[derive(Clone, Copy)]
struct Network {
    loss_ppm: u32,
    /// Reordering switched on from this round on (6.824's long reordering).
    reorder_from_round: Option<usize>,
}

/// What a figure-8 run did.
struct Run {
    harness: Harness,
    leader_crashes: usize,
}

/// 6.824's figure-8 loop: every live node is asked to propose; after a short pause (a
/// long one one time in ten) the node that took the proposal crashes; while fewer than
/// three nodes are up, a random one restarts.
fn figure8(seed: u64, rounds: usize, network: Network) -> Run {
    let mut harness = Harness::new(mesh_configs(SERVERS), seed);
    harness.loss_ppm = network.loss_ppm;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    commit_one(&mut harness, 1, 10_000);
    let mut leader_crashes = 0;
    for round in 0..rounds {
        if network.reorder_from_round == Some(round) {
            harness.reorder_ppm = 50_000;
        }
        let live: Vec<usize> = (0..SERVERS).filter(|index| !harness.down.contains(index)).collect();
        let leader = live
            .into_iter()
            .filter(|index| harness.propose_on(*index).is_ok())
            .last();
        let pause = if rng.next_u32() % 1_000 < 100 {
            rng.next_u64() % 250
        } else {
            rng.next_u64() % 13
        };
        harness.run_until_ms(harness.now.as_millis() + pause);
        if let Some(leader) = leader {
            harness.crash(leader);
            leader_crashes += 1;
        }
        if SERVERS - harness.down.len() < 3 {
            let index = rng.next_u32() as usize % SERVERS;
            if harness.down.contains(&index) {
                harness.reboot(index);
            }
        }
    }
    for index in 0..SERVERS {
        if harness.down.contains(&index) {
            harness.reboot(index);
        }
    }
    commit_one(&mut harness, SERVERS, 20_000);
    Run {
        harness,
        leader_crashes,
    }
}

/// The checks both variants share: agreement everywhere, acknowledged proposals kept,
/// and entries of several terms committed amid the crashes.
fn assert_figure8_safe(run: &Run) {
    let harness = &run.harness;
    assert!(run.leader_crashes >= 20, "{} leader crashes", run.leader_crashes);
    assert_no_safety_alarm(harness);
    let history = agreed_history(harness);
    let terms: BTreeSet<u64> = history.values().map(|entry| entry.term).collect();
    assert!(
        terms.len() >= 10,
        "entries of {} terms committed: {terms:?}",
        terms.len()
    );
    assert!(assert_acknowledged_entries_kept(harness) >= 10);
    assert_live_nodes_converged(harness);
}

#[test]
fn figure8_leaders_crashing_between_proposals_never_make_nodes_disagree() {
    // 6.824 TestFigure82C; Raft §5.4.2, figure 8.
    let run = figure8(
        301,
        3_000,
        Network {
            loss_ppm: 0,
            reorder_from_round: None,
        },
    );
    assert_eq!(run.harness.faults.lost, 0);
    assert_figure8_safe(&run);
}

#[test]
fn figure8_unreliable_loss_and_late_packets_never_make_nodes_disagree() {
    // 6.824 TestFigure8Unreliable2C; Raft §5.4.2, figure 8, on a lossy network that
    // also holds packets back from a third of the way in.
    let run = figure8(
        302,
        3_000,
        Network {
            loss_ppm: 100_000,
            reorder_from_round: Some(1_000),
        },
    );
    assert!(run.harness.faults.lost > 100, "{:?}", run.harness.faults);
    assert!(run.harness.faults.reordered > 20, "{:?}", run.harness.faults);
    assert_figure8_safe(&run);
}
