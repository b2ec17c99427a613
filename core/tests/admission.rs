//! Admission and replay refusals between real cores in memory.
//!
//! proves: F1

mod harness;

use harness::{Harness, addr, config, namespace};
use psionic_core::DiscoveryEvent;
use psionic_core::FrameRefusal;
use psionic_core::replay::REPLAY_WINDOW;
use psionic_core::wire::{
    AuthFailure, AuthKind, Authenticator, Body, Hello, Message, Recipient, SCHEMA_VERSION, Seal, Sealed, SignedFrame,
    decode_frame, encode_frame,
};
use psionic_core::{
    AdmissionToken, ClusterId, ClusterNamespace, Event, NodeEpoch, NodeIdentity, NodeRole, Refusal, RefusalKind,
    TransportClass, TrustPosture,
};

fn refusals_of(harness: &Harness, index: usize) -> Vec<Refusal> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            Event::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_node_with_the_wrong_token_is_refused_by_all_and_never_listed() {
    let mut configs: Vec<_> = (0..3).map(|index| config(index, 1)).collect();
    let mut intruder = config(3, 1);
    intruder.posture = TrustPosture::TrustedLan {
        token: AdmissionToken::new(b"not the lab's token".to_vec()).unwrap(),
        next: None,
    };
    intruder.seeds = vec![addr(0), addr(1), addr(2)];
    configs.push(intruder);
    let mut harness = Harness::new(configs, 1);
    harness.run_until_ms(5_000);
    let intruder_id = harness.nodes[3].node_id();
    for honest in 0..3 {
        assert!(harness.nodes[honest].discovery().peer(intruder_id).is_none());
        assert!(
            harness.nodes[honest].refusals().get(RefusalKind::AuthenticationFailed) > 0,
            "node {honest}"
        );
        assert!(
            refusals_of(&harness, honest).contains(&Refusal::Frame(FrameRefusal::AuthenticationFailed {
                sender: intruder_id,
                failure: AuthFailure::BadMac
            }))
        );
        assert_eq!(harness.nodes[honest].discovery().peers().count(), 2);
    }
    assert_eq!(harness.nodes[3].discovery().peers().count(), 0);
}

#[test]
fn a_restarted_node_keeps_its_id_advances_its_epoch_and_its_old_frames_are_refused() {
    let mut harness = Harness::cluster(3);
    harness.run_until_ms(2_000);
    let old_id = harness.nodes[2].node_id();
    let old_frame = harness
        .sent
        .iter()
        .rev()
        .find(|packet| packet.from == addr(2) && packet.to == addr(0))
        .unwrap()
        .clone();
    harness.restart(2, 2);
    harness.run_until_ms(4_000);
    assert_eq!(harness.nodes[2].node_id(), old_id);
    let peer = harness.nodes[0].discovery().peer(old_id).unwrap();
    assert_eq!(peer.epoch, NodeEpoch(2));
    assert!(harness.events_of(0).any(|event| matches!(
        event,
        Event::Discovery(DiscoveryEvent::PeerRestarted { peer, from: NodeEpoch(1), to: NodeEpoch(2) }) if *peer == old_id
    )));
    harness.inject(old_frame.from, 0, old_frame.bytes);
    assert_eq!(
        refusals_of(&harness, 0).last(),
        Some(&Refusal::Frame(FrameRefusal::StaleEpoch {
            sender: old_id,
            seen: NodeEpoch(2),
            got: NodeEpoch(1)
        }))
    );
}

#[test]
fn a_duplicated_frame_is_refused_as_a_replay() {
    let mut harness = Harness::cluster(2);
    harness.run_until_ms(1_000);
    let frame = harness
        .sent
        .iter()
        .rev()
        .find(|packet| packet.to == addr(0))
        .unwrap()
        .clone();
    harness.inject(frame.from, 0, frame.bytes);
    assert!(matches!(
        refusals_of(&harness, 0).last(),
        Some(Refusal::Frame(FrameRefusal::Replay { .. }))
    ));
    assert_eq!(harness.nodes[0].refusals().get(RefusalKind::Replay), 1);
}

