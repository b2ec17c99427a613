//! Layer-sharded (pipeline) placement: consecutive layers on consecutive nodes of one
//! homogeneous group, in the order with the cheapest links.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{check_shard_count, place_sharded};
use crate::backend::{Backend, Lane};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::plan::eligibility::{Candidate, Need};
use crate::plan::facts::{LinkPolicy, LinkRefusal, PlanningFacts};
use crate::plan::refusal::{GeometryShortfall, GroupShortfall, PlacementRefusal};
use crate::plan::topology::{ExecutionTopologyPlan, Handoff, LayerStage, Placement, SelectedDevice, Span};
use crate::plan::whole_request::refuse_exhausted;

/// A model to split by layers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerShardedRequest {
    /// The model's artifact, resident on every stage's node.
    pub artifact: Digest,
    /// Backends acceptable, most preferred first.
    pub backends: Vec<Backend>,
    /// Pipeline stages (nodes).
    pub shards: u32,
    /// Transformer layers.
    pub layers: u32,
    /// Weights of one layer.
    pub bytes_per_layer: u64,
    /// KV cache of one layer per token.
    pub kv_bytes_per_token_per_layer: u64,
    /// Activations handed to the next stage per token.
    pub activation_bytes_per_token: u64,
    /// What every link between consecutive stages must meet.
    pub links: LinkPolicy,
}

/// Splits `request.layers` over `request.shards` nodes of one homogeneous group in
/// proportion to their free memory (at least one layer each, largest remainder),
/// ordered so that the sum of link costs between consecutive stages is least, the
/// end with more free memory first.
pub fn place_layer_sharded(
    facts: &PlanningFacts<'_>,
    request: &LayerShardedRequest,
    excluded: &BTreeSet<NodeId>,
) -> Result<Placement, PlacementRefusal> {
    refuse_exhausted(facts, excluded)?;
    check_shard_count(request.shards)?;
    if request.layers < request.shards {
        let shortfall = GeometryShortfall::FewerLayersThanShards {
            layers: request.layers,
            shards: request.shards,
        };
        return Err(PlacementRefusal::Geometry { shortfall });
    }
    let need = Need {
        lane: Lane::LayerSharded,
        artifact: request.artifact,
        backends: &request.backends,
        device_memory_bytes: request.bytes_per_layer,
        excluded,
    };
    place_sharded(facts, Lane::LayerSharded, request.shards, &need, |selection| {
        let order =
            cheapest_order(facts, selection, &request.links).map_err(|refused| GroupShortfall::Links { refused })?;
        let stages: Vec<&Candidate<'_>> = order.iter().map(|position| selection[*position]).collect();
        let plan = pipeline(facts, request, &stages)?;
        Ok(Placement::new(facts, plan, &stages))
    })
}

