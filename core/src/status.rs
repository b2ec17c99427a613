//! Serialisable views of a node, for operator APIs and simulation traces.

use core::net::SocketAddr;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::consensus::CandidateAdmission;

use crate::backend::{LinkTelemetry, ReadinessByBackend};
use crate::candidates::{Candidate, CandidateState, Introducer};
use crate::consensus::{CoordinatorView, RoleKind};
use crate::devices::TelemetrySeen;
use crate::digest::Digest;
use crate::discovery::{Peer, PeerHealth};
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId, NodeRole, PublicKey};
use crate::plan::ServingPolicy;
use crate::refusal::RefusalCounters;
use crate::state::{MemberStatus, Residency};
use crate::time::Instant;

/// What a node knows of itself and its peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its id.
    pub node_id: NodeId,
    /// Its current epoch.
    pub epoch: NodeEpoch,
    /// Its cluster.
    pub cluster_id: ClusterId,
    /// Its namespace.
    pub namespace: ClusterNamespace,
    /// Its role.
    pub role: NodeRole,
    /// Authenticated peers, in id order.
    pub peers: Vec<PeerStatus>,
    /// The candidate ledger in id order: the authenticated peers met while not
    /// members, with what became of each and how it would join.
    pub candidates: Vec<CandidateStatus>,
    /// Authenticated non-members the full ledger left out (they cannot be admitted).
    pub candidates_unrecorded: usize,
    /// The admission tokens this node holds, seals under and accepts (trusted LAN
    /// only), by their public digests.
    pub admission: Option<crate::wire::AdmissionStatus>,
    /// This node's key, staged key, and whether the log moved it to a key it lacks.
    pub key: KeyStatus,
    /// This node's trust bundle digest ([`crate::trust::TrustBundle`]).
    pub trust: Option<crate::digest::Digest>,
    /// Refused frames by rule.
    pub refusals: RefusalCounters,
    /// Current consensus term.
    pub term: u64,
    /// Consensus role.
    pub consensus_role: RoleKind,
    /// The leader followed (itself when leading).
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index applied.
    pub applied_index: u64,
    /// Index of the last log entry.
    pub last_index: u64,
}

/// One peer as a node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its id.
    pub node_id: NodeId,
    /// Where it speaks from.
    pub addr: SocketAddr,
    /// Its role.
    pub role: NodeRole,
    /// Its newest epoch.
    pub epoch: NodeEpoch,
    /// Its health.
    pub health: PeerHealth,
    /// Its trust bundle digest, as its hellos say it (compare with the node's own).
    pub trust: Option<crate::digest::Digest>,
}

impl PeerStatus {
    /// The status of `peer`, whose id is `node_id` and whose hellos said trust bundle
    /// `trust`.
    pub fn of(node_id: NodeId, peer: &Peer, trust: Option<crate::digest::Digest>) -> Self {
        Self {
            node_id,
            addr: peer.addr,
            role: peer.role,
            epoch: peer.epoch,
            health: peer.health,
            trust,
        }
    }
}

/// This node's keys, as its status shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// The key frames are sealed and evidence signed with.
    pub current: PublicKey,
    /// The key a pending rotation moves to, if one is staged.
    pub staged: Option<PublicKey>,
    /// The key the applied log has in force for this node, when it is neither of
    /// those: this node no longer holds its key, and every peer refuses it.
    pub superseded_by: Option<PublicKey>,
}

/// One entry of a node's candidate ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateStatus {
    /// Its id.
    pub node_id: NodeId,
    /// Where it last spoke from.
    pub addr: SocketAddr,
    /// The role it claims.
    pub role: NodeRole,
    /// What became of it.
    pub state: CandidateState,
    /// Who made this node meet it.
    pub introduced_by: Introducer,
    /// Milliseconds since this node recorded it.
    pub introduced_ms_ago: u64,
    /// Milliseconds since its state last changed.
    pub changed_ms_ago: u64,
    /// How it would join while it waits.
    pub admission: CandidateAdmission,
}

impl CandidateStatus {
    /// The status at `now` of `candidate`, whose id is `node_id`.
    pub fn of(node_id: NodeId, candidate: &Candidate, admission: CandidateAdmission, now: Instant) -> Self {
        let ms_since = |at: Instant| now.saturating_since(at).as_millis() as u64;
        Self {
            node_id,
            addr: candidate.addr,
            role: candidate.role,
            state: candidate.state,
            introduced_by: candidate.introduced_by,
            introduced_ms_ago: ms_since(candidate.introduced_at),
            changed_ms_ago: ms_since(candidate.changed_at),
            admission,
        }
    }
}

/// The replicated state as one node has applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateReport {
    /// Who coordinates, as this node sees it.
    pub coordinator: CoordinatorView,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index applied.
    pub applied_index: u64,
    /// Digest of the applied state.
    pub state_digest: Digest,
    /// Members in id order.
    pub members: Vec<MemberReport>,
    /// The serving policy in force: the one recorded, or the defaults when none is
    /// (or its document does not decode).
    pub serving_policy: ServingPolicy,
    /// Every policy document's digest, by name.
    pub policies: std::collections::BTreeMap<String, Digest>,
    /// Who set each fact, and at which index (`policy/<name>`, `member/<id>`,
    /// `residency/<node>/<artifact>`, `readiness/<node>/<backend>`, `link/<a>/<b>`,
    /// `replica-set/<artifact>`, `node-key/<id>`, `admission-token`).
    pub set_by: std::collections::BTreeMap<String, crate::state::SetBy>,
    /// The authorization policy in force, if one is committed.
    pub authorization: Option<crate::state::AuthorizationPolicy>,
    /// The admission token the cluster cut over to (its public digest), if any.
    pub admission_token: Option<crate::digest::Digest>,
    /// The keys (in force, and retiring) of each node whose key was rotated.
    pub node_keys: BTreeMap<NodeId, crate::state::NodeKeys>,
}

/// One member of the replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReport {
    /// Its id.
    pub node_id: NodeId,
    /// Its role.
    pub role: NodeRole,
    /// Its status.
    pub status: MemberStatus,
    /// Whether it votes.
    pub voter: bool,
    /// Backend readiness as committed.
    pub backends: ReadinessByBackend,
    /// Residency of each artifact recorded for it, by artifact digest.
    pub artifacts: BTreeMap<Digest, Residency>,
    /// Soft telemetry as last heard here (the leader hears every member's; a follower
    /// only its own), if any.
    pub telemetry: Option<TelemetryReport>,
}

/// Soft telemetry with its age.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryReport {
    /// Free memory of each CUDA device, in ordinal order.
    pub free_memory_bytes: Vec<u64>,
    /// Requests waiting to run.
    pub queue_depth: u32,
    /// Links to reachable peers the member measured (round trip, bandwidth).
    pub links: BTreeMap<NodeId, LinkTelemetry>,
    /// Milliseconds since it arrived.
    pub age_ms: u64,
}

impl TelemetryReport {
    /// `seen` as of `now`.
    pub fn of(seen: &TelemetrySeen, now: Instant) -> Self {
        Self {
            free_memory_bytes: seen.telemetry.free_memory_bytes.clone(),
            queue_depth: seen.telemetry.queue_depth,
            links: seen.telemetry.links.clone(),
            age_ms: u64::try_from(now.saturating_since(seen.at).as_millis()).unwrap_or(u64::MAX),
        }
    }
}
