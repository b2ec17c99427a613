//! Discovery end to end between real cores in memory.
//!
//! proves: F2

mod harness;

use harness::Harness;
use psionic_core::DiscoveryEvent;
use psionic_core::{Event, NodeId, PeerHealth};

fn health_of(harness: &Harness, viewer: usize, subject: usize) -> Option<PeerHealth> {
    let subject_id = harness.nodes[subject].node_id();
    harness.nodes[viewer]
        .discovery()
        .peer(subject_id)
        .map(|peer| peer.health)
}

fn assert_full_membership(harness: &Harness) {
    for viewer in 0..harness.nodes.len() {
        for subject in (0..harness.nodes.len()).filter(|subject| *subject != viewer) {
            assert_eq!(
                health_of(harness, viewer, subject),
                Some(PeerHealth::Reachable),
                "{viewer} sees {subject}"
            );
        }
    }
}

#[test]
fn nodes_seeded_with_one_address_learn_every_member_by_gossip() {
    let mut harness = Harness::cluster(5);
    harness.run_until_ms(3_000);
    assert_full_membership(&harness);
    // Node 4 was only told about node 0; it learned node 1 from gossip.
    let learned = harness
        .events_of(4)
        .any(|event| matches!(event, Event::Discovery(DiscoveryEvent::PeerDiscovered { peer, .. }) if *peer == harness.nodes[1].node_id()));
    assert!(learned);
}

#[test]
fn an_isolated_node_goes_degraded_then_unreachable_then_reachable_after_heal() {
    let mut harness = Harness::cluster(4);
    harness.run_until_ms(3_000);
    harness.isolate(2);
    harness.run_until_ms(10_000);
    for viewer in [0, 1, 3] {
        assert_eq!(health_of(&harness, viewer, 2), Some(PeerHealth::Unreachable));
    }
    let isolated = harness.nodes[2].node_id();
    let transitions: Vec<PeerHealth> = harness
        .events_of(0)
        .filter_map(|event| match event {
            Event::Discovery(DiscoveryEvent::PeerHealthChanged { peer, to, .. }) if *peer == isolated => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(transitions, [PeerHealth::Degraded, PeerHealth::Unreachable]);
    harness.heal();
    harness.run_until_ms(20_000);
    assert_full_membership(&harness);
}

#[test]
fn unreachable_peers_are_probed_with_capped_backoff() {
    let mut harness = Harness::cluster(2);
    harness.run_until_ms(2_000);
    harness.isolate(1);
    let before = harness.sent.len();
    harness.run_until_ms(50_000);
    let probes_to_1 = harness.sent[before..]
        .iter()
        .filter(|packet| packet.to == harness.addrs[1])
        .count();
    // At 500 ms per probe that would be ~96 probes; backoff capped at 8 s (+20%
    // jitter) allows a handful after the first few.
    assert!(probes_to_1 < 20, "{probes_to_1} probes in 48 s");
    assert!(probes_to_1 >= 48 / 10, "still probed while unreachable: {probes_to_1}");
}

#[test]
fn a_peer_silent_past_the_expiry_leaves_the_table_and_returns_after_heal() {
    let mut harness = Harness::cluster(3);
    harness.run_until_ms(2_000);
    harness.isolate(2);
    harness.run_until_ms(70_000);
    let gone: NodeId = harness.nodes[2].node_id();
    assert_eq!(health_of(&harness, 0, 2), None);
    assert!(
        harness
            .events_of(0)
            .any(|event| matches!(event, Event::Discovery(DiscoveryEvent::PeerExpired { peer, .. }) if *peer == gone))
    );
    harness.heal();
    harness.run_until_ms(90_000);
    assert_full_membership(&harness);
}

#[test]
fn membership_converges_under_thirty_percent_loss() {
    let mut harness = Harness::cluster(5);
    harness.loss_ppm = 300_000;
    harness.run_until_ms(15_000);
    for viewer in 0..5 {
        assert_eq!(harness.nodes[viewer].discovery().peers().count(), 4, "node {viewer}");
    }
}
