//! The outcome of a simulated run.

use std::collections::BTreeMap;

use psionic_core::{NodeEpoch, NodeId, RefusalKind};
use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// A safety property was broken.
    SafetyViolation,
    /// A condition was not reached in time (or a requested fault had no effect).
    LivenessFailure,
    /// The simulation panicked.
    Crash,
}

/// A condition a scenario waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "kebab-case")]
pub enum Condition {
    /// Every live honest node sees every other live honest node as reachable.
    FullMembership,
    /// Exactly one live node leads, and every live node follows it.
    OneLeader,
    /// Every live node applied at least `index`, with equal state digests.
    Converged {
        /// Index every live node must reach.
        index: u64,
    },
    /// An entry of a term after `term` was committed (by a new leader).
    CommittedAfterTerm {
        /// The crashed leader's term.
        term: u64,
    },
    /// A live node leads by its own account and a majority of the honest nodes
    /// follow it (an isolated minority may still disagree).
    QuorumLeader,
    /// Every live honest node has committed every live honest node's readiness as
    /// that node's driver reports it now.
    ReadinessCommitted,
    /// Every inference request submitted so far has ended (completed or refused).
    RequestsSettled,
    /// Every copy a `stage` step asked of a live node ended resident or failed in
    /// every live node's view.
    StagingEnded,
    /// Every copy a `stage` step asked of a live node ended resident in every live
    /// node's view.
    Staged,
    /// `node`'s disk holds part of a copy a `stage` step asked of it.
    Copying {
        /// The node.
        node: String,
    },
    /// Every live honest node's applied state holds `count` voters.
    Voters {
        /// How many.
        count: usize,
    },
    /// `node` installed a snapshot sent by its leader.
    SnapshotInstalled {
        /// The node.
        node: String,
    },
    /// Every other live honest node sees `subject` as unreachable, and `subject` sees
    /// every one of them as unreachable.
    Isolated {
        /// The isolated node.
        subject: String,
    },
    /// Every other live honest node knows `subject` reachable, in the epoch of its
    /// `life`-th start or a later one.
    Rejoined {
        /// The restarted node.
        subject: String,
        /// Its start (1: the first).
        life: u64,
    },
    /// Every live honest node's applied state has `node`'s key rotated at least
    /// `rotations` times, none retiring.
    KeyRetired {
        /// The node.
        node: String,
        /// Rotations applied.
        rotations: u64,
    },
    /// `viewer` refused a frame from `sender` by the rule `kind`.
    Refused {
        /// Who must refuse.
        viewer: String,
        /// Who sent.
        sender: NodeId,
        /// The rule.
        kind: RefusalKind,
    },
}

