//! Intents proposed to the cluster, and the facts they become once committed.

use core::net::SocketAddr;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Scope;
use crate::backend::{Backend, BackendReadiness};
use crate::digest::Digest;
use crate::identity::{NodeEpoch, NodeId, NodeRole};

/// Identifies one proposal: the proposing node, its epoch, and a sequence number
/// within that epoch. Unique across restarts because the epoch advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProposalId {
    /// Proposing node.
    pub node: NodeId,
    /// Its epoch when proposing.
    pub epoch: NodeEpoch,
    /// Sequence within the epoch.
    pub seq: u64,
}

/// Where a member is in its life in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberStatus {
    /// Admitted, catching up.
    Joining,
    /// Serving.
    Ready,
    /// Finishing work, taking none.
    Draining,
    /// Declared down by an operator.
    Offline,
}

/// How two nodes are connected, as an operator declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkClass {
    /// Same process or host loopback.
    Loopback,
    /// Same host, different processes.
    SameHost,
    /// Local network.
    Lan,
    /// Wide-area network.
    Wan,
    /// RDMA-capable fabric.
    Rdma,
}

/// Where an artifact (model weights, by digest) is on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Residency {
    /// Not present.
    Absent,
    /// Being copied: `bytes_done` of `bytes_total` (both 0 while only asked for).
    Staging {
        /// Bytes copied.
        bytes_done: u64,
        /// The artifact's bytes (0 until its holder told them).
        bytes_total: u64,
    },
    /// Present and verified.
    Resident,
    /// Removed to make room.
    Evicted,
    /// Copy or verification failed.
    Failed,
}

impl Residency {
    /// A copy only asked for.
    pub const STAGING_ASKED: Residency = Residency::Staging {
        bytes_done: 0,
        bytes_total: 0,
    };

    /// A copy's progress in per mille (0 while its total is unknown).
    pub fn progress_per_mille(&self) -> Option<u16> {
        let Residency::Staging {
            bytes_done,
            bytes_total,
        } = *self
        else {
            return None;
        };
        let per_mille = u128::from(bytes_done.min(bytes_total)) * 1000 / u128::from(bytes_total.max(1));
        Some(u16::try_from(per_mille).unwrap_or(1000))
    }
}

/// An intent, as proposed. Validated when applied, in log order, on every node alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterCommand {
    /// Admit a node as a non-voting member (a learner), status joining.
    AdmitMember {
        /// The node.
        node: NodeId,
        /// Its role.
        role: NodeRole,
        /// Where its peer stream listens, if known.
        stream_addr: Option<SocketAddr>,
    },
    /// Make a caught-up, coordinator-capable learner a voter.
    PromoteVoter {
        /// The node.
        node: NodeId,
    },
    /// Remove a member (voter or learner).
    RemoveMember {
        /// The node.
        node: NodeId,
    },
    /// Set a member's status.
    SetMemberStatus {
        /// The node.
        node: NodeId,
        /// New status.
        status: MemberStatus,
    },
    /// Change a member's role. A voter that loses coordinator capability stops voting.
    SetRole {
        /// The node.
        node: NodeId,
        /// New role.
        role: NodeRole,
    },
    /// Declare the link class between two members.
    DeclareLink {
        /// One end.
        a: NodeId,
        /// The other end.
        b: NodeId,
        /// Its class.
        class: LinkClass,
    },
    /// Record where an artifact is on a member.
    SetArtifactResidency {
        /// The node.
        node: NodeId,
        /// The artifact's digest.
        artifact: Digest,
        /// Its residency.
        residency: Residency,
    },
    /// Record a member's readiness for one backend (the leader proposes it when the
    /// member reports a change).
    SetBackendReadiness {
        /// The node.
        node: NodeId,
        /// The backend.
        backend: Backend,
        /// Its readiness there.
        readiness: BackendReadiness,
    },
    /// Declare (or replace) the replica set serving a model.
    DeclareReplicaSet {
        /// The model's artifact digest.
        artifact: Digest,
        /// Its replicas.
        replicas: BTreeSet<NodeId>,
        /// Fewest warm replicas it serves with.
        warm_min: u32,
    },
    /// Replace a named policy document.
    SetPolicy {
        /// Policy name.
        name: String,
        /// The document bytes.
        #[serde(with = "serde_bytes")]
        document: Vec<u8>,
    },
    /// Put `policy` in force as the serving policy.
    SetServingPolicy {
        /// The policy.
        policy: super::ServingPolicy,
    },
    /// End an admission token rotation: from when it is applied, the token of digest
    /// `token` ([`crate::AdmissionToken::digest`]) is the only one accepted.
    CutOverAdmissionToken {
        /// The token's public digest.
        token: Digest,
    },
    /// Move a member to a new key (see [`super::KeyRotation`]): from when it is
    /// applied, the node speaks with the new key; the old one is accepted until a
    /// [`ClusterCommand::RetireNodeKey`] applies.
    RotateNodeKey {
        /// The record, signed by both keys.
        rotation: super::KeyRotation,
    },
    /// Stop accepting `key`, the key `node` rotated from (the leader proposes it once
    /// it heard the node under its new key).
    RetireNodeKey {
        /// The node.
        node: NodeId,
        /// The key retiring.
        key: crate::identity::PublicKey,
    },
}

impl ClusterCommand {
    /// Whether applying this command can change who is a member, a voter or their role.
    pub fn changes_seats(&self) -> bool {
        self.changes_voters() || matches!(self, ClusterCommand::AdmitMember { .. })
    }

    /// Whether applying this command can change the voter set.
    pub fn changes_voters(&self) -> bool {
        matches!(
            self,
            ClusterCommand::PromoteVoter { .. } | ClusterCommand::RemoveMember { .. } | ClusterCommand::SetRole { .. }
        )
    }
}