fn forged_hello(namespace: ClusterNamespace, cluster_id: ClusterId, schema_version: u16) -> Vec<u8> {
    let identity = NodeIdentity::new([99; 32], NodeEpoch(1));
    let token = AdmissionToken::new(harness::TOKEN.to_vec()).unwrap();
    let mut authenticator = Authenticator::new(&TrustPosture::TrustedLan { token, next: None }, cluster_id, &identity);
    let sealed = Sealed {
        counter: 0,
        transport: TransportClass::Datagram,
        auth_kind: AuthKind::GroupMac,
    };
    let hello = Message::Hello(Hello {
        namespace,
        role: NodeRole::Both,
        peers: vec![],
        stream_port: None,
        probe_sent_us: 0,
        genesis: None,
        binary: None,
        tokens: Vec::new(),
        trust: None,
        key_history: Vec::new(),
    });
    let mut body = Body::new(cluster_id, &identity, None, sealed, hello);
    body.schema_version = schema_version;
    encode_frame(&body, &mut authenticator, Seal::Introduction { to: addr(0) }).unwrap()
}

#[test]
fn frames_of_another_namespace_cluster_or_version_are_refused_with_the_values_compared() {
    let mut harness = Harness::cluster(1);
    let ours = ClusterId::derive(&namespace(), b"genesis");
    let other_namespace = ClusterNamespace::new("other").unwrap();
    let other_cluster = ClusterId::derive(&namespace(), b"another genesis");
    harness.inject(addr(9), 0, forged_hello(other_namespace.clone(), ours, SCHEMA_VERSION));
    harness.inject(addr(9), 0, forged_hello(namespace(), other_cluster, SCHEMA_VERSION));
    harness.inject(addr(9), 0, forged_hello(namespace(), ours, SCHEMA_VERSION + 1));
    harness.inject(addr(9), 0, vec![SCHEMA_VERSION as u8, 0xff, 0xff]);
    harness.inject(addr(9), 0, vec![0u8; 70_000]);
    let refusals = refusals_of(&harness, 0);
    assert_eq!(
        refusals[0],
        Refusal::Frame(FrameRefusal::NamespaceMismatch {
            ours: namespace(),
            theirs: other_namespace
        })
    );
    assert_eq!(
        refusals[1],
        Refusal::Frame(FrameRefusal::ClusterMismatch {
            ours,
            theirs: other_cluster
        })
    );
    assert_eq!(
        refusals[2],
        Refusal::Frame(FrameRefusal::UnsupportedSchemaVersion {
            ours: SCHEMA_VERSION,
            theirs: SCHEMA_VERSION + 1
        })
    );
    assert!(matches!(
        refusals[3],
        Refusal::Frame(FrameRefusal::MalformedFrame { .. })
    ));
    assert!(matches!(
        refusals[4],
        Refusal::Frame(FrameRefusal::MalformedFrame { .. })
    ));
    assert_eq!(harness.nodes[0].discovery().peers().count(), 0);
    assert_eq!(harness.nodes[0].refusals().total(), 5);
}

#[test]
fn a_frame_with_one_flipped_bit_fails_authentication() {
    let mut harness = Harness::cluster(2);
    harness.run_until_ms(600);
    let mut frame = harness
        .sent
        .iter()
        .rev()
        .find(|packet| packet.to == addr(0))
        .unwrap()
        .clone();
    let last = frame.bytes.len() - 1;
    frame.bytes[last] ^= 0x01;
    harness.inject(frame.from, 0, frame.bytes);
    assert!(matches!(
        refusals_of(&harness, 0).last(),
        Some(Refusal::Frame(FrameRefusal::AuthenticationFailed {
            failure: AuthFailure::BadMac,
            ..
        }))
    ));
}

fn configured_peers_cluster(pinned: &[u8], count: usize) -> Harness {
    let keys = pinned
        .iter()
        .map(|seed| NodeIdentity::new([*seed; 32], NodeEpoch(1)).public_key())
        .collect::<Vec<_>>();
    let configs = (0..count)
        .map(|index| {
            let mut config = config(index, 1);
            config.posture = TrustPosture::ConfiguredPeers { peers: keys.clone() };
            config
        })
        .collect();
    Harness::new(configs, 3)
}

#[test]
fn configured_peers_admit_only_pinned_keys() {
    // Nodes 0 and 1 (key seeds 1 and 2) are pinned; node 2 (key seed 3) is not.
    let mut harness = configured_peers_cluster(&[1, 2], 3);
    harness.run_until_ms(3_000);
    let stranger = harness.nodes[2].node_id();
    assert_eq!(harness.nodes[0].discovery().peers().count(), 1);
    assert!(harness.nodes[0].discovery().peer(harness.nodes[1].node_id()).is_some());
    assert!(refusals_of(&harness, 0).contains(&Refusal::Frame(FrameRefusal::UnknownPeer { sender: stranger })));
    assert!(harness.nodes[0].refusals().get(RefusalKind::UnknownPeer) > 0);
}

