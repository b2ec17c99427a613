//! Node key rotation: a node keeps its id (the digest of its first key) and moves to a
//! new ed25519 key through a record signed by the key it holds now and by the new one
//! (proof of possession), committed to the log. From the entry on, every node binds
//! the id to the new key ([`super::ClusterState::node_keys`]) and refuses frames,
//! votes and evidence under the old one.
//!
//! Invariants: a rotation applies only from the key in force for the node; both
//! signatures cover the cluster's genesis, the node and both keys, so a record is
//! good for one step of one node in one cluster; no key is bound to two nodes.

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{ApplyRefusal, ClusterState};
use crate::digest::{Digest, DigestKind};
use crate::identity::{NodeId, NodeIdentity, PublicKey};

/// The record that moves `node` from `old_key` to `new_key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    /// The node whose key changes.
    pub node: NodeId,
    /// The key it holds now.
    pub old_key: PublicKey,
    /// The key it moves to.
    pub new_key: PublicKey,
    /// Signature by `old_key` over [`rotation_digest`].
    #[serde(with = "serde_bytes")]
    pub old_signature: Vec<u8>,
    /// Signature by `new_key` over [`rotation_digest`].
    #[serde(with = "serde_bytes")]
    pub new_signature: Vec<u8>,
}

/// Which of a rotation's two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationKey {
    /// The key held now.
    Old,
    /// The key moved to.
    New,
}

/// Why a key rotation does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum RotationProblem {
    /// The record starts from another key than the one in force for the node.
    #[error("the record rotates from {given}, but the key in force is {in_force}")]
    NotKeyInForce {
        /// The key the record rotates from.
        given: PublicKey,
        /// The key in force.
        in_force: PublicKey,
    },
    /// The record rotates from the node's first key, which is not the key its id is
    /// the digest of.
    #[error("the record rotates from {given}, which is not the key the node id was made from")]
    NotFirstKey {
        /// The key the record rotates from.
        given: PublicKey,
    },
    /// Old and new key are the same.
    #[error("the new key is the key in force")]
    SameKey,
    /// A key is not a usable curve point.
    #[error("the {which:?} key is not a usable ed25519 key")]
    WeakKey {
        /// Which key.
        which: RotationKey,
    },
    /// A signature does not verify under its key.
    #[error("the {which:?} key's signature does not verify")]
    BadSignature {
        /// Whose signature.
        which: RotationKey,
    },
    /// The new key already speaks for another node.
    #[error("the new key already speaks for {node}")]
    KeyInUse {
        /// That node.
        node: NodeId,
    },
    /// The state has no genesis to sign over (a node that has not received it).
    #[error("no genesis to check the signatures against")]
    NoGenesis,
}

/// The [`super::ClusterState::set_by`] key of `node`'s key in force.
pub fn node_key_fact(node: NodeId) -> String {
    format!("node-key/{node}")
}

/// What both keys sign: the rotation of `node` from `old_key` to `new_key` in the
/// cluster of genesis `genesis`.
pub fn rotation_digest(genesis: Digest, node: NodeId, old_key: PublicKey, new_key: PublicKey) -> Digest {
    Digest::of_parts(DigestKind::KeyRotation, &[&genesis.0, &node.0, &old_key.0, &new_key.0])
}

impl KeyRotation {
    /// The record moving `current`'s node to `next`'s key, in the cluster of
    /// `genesis`, signed by both.
    pub fn sign(genesis: Digest, current: &NodeIdentity, next: &NodeIdentity) -> Self {
        let node = current.node_id();
        let old_key = PublicKey(current.public_key().to_bytes());
        let new_key = PublicKey(next.public_key().to_bytes());
        let digest = rotation_digest(genesis, node, old_key, new_key);
        Self {
            node,
            old_key,
            new_key,
            old_signature: current.signing_key().sign(&digest.0).to_bytes().to_vec(),
            new_signature: next.signing_key().sign(&digest.0).to_bytes().to_vec(),
        }
    }

    /// Checks the record against `state`: it starts from the node's key in force,
    /// both signatures verify, and the new key speaks for no other node.
    pub fn check(&self, state: &ClusterState) -> Result<(), ApplyRefusal> {
        let refused = |problem| ApplyRefusal::KeyRotation {
            node: self.node,
            problem,
        };
        match state.node_keys.get(&self.node) {
            Some(in_force) if *in_force != self.old_key => {
                return Err(refused(RotationProblem::NotKeyInForce {
                    given: self.old_key,
                    in_force: *in_force,
                }));
            }
            None if NodeId::from_key_bytes(&self.old_key.0) != self.node => {
                return Err(refused(RotationProblem::NotFirstKey { given: self.old_key }));
            }
            _ => {}
        }
        if self.old_key == self.new_key {
            return Err(refused(RotationProblem::SameKey));
        }
        let genesis = state.genesis.ok_or(refused(RotationProblem::NoGenesis))?;
        let digest = rotation_digest(genesis, self.node, self.old_key, self.new_key);
        verify(&self.old_key, &self.old_signature, digest, RotationKey::Old).map_err(refused)?;
        verify(&self.new_key, &self.new_signature, digest, RotationKey::New).map_err(refused)?;
        if let Some(node) = state.speaker_of(&self.new_key) {
            return Err(refused(RotationProblem::KeyInUse { node }));
        }
        Ok(())
    }
}

fn verify(key: &PublicKey, signature: &[u8], digest: Digest, which: RotationKey) -> Result<(), RotationProblem> {
    let key = VerifyingKey::from_bytes(&key.0).map_err(|_| RotationProblem::WeakKey { which })?;
    if key.is_weak() {
        return Err(RotationProblem::WeakKey { which });
    }
    let signature = Signature::from_slice(signature).map_err(|_| RotationProblem::BadSignature { which })?;
    key.verify_strict(&digest.0, &signature)
        .map_err(|_| RotationProblem::BadSignature { which })
}

impl ClusterState {
    /// The node `key` speaks for here: one whose key was rotated to it, or a node
    /// known here (member or removed) that was never rotated and whose id is its digest.
    pub fn speaker_of(&self, key: &PublicKey) -> Option<NodeId> {
        if let Some((node, _)) = self.node_keys.iter().find(|(_, bound)| *bound == key) {
            return Some(*node);
        }
        let digested = NodeId::from_key_bytes(&key.0);
        let known = self.members.contains_key(&digested) || self.removed.contains(&digested);
        (known && !self.node_keys.contains_key(&digested)).then_some(digested)
    }

    /// The key `node` speaks with, when it was rotated (otherwise the key its id is
    /// the digest of).
    pub fn rotated_key(&self, node: NodeId) -> Option<&PublicKey> {
        self.node_keys.get(&node)
    }
}
