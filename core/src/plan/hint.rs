//! Placement hints from an outside planner: they may only choose among candidates the
//! planner already ranks equal, and are ignored when made for another cluster or
//! another topology.

use serde::{Deserialize, Serialize};

use super::eligibility::Candidate;
use super::facts::PlanningFacts;
use crate::digest::Digest;
use crate::identity::{ClusterId, NodeId};

/// An outside planner's preference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementHint {
    /// The cluster it was made for.
    pub cluster_id: ClusterId,
    /// The topology digest it was made from.
    pub topology_digest: Digest,
    /// Nodes in order of preference.
    pub preferred: Vec<NodeId>,
}

/// What became of a hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HintOutcome {
    /// It chose `node` among the tied best candidates.
    Accepted {
        /// The node chosen.
        node: NodeId,
    },
    /// It had no effect.
    Ignored {
        /// Why.
        reason: HintIgnored,
    },
}

/// Why a hint had no effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HintIgnored {
    /// Made for another cluster.
    ClusterMismatch {
        /// This cluster.
        expected: ClusterId,
        /// The hint's.
        hinted: ClusterId,
    },
    /// Made from another topology.
    TopologyMismatch {
        /// The topology now.
        current: Digest,
        /// The hint's.
        hinted: Digest,
    },
    /// None of its nodes is among the best candidates, which tie.
    NotAmongBest {
        /// The best candidates.
        tied: Vec<NodeId>,
    },
}

/// Chooses among `tied` (the best candidates, equal in rank, in id order; never
/// empty): the hint's first preferred node among them, else the first.
pub(crate) fn choose<'c, 'a>(
    facts: &PlanningFacts<'_>,
    tied: &[&'c Candidate<'a>],
    hint: Option<&PlacementHint>,
) -> (&'c Candidate<'a>, Option<HintOutcome>) {
    let first = tied[0];
    let Some(hint) = hint else {
        return (first, None);
    };
    let ignored = |reason| (first, Some(HintOutcome::Ignored { reason }));
    if hint.cluster_id != facts.cluster_id {
        return ignored(HintIgnored::ClusterMismatch {
            expected: facts.cluster_id,
            hinted: hint.cluster_id,
        });
    }
    let current = facts.digests.topology;
    if hint.topology_digest != current {
        return ignored(HintIgnored::TopologyMismatch {
            current,
            hinted: hint.topology_digest,
        });
    }
    let chosen = hint
        .preferred
        .iter()
        .find_map(|node| tied.iter().find(|candidate| candidate.node == *node));
    match chosen {
        Some(candidate) => (candidate, Some(HintOutcome::Accepted { node: candidate.node })),
        None => ignored(HintIgnored::NotAmongBest {
            tied: tied.iter().map(|candidate| candidate.node).collect(),
        }),
    }
}
