//! Whole-request placement: one node runs the request on one device (or the CPU).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::eligibility::{Candidate, Ineligible, Need, candidate};
use super::facts::PlanningFacts;
use super::hint::{self, PlacementHint};
use super::refusal::PlacementRefusal;
use super::topology::{ExecutionTopologyPlan, Placement, PlacementNote, SelectedDevice};
use crate::backend::{Backend, Lane};
use crate::digest::Digest;
use crate::identity::NodeId;

/// What a request needs of the node that runs it whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestNeeds {
    /// The model's artifact, which must be resident on the node.
    pub artifact: Digest,
    /// Backends acceptable, most preferred first (never empty).
    pub backends: Vec<Backend>,
    /// Device memory the request needs on one device (ignored without devices).
    pub device_memory_bytes: u64,
}

impl RequestNeeds {
    pub(crate) fn need<'a>(&'a self, lane: Lane, excluded: &'a BTreeSet<NodeId>) -> Need<'a> {
        Need {
            lane,
            artifact: self.artifact,
            backends: &self.backends,
            device_memory_bytes: self.device_memory_bytes,
            excluded,
        }
    }
}

/// Places a request on the eligible node with the most free memory on one device
/// (none counts as zero), then the shortest queue; among nodes tied on both the hint
/// chooses, else the lowest id. `excluded` are nodes already tried for it.
pub fn place_whole_request(
    facts: &PlanningFacts<'_>,
    request: &RequestNeeds,
    excluded: &BTreeSet<NodeId>,
    hint: Option<&PlacementHint>,
) -> Result<Placement, PlacementRefusal> {
    refuse_exhausted(facts, excluded)?;
    let need = request.need(Lane::WholeRequest, excluded);
    let (candidates, ineligible) = eligible(facts, &need);
    let rank = |candidate: &Candidate<'_>| (candidate.free_memory_bytes(), core::cmp::Reverse(candidate.queue_depth));
    let Some(best) = candidates.iter().map(rank).max() else {
        return Err(PlacementRefusal::NoEligibleNode {
            lane: Lane::WholeRequest,
            ineligible,
        });
    };
    let tied: Vec<_> = candidates.iter().filter(|candidate| rank(candidate) == best).collect();
    let (chosen, hint_outcome) = hint::choose(facts, &tied, hint);
    let plan = ExecutionTopologyPlan::WholeRequest {
        artifact: request.artifact,
        selected: SelectedDevice::from(chosen),
    };
    let mut placement = Placement::new(facts, plan, &[chosen]);
    if let Some(outcome) = hint_outcome {
        placement.notes.push(PlacementNote::Hint { outcome });
    }
    Ok(placement)
}

/// Every member checked against `need`: the candidates in id order, and why the
/// others are not.
pub(crate) fn eligible<'a>(
    facts: &PlanningFacts<'a>,
    need: &Need<'_>,
) -> (Vec<Candidate<'a>>, BTreeMap<NodeId, Ineligible>) {
    let mut candidates = Vec::new();
    let mut ineligible = BTreeMap::new();
    for (node, member) in &facts.state.members {
        match candidate(facts, *node, member, need) {
            Ok(found) => candidates.push(found),
            Err(reason) => {
                ineligible.insert(*node, reason);
            }
        }
    }
    (candidates, ineligible)
}

/// Refuses once more nodes were tried than the serving policy's reroutes allow.
pub(crate) fn refuse_exhausted(facts: &PlanningFacts<'_>, excluded: &BTreeSet<NodeId>) -> Result<(), PlacementRefusal> {
    let reroutes_max = facts.serving.reroutes_max;
    if excluded.len() > usize::from(reroutes_max) {
        return Err(PlacementRefusal::ReroutesExhausted {
            tried: excluded.len(),
            reroutes_max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
