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
}