#[test]
fn a_tampered_signature_is_refused_and_a_mac_frame_is_a_posture_mismatch() {
    let mut harness = configured_peers_cluster(&[1, 2], 2);
    harness.run_until_ms(600);
    let mut frame = harness
        .sent
        .iter()
        .rev()
        .find(|packet| packet.to == addr(0))
        .unwrap()
        .clone();
    let last = frame.bytes.len() - 1;
    frame.bytes[last] ^= 0x40;
    harness.inject(frame.from, 0, frame.bytes);
    let mac_frame = forged_hello(namespace(), ClusterId::derive(&namespace(), b"genesis"), SCHEMA_VERSION);
    harness.inject(addr(9), 0, mac_frame);
    let refusals = refusals_of(&harness, 0);
    let tail = &refusals[refusals.len() - 2..];
    assert!(matches!(
        tail[0],
        Refusal::Frame(FrameRefusal::AuthenticationFailed {
            failure: AuthFailure::BadSignature,
            ..
        })
    ));
    assert!(matches!(
        tail[1],
        Refusal::Frame(FrameRefusal::AuthenticationFailed {
            failure: AuthFailure::PostureMismatch {
                ours: AuthKind::Signature,
                theirs: AuthKind::GroupMac
            },
            ..
        })
    ));
}

/// Stream frames: hellos signed by `sender` (pinned as node 1 of
/// `configured_peers_cluster`), with counters far past any it sent, the frame at
/// `tampered` (if any) with its tag bent.
fn signed_hellos(sender: &NodeIdentity, count: u64, tampered: Option<usize>) -> Vec<Vec<u8>> {
    let posture = TrustPosture::ConfiguredPeers {
        peers: vec![
            NodeIdentity::new([1; 32], NodeEpoch(1)).public_key(),
            sender.public_key(),
        ],
    };
    let cluster_id = ClusterId::derive(&namespace(), b"genesis");
    let mut sealer = Authenticator::new(&posture, cluster_id, sender);
    let receiver = harness::identity(0);
    (0..count)
        .map(|n| {
            let sealed = Sealed {
                counter: 1_000_000 + n,
                transport: TransportClass::Stream,
                auth_kind: AuthKind::Signature,
            };
            let Message::Hello(hello) = hello_from_nowhere() else {
                unreachable!("a hello")
            };
            let ack = Message::HelloAck(hello);
            let body = Body::new(cluster_id, sender, Some(Recipient::of(&receiver)), sealed, ack);
            let mut frame = encode_frame(&body, &mut sealer, Seal::to(&receiver)).unwrap();
            if tampered == Some(n as usize) {
                let last = frame.len() - 1;
                frame[last] ^= 0x40;
            }
            frame
        })
        .collect()
}

#[test]
fn signatures_verify_as_one_batch_only_when_every_one_is_genuine() {
    let sender = NodeIdentity::new([2; 32], NodeEpoch(1));
    let posture = TrustPosture::ConfiguredPeers {
        peers: vec![
            NodeIdentity::new([1; 32], NodeEpoch(1)).public_key(),
            sender.public_key(),
        ],
    };
    let receiver = Authenticator::new(
        &posture,
        ClusterId::derive(&namespace(), b"genesis"),
        &NodeIdentity::new([1; 32], NodeEpoch(1)),
    );
    let batch_verifies = |frames: &[Vec<u8>]| {
        let decoded: Vec<_> = frames.iter().map(|frame| decode_frame(frame).unwrap()).collect();
        let signed: Vec<SignedFrame<'_>> = decoded.iter().map(|frame| frame.signed()).collect();
        receiver.verify_batch(&signed)
    };
    assert!(batch_verifies(&signed_hellos(&sender, 8, None)));
    assert!(!batch_verifies(&signed_hellos(&sender, 8, Some(5))));
    assert!(
        !batch_verifies(&signed_hellos(&sender, 1, None)),
        "one frame is verified alone"
    );
    let stranger = NodeIdentity::new([7; 32], NodeEpoch(1));
    assert!(
        !batch_verifies(&signed_hellos(&stranger, 4, None)),
        "an unpinned sender"
    );
}

