//! What the sharded lanes share: homogeneous groups of eligible nodes, tried best
//! first, and link checks between the nodes selected.
//!
//! A group is the eligible nodes with the same backend, device name and compute
//! capability. From each group the planner selects the `shards` nodes with the most
//! free memory (lowest id on a tie); groups are tried in order of the least free
//! memory among their selection, largest first, and the first that passes wins. Only
//! that selection is tried per group, so planning stays linear in the cluster size.

mod layer;
mod tensor;

use std::collections::BTreeMap;

pub use layer::{LayerShardedRequest, place_layer_sharded};
pub use tensor::{TensorShardedRequest, place_tensor_sharded};

use super::eligibility::{Candidate, Ineligible, Need, candidate};
use super::facts::PlanningFacts;
use super::index::CandidateIndex;
use super::refusal::{GeometryShortfall, GroupAttempt, GroupShortfall, PlacementRefusal};
use super::whole_request::eligible;
use crate::backend::{Backend, Lane};
use crate::identity::NodeId;

/// Most shards a sharded lane places.
pub const SHARDS_MAX: u32 = 8;

/// Backend, device name, compute capability.
type GroupKey<'a> = (Backend, &'a str, (u32, u32));

fn group_key<'a>(candidate: &Candidate<'a>) -> GroupKey<'a> {
    match candidate.device {
        Some(device) => (
            candidate.backend,
            device.profile.name.as_str(),
            device.profile.compute_capability,
        ),
        None => (candidate.backend, "", (0, 0)),
    }
}

/// Refuses zero shards or more than [`SHARDS_MAX`].
fn check_shard_count(shards: u32) -> Result<(), PlacementRefusal> {
    let shortfall = if shards == 0 {
        GeometryShortfall::NoShards
    } else if shards > SHARDS_MAX {
        GeometryShortfall::TooManyShards {
            shards,
            max: SHARDS_MAX,
        }
    } else {
        return Ok(());
    };
    Err(PlacementRefusal::Geometry { shortfall })
}

/// Places `shards` for `need` with `host`: from the candidate index when that is sure
/// to give the full scan's answer, else from every member.
///
/// The index is visited in key order (an upper bound on free memory) until some group
/// holds `shards` candidates whose least free memory is above the current key: no
/// member not yet visited can enter such a group's selection or outrank it. A success
/// in such a group is the full scan's; anything else (a refusal, or a group chosen
/// below the bound) is decided by the full scan.
pub(super) fn place_sharded<'a, T>(
    facts: &PlanningFacts<'a>,
    lane: Lane,
    shards: u32,
    need: &Need<'_>,
    mut host: impl FnMut(&[&Candidate<'a>]) -> Result<T, GroupShortfall>,
) -> Result<T, PlacementRefusal> {
    if let Some(index) = facts.index {
        let (found, bound) = indexed_prefix(facts, index, need, shards as usize);
        let mut floor_of_chosen = 0;
        let placed = place_in_groups(lane, shards, &found, BTreeMap::new(), |selection| {
            let placed = host(selection)?;
            floor_of_chosen = selection.last().map_or(0, |last| last.free_memory_bytes());
            Ok(placed)
        });
        if let Ok(placed) = placed
            && bound.is_none_or(|bound| floor_of_chosen > bound)
        {
            return Ok(placed);
        }
    }
    let (candidates, ineligible) = eligible(facts, need);
    place_in_groups(lane, shards, &candidates, ineligible, host)
}

/// The eligible candidates met in index order until a full group's least free
/// memory exceeds the next key, with that key (`None`: the index was exhausted, so
/// every eligible member was met).
fn indexed_prefix<'a>(
    facts: &PlanningFacts<'a>,
    index: &CandidateIndex,
    need: &Need<'_>,
    shards: usize,
) -> (Vec<Candidate<'a>>, Option<u64>) {
    let mut found = Vec::new();
    let mut frees: BTreeMap<GroupKey<'a>, Vec<u64>> = BTreeMap::new();
    let mut full_floor: Option<u64> = None;
    for (node, free_max, _) in index.candidates(&need.artifact) {
        if full_floor.is_some_and(|floor| floor > free_max) {
            return (found, Some(free_max));
        }
        let Some(member) = facts.state.members.get(&node) else {
            continue;
        };
        let Ok(candidate) = candidate(facts, node, member, need) else {
            continue;
        };
        let group = frees.entry(group_key(&candidate)).or_default();
        group.push(candidate.free_memory_bytes());
        if group.len() >= shards && shards > 0 {
            group.sort_unstable_by(|a, b| b.cmp(a));
            let floor = group[shards - 1];
            full_floor = Some(full_floor.map_or(floor, |known| known.max(floor)));
        }
        found.push(candidate);
    }
    (found, None)
}

/// Tries each group's selection of `shards` nodes with `host`, best group first;
/// the first success wins, else a refusal listing every group's shortfall.
fn place_in_groups<'c, 'a, T>(
    lane: Lane,
    shards: u32,
    candidates: &'c [Candidate<'a>],
    ineligible: BTreeMap<NodeId, Ineligible>,
    mut host: impl FnMut(&[&'c Candidate<'a>]) -> Result<T, GroupShortfall>,
) -> Result<T, PlacementRefusal> {
    let needed = shards as usize;
    let mut groups: BTreeMap<GroupKey<'a>, Vec<&'c Candidate<'a>>> = BTreeMap::new();
    for candidate in candidates {
        groups.entry(group_key(candidate)).or_default().push(candidate);
    }
    let mut ranked: Vec<(GroupKey<'a>, Vec<&'c Candidate<'a>>, usize)> = groups
        .into_iter()
        .map(|(key, mut members)| {
            let eligible = members.len();
            select_most_free(&mut members, needed);
            (key, members, eligible)
        })
        .collect();
    let floor = |members: &[&Candidate<'_>]| (members.len() >= needed).then(|| members[needed - 1].free_memory_bytes());
    ranked.sort_by_key(|(key, members, _)| (core::cmp::Reverse(floor(members)), *key));
    let mut attempts = Vec::new();
    for ((backend, device_name, compute_capability), members, eligible) in ranked {
        let shortfall = if members.len() < needed {
            GroupShortfall::TooFewNodes { needed: shards }
        } else {
            match host(&members) {
                Ok(placed) => return Ok(placed),
                Err(shortfall) => shortfall,
            }
        };
        attempts.push(GroupAttempt {
            backend,
            device_name: device_name.to_owned(),
            compute_capability,
            eligible: u32::try_from(eligible).unwrap_or(u32::MAX),
            shortfall,
        });
    }
    Err(PlacementRefusal::NoShardGroup {
        lane,
        shards,
        groups: attempts,
        ineligible,
    })
}

/// Keeps the `count` members with the most free memory (lowest id on a tie), in that
/// order.
fn select_most_free(members: &mut Vec<&Candidate<'_>>, count: usize) {
    let order = |a: &&Candidate<'_>, b: &&Candidate<'_>| {
        b.free_memory_bytes()
            .cmp(&a.free_memory_bytes())
            .then(a.node.cmp(&b.node))
    };
    if members.len() > count && count > 0 {
        members.select_nth_unstable_by(count - 1, order);
        members.truncate(count);
    }
    members.sort_by(order);
}

#[cfg(test)]
mod tests;