/// A broken property, with the values that broke it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "violation", rename_all = "kebab-case")]
pub enum Violation {
    /// A node that was refused admission appears in a node's peer table.
    RefusedPeerListed {
        /// The node that listed it.
        viewer: String,
        /// The refused node.
        peer: NodeId,
        /// When.
        at_ms: u64,
    },
    /// A restarted node came back with another id.
    IdentityChanged {
        /// The node.
        node: String,
        /// Id before.
        before: NodeId,
        /// Id after.
        after: NodeId,
    },
    /// A restarted node did not advance its epoch.
    EpochNotAdvanced {
        /// The node.
        node: String,
        /// Epoch before.
        before: NodeEpoch,
        /// Epoch after.
        after: NodeEpoch,
    },
    /// A condition was not reached by its deadline.
    NotReached {
        /// The condition.
        condition: Condition,
        /// When it was first awaited.
        since_ms: u64,
        /// The deadline.
        deadline_ms: u64,
    },
    /// A node's state records a member resident for an artifact whose bytes that
    /// member's disk does not hold.
    ResidentNotHeld {
        /// The node whose state says so.
        viewer: String,
        /// The member.
        node: String,
        /// The artifact.
        artifact: psionic_core::Digest,
    },
    /// Two leaders for one term.
    TwoLeaders {
        /// The term.
        term: u64,
        /// Leader seen first.
        first: NodeId,
        /// Leader seen second.
        second: NodeId,
        /// When.
        at_ms: u64,
    },
    /// A node applied a different entry at an index another node applied first.
    CommittedEntryChanged {
        /// The index.
        index: u64,
        /// Who applied it first.
        first_node: String,
        /// Who applied something else.
        node: String,
        /// When.
        at_ms: u64,
    },
    /// Same index, same entry, different state digest.
    StateDivergence {
        /// The index.
        index: u64,
        /// Who applied it first.
        first_node: String,
        /// Who reached another state.
        node: String,
        /// When.
        at_ms: u64,
    },
    /// Two logs hold an entry with the same index and term but different prefixes.
    LogMismatch {
        /// The index.
        index: u64,
        /// The term.
        term: u64,
        /// Who persisted it first.
        first_node: String,
        /// Whose prefix differs.
        node: String,
        /// When.
        at_ms: u64,
    },
    /// A node truncated its log at or below an index it had applied.
    AppliedEntryTruncated {
        /// The node.
        node: String,
        /// First index it overwrote.
        index: u64,
        /// Highest index it had applied.
        applied: u64,
        /// When.
        at_ms: u64,
    },
    /// A new leader lacks an entry committed before its term.
    LeaderIncomplete {
        /// The leader.
        leader: String,
        /// Its term.
        term: u64,
        /// The committed index it lacks.
        index: u64,
        /// Term of the committed entry.
        committed_term: u64,
        /// Term it holds there, if any.
        held_term: Option<u64>,
        /// When.
        at_ms: u64,
    },
    /// A node applied the admission of a peer that was refused.
    RefusedPeerAdmitted {
        /// The node that applied it.
        node: String,
        /// The refused peer.
        peer: NodeId,
        /// Index of the admission.
        index: u64,
        /// When.
        at_ms: u64,
    },
    /// A node followed a refused peer as leader, or took its decision.
    RefusedPeerFollowed {
        /// The node that followed it.
        node: String,
        /// The refused peer.
        peer: NodeId,
        /// The term it was followed in.
        term: u64,
        /// When.
        at_ms: u64,
    },
    /// A decision was accepted under a fence older than one the node had seen.
    StaleDecisionAccepted {
        /// The node.
        node: String,
        /// The decision's fence.
        fence: u64,
        /// Newest seen.
        seen: u64,
        /// When.
        at_ms: u64,
    },
    /// A submitted inference request never ended (neither completed nor refused).
    RequestNeverEnded {
        /// The request.
        request: psionic_core::RequestId,
    },
    /// A request completed on more than one node.
    RequestRanTwice {
        /// The request.
        request: psionic_core::RequestId,
        /// The nodes that completed it.
        nodes: Vec<String>,
    },
    /// The clients' history (writes, linearizable reads) is not linearizable: no order
    /// of the operations on `key` explains what they returned.
    NotLinearizable {
        /// The key.
        key: String,
        /// A minimal failing sub-history, one operation a line, in call order.
        operations: Vec<String>,
    },
    /// A serializable read answered with a state no node reached by applying the
    /// committed log up to the index the answer named.
    ServedUncommittedState {
        /// The node read.
        node: String,
        /// The applied index it answered at.
        index: u64,
        /// The state digest it answered.
        digest: psionic_core::Digest,
        /// The digest applying the committed log to `index` gives.
        committed: psionic_core::Digest,
    },
    /// An acknowledged proposal is missing at the end.
    AcknowledgedCommitLost {
        /// Proposal, as `node/epoch/seq`.
        proposal: String,
        /// Index it was acknowledged at.
        index: u64,
    },
    /// A node refused to start from a data directory nobody damaged.
    StartRefused {
        /// The node.
        node: String,
        /// Its error.
        error: String,
    },
    /// A step's fault could not be applied, or never took effect.
    FaultNotApplied {
        /// Line of the step in the scenario file.
        line: usize,
        /// The step's action.
        action: String,
        /// Why.
        reason: NotApplied,
    },
    /// The simulation panicked.
    Panic {
        /// The panic message.
        message: String,
    },
    /// Streamed tokens that are not the request's answer at their offset (every
    /// simulated executor produces the same tokens for the same request).
    StreamedTokensDiffer {
        /// The request.
        request: psionic_core::RequestId,
        /// The node they were handed to.
        node: String,
        /// Their offset.
        offset: u32,
        /// When.
        at_ms: u64,
    },
}

