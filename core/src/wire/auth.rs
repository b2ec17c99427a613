//! Authentication postures. Under both, a frame proves which node sent it:
//! - trusted LAN: HMAC-SHA256 under a key only the two nodes can derive (their X25519
//!   agreement of static keys, with the cluster id and the admission token); a hello
//!   to an address whose node is not yet known carries a MAC under the cluster's group
//!   key instead, proves only that its sender holds the token, and is only answered;
//! - configured peers: ed25519 signatures by keys pinned in configuration.
//!
//! Under both, a frame's key must speak for its sender id: for a node the log rotated
//! ([`crate::state::ClusterState::node_keys`]), its key in force or the one retiring;
//! else the key pinned for it or (trusted LAN) the key its id is the digest of. The
//! caller may name one more key for the sender: the new key of a rotation in its log
//! not yet applied.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::lan::{AdmissionStatus, LanKeys};
use crate::digest::Digest;
use crate::identity::{AdmissionToken, ClusterId, NodeId, NodeIdentity, PublicKey};
use crate::state::NodeKeys;

/// How the tag after a frame body was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// HMAC-SHA256 under the key the sender and its recipient share.
    Mac,
    /// HMAC-SHA256 under the cluster's group key: introductions only.
    GroupMac,
    /// ed25519 signature by the sender's key.
    Signature,
}

impl AuthKind {
    /// Length of this kind's tag in bytes.
    pub const fn tag_len(self) -> usize {
        match self {
            AuthKind::Mac | AuthKind::GroupMac => 32,
            AuthKind::Signature => 64,
        }
    }
}

/// Who may speak in the cluster, and how they prove it.
#[derive(Clone, Debug)]
pub enum TrustPosture {
    /// Anyone holding the admission token, each as the node its key names.
    TrustedLan {
        /// The shared secret; never transmitted.
        token: AdmissionToken,
        /// The token that replaces it, accepted alongside until the log commits a
        /// cut-over (see `lan`).
        next: Option<AdmissionToken>,
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
    /// The frame carries another kind of tag than this node requires of it (another
    /// posture, or a group MAC on an addressed frame).
    PostureMismatch {
        /// Kind this node requires of the frame.
        ours: AuthKind,
        /// Kind the frame carries.
        theirs: AuthKind,
    },
    /// The MAC is wrong (another token, another key, or tampering).
    BadMac,
    /// The signature is wrong (tampering, or another key).
    BadSignature,
    /// The sender's key is not pinned.
    UnknownPeer,
    /// The key the frame carries is not the one its sender id names (or pins).
    KeyMismatch,
    /// The key the frame carries is not a usable curve point.
    WeakKey,
}

/// One received frame's authentication facts.
#[derive(Clone, Copy, Debug)]
pub struct SignedFrame<'a> {
    /// Who the frame says sent it.
    pub sender: NodeId,
    /// The public key the frame says its sender has.
    pub sender_key: &'a [u8; 32],
    /// Whether the frame names its recipient (only introductions do not).
    pub addressed: bool,
    /// The tag's kind.
    pub kind: AuthKind,
    /// The body bytes exactly as received.
    pub body: &'a [u8],
    /// The tag.
    pub tag: &'a [u8],
}

/// Whom a frame is sealed for.
#[derive(Clone, Copy, Debug)]
pub enum Seal {
    /// An introduction to `to`, an address whose node is not known yet.
    Introduction {
        /// Where it goes.
        to: core::net::SocketAddr,
    },
    /// The node `node`, whose public key is `key`.
    To {
        /// The recipient.
        node: NodeId,
        /// Its public key.
        key: [u8; 32],
    },
}

impl Seal {
    /// Sealed for the node `identity` names.
    pub fn to(identity: &NodeIdentity) -> Self {
        Seal::To {
            node: identity.node_id(),
            key: identity.public_key().to_bytes(),
        }
    }
}

#[derive(Debug)]
enum Verification {
    Lan(Box<LanKeys>),
    Pinned(BTreeMap<NodeId, VerifyingKey>),
}

/// Seals outgoing bodies and verifies incoming ones for one node.
pub struct Authenticator {
    verification: Verification,
    identity: NodeIdentity,
    /// The key this node's pending rotation moves to: frames sealed to it verify too.
    staged: Option<NodeIdentity>,
    /// The keys of each node whose key the applied log rotated.
    rotated: BTreeMap<NodeId, NodeKeys>,
    /// Those keys (in force and retiring) as curve points, decompressed once.
    rotated_points: BTreeMap<NodeId, Vec<VerifyingKey>>,
    /// A planted bug (simulation only): keys rotated from stay accepted once retired.
    keep_retired: bool,
}