#[test]
fn a_bad_frame_in_a_stream_batch_is_refused_alone_and_the_others_are_admitted() {
    let mut harness = configured_peers_cluster(&[1, 2], 2);
    harness.run_until_ms(600);
    let before = refusals_of(&harness, 0).len();
    let sender = NodeIdentity::new([2; 32], NodeEpoch(1));
    let frames = signed_hellos(&sender, 4, Some(2));
    let from = addr(1);
    harness.inject_streams(0, frames.iter().map(|frame| (from, frame.clone())).collect());
    let refusals = refusals_of(&harness, 0);
    assert!(
        matches!(
            &refusals[before..],
            [Refusal::Frame(FrameRefusal::AuthenticationFailed {
                failure: AuthFailure::BadSignature,
                ..
            })]
        ),
        "{:?}",
        &refusals[before..]
    );
    harness.inject_streams(0, vec![(from, frames[3].clone())]);
    assert!(
        matches!(
            refusals_of(&harness, 0).last(),
            Some(Refusal::Frame(FrameRefusal::Replay { counter: 1_000_003, .. }))
        ),
        "the genuine frames of the batch were admitted"
    );

    let genuine = signed_hellos(&sender, 8, None);
    let genuine: Vec<_> = genuine.into_iter().skip(4).map(|frame| (from, frame)).collect();
    let before = refusals_of(&harness, 0).len();
    harness.inject_streams(0, genuine.clone());
    assert_eq!(
        refusals_of(&harness, 0).len(),
        before,
        "a genuine batch is admitted whole"
    );
    harness.inject_streams(0, genuine);
    assert_eq!(
        refusals_of(&harness, 0).len(),
        before + 4,
        "and every frame of it once only"
    );
}

fn hello_from_nowhere() -> Message {
    Message::Hello(Hello {
        namespace: namespace(),
        role: NodeRole::Both,
        peers: vec![],
        stream_port: None,
        probe_sent_us: 0,
        genesis: None,
        binary: None,
        tokens: Vec::new(),
        trust: None,
        key_history: Vec::new(),
    })
}

/// A sender's stream queued behind a slow link trails its datagrams by any number of
/// frames: every transport has its own counters and window, so the stream's frames
/// are still admitted, and each once only.
#[test]
fn stream_frames_trailing_the_datagrams_by_more_than_the_window_are_admitted_once() {
    let mut harness = Harness::cluster(1);
    let sender = NodeIdentity::new([5; 32], NodeEpoch(1));
    let datagrams = REPLAY_WINDOW * 4;
    for counter in 0..datagrams {
        let frame = harness::sealed(&sender, 0, counter, hello_from_nowhere());
        harness.inject(addr(5), 0, frame);
    }
    let before = refusals_of(&harness, 0).len();
    let stream: Vec<_> = (0..3)
        .map(|counter| {
            let frame = harness::sealed_for(&sender, 0, TransportClass::Stream, counter, hello_from_nowhere());
            (addr(5), frame)
        })
        .collect();
    harness.inject_streams(0, stream.clone());
    assert_eq!(
        refusals_of(&harness, 0)[before..],
        [],
        "the trailing stream is admitted"
    );
    harness.inject_streams(0, stream);
    assert!(matches!(
        refusals_of(&harness, 0)[before..],
        [
            Refusal::Frame(FrameRefusal::Replay {
                counter: 0,
                highest: 2,
                ..
            }),
            Refusal::Frame(FrameRefusal::Replay { counter: 1, .. }),
            Refusal::Frame(FrameRefusal::Replay { counter: 2, .. })
        ]
    ));
}

/// A frame is bound to the transport it was sealed for: a captured datagram sent on a
/// stream (or the other way round) is refused with both named, before its counter
/// could count in the other transport's window.
#[test]
fn a_frame_on_another_transport_than_it_was_sealed_for_is_refused() {
    let mut harness = Harness::cluster(1);
    let sender = NodeIdentity::new([5; 32], NodeEpoch(1));
    let datagram = harness::sealed(&sender, 0, 7, hello_from_nowhere());
    let stream = harness::sealed_for(&sender, 0, TransportClass::Stream, 7, hello_from_nowhere());
    harness.inject_streams(0, vec![(addr(5), datagram.clone())]);
    harness.inject(addr(5), 0, stream.clone());
    assert_eq!(
        refusals_of(&harness, 0),
        [
            Refusal::Frame(FrameRefusal::WrongTransport {
                sender: sender.node_id(),
                sealed_for: TransportClass::Datagram,
                arrived_on: TransportClass::Stream
            }),
            Refusal::Frame(FrameRefusal::WrongTransport {
                sender: sender.node_id(),
                sealed_for: TransportClass::Stream,
                arrived_on: TransportClass::Datagram
            })
        ]
    );
    harness.inject(addr(5), 0, datagram);
    harness.inject_streams(0, vec![(addr(5), stream)]);
    assert_eq!(
        refusals_of(&harness, 0).len(),
        2,
        "each is admitted on its own transport"
    );
}
