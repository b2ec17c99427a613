//! Why consensus refused a message, with the values it compared.

use serde::{Deserialize, Serialize};

use super::message::ValueFault;
use super::{AuthorityProblem, Fence, SnapshotFault};
use crate::digest::Digest;
use crate::identity::NodeId;

/// Why consensus refused a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ConsensusRefusal {
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
        problem: AuthorityProblem,
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