/// The plan for `stages` in order, or the first stage whose layers do not fit.
fn pipeline(
    facts: &PlanningFacts<'_>,
    request: &LayerShardedRequest,
    stages: &[&Candidate<'_>],
) -> Result<ExecutionTopologyPlan, GroupShortfall> {
    let free: Vec<u64> = stages.iter().map(|stage| stage.free_memory_bytes()).collect();
    let counts = split_layers(request.layers, &free);
    let mut first = 0;
    let mut planned = Vec::with_capacity(stages.len());
    for ((stage, count), free_bytes) in stages.iter().zip(&counts).zip(&free) {
        let weight_bytes = u64::from(*count).saturating_mul(request.bytes_per_layer);
        if stage.device.is_some() && weight_bytes > *free_bytes {
            return Err(GroupShortfall::StageMemory {
                node: stage.node,
                layers: *count,
                needed_bytes: weight_bytes,
                free_bytes: *free_bytes,
            });
        }
        planned.push(LayerStage {
            selected: SelectedDevice::from(*stage),
            layers: Span { first, count: *count },
            weight_bytes,
            kv_bytes_per_token: u64::from(*count).saturating_mul(request.kv_bytes_per_token_per_layer),
        });
        first += count;
    }
    let handoffs: Vec<Handoff> = stages
        .windows(2)
        .map(|pair| Handoff {
            from: pair[0].node,
            to: pair[1].node,
            link: facts
                .link_class(pair[0].node, pair[1].node)
                .expect("consecutive stages passed the link policy, so their link is declared"),
            activation_bytes_per_token: request.activation_bytes_per_token,
        })
        .collect();
    Ok(ExecutionTopologyPlan::LayerSharded {
        artifact: request.artifact,
        bytes_per_token: request.activation_bytes_per_token * handoffs.len() as u64,
        stages: planned,
        handoffs,
    })
}

/// `layers` split over `weights.len()` stages (at most `layers`): one each, the rest
/// in proportion to `weights` by largest remainder (earlier stage on a tie).
pub(crate) fn split_layers(layers: u32, weights: &[u64]) -> Vec<u32> {
    let stages = weights.len() as u32;
    let spare = u128::from(layers - stages);
    let total: u128 = weights.iter().map(|weight| u128::from(*weight)).sum();
    let shares: Vec<(u128, u128)> = weights
        .iter()
        .map(|weight| match total {
            0 => (spare / u128::from(stages), spare % u128::from(stages)),
            _ => (spare * u128::from(*weight) / total, spare * u128::from(*weight) % total),
        })
        .collect();
    let given: u128 = shares.iter().map(|(whole, _)| whole).sum();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by_key(|position| (core::cmp::Reverse(shares[*position].1), *position));
    let mut counts: Vec<u32> = shares.iter().map(|(whole, _)| 1 + *whole as u32).collect();
    for position in by_remainder.into_iter().take((spare - given) as usize) {
        counts[position] += 1;
    }
    counts
}

/// The order of `selection` (positions) whose consecutive links cost least (exact,
/// over every order), or every link that fails when no order passes.
fn cheapest_order(
    facts: &PlanningFacts<'_>,
    selection: &[&Candidate<'_>],
    policy: &LinkPolicy,
) -> Result<Vec<usize>, Vec<LinkRefusal>> {
    let count = selection.len();
    let mut costs = vec![vec![None; count]; count];
    let mut refused = Vec::new();
    for a in 0..count {
        for b in a + 1..count {
            match facts.link_cost(selection[a].node, selection[b].node, policy) {
                Ok(cost) => (costs[a][b], costs[b][a]) = (Some(cost), Some(cost)),
                Err(refusal) => refused.push(refusal),
            }
        }
    }
    cheapest_path(&costs).ok_or(refused)
}

/// Held-Karp: the Hamiltonian path of least total cost over `costs` (`None`: no
/// edge), ties to the earlier-found path, starting from its end with the earlier
/// position; `None` when there is no path.
fn cheapest_path(costs: &[Vec<Option<u64>>]) -> Option<Vec<usize>> {
    let count = costs.len();
    let full = (1usize << count) - 1;
    // best[mask][last]: least cost of a path over `mask` ending at `last`, and the
    // node before `last`.
    let mut best: Vec<Vec<Option<(u64, usize)>>> = vec![vec![None; count]; full + 1];
    for start in 0..count {
        best[1 << start][start] = Some((0, start));
    }
    for mask in 1..=full {
        for last in (0..count).filter(|last| mask & (1 << last) != 0) {
            let Some((cost, _)) = best[mask][last] else { continue };
            for next in (0..count).filter(|next| mask & (1 << next) == 0) {
                let Some(edge) = costs[last][next] else { continue };
                let slot = &mut best[mask | (1 << next)][next];
                if slot.is_none_or(|(known, _)| cost + edge < known) {
                    *slot = Some((cost + edge, last));
                }
            }
        }
    }
    let mut last = (0..count)
        .filter_map(|last| best[full][last].map(|(cost, _)| (cost, last)))
        .min()?
        .1;
    let mut path = Vec::with_capacity(count);
    let mut mask = full;
    loop {
        path.push(last);
        let (_, before) = best[mask][last].expect("every step of a found path is recorded");
        if mask == 1 << last {
            break;
        }
        mask &= !(1 << last);
        last = before;
    }
    // Links are symmetric: of a path and its reverse, start from the earlier position.
    if path[0] > path[count - 1] {
        path.reverse();
    }
    Some(path)
}
