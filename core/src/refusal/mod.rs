//! Typed refusals of incoming frames, and their counters.
//!
//! Each refusal names the rule that refused and the values it compared. Every refusal
//! is reported as an [`crate::Event::Refused`] and counted by [`RefusalKind`].

mod kind;

use serde::{Deserialize, Serialize};

pub use kind::{RefusalCounters, RefusalKind};

use crate::consensus::message::ValueFault;
use crate::consensus::{Fence, SnapshotFault};
use crate::digest::Digest;
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId, RequestId};
use crate::io::TransportClass;
use crate::wire::{AuthFailure, DecodeError, Recipient};

/// Why a frame was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// The bytes are not a frame.
    #[error("malformed frame: {error}")]
    MalformedFrame {
        /// The decode error.
        error: DecodeError,
    },
    /// The frame is of a schema version this build does not speak.
    #[error("unsupported schema version {theirs} (this node speaks {ours})")]
    UnsupportedSchemaVersion {
        /// Ours.
        ours: u16,
        /// Theirs.
        theirs: u16,
    },
    /// The sender belongs to another namespace.
    #[error("namespace mismatch: ours {ours}, theirs {theirs}")]
    NamespaceMismatch {
        /// Ours.
        ours: ClusterNamespace,
        /// Theirs.
        theirs: ClusterNamespace,
    },
    /// Same namespace (or unknown), another cluster: a different genesis.
    #[error("cluster mismatch: ours {ours}, theirs {theirs}")]
    ClusterMismatch {
        /// Ours.
        ours: ClusterId,
        /// Theirs.
        theirs: ClusterId,
    },
    /// The tag did not verify.
    #[error("authentication failed for {sender:?}: {failure:?}")]
    AuthenticationFailed {
        /// Claimed sender.
        sender: NodeId,
        /// How it failed.
        failure: AuthFailure,
    },
    /// Configured-peer posture: the sender's key is not pinned.
    #[error("unknown peer {sender:?}: its key is not pinned in configuration")]
    UnknownPeer {
        /// Claimed sender.
        sender: NodeId,
    },
    /// The sender has spoken from a newer epoch already.
    #[error("stale epoch from {sender:?}: seen {seen}, got {got}")]
    StaleEpoch {
        /// Sender.
        sender: NodeId,
        /// Newest epoch seen.
        seen: NodeEpoch,
        /// Epoch of the frame.
        got: NodeEpoch,
    },
    /// The counter was already accepted or is behind the replay window.
    #[error("replayed frame from {sender:?} epoch {epoch}: counter {counter}, highest {highest}")]
    Replay {
        /// Sender.
        sender: NodeId,
        /// Epoch.
        epoch: NodeEpoch,
        /// Counter of the frame.
        counter: u64,
        /// Highest accepted.
        highest: u64,
    },
    /// The frame arrived on another transport than the one it was sealed for.
    #[error("frame from {sender:?} sealed for {sealed_for:?} arrived on {arrived_on:?}")]
    WrongTransport {
        /// Sender.
        sender: NodeId,
        /// The transport named in the frame.
        sealed_for: TransportClass,
        /// The transport it came on.
        arrived_on: TransportClass,
    },
    /// The frame claims to come from this node itself.
    #[error("frame claims this node's own id {sender:?}")]
    OwnIdentity {
        /// The id claimed.
        sender: NodeId,
    },
    /// A frame sealed for another node, or for an earlier life of this one.
    #[error("frame from {sender:?} refused: addressed to {addressed:?}, this is {ours:?}")]
    WrongRecipient {
        /// Sender.
        sender: NodeId,
        /// The node and life the frame names.
        addressed: Recipient,
        /// This node and its life.
        ours: Recipient,
    },
    /// A frame that names no recipient and is not an introduction (a hello on a
    /// datagram).
    #[error("frame from {sender:?} refused: it names no recipient")]
    Unaddressed {
        /// Sender.
        sender: NodeId,
    },
    /// A vote request for a term in which this node already voted for another.
    #[error("vote for {candidate:?} in term {term} refused: already voted for {voted_for:?}")]
    VoteAlreadyCast {
        /// The term.
        term: u64,
        /// Who asked.
        candidate: NodeId,
        /// Who got the vote.
        voted_for: NodeId,
    },
    /// A vote granted to this node without a valid signature of the voter's over it
    /// (a leader proves its election with these): not counted.
    #[error("vote from {sender:?} in term {term} refused: its endorsement is missing or does not verify")]
    BadEndorsement {
        /// The voter.
        sender: NodeId,
        /// The term of the vote.
        term: u64,
    },
    /// A decision stamped with a fence older than one already seen.
    #[error("decision from {sender:?} refused: stale fence {got:?}, seen {seen:?}")]
    StaleFence {
        /// Sender.
        sender: NodeId,
        /// Newest fence seen.
        seen: Fence,
        /// Fence of the decision.
        got: Fence,
    },
    /// A decision whose authority does not hold for its sender: another leader, a
    /// digest not of its fields, another cluster, or a fence that is not its term.
    #[error("decision from {sender:?} refused: {problem}")]
    AuthorityMismatch {
        /// Sender.
        sender: NodeId,
        /// What the authority gets wrong.
        problem: crate::consensus::AuthorityProblem,
    },
    /// A snapshot chunk or snapshot that does not verify.
    #[error("snapshot from {sender:?} refused: {fault}")]
    Snapshot {
        /// Sender.
        sender: NodeId,
        /// What is wrong.
        fault: SnapshotFault,
    },
    /// A message only members may send, from a node that is not one (by this node's
    /// log, applied or not).
    #[error("{message:?} from {sender:?} refused: not a member")]
    NotAMember {
        /// Sender.
        sender: NodeId,
        /// What it sent.
        message: ConsensusMessageKind,
    },
    /// A leader's message (an append, a snapshot chunk) from a node this node's
    /// configuration does not make a voter, and that it did not vote for in that term.
    #[error("{message:?} from {sender:?} refused: not a voter here")]
    NotAVoter {
        /// Sender.
        sender: NodeId,
        /// What it sent.
        message: ConsensusMessageKind,
    },
    /// A decision of this node's term from another node than the leader it follows.
    #[error("decision of term {term} from {sender:?} refused: this node follows {leader:?}")]
    NotOurLeader {
        /// Sender.
        sender: NodeId,
        /// The leader this node follows in that term, if any.
        leader: Option<NodeId>,
        /// The term.
        term: u64,
    },
    /// An execution report from another node than the one the request is assigned to
    /// (or, for a completion under an earlier leadership, from a node that does not
    /// execute).
    #[error("execution report for {request:?} from {sender:?} refused: assigned to {assignee:?}")]
    NotTheAssignee {
        /// Sender.
        sender: NodeId,
        /// The request.
        request: RequestId,
        /// The node it is assigned to here, if any.
        assignee: Option<NodeId>,
    },
    /// Proposals forwarded under an id another node minted, or in the name of another
    /// member or of the leader's upkeep: a voter forwards only its own, and only an
    /// operator's or its own report.
    #[error("proposals from {sender:?} forwarded in {proposer:?}'s name refused")]
    ForwardedForAnother {
        /// Sender.
        sender: NodeId,
        /// The node the id names.
        proposer: NodeId,
    },
    /// A leader's message from a term older than this node's (the answer still tells
    /// the sender the newer term).
    #[error("{message:?} from {sender:?} refused: term {term} is older than {current}")]
    StaleTerm {
        /// Sender.
        sender: NodeId,
        /// What it sent.
        message: ConsensusMessageKind,
        /// Its term.
        term: u64,
        /// This node's term.
        current: u64,
    },
    /// A vote request while this node recovers from a restored backup: it may have
    /// voted in this term before, in a life the backup does not remember.
    #[error("vote for {candidate:?} in term {term} refused: recovering from a restored backup")]
    Recovering {
        /// Who asked.
        candidate: NodeId,
        /// The term asked for.
        term: u64,
    },
    /// A consensus message from a node of another genesis: it was founded with other
    /// voters, so nothing it says about the log can be taken.
    #[error("consensus message from {sender:?} refused: its genesis {theirs:?} is not ours {ours:?}")]
    GenesisMismatch {
        /// Sender.
        sender: NodeId,
        /// This node's genesis.
        ours: Digest,
        /// The sender's.
        theirs: Digest,
    },
    /// A consensus message whose values cannot be true (checked on decoding, and on
    /// arrival against this node's log).
    #[error("consensus message from {sender:?} refused: {fault}")]
    ImpossibleValues {
        /// Sender.
        sender: NodeId,
        /// Which values.
        fault: ValueFault,
    },
    /// A sender never heard from, not a member, while the table of such senders is full.
    #[error("frame from {sender:?} refused: {capacity} non-member senders tracked already")]
    PeerTableFull {
        /// Sender.
        sender: NodeId,
        /// The cap.
        capacity: usize,
    },
}

