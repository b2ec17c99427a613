//! Whole-request placement: one node runs the request on one device (or the CPU).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendReadiness, BackendRefusal, Telemetry};
use crate::digest::Digest;
use crate::identity::{NodeId, NodeRole};
use crate::state::{ClusterState, MemberStatus, Residency};

/// What a request needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholeRequest {
    /// The model's artifact, which must be resident on the node.
    pub artifact: Digest,
    /// Backends acceptable, most preferred first.
    pub backends: Vec<Backend>,
    /// Device memory the request needs on one device (ignored on the CPU).
    pub device_memory_bytes: u64,
}

/// Where a request runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholeRequestPlan {
    /// The node.
    pub node: NodeId,
    /// The backend.
    pub backend: Backend,
    /// The device ordinal (none on the CPU).
    pub device: Option<u32>,
    /// Free memory on that device as last reported, or its total when no telemetry
    /// arrived (then `estimated_from_total` is set).
    pub free_memory_bytes: u64,
    /// Whether free memory was taken from the declared total for lack of telemetry.
    pub estimated_from_total: bool,
}

/// Why one member cannot take the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ineligible {
    /// It is not serving (joining, draining, offline).
    NotReady {
        /// Its status.
        status: MemberStatus,
    },
    /// Its role does not execute work.
    Role {
        /// Its role.
        role: NodeRole,
    },
    /// The artifact is not resident there.
    Artifact {
        /// What the log records (`None`: nothing).
        residency: Option<Residency>,
    },
    /// None of the acceptable backends is ready there; each one's state.
    Backends {
        /// Refusals by backend (`None`: never declared).
        refused: BTreeMap<Backend, Option<BackendRefusal>>,
    },
    /// A ready backend, but no device with enough free memory.
    Memory {
        /// Memory needed.
        needed_bytes: u64,
        /// The most free on any of its devices.
        best_free_bytes: u64,
    },
}

/// Why no node can take the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementRefusal {
    /// Every member is ineligible, for the reasons listed.
    #[error("no eligible node among {} members", ineligible.len())]
    NoEligibleNode {
        /// Each member's reason.
        ineligible: BTreeMap<NodeId, Ineligible>,
    },
}

/// Places `request` on the eligible node with the most free memory on one device
/// (the CPU counts as none), then the shortest queue, then the lowest node id.
pub fn place_whole_request(
    state: &ClusterState,
    telemetry: &BTreeMap<NodeId, Telemetry>,
    request: &WholeRequest,
) -> Result<WholeRequestPlan, PlacementRefusal> {
    let mut best: Option<(WholeRequestPlan, u32)> = None;
    let mut ineligible = BTreeMap::new();
    for (node, member) in &state.members {
        let seen = telemetry.get(node);
        match candidate(state, *node, member.status, member.role, seen, request) {
            Ok(plan) => {
                let queue_depth = seen.map_or(0, |telemetry| telemetry.queue_depth);
                let better = best.as_ref().is_none_or(|(current, current_queue)| {
                    (plan.free_memory_bytes, std::cmp::Reverse(queue_depth))
                        > (current.free_memory_bytes, std::cmp::Reverse(*current_queue))
                });
                if better {
                    best = Some((plan, queue_depth));
                }
            }
            Err(reason) => {
                ineligible.insert(*node, reason);
            }
        }
    }
    best.map(|(plan, _)| plan)
        .ok_or(PlacementRefusal::NoEligibleNode { ineligible })
}

fn candidate(
    state: &ClusterState,
    node: NodeId,
    status: MemberStatus,
    role: NodeRole,
    telemetry: Option<&Telemetry>,
    request: &WholeRequest,
) -> Result<WholeRequestPlan, Ineligible> {
    if status != MemberStatus::Ready {
        return Err(Ineligible::NotReady { status });
    }
    if !role.is_executor() {
        return Err(Ineligible::Role { role });
    }
    let residency = state
        .residency
        .get(&node)
        .and_then(|artifacts| artifacts.get(&request.artifact))
        .copied();
    if residency != Some(Residency::Resident) {
        return Err(Ineligible::Artifact { residency });
    }
    let declared = state.backends.get(&node);
    let mut refused = BTreeMap::new();
    let mut best_free_bytes = 0;
    for backend in &request.backends {
        match declared.and_then(|backends| backends.get(backend)) {
            Some(BackendReadiness::Ready { devices }) if *backend == Backend::Cpu || devices.is_empty() => {
                return Ok(WholeRequestPlan {
                    node,
                    backend: *backend,
                    device: None,
                    free_memory_bytes: 0,
                    estimated_from_total: false,
                });
            }
            Some(BackendReadiness::Ready { devices }) => {
                let reported = telemetry.map(|telemetry| &telemetry.free_memory_bytes);
                let free_of = |ordinal: usize, total: u64| match reported.and_then(|free| free.get(ordinal)) {
                    Some(free) => (*free, false),
                    None => (total, true),
                };
                let fitting = devices
                    .iter()
                    .enumerate()
                    .map(|(position, device)| (device.ordinal, free_of(position, device.total_memory_bytes)))
                    .inspect(|(_, (free, _))| best_free_bytes = best_free_bytes.max(*free))
                    .filter(|(_, (free, _))| *free >= request.device_memory_bytes)
                    .max_by_key(|(ordinal, (free, _))| (*free, std::cmp::Reverse(*ordinal)));
                if let Some((ordinal, (free, estimated))) = fitting {
                    return Ok(WholeRequestPlan {
                        node,
                        backend: *backend,
                        device: Some(ordinal),
                        free_memory_bytes: free,
                        estimated_from_total: estimated,
                    });
                }
            }
            Some(BackendReadiness::Refused { reason }) => {
                refused.insert(*backend, Some(reason.clone()));
            }
            None => {
                refused.insert(*backend, None);
            }
        }
    }
    if refused.len() == request.backends.len() {
        return Err(Ineligible::Backends { refused });
    }
    Err(Ineligible::Memory {
        needed_bytes: request.device_memory_bytes,
        best_free_bytes,
    })
}

#[cfg(test)]
mod tests;
