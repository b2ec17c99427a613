//! Replicated ordered cluster state: Raft with pre-vote, check-quorum, leader lease,
//! fencing, membership through the log, snapshots and catchup.
//!
//! Safety rules enforced here (Raft paper, Ongaro & Ousterhout 2014):
//! - at most one vote per term, persisted before it is sent (§5.2);
//! - a vote only for a candidate whose log is at least as up to date (§5.4.1);
//! - an entry is committed only when stored on a quorum of voters and of the
//!   leader's current term (§5.4.2, figure 8);
//! - log matching: an append is accepted only if the entry before it matches (§5.3);
//! - entries apply in index order, each exactly once.
//!
//! The handlers are split by concern: [`election`], [`replication`], [`snapshot`].

pub mod authority;
mod decisions;
mod election;
pub mod endorsement;
mod entitlement;
pub mod entries;
mod event;
mod follower;
pub mod forward;
mod genesis;
mod handle;
mod leader;
mod lease;
pub mod log;
mod membership;
pub mod message;
mod node_keys;
mod proposal_checks;
mod raw;
pub mod reads;
mod recovery;
mod refusal;
mod replication;
pub mod snapshot;
mod telemetry;
#[cfg(test)]
mod tests;
mod transfer;

use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use crate::state::EntryPayload;
pub use crate::state::STATE_SCHEMA_VERSION;
pub use authority::{Authority, AuthorityProblem, Fence};
pub use entries::AppendEntries;
pub use event::ConsensusEvent;
pub use genesis::RecoveryError;
pub use handle::Mutations;
pub(crate) use leader::{Leadership, Progress};
pub use log::{Entry, RaftLog};
pub use membership::CandidateAdmission;
pub use message::RaftMessage;
pub use refusal::{ConsensusMessageKind, ConsensusRefusal};
pub use snapshot::{SnapshotFault, SnapshotMeta, StoredSnapshot};
pub use telemetry::{HeartbeatTelemetry, NoTelemetry};
pub use transfer::TransferRefusal;

use crate::bounds::{BoundError, at_least, at_most, ordered};
use crate::identity::{ClusterId, NodeEpoch, NodeId, NodeRole};
use crate::state::{ApplyRefusal, ClusterState, ProposalId};
use crate::time::Instant;

/// Consensus timing and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusConfig {
    /// Voters of the cluster at genesis (every node must list the same ones).
    pub initial_voters: Vec<(NodeId, NodeRole)>,
    /// The binaries (SHA-256) a node must run to be admitted; empty: any. Genesis
    /// voters are members from the start and are not checked.
    pub allowed_binaries: BTreeSet<crate::attestation::BinaryDigest>,
    /// Time between leader heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Shortest election timeout; also the leader lease and check-quorum period.
    pub election_timeout_ms_min: u64,
    /// Longest election timeout (exclusive).
    pub election_timeout_ms_max: u64,
    /// Most entries in one append.
    pub append_entries_max: usize,
    /// Most entry bytes in one append.
    pub append_bytes_max: usize,
    /// Applied entries past the last snapshot that trigger a new one.
    pub snapshot_after_entries: u64,
    /// Bytes of applied entries past the last snapshot that trigger a new one.
    pub snapshot_after_bytes: u64,
    /// Snapshot chunk size.
    pub snapshot_chunk_bytes: usize,
    /// Whether each applied entry reports the state digest. It costs an encoding and
    /// a hash of the whole state per entry, so it is off by default; the simulator
    /// turns it on to compare states index by index.
    pub digest_on_apply: bool,
    /// The only ids the leader admits as learners without an operator (a manifest's
    /// nodes, the pinned keys' nodes); empty: none. Any other authenticated peer waits
    /// as a candidate until an operator's `admit-member`. Every member, however
    /// admitted, is marked ready once caught up and, if coordinator-capable, promoted.
    pub admit_only: std::collections::BTreeSet<NodeId>,
}

/// Peers admitted as learners per heartbeat at most: a flood of fresh ids joins no
/// faster than this.
pub const ADMISSIONS_PER_HEARTBEAT_MAX: usize = 1;