/// The consensus messages a refusal can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsensusMessageKind {
    /// A vote request (or pre-vote).
    VoteRequest,
    /// An answer to a vote request.
    VoteResponse,
    /// An append (or heartbeat).
    Append,
    /// A snapshot chunk.
    SnapshotChunk,
    /// A stamped decision.
    Decision,
    /// Proposals forwarded to the leader.
    Forward,
}

impl Refusal {
    /// The node the refused frame claimed to come from, when it got that far.
    pub fn sender(&self) -> Option<NodeId> {
        match self {
            Refusal::AuthenticationFailed { sender, .. }
            | Refusal::UnknownPeer { sender }
            | Refusal::StaleEpoch { sender, .. }
            | Refusal::Replay { sender, .. }
            | Refusal::WrongTransport { sender, .. }
            | Refusal::OwnIdentity { sender }
            | Refusal::WrongRecipient { sender, .. }
            | Refusal::Unaddressed { sender }
            | Refusal::StaleFence { sender, .. }
            | Refusal::AuthorityMismatch { sender, .. }
            | Refusal::Snapshot { sender, .. }
            | Refusal::NotAMember { sender, .. }
            | Refusal::StaleTerm { sender, .. }
            | Refusal::NotAVoter { sender, .. }
            | Refusal::NotOurLeader { sender, .. }
            | Refusal::NotTheAssignee { sender, .. }
            | Refusal::ForwardedForAnother { sender, .. }
            | Refusal::PeerTableFull { sender, .. }
            | Refusal::ImpossibleValues { sender, .. }
            | Refusal::GenesisMismatch { sender, .. }
            | Refusal::BadEndorsement { sender, .. } => Some(*sender),
            Refusal::VoteAlreadyCast { candidate, .. } | Refusal::Recovering { candidate, .. } => Some(*candidate),
            Refusal::MalformedFrame { .. }
            | Refusal::UnsupportedSchemaVersion { .. }
            | Refusal::NamespaceMismatch { .. }
            | Refusal::ClusterMismatch { .. } => None,
        }
    }

