//! A node holding the admission token speaks only as itself, only to the node and life
//! its frame names: it cannot send as a voter, and frames captured on the way to one
//! node, or before a node restarted, are refused elsewhere and afterwards. Every
//! refusal is typed, and the victim's term, vote and log do not move.
//!
//! proves: F10

mod harness;

use harness::{Harness, Packet, consensus_configs};
use psionic_core::FrameRefusal;
use psionic_core::consensus::{HardState, RaftMessage};
use psionic_core::wire::{AuthFailure, Body, Message, Recipient, Seal, Sealed, decode_frame, encode_frame};
use psionic_core::{NodeEpoch, NodeIdentity, Refusal, TransportClass};

/// A 3-voter cluster with a leader and committed proposals: (harness, leader, follower).
fn settled() -> (Harness, usize, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), 61);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 2);
    harness.run_until_ms(harness.now.as_millis() + 500);
    (harness, leader, (leader + 1) % 3)
}

/// A token holder outside the cluster.
fn intruder() -> NodeIdentity {
    NodeIdentity::new([0xab; 32], NodeEpoch(1))
}

/// A frame whose body claims `claimed` (its id and key, in `claimed`'s epoch) as
/// sender, sealed by the intruder for harness node `to`.
fn claiming(claimed: &NodeIdentity, to: usize, message: Message) -> Vec<u8> {
    let recipient = harness::identity(to);
    let sealed = Sealed {
        counter: 1_000_000,
        transport: TransportClass::Datagram,
        auth_kind: psionic_core::wire::AuthKind::Mac,
    };
    let body = Body::new(
        harness::cluster_id(),
        claimed,
        Some(Recipient::of(&recipient)),
        sealed,
        message,
    );
    let mut authenticator = harness::lan_authenticator(&intruder());
    encode_frame(&body, &mut authenticator, Seal::to(&recipient)).unwrap()
}

fn refusals(harness: &Harness, index: usize) -> Vec<Refusal> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            psionic_core::Event::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect()
}

fn durable_view(harness: &Harness, index: usize) -> (HardState, u64, u64) {
    let consensus = harness.nodes[index].consensus();
    (
        consensus.hard_state(),
        consensus.log().last_index(),
        consensus.commit_index(),
    )
}

/// A new proposal commits on every node.
fn assert_keeps_committing(harness: &mut Harness) {
    let before: Vec<u64> = harness
        .nodes
        .iter()
        .map(|node| node.consensus().commit_index())
        .collect();
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 1);
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    for (index, node) in harness.nodes.iter().enumerate() {
        assert!(
            node.consensus().commit_index() > before[index],
            "node {index} stopped committing"
        );
    }
}

#[test]
fn a_token_holder_cannot_send_as_the_leader_nor_move_its_epoch() {
    let (mut harness, leader, follower) = settled();
    let before = durable_view(&harness, follower);
    let term = before.0.term;
    let genesis = harness.nodes[follower].consensus().state().genesis.expect("a genesis");
    let usurper = RaftMessage::Append {
        term: term + 7,
        prev_index: 0,
        prev_term: 0,
        entries: Default::default(),
        leader_commit: 0,
        genesis,
        sent_us: 0,
    };
    // The leader's id and key in a later epoch, sealed without the leader's secret.
    let leader_later = NodeIdentity::new([leader as u8 + 1; 32], NodeEpoch(99));
    harness.inject(
        harness::addr(9),
        follower,
        claiming(&leader_later, follower, Message::Raft(usurper.clone())),
    );
    // The leader's id with the intruder's own key.
    let mut mismatched = claiming(&intruder(), follower, Message::Raft(usurper));
    let leader_id = harness.nodes[leader].node_id();
    let intruder_id = intruder().node_id();
    let at = mismatched
        .windows(16)
        .position(|window| window == intruder_id.0)
        .unwrap();
    mismatched[at..at + 16].copy_from_slice(&leader_id.0);
    harness.inject(harness::addr(9), follower, mismatched);

    let refused = refusals(&harness, follower);
    let sender = leader_id;
    assert!(refused.contains(&Refusal::Frame(FrameRefusal::AuthenticationFailed {
        sender,
        failure: AuthFailure::BadMac
    })));
    assert!(refused.contains(&Refusal::Frame(FrameRefusal::AuthenticationFailed {
        sender,
        failure: AuthFailure::KeyMismatch
    })));
    assert_eq!(durable_view(&harness, follower), before);
    let refused_before = refused.len();
    assert_keeps_committing(&mut harness);
    let stale = refusals(&harness, follower)[refused_before..]
        .iter()
        .filter(|refusal| matches!(refusal, Refusal::Frame(FrameRefusal::StaleEpoch { .. })))
        .count();
    assert_eq!(stale, 0, "the leader's real frames are still taken");
}

