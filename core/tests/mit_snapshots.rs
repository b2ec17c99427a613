//! Snapshots as MIT 6.824 lab 2D tests them: with compaction every few entries, a
//! follower (or the leader) crashes while the others go on committing, and comes back
//! behind the compacted log: it catches up by installing a snapshot, states agree index
//! by index, and no disk keeps an unbounded log. Crashing every node at once resumes
//! from the snapshots.
//!
//! proves: F4

mod harness;

use harness::checks::{
    assert_acknowledged_entries_kept, assert_applied_histories_agree, assert_live_nodes_converged,
    assert_no_safety_alarm, assert_state_digests_agree, commit_one,
};
use harness::{Harness, mesh_configs};
use psionic_core::ConsensusEvent;
use psionic_core::Event;
use psionic_core::consensus::CatchupDisposition;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const SERVERS: usize = 3;
/// Applied entries between two snapshots.
const SNAPSHOT_INTERVAL: u64 = 10;
/// Most entries a disk may hold past its snapshot (6.824's MAXLOGSIZE).
const DISK_ENTRIES_MAX: usize = 2 * SNAPSHOT_INTERVAL as usize;

fn snapshotting_cluster(seed: u64) -> Harness {
    let mut configs = mesh_configs(SERVERS);
    for config in &mut configs {
        config.consensus.snapshot_after_entries = SNAPSHOT_INTERVAL;
        config.consensus.snapshot_chunk_bytes = 256;
        config.consensus.digest_on_apply = true;
    }
    Harness::new(configs, seed)
}

/// The most entries any disk holds past its snapshot.
fn longest_disk_log(harness: &Harness) -> usize {
    harness.disks.iter().map(|disk| disk.entries.len()).max().unwrap_or(0)
}

fn snapshots_installed(harness: &Harness) -> usize {
    harness
        .events
        .iter()
        .filter(|(_, _, event)| matches!(event, Event::Consensus(ConsensusEvent::SnapshotInstalled { .. })))
        .count()
}

fn catchups_by_snapshot(harness: &Harness) -> usize {
    harness
        .events
        .iter()
        .filter(|(_, _, event)| {
            matches!(
                event,
                Event::Consensus(ConsensusEvent::Catchup {
                    disposition: CatchupDisposition::InstallSnapshot { .. },
                    ..
                })
            )
        })
        .count()
}

/// 6.824's `snapcommon` with crashes: a victim crashes, the others commit half to one
/// and a half snapshot intervals of proposals, and the victim restarts.
fn crash_victims_while_compacting(harness: &mut Harness, seed: u64, iterations: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    commit_one(harness, SERVERS, 5_000);
    let mut leader = harness.await_leader(1_000);
    for iteration in 0..iterations {
        let (sender, victim) = match iteration % 3 {
            1 => ((leader + 1) % SERVERS, leader),
            _ => (leader, (leader + 1) % SERVERS),
        };
        harness.crash(victim);
        commit_one(harness, SERVERS - 1, 5_000);
        let count = SNAPSHOT_INTERVAL / 2 + rng.next_u64() % SNAPSHOT_INTERVAL;
        for _ in 0..count {
            let _ = harness.propose_on(sender);
        }
        commit_one(harness, SERVERS - 1, 5_000);
        let longest = longest_disk_log(harness);
        assert!(
            longest <= DISK_ENTRIES_MAX,
            "iteration {iteration}: a disk holds {longest} entries"
        );
        harness.reboot(victim);
        commit_one(harness, SERVERS, 10_000);
        leader = harness.await_leader(2_000);
    }
}

/// The checks both install tests end with.
fn assert_caught_up_by_snapshot(harness: &Harness) {
    assert!(
        snapshots_installed(harness) >= 3,
        "{} snapshots installed",
        snapshots_installed(harness)
    );
    assert!(catchups_by_snapshot(harness) >= 3);
    assert!(assert_state_digests_agree(harness) >= 50);
    assert_no_safety_alarm(harness);
    assert_applied_histories_agree(harness);
    assert!(assert_acknowledged_entries_kept(harness) >= 50);
    assert_live_nodes_converged(harness);
}

#[test]
fn snapshot_install_crash_restarted_nodes_catch_up_by_snapshot() {
    // 6.824 TestSnapshotInstallCrash2D; Raft §7 (InstallSnapshot).
    let mut harness = snapshotting_cluster(501);
    crash_victims_while_compacting(&mut harness, 501, 12);
    assert_caught_up_by_snapshot(&harness);
}

#[test]
fn snapshot_install_unreliable_crash_restarted_nodes_catch_up_despite_loss() {
    // 6.824 TestSnapshotInstallUnCrash2D; Raft §7, with chunks and answers lost.
    let mut harness = snapshotting_cluster(502);
    harness.loss_ppm = 100_000;
    crash_victims_while_compacting(&mut harness, 502, 12);
    assert!(harness.faults.lost > 50, "{:?}", harness.faults);
    assert_caught_up_by_snapshot(&harness);
}

#[test]
fn snapshot_all_crash_every_node_resumes_from_its_snapshot() {
    // 6.824 TestSnapshotAllCrash2D; Raft §7 (a snapshot replaces the log it covers).
    let mut harness = snapshotting_cluster(503);
    let mut rng = ChaCha8Rng::seed_from_u64(503);
    for iteration in 0..4 {
        // At least an interval, so every node has a snapshot to restart from.
        let count = SNAPSHOT_INTERVAL + rng.next_u64() % SNAPSHOT_INTERVAL;
        for _ in 0..count {
            commit_one(&mut harness, SERVERS, 5_000);
        }
        let before = commit_one(&mut harness, SERVERS, 5_000);
        for index in 0..SERVERS {
            harness.crash(index);
        }
        for index in 0..SERVERS {
            harness.reboot(index);
            let snapshot_index = harness.nodes[index].consensus().log().snapshot_index();
            assert!(
                snapshot_index > 0,
                "iteration {iteration}: node {index} starts from its snapshot"
            );
        }
        let after = commit_one(&mut harness, SERVERS, 10_000);
        assert!(
            after > before,
            "iteration {iteration}: index went from {before} to {after}"
        );
    }
    assert!(longest_disk_log(&harness) <= DISK_ENTRIES_MAX);
    assert!(assert_state_digests_agree(&harness) >= 50);
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}