    /// The rule this refusal broke.
    pub fn kind(&self) -> RefusalKind {
        match self {
            Refusal::MalformedFrame { .. } => RefusalKind::MalformedFrame,
            Refusal::UnsupportedSchemaVersion { .. } => RefusalKind::UnsupportedSchemaVersion,
            Refusal::NamespaceMismatch { .. } => RefusalKind::NamespaceMismatch,
            Refusal::ClusterMismatch { .. } => RefusalKind::ClusterMismatch,
            Refusal::AuthenticationFailed { .. } => RefusalKind::AuthenticationFailed,
            Refusal::UnknownPeer { .. } => RefusalKind::UnknownPeer,
            Refusal::StaleEpoch { .. } => RefusalKind::StaleEpoch,
            Refusal::Replay { .. } => RefusalKind::Replay,
            Refusal::WrongTransport { .. } => RefusalKind::WrongTransport,
            Refusal::OwnIdentity { .. } => RefusalKind::OwnIdentity,
            Refusal::WrongRecipient { .. } => RefusalKind::WrongRecipient,
            Refusal::Unaddressed { .. } => RefusalKind::Unaddressed,
            Refusal::VoteAlreadyCast { .. } => RefusalKind::VoteAlreadyCast,
            Refusal::StaleFence { .. } => RefusalKind::StaleFence,
            Refusal::AuthorityMismatch { .. } => RefusalKind::AuthorityMismatch,
            Refusal::Snapshot { .. } => RefusalKind::Snapshot,
            Refusal::NotAMember { .. } => RefusalKind::NotAMember,
            Refusal::StaleTerm { .. } => RefusalKind::StaleTerm,
            Refusal::NotAVoter { .. } => RefusalKind::NotAVoter,
            Refusal::NotOurLeader { .. } => RefusalKind::NotOurLeader,
            Refusal::NotTheAssignee { .. } => RefusalKind::NotTheAssignee,
            Refusal::ForwardedForAnother { .. } => RefusalKind::ForwardedForAnother,
            Refusal::PeerTableFull { .. } => RefusalKind::PeerTableFull,
            Refusal::ImpossibleValues { .. } => RefusalKind::ImpossibleValues,
            Refusal::GenesisMismatch { .. } => RefusalKind::GenesisMismatch,
            Refusal::Recovering { .. } => RefusalKind::Recovering,
            Refusal::BadEndorsement { .. } => RefusalKind::BadEndorsement,
        }
    }
}
