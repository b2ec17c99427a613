//! The frame decoder and the authentication and replay checks.

use core::net::SocketAddr;
use std::collections::BTreeSet;

use super::Draw;
use crate::config::{DiscoveryConfig, NodeConfig};
use crate::consensus::{ConsensusConfig, Durable, RaftMessage, StoredSnapshot};
use crate::identity::{AdmissionToken, ClusterId, ClusterNamespace, NodeEpoch, NodeIdentity, NodeRole};
use crate::io::{Input, Transmit, TransportClass};
use crate::node::Node;
use crate::refusal::RefusalKind;
use crate::state::ClusterState;
use crate::time::Instant;
use crate::wire::peek_schema_version;
use crate::wire::{
    Authenticator, Body, Hello, Message, Recipient, Seal, Sealed, TrustPosture, decode_frame, encode_frame,
};

/// Arbitrary bytes into the decoder: a frame or a typed error, never a panic.
pub fn decode_envelope(bytes: &[u8]) {
    if peek_schema_version(bytes).is_ok() {
        let _ = decode_frame(bytes);
    }
}

/// Valid frames from one sender, each possibly tampered with, replayed, delivered on
/// the other transport or sealed for an earlier life of the receiver, into a real node
/// under the MAC or the ed25519 posture. A frame tampered with where its tag reaches,
/// one on another transport than it was sealed for, one for another life, and a
/// repeated counter on its transport, must be refused on admission; an untouched frame
/// with a new highest counter must be admitted, and so must one whose detached bytes
/// alone were changed (they are authenticated otherwise: a snapshot chunk's by the
/// snapshot digest).
pub fn verify_envelope(bytes: &[u8]) {
    let mut draw = Draw::new(bytes);
    let namespace = ClusterNamespace::new("fuzz").expect("valid namespace");
    let cluster_id = ClusterId::derive(&namespace, b"genesis");
    let sender = NodeIdentity::new([1; 32], NodeEpoch(1));
    let receiver = NodeIdentity::new([2; 32], NodeEpoch(1));
    let posture = if draw.bool() {
        TrustPosture::ConfiguredPeers {
            peers: vec![sender.public_key(), receiver.public_key()],
        }
    } else {
        let token = AdmissionToken::new(b"fuzzing admission token".to_vec()).expect("long enough");
        TrustPosture::TrustedLan { token, next: None }
    };
    let mut sealer = Authenticator::new(&posture, cluster_id, &sender);
    let receiver_id = receiver.node_id();
    let mut node = Node::new(
        receiver_config(namespace.clone(), cluster_id, receiver.clone(), posture),
        Instant::ZERO,
    )
    .expect("valid configuration");
    let from: SocketAddr = "10.0.0.1:7400".parse().expect("valid address");
    let mut accepted_counters: [BTreeSet<u64>; 2] = Default::default();
    while !draw.is_empty() {
        let counter = u64::from(draw.u8());
        let transport = if draw.bool() {
            TransportClass::Stream
        } else {
            TransportClass::Datagram
        };
        let arrived_on = match (draw.u8() < 32, transport) {
            (false, transport) => transport,
            (true, TransportClass::Stream) => TransportClass::Datagram,
            (true, TransportClass::Datagram) => TransportClass::Stream,
        };
        let for_earlier_life = draw.u8() < 16;
        let recipient = Recipient {
            node: receiver_id,
            epoch: NodeEpoch(if for_earlier_life { 0 } else { 1 }),
        };
        let sealed = Sealed {
            counter,
            transport,
            auth_kind: sealer.kind_for(true),
        };
        let body = Body::new(
            cluster_id,
            &sender,
            Some(recipient),
            sealed,
            message(&mut draw, &namespace),
        );
        let genuine = encode_frame(&body, &mut sealer, Seal::to(&receiver)).expect("the receiver's key is valid");
        let frame = tamper(&mut draw, &genuine);
        let detached_len = body.message.detached().map_or(0, |detached| detached.len());
        let refusals_before = admission_refusals(&node);
        let transmit = Transmit {
            to: from,
            class: arrived_on,
            bytes: frame.clone(),
            authenticated_len: 0,
        };
        node.handle(Instant::ZERO, Input::delivered(from, transmit));
        while node.poll_output().is_some() {}
        let refused = admission_refusals(&node) > refusals_before;
        let accepted_counters = &mut accepted_counters[transport as usize];
        let highest = accepted_counters.last().copied();
        let authenticated_end = genuine.len() - detached_len;
        if frame.len() != genuine.len() || frame[..authenticated_end] != genuine[..authenticated_end] {
            assert!(refused, "a tampered frame was accepted");
        } else if arrived_on != transport {
            assert!(
                refused,
                "a frame sealed for {transport:?} was accepted on {arrived_on:?}"
            );
        } else if for_earlier_life {
            assert!(refused, "a frame sealed for an earlier life was accepted");
        } else if accepted_counters.contains(&counter) {
            assert!(refused, "a replayed counter {counter} was accepted");
        } else if highest.is_none_or(|highest| counter > highest) {
            assert!(!refused, "a genuine frame with new counter {counter} was refused");
        }
        if !refused {
            accepted_counters.insert(counter);
        }
    }
}

