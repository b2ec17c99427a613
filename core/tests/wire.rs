//! Frame layout: bulk bytes travel after the tag, declared by length in the body.
//!
//! proves: D3, F10

mod harness;

use psionic_core::consensus::{RaftMessage, StoredSnapshot};
use psionic_core::wire::{AuthFailure, AuthKind, Authenticator, DecodeError, Hello, Message, decode_frame};
use psionic_core::{ClusterState, NodeEpoch, NodeIdentity, NodeRole};

const CHUNK_BYTES: usize = 1_000;

/// A frame from a node holding the token to harness node 0, with node 0's
/// authenticator.
fn sealed(message: Message) -> (Vec<u8>, Authenticator, NodeIdentity) {
    let identity = NodeIdentity::new([7; 32], NodeEpoch(1));
    let frame = harness::sealed(&identity, 0, 0, message);
    (frame, harness::lan_authenticator(&harness::identity(0)), identity)
}

fn chunk() -> Message {
    let data: Vec<u8> = (0..CHUNK_BYTES).map(|index| index as u8).collect();
    Message::Raft(RaftMessage::SnapshotChunk {
        term: 2,
        meta: StoredSnapshot::of(&ClusterState::default()).meta,
        offset: 0,
        data: data.into(),
    })
}

fn verify(frame: &[u8], authenticator: &mut Authenticator, identity: &NodeIdentity) -> Result<(), AuthFailure> {
    let decoded = decode_frame(frame).unwrap();
    assert_eq!(decoded.body.sender, identity.node_id());
    authenticator.verify(&decoded.signed())
}

#[test]
fn a_snapshot_chunk_carries_its_bytes_after_the_tag_and_decodes_whole() {
    let (frame, mut authenticator, identity) = sealed(chunk());
    let decoded = decode_frame(&frame).unwrap();
    assert_eq!(decoded.body.message, chunk());
    assert_eq!(decoded.tag.len(), AuthKind::Mac.tag_len());
    let Message::Raft(RaftMessage::SnapshotChunk { data, .. }) = &decoded.body.message else {
        panic!("not a chunk")
    };
    assert_eq!(&frame[frame.len() - CHUNK_BYTES..], data.as_slice());
    assert_eq!(
        decoded.authenticated_bytes.len() + decoded.tag.len() + CHUNK_BYTES,
        frame.len()
    );
    assert_eq!(verify(&frame, &mut authenticator, &identity), Ok(()));
}

#[test]
fn the_tag_covers_a_chunks_metadata_but_not_its_bytes() {
    let (frame, mut authenticator, identity) = sealed(chunk());
    let mut bytes_changed = frame.clone();
    *bytes_changed.last_mut().unwrap() ^= 0x01;
    assert_eq!(verify(&bytes_changed, &mut authenticator, &identity), Ok(()));
    let digest = StoredSnapshot::of(&ClusterState::default()).meta.state_digest.0;
    let at = frame
        .windows(digest.len())
        .position(|window| window == digest)
        .expect("the body holds the state digest");
    let mut digest_changed = frame;
    digest_changed[at] ^= 0x01;
    assert_eq!(
        verify(&digest_changed, &mut authenticator, &identity),
        Err(AuthFailure::BadMac)
    );
}

#[test]
fn bytes_after_the_tag_must_be_exactly_as_many_as_the_body_declares() {
    let (frame, ..) = sealed(chunk());
    let short = &frame[..frame.len() - 1];
    assert_eq!(
        decode_frame(short).unwrap_err(),
        DecodeError::DetachedLength {
            expected: CHUNK_BYTES,
            got: CHUNK_BYTES - 1
        }
    );
    let mut long = frame.clone();
    long.push(0);
    assert_eq!(
        decode_frame(&long).unwrap_err(),
        DecodeError::DetachedLength {
            expected: CHUNK_BYTES,
            got: CHUNK_BYTES + 1
        }
    );
}

#[test]
fn a_message_without_detached_bytes_accepts_nothing_after_its_tag() {
    let hello = Message::Hello(Hello {
        namespace: harness::namespace(),
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
    let (mut frame, ..) = sealed(hello);
    frame.push(0);
    assert_eq!(
        decode_frame(&frame).unwrap_err(),
        DecodeError::TagLength {
            kind: AuthKind::Mac,
            expected: 32,
            got: 33
        }
    );
}

/// Every frame a node sends says how much of it the tag covers, bandwidth-probe
/// frames (filler after the tag) included.
#[test]
fn a_transmit_names_the_bytes_its_tag_covers() {
    let configs = (0..3)
        .map(|index| {
            let mut config = harness::config(index, 1);
            config.stream_port = Some(7401);
            config.discovery.link_probe_interval_ms = 1_000;
            config
        })
        .collect();
    let mut cluster = harness::Harness::new(configs, 7);
    cluster.run_until_ms(5_000);
    let mut detached = 0;
    for packet in &cluster.sent {
        let decoded = decode_frame(&packet.bytes).unwrap();
        assert_eq!(packet.authenticated_len, decoded.authenticated_bytes.len());
        if packet.authenticated_len + decoded.tag.len() < packet.bytes.len() {
            detached += 1;
        }
    }
    assert!(detached > 0, "no bandwidth probe was sent");
    assert!(cluster.sent.len() > detached, "only probes were sent");
}
