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

use super::eligibility::{Candidate, Ineligible};
use super::refusal::{GeometryShortfall, GroupAttempt, GroupShortfall, PlacementRefusal};
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
