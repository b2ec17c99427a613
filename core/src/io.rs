//! What goes into a core and what comes out.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::consensus::{
    Authority, CatchupDisposition, Entry, HardState, ProposalRejection, RoleKind, StepDownReason, StoredSnapshot,
};
use crate::digest::Digest;
use crate::discovery::PeerHealth;
use crate::dispatch::RequestOutcome;
use crate::identity::{NodeEpoch, NodeId, NodeRole, RequestId};
use crate::plan::RerouteReason;
use crate::refusal::Refusal;
use crate::serving::Decision;
use crate::state::{ApplyRefusal, ClusterEvent, ProposalId};

/// An input to [`crate::Node::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A datagram arrived from `from`.
    Datagram {
        /// Source address.
        from: SocketAddr,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A frame arrived on a peer stream whose remote end is `from` (not the peer's
    /// discovery address: it is not used to reach the sender).
    Stream {
        /// Remote end of the stream.
        from: SocketAddr,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Frames that arrived on peer streams since the last input, in arrival order:
    /// handled as that many [`Input::Stream`]s, with their signatures verified as one
    /// batch where the posture allows.
    Streams {
        /// Remote end of each frame's stream, and the frame.
        frames: Vec<(SocketAddr, Vec<u8>)>,
    },
    /// The deadline returned by [`crate::Node::poll_timeout`] was reached.
    Timeout,
}

impl Input {
    /// What `transmit`, sent from `from`, is at its receiver when a transport hands
    /// the bytes over unchanged (in-memory clusters, tests).
    pub fn delivered(from: SocketAddr, transmit: Transmit) -> Self {
        match transmit.class {
            TransportClass::Datagram => Input::Datagram {
                from,
                bytes: transmit.bytes,
            },
            TransportClass::Stream => Input::Stream {
                from,
                bytes: transmit.bytes,
            },
        }
    }
}

/// An output from [`crate::Node::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "outputs must be carried out by the driver"]
pub enum Output {
    /// Send bytes to a peer.
    Transmit(Transmit),
    /// Something happened that the application may want to know.
    Event(Event),
    /// Make the term and vote durable. Must complete before any transmit that follows.
    PersistHardState(HardState),
    /// Make entries durable: drop stored entries from `first_index` on, then append
    /// `entries` (which start at `first_index`). Must complete before any transmit
    /// that follows.
    PersistEntries {
        /// Index of the first entry.
        first_index: u64,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// Make a snapshot durable; stored entries up to its index may then be dropped (all
    /// of them, if the log disagrees with the snapshot at its index). Must complete
    /// before any transmit that follows.
    PersistSnapshot(StoredSnapshot),
    /// Run a job on this node's executor; hand its outcome back with
    /// [`crate::Node::execution_ended`].
    RunJob(crate::serving::Job),
    /// Stop the job of `request` (its coordinator cancelled it, gave it up, or was
    /// deposed): its outcome is no longer wanted.
    StopJob {
        /// The request.
        request: RequestId,
    },
}

/// How a transmit must travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportClass {
    /// One UDP datagram, best effort.
    Datagram,
    /// One length-prefixed frame on a TCP stream to the peer (consensus traffic).
    Stream,
}

/// Bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Transport.
    pub class: TransportClass,
    /// A complete authenticated frame.
    pub bytes: Vec<u8>,
    /// Length of the prefix of `bytes` its tag authenticates (the encoded body); the
    /// tag and any detached bytes follow it.
    pub authenticated_len: usize,
}

/// Observable facts, in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A peer authenticated for the first time (or again after it expired).
    PeerDiscovered {
        /// The peer.
        peer: NodeId,
        /// Where it speaks from.
        addr: SocketAddr,
        /// Its role.
        role: NodeRole,
        /// Its epoch.
        epoch: NodeEpoch,
    },
    /// A peer's health changed.
    PeerHealthChanged {
        /// The peer.
        peer: NodeId,
        /// Before.
        from: PeerHealth,
        /// After.
        to: PeerHealth,
    },
    /// A known peer came back with a newer epoch.
    PeerRestarted {
        /// The peer.
        peer: NodeId,
        /// Epoch before.
        from: NodeEpoch,
        /// Epoch now.
        to: NodeEpoch,
    },
    /// A known peer now speaks from another address.
    PeerAddressChanged {
        /// The peer.
        peer: NodeId,
        /// Before.
        from: SocketAddr,
        /// After.
        to: SocketAddr,
    },
    /// A peer was silent for `peer_expiry_ms` and left the peer table.
    PeerExpired {
        /// The peer.
        peer: NodeId,
        /// How long it had been silent.
        silent_ms: u64,
    },
    /// A frame was refused.
    Refused {
        /// Source address of the frame.
        from: SocketAddr,
        /// Why.
        refusal: Refusal,
    },
    /// This node's key rotation applied: from now on it seals frames and signs votes
    /// and evidence with `key` (the staged key; the driver keeps it as the node's key).
    KeyRotated {
        /// The key in force.
        key: crate::identity::PublicKey,
    },
    /// This node's consensus role changed.
    RoleChanged {
        /// Its term.
        term: u64,
        /// The new role.
        role: RoleKind,
    },
    /// A leader for `term` became known (this node, when it won).
    LeaderElected {
        /// The term.
        term: u64,
        /// The leader.
        leader: NodeId,
    },
    /// This node stopped leading.
    SteppedDown {
        /// The term it led.
        term: u64,
        /// Why.
        reason: StepDownReason,
    },
    /// Two different leaders were seen for one term. Never happens with a correct
    /// protocol; the simulator treats it as a safety violation.
    SplitBrain {
        /// The term.
        term: u64,
        /// Leader seen first.
        first: NodeId,
        /// Leader seen second.
        second: NodeId,
    },
    /// An append tried to replace a committed entry and was refused. Never happens
    /// with a correct protocol.
    CommittedEntryConflict {
        /// The index.
        index: u64,
    },
    /// A committed entry was applied.
    Applied {
        /// Its index.
        index: u64,
        /// Its term.
        term: u64,
        /// The fact it became.
        fact: ClusterEvent,
        /// State digest after applying (when configured).
        state_digest: Option<Digest>,
    },
    /// A proposal made on this node was committed and applied (its acknowledgement).
    ProposalCommitted {
        /// The proposal.
        id: ProposalId,
        /// Its index.
        index: u64,
        /// Why applying it changed nothing, if it did not take effect (the log
        /// changed between proposal and apply).
        refusal: Option<ApplyRefusal>,
    },
    /// A proposal made on this node will not be committed (or, for
    /// [`ProposalRejection::SnapshotCovered`], its outcome cannot be told here).
    ProposalRejected {
        /// The proposal.
        id: ProposalId,
        /// Why.
        reason: ProposalRejection,
    },
    /// The leader changed how it brings `peer` up to date.
    Catchup {
        /// The follower.
        peer: NodeId,
        /// How.
        disposition: CatchupDisposition,
    },
    /// A linearizable read may now be answered from the applied state: it holds
    /// everything committed before the read began (`index`, the read index).
    ReadReady {
        /// The read.
        id: crate::consensus::reads::ReadId,
        /// Its read index.
        index: u64,
    },
    /// A linearizable read could not be answered (it may be asked again).
    ReadRefused {
        /// The read.
        id: crate::consensus::reads::ReadId,
        /// Why.
        reason: crate::consensus::reads::ReadRefusal,
    },
    /// Leader: a leadership transfer to `to` was not done within an election timeout
    /// and was given up; proposals are taken again.
    TransferGivenUp {
        /// The leader's term.
        term: u64,
        /// The target.
        to: NodeId,
    },
    /// A node restored from a backup caught up with `leader` of `term` (its log holds
    /// the leader's commit index `commit_index`): it votes again from the next term on.
    /// The driver clears its restored mark once the persists before this are done.
    Recovered {
        /// The leader's term.
        term: u64,
        /// The leader.
        leader: NodeId,
        /// The leader's commit index this node's log covers.
        commit_index: u64,
    },
    /// A snapshot was taken and the log compacted.
    SnapshotTaken {
        /// Last included index.
        index: u64,
        /// Its term.
        term: u64,
    },
    /// A snapshot from the leader was verified and installed.
    SnapshotInstalled {
        /// Last included index.
        index: u64,
        /// Its term.
        term: u64,
        /// Digest of the installed state.
        state_digest: Digest,
    },
    /// A stamped decision from the current leadership was accepted (an assignment
    /// also passed this node's checks: the driver runs it and reports the outcome).
    DecisionAccepted {
        /// Its authority.
        authority: Authority,
        /// The decision.
        decision: Decision,
    },
    /// Leader: a request left the node it was assigned to and was placed again (or
    /// refused, reported by [`Event::RequestFinished`]).
    RequestRerouted {
        /// The request.
        request: RequestId,
        /// The node it left.
        from: NodeId,
        /// Why.
        reason: RerouteReason,
    },
    /// Executing node: an assignment ended here and was reported to its coordinator.
    ExecutionEnded {
        /// The request.
        request: RequestId,
        /// The coordinator it was reported to.
        coordinator: NodeId,
        /// Whether it ran to completion (else it was refused, failed or cancelled).
        completed: bool,
    },
    /// A request this node forwarded to its leader was placed there.
    RequestPlaced {
        /// The request.
        request: RequestId,
        /// Where.
        placement: Box<crate::plan::Placement>,
    },
    /// A request this node forwarded to its leader was not taken.
    RequestSubmitRefused {
        /// The request.
        request: RequestId,
        /// Why.
        refusal: crate::dispatch::SubmitRefusal,
    },
    /// Leader (or the node that forwarded it): a request ended.
    RequestFinished {
        /// The request.
        request: RequestId,
        /// How.
        outcome: RequestOutcome,
    },
}