impl Default for ConsensusConfig {
    fn default() -> Self {
        Self {
            initial_voters: Vec::new(),
            allowed_binaries: BTreeSet::new(),
            heartbeat_interval_ms: 100,
            election_timeout_ms_min: 500,
            election_timeout_ms_max: 1_000,
            append_entries_max: 256,
            append_bytes_max: 32 * 1024,
            snapshot_after_entries: 1_024,
            snapshot_after_bytes: 4 * 1024 * 1024,
            snapshot_chunk_bytes: 32 * 1024,
            digest_on_apply: false,
            admit_only: std::collections::BTreeSet::new(),
        }
    }
}

/// Timing values that differ from the defaults (absent: keep the default). Shared by
/// every place an operator or a scenario can set them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingOverrides {
    /// Time between leader heartbeats.
    pub heartbeat_interval_ms: Option<u64>,
    /// Shortest election timeout.
    pub election_timeout_ms_min: Option<u64>,
    /// Longest election timeout (exclusive).
    pub election_timeout_ms_max: Option<u64>,
}

impl ConsensusConfig {
    /// This configuration with `timing` applied.
    pub fn with_timing(self, timing: TimingOverrides) -> Self {
        Self {
            heartbeat_interval_ms: timing.heartbeat_interval_ms.unwrap_or(self.heartbeat_interval_ms),
            election_timeout_ms_min: timing.election_timeout_ms_min.unwrap_or(self.election_timeout_ms_min),
            election_timeout_ms_max: timing.election_timeout_ms_max.unwrap_or(self.election_timeout_ms_max),
            ..self
        }
    }
}

/// What must survive a crash: the current term and the vote cast in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// Current term.
    pub term: u64,
    /// Candidate voted for in `term`.
    pub voted_for: Option<NodeId>,
}

/// Durable consensus state as recovered by the driver at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// Term and vote.
    pub hard_state: HardState,
    /// Latest snapshot.
    pub snapshot: Option<StoredSnapshot>,
    /// Entries after the snapshot, in order.
    pub entries: Vec<Entry>,
    /// Whether the state was restored from a backup: it may lack votes cast and
    /// entries acknowledged since the backup, so the node neither votes nor stands
    /// until it has caught up with a leader (see `consensus::recovery`).
    pub restored: bool,
}

/// A node's role in consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleKind {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking whether an election would succeed, without changing term.
    PreCandidate,
    /// Standing for election.
    Candidate,
    /// Leading.
    Leader,
}

/// Why a leader stopped leading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepDownReason {
    /// Did not hear from a quorum within the election timeout (check-quorum).
    LostQuorum {
        /// Voters heard from (self included).
        heard: usize,
        /// Quorum size.
        quorum: usize,
    },
    /// Saw a newer term.
    HigherTerm {
        /// That term.
        term: u64,
    },
    /// Handed leadership to another voter.
    Transferred {
        /// The new leader.
        to: NodeId,
    },
    /// Is no longer a voter.
    RemovedFromVoters,
}

/// How a leader brings a follower up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchupDisposition {
    /// Send the retained log tail from `from` on.
    ReplayTail {
        /// First index sent.
        from: u64,
        /// Leader's last index.
        to: u64,
    },
    /// The tail the follower needs was compacted: install the snapshot, then the tail.
    InstallSnapshot {
        /// Snapshot's last index.
        snapshot_index: u64,
    },
    /// The follower's log or state cannot be patched: replace it with the snapshot.
    FullResync {
        /// Why.
        reason: ResyncReason,
    },
}

/// Why a follower needs a full resync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResyncReason {
    /// Its log diverges below the leader's snapshot.
    DivergedBelowSnapshot {
        /// Where the follower's log conflicts.
        conflict_index: u64,
        /// Leader's snapshot index.
        snapshot_index: u64,
    },
    /// It has not received its cluster's state (a node joining through seeds).
    NoGenesis,
    /// It keeps its state in another schema version.
    StateSchema {
        /// The leader's version.
        ours: u16,
        /// The follower's version.
        theirs: u16,
    },
}