/// Refusals made before a frame reaches the protocol.
fn admission_refusals(node: &Node) -> u64 {
    RefusalKind::ALL
        .into_iter()
        .filter(|kind| kind.is_admission())
        .map(|kind| node.refusals().get(kind))
        .sum()
}

fn receiver_config(
    namespace: ClusterNamespace,
    cluster_id: ClusterId,
    identity: NodeIdentity,
    posture: TrustPosture,
) -> NodeConfig {
    NodeConfig {
        namespace,
        cluster_id,
        identity,
        role: NodeRole::Both,
        posture,
        seeds: Vec::new(),
        discovery: DiscoveryConfig::default(),
        rng_seed: 0,
        stream_port: None,
        consensus: ConsensusConfig::default(),
        durable: Durable::default(),
        binary: None,
    }
}

fn message(draw: &mut Draw<'_>, namespace: &ClusterNamespace) -> Message {
    if draw.bool() {
        return Message::Hello(Hello {
            namespace: namespace.clone(),
            role: NodeRole::Both,
            peers: Vec::new(),
            stream_port: None,
            probe_sent_us: 0,
            genesis: None,
            binary: None,
            tokens: Vec::new(),
            trust: None,
            key_history: Vec::new(),
        });
    }
    if draw.bool() {
        let len = usize::from(draw.u8());
        return Message::Raft(RaftMessage::SnapshotChunk {
            term: 0,
            meta: StoredSnapshot::of(&ClusterState::default()).meta,
            offset: 0,
            data: draw.bytes(len).to_vec().into(),
        });
    }
    Message::Raft(RaftMessage::VoteResponse {
        term: u64::from(draw.u8()),
        granted: draw.bool(),
        pre_vote: draw.bool(),
        leader: None,
        endorsement: None,
    })
}

/// The frame untouched, with one bit flipped, cut short, or with its tail replaced.
fn tamper(draw: &mut Draw<'_>, genuine: &[u8]) -> Vec<u8> {
    let mut frame = genuine.to_vec();
    match draw.u8() % 4 {
        0 => {}
        1 => {
            let at = draw.below(frame.len());
            frame[at] ^= 1 << (draw.u8() % 8);
        }
        2 => frame.truncate(draw.below(frame.len())),
        _ => {
            let keep = draw.below(frame.len());
            frame.truncate(keep);
            let tail_len = genuine.len() - keep;
            frame.extend_from_slice(draw.bytes(tail_len));
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::verify_envelope;

    #[test]
    fn genuine_frames_pass_and_replays_and_tampering_are_refused_in_both_postures() {
        for ed25519 in [0, 1] {
            // counter 5 untouched (accepted), counter 5 again (a replay), counter 6
            // with bit 2 of byte 3 flipped, counter 7 untouched (accepted).
            verify_envelope(&[ed25519, 5, 1, 0, 5, 1, 0, 6, 1, 1, 3, 0, 2, 7, 1, 0]);
        }
    }

    #[test]
    fn seeded_random_inputs_hold_the_property() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{RngCore, SeedableRng};
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..300 {
            let mut input = vec![0u8; 1 + (rng.next_u32() % 200) as usize];
            rng.fill_bytes(&mut input);
            verify_envelope(&input);
        }
    }
}
