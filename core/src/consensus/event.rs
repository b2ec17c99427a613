//! What consensus reports to the node's driver.

use serde::{Deserialize, Serialize};

use super::reads::{ReadId, ReadRefusal};
use super::{CatchupDisposition, ProposalRejection, RoleKind, StepDownReason};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ApplyRefusal, ClusterEvent, ProposalId};

/// What consensus observed, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ConsensusEvent {
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
        id: ReadId,
        /// Its read index.
        index: u64,
    },
    /// A linearizable read could not be answered (it may be asked again).
    ReadRefused {
        /// The read.
        id: ReadId,
        /// Why.
        reason: ReadRefusal,
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
}
