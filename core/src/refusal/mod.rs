//! Typed refusals of incoming frames, and their counters.
//!
//! Each refusal names the rule that refused and the values it compared. Every refusal
//! is reported as an [`crate::Event::Refused`] and counted by [`RefusalKind`].

mod kind;

use serde::{Deserialize, Serialize};

pub use kind::{RefusalCounters, RefusalKind};

pub use crate::consensus::{ConsensusMessageKind, ConsensusRefusal};
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId};
pub use crate::serving::ServingRefusal;
use crate::transport::TransportClass;
use crate::wire::{AuthFailure, DecodeError, Recipient};

/// Why a frame was refused: the envelope's rules (decoding, identity, freshness,
/// addressing), or the subsystem the message is for. Encoded as the inner refusal
/// itself, so each reads the same whichever layer refused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(untagged)]
pub enum Refusal {
    /// The envelope's rules.
    #[error(transparent)]
    Frame(FrameRefusal),
    /// Consensus's rules.
    #[error(transparent)]
    Consensus(ConsensusRefusal),
    /// Serving's own rules (those consensus checks for it are [`Refusal::Consensus`]).
    #[error(transparent)]
    Serving(ServingRefusal),
    /// Staging's rules.
    #[error(transparent)]
    Staging(crate::staging::StagingRefusal),
}

/// Why a frame's envelope was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum FrameRefusal {
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
    /// A sender never heard from, not a member, while the table of such senders is full.
    #[error("frame from {sender:?} refused: {capacity} non-member senders tracked already")]
    PeerTableFull {
        /// Sender.
        sender: NodeId,
        /// The cap.
        capacity: usize,
    },
}

impl From<FrameRefusal> for Refusal {
    fn from(refusal: FrameRefusal) -> Self {
        Self::Frame(refusal)
    }
}

impl From<ConsensusRefusal> for Refusal {
    fn from(refusal: ConsensusRefusal) -> Self {
        Self::Consensus(refusal)
    }
}

impl From<crate::staging::StagingRefusal> for Refusal {
    fn from(refusal: crate::staging::StagingRefusal) -> Self {
        Self::Staging(refusal)
    }
}

/// A serving refusal that consensus made is reported as consensus's, so each refusal
/// has one form.
impl From<ServingRefusal> for Refusal {
    fn from(refusal: ServingRefusal) -> Self {
        match refusal {
            ServingRefusal::Consensus(refusal) => Self::Consensus(refusal),
            own => Self::Serving(own),
        }
    }
}

impl Refusal {
    /// The node the refused frame claimed to come from, when it got that far.
    pub fn sender(&self) -> Option<NodeId> {
        match self {
            Refusal::Frame(refusal) => refusal.sender(),
            Refusal::Consensus(refusal) | Refusal::Serving(ServingRefusal::Consensus(refusal)) => {
                consensus_sender(refusal)
            }
            Refusal::Serving(ServingRefusal::NotTheAssignee { sender, .. }) => Some(*sender),
            Refusal::Staging(refusal) => Some(refusal.sender()),
        }
    }

    /// The rule this refusal broke.
    pub fn kind(&self) -> RefusalKind {
        match self {
            Refusal::Frame(FrameRefusal::MalformedFrame { .. }) => RefusalKind::MalformedFrame,
            Refusal::Frame(FrameRefusal::UnsupportedSchemaVersion { .. }) => RefusalKind::UnsupportedSchemaVersion,
            Refusal::Frame(FrameRefusal::NamespaceMismatch { .. }) => RefusalKind::NamespaceMismatch,
            Refusal::Frame(FrameRefusal::ClusterMismatch { .. }) => RefusalKind::ClusterMismatch,
            Refusal::Frame(FrameRefusal::AuthenticationFailed { .. }) => RefusalKind::AuthenticationFailed,
            Refusal::Frame(FrameRefusal::UnknownPeer { .. }) => RefusalKind::UnknownPeer,
            Refusal::Frame(FrameRefusal::StaleEpoch { .. }) => RefusalKind::StaleEpoch,
            Refusal::Frame(FrameRefusal::Replay { .. }) => RefusalKind::Replay,
            Refusal::Frame(FrameRefusal::WrongTransport { .. }) => RefusalKind::WrongTransport,
            Refusal::Frame(FrameRefusal::OwnIdentity { .. }) => RefusalKind::OwnIdentity,
            Refusal::Frame(FrameRefusal::WrongRecipient { .. }) => RefusalKind::WrongRecipient,
            Refusal::Frame(FrameRefusal::Unaddressed { .. }) => RefusalKind::Unaddressed,
            Refusal::Frame(FrameRefusal::PeerTableFull { .. }) => RefusalKind::PeerTableFull,
            Refusal::Consensus(refusal) | Refusal::Serving(ServingRefusal::Consensus(refusal)) => {
                consensus_kind(refusal)
            }
            Refusal::Serving(ServingRefusal::NotTheAssignee { .. }) => RefusalKind::NotTheAssignee,
            Refusal::Staging(_) => RefusalKind::Staging,
        }
    }
}