/// Why a proposal will never be committed (or, for `SnapshotCovered`, why this node
/// cannot tell). Reported by [`ConsensusEvent::ProposalRejected`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalRejection {
    /// This node is not the leader; `leader_hint` is the leader it knows, if any.
    #[error("not the leader (leader hint {leader_hint:?})")]
    NotLeader {
        /// The known leader.
        leader_hint: Option<NodeId>,
    },
    /// A leadership transfer is in progress.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// Another leader's entry (of `term`) was committed at the proposal's `index`.
    #[error("superseded: index {index} committed with another entry of term {term}")]
    Superseded {
        /// The index the proposal had taken.
        index: u64,
        /// Term of the entry committed there instead.
        term: u64,
    },
    /// A snapshot installed from the leader covered `index` before this node applied
    /// it; whether the proposal committed is unknown here (read the state to find out).
    #[error("outcome unknown: index {index} arrived inside a snapshot")]
    SnapshotCovered {
        /// The index the proposal had taken.
        index: u64,
    },
    /// The command would be refused when applied, against the members the whole log
    /// implies (committed state and uncommitted tail).
    #[error("invalid command: {refusal}")]
    Invalid {
        /// The refusal applying it would give.
        refusal: ApplyRefusal,
    },
    /// A change of the voter set at `index` is not committed yet: voters change one at
    /// a time.
    #[error("the voter change at index {index} is not committed yet")]
    ConfigChangePending {
        /// Index of the uncommitted change (in the log, or earlier in the same batch).
        index: u64,
    },
    /// This leader has committed no entry of its own `term` yet (its commit index is
    /// `commit_index`), so it may not change the voter set.
    #[error("no entry of term {term} committed yet (commit index {commit_index})")]
    LeaderTermUncommitted {
        /// The leader's term.
        term: u64,
        /// Its commit index.
        commit_index: u64,
    },
    /// An admission of a node whose measured binary the allowlist does not admit.
    #[error("{node} is not admitted: {refusal}")]
    NotAttested {
        /// The node.
        node: NodeId,
        /// Why its measurement does not admit it.
        refusal: crate::attestation::AttestationRefusal,
    },
    /// A cut-over to an admission token too few voters were heard holding: applied,
    /// it would cut the cluster off from a quorum.
    #[error("only {holders} of {voters} voters were heard holding admission token {token}; a majority must")]
    TokenNotHeldByQuorum {
        /// The digest the cut-over names.
        token: crate::digest::Digest,
        /// Voters heard holding it (the leader included).
        holders: u32,
        /// Voters.
        voters: u32,
    },
    /// A cut-over to an admission token this leader does not hold: applied, it would
    /// cut the leader off.
    #[error("this leader holds no admission token of digest {token}")]
    TokenNotHeld {
        /// The digest the cut-over names.
        token: crate::digest::Digest,
    },
    /// Forwarded to `leader`, which did not answer before this node stopped following
    /// it: it may yet commit (read the state to find out).
    #[error("forwarded to {leader}, which did not answer before another leader took over")]
    ForwardUnanswered {
        /// The leader it went to.
        leader: NodeId,
    },
    /// The leader has been silent too long to forward to.
    #[error(transparent)]
    LeaderSilent(forward::LeaderSilence),
    /// This node has `pending` forwarded proposals unanswered already; at most `max`.
    #[error("{pending} forwarded proposals await their leader's answer; at most {max}")]
    TooManyForwarded {
        /// Forwarded and unanswered.
        pending: usize,
        /// [`forward::FORWARDED_PENDING_MAX`].
        max: usize,
    },
    /// The command's log entry would be `bytes` long; entries hold at most `limit`.
    #[error("the command's entry is {bytes} bytes; entries hold at most {limit}")]
    TooLarge {
        /// Encoded entry size.
        bytes: usize,
        /// [`crate::limits::ENTRY_BYTES_MAX`].
        limit: usize,
    },
}

