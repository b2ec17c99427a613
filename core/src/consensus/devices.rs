//! Backend readiness and soft telemetry.
//!
//! Invariants: a node's readiness reaches the log only through the leader, which
//! proposes `SetBackendReadiness` for a member whose claim differs from the record
//! (the committed state patched by entries not yet applied), so one change is proposed
//! once. Telemetry is never logged; the leader keeps the latest report of each member
//! with the instant it arrived.

use std::collections::BTreeMap;

use super::{Consensus, EntryPayload, Role};
use crate::backend::{
    Backend, BackendReadiness, DEVICES_PER_BACKEND_MAX, DeviceReport, HeartbeatReport, ReadinessByBackend, Telemetry,
};
use crate::identity::NodeId;
use crate::state::ClusterCommand;
use crate::time::Instant;

/// Telemetry as last received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetrySeen {
    /// The report.
    pub telemetry: Telemetry,
    /// When it arrived.
    pub at: Instant,
}

/// What this node knows of backends beyond the replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeviceBook {
    /// This node's own report, as the driver gave it.
    pub local: DeviceReport,
    /// Latest telemetry per node (self included).
    pub seen: BTreeMap<NodeId, TelemetrySeen>,
    /// Leader: readiness members claim while their applied state records another.
    pub claims: BTreeMap<NodeId, ReadinessByBackend>,
}

impl Consensus {
    /// Takes this node's device report from the driver.
    pub(crate) fn report_devices(&mut self, now: Instant, report: DeviceReport) {
        let seen = TelemetrySeen {
            telemetry: report.telemetry.clone(),
            at: now,
        };
        self.devices.seen.insert(self.id, seen);
        self.index_telemetry(self.id);
        self.devices.local = DeviceReport {
            readiness: report
                .readiness
                .into_iter()
                .map(|(backend, readiness)| (backend, readiness.for_cluster(backend)))
                .collect(),
            telemetry: report.telemetry,
        };
    }

    /// Updates the queue depth in this node's own telemetry.
    pub(crate) fn set_queue_depth(&mut self, now: Instant, queue_depth: u32) {
        self.devices.local.telemetry.queue_depth = queue_depth;
        let seen = TelemetrySeen {
            telemetry: self.devices.local.telemetry.clone(),
            at: now,
        };
        self.devices.seen.insert(self.id, seen);
        self.index_telemetry(self.id);
    }

    /// Latest telemetry per node, as known here.
    pub fn telemetry(&self) -> &BTreeMap<NodeId, TelemetrySeen> {
        &self.devices.seen
    }

    /// The report a follower attaches to an append response.
    pub(crate) fn heartbeat_report(&self) -> HeartbeatReport {
        let local = &self.devices.local;
        let recorded = self.state.backends.get(&self.id);
        let differs = !local.readiness.is_empty() && recorded != Some(&local.readiness);
        HeartbeatReport {
            telemetry: local.telemetry.clone(),
            readiness_claim: differs.then(|| local.readiness.clone()),
        }
    }

    /// Leader: notes a member's heartbeat report.
    pub(crate) fn on_heartbeat_report(&mut self, now: Instant, from: NodeId, report: HeartbeatReport) {
        if !matches!(self.role, Role::Leader(_)) || !self.state.is_member(from) {
            return;
        }
        let seen = TelemetrySeen {
            telemetry: report.telemetry,
            at: now,
        };
        self.devices.seen.insert(from, seen);
        self.index_telemetry(from);
        match report.readiness_claim {
            Some(claim) => self.devices.claims.insert(from, claim),
            None => self.devices.claims.remove(&from),
        };
    }

    /// Leader: proposes the readiness changes due now, its own included.
    pub(crate) fn maintain_readiness(&mut self, now: Instant) {
        if !matches!(self.role, Role::Leader(_)) {
            return;
        }
        let mut claims = self.devices.claims.clone();
        if !self.devices.local.readiness.is_empty() {
            claims.insert(self.id, self.devices.local.readiness.clone());
        }
        let recorded = self.recorded_readiness();
        let members = self.effective_members();
        let mut commands = Vec::new();
        for (node, claim) in claims.into_iter().filter(|(node, _)| members.contains_key(node)) {
            let claim = claim
                .into_iter()
                .map(|(backend, readiness)| (backend, readiness.for_cluster(backend)));
            for (backend, readiness) in claim.filter(|(_, readiness)| within_limits(readiness)) {
                if recorded.get(&(node, backend)) != Some(&readiness) {
                    commands.push(ClusterCommand::SetBackendReadiness {
                        node,
                        backend,
                        readiness,
                    });
                }
            }
        }
        if !commands.is_empty() {
            let _ = self.propose_batch(now, commands);
        }
    }

    /// Readiness by (node, backend) after every entry in the log, applied or not.
    fn recorded_readiness(&self) -> BTreeMap<(NodeId, Backend), BackendReadiness> {
        let mut recorded: BTreeMap<(NodeId, Backend), BackendReadiness> = self
            .state
            .backends
            .iter()
            .flat_map(|(node, backends)| {
                backends
                    .iter()
                    .map(move |(backend, readiness)| ((*node, *backend), readiness.clone()))
            })
            .collect();
        for index in self.state.applied_index + 1..=self.log.last_index() {
            if let Some(EntryPayload::Proposal(proposal)) = self.log.get(index).map(|entry| &entry.payload)
                && let ClusterCommand::SetBackendReadiness {
                    node,
                    backend,
                    readiness,
                } = &proposal.command
            {
                recorded.insert((*node, *backend), readiness.clone());
            }
        }
        recorded
    }
}

/// A claim the state would refuse is never proposed (it would be proposed again on
/// every heartbeat).
fn within_limits(readiness: &BackendReadiness) -> bool {
    match readiness {
        BackendReadiness::Ready { devices, .. } => devices.len() <= DEVICES_PER_BACKEND_MAX,
        BackendReadiness::Refused { .. } => true,
    }
}

impl crate::plan::TelemetryLookup for BTreeMap<NodeId, TelemetrySeen> {
    fn telemetry(&self, node: &NodeId) -> Option<&Telemetry> {
        self.get(node).map(|seen| &seen.telemetry)
    }
}