impl FrameRefusal {
    /// The node the refused frame claimed to come from, when it got that far.
    pub fn sender(&self) -> Option<NodeId> {
        match self {
            FrameRefusal::MalformedFrame { .. }
            | FrameRefusal::UnsupportedSchemaVersion { .. }
            | FrameRefusal::NamespaceMismatch { .. }
            | FrameRefusal::ClusterMismatch { .. } => None,
            FrameRefusal::AuthenticationFailed { sender, .. }
            | FrameRefusal::UnknownPeer { sender, .. }
            | FrameRefusal::StaleEpoch { sender, .. }
            | FrameRefusal::Replay { sender, .. }
            | FrameRefusal::WrongTransport { sender, .. }
            | FrameRefusal::OwnIdentity { sender, .. }
            | FrameRefusal::WrongRecipient { sender, .. }
            | FrameRefusal::Unaddressed { sender, .. }
            | FrameRefusal::PeerTableFull { sender, .. } => Some(*sender),
        }
    }
}

fn consensus_sender(refusal: &ConsensusRefusal) -> Option<NodeId> {
    match refusal {
        ConsensusRefusal::VoteAlreadyCast { candidate, .. } | ConsensusRefusal::Recovering { candidate, .. } => {
            Some(*candidate)
        }
        ConsensusRefusal::BadEndorsement { sender, .. }
        | ConsensusRefusal::StaleFence { sender, .. }
        | ConsensusRefusal::AuthorityMismatch { sender, .. }
        | ConsensusRefusal::Snapshot { sender, .. }
        | ConsensusRefusal::NotAMember { sender, .. }
        | ConsensusRefusal::NotAVoter { sender, .. }
        | ConsensusRefusal::NotOurLeader { sender, .. }
        | ConsensusRefusal::ForwardedForAnother { sender, .. }
        | ConsensusRefusal::StaleTerm { sender, .. }
        | ConsensusRefusal::GenesisMismatch { sender, .. }
        | ConsensusRefusal::ImpossibleValues { sender, .. } => Some(*sender),
    }
}

fn consensus_kind(refusal: &ConsensusRefusal) -> RefusalKind {
    match refusal {
        ConsensusRefusal::VoteAlreadyCast { .. } => RefusalKind::VoteAlreadyCast,
        ConsensusRefusal::BadEndorsement { .. } => RefusalKind::BadEndorsement,
        ConsensusRefusal::StaleFence { .. } => RefusalKind::StaleFence,
        ConsensusRefusal::AuthorityMismatch { .. } => RefusalKind::AuthorityMismatch,
        ConsensusRefusal::Snapshot { .. } => RefusalKind::Snapshot,
        ConsensusRefusal::NotAMember { .. } => RefusalKind::NotAMember,
        ConsensusRefusal::NotAVoter { .. } => RefusalKind::NotAVoter,
        ConsensusRefusal::NotOurLeader { .. } => RefusalKind::NotOurLeader,
        ConsensusRefusal::ForwardedForAnother { .. } => RefusalKind::ForwardedForAnother,
        ConsensusRefusal::StaleTerm { .. } => RefusalKind::StaleTerm,
        ConsensusRefusal::Recovering { .. } => RefusalKind::Recovering,
        ConsensusRefusal::GenesisMismatch { .. } => RefusalKind::GenesisMismatch,
        ConsensusRefusal::ImpossibleValues { .. } => RefusalKind::ImpossibleValues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Fence;

    #[test]
    fn a_rule_consensus_checked_for_serving_is_reported_as_consensus_refusal() {
        let stale = ConsensusRefusal::StaleFence {
            sender: NodeId([3; 16]),
            seen: Fence(4),
            got: Fence(2),
        };
        let refusal = Refusal::from(ServingRefusal::from(stale.clone()));
        assert_eq!(refusal, Refusal::Consensus(stale));
        assert_eq!(refusal.kind(), RefusalKind::StaleFence);
        assert_eq!(refusal.sender(), Some(NodeId([3; 16])));
    }
}