impl ProposalRejection {
    /// Whether the proposal will certainly never be committed. When not (the index
    /// arrived inside a snapshot, or the leader it was forwarded to was replaced before
    /// answering), it may have been: a client must read the state to find out.
    pub fn is_certain(&self) -> bool {
        !matches!(
            self,
            ProposalRejection::SnapshotCovered { .. } | ProposalRejection::ForwardUnanswered { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Follower,
    PreCandidate {
        granted: BTreeSet<NodeId>,
    },
    Candidate {
        granted: BTreeSet<NodeId>,
        /// The signed votes among `granted` (this node's own included).
        endorsements: BTreeMap<NodeId, endorsement::Endorsement>,
    },
    Leader(Box<Leadership>),
}

impl Role {
    /// The leadership, while leading: all a leader's handler borrows of the role.
    pub(crate) fn leadership(&self) -> Option<&Leadership> {
        match self {
            Role::Leader(leadership) => Some(leadership),
            _ => None,
        }
    }

    /// [`Self::leadership`], to change.
    pub(crate) fn leadership_mut(&mut self) -> Option<&mut Leadership> {
        match self {
            Role::Leader(leadership) => Some(leadership),
            _ => None,
        }
    }

    /// Whether leading.
    pub(crate) fn is_leader(&self) -> bool {
        matches!(self, Role::Leader(_))
    }
}

/// What consensus asks of its driver, in the order it must be carried out: a persist
/// is durable before any send produced after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Deliver `message` to the voter or learner `to`.
    Send {
        /// The receiving node.
        to: NodeId,
        /// What to deliver.
        message: RaftMessage,
    },
    /// Make the term and vote durable.
    PersistHardState(HardState),
    /// Make `entries` durable from `first_index`, dropping any stored entry at or after it.
    PersistEntries {
        /// Index of the first entry.
        first_index: u64,
        /// The entries, in index order.
        entries: Vec<Entry>,
    },
    /// Make the snapshot durable, dropping the entries it covers.
    PersistSnapshot(StoredSnapshot),
    /// Report to the application.
    Event(ConsensusEvent),
    /// A message was refused (counted and reported by the node).
    Refuse(ConsensusRefusal),
}

/// The consensus state of one node.
#[derive(Debug)]
pub struct Consensus {
    pub(crate) id: NodeId,
    pub(crate) epoch: NodeEpoch,
    pub(crate) cluster_id: ClusterId,
    pub(crate) config: ConsensusConfig,
    pub(crate) hard: HardState,
    pub(crate) log: RaftLog,
    pub(crate) commit_index: u64,
    pub(crate) state: ClusterState,
    pub(crate) snapshot: Option<StoredSnapshot>,
    pub(crate) incoming_snapshot: Option<snapshot::Assembly>,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) leader_contact_at: Option<Instant>,
    /// When this life began: for the election-timeout floor after it the node grants no
    /// vote, as if a leader were in contact (it may have followed one before it
    /// stopped, whose lease must not end early).
    pub(crate) started_at: Instant,
    pub(crate) election_deadline: Option<Instant>,
    pub(crate) heartbeat_deadline: Option<Instant>,
    pub(crate) maintenance_deadline: Option<Instant>,
    pub(crate) check_quorum_deadline: Option<Instant>,
    pub(crate) fence_seen: Fence,
    /// The leader seen for each recent term, for split-brain detection.
    pub(crate) leaders_seen: BTreeMap<u64, NodeId>,
    /// A leader this node's configuration does not make a voter, vouched for by a
    /// voter it does (a refused vote naming the leader it follows), with its term.
    pub(crate) vouched_leader: Option<(u64, NodeId)>,
    pub(crate) next_proposal_seq: u64,
    /// This life's proposals awaiting their outcome, by the log index they took (more
    /// than one where a leader that took one lost it and another took the index).
    pub(crate) pending_proposals: BTreeMap<u64, Vec<ProposalId>>,
    /// This life's proposals forwarded to a leader that has not answered yet (at most
    /// [`forward::FORWARDED_PENDING_MAX`]).
    pub(crate) forwarded: BTreeMap<ProposalId, forward::ForwardedTo>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) effects: Vec<Effect>,
    /// Encoded bytes of the entries applied since the last snapshot.
    pub(crate) applied_bytes_since_snapshot: u64,
    /// The state digest last computed, with the applied index it was computed at.
    pub(crate) digest_cache: Option<(u64, crate::digest::Digest)>,
    /// Holds the state's encoding while it is digested after an apply (kept: the
    /// state is encoded after every entry when `digest_on_apply` is on).
    pub(crate) digest_scratch: Vec<u8>,
    pub(crate) mutations: Mutations,
    /// Restored from a backup and not yet caught up with a leader.
    pub(crate) recovering: bool,
    /// Linearizable reads in flight.
    pub(crate) reads: reads::Reads,
    /// Who signs this node's votes (none: its votes are unsigned).
    pub(crate) signer: Option<crate::identity::NodeIdentity>,
    /// Digests of the admission tokens this node holds: a cut-over to another is not
    /// proposed (the leader would cut itself off).
    pub(crate) admission_tokens: Vec<crate::digest::Digest>,
    /// The trust anchors the latest snapshot holds.
    pub(crate) snapshot_anchors: snapshot::SnapshotAnchors,
    /// Changes each time the applied state's node keys may have changed (a key command
    /// applied, a snapshot installed): what a node compares instead of the keys.
    pub(crate) key_generation: u64,
    /// Peers' keys learnt from the rotations their hellos showed (at most
    /// [`PEER_CLAIMS_MAX`] peers).
    pub(crate) learned_keys: BTreeMap<NodeId, node_keys::LearnedKey>,
    /// What each peer last said of itself in an authenticated hello (at most
    /// [`PEER_CLAIMS_MAX`] peers).
    pub(crate) claims: BTreeMap<NodeId, PeerClaims>,
    /// This node's trust bundle digest: a candidate must say the same to be admitted.
    pub(crate) trust: Option<crate::digest::Digest>,
}

