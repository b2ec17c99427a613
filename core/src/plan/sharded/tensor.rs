//! Tensor-sharded placement: every layer split along the tensor axis over a full mesh
//! of homogeneous nodes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{check_shard_count, place_sharded};
use crate::backend::{Backend, Lane};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::plan::eligibility::{Candidate, Need};
use crate::plan::facts::{LinkPolicy, PlanningFacts};
use crate::plan::refusal::{GeometryShortfall, GroupShortfall, PlacementRefusal, TensorAxis};
use crate::plan::topology::{ExecutionTopologyPlan, Placement, SelectedDevice, Span, TensorShard};
use crate::plan::whole_request::refuse_exhausted;

/// A model to split along the tensor axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorShardedRequest {
    /// The model's artifact, resident on every shard's node.
    pub artifact: Digest,
    /// Backends acceptable, most preferred first.
    pub backends: Vec<Backend>,
    /// Shards (nodes).
    pub shards: u32,
    /// Attention heads (divisible by `shards`).
    pub heads: u32,
    /// Hidden size (divisible by `shards`).
    pub hidden: u32,
    /// Weights of the whole model; each shard holds its share.
    pub model_bytes: u64,
    /// Bytes per activation element.
    pub dtype_bytes: u32,
    /// What every link of the mesh must meet.
    pub links: LinkPolicy,
}

/// Splits heads and hidden size evenly over `request.shards` nodes of one homogeneous
/// group whose every pair of nodes is linked within policy. Shards are in node-id
/// order. Each layer runs two all-reduces of the hidden state; a ring all-reduce
/// sends `2 (K-1)/K` of it from each shard.
pub fn place_tensor_sharded(
    facts: &PlanningFacts<'_>,
    request: &TensorShardedRequest,
    excluded: &BTreeSet<NodeId>,
) -> Result<Placement, PlacementRefusal> {
    refuse_exhausted(facts, excluded)?;
    check_shard_count(request.shards)?;
    check_divisible(TensorAxis::Heads, request.heads, request.shards)?;
    check_divisible(TensorAxis::Hidden, request.hidden, request.shards)?;
    let need = Need {
        lane: Lane::TensorSharded,
        artifact: request.artifact,
        backends: &request.backends,
        device_memory_bytes: request.model_bytes.div_ceil(u64::from(request.shards)),
        excluded,
    };
    place_sharded(facts, Lane::TensorSharded, request.shards, &need, |selection| {
        let mut refused = Vec::new();
        for (position, a) in selection.iter().enumerate() {
            for b in &selection[position + 1..] {
                if let Err(refusal) = facts.link_cost(a.node, b.node, &request.links) {
                    refused.push(refusal);
                }
            }
        }
        if !refused.is_empty() {
            return Err(GroupShortfall::Links { refused });
        }
        let mut shards: Vec<&Candidate<'_>> = selection.to_vec();
        shards.sort_by_key(|shard| shard.node);
        let plan = ExecutionTopologyPlan::TensorSharded {
            artifact: request.artifact,
            shards: partition(request, &shards),
            collective_bytes_per_token_per_layer: collective_bytes(request),
        };
        Ok(Placement::new(facts, plan, &shards))
    })
}

fn check_divisible(axis: TensorAxis, size: u32, shards: u32) -> Result<(), PlacementRefusal> {
    if size == 0 || !size.is_multiple_of(shards) {
        let shortfall = GeometryShortfall::NotDivisible { axis, size, shards };
        return Err(PlacementRefusal::Geometry { shortfall });
    }
    Ok(())
}

fn partition(request: &TensorShardedRequest, shards: &[&Candidate<'_>]) -> Vec<TensorShard> {
    let heads_each = request.heads / request.shards;
    let hidden_each = request.hidden / request.shards;
    (0u32..)
        .zip(shards)
        .map(|(position, shard)| TensorShard {
            selected: SelectedDevice::from(*shard),
            heads: Span {
                first: position * heads_each,
                count: heads_each,
            },
            hidden: Span {
                first: position * hidden_each,
                count: hidden_each,
            },
        })
        .collect()
}

/// Bytes one shard sends per token per layer: two ring all-reduces of the hidden
/// state, each sending `2 (K-1)/K` of it.
fn collective_bytes(request: &TensorShardedRequest) -> u64 {
    let shards = u64::from(request.shards);
    let hidden_bytes = u64::from(request.hidden) * u64::from(request.dtype_bytes);
    2 * 2 * (shards - 1) * hidden_bytes / shards
}
