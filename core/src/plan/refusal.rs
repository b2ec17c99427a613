//! Why a planner could not place a request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::eligibility::Ineligible;
use super::facts::LinkRefusal;
use super::replicated::ReplicaWarmth;
use crate::backend::{Backend, Lane};
use crate::digest::Digest;
use crate::identity::NodeId;

/// Why no placement exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementRefusal {
    /// Every member is ineligible, for the reasons listed.
    #[error("no eligible node for the {lane:?} lane among {} members", ineligible.len())]
    NoEligibleNode {
        /// The lane.
        lane: Lane,
        /// Each member's reason.
        ineligible: BTreeMap<NodeId, Ineligible>,
    },
    /// The request was already placed on as many nodes as the policy allows.
    #[error("{tried} placements tried; the serving policy allows {reroutes_max} reroutes")]
    ReroutesExhausted {
        /// Nodes tried.
        tried: usize,
        /// The policy's limit.
        reroutes_max: u8,
    },
    /// No replica set serves the model.
    #[error("no replica set serves artifact {artifact:?}")]
    NoReplicaSet {
        /// The model.
        artifact: Digest,
    },
    /// Fewer warm replicas than the set's minimum.
    #[error("{warm} warm replicas; the replica set needs {warm_min}")]
    WarmBelowMinimum {
        /// Warm replicas.
        warm: u32,
        /// The minimum.
        warm_min: u32,
        /// Each replica's state.
        replicas: BTreeMap<NodeId, ReplicaWarmth>,
    },
    /// The request's shape cannot be split as asked.
    #[error("invalid shard geometry: {shortfall:?}")]
    Geometry {
        /// What is wrong.
        shortfall: GeometryShortfall,
    },
    /// No group of homogeneous eligible nodes can host the shards.
    #[error("no homogeneous group of {shards} nodes can host the {lane:?} lane")]
    NoShardGroup {
        /// The lane.
        lane: Lane,
        /// Shards asked for.
        shards: u32,
        /// Each group tried, best first, and why it failed.
        groups: Vec<GroupAttempt>,
        /// Members that were not eligible at all, and why.
        ineligible: BTreeMap<NodeId, Ineligible>,
    },
}

/// A sharded request's shape that cannot be split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeometryShortfall {
    /// Zero shards asked for.
    NoShards,
    /// More shards than a lane supports.
    TooManyShards {
        /// Asked.
        shards: u32,
        /// Most allowed.
        max: u32,
    },
    /// Fewer layers than shards.
    FewerLayersThanShards {
        /// Layers.
        layers: u32,
        /// Shards.
        shards: u32,
    },
    /// A tensor dimension does not divide by the shard count.
    NotDivisible {
        /// Which dimension.
        axis: TensorAxis,
        /// Its size.
        size: u32,
        /// Shards.
        shards: u32,
    },
}

/// A dimension split by tensor sharding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TensorAxis {
    /// Attention heads.
    Heads,
    /// Hidden size.
    Hidden,
}

/// One group of homogeneous nodes (same backend, device model, compute capability)
/// and why it could not host the shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAttempt {
    /// Backend.
    pub backend: Backend,
    /// Device name (empty for a backend without devices).
    pub device_name: String,
    /// Compute capability.
    pub compute_capability: (u32, u32),
    /// Eligible nodes in it.
    pub eligible: u32,
    /// Why it failed.
    pub shortfall: GroupShortfall,
}

/// Why a group could not host the shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupShortfall {
    /// Fewer eligible nodes than shards.
    TooFewNodes {
        /// Shards.
        needed: u32,
    },
    /// A stage's layers do not fit its device.
    StageMemory {
        /// The node.
        node: NodeId,
        /// Layers it would hold.
        layers: u32,
        /// Memory they need.
        needed_bytes: u64,
        /// Free memory.
        free_bytes: u64,
    },
    /// Links between its selected nodes fail the lane's policy: no order passes
    /// (layer-sharded) or the mesh is incomplete (tensor-sharded).
    Links {
        /// The failing links.
        refused: Vec<LinkRefusal>,
    },
}
