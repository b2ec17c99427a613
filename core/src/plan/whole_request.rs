//! Whole-request placement: one node runs the request on one device (or the CPU).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::eligibility::{Candidate, Ineligible, Need, candidate};
use super::facts::PlanningFacts;
use super::hint::{self, PlacementHint};
use super::index::CandidateIndex;
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
    let indexed = facts.index.map(|index| best_indexed(facts, index, &need));
    let candidates = match indexed {
        Some(best) if !best.is_empty() => best,
        _ => {
            let (candidates, ineligible) = eligible(facts, &need);
            if candidates.is_empty() {
                return Err(PlacementRefusal::NoEligibleNode {
                    lane: Lane::WholeRequest,
                    ineligible,
                });
            }
            candidates
        }
    };
    let best = candidates.iter().map(rank).max().expect("not empty");
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

/// A candidate's rank: free memory on its device, then the shorter queue.
fn rank(candidate: &Candidate<'_>) -> (u64, core::cmp::Reverse<u32>) {
    (candidate.free_memory_bytes(), core::cmp::Reverse(candidate.queue_depth))
}

/// The eligible candidates that can rank best, found by visiting the index in key
/// order until no key can reach the best rank seen (in id order; empty when none is
/// eligible).
fn best_indexed<'a>(facts: &PlanningFacts<'a>, index: &CandidateIndex, need: &Need<'_>) -> Vec<Candidate<'a>> {
    let mut best: Vec<Candidate<'a>> = Vec::new();
    for (node, free_max, queue) in index.candidates(&need.artifact) {
        let bound = (free_max, core::cmp::Reverse(queue));
        if best.first().is_some_and(|leader| bound < rank(leader)) {
            break;
        }
        let Some(member) = facts.state.members.get(&node) else {
            continue;
        };
        let Ok(found) = candidate(facts, node, member, need) else {
            continue;
        };
        match best.first().map(|leader| rank(&found).cmp(&rank(leader))) {
            None | Some(core::cmp::Ordering::Greater) => best = vec![found],
            Some(core::cmp::Ordering::Equal) => best.push(found),
            Some(core::cmp::Ordering::Less) => {}
        }
    }
    best.sort_by_key(|found| found.node);
    best
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