/// A proposal as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id.
    pub id: ProposalId,
    /// The intent, shared with the event that reports it applied.
    pub command: Arc<ClusterCommand>,
    /// Who proposed it, under which authority.
    pub origin: super::Origin,
}

/// Why a committed command had no effect. The same on every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyRefusal {
    /// A staging report with more bytes copied than the artifact holds.
    #[error("staging reports {bytes_done} bytes copied of {bytes_total}")]
    StagingBeyondTotal {
        /// Bytes copied.
        bytes_done: u64,
        /// The artifact's bytes.
        bytes_total: u64,
    },
    /// The node is not a member.
    #[error("{node:?} is not a member")]
    NotAMember {
        /// The node.
        node: NodeId,
    },
    /// The node is a member already.
    #[error("{node:?} is already a member")]
    AlreadyAMember {
        /// The node.
        node: NodeId,
    },
    /// Only coordinator-capable members vote.
    #[error("{node:?} has role {role:?}, which cannot vote")]
    CannotVote {
        /// The node.
        node: NodeId,
        /// Its role.
        role: NodeRole,
    },
    /// The node votes already.
    #[error("{node:?} is already a voter")]
    AlreadyAVoter {
        /// The node.
        node: NodeId,
    },
    /// Removing or demoting the last voter would leave no quorum.
    #[error("{node:?} is the last voter")]
    LastVoter {
        /// The node.
        node: NodeId,
    },
    /// A link must join two different members.
    #[error("a link joins two different members")]
    SelfLink,
    /// A readiness declares more devices than allowed.
    #[error("{count} devices declared; at most {max} allowed")]
    TooManyDevices {
        /// Devices declared.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// The backend may not be declared ready for cluster execution.
    #[error("backend {backend:?} is not supported for cluster execution")]
    NotForClusterExecution {
        /// The backend.
        backend: Backend,
    },
    /// A replica set's minimum warm count exceeds its size, or it is empty or too big.
    #[error("replica set of {replicas} (1 to {max} allowed) with warm minimum {warm_min}")]
    ReplicaSetShape {
        /// Replicas declared.
        replicas: usize,
        /// Warm minimum declared.
        warm_min: u32,
        /// Most replicas allowed.
        max: usize,
    },
    /// An operator's entry used another scope than its command needs.
    #[error("the command needs scope {needed}; the entry was authorized with {used}")]
    ScopeMismatch {
        /// The scope the command needs.
        needed: Scope,
        /// The scope the entry names.
        used: Scope,
    },
    /// The authorization policy in force does not grant the entry's credential the
    /// scope it used.
    #[error("the authorization policy {policy} does not grant the entry's credential {needed}")]
    NotAuthorized {
        /// The scope used.
        needed: Scope,
        /// Digest of the policy in force.
        policy: crate::digest::Digest,
    },
    /// A serving policy that cannot be put in force.
    #[error("serving policy refused: {problem}")]
    ServingPolicy {
        /// Why.
        problem: super::ServingPolicyProblem,
    },
    /// A key rotation record that does not apply.
    #[error("key rotation of {node} refused: {problem}")]
    KeyRotation {
        /// The node.
        node: NodeId,
        /// Why.
        problem: super::RotationProblem,
    },
    /// An authorization policy document that cannot be put in force.
    #[error("authorization policy refused: {problem}")]
    AuthorizationPolicy {
        /// Why.
        problem: super::AuthorizationProblem,
    },
    /// An operator's entry names an empty or too long credential id.
    #[error("credential id of {len} bytes; 1 to {max} allowed")]
    CredentialId {
        /// Its length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The leader's upkeep or a member's report carried a command only an operator
    /// with `needed` may propose.
    #[error("a {origin:?} entry may not carry a command that needs scope {needed}")]
    OriginMayNot {
        /// Who proposed it.
        origin: super::OriginKind,
        /// The scope the command needs.
        needed: Scope,
    },
    /// A member's report set a fact about another node.
    #[error("{reporter:?} reported a fact about {about:?}; a member reports only its own")]
    NotOwnFact {
        /// The member that reported.
        reporter: NodeId,
        /// The node the fact is about.
        about: NodeId,
    },
    /// A policy name is empty or longer than the limit.
    #[error("policy name is {len} bytes; 1 to {max} allowed")]
    PolicyName {
        /// Length given.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// An operator claimed a node's residency (each node reports its own: an operator
    /// may only ask it to stage an artifact), or asked to stage there what it reports
    /// resident.
    #[error(
        "{node:?} reports its own residency; an operator may only ask it to stage {artifact}, which it does not hold"
    )]
    ReportedByNode {
        /// The node.
        node: NodeId,
        /// The artifact.
        artifact: crate::digest::Digest,
    },
}

/// A committed fact, produced by applying the entry at `index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "kebab-case")]
pub enum ClusterEvent {
    /// A new leader's first entry.
    LeaderNoop {
        /// Its term.
        term: u64,
        /// The leader.
        leader: NodeId,
    },
    /// A proposal took effect.
    Applied {
        /// Which proposal.
        proposal: ProposalId,
        /// What it did (the log entry's command, not a copy).
        command: Arc<ClusterCommand>,
    },
    /// A proposal was committed but refused by the state machine.
    Refused {
        /// Which proposal.
        proposal: ProposalId,
        /// Why.
        refusal: ApplyRefusal,
    },
}

/// What a log entry carries: the input the state machine applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// A new leader's first entry: commits the entries of earlier terms.
    Noop {
        /// The leader.
        leader: NodeId,
    },
    /// A client proposal.
    Proposal(Proposal),
}
