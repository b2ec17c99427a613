//! A node reports its own artifacts' residency through its leader, from what its disk
//! holds; nobody else's report is needed.

mod harness;

use std::collections::BTreeMap;

use harness::{Harness, consensus_configs};
use psionic_core::state::Residency;
use psionic_core::{Digest, DigestKind};

fn model(byte: u8) -> Digest {
    Digest::of_bytes(DigestKind::Output, &[byte])
}

fn recorded(harness: &Harness, on: usize, about: usize) -> BTreeMap<Digest, Residency> {
    let node = harness.nodes[about].node_id();
    harness.nodes[on]
        .consensus()
        .state()
        .residency
        .get(&node)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_follower_reports_what_its_disk_holds_and_what_it_no_longer_holds() {
    let mut harness = Harness::new(consensus_configs(3, 3), 4);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    let now = harness.now;
    let held = BTreeMap::from([(model(1), Residency::Resident), (model(2), Residency::Failed)]);
    harness.nodes[follower].hold_artifacts(now, held.clone());
    harness.run_until_ms(harness.now.as_millis() + 500);
    for on in 0..3 {
        assert_eq!(
            recorded(&harness, on, follower),
            held,
            "node {on} applied the follower's reports"
        );
    }
    assert!(
        recorded(&harness, leader, leader).is_empty(),
        "only the reporter's facts changed"
    );
    // The file is deleted: the disk holds only the failed copy now.
    let now = harness.now;
    harness.nodes[follower].hold_artifacts(now, BTreeMap::from([(model(2), Residency::Failed)]));
    harness.run_until_ms(harness.now.as_millis() + 500);
    let expected = BTreeMap::from([(model(1), Residency::Evicted), (model(2), Residency::Failed)]);
    assert_eq!(recorded(&harness, leader, follower), expected);
}

#[test]
fn a_report_lost_with_its_leader_is_made_again_to_the_next() {
    let mut harness = Harness::new(consensus_configs(3, 3), 9);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    harness.isolate(leader);
    let now = harness.now;
    harness.nodes[follower].hold_artifacts(now, BTreeMap::from([(model(7), Residency::Resident)]));
    harness.run_until_ms(harness.now.as_millis() + 4_000);
    let next = harness
        .leaders()
        .into_iter()
        .find(|index| *index != leader)
        .expect("the majority elected a leader");
    assert_eq!(
        recorded(&harness, next, follower),
        BTreeMap::from([(model(7), Residency::Resident)]),
        "reported again once the state did not show it"
    );
}
