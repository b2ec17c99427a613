//! What the coordinator plans from: the committed state, the telemetry the device
//! book holds, the serving policy, and the members it has not heard from; and dry-run
//! planning of any lane.

use super::ClusterView;
use std::collections::BTreeSet;

use super::Serving;
use super::coordinator::Coordinator;
use crate::digest::Digest;
use crate::dispatch::PlanRequest;
use crate::identity::NodeId;
use crate::plan::{
    CandidateIndex, FactDigests, Placement, PlacementRefusal, PlanningFacts, ServingPolicy, Unreachable,
    place_layer_sharded, place_replicated, place_tensor_sharded, place_whole_request,
};
use crate::time::Instant;

/// The owned inputs of one planning round.
pub(super) struct PlanningInputs {
    serving: ServingPolicy,
    pub state_digest: Digest,
    digests: FactDigests,
    now: Instant,
}

impl PlanningInputs {
    /// The facts, borrowing the state and telemetry of `raft` and the candidate index
    /// of `coordinator`.
    pub fn facts<'a>(&'a self, raft: ClusterView<'a>, coordinator: &'a Coordinator) -> PlanningFacts<'a> {
        PlanningFacts {
            cluster_id: raft.raft.cluster_id(),
            state: raft.raft.state(),
            telemetry: raft.telemetry(),
            links_measured: raft.links_measured(),
            serving: &self.serving,
            unreachable: silence(raft, self.now),
            digests: self.digests,
            index: coordinator.index.as_ref(),
        }
    }
}

impl Serving {
    /// What a placement made now reads (the candidate index brought up to date).
    pub(super) fn planning_inputs(&mut self, now: Instant, raft: ClusterView<'_>) -> PlanningInputs {
        let serving = ServingPolicy::from_state(raft.state());
        let (state_digest, digests) = self.fact_digests(raft, &serving);
        let applied = raft.state().applied_index;
        let coordinator = &mut self.coordinator;
        if coordinator
            .index
            .as_ref()
            .is_none_or(|index| index.built_at() != applied)
        {
            coordinator.index = Some(CandidateIndex::build(raft.state(), raft.telemetry()));
        }
        PlanningInputs {
            serving,
            state_digest,
            digests,
            now,
        }
    }

    /// Re-keys `node` in the candidate index after its telemetry arrived.
    pub(crate) fn index_telemetry(&mut self, raft: ClusterView<'_>, node: NodeId) {
        if let Some(index) = self.coordinator.index.as_mut()
            && index.built_at() == raft.state().applied_index
        {
            let telemetry = raft.telemetry().get(&node).map(|seen| &seen.telemetry);
            index.update(raft.state(), node, telemetry);
        }
    }

    /// The placement `request` would get now, dispatching nothing. On a follower,
    /// which holds no one else's telemetry, devices count at their declared totals.
    pub(crate) fn plan(
        &mut self,
        now: Instant,
        raft: ClusterView<'_>,
        request: &PlanRequest,
    ) -> Result<Placement, PlacementRefusal> {
        let inputs = self.planning_inputs(now, raft);
        let facts = inputs.facts(raft, &self.coordinator);
        let none = BTreeSet::new();
        match request {
            PlanRequest::WholeRequest(needs) => place_whole_request(&facts, needs, &none, None),
            PlanRequest::Replicated(needs) => place_replicated(&facts, needs, &none),
            PlanRequest::LayerSharded(request) => place_layer_sharded(&facts, request, &none),
            PlanRequest::TensorSharded(request) => place_tensor_sharded(&facts, request, &none),
        }
    }

    fn fact_digests(&mut self, raft: ClusterView<'_>, serving: &ServingPolicy) -> (Digest, FactDigests) {
        let applied = raft.state().applied_index;
        match self.coordinator.digests {
            Some((index, state, facts)) if index == applied && facts.policy == serving.digest() => (state, facts),
            _ => {
                let computed = (raft.state_digest(), FactDigests::of(raft.state(), serving));
                self.coordinator.digests = Some((applied, computed.0, computed.1));
                computed
            }
        }
    }
}

/// Leader: members not heard from for an election timeout (counting from the start of
/// this leadership for one never heard from); none on a follower.
pub(super) fn silence<'a>(raft: ClusterView<'a>, now: Instant) -> Unreachable<'a> {
    silent_for(raft, now, raft.config().election_timeout_ms_min)
}

/// Leader: members not heard from for `after_ms` (counting from the start of this
/// leadership for one never heard from); none on a follower.
pub(super) fn silent_for<'a>(raft: ClusterView<'a>, now: Instant, after_ms: u64) -> Unreachable<'a> {
    static NONE: BTreeSet<NodeId> = BTreeSet::new();
    match raft.leadership_since() {
        Some(since) => Unreachable::SilentFor {
            seen: raft.telemetry(),
            this_node: raft.id(),
            since,
            now,
            after_ms,
        },
        None => Unreachable::Listed(&NONE),
    }
}
