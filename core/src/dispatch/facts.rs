//! What the coordinator plans from: the committed state, the telemetry it holds, the
//! serving policy, and the members it has not heard from; and dry-run planning of
//! any lane.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::consensus::{Consensus, Role};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::plan::{
    CandidateIndex, FactDigests, LayerShardedRequest, Placement, PlacementRefusal, PlanningFacts, RequestNeeds,
    ServingPolicy, TensorShardedRequest, Unreachable, place_layer_sharded, place_replicated, place_tensor_sharded,
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
    serving: ServingPolicy,
    pub state_digest: Digest,
    digests: FactDigests,
    now: Instant,
}

impl PlanningInputs {
    /// The facts, borrowing the state, telemetry and index of `consensus`.
    pub fn facts<'a>(&'a self, consensus: &'a Consensus) -> PlanningFacts<'a> {
        PlanningFacts {
            cluster_id: consensus.cluster_id,
            state: &consensus.state,
            telemetry: &consensus.devices.seen,
            links_measured: &consensus.devices.links,
            serving: &self.serving,
            unreachable: consensus.silence(self.now),
            digests: self.digests,
            index: consensus.dispatch.index.as_ref(),
        }
    }
}

impl Consensus {
    /// What a placement made now reads (the candidate index brought up to date).
    pub(super) fn planning_inputs(&mut self, now: Instant) -> PlanningInputs {
        let serving = ServingPolicy::from_state(&self.state);
        let (state_digest, digests) = self.fact_digests(&serving);
        let applied = self.state.applied_index;
        if self
            .dispatch
            .index
            .as_ref()
            .is_none_or(|index| index.built_at() != applied)
        {
            self.dispatch.index = Some(CandidateIndex::build(&self.state, &self.devices.seen));
        }
        PlanningInputs {
            serving,
            state_digest,
            digests,
            now,
        }
    }

    /// Re-keys `node` in the candidate index after its telemetry arrived.
    pub(crate) fn index_telemetry(&mut self, node: NodeId) {
        if let Some(index) = self.dispatch.index.as_mut()
            && index.built_at() == self.state.applied_index
        {
            index.update(
                &self.state,
                node,
                self.devices.seen.get(&node).map(|seen| &seen.telemetry),
            );
        }
    }

    /// Leader: members not heard from for an election timeout (counting from the
    /// start of this leadership for one never heard from); none on a follower.
    pub(super) fn silence(&self, now: Instant) -> Unreachable<'_> {
        self.silent_for(now, self.config.election_timeout_ms_min)
    }

    /// Leader: members not heard from for `after_ms` (counting from the start of this
    /// leadership for one never heard from); none on a follower.
    pub(super) fn silent_for(&self, now: Instant, after_ms: u64) -> Unreachable<'_> {
        static NONE: BTreeSet<NodeId> = BTreeSet::new();
        match &self.role {
            Role::Leader(leadership) => Unreachable::SilentFor {
                seen: &self.devices.seen,
                this_node: self.id,
                since: leadership.since,
                now,
                after_ms,
            },
            _ => Unreachable::Listed(&NONE),
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
