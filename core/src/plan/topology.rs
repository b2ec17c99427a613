//! What a planner decides: an execution topology plan, its digest, and the digests
//! of the facts it was made from.

use serde::{Deserialize, Serialize};

use super::eligibility::Candidate;
use super::facts::PlanningFacts;
use super::hint::HintOutcome;
use crate::backend::{Backend, Lane};
use crate::digest::{Digest, DigestKind};
use crate::identity::NodeId;
use crate::state::LinkClass;

/// A node and the device it runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedDevice {
    /// The node.
    pub node: NodeId,
    /// The backend.
    pub backend: Backend,
    /// The device ordinal (none for a backend without devices).
    pub device: Option<u32>,
}

impl From<&Candidate<'_>> for SelectedDevice {
    fn from(candidate: &Candidate<'_>) -> Self {
        Self {
            node: candidate.node,
            backend: candidate.backend,
            device: candidate.device.map(|device| device.profile.ordinal),
        }
    }
}

/// A contiguous range of layers, heads or hidden units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First index.
    pub first: u32,
    /// How many.
    pub count: u32,
}

/// One pipeline stage of a layer-sharded plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStage {
    /// Where it runs.
    pub selected: SelectedDevice,
    /// Its layers.
    pub layers: Span,
    /// Weights it holds.
    pub weight_bytes: u64,
    /// KV cache it keeps per token.
    pub kv_bytes_per_token: u64,
}

/// Activations passed from one stage to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The sending stage's node.
    pub from: NodeId,
    /// The receiving stage's node.
    pub to: NodeId,
    /// The declared link between them.
    pub link: LinkClass,
    /// Bytes sent per token.
    pub activation_bytes_per_token: u64,
}

/// One shard of a tensor-sharded plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorShard {
    /// Where it runs.
    pub selected: SelectedDevice,
    /// Its attention heads.
    pub heads: Span,
    /// Its slice of the hidden dimension.
    pub hidden: Span,
}

/// Which nodes and devices run a request, and how the model is split between them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionTopologyPlan {
    /// One node runs the whole request.
    WholeRequest {
        /// The model.
        artifact: Digest,
        /// Where.
        selected: SelectedDevice,
    },
    /// The least-loaded warm replica runs it; the others stand by, in order.
    Replicated {
        /// The model (the replica set's identity).
        artifact: Digest,
        /// Where.
        selected: SelectedDevice,
        /// Warm standbys, next choice first.
        standbys: Vec<SelectedDevice>,
        /// The set's warm minimum.
        warm_min: u32,
    },
    /// Pipeline stages in order.
    LayerSharded {
        /// The model.
        artifact: Digest,
        /// Stages, first layers first.
        stages: Vec<LayerStage>,
        /// Handoffs between consecutive stages.
        handoffs: Vec<Handoff>,
        /// Bytes crossing links per token, all handoffs together.
        bytes_per_token: u64,
    },
    /// Tensor-axis shards over a full mesh.
    TensorSharded {
        /// The model.
        artifact: Digest,
        /// Shards in order.
        shards: Vec<TensorShard>,
        /// Bytes each shard exchanges in collectives per token per layer.
        collective_bytes_per_token_per_layer: u64,
    },
}

impl ExecutionTopologyPlan {
    /// Its lane.
    pub fn lane(&self) -> Lane {
        match self {
            ExecutionTopologyPlan::WholeRequest { .. } => Lane::WholeRequest,
            ExecutionTopologyPlan::Replicated { .. } => Lane::Replicated,
            ExecutionTopologyPlan::LayerSharded { .. } => Lane::LayerSharded,
            ExecutionTopologyPlan::TensorSharded { .. } => Lane::TensorSharded,
        }
    }

    /// The model it runs.
    pub fn artifact(&self) -> Digest {
        match self {
            ExecutionTopologyPlan::WholeRequest { artifact, .. }
            | ExecutionTopologyPlan::Replicated { artifact, .. }
            | ExecutionTopologyPlan::LayerSharded { artifact, .. }
            | ExecutionTopologyPlan::TensorSharded { artifact, .. } => *artifact,
        }
    }

    /// The devices that execute (standbys excluded), in plan order.
    pub fn executing(&self) -> Vec<&SelectedDevice> {
        match self {
            ExecutionTopologyPlan::WholeRequest { selected, .. }
            | ExecutionTopologyPlan::Replicated { selected, .. } => {
                vec![selected]
            }
            ExecutionTopologyPlan::LayerSharded { stages, .. } => stages.iter().map(|stage| &stage.selected).collect(),
            ExecutionTopologyPlan::TensorSharded { shards, .. } => shards.iter().map(|shard| &shard.selected).collect(),
        }
    }

    /// SHA-256 (plan domain) over the postcard encoding.
    pub fn digest(&self) -> Digest {
        let bytes = postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Plan, &bytes)
    }
}

/// Something a user of the plan should know: a degraded path taken, or what became
/// of a hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementNote {
    /// No telemetry from `node`: its device's declared total stood in for free memory.
    EstimatedFromTotal {
        /// The node.
        node: NodeId,
    },
    /// `node` runs on a backend other than the most preferred.
    FallbackBackend {
        /// The node.
        node: NodeId,
        /// Backend used.
        used: Backend,
        /// Most preferred backend.
        preferred: Backend,
    },
    /// What became of a placement hint.
    Hint {
        /// Accepted or ignored, and why.
        outcome: HintOutcome,
    },
}

/// A plan and the digests of the facts it was made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The plan.
    pub plan: ExecutionTopologyPlan,
    /// Its digest.
    pub plan_digest: Digest,
    /// Topology the planner read.
    pub topology_digest: Digest,
    /// Residency the planner read.
    pub residency_digest: Digest,
    /// Serving policy in force.
    pub policy_digest: Digest,
    /// Degraded paths and hint outcomes.
    pub notes: Vec<PlacementNote>,
}

impl Placement {
    /// Wraps `plan` with the digests of `facts` and the notes its candidates imply.
    pub(crate) fn new(facts: &PlanningFacts<'_>, plan: ExecutionTopologyPlan, chosen: &[&Candidate<'_>]) -> Self {
        let mut notes = Vec::new();
        for candidate in chosen {
            if candidate.device.is_some_and(|device| device.estimated_from_total) {
                notes.push(PlacementNote::EstimatedFromTotal { node: candidate.node });
            }
            if candidate.fallback {
                notes.push(PlacementNote::FallbackBackend {
                    node: candidate.node,
                    used: candidate.backend,
                    preferred: candidate.preferred,
                });
            }
        }
        Self {
            plan_digest: plan.digest(),
            plan,
            topology_digest: facts.digests.topology,
            residency_digest: facts.digests.residency,
            policy_digest: facts.digests.policy,
            notes,
        }
    }
}
