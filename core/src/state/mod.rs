//! The replicated cluster state: what every node agrees on, rebuilt by applying the
//! committed log in order.
//!
//! Invariants: entries apply strictly in index order, one at a time (a gap or a
//! repeat is refused); applying is a pure function of the state and the entry, so the
//! same history gives the same [`ClusterState::digest`] on every node and every run.

mod apply;
mod authorization;
mod check;
mod command;
mod key_rotation;
mod origin;
mod scope;
mod serving;

use std::collections::{BTreeMap, BTreeSet};

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use authorization::{
    AUTHORIZATION_POLICY_NAME, AUTHORIZED_CREDENTIALS_MAX, AuthorizationPolicy, AuthorizationProblem,
};
pub use check::{Seat, Seats, change_seats, check_command};
pub use command::{
    ApplyRefusal, ClusterCommand, ClusterEvent, EntryPayload, LinkClass, MemberStatus, Proposal, ProposalId, Residency,
};
pub use key_rotation::{
    KeyRotation, NodeKeys, RotationKey, RotationProblem, chain_to, check_retirement, node_key_fact, retired_key_fact,
    rotation_digest,
};
pub use origin::{LOCAL_CREDENTIAL, Origin, OriginKind, SetBy};
pub use scope::Scope;
pub use serving::{QueueDiscipline, SERVING_POLICY_FACT, SERVING_POLICY_NAME, ServingPolicy, ServingPolicyProblem};

use crate::backend::ReadinessByBackend;
use crate::digest::{Digest, DigestKind};
use crate::identity::{NodeId, NodeRole};

/// Version of the [`ClusterState`] encoding (snapshot payloads). A follower that
/// reports another version is brought over by a full resync.
pub const STATE_SCHEMA_VERSION: u16 = 9;

/// Longest policy name accepted, in bytes.
pub const POLICY_NAME_LEN_MAX: usize = 64;

/// A member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its role.
    pub role: NodeRole,
    /// Its status.
    pub status: MemberStatus,
    /// Whether it votes (coordinator-capable and promoted). Non-voters are learners.
    pub voter: bool,
    /// Where its peer stream listens, if known.
    pub stream_addr: Option<SocketAddr>,
}

/// A policy document and its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// SHA-256 (policy domain) of the document.
    pub digest: Digest,
    /// The bytes.
    #[serde(with = "serde_bytes")]
    pub document: Vec<u8>,
}

/// The replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Digest of the cluster's first voters ([`ClusterState::genesis_digest`]); none
    /// on a node that has not yet received its cluster's state.
    pub genesis: Option<Digest>,
    /// Index of the last entry applied (0: none).
    pub applied_index: u64,
    /// Term of that entry.
    pub applied_term: u64,
    /// Members by id.
    pub members: BTreeMap<NodeId, Member>,
    /// Declared links, keyed by the smaller id, then the larger.
    pub links: BTreeMap<NodeId, BTreeMap<NodeId, LinkClass>>,
    /// Artifact residency by node, then artifact digest.
    pub residency: BTreeMap<NodeId, BTreeMap<Digest, Residency>>,
    /// Policy documents by name.
    pub policies: BTreeMap<String, PolicyDocument>,
    /// Nodes removed and not admitted again since: never re-admitted automatically.
    pub removed: BTreeSet<NodeId>,
    /// Backend readiness each member declared, as last committed.
    pub backends: BTreeMap<NodeId, ReadinessByBackend>,
    /// Replica sets by the artifact (model) they serve.
    pub replica_sets: BTreeMap<Digest, ReplicaSet>,
    /// Who set each fact, and at which index, by [`ClusterCommand::fact_key`]; the
    /// facts of a removed member go with it.
    pub set_by: BTreeMap<String, SetBy>,
    /// The admission token (by its public digest) the cluster cut over to: under the
    /// trusted-LAN posture, the only one accepted once applied. None: no cut-over yet.
    pub admission_token: Option<Digest>,
    /// The keys of each node whose key was rotated (a node absent here speaks with the
    /// key its id is the digest of). Kept after a node is removed: its id stays bound
    /// to its last key.
    pub node_keys: BTreeMap<NodeId, NodeKeys>,
    /// The serving policy committed, if any (none: the defaults apply).
    pub serving_policy: Option<ServingPolicy>,
}