impl core::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Authenticator")
            .field("posture", &self.kind_for(true))
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `identity` in the cluster `cluster_id` under `posture`.
    pub fn new(posture: &TrustPosture, cluster_id: ClusterId, identity: &NodeIdentity) -> Self {
        let verification = match posture {
            TrustPosture::TrustedLan { token, next } => {
                Verification::Lan(Box::new(LanKeys::new(cluster_id, token, next.as_ref(), identity)))
            }
            TrustPosture::ConfiguredPeers { peers } => {
                let pinned = peers.iter().map(|key| (NodeId::from_public_key(key), *key)).collect();
                Verification::Pinned(pinned)
            }
        };
        Self {
            verification,
            identity: identity.clone(),
            staged: None,
            rotated: BTreeMap::new(),
            rotated_points: BTreeMap::new(),
            keep_retired: false,
        }
    }

    /// The identity frames are sealed as.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The identity a pending rotation moves this node to, if staged.
    pub fn staged(&self) -> Option<&NodeIdentity> {
        self.staged.as_ref()
    }

    /// Stages `staged` (same node, another key; none: unstages): frames sealed to it
    /// verify too, until [`Self::promote`].
    pub fn stage(&mut self, staged: Option<NodeIdentity>) {
        if let Verification::Lan(keys) = &mut self.verification {
            keys.stage(staged.as_ref());
        }
        self.staged = staged;
    }

    /// Moves to the staged identity (its rotation applied); false if none is staged.
    pub fn promote(&mut self) -> bool {
        let Some(staged) = self.staged.take() else {
            return false;
        };
        if let Verification::Lan(keys) = &mut self.verification {
            keys.promote();
        }
        self.identity = staged;
        true
    }

    /// The applied log's rotated keys.
    pub fn rotated(&self) -> &BTreeMap<NodeId, NodeKeys> {
        &self.rotated
    }

    /// Keeps accepting retired keys (a planted bug: set only by simulation mutations).
    pub fn keep_retired_keys(&mut self, keep: bool) {
        self.keep_retired = keep;
    }

    /// Takes the applied log's rotated keys.
    pub fn set_rotated(&mut self, rotated: &BTreeMap<NodeId, NodeKeys>) {
        self.rotated.clone_from(rotated);
        self.rotated_points = rotated
            .iter()
            .map(|(node, keys)| {
                let points = [Some(keys.key), keys.retiring]
                    .into_iter()
                    .flatten()
                    .filter_map(|key| VerifyingKey::from_bytes(&key.0).ok())
                    .collect();
                (*node, points)
            })
            .collect();
    }

    /// `key` as a curve point for `sender`: the pinned or rotated one, decompressed
    /// before; any other decompressed now and refused if of small order.
    fn point_of(&self, sender: NodeId, key: &[u8; 32]) -> Result<VerifyingKey, AuthFailure> {
        if let Verification::Pinned(pinned) = &self.verification
            && let Some(pin) = pinned.get(&sender).filter(|pin| pin.as_bytes() == key)
        {
            return Ok(*pin);
        }
        let rotated = self.rotated_points.get(&sender).into_iter().flatten();
        match rotated.into_iter().find(|point| point.as_bytes() == key) {
            Some(point) => Ok(*point),
            None => strong_point(key),
        }
    }

    /// Whether `key` speaks for `sender`: rotated to or retiring, else pinned
    /// (configured peers) or its id's digest (trusted LAN), or `pending`.
    fn speaks_for(&self, sender: NodeId, key: &[u8; 32], pending: Option<&PublicKey>) -> bool {
        if pending.is_some_and(|pending| pending.0 == *key) {
            return true;
        }
        match (self.rotated.get(&sender), &self.verification) {
            (Some(rotated), _) => {
                let retired = || rotated.history.iter().any(|record| record.old_key.0 == *key);
                rotated.accepts(key) || (self.keep_retired && retired())
            }
            (None, Verification::Pinned(pinned)) => pinned.get(&sender).is_some_and(|pin| pin.as_bytes() == key),
            (None, Verification::Lan(lan)) => lan.authenticated(sender, key) || NodeId::from_key_bytes(key) == sender,
        }
    }

    /// The tag kind this node produces and requires for a frame that names its
    /// recipient (`addressed`) or introduces its sender.
    pub fn kind_for(&self, addressed: bool) -> AuthKind {
        match (&self.verification, addressed) {
            (Verification::Lan(_), true) => AuthKind::Mac,
            (Verification::Lan(_), false) => AuthKind::GroupMac,
            (Verification::Pinned(_), _) => AuthKind::Signature,
        }
    }

    /// Whether `peer` is pinned (always true under the trusted-LAN posture).
    pub fn may_speak(&self, peer: NodeId) -> bool {
        match &self.verification {
            Verification::Lan(_) => true,
            Verification::Pinned(pinned) => pinned.contains_key(&peer),
        }
    }

    /// Replaces the admission tokens held with those of `posture` (trusted LAN, under
    /// which this authenticator was built; otherwise nothing changes). The committed
    /// cut-over stays.
    pub fn replace_tokens(&mut self, posture: &TrustPosture, cluster_id: ClusterId) {
        if let (Verification::Lan(keys), TrustPosture::TrustedLan { token, next }) = (&mut self.verification, posture) {
            let committed = keys.status().committed;
            **keys = LanKeys::new(cluster_id, token, next.as_ref(), &self.identity);
            keys.set_committed(committed);
            keys.stage(self.staged.as_ref());
        }
    }

    /// Stops trusting which admission token `peer` (and the cluster) was last heard
    /// under: `peer` stopped answering, perhaps because it refuses that token.
    pub fn doubt(&mut self, peer: NodeId) {
        if let Verification::Lan(keys) = &mut self.verification {
            keys.doubt(peer);
        }
    }

    /// Takes the admission token the log committed a cut-over to (trusted LAN only).
    pub fn set_committed_token(&mut self, committed: Option<Digest>) {
        if let Verification::Lan(keys) = &mut self.verification {
            keys.set_committed(committed);
        }
    }

    /// The admission tokens held, sealing and accepted (trusted LAN only).
    pub fn admission_status(&self) -> Option<AdmissionStatus> {
        match &self.verification {
            Verification::Lan(keys) => Some(keys.status()),
            Verification::Pinned(_) => None,
        }
    }

    /// Whether this node holds the admission token of digest `digest`.
    pub fn holds_token(&self, digest: Digest) -> bool {
        matches!(&self.verification, Verification::Lan(keys) if keys.holds(digest))
    }

    /// The tag over `body` for `seal`. Fails only when the recipient's key cannot
    /// be agreed with (a key that never authenticated a frame).
    pub fn seal(&mut self, body: &[u8], seal: Seal) -> Result<Vec<u8>, AuthFailure> {
        match (&mut self.verification, seal) {
            (Verification::Lan(keys), Seal::Introduction { to }) => {
                Ok(finish_mac(keys.sealing_to_addr(to).group.clone(), body))
            }
            (Verification::Lan(keys), Seal::To { node, key }) => {
                let sealing = keys.sealing_to(node);
                let mac = sealing.pairs.mac(node, &key)?;
                sealing.pairs.remember(node, &key, &mac);
                Ok(finish_mac(mac, body))
            }
            (Verification::Pinned(_), _) => Ok(self.identity.signing_key().sign(body).to_bytes().to_vec()),
        }
    }

    /// Checks that `frame`'s tag authenticates its body as sent by its sender, with
    /// the key it carries, to this node (or as an introduction).
    pub fn verify(&mut self, frame: &SignedFrame<'_>) -> Result<(), AuthFailure> {
        self.verify_with(frame, None)
    }

    /// [`Self::verify`], also taking `pending` as the sender's key.
    pub fn verify_with(&mut self, frame: &SignedFrame<'_>, pending: Option<&PublicKey>) -> Result<(), AuthFailure> {
        let ours = self.kind_for(frame.addressed);
        if frame.kind != ours {
            return Err(AuthFailure::PostureMismatch {
                ours,
                theirs: frame.kind,
            });
        }
        if !self.may_speak(frame.sender) {
            return Err(AuthFailure::UnknownPeer);
        }
        if !self.speaks_for(frame.sender, frame.sender_key, pending) {
            return Err(AuthFailure::KeyMismatch);
        }
        match &mut self.verification {
            Verification::Lan(keys) if frame.addressed => verify_pairwise(keys, frame),
            Verification::Lan(keys) => {
                let accepted = keys
                    .accepting()
                    .any(|index| verify_mac(keys.token(index).group.clone(), frame.body, frame.tag).is_ok());
                if !accepted {
                    return Err(AuthFailure::BadMac);
                }
                strong_point(frame.sender_key).map(|_| ())
            }
            Verification::Pinned(_) => {
                let key = self
                    .point_of(frame.sender, frame.sender_key)
                    .map_err(|_| AuthFailure::BadSignature)?;
                let signature = Signature::from_slice(frame.tag).map_err(|_| AuthFailure::BadSignature)?;
                key.verify_strict(frame.body, &signature)
                    .map_err(|_| AuthFailure::BadSignature)
            }
        }
    }

    /// Whether every frame of `frames` is authentic, checked at once by ed25519 batch
    /// verification. True only under the signature posture, for two frames or more,
    /// each of that kind, from a pinned sender carrying its pinned key, whose key is
    /// not of small order, with a well-formed signature, and when the batch equation
    /// holds. A frame that passes holds a signature [`Self::verify`] accepts, except
    /// one its key's holder crafts with a small-order or mixed-order `R` (which
    /// `verify_strict` refuses and a batch may accept): only a member can sign as
    /// itself. False names no frame: callers then verify each with [`Self::verify`].
    pub fn verify_batch(&self, frames: &[SignedFrame<'_>]) -> bool {
        if !matches!(self.verification, Verification::Pinned(_)) || frames.len() < 2 {
            return false;
        }
        let mut messages = Vec::with_capacity(frames.len());
        let mut signatures = Vec::with_capacity(frames.len());
        let mut keys = Vec::with_capacity(frames.len());
        for frame in frames {
            if !self.may_speak(frame.sender) || !self.speaks_for(frame.sender, frame.sender_key, None) {
                return false;
            }
            let point = self.point_of(frame.sender, frame.sender_key);
            let (Ok(key), Ok(signature)) = (point, Signature::from_slice(frame.tag)) else {
                return false;
            };
            if frame.kind != AuthKind::Signature {
                return false;
            }
            messages.push(frame.body);
            signatures.push(signature);
            keys.push(key);
        }
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}

/// Verifies `frame`'s MAC under the pairwise key of each accepted token (then under
/// the staged key's), caching the key that verified.
fn verify_pairwise(keys: &mut LanKeys, frame: &SignedFrame<'_>) -> Result<(), AuthFailure> {
    for index in keys.accepting() {
        let pairs = &mut keys.token(index).pairs;
        let mac = pairs.mac(frame.sender, frame.sender_key)?;
        if verify_mac(mac.clone(), frame.body, frame.tag).is_ok() {
            pairs.remember(frame.sender, frame.sender_key, &mac);
            keys.heard(frame.sender, index);
            return Ok(());
        }
    }
    for index in keys.accepting() {
        let staged = keys.token(index).pairs.staged_mac(frame.sender, frame.sender_key);
        if staged.is_some_and(|mac| verify_mac(mac, frame.body, frame.tag).is_ok()) {
            keys.heard(frame.sender, index);
            return Ok(());
        }
    }
    Err(AuthFailure::BadMac)
}

fn finish_mac(mut mac: Hmac<Sha256>, body: &[u8]) -> Vec<u8> {
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn verify_mac(mut mac: Hmac<Sha256>, body: &[u8], tag: &[u8]) -> Result<(), AuthFailure> {
    mac.update(body);
    mac.verify_slice(tag).map_err(|_| AuthFailure::BadMac)
}

/// `key` as a curve point that is not of small order.
pub(super) fn strong_point(key: &[u8; 32]) -> Result<VerifyingKey, AuthFailure> {
    let key = VerifyingKey::from_bytes(key).map_err(|_| AuthFailure::WeakKey)?;
    if key.is_weak() {
        return Err(AuthFailure::WeakKey);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::NodeEpoch;

    fn lan(identity: &NodeIdentity) -> Authenticator {
        let token = AdmissionToken::new(b"the unit test's admission token".to_vec()).unwrap();
        Authenticator::new(
            &TrustPosture::TrustedLan { token, next: None },
            ClusterId([3; 16]),
            identity,
        )
    }

    fn cached(authenticator: &Authenticator) -> usize {
        match &authenticator.verification {
            Verification::Lan(keys) => keys.cached(),
            Verification::Pinned(_) => 0,
        }
    }

    /// Keys carried by frames that fail their MAC derive nothing that stays: a flood
    /// of made-up senders cannot displace the keys of real ones.
    #[test]
    fn only_keys_that_authenticated_a_frame_are_cached() {
        let receiver = NodeIdentity::new([1; 32], NodeEpoch(1));
        let mut verifier = lan(&receiver);
        let body = b"a body";
        for seed in 10..20u8 {
            let forger = NodeIdentity::new([seed; 32], NodeEpoch(1));
            let key = forger.public_key().to_bytes();
            let frame = SignedFrame {
                sender: forger.node_id(),
                sender_key: &key,
                addressed: true,
                kind: AuthKind::Mac,
                body,
                tag: &[0; 32],
            };
            assert_eq!(verifier.verify(&frame), Err(AuthFailure::BadMac));
        }
        assert_eq!(cached(&verifier), 0);
        let sender = NodeIdentity::new([2; 32], NodeEpoch(1));
        let tag = lan(&sender).seal(body, Seal::to(&receiver)).unwrap();
        let key = sender.public_key().to_bytes();
        let frame = SignedFrame {
            sender: sender.node_id(),
            sender_key: &key,
            addressed: true,
            kind: AuthKind::Mac,
            body,
            tag: &tag,
        };
        assert_eq!(verifier.verify(&frame), Ok(()));
        assert_eq!(cached(&verifier), 1);
    }
}
