//! What the coordinator plans from: the committed state, the telemetry it holds, the
//! serving policy, and the members it has not heard from; and dry-run planning of
//! any lane.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::backend::Telemetry;
use crate::consensus::{Consensus, Role};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::plan::{
    FactDigests, LayerShardedRequest, LinkTelemetry, Placement, PlacementRefusal, PlanningFacts, RequestNeeds,
    ServingPolicy, TensorShardedRequest, place_layer_sharded, place_replicated, place_tensor_sharded,
    place_whole_request,
};
use crate::time::Instant;

/// A placement to compute without dispatching anything (any lane).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanRequest {
    /// One node.
    WholeRequest(RequestNeeds),
    /// One warm replica.
    Replicated(RequestNeeds),
    /// Pipeline stages.
    LayerSharded(LayerShardedRequest),
    /// Tensor shards.
    TensorSharded(TensorShardedRequest),
}

/// The owned inputs of one planning round.
pub(super) struct PlanningInputs {
    telemetry: BTreeMap<NodeId, Telemetry>,
    serving: ServingPolicy,
    pub state_digest: Digest,
    digests: FactDigests,
    unreachable: BTreeSet<NodeId>,
    links_measured: BTreeMap<(NodeId, NodeId), LinkTelemetry>,
}

impl PlanningInputs {
    /// The facts, borrowing the state of `consensus`.
    pub fn facts<'a>(&'a self, consensus: &'a Consensus) -> PlanningFacts<'a> {
        PlanningFacts {
            cluster_id: consensus.cluster_id,
            state: &consensus.state,
            telemetry: &self.telemetry,
            links_measured: &self.links_measured,
            serving: &self.serving,
            unreachable: &self.unreachable,
            digests: self.digests,
        }
    }
}

impl Consensus {
    /// What a placement made now reads.
    pub(super) fn planning_inputs(&mut self, now: Instant) -> PlanningInputs {
        let telemetry = self
            .devices
            .seen
            .iter()
            .map(|(node, seen)| (*node, seen.telemetry.clone()))
            .collect();
        let serving = ServingPolicy::from_state(&self.state).unwrap_or_default();
        let (state_digest, digests) = self.fact_digests(&serving);
        PlanningInputs {
            telemetry,
            serving,
            state_digest,
            digests,
            unreachable: self.silent_members(now),
            links_measured: BTreeMap::new(),
        }
    }

    /// The placement `request` would get now, dispatching nothing. On a follower,
    /// which holds no one else's telemetry, devices count at their declared totals.
    pub(crate) fn plan(&mut self, now: Instant, request: &PlanRequest) -> Result<Placement, PlacementRefusal> {
        let inputs = self.planning_inputs(now);
        let facts = inputs.facts(self);
        let none = BTreeSet::new();
        match request {
            PlanRequest::WholeRequest(needs) => place_whole_request(&facts, needs, &none, None),
            PlanRequest::Replicated(needs) => place_replicated(&facts, needs, &none),
            PlanRequest::LayerSharded(request) => place_layer_sharded(&facts, request, &none),
            PlanRequest::TensorSharded(request) => place_tensor_sharded(&facts, request, &none),
        }
    }

    /// Leader: the other members not heard from for an election timeout (counting
    /// from the start of this leadership for one never heard from).
    pub(super) fn silent_members(&self, now: Instant) -> BTreeSet<NodeId> {
        let Role::Leader(leadership) = &self.role else {
            return BTreeSet::new();
        };
        let lost_after_ms = u128::from(self.config.election_timeout_ms_min);
        self.state
            .members
            .keys()
            .filter(|node| **node != self.id)
            .filter(|node| {
                let heard = self
                    .devices
                    .seen
                    .get(node)
                    .map_or(leadership.since, |seen| seen.at.max(leadership.since));
                now.saturating_since(heard).as_millis() > lost_after_ms
            })
            .copied()
            .collect()
    }

    fn fact_digests(&mut self, serving: &ServingPolicy) -> (Digest, FactDigests) {
        let applied = self.state.applied_index;
        match self.dispatch.digests {
            Some((index, state, facts)) if index == applied && facts.policy == serving.digest() => (state, facts),
            _ => {
                let computed = (self.state_digest(), FactDigests::of(&self.state, serving));
                self.dispatch.digests = Some((applied, computed.0, computed.1));
                computed
            }
        }
    }
}
