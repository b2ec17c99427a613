//! The facts a planner reads: the committed state, the soft telemetry the coordinator
//! holds, and the serving policy.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::index::CandidateIndex;
use super::serving::ServingPolicy;
use crate::backend::Telemetry;
use crate::devices::TelemetrySeen;
use crate::digest::Digest;
use crate::identity::{ClusterId, NodeId};
use crate::state::{ClusterState, LinkClass};
use crate::time::Instant;

pub use crate::backend::LinkTelemetry;

/// What placement reads.
#[derive(Clone, Copy)]
pub struct PlanningFacts<'a> {
    /// The cluster (hints from another cluster are ignored).
    pub cluster_id: ClusterId,
    /// The committed state.
    pub state: &'a ClusterState,
    /// Latest telemetry per node.
    pub telemetry: &'a dyn TelemetryLookup,
    /// Measured links, keyed by (smaller id, larger id).
    pub links_measured: &'a BTreeMap<(NodeId, NodeId), LinkTelemetry>,
    /// The serving policy in force.
    pub serving: &'a ServingPolicy,
    /// Members the coordinator has not heard from lately (ineligible).
    pub unreachable: Unreachable<'a>,
    /// Digests of `state` and `serving` (computed once per state, not per placement).
    pub digests: FactDigests,
    /// An index of `state` and `telemetry` that lets whole-request placement stop
    /// early (none: every member is visited).
    pub index: Option<&'a CandidateIndex>,
}

impl core::fmt::Debug for PlanningFacts<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PlanningFacts")
            .field("cluster_id", &self.cluster_id)
            .field("applied_index", &self.state.applied_index)
            .field("indexed", &self.index.is_some())
            .finish_non_exhaustive()
    }
}

/// Which members count as unreachable.
#[derive(Clone, Copy, Debug)]
pub enum Unreachable<'a> {
    /// Those listed.
    Listed(&'a BTreeSet<NodeId>),
    /// Those whose telemetry is older than `after_ms` at `now`, counting from `since`
    /// (the start of the leadership) for those never heard from; never `this_node`.
    SilentFor {
        /// When telemetry last arrived from each member.
        seen: &'a BTreeMap<NodeId, TelemetrySeen>,
        /// The planning node.
        this_node: NodeId,
        /// Start of the leadership.
        since: Instant,
        /// Now.
        now: Instant,
        /// Silence that makes a member unreachable.
        after_ms: u64,
    },
}

impl Unreachable<'_> {
    /// Whether `node` counts as unreachable.
    pub fn contains(&self, node: &NodeId) -> bool {
        match self {
            Unreachable::Listed(nodes) => nodes.contains(node),
            Unreachable::SilentFor {
                seen,
                this_node,
                since,
                now,
                after_ms,
            } => {
                let heard = seen.get(node).map_or(*since, |seen| seen.at.max(*since));
                node != this_node && now.saturating_since(heard).as_millis() > u128::from(*after_ms)
            }
        }
    }
}

/// Where a planner finds a member's latest telemetry.
pub trait TelemetryLookup {
    /// `node`'s latest telemetry, if any arrived.
    fn telemetry(&self, node: &NodeId) -> Option<&Telemetry>;
}

impl TelemetryLookup for BTreeMap<NodeId, crate::devices::TelemetrySeen> {
    fn telemetry(&self, node: &NodeId) -> Option<&Telemetry> {
        self.get(node).map(|seen| &seen.telemetry)
    }
}

impl TelemetryLookup for BTreeMap<NodeId, Telemetry> {
    fn telemetry(&self, node: &NodeId) -> Option<&Telemetry> {
        self.get(node)
    }
}

/// Digests of the facts placement reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactDigests {
    /// [`ClusterState::topology_digest`].
    pub topology: Digest,
    /// [`ClusterState::residency_digest`].
    pub residency: Digest,
    /// [`ServingPolicy::digest`].
    pub policy: Digest,
}