impl Violation {
    /// Whether this breaks safety (as opposed to liveness, or a crash).
    pub fn is_safety(&self) -> bool {
        !matches!(
            self,
            Violation::NotReached { .. } | Violation::FaultNotApplied { .. } | Violation::Panic { .. }
        )
    }
}

/// Why a requested fault did not happen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum NotApplied {
    /// No live node leads.
    NoLeader,
    /// No live node other than those already chosen (and the leader, for a follower).
    NoOtherLiveNode,
    /// No node is down to restart.
    NoKilledNode,
    /// The named node is not in this run (the seed chose fewer nodes).
    NoSuchNode {
        /// The name.
        name: String,
    },
    /// `same` was used before any step named a node.
    NoEarlierTarget,
    /// The node is not in the state the step needs (killed, paused, ...).
    WrongState {
        /// The node.
        node: String,
    },
    /// The fault was set but never fired (for example, no datagram was duplicated).
    NeverFired,
    /// An operator command did not commit within its bound; its last outcome.
    NotCommitted {
        /// What came of it.
        outcome: String,
    },
    /// The leader refused an operator command for good.
    Rejected {
        /// Why.
        reason: psionic_core::consensus::ProposalRejection,
    },
    /// An operator command committed, but applying it changed nothing.
    RefusedAtApply {
        /// Why.
        refusal: psionic_core::state::ApplyRefusal,
    },
    /// The named voter did not take over within the bound.
    NotTransferred {
        /// The voter.
        to: String,
    },
    /// A refusal the step awaited did not come: a node whose data directory was
    /// damaged started anyway, or a cut-over only the node's token holders could
    /// follow committed.
    NotRefused {
        /// The node.
        node: String,
    },
    /// A node made no key rotation record: what it said.
    NotStaged {
        /// The node.
        node: String,
        /// What it said.
        said: String,
    },
}

/// Everything a run reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Outcome.
    pub outcome: Outcome,
    /// Hex SHA-256 of the trace.
    pub digest: String,
    /// Simulated time at the end.
    pub sim_time_ms: u64,
    /// Honest nodes in the run (the seed picks it where the scenario gives a range).
    pub nodes: usize,
    /// The bug planted in every node, if any (simulation builds only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mutation: Option<String>,
    /// Broken properties, in the order found.
    pub violations: Vec<Violation>,
    /// Faults injected, in order.
    pub faults: usize,
    /// Frames every node handed to its transports.
    #[serde(default)]
    pub frames_sent: FramesSent,
    /// Conditions awaited and reached, with the time each took.
    pub reached: Vec<Reached>,
    /// Per leader crash: milliseconds from the crash to the first entry committed by
    /// a new leader.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub failover_ms: Vec<u64>,
    /// Proposals the workload saw acknowledged.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proposals_committed: Option<u64>,
    /// Acknowledged proposals missing at the end (must be 0).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proposals_lost: Option<u64>,
    /// The inference requests submitted and how they ended, when a request workload
    /// ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<RequestCounts>,
    /// The links the leader held measurements of at the end, when a leader lived.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub links: Option<LinkCounts>,
}

/// A condition that was reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The condition.
    pub condition: Condition,
    /// Simulated milliseconds from when it was awaited to when it held.
    pub after_ms: u64,
}

impl Report {
    /// The outcome implied by `violations`, unless the run crashed.
    pub fn outcome_of(violations: &[Violation]) -> Outcome {
        if violations
            .iter()
            .any(|violation| matches!(violation, Violation::Panic { .. }))
        {
            Outcome::Crash
        } else if violations.iter().any(Violation::is_safety) {
            Outcome::SafetyViolation
        } else if violations.is_empty() {
            Outcome::Pass
        } else {
            Outcome::LivenessFailure
        }
    }

