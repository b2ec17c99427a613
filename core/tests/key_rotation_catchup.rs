//! Key rotation and nodes that were away: a follower cut off through the leader's
//! rotation, a member behind more rotations than hellos show, a node away when its own
//! rotation commits, a member that missed every other voter's rotation, and a node
//! joining after every voter rotated.
//!
//! proves: F4, F10

mod harness;

use harness::keys::{
    commits_everywhere, configured_peers, keep_keys, next_secret, public, retiring, rotate, rotate_every_voter,
};
use harness::{Harness, consensus_configs};
use psionic_core::{ClusterCommand, NodeConfig};

/// A follower cut off while the leader rotates its own key never saw the entry, so it
/// cannot hear the leader's new key: the leader hands over to a follower that can
/// serve it, and after the heal it catches up.
#[test]
fn a_follower_cut_off_through_the_leaders_rotation_catches_up_after_the_heal() {
    let mut harness = Harness::new(consensus_configs(3, 3), 48);
    let leader = harness.await_leader(5_000);
    let away = (leader + 1) % 3;
    let others: Vec<usize> = (0..3).filter(|index| *index != away).collect();
    harness.partition(&[away], &others);
    rotate(&mut harness, leader, leader, 1).expect("the rotation commits with two of three");
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let successor = harness.await_leader(5_000);
    assert_ne!(
        successor, leader,
        "the leader handed over once its own rotation applied"
    );
    harness.heal();
    commits_everywhere(&mut harness);
}

/// A member cut off through more rotations of one voter than its hellos show cannot
/// follow that voter's key: once that voter leads, settled, it hands over to a voter
/// the member can hear, which serves it.
#[test]
fn a_member_behind_more_rotations_than_hellos_show_is_served_by_another_voter() {
    let mut harness = Harness::new(consensus_configs(3, 3), 49);
    harness.await_leader(5_000);
    let (rotated, away) = (0, 2);
    harness.partition(&[away], &[0, 1]);
    let rotations = psionic_core::limits::KEY_HISTORY_MAX as u8 + 1;
    for generation in 1..=rotations {
        let leader = harness.await_leader(5_000);
        rotate(&mut harness, rotated, leader, generation).expect("the rotation commits with two of three");
        harness.run_until_ms(harness.now.as_millis() + 1_000);
    }
    let leader = harness.await_leader(5_000);
    if leader != rotated {
        let target = harness.nodes[rotated].node_id();
        harness.nodes[leader]
            .transfer_leadership_to(harness.now, Some(target))
            .expect("the leader hands over to the rotated voter");
        harness.run_until_ms(harness.now.as_millis() + 200);
    }
    assert_eq!(harness.await_leader(5_000), rotated, "the rotated voter leads");
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 5_000);
    commits_everywhere(&mut harness);
}

/// A node away (cut off, then restarted in a new life) while its own rotation commits
/// is still heard under its old key until it applies the rotation: peers accept both
/// keys until the leader hears it under the new one and retires the old.
#[test]
fn a_node_away_when_its_rotation_commits_catches_up_and_moves_to_its_new_key() {
    let mut harness = Harness::new(consensus_configs(3, 3), 50);
    let leader = harness.await_leader(5_000);
    let away = (leader + 1) % 3;
    let node = harness.nodes[away].node_id();
    let rotation = harness.nodes[away]
        .stage_key(harness.now, next_secret(away, 1))
        .unwrap();
    let others: Vec<usize> = (0..3).filter(|index| *index != away).collect();
    harness.partition(&[away], &others);
    let id = harness.nodes[leader].propose(harness.now, ClusterCommand::RotateNodeKey { rotation });
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    harness
        .outcome_of(leader, id)
        .expect("an outcome")
        .expect("committed by two of three");
    assert_eq!(
        retiring(&harness, leader, node),
        Some(harness.nodes[away].key_status().current)
    );
    harness.propose(leader, 3);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    harness.reboot(away);
    harness.nodes[away]
        .stage_key(harness.now, next_secret(away, 1))
        .expect("its driver stages the kept key again");
    harness.heal();
    commits_everywhere(&mut harness);
    keep_keys(&mut harness);
    assert_eq!(harness.nodes[away].key_status().current, public(next_secret(away, 1)));
    for index in 0..3 {
        assert_eq!(
            retiring(&harness, index, node),
            None,
            "node {index}: the old key was retired"
        );
    }
}

/// A node that joins after every voter rotated its key knows only their first keys:
/// it follows each one's rotations from its hellos, and joins (under configured peers
/// its trust bundle, which names nodes by id, still matches the leader's).
#[test]
fn a_node_joins_a_cluster_whose_every_voter_rotated_its_key() {
    joins_after_every_voter_rotated(consensus_configs(4, 3), 52);
    joins_after_every_voter_rotated(configured_peers(consensus_configs(4, 3)), 54);
}

fn joins_after_every_voter_rotated(configs: Vec<NodeConfig>, seed: u64) {
    let mut harness = Harness::new(configs, seed);
    harness.crash(3);
    harness.await_leader(5_000);
    rotate_every_voter(&mut harness, &[0, 1, 2]);
    harness.reboot(3);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let joined = harness.nodes[3].node_id();
    let leader = harness.await_leader(5_000);
    assert!(harness.nodes[leader].consensus().state().is_member(joined), "admitted");
    commits_everywhere(&mut harness);
}

/// A member cut off while every other voter rotated its key: after the heal, no voter
/// speaks a key its log knows, and it follows them from their hellos.
#[test]
fn a_member_that_missed_every_other_voters_rotation_catches_up() {
    let mut harness = Harness::new(consensus_configs(3, 3), 53);
    harness.await_leader(5_000);
    harness.partition(&[2], &[0, 1]);
    rotate_every_voter(&mut harness, &[0, 1]);
    harness.heal();
    // Peers dial a node that was unreachable with backoff: give them time to.
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    commits_everywhere(&mut harness);
}
