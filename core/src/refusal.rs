//! Typed refusals of incoming frames, and their counters.
//!
//! Each refusal names the rule that refused and the values it compared. Every refusal
//! is reported as an [`crate::Event::Refused`] and counted by [`RefusalKind`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::consensus::message::ValueFault;
use crate::consensus::{Fence, SnapshotFault};
use crate::digest::Digest;
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId};
use crate::io::TransportClass;
use crate::wire::{AuthFailure, DecodeError};

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
    /// A decision whose authority names another leader than its sender, or whose
    /// digest does not match.
    #[error("decision from {sender:?} refused: authority names {claimed:?}")]
    AuthorityMismatch {
        /// Sender.
        sender: NodeId,
        /// Leader named.
        claimed: NodeId,
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
    /// An append (or heartbeat).
    Append,
    /// A snapshot chunk.
    SnapshotChunk,
    /// A stamped decision.
    Decision,
}

/// The rule a [`Refusal`] broke, without its values: the key of refusal counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// See [`Refusal::MalformedFrame`].
    MalformedFrame,
    /// See [`Refusal::UnsupportedSchemaVersion`].
    UnsupportedSchemaVersion,
    /// See [`Refusal::NamespaceMismatch`].
    NamespaceMismatch,
    /// See [`Refusal::ClusterMismatch`].
    ClusterMismatch,
    /// See [`Refusal::AuthenticationFailed`].
    AuthenticationFailed,
    /// See [`Refusal::UnknownPeer`].
    UnknownPeer,
    /// See [`Refusal::StaleEpoch`].
    StaleEpoch,
    /// See [`Refusal::Replay`].
    Replay,
    /// See [`Refusal::WrongTransport`].
    WrongTransport,
    /// See [`Refusal::OwnIdentity`].
    OwnIdentity,
    /// See [`Refusal::VoteAlreadyCast`].
    VoteAlreadyCast,
    /// See [`Refusal::StaleFence`].
    StaleFence,
    /// See [`Refusal::AuthorityMismatch`].
    AuthorityMismatch,
    /// See [`Refusal::Snapshot`].
    Snapshot,
    /// See [`Refusal::NotAMember`].
    NotAMember,
    /// See [`Refusal::StaleTerm`].
    StaleTerm,
    /// See [`Refusal::PeerTableFull`].
    PeerTableFull,
    /// See [`Refusal::ImpossibleValues`].
    ImpossibleValues,
    /// See [`Refusal::GenesisMismatch`].
    GenesisMismatch,
    /// See [`Refusal::Recovering`].
    Recovering,
}

impl RefusalKind {
    /// Every kind, in counter order.
    pub const ALL: [RefusalKind; 20] = [
        RefusalKind::MalformedFrame,
        RefusalKind::UnsupportedSchemaVersion,
        RefusalKind::NamespaceMismatch,
        RefusalKind::ClusterMismatch,
        RefusalKind::AuthenticationFailed,
        RefusalKind::UnknownPeer,
        RefusalKind::StaleEpoch,
        RefusalKind::Replay,
        RefusalKind::WrongTransport,
        RefusalKind::OwnIdentity,
        RefusalKind::VoteAlreadyCast,
        RefusalKind::StaleFence,
        RefusalKind::AuthorityMismatch,
        RefusalKind::Snapshot,
        RefusalKind::NotAMember,
        RefusalKind::StaleTerm,
        RefusalKind::PeerTableFull,
        RefusalKind::ImpossibleValues,
        RefusalKind::GenesisMismatch,
        RefusalKind::Recovering,
    ];

    /// Whether the frame was refused before it reached the protocol (decoding,
    /// identity, authentication, replay, room for its sender).
    pub const fn is_admission(self) -> bool {
        matches!(
            self,
            RefusalKind::MalformedFrame
                | RefusalKind::UnsupportedSchemaVersion
                | RefusalKind::NamespaceMismatch
                | RefusalKind::ClusterMismatch
                | RefusalKind::AuthenticationFailed
                | RefusalKind::UnknownPeer
                | RefusalKind::StaleEpoch
                | RefusalKind::Replay
                | RefusalKind::WrongTransport
                | RefusalKind::OwnIdentity
                | RefusalKind::PeerTableFull
        )
    }

    /// The kebab-case name used in metrics and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            RefusalKind::MalformedFrame => "malformed-frame",
            RefusalKind::UnsupportedSchemaVersion => "unsupported-schema-version",
            RefusalKind::NamespaceMismatch => "namespace-mismatch",
            RefusalKind::ClusterMismatch => "cluster-mismatch",
            RefusalKind::AuthenticationFailed => "authentication-failed",
            RefusalKind::UnknownPeer => "unknown-peer",
            RefusalKind::StaleEpoch => "stale-epoch",
            RefusalKind::Replay => "replay",
            RefusalKind::WrongTransport => "wrong-transport",
            RefusalKind::OwnIdentity => "own-identity",
            RefusalKind::VoteAlreadyCast => "vote-already-cast",
            RefusalKind::StaleFence => "stale-fence",
            RefusalKind::AuthorityMismatch => "authority-mismatch",
            RefusalKind::Snapshot => "snapshot",
            RefusalKind::NotAMember => "not-a-member",
            RefusalKind::StaleTerm => "stale-term",
            RefusalKind::PeerTableFull => "peer-table-full",
            RefusalKind::ImpossibleValues => "impossible-values",
            RefusalKind::GenesisMismatch => "genesis-mismatch",
            RefusalKind::Recovering => "recovering",
        }
    }
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
            | Refusal::StaleFence { sender, .. }
            | Refusal::AuthorityMismatch { sender, .. }
            | Refusal::Snapshot { sender, .. }
            | Refusal::NotAMember { sender, .. }
            | Refusal::StaleTerm { sender, .. }
            | Refusal::PeerTableFull { sender, .. }
            | Refusal::ImpossibleValues { sender, .. }
            | Refusal::GenesisMismatch { sender, .. } => Some(*sender),
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
            Refusal::VoteAlreadyCast { .. } => RefusalKind::VoteAlreadyCast,
            Refusal::StaleFence { .. } => RefusalKind::StaleFence,
            Refusal::AuthorityMismatch { .. } => RefusalKind::AuthorityMismatch,
            Refusal::Snapshot { .. } => RefusalKind::Snapshot,
            Refusal::NotAMember { .. } => RefusalKind::NotAMember,
            Refusal::StaleTerm { .. } => RefusalKind::StaleTerm,
            Refusal::PeerTableFull { .. } => RefusalKind::PeerTableFull,
            Refusal::ImpossibleValues { .. } => RefusalKind::ImpossibleValues,
            Refusal::GenesisMismatch { .. } => RefusalKind::GenesisMismatch,
            Refusal::Recovering { .. } => RefusalKind::Recovering,
        }
    }
}

/// How many frames were refused, by rule. Every kind is present, zero or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCounters(BTreeMap<RefusalKind, u64>);

impl Default for RefusalCounters {
    fn default() -> Self {
        Self(RefusalKind::ALL.iter().map(|kind| (*kind, 0)).collect())
    }
}

impl RefusalCounters {
    /// Counts one refusal.
    pub fn record(&mut self, kind: RefusalKind) {
        *self.0.entry(kind).or_insert(0) += 1;
    }

    /// Refusals of `kind` so far.
    pub fn get(&self, kind: RefusalKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    /// All counters in kind order.
    pub fn iter(&self) -> impl Iterator<Item = (RefusalKind, u64)> + '_ {
        self.0.iter().map(|(kind, count)| (*kind, *count))
    }

    /// Sum over every kind.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}