/// Most peers whose claims a node keeps.
pub const PEER_CLAIMS_MAX: usize = 4_096;

/// What a peer says of itself in its hellos.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerClaims {
    /// The binary it measured itself running.
    pub binary: Option<crate::attestation::BinaryDigest>,
    /// The admission tokens it holds, by public digest.
    pub tokens: Vec<crate::digest::Digest>,
    /// Its trust bundle's digest.
    pub trust: Option<crate::digest::Digest>,
}

/// A node's view of who coordinates the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinatorView {
    /// The node's current term.
    pub term: u64,
    /// The leader it follows (itself if leading), if any.
    pub leader: Option<NodeId>,
    /// This node's role.
    pub role: RoleKind,
    /// Whether the view is current: a leader with a valid lease, or a follower that
    /// heard from its leader within the election timeout.
    pub effective: bool,
    /// Why the view is stale, when it is.
    pub stale: Option<StaleLeader>,
}

/// Why a node's idea of the coordinator may be stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaleLeader {
    /// A leader whose quorum was last confirmed `since_ms` ago, past its lease.
    LeaseExpired {
        /// Milliseconds since the lease began.
        since_ms: u64,
        /// Lease length.
        lease_ms: u64,
    },
    /// A follower that last heard from its leader `silent_ms` ago.
    LeaderSilent {
        /// Milliseconds of silence.
        silent_ms: u64,
        /// Election timeout floor.
        timeout_ms: u64,
    },
    /// No leader known.
    NoLeader,
}

impl ConsensusConfig {
    /// Checks the rules between fields.
    pub fn validate(&self) -> Result<(), BoundError> {
        at_least("consensus.heartbeat_interval_ms", self.heartbeat_interval_ms, 1)?;
        at_least("consensus.append_entries_max", self.append_entries_max as u64, 1)?;
        at_most(
            "consensus.append_entries_max",
            self.append_entries_max as u64,
            crate::limits::APPEND_ENTRIES_MAX as u64,
        )?;
        at_least("consensus.append_bytes_max", self.append_bytes_max as u64, 1)?;
        at_most(
            "consensus.append_bytes_max",
            self.append_bytes_max as u64,
            crate::limits::ENTRY_BYTES_MAX as u64,
        )?;
        at_least("consensus.snapshot_chunk_bytes", self.snapshot_chunk_bytes as u64, 1)?;
        at_most(
            "consensus.snapshot_chunk_bytes",
            self.snapshot_chunk_bytes as u64,
            crate::limits::SNAPSHOT_CHUNK_BYTES_MAX as u64,
        )?;
        ordered(
            ("consensus.heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("consensus.election_timeout_ms_min", self.election_timeout_ms_min),
        )?;
        ordered(
            ("consensus.election_timeout_ms_min", self.election_timeout_ms_min),
            ("consensus.election_timeout_ms_max", self.election_timeout_ms_max),
        )
    }
}
