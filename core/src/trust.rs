//! The trust bundle: the anchors every node of a cluster configures alike (posture,
//! the pinned keys with the node's own, the binaries admission allows). Its digest
//! travels in hellos; a candidate whose bundle differs from the leader's is not
//! admitted (members are reported, not refused: a rolling change of configuration
//! passes through mixed bundles). Committed anchors (the authorization policy, the
//! admission token cut over to) are ordered by the log and are not part of it.

use std::collections::BTreeSet;

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::attestation::BinaryDigest;
use crate::digest::{Digest, DigestKind};
use crate::wire::TrustPosture;

pub use crate::identity::PublicKey;

/// Which posture a bundle is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PostureKind {
    /// A shared admission token.
    TrustedLan,
    /// Pinned public keys.
    ConfiguredPeers,
}

impl fmt::Display for PostureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PostureKind::TrustedLan => "trusted-lan",
            PostureKind::ConfiguredPeers => "configured-peers",
        })
    }
}

/// The anchors a node runs under that every node should configure alike.
///
/// Invariant: keys and binaries are sorted and distinct, so equal configurations give
/// equal digests whatever order they were written in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustBundle {
    /// The posture.
    pub posture: PostureKind,
    /// The pinned keys, the node's own included (configured peers; empty otherwise).
    pub pinned_keys: Vec<PublicKey>,
    /// The binaries a node must run to be admitted (empty: any).
    pub allowed_binaries: Vec<BinaryDigest>,
}

impl TrustBundle {
    /// The bundle of a node whose key is `own_key`, under `posture`, admitting
    /// `allowed` binaries.
    pub fn of(posture: &TrustPosture, own_key: [u8; 32], allowed: &BTreeSet<BinaryDigest>) -> Self {
        match posture {
            TrustPosture::TrustedLan { .. } => Self::of_pins(PostureKind::TrustedLan, [], allowed),
            TrustPosture::ConfiguredPeers { peers } => {
                let pins = peers.iter().map(|key| key.to_bytes()).chain([own_key]);
                Self::of_pins(PostureKind::ConfiguredPeers, pins, allowed)
            }
        }
    }

    /// The bundle of `posture` pinning `pins` (the node's own key among them),
    /// admitting `allowed` binaries.
    pub fn of_pins(
        posture: PostureKind,
        pins: impl IntoIterator<Item = [u8; 32]>,
        allowed: &BTreeSet<BinaryDigest>,
    ) -> Self {
        let pinned_keys: BTreeSet<PublicKey> = pins.into_iter().map(PublicKey).collect();
        Self {
            posture,
            pinned_keys: pinned_keys.into_iter().collect(),
            allowed_binaries: allowed.iter().copied().collect(),
        }
    }

    /// SHA-256 (trust-bundle domain) of the postcard encoding.
    pub fn digest(&self) -> Digest {
        let bytes = postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::TrustBundle, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{NodeEpoch, NodeIdentity};

    fn key(seed: u8) -> ed25519_dalek::VerifyingKey {
        NodeIdentity::new([seed; 32], NodeEpoch(1)).public_key()
    }

    /// Each node pins the others; with its own key added, every node of a consistent
    /// cluster has the same bundle, in whatever order its file lists the keys.
    #[test]
    fn nodes_pinning_each_other_share_one_digest_and_a_changed_anchor_changes_it() {
        let of = |own: u8, others: [u8; 2], allowed: &BTreeSet<BinaryDigest>| {
            let peers = others.iter().map(|seed| key(*seed)).collect();
            TrustBundle::of(&TrustPosture::ConfiguredPeers { peers }, key(own).to_bytes(), allowed).digest()
        };
        let none = BTreeSet::new();
        assert_eq!(of(1, [2, 3], &none), of(2, [3, 1], &none));
        assert_ne!(of(1, [2, 3], &none), of(1, [2, 4], &none));
        let allowed = BTreeSet::from([BinaryDigest([7; 32])]);
        assert_ne!(of(1, [2, 3], &none), of(1, [2, 3], &allowed));
    }
}
