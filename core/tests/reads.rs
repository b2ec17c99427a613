//! Linearizable reads by ReadIndex (Raft dissertation §6.4): a read is answered only
//! once the applied state holds everything committed before it began, as confirmed by
//! a quorum; a leader cut off from its quorum answers none.
//!
//! proves: F5

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::ConsensusEvent;
use psionic_core::consensus::reads::{ReadId, ReadRefusal};
use psionic_core::{ClusterCommand, Event};

fn outcome(harness: &Harness, node: usize, id: ReadId) -> Option<Result<u64, ReadRefusal>> {
    harness.events_of(node).find_map(|event| match event {
        Event::Consensus(ConsensusEvent::ReadReady { id: ready, index }) if *ready == id => Some(Ok(*index)),
        Event::Consensus(ConsensusEvent::ReadRefused { id: refused, reason }) if *refused == id => Some(Err(*reason)),
        _ => None,
    })
}

fn settled() -> (Harness, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), 81);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 3);
    harness.run_until_ms(harness.now.as_millis() + 500);
    (harness, leader)
}

#[test]
fn a_read_on_the_leader_or_a_follower_holds_every_committed_write() {
    let (mut harness, leader) = settled();
    let follower = (leader + 1) % 3;
    let committed = harness.nodes[leader].consensus().commit_index();
    for node in [leader, follower] {
        let id = harness.nodes[node].read(harness.now);
        harness.run_until_ms(harness.now.as_millis() + 200);
        let index = outcome(&harness, node, id).expect("answered").expect("ready");
        assert!(
            index >= committed,
            "node {node}: read index {index} below commit {committed}"
        );
        assert!(harness.nodes[node].consensus().state().applied_index >= index);
    }
}

#[test]
fn a_leader_cut_off_from_its_quorum_answers_no_read() {
    let (mut harness, old) = settled();
    harness.isolate(old);
    let id = harness.nodes[old].read(harness.now);
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(outcome(&harness, old, id), None, "no quorum confirms it");
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let new = harness
        .leaders()
        .into_iter()
        .find(|index| *index != old)
        .expect("a new leader");
    let write = ClusterCommand::SetPolicy {
        name: "after".into(),
        document: vec![1],
    };
    harness.nodes[new].propose(harness.now, write);
    harness.run_until_ms(harness.now.as_millis() + 500);
    assert!(
        matches!(outcome(&harness, old, id), Some(Err(ReadRefusal::LeaderLost { .. }))),
        "refused once it stepped down, never answered stale: {:?}",
        outcome(&harness, old, id)
    );
}

#[test]
fn a_follower_without_a_leader_refuses_at_once() {
    let mut harness = Harness::new(consensus_configs(3, 3), 82);
    let id = harness.nodes[1].read(harness.now);
    harness.run_until_ms(harness.now.as_millis());
    assert_eq!(outcome(&harness, 1, id), Some(Err(ReadRefusal::NoLeader)));
}

/// Reads that arrive while a confirmation round is in flight wait for the next one,
/// which confirms them all: a burst of reads costs two rounds of appends, not one
/// round each.
#[test]
fn a_burst_of_reads_shares_its_confirmation_rounds() {
    let (mut harness, leader) = settled();
    let leader_addr = harness.addrs[leader];
    let sent_before = harness.sent.len();
    let ids: Vec<ReadId> = (0..20).map(|_| harness.nodes[leader].read(harness.now)).collect();
    harness.run_until_ms(harness.now.as_millis());
    let appends_sent = harness.sent[sent_before..]
        .iter()
        .filter(|packet| packet.from == leader_addr)
        .count();
    assert_eq!(
        appends_sent, 4,
        "the first read's round, then one round for the other 19, to two followers"
    );
    harness.run_until_ms(harness.now.as_millis() + 50);
    for id in ids {
        assert!(matches!(outcome(&harness, leader, id), Some(Ok(_))), "read {id}");
    }
    let more: Vec<ReadId> = (0..20).map(|_| harness.nodes[leader].read(harness.now)).collect();
    harness.run_until_ms(harness.now.as_millis() + 50);
    for id in more {
        assert!(matches!(outcome(&harness, leader, id), Some(Ok(_))), "read {id}");
    }
}