/// The nodes that serve one model as replicas, and how many must be warm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSet {
    /// Its members.
    pub replicas: BTreeSet<NodeId>,
    /// Fewest warm replicas it serves with.
    pub warm_min: u32,
}

/// Most replicas in one replica set.
pub const REPLICAS_MAX: usize = 256;

/// An entry offered out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("apply out of order: expected index {expected}, got {got}")]
pub struct ApplyOrderError {
    /// The next index the state accepts.
    pub expected: u64,
    /// The index offered.
    pub got: u64,
}

impl ClusterState {
    /// The state before any entry: the genesis voters, ready.
    pub fn genesis(voters: &[(NodeId, NodeRole)]) -> Self {
        let voters = genesis_voters(voters);
        let members = voters
            .iter()
            .map(|(id, role)| {
                let member = Member {
                    role: *role,
                    status: MemberStatus::Ready,
                    voter: true,
                    stream_addr: None,
                };
                (*id, member)
            })
            .collect();
        Self {
            genesis: Some(Self::genesis_digest(&voters)),
            members,
            ..Self::default()
        }
    }

    /// Digest (genesis domain) of a cluster's first voters, in id order.
    pub fn genesis_digest(voters: &[(NodeId, NodeRole)]) -> Digest {
        let voters = genesis_voters(voters);
        let bytes = postcard::to_allocvec(&voters).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Genesis, &bytes)
    }

    /// Ids of voting members.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.members
            .iter()
            .filter(|(_, member)| member.voter)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether `node` is a member.
    pub fn is_member(&self, node: NodeId) -> bool {
        self.members.contains_key(&node)
    }

    /// SHA-256 (topology domain) over members, links and backend readiness.
    pub fn topology_digest(&self) -> Digest {
        let parts = (&self.members, &self.links, &self.backends);
        let bytes = postcard::to_allocvec(&parts).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Topology, &bytes)
    }

    /// Whether an entry after `index`, proposed by anyone but `node` itself, set
    /// `node`'s residency of `artifact` (an operator asked again since).
    pub fn residency_set_by_other_after(&self, node: NodeId, artifact: Digest, index: u64) -> bool {
        let key = ClusterCommand::SetArtifactResidency {
            node,
            artifact,
            residency: Residency::Absent,
        }
        .fact_key();
        self.set_by
            .get(&key)
            .is_some_and(|set_by| set_by.index > index && set_by.origin != Origin::Member { node })
    }

    /// SHA-256 (residency domain) over artifact residency.
    pub fn residency_digest(&self) -> Digest {
        let bytes = postcard::to_allocvec(&self.residency).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Residency, &bytes)
    }

    /// SHA-256 (state domain) over the postcard encoding.
    pub fn digest(&self) -> Digest {
        Digest::of_bytes(DigestKind::ClusterState, &self.to_bytes())
    }

    /// [`ClusterState::digest`], encoding into `scratch` (cleared first) instead of a
    /// buffer grown from empty.
    pub fn digest_in(&self, scratch: &mut Vec<u8>) -> Digest {
        scratch.clear();
        let encoded =
            postcard::to_extend(self, std::mem::take(scratch)).expect("postcard encoding into a Vec is infallible");
        let digest = Digest::of_bytes(DigestKind::ClusterState, &encoded);
        *scratch = encoded;
        digest
    }

    /// The postcard encoding (the snapshot payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible")
    }

    /// Decodes a snapshot payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// Genesis voters in id order, each once (the first role listed wins), so every node
/// that lists the same set derives the same genesis.
fn genesis_voters(voters: &[(NodeId, NodeRole)]) -> Vec<(NodeId, NodeRole)> {
    let mut sorted: Vec<(NodeId, NodeRole)> = Vec::with_capacity(voters.len());
    for voter in voters {
        if !sorted.iter().any(|(id, _)| *id == voter.0) {
            sorted.push(*voter);
        }
    }
    sorted.sort_by_key(|(id, _)| *id);
    sorted
}