    /// The command that reproduces this run.
    pub fn reproduce_command(&self) -> String {
        let mutation = self
            .mutation
            .as_ref()
            .map(|mutation| format!(" --mutation {mutation}"))
            .unwrap_or_default();
        format!("cargo sim run {} --seed {}{mutation}", self.scenario, self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_protocol_property_is_a_safety_violation_and_a_missed_deadline_is_not() {
        let two_leaders = Violation::TwoLeaders {
            term: 3,
            first: NodeId([1; 16]),
            second: NodeId([2; 16]),
            at_ms: 10,
        };
        let missed = Violation::NotReached {
            condition: Condition::OneLeader,
            since_ms: 0,
            deadline_ms: 1,
        };
        assert_eq!(
            Report::outcome_of(std::slice::from_ref(&missed)),
            Outcome::LivenessFailure
        );
        assert_eq!(Report::outcome_of(&[missed, two_leaders]), Outcome::SafetyViolation);
    }
}

/// Measured links, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCounts {
    /// Member pairs with a measured round trip.
    pub pairs: u64,
    /// Of those, pairs with a measured bandwidth.
    pub with_bandwidth: u64,
    /// Shortest and longest round trip.
    pub rtt_us_range: (u32, u32),
    /// Lowest and highest bandwidth.
    pub bandwidth_mbps_range: (u32, u32),
}

impl LinkCounts {
    /// Counts over `links`.
    pub fn of<'a>(links: impl Iterator<Item = &'a psionic_core::backend::LinkTelemetry>) -> Self {
        let mut counts = LinkCounts {
            rtt_us_range: (u32::MAX, 0),
            bandwidth_mbps_range: (u32::MAX, 0),
            ..LinkCounts::default()
        };
        for link in links {
            counts.pairs += 1;
            counts.rtt_us_range = (
                counts.rtt_us_range.0.min(link.rtt_us),
                counts.rtt_us_range.1.max(link.rtt_us),
            );
            if let Some(mbps) = link.bandwidth_mbps {
                counts.with_bandwidth += 1;
                let (low, high) = counts.bandwidth_mbps_range;
                counts.bandwidth_mbps_range = (low.min(mbps), high.max(mbps));
            }
        }
        counts
    }
}

/// Counts of a request workload, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Requests submitted.
    pub submitted: u64,
    /// Completed.
    pub completed: u64,
    /// Refused with a reason.
    pub refused: u64,
    /// Refusals, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Reroutes, by reason.
    pub reroutes: BTreeMap<String, u64>,
    /// Submissions answered `coordinator-deposed` (and submitted again).
    pub deposed: u64,
}

/// Frames the nodes handed to their transports, by transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FramesSent {
    /// Datagrams.
    pub datagrams: u64,
    /// Frames on peer streams.
    pub stream: u64,
    /// Bytes of every frame of both.
    pub bytes: u64,
    /// Of those, the bytes their tags authenticate.
    #[serde(default)]
    pub authenticated_bytes: u64,
}

impl FramesSent {
    /// Frames of both transports.
    pub fn total(&self) -> u64 {
        self.datagrams + self.stream
    }

    /// Adds the counts of `other`.
    pub fn add(&mut self, other: FramesSent) {
        self.datagrams += other.datagrams;
        self.stream += other.stream;
        self.bytes += other.bytes;
        self.authenticated_bytes += other.authenticated_bytes;
    }

    /// Counts `transmit`.
    pub fn count(&mut self, transmit: &psionic_core::Transmit) {
        match transmit.class {
            psionic_core::TransportClass::Datagram => self.datagrams += 1,
            psionic_core::TransportClass::Stream => self.stream += 1,
        }
        self.bytes += transmit.bytes.len() as u64;
        self.authenticated_bytes += transmit.authenticated_len as u64;
    }
}
