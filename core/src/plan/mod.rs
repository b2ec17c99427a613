//! Placement planners: pure functions of the replicated state, the soft telemetry
//! the coordinator holds, and the serving policy.
//!
//! Invariants: a planner reads declared facts only (membership, roles, committed
//! backend readiness and execution profiles, artifact residency, declared links,
//! replica sets) plus the telemetry it is handed; it never reads a backend's name to
//! decide what it can run. It iterates ordered collections and breaks every tie by
//! node id, so the same facts give the same plan, and the same plan digest, on every
//! node and every run. A refusal says, for every member or group, why it could not
//! serve.

mod eligibility;
mod evidence;
mod facts;
#[cfg(test)]
mod fixture;
mod hint;
mod index;
mod queue;
mod refusal;
mod replicated;
mod serving;
mod sharded;
mod topology;
mod whole_request;

pub use eligibility::{BackendIneligible, Ineligible};
pub use evidence::{
    ClusterExecutionContext, EvidenceRefusal, ExecutedDevice, FactProvenance, Reroute, RerouteReason, SignedEvidence,
};
pub use facts::{
    FactDigests, LinkPolicy, LinkRefusal, LinkShortfall, LinkTelemetry, PlanningFacts, link_class_rank, ordered,
};
pub use facts::{TelemetryLookup, Unreachable};
pub use hint::{HintIgnored, HintOutcome, PlacementHint};
pub use index::CandidateIndex;
pub use queue::{Phase, QueueRefusal, ServingQueue};
pub use refusal::{GeometryShortfall, GroupAttempt, GroupShortfall, PlacementRefusal, TensorAxis};
pub use replicated::{ReplicaWarmth, place_replicated};
pub use serving::{QueueDiscipline, SERVING_POLICY_NAME, ServingPolicy, ServingPolicyProblem};
pub use sharded::{LayerShardedRequest, SHARDS_MAX, TensorShardedRequest, place_layer_sharded, place_tensor_sharded};
pub use topology::{
    ExecutionTopologyPlan, Handoff, LayerStage, Placement, PlacementNote, SelectedDevice, Span, TensorShard,
};
pub use whole_request::{RequestNeeds, place_whole_request};
