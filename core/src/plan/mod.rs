//! Placement planners: pure functions of the replicated state and soft telemetry.
//!
//! Invariants: a planner reads declared facts only (membership, roles, committed
//! backend readiness, artifact residency) plus telemetry it is handed; it iterates
//! ordered collections and breaks every tie by node id, so the same facts give the
//! same plan on every node and every run. A refusal lists, for every member, why it
//! could not serve.

mod whole_request;

pub use whole_request::{Ineligible, PlacementRefusal, WholeRequest, WholeRequestPlan, place_whole_request};