/// The frames node `from` sent to node `to` that carry a consensus message.
fn captured(harness: &Harness, from: usize, to: usize, wanted: fn(&RaftMessage) -> bool) -> Vec<Packet> {
    let to_id = harness.nodes[to].node_id();
    harness
        .sent
        .iter()
        .filter(|packet| packet.from == harness.addrs[from])
        .filter(|packet| {
            let Ok(frame) = decode_frame(&packet.bytes) else {
                return false;
            };
            let for_to = frame.body.recipient.is_some_and(|recipient| recipient.node == to_id);
            for_to && matches!(&frame.body.message, Message::Raft(message) if wanted(message))
        })
        .cloned()
        .collect()
}

/// Delivers a captured packet to node `to` on the transport it was sent on.
fn replay(harness: &mut Harness, packet: Packet, to: usize) {
    match packet.class {
        TransportClass::Datagram => harness.inject(packet.from, to, packet.bytes),
        TransportClass::Stream => harness.inject_streams(to, vec![(packet.from, packet.bytes)]),
    }
}

#[test]
fn a_vote_for_one_candidate_replayed_to_another_node_is_refused() {
    let (mut harness, leader, follower) = settled();
    let other = 3 - leader - follower;
    let granted = |message: &RaftMessage| matches!(message, RaftMessage::VoteResponse { granted: true, .. });
    let votes = captured(&harness, follower, leader, granted);
    assert!(!votes.is_empty(), "the follower voted for the leader");
    let before = durable_view(&harness, other);
    let count = votes.len();
    for vote in votes {
        replay(&mut harness, vote, other);
    }
    // Under the trusted-LAN posture the MAC is the one the voter shares with the
    // candidate, so another node cannot even authenticate it (under signatures the
    // named recipient refuses it: see the envelope fuzz target).
    let voter = harness.nodes[follower].node_id();
    let refused = refusals(&harness, other);
    assert_eq!(refused.len(), count, "{refused:?}");
    assert!(refused.iter().all(|refusal| *refusal
        == Refusal::Frame(FrameRefusal::AuthenticationFailed {
            sender: voter,
            failure: AuthFailure::BadMac
        })));
    assert_eq!(durable_view(&harness, other), before);
    assert_keeps_committing(&mut harness);
}

#[test]
fn frames_captured_before_a_restart_are_refused_after_it() {
    let (mut harness, leader, follower) = settled();
    let appends = captured(&harness, leader, follower, |message| {
        matches!(message, RaftMessage::Append { .. })
    });
    assert!(!appends.is_empty(), "the leader sent appends");
    harness.crash(follower);
    harness.reboot(follower);
    let before = durable_view(&harness, follower);
    let last = appends.last().unwrap().clone();
    replay(&mut harness, last, follower);
    let refused = refusals(&harness, follower);
    let ours = Recipient {
        node: harness.nodes[follower].node_id(),
        epoch: NodeEpoch(2),
    };
    assert!(refused.iter().any(|refusal| matches!(
        refusal,
        Refusal::Frame(FrameRefusal::WrongRecipient { addressed, ours: named, .. }) if addressed.epoch == NodeEpoch(1) && *named == ours
    )));
    assert_eq!(durable_view(&harness, follower), before);
    assert_keeps_committing(&mut harness);
}