impl FactDigests {
    /// The digests of `state` and `serving`.
    pub fn of(state: &ClusterState, serving: &ServingPolicy) -> Self {
        Self {
            topology: state.topology_digest(),
            residency: state.residency_digest(),
            policy: serving.digest(),
        }
    }
}

/// What a sharded lane demands of every link it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPolicy {
    /// The worst declared class accepted (by [`link_class_rank`]).
    pub class_worst: LinkClass,
    /// Longest measured round trip accepted, when one was measured.
    pub rtt_us_max: Option<u32>,
    /// Least measured bandwidth accepted, when one was measured.
    pub bandwidth_mbps_min: Option<u32>,
}

/// Why a link between two selected nodes does not meet the lane's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkShortfall {
    /// No link class declared between them.
    Undeclared,
    /// The declared class is worse than the policy accepts.
    Class {
        /// Declared.
        declared: LinkClass,
        /// Worst accepted.
        worst: LinkClass,
    },
    /// The measured round trip is too long.
    Rtt {
        /// Measured.
        rtt_us: u32,
        /// Longest accepted.
        max: u32,
    },
    /// The measured bandwidth is too low.
    Bandwidth {
        /// Measured.
        bandwidth_mbps: u32,
        /// Least accepted.
        min: u32,
    },
}

/// A link that fails policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRefusal {
    /// One end (the smaller id).
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// What is wrong.
    pub shortfall: LinkShortfall,
}

/// Rank of a link class, best first: loopback 0, same host 1, RDMA 2, LAN 3, WAN 4.
pub const fn link_class_rank(class: LinkClass) -> u64 {
    match class {
        LinkClass::Loopback => 0,
        LinkClass::SameHost => 1,
        LinkClass::Rdma => 2,
        LinkClass::Lan => 3,
        LinkClass::Wan => 4,
    }
}

/// Cost weight of one class rank, so that a better class always beats any measured
/// round trip of a worse one.
const RANK_COST: u64 = 1 << 32;

impl PlanningFacts<'_> {
    /// The declared class of the link between `a` and `b`.
    pub fn link_class(&self, a: NodeId, b: NodeId) -> Option<LinkClass> {
        let (low, high) = ordered(a, b);
        self.state.links.get(&low).and_then(|peers| peers.get(&high)).copied()
    }

    /// The measured telemetry of the link between `a` and `b`.
    pub fn link_measured(&self, a: NodeId, b: NodeId) -> Option<LinkTelemetry> {
        self.links_measured.get(&ordered(a, b)).copied()
    }

    /// The cost of the link between `a` and `b` (class rank, then measured round
    /// trip), or why it fails `policy`.
    pub fn link_cost(&self, a: NodeId, b: NodeId, policy: &LinkPolicy) -> Result<u64, LinkRefusal> {
        let refuse = |shortfall| {
            let (a, b) = ordered(a, b);
            LinkRefusal { a, b, shortfall }
        };
        let declared = self.link_class(a, b).ok_or_else(|| refuse(LinkShortfall::Undeclared))?;
        let rank = link_class_rank(declared);
        if rank > link_class_rank(policy.class_worst) {
            return Err(refuse(LinkShortfall::Class {
                declared,
                worst: policy.class_worst,
            }));
        }
        let measured = self.link_measured(a, b);
        if let (Some(seen), Some(max)) = (measured, policy.rtt_us_max)
            && seen.rtt_us > max
        {
            return Err(refuse(LinkShortfall::Rtt {
                rtt_us: seen.rtt_us,
                max,
            }));
        }
        if let (Some(bandwidth_mbps), Some(min)) =
            (measured.and_then(|seen| seen.bandwidth_mbps), policy.bandwidth_mbps_min)
            && bandwidth_mbps < min
        {
            return Err(refuse(LinkShortfall::Bandwidth { bandwidth_mbps, min }));
        }
        Ok(rank * RANK_COST + measured.map_or(0, |seen| u64::from(seen.rtt_us)))
    }
}

/// `(a, b)` as (smaller, larger).
pub fn ordered(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    if a <= b { (a, b) } else { (b, a) }
}
