//! Replicated serving: a model's replica set, declared in the log, serves each
//! request from its least-loaded warm replica; the other warm replicas stand by and
//! take over, in order, when the selected one fails.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::eligibility::{Candidate, Ineligible, candidate};
use super::facts::PlanningFacts;
use super::refusal::PlacementRefusal;
use super::topology::{ExecutionTopologyPlan, Placement, SelectedDevice};
use super::whole_request::{RequestNeeds, refuse_exhausted};
use crate::backend::Lane;
use crate::identity::NodeId;
use crate::state::Residency;

/// A replica's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicaWarmth {
    /// Eligible to serve now.
    Warm,
    /// Ready apart from the model, which is being staged.
    Warming {
        /// Staging progress, per mille.
        progress_per_mille: u16,
    },
    /// Not serving, for this reason.
    Cold {
        /// Why.
        reason: Ineligible,
    },
}

/// Routes a request for `request.artifact` to the least-loaded warm replica (shortest
/// queue, then most free memory, then lowest id), refusing when fewer replicas are
/// warm than the set's minimum. `excluded` (replicas already tried) count as cold, so
/// placing again after a failure promotes the first standby.
pub fn place_replicated(
    facts: &PlanningFacts<'_>,
    request: &RequestNeeds,
    excluded: &BTreeSet<NodeId>,
) -> Result<Placement, PlacementRefusal> {
    refuse_exhausted(facts, excluded)?;
    let set = facts
        .state
        .replica_sets
        .get(&request.artifact)
        .ok_or(PlacementRefusal::NoReplicaSet {
            artifact: request.artifact,
        })?;
    let need = request.need(Lane::Replicated, excluded);
    let mut warm = Vec::new();
    let mut replicas = BTreeMap::new();
    for node in &set.replicas {
        let checked = match facts.state.members.get(node) {
            Some(member) => candidate(facts, *node, member, &need),
            None => Err(Ineligible::NotAMember),
        };
        let warmth = match checked {
            Ok(found) => {
                warm.push(found);
                ReplicaWarmth::Warm
            }
            Err(reason) => warmth_of(reason),
        };
        replicas.insert(*node, warmth);
    }
    let warm_count = u32::try_from(warm.len()).unwrap_or(u32::MAX);
    if warm_count < set.warm_min || warm.is_empty() {
        return Err(PlacementRefusal::WarmBelowMinimum {
            warm: warm_count,
            warm_min: set.warm_min,
            replicas,
        });
    }
    warm.sort_by_key(|replica| {
        (
            replica.queue_depth,
            core::cmp::Reverse(replica.free_memory_bytes()),
            replica.node,
        )
    });
    let standbys = warm[1..].iter().map(SelectedDevice::from).collect();
    let plan = ExecutionTopologyPlan::Replicated {
        artifact: request.artifact,
        selected: SelectedDevice::from(&warm[0]),
        standbys,
        warm_min: set.warm_min,
    };
    let selected: [&Candidate<'_>; 1] = [&warm[0]];
    Ok(Placement::new(facts, plan, &selected))
}

/// A replica that is not warm: warming when only the model's staging stands between
/// it and serving.
fn warmth_of(reason: Ineligible) -> ReplicaWarmth {
    match reason {
        Ineligible::Artifact {
            residency: Some(staging @ Residency::Staging { .. }),
        } => ReplicaWarmth::Warming {
            progress_per_mille: staging.progress_per_mille().unwrap_or(0),
        },
        reason => ReplicaWarmth::Cold { reason },
    }
}

#[cfg(test)]
mod tests;
