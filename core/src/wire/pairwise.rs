//! Pairwise MAC keys of the trusted-LAN posture: the key two nodes share is derived
//! from the X25519 agreement of their static ed25519 keys (as Montgomery points), the
//! cluster id, the admission token and both ids. Holding the token is not enough to
//! speak as a node: that also takes the node's secret key.
//!
//! Invariants: a key is cached only for the public key that derived it (a frame
//! carrying another key for the same id derives again), and only once it
//! authenticated a frame; the cache holds at most [`PAIR_KEYS_MAX`] keys. Whether a
//! key speaks for its id is the caller's check, made before a key is derived. A node
//! whose key rotation is pending also verifies under its staged key (derived each
//! time, never cached), so peers that applied the rotation first are heard.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::AuthFailure;
use super::auth::strong_point;
use crate::digest::{Digest, DigestKind};
use crate::identity::{AdmissionToken, ClusterId, NodeId, NodeIdentity};

/// Most pairwise keys cached; beyond, the lowest id is dropped (and derived again
/// when needed).
pub const PAIR_KEYS_MAX: usize = 4096;

#[derive(Debug)]
struct PairKey {
    public_key: [u8; 32],
    mac: Hmac<Sha256>,
}

/// The pairwise keys of one node.
pub(super) struct PairKeys {
    /// Cluster id and token, digested: what every pairwise key also depends on.
    cluster_secret: Digest,
    node_id: NodeId,
    /// The secret scalar of this node's ed25519 key, for X25519.
    scalar_bytes: [u8; 32],
    /// The scalar of the key this node's pending rotation moves to, if any.
    staged_scalar_bytes: Option<[u8; 32]>,
    keys: BTreeMap<NodeId, PairKey>,
}

impl core::fmt::Debug for PairKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PairKeys")
            .field("cached", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl PairKeys {
    pub(super) fn new(cluster_id: ClusterId, token: &AdmissionToken, identity: &NodeIdentity) -> Self {
        Self {
            cluster_secret: Digest::of_parts(DigestKind::AdmissionMacKey, &[&cluster_id.0, token.expose_secret()]),
            node_id: identity.node_id(),
            scalar_bytes: identity.signing_key().to_scalar_bytes(),
            staged_scalar_bytes: None,
            keys: BTreeMap::new(),
        }
    }

    /// The MAC this node shares with `peer`, whose public key is `public_key`: cached,
    /// or derived (and not cached: see [`Self::remember`]).
    pub(super) fn mac(&self, peer: NodeId, public_key: &[u8; 32]) -> Result<Hmac<Sha256>, AuthFailure> {
        match self.keys.get(&peer) {
            Some(pair) if &pair.public_key == public_key => Ok(pair.mac.clone()),
            _ => self.derive(peer, public_key, &self.scalar_bytes),
        }
    }

    /// The MAC this node would share with `peer` under its staged key, if one is staged.
    pub(super) fn staged_mac(&self, peer: NodeId, public_key: &[u8; 32]) -> Option<Hmac<Sha256>> {
        let staged = self.staged_scalar_bytes.as_ref()?;
        self.derive(peer, public_key, staged).ok()
    }

    /// Whether the key cached for `peer` was derived from `public_key`.
    pub(super) fn cached_for(&self, peer: NodeId, public_key: &[u8; 32]) -> bool {
        self.keys.get(&peer).is_some_and(|pair| &pair.public_key == public_key)
    }

    /// Stages the key `staged` (none: unstages).
    pub(super) fn stage(&mut self, staged: Option<&NodeIdentity>) {
        self.staged_scalar_bytes = staged.map(|identity| identity.signing_key().to_scalar_bytes());
    }

    /// Moves to the staged key: every key derived under the old one is dropped.
    pub(super) fn promote(&mut self) {
        if let Some(staged) = self.staged_scalar_bytes.take() {
            self.scalar_bytes = staged;
            self.keys.clear();
        }
    }

    /// Caches `mac` for `peer` once it authenticated a frame (or is about to seal one
    /// for a peer that did): keys a forged frame carries never displace real ones.
    pub(super) fn remember(&mut self, peer: NodeId, public_key: &[u8; 32], mac: &Hmac<Sha256>) {
        if self.keys.get(&peer).is_some_and(|pair| &pair.public_key == public_key) {
            return;
        }
        if self.keys.len() >= PAIR_KEYS_MAX && !self.keys.contains_key(&peer) {
            self.keys.pop_first();
        }
        let pair = PairKey {
            public_key: *public_key,
            mac: mac.clone(),
        };
        self.keys.insert(peer, pair);
    }

    /// Keys cached now.
    #[cfg(test)]
    pub(super) fn cached(&self) -> usize {
        self.keys.len()
    }

    fn derive(&self, peer: NodeId, public_key: &[u8; 32], scalar: &[u8; 32]) -> Result<Hmac<Sha256>, AuthFailure> {
        let key = strong_point(public_key)?;
        let shared = key.to_montgomery().mul_clamped(*scalar);
        if shared.0 == [0; 32] {
            return Err(AuthFailure::WeakKey);
        }
        let (low, high) = if self.node_id <= peer {
            (self.node_id, peer)
        } else {
            (peer, self.node_id)
        };
        let parts: [&[u8]; 4] = [&self.cluster_secret.0, &shared.0, &low.0, &high.0];
        let key = Digest::of_parts(DigestKind::PairwiseMacKey, &parts);
        Ok(Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC accepts any key length"))
    }
}
