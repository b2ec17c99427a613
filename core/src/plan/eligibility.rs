//! Whether one member can take part in a lane, and on which backend and device.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::facts::PlanningFacts;
use crate::backend::{Backend, BackendReadiness, BackendRefusal, DeviceProfile, Lane, ProfileShortfall};
use crate::digest::Digest;
use crate::identity::{NodeId, NodeRole};
use crate::state::{Member, MemberStatus, Residency};

/// What every lane asks of a node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Need<'a> {
    /// The lane.
    pub lane: Lane,
    /// The model, which must be resident.
    pub artifact: Digest,
    /// Backends acceptable, most preferred first.
    pub backends: &'a [Backend],
    /// Device memory needed on one device (ignored for a backend without devices).
    pub device_memory_bytes: u64,
    /// Nodes already tried for this request.
    pub excluded: &'a BTreeSet<NodeId>,
}

/// A node that can take part, with the device it would use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate<'a> {
    pub node: NodeId,
    pub backend: Backend,
    /// The device with the most free memory, if the backend has devices.
    pub device: Option<DeviceChoice<'a>>,
    pub queue_depth: u32,
    /// Whether `backend` is not the most preferred acceptable one.
    pub fallback: bool,
    /// The most preferred acceptable backend.
    pub preferred: Backend,
}

/// One device of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeviceChoice<'a> {
    pub profile: &'a DeviceProfile,
    pub free_memory_bytes: u64,
    pub estimated_from_total: bool,
}

impl Candidate<'_> {
    /// Free memory on the chosen device (0 without one).
    pub fn free_memory_bytes(&self) -> u64 {
        self.device.map_or(0, |device| device.free_memory_bytes)
    }
}

/// Why one member cannot take part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ineligible {
    /// It is not a member (a replica set may name a node since removed).
    NotAMember,
    /// It was tried already for this request.
    Excluded,
    /// The coordinator has not heard from it lately.
    Unreachable,
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
    /// Its queue is at the serving policy's limit.
    Backpressure {
        /// Its queue depth.
        queue_depth: u32,
        /// The policy's limit.
        max: u32,
    },
    /// None of the acceptable backends can run the lane there; each one's reason.
    Backends {
        /// Reasons by backend.
        refused: BTreeMap<Backend, BackendIneligible>,
    },
    /// A backend can run the lane, but no device has enough free memory.
    Memory {
        /// Memory needed.
        needed_bytes: u64,
        /// The most free on any of its devices.
        best_free_bytes: u64,
    },
}

/// Why one backend of a member cannot run the lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendIneligible {
    /// The member never declared it.
    NotDeclared,
    /// Declared refused.
    Refused {
        /// Why.
        reason: BackendRefusal,
    },
    /// Ready, but its execution profile lacks the lane or its communication class.
    Profile {
        /// What is missing.
        shortfall: ProfileShortfall,
    },
}

/// Checks `node` against `need`: the candidate on the first acceptable backend that
/// can run it, or why none can.
pub(crate) fn candidate<'a>(
    facts: &PlanningFacts<'a>,
    node: NodeId,
    member: &Member,
    need: &Need<'_>,
) -> Result<Candidate<'a>, Ineligible> {
    if need.excluded.contains(&node) {
        return Err(Ineligible::Excluded);
    }
    if facts.unreachable.contains(&node) {
        return Err(Ineligible::Unreachable);
    }
    if member.status != MemberStatus::Ready {
        return Err(Ineligible::NotReady { status: member.status });
    }
    if !member.role.is_executor() {
        return Err(Ineligible::Role { role: member.role });
    }
    let residency = facts
        .state
        .residency
        .get(&node)
        .and_then(|artifacts| artifacts.get(&need.artifact))
        .copied();
    if residency != Some(Residency::Resident) {
        return Err(Ineligible::Artifact { residency });
    }
    let telemetry = facts.telemetry.telemetry(&node);
    let queue_depth = telemetry.map_or(0, |telemetry| telemetry.queue_depth);
    let max = facts.serving.queue_depth_max;
    if queue_depth >= max {
        return Err(Ineligible::Backpressure { queue_depth, max });
    }
    let reported: &[u64] = telemetry.map_or(&[], |telemetry| &telemetry.free_memory_bytes);
    let declared = facts.state.backends.get(&node);
    let mut refused = BTreeMap::new();
    let mut best_free_bytes = 0;
    for (position, backend) in need.backends.iter().enumerate() {
        let readiness = declared.and_then(|backends| backends.get(backend));
        let (devices, profile) = match readiness {
            None => {
                refused.insert(*backend, BackendIneligible::NotDeclared);
                continue;
            }
            Some(BackendReadiness::Refused { reason }) => {
                let reason = reason.clone();
                refused.insert(*backend, BackendIneligible::Refused { reason });
                continue;
            }
            Some(BackendReadiness::Ready { devices, profile }) => (devices, profile),
        };
        if let Err(shortfall) = profile.check(need.lane) {
            refused.insert(*backend, BackendIneligible::Profile { shortfall });
            continue;
        }
        let candidate = |device| Candidate {
            node,
            backend: *backend,
            device,
            queue_depth,
            fallback: position > 0,
            preferred: need.backends[0],
        };
        if devices.is_empty() {
            return Ok(candidate(None));
        }
        let best = best_device(devices, reported);
        best_free_bytes = best_free_bytes.max(best.free_memory_bytes);
        if best.free_memory_bytes >= need.device_memory_bytes {
            return Ok(candidate(Some(best)));
        }
    }
    if refused.len() == need.backends.len() {
        return Err(Ineligible::Backends { refused });
    }
    Err(Ineligible::Memory {
        needed_bytes: need.device_memory_bytes,
        best_free_bytes,
    })
}

/// The device with the most free memory (reported, else its declared total), lowest
/// ordinal on a tie. `devices` is never empty.
fn best_device<'a>(devices: &'a [DeviceProfile], reported: &[u64]) -> DeviceChoice<'a> {
    let choices = devices
        .iter()
        .enumerate()
        .map(|(position, profile)| match reported.get(position) {
            Some(free) => DeviceChoice {
                profile,
                free_memory_bytes: *free,
                estimated_from_total: false,
            },
            None => DeviceChoice {
                profile,
                free_memory_bytes: profile.total_memory_bytes,
                estimated_from_total: true,
            },
        });
    choices
        .reduce(|best, next| {
            if next.free_memory_bytes > best.free_memory_bytes {
                next
            } else {
                best
            }
        })
        .expect("a ready backend with devices has at least one")
}
