//! Authentication postures: a MAC keyed from the admission token (trusted LAN), or
//! ed25519 signatures by keys pinned in configuration (configured peers).

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::digest::{Digest, DigestKind};
use crate::identity::{AdmissionToken, ClusterId, NodeId, NodeIdentity};

/// How the tag after a frame body was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// HMAC-SHA256 keyed from the admission token.
    Mac,
    /// ed25519 signature by the sender's key.
    Signature,
}

impl AuthKind {
    /// Length of this kind's tag in bytes.
    pub const fn tag_len(self) -> usize {
        match self {
            AuthKind::Mac => 32,
            AuthKind::Signature => 64,
        }
    }
}

/// Who may speak in the cluster, and how they prove it.
#[derive(Clone, Debug)]
pub enum TrustPosture {
    /// Anyone holding the admission token.
    TrustedLan {
        /// The shared secret; never transmitted.
        token: AdmissionToken,
    },
    /// Only the listed public keys (the node's own may be among them).
    ConfiguredPeers {
        /// Pinned keys.
        peers: Vec<VerifyingKey>,
    },
}

/// Why a tag did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthFailure {
    /// The frame uses another posture's tag.
    PostureMismatch {
        /// Kind this node requires.
        ours: AuthKind,
        /// Kind the frame carries.
        theirs: AuthKind,
    },
    /// The MAC is wrong (another token, or tampering).
    BadMac,
    /// The signature is wrong (tampering, or another key).
    BadSignature,
    /// The sender's key is not pinned.
    UnknownPeer,
}

/// One received frame's authentication facts, for [`Authenticator::verify_batch`].
#[derive(Clone, Copy, Debug)]
pub struct SignedFrame<'a> {
    /// Who the frame says sent it.
    pub sender: NodeId,
    /// The tag's kind.
    pub kind: AuthKind,
    /// The body bytes exactly as received.
    pub body: &'a [u8],
    /// The tag.
    pub tag: &'a [u8],
}

enum Verification {
    Mac(Hmac<Sha256>),
    Signature(BTreeMap<NodeId, VerifyingKey>),
}

/// Seals outgoing bodies and verifies incoming ones for one node.
pub struct Authenticator {
    verification: Verification,
    identity: NodeIdentity,
}

impl core::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Authenticator")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `identity` in the cluster `cluster_id` under `posture`.
    pub fn new(posture: &TrustPosture, cluster_id: ClusterId, identity: &NodeIdentity) -> Self {
        let verification = match posture {
            TrustPosture::TrustedLan { token } => {
                let key = Digest::of_parts(DigestKind::AdmissionMacKey, &[&cluster_id.0, token.expose_secret()]);
                let mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC accepts any key length");
                Verification::Mac(mac)
            }
            TrustPosture::ConfiguredPeers { peers } => {
                let pinned = peers.iter().map(|key| (NodeId::from_public_key(key), *key)).collect();
                Verification::Signature(pinned)
            }
        };
        Self {
            verification,
            identity: identity.clone(),
        }
    }

    /// The tag kind this node produces and requires.
    pub fn kind(&self) -> AuthKind {
        match self.verification {
            Verification::Mac(_) => AuthKind::Mac,
            Verification::Signature(_) => AuthKind::Signature,
        }
    }

    /// Whether `peer` is pinned (always true under the trusted-LAN posture).
    pub fn may_speak(&self, peer: NodeId) -> bool {
        match &self.verification {
            Verification::Mac(_) => true,
            Verification::Signature(pinned) => pinned.contains_key(&peer),
        }
    }

    /// The tag over `body`.
    pub fn seal(&self, body: &[u8]) -> Vec<u8> {
        match &self.verification {
            Verification::Mac(mac) => {
                let mut mac = mac.clone();
                mac.update(body);
                mac.finalize().into_bytes().to_vec()
            }
            Verification::Signature(_) => self.identity.signing_key().sign(body).to_bytes().to_vec(),
        }
    }

    /// Checks that `tag` (of `kind`) authenticates `body` as sent by `sender`.
    pub fn verify(&self, sender: NodeId, kind: AuthKind, body: &[u8], tag: &[u8]) -> Result<(), AuthFailure> {
        if kind != self.kind() {
            return Err(AuthFailure::PostureMismatch {
                ours: self.kind(),
                theirs: kind,
            });
        }
        match &self.verification {
            Verification::Mac(mac) => {
                let mut mac = mac.clone();
                mac.update(body);
                mac.verify_slice(tag).map_err(|_| AuthFailure::BadMac)
            }
            Verification::Signature(pinned) => {
                let key = pinned.get(&sender).ok_or(AuthFailure::UnknownPeer)?;
                let signature = Signature::from_slice(tag).map_err(|_| AuthFailure::BadSignature)?;
                key.verify_strict(body, &signature)
                    .map_err(|_| AuthFailure::BadSignature)
            }
        }
    }

    /// Whether every frame of `frames` is authentic, checked at once by ed25519 batch
    /// verification. True only under the signature posture, for two frames or more,
    /// each of that kind, from a pinned sender whose key is not of small order, with
    /// a well-formed signature, and when the batch equation holds. A frame that
    /// passes holds a signature [`Self::verify`] accepts, except one its key's holder
    /// crafts with a small-order or mixed-order `R` (which `verify_strict` refuses
    /// and a batch may accept): only a member can sign as itself, and members are
    /// trusted to fail by stopping, not to forge. False names no frame: callers then
    /// verify each with [`Self::verify`].
    pub fn verify_batch(&self, frames: &[SignedFrame<'_>]) -> bool {
        let Verification::Signature(pinned) = &self.verification else {
            return false;
        };
        if frames.len() < 2 {
            return false;
        }
        let mut messages = Vec::with_capacity(frames.len());
        let mut signatures = Vec::with_capacity(frames.len());
        let mut keys = Vec::with_capacity(frames.len());
        for frame in frames {
            let Some(key) = pinned.get(&frame.sender).filter(|_| frame.kind == AuthKind::Signature) else {
                return false;
            };
            let Ok(signature) = Signature::from_slice(frame.tag) else {
                return false;
            };
            if key.is_weak() {
                return false;
            }
            messages.push(frame.body);
            signatures.push(signature);
            keys.push(*key);
        }
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}
