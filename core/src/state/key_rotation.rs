//! Node key rotation: a node keeps its id (the digest of its first key) and moves to a
//! new ed25519 key through a record signed by the key it holds now and by the new one
//! (proof of possession), committed to the log. From the entry on, every node binds
//! the id to the new key ([`super::ClusterState::node_keys`]) and still accepts the old
//! one (the node may not have applied its rotation yet, or may be away) until the log
//! retires it: the leader proposes that once it has heard the node under its new key.
//! From then on frames, votes and evidence under the old key are refused.
//!
//! Invariants: a rotation applies only from the key in force for the node, and only
//! once the key before it is retired; both signatures cover the cluster's genesis, the
//! node and both keys, so a record is good for one step of one node in one cluster;
//! no key is bound to two nodes.

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

/// A rotated node's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeKeys {
    /// The key in force: the node seals and signs with it once it applied its rotation.
    pub key: PublicKey,
    /// The key it rotated from, still accepted until the log retires it.
    pub retiring: Option<PublicKey>,
    /// Its latest rotations, oldest first, at most [`crate::limits::KEY_HISTORY_MAX`]: it shows them
    /// in hellos, so a node whose log is behind (or empty) can follow its key.
    pub history: Vec<KeyRotation>,
    /// How many times it rotated (more than `history` holds once the oldest went).
    pub rotations: u64,
}

impl NodeKeys {
    /// Whether `key` speaks for the node: the key in force or the one retiring.
    pub fn accepts(&self, key: &[u8; 32]) -> bool {
        self.key.0 == *key || self.retiring.is_some_and(|retiring| retiring.0 == *key)
    }
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
    /// The key the last rotation moved from is not retired yet.
    #[error("the key {retiring} is still retiring; rotate again once it is retired")]
    StillRetiring {
        /// That key.
        retiring: PublicKey,
    },
    /// A retirement names another key than the one retiring (none, or another).
    #[error("{key} is not the key retiring")]
    NotRetiring {
        /// The key named.
        key: PublicKey,
    },
    /// The node already staged another key (its record may be on its way to the log):
    /// a second would leave the node unable to follow the first.
    #[error("another key is staged: {staged}")]
    AnotherKeyStaged {
        /// The key staged.
        staged: PublicKey,
    },
}

/// The [`super::ClusterState::set_by`] key of `node`'s key in force.
pub fn node_key_fact(node: NodeId) -> String {
    format!("node-key/{node}")
}

/// The [`super::ClusterState::set_by`] key of the retirement of `node`'s last key.
pub fn retired_key_fact(node: NodeId) -> String {
    format!("retired-node-key/{node}")
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

    /// Checks the record against `state`: it starts from the node's key in force (the
    /// one before retired), both signatures verify, and the new key speaks for no
    /// other node.
    pub fn check(&self, state: &ClusterState) -> Result<(), ApplyRefusal> {
        let refused = |problem| ApplyRefusal::KeyRotation {
            node: self.node,
            problem,
        };
        match state.node_keys.get(&self.node) {
            Some(NodeKeys {
                retiring: Some(retiring),
                ..
            }) => return Err(refused(RotationProblem::StillRetiring { retiring: *retiring })),
            Some(keys) if keys.key != self.old_key => {
                return Err(refused(RotationProblem::NotKeyInForce {
                    given: self.old_key,
                    in_force: keys.key,
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
        self.verify_signatures(genesis).map_err(refused)?;
        if let Some(node) = state.speaker_of(&self.new_key) {
            return Err(refused(RotationProblem::KeyInUse { node }));
        }
        Ok(())
    }
}

impl KeyRotation {
    /// Whether both signatures verify over this record in the cluster of `genesis`.
    pub fn verify_signatures(&self, genesis: Digest) -> Result<(), RotationProblem> {
        let digest = rotation_digest(genesis, self.node, self.old_key, self.new_key);
        verify(&self.old_key, &self.old_signature, digest, RotationKey::Old)?;
        verify(&self.new_key, &self.new_signature, digest, RotationKey::New)
    }
}

/// Where `history` (a node's latest rotations, oldest first) leads `node` from the
/// newest key `accepted_start` takes to `key`: the start key, when the records after it are a
/// chain (each from the key the one before moved to) of signed records of `node` in
/// the cluster of `genesis`, ending at `key`.
pub fn chain_to(
    node: NodeId,
    key: PublicKey,
    history: &[KeyRotation],
    accepted_start: impl Fn(&PublicKey) -> bool,
    genesis: Digest,
) -> Option<PublicKey> {
    let start = history
        .iter()
        .rposition(|record| record.node == node && accepted_start(&record.old_key))?;
    let chain = &history[start..];
    let linked = chain.windows(2).all(|pair| pair[0].new_key == pair[1].old_key);
    let ends = chain.last().is_some_and(|last| last.new_key == key);
    // Newest first: a forged chain fails on the record that names `key`.
    let signed = || {
        chain
            .iter()
            .rev()
            .all(|record| record.node == node && record.verify_signatures(genesis).is_ok())
    };
    (linked && ends && signed()).then_some(chain[0].old_key)
}

/// Checks that `key` is the key `node` is retiring in `state`.
pub fn check_retirement(state: &ClusterState, node: NodeId, key: PublicKey) -> Result<(), ApplyRefusal> {
    match state.node_keys.get(&node) {
        Some(keys) if keys.retiring == Some(key) => Ok(()),
        _ => Err(ApplyRefusal::KeyRotation {
            node,
            problem: RotationProblem::NotRetiring { key },
        }),
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
    /// The node `key` speaks or spoke for here: one whose key is or was it (in force,
    /// retiring, or rotated from as far as its history goes), or a node known here
    /// (member or removed) whose id is its digest.
    pub fn speaker_of(&self, key: &PublicKey) -> Option<NodeId> {
        let spoke = |keys: &NodeKeys| {
            keys.key == *key || keys.retiring == Some(*key) || keys.history.iter().any(|record| record.old_key == *key)
        };
        let bound = self.node_keys.iter().find(|(_, keys)| spoke(keys));
        if let Some((node, _)) = bound {
            return Some(*node);
        }
        let digested = NodeId::from_key_bytes(&key.0);
        let known = self.members.contains_key(&digested) || self.removed.contains(&digested);
        known.then_some(digested)
    }

    /// The key in force of `node`, when it was rotated (otherwise the key its id is
    /// the digest of).
    pub fn rotated_key(&self, node: NodeId) -> Option<&PublicKey> {
        self.node_keys.get(&node).map(|keys| &keys.key)
    }

    /// Whether `key` speaks for `node`: its keys in force and retiring, or (never
    /// rotated) the key its id is the digest of.
    pub fn key_speaks_for(&self, node: NodeId, key: &[u8; 32]) -> bool {
        match self.node_keys.get(&node) {
            Some(keys) => keys.accepts(key),
            None => NodeId::from_key_bytes(key) == node,
        }
    }
}
