use std::collections::BTreeSet;

use core::net::SocketAddr;

use super::{CANDIDATES_MAX, CandidateLedger, CandidateState, Introducer, Membership};
use crate::discovery::DiscoveryConfig;
use crate::discovery::{Discovery, Heard};
use crate::identity::{NodeEpoch, NodeId, NodeRole};
use crate::replay::EpochChange;
use crate::time::Instant;

fn id(n: u32) -> NodeId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    NodeId(bytes)
}

fn addr(n: u32) -> SocketAddr {
    SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 7400))
}

fn heard(discovery: &mut Discovery, now: Instant, n: u32) {
    let heard = Heard {
        peer: id(n),
        addr: addr(n),
        role: Some(NodeRole::Both),
        stream_port: None,
        epoch: NodeEpoch(1),
        epoch_change: EpochChange::FirstSeen,
    };
    discovery.on_heard(now, heard, &mut Vec::new());
}

fn reconcile(ledger: &mut CandidateLedger, discovery: &Discovery, now: Instant, members: &[u32], removed: &[u32]) {
    let members: BTreeSet<NodeId> = members.iter().copied().map(id).collect();
    let removed: BTreeSet<NodeId> = removed.iter().copied().map(id).collect();
    let membership = Membership {
        members: &members,
        removed: &removed,
        listed: &BTreeSet::new(),
    };
    ledger.reconcile(now, discovery.peers(), &membership);
}

fn state_of(ledger: &CandidateLedger, n: u32) -> Option<CandidateState> {
    ledger
        .entries()
        .find(|(node, _)| *node == id(n))
        .map(|(_, candidate)| candidate.state)
}

#[test]
fn a_candidate_moves_from_introduced_to_accepted_refused_or_expired() {
    let config = DiscoveryConfig::default();
    let mut discovery = Discovery::new(config, &[addr(2)], Instant::ZERO);
    let mut ledger = CandidateLedger::default();
    for n in 1..=4 {
        heard(&mut discovery, Instant::ZERO, n);
    }
    reconcile(&mut ledger, &discovery, Instant::ZERO, &[1], &[]);
    assert_eq!(state_of(&ledger, 1), None, "a member met as a member is no candidate");
    assert_eq!(state_of(&ledger, 2), Some(CandidateState::Introduced));
    let (_, seeded) = ledger.entries().find(|(node, _)| *node == id(2)).unwrap();
    assert_eq!(seeded.introduced_by, Introducer::Seed);
    let (_, direct) = ledger.entries().find(|(node, _)| *node == id(3)).unwrap();
    assert_eq!(direct.introduced_by, Introducer::Itself);

    let gossip = [crate::wire::PeerRecord {
        node_id: id(5),
        addr: addr(5),
        role: NodeRole::Both,
    }];
    discovery.on_gossip(Instant::ZERO, id(9), id(1), &gossip);
    heard(&mut discovery, Instant::ZERO, 5);
    reconcile(&mut ledger, &discovery, Instant::ZERO, &[1], &[]);
    let (_, gossiped) = ledger.entries().find(|(node, _)| *node == id(5)).unwrap();
    assert_eq!(gossiped.introduced_by, Introducer::Peer(id(1)), "named by member 1");

    let later = Instant::from_millis(100);
    reconcile(&mut ledger, &discovery, later, &[1, 2], &[3]);
    assert_eq!(state_of(&ledger, 2), Some(CandidateState::Accepted));
    assert_eq!(state_of(&ledger, 3), Some(CandidateState::Refused));

    let expiry = Instant::from_millis(config.peer_expiry_ms + 200);
    discovery.expire(expiry, &mut Vec::new());
    reconcile(&mut ledger, &discovery, expiry, &[1, 2], &[3]);
    assert_eq!(state_of(&ledger, 4), Some(CandidateState::Expired));
    assert!(!ledger.is_introduced(id(4)), "an expired candidate is not admitted");
    heard(&mut discovery, expiry, 4);
    reconcile(&mut ledger, &discovery, expiry, &[1, 2], &[3]);
    assert!(ledger.is_introduced(id(4)), "back when it speaks again");
}

#[test]
fn a_full_ledger_of_waiting_candidates_records_no_newcomer() {
    let config = DiscoveryConfig::default();
    let mut discovery = Discovery::new(config, &[], Instant::ZERO);
    let mut ledger = CandidateLedger::default();
    let count = CANDIDATES_MAX as u32 + 10;
    for n in 1..=count {
        heard(&mut discovery, Instant::ZERO, n);
    }
    reconcile(&mut ledger, &discovery, Instant::ZERO, &[], &[]);
    assert_eq!(ledger.entries().count(), CANDIDATES_MAX);
    assert_eq!(ledger.unrecorded(), 10);
    assert!(
        !ledger.is_introduced(id(count)),
        "a newcomer left out cannot be admitted"
    );

    // Settled entries make room, longest settled first.
    let removed: Vec<u32> = (1..=5).collect();
    reconcile(&mut ledger, &discovery, Instant::from_millis(1), &[], &removed);
    reconcile(&mut ledger, &discovery, Instant::from_millis(2), &[], &removed);
    assert_eq!(ledger.entries().count(), CANDIDATES_MAX);
    assert_eq!(ledger.unrecorded(), 5);
    assert_eq!(state_of(&ledger, 1), None, "the refused made room");
}

#[test]
fn a_flood_of_unlisted_ids_cannot_keep_a_listed_node_out() {
    let config = DiscoveryConfig::default();
    let mut discovery = Discovery::new(config, &[], Instant::ZERO);
    let mut ledger = CandidateLedger::default();
    let listed_id = CANDIDATES_MAX as u32 + 5;
    for n in 1..=listed_id {
        heard(&mut discovery, Instant::ZERO, n);
    }
    let (members, removed) = (BTreeSet::new(), BTreeSet::new());
    let listed: BTreeSet<NodeId> = [id(listed_id)].into();
    let membership = Membership {
        members: &members,
        removed: &removed,
        listed: &listed,
    };
    ledger.reconcile(Instant::ZERO, discovery.peers(), &membership);
    assert!(ledger.is_introduced(id(listed_id)), "the listed node is recorded");
    assert_eq!(ledger.entries().count(), CANDIDATES_MAX);
}
