//! What the read routes answer: `GET /v1/status`, `/v1/state`, `/v1/members`,
//! `/v1/candidates`; and the line a node prints once it listens.

use std::net::SocketAddr;

use psionic_core::backend::ReadinessByBackend;
use psionic_core::consensus::reads::ReadRefusal;
use psionic_core::state::MemberStatus;
use psionic_core::{
    CandidateStatus, NodeEpoch, NodeId, NodeRole, NodeStatus, PeerHealth, StateReport, TelemetryReport,
};
use serde::{Deserialize, Serialize};

use crate::runtime::Consistency;

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// Where discovery listens.
    pub discovery_addr: SocketAddr,
    /// The node's view.
    #[serde(flatten)]
    pub status: NodeStatus,
}

/// `GET /v1/state`: a state report with the consistency it was read with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRead {
    /// How it was read.
    pub consistency: Consistency,
    /// What was read.
    #[serde(flatten)]
    pub report: StateReport,
}

/// Why a read of the state (`/v1/state`, `/v1/members`) was not answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum ReadFailure {
    /// A linearizable read was refused: no leader, or it changed (ask again, or read
    /// `serializable` to get this node's view). 503.
    ReadRefused {
        /// Why.
        refusal: ReadRefusal,
        /// The reason in words.
        message: String,
    },
    /// The read was not answered in time, or the node stopped. 503.
    Unknown,
}

/// `GET /v1/state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateAnswer {
    /// The state.
    Read(Box<StateRead>),
    /// Not read.
    NotRead(ReadFailure),
}

/// One member as the answering node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    /// Its id.
    pub node_id: NodeId,
    /// Its role.
    pub role: NodeRole,
    /// Its status in the replicated state.
    pub status: MemberStatus,
    /// Whether it votes.
    pub voter: bool,
    /// Whether it is the answering node.
    pub this_node: bool,
    /// Whether it leads, as the answering node sees it.
    pub leader: bool,
    /// Discovery health (absent for the answering node, or a member never heard from).
    pub health: Option<PeerHealth>,
    /// Its discovery address, if known.
    pub addr: Option<SocketAddr>,
    /// Backend readiness as committed.
    pub backends: ReadinessByBackend,
    /// Its residency of each artifact, as committed (a node with a models directory
    /// reports its own).
    #[serde(default)]
    pub artifacts: std::collections::BTreeMap<psionic_core::Digest, psionic_core::state::Residency>,
    /// Free device memory and queue depth as last heard there (the leader hears every
    /// member's; a follower only its own).
    pub telemetry: Option<TelemetryReport>,
}

/// `GET /v1/members`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MembersAnswer {
    /// Every member.
    Members(Vec<MemberView>),
    /// Not read.
    NotRead(ReadFailure),
}

/// `GET /v1/candidates`: the authenticated peers that are not members.
pub type CandidatesAnswer = Vec<CandidateStatus>;

/// The JSON line `psionic-node run` prints on stdout once it listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    /// Its id.
    pub node_id: NodeId,
    /// Its life.
    pub epoch: u64,
    /// Where discovery listens.
    pub discovery_addr: SocketAddr,
    /// Where peer streams are accepted.
    pub stream_addr: SocketAddr,
    /// Where the operator API listens.
    pub operator_addr: SocketAddr,
}

impl Listening {
    /// The epoch as the core counts it.
    pub fn node_epoch(&self) -> NodeEpoch {
        NodeEpoch(self.epoch)
    }
}
