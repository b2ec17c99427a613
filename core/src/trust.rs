//! The trust bundle: the anchors every node of a cluster configures alike (posture,
//! the nodes its pinned keys name with its own, the binaries admission allows). Nodes
//! are named by id, which a key rotation keeps, so a rotation changes no bundle. Its digest
//! travels in hellos; a candidate whose bundle differs from the leader's is not
//! admitted (members are reported, not refused: a rolling change of configuration
//! passes through mixed bundles). Committed anchors (the authorization policy, the
//! admission token cut over to) are ordered by the log and are not part of it.

use std::collections::BTreeSet;

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::attestation::BinaryDigest;
use crate::digest::{Digest, DigestKind};
use crate::identity::NodeId;
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
/// Invariant: nodes and binaries are sorted and distinct, so equal configurations give
/// equal digests whatever order they were written in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustBundle {
    /// The posture.
    pub posture: PostureKind,
    /// The nodes whose keys are pinned, this node included (configured peers; empty
    /// otherwise).
    pub pinned_nodes: Vec<NodeId>,
    /// The binaries a node must run to be admitted (empty: any).
    pub allowed_binaries: Vec<BinaryDigest>,
}

impl TrustBundle {
    /// The bundle of node `own` under `posture`, admitting `allowed` binaries.
    pub fn of(posture: &TrustPosture, own: NodeId, allowed: &BTreeSet<BinaryDigest>) -> Self {
        let (posture, pinned_nodes) = match posture {
            TrustPosture::TrustedLan { .. } => (PostureKind::TrustedLan, BTreeSet::new()),
            TrustPosture::ConfiguredPeers { peers } => {
                let pinned = peers.iter().map(NodeId::from_public_key).chain([own]).collect();
                (PostureKind::ConfiguredPeers, pinned)
            }
        };
        Self {
            posture,
            pinned_nodes: pinned_nodes.into_iter().collect(),
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

    fn id(seed: u8) -> NodeId {
        NodeIdentity::new([seed; 32], NodeEpoch(1)).node_id()
    }

    /// Each node pins the others; with itself added, every node of a consistent
    /// cluster has the same bundle, in whatever order its file lists the keys.
    #[test]
    fn nodes_pinning_each_other_share_one_digest_and_a_changed_anchor_changes_it() {
        let of = |own: u8, others: [u8; 2], allowed: &BTreeSet<BinaryDigest>| {
            let peers = others.iter().map(|seed| key(*seed)).collect();
            TrustBundle::of(&TrustPosture::ConfiguredPeers { peers }, id(own), allowed).digest()
        };
        let none = BTreeSet::new();
        assert_eq!(of(1, [2, 3], &none), of(2, [3, 1], &none));
        assert_ne!(of(1, [2, 3], &none), of(1, [2, 4], &none));
        let allowed = BTreeSet::from([BinaryDigest([7; 32])]);
        assert_ne!(of(1, [2, 3], &none), of(1, [2, 3], &allowed));
    }
}
