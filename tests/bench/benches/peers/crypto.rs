//! K1 (envelope decode and verify against raw ed25519 verify), K3 (snapshot digest
//! against raw SHA-256), and the crypto limit of C2 (one sign and one verify).

use ed25519_dalek::{Signature, Signer as _, SigningKey};
use psionic_core::consensus::RaftMessage;
use std::cell::RefCell;

use psionic_core::wire::{AuthKind, Authenticator, Body, Message, Recipient, Seal, Sealed, decode_frame, encode_frame};
use psionic_core::{
    ClusterId, ClusterNamespace, Digest, DigestKind, NodeEpoch, NodeIdentity, TransportClass, TrustPosture,
};
use sha2::{Digest as _, Sha256};

/// A heartbeat-sized frame signed by node 1, with the receiver that verifies it.
pub struct SignedFrame {
    pub frame: Vec<u8>,
    pub receiver: RefCell<Authenticator>,
    pub sender: NodeIdentity,
}

impl SignedFrame {
    pub fn new() -> Self {
        let sender = NodeIdentity::new([1; 32], NodeEpoch(1));
        let receiver_identity = NodeIdentity::new([2; 32], NodeEpoch(1));
        let posture = TrustPosture::ConfiguredPeers {
            peers: vec![sender.public_key(), receiver_identity.public_key()],
        };
        let cluster_id = ClusterId::derive(&ClusterNamespace::new("bench").unwrap(), b"genesis");
        let mut sealer = Authenticator::new(&posture, cluster_id, &sender);
        let sealed = Sealed {
            counter: 1,
            transport: TransportClass::Stream,
            auth_kind: AuthKind::Signature,
        };
        let recipient = Some(Recipient::of(&receiver_identity));
        let body = Body::new(
            cluster_id,
            &sender,
            recipient,
            sealed,
            Message::Raft(RaftMessage::Append {
                term: 3,
                prev_index: 100,
                prev_term: 3,
                entries: Default::default(),
                leader_commit: 100,
                genesis: psionic_core::Digest([7; 32]),
                sent_us: 1_000_000,
            }),
        );
        Self {
            frame: encode_frame(&body, &mut sealer, Seal::to(&receiver_identity)).unwrap(),
            receiver: RefCell::new(Authenticator::new(&posture, cluster_id, &receiver_identity)),
            sender,
        }
    }

    /// Ours: decode the frame and verify its signature.
    pub fn decode_and_verify(&self) {
        let decoded = decode_frame(&self.frame).unwrap();
        self.receiver.borrow_mut().verify(&decoded.signed()).unwrap();
    }

    /// The limit: `verify_strict` on the same bytes and signature.
    pub fn raw_verify(&self) {
        let decoded = decode_frame(&self.frame).unwrap();
        let signature = Signature::from_slice(decoded.tag).unwrap();
        self.sender
            .public_key()
            .verify_strict(decoded.authenticated_bytes, &signature)
            .unwrap();
    }
}

/// One ed25519 sign and one verify of a `len`-byte message: the cost each frame pays
/// under the ed25519 posture.
pub fn sign_and_verify(key: &SigningKey, message: &[u8]) {
    let signature = key.sign(message);
    key.verifying_key().verify_strict(message, &signature).unwrap();
}

/// Ours: the snapshot payload digest (SHA-256, snapshot domain).
pub fn snapshot_digest(bytes: &[u8]) -> Digest {
    Digest::of_bytes(DigestKind::Snapshot, bytes)
}

/// The limit: raw SHA-256.
pub fn raw_sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
