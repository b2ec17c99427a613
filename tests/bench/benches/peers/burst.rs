//! K2: a burst of signed frames arriving together on a peer stream (catch-up), handed
//! to the core as one input, against raw ed25519 batch verification of the same bytes.

use std::net::SocketAddr;

use ed25519_dalek::{Signature, VerifyingKey};
use psionic_core::wire::{
    AuthKind, Authenticator, Body, Hello, Message, Recipient, Seal, Sealed, decode_frame, encode_frame,
};
use psionic_core::{ClusterNamespace, Input, Instant, Node, NodeIdentity, NodeRole, TransportClass};

use crate::ours::{Posture, addr, config, identity};

/// `n` frames signed by node 1, and node 0 that receives them.
pub struct SignedBurst {
    node: Node,
    frames: Vec<(SocketAddr, Vec<u8>)>,
    bodies: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
    keys: Vec<VerifyingKey>,
}

impl SignedBurst {
    pub fn new(n: u64) -> Self {
        let receiver = config(0, 2, Posture::Ed25519);
        let sender = config(1, 2, Posture::Ed25519);
        let mut sealer = Authenticator::new(&sender.posture, sender.cluster_id, &sender.identity);
        let frames: Vec<Vec<u8>> = (1..=n)
            .map(|counter| {
                let body = acknowledgement(&sender, &receiver.identity, counter);
                encode_frame(&body, &mut sealer, Seal::to(&receiver.identity)).unwrap()
            })
            .collect();
        let decoded: Vec<_> = frames.iter().map(|frame| decode_frame(frame).unwrap()).collect();
        let bodies = decoded.iter().map(|frame| frame.authenticated_bytes.to_vec()).collect();
        let signatures = decoded
            .iter()
            .map(|frame| Signature::from_slice(frame.tag).unwrap())
            .collect();
        Self {
            node: Node::new(receiver, Instant::ZERO).unwrap(),
            frames: frames.into_iter().map(|frame| (addr(1), frame)).collect(),
            bodies,
            signatures,
            keys: vec![identity(1).public_key(); n as usize],
        }
    }

    /// Ours: the frames as one `Input::Streams`: decoding, one batch verification,
    /// then each frame's replay check and handling. The first delivery admits the
    /// frames; later ones pay the same decoding and verification, then are refused
    /// as replays.
    pub fn deliver(&mut self) {
        let frames = self.frames.clone();
        self.node.handle(Instant::from_millis(1), Input::Streams { frames });
        while self.node.poll_output().is_some() {}
    }

    /// The limit: `verify_batch` over the same bodies and signatures.
    pub fn raw_verify_batch(&self) {
        let messages: Vec<&[u8]> = self.bodies.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&messages, &self.signatures, &self.keys).unwrap();
    }
}

fn acknowledgement(sender: &psionic_core::NodeConfig, receiver: &NodeIdentity, counter: u64) -> Body {
    let sealed = Sealed {
        counter,
        transport: TransportClass::Stream,
        auth_kind: AuthKind::Signature,
    };
    let recipient = Some(Recipient::of(receiver));
    Body::new(
        sender.cluster_id,
        &sender.identity,
        recipient,
        sealed,
        Message::HelloAck(Hello {
            namespace: ClusterNamespace::new("bench").unwrap(),
            role: NodeRole::Both,
            peers: Vec::new(),
            stream_port: None,
            probe_sent_us: counter,
            genesis: None,
            binary: None,
            tokens: Vec::new(),
            trust: None,
            key_history: Vec::new(),
        }),
    )
}
