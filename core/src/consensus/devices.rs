//! Backend readiness and soft telemetry.
//!
//! Invariants: a node's readiness reaches the log only through the leader, which
//! proposes `SetBackendReadiness` for a member whose claim differs from the record
//! (the committed state patched by entries not yet applied), so one change is proposed
//! once. Telemetry is never logged; the leader keeps the latest report of each member
//! with the instant it arrived.

use std::collections::{BTreeMap, BTreeSet};

use super::{Consensus, EntryPayload, Role};
use crate::backend::{
    Backend, BackendReadiness, DEVICES_PER_BACKEND_MAX, DeviceReport, HeartbeatReport, LinkTelemetry,
    ReadinessByBackend, Telemetry,
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
    /// Measured links keyed by (smaller id, larger id): the worse of what either end
    /// last reported.
    pub links: BTreeMap<(NodeId, NodeId), LinkTelemetry>,
    /// Advances whenever this node's own telemetry changes.
    pub local_version: u64,
    /// This node's telemetry as last sent to a leader.
    pub reported: Option<Reported>,
    /// Nodes whose telemetry changed since [`Consensus::take_telemetry_changes`].
    pub changed: BTreeSet<NodeId>,
}

/// Telemetry a follower sent with an append response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reported {
    /// Term and leader it went to.
    pub term: u64,
    pub leader: NodeId,
    /// [`DeviceBook::local_version`] it carried.
    pub version: u64,
    /// When.
    pub at: Instant,
}

/// A follower repeats unchanged telemetry to its leader this often; in between, its
/// append responses carry none and the leader keeps what it has, heard now.
pub const TELEMETRY_REFRESH_MS: u64 = 1_000;

fn ordered_pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    if a <= b { (a, b) } else { (b, a) }
}

/// The slower round trip and the lower bandwidth of the two ends' measurements.
fn worse_of(a: Option<LinkTelemetry>, b: Option<LinkTelemetry>) -> Option<LinkTelemetry> {
    match (a, b) {
        (Some(a), Some(b)) => Some(LinkTelemetry {
            rtt_us: a.rtt_us.max(b.rtt_us),
            bandwidth_mbps: match (a.bandwidth_mbps, b.bandwidth_mbps) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            },
        }),
        (one, other) => one.or(other),
    }
}

impl Consensus {
    /// Takes this node's device report from the driver: readiness and free memory
    /// (queue depth and measured links are kept as they were set).
    pub(crate) fn report_devices(&mut self, now: Instant, mut report: DeviceReport) {
        report.telemetry.links = std::mem::take(&mut self.devices.local.telemetry.links);
        report.telemetry.queue_depth = self.devices.local.telemetry.queue_depth;
        let seen = TelemetrySeen {
            telemetry: report.telemetry.clone(),
            at: now,
        };
        self.note_telemetry(self.id, seen);
        self.devices.local_version += 1;
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
        self.local_telemetry_changed(now);
    }

    /// Updates the links this node measured in its own telemetry.
    pub(crate) fn set_links(&mut self, now: Instant, links: BTreeMap<NodeId, LinkTelemetry>) {
        if self.devices.local.telemetry.links != links {
            self.devices.local.telemetry.links = links;
            self.local_telemetry_changed(now);
        }
    }

    /// Keeps `seen` as `node`'s latest telemetry, and the measured links it touches.
    fn note_telemetry(&mut self, node: NodeId, seen: TelemetrySeen) {
        let previous = self.devices.seen.insert(node, seen);
        let mut peers: BTreeSet<NodeId> = previous
            .map(|previous| previous.telemetry.links.into_keys().collect())
            .unwrap_or_default();
        peers.extend(self.devices.seen[&node].telemetry.links.keys().copied());
        for peer in peers {
            let pair = ordered_pair(node, peer);
            let measured = |from: NodeId, to: NodeId| self.devices.seen.get(&from)?.telemetry.links.get(&to).copied();
            match worse_of(measured(node, peer), measured(peer, node)) {
                Some(link) => self.devices.links.insert(pair, link),
                None => self.devices.links.remove(&pair),
            };
        }
        self.devices.changed.insert(node);
    }

    fn local_telemetry_changed(&mut self, now: Instant) {
        self.devices.local_version += 1;
        let seen = TelemetrySeen {
            telemetry: self.devices.local.telemetry.clone(),
            at: now,
        };
        self.note_telemetry(self.id, seen);
    }

    /// The nodes whose telemetry changed since the last call.
    pub(crate) fn take_telemetry_changes(&mut self) -> BTreeSet<NodeId> {
        std::mem::take(&mut self.devices.changed)
    }

    /// Measured links keyed by (smaller id, larger id): the worse of what either end
    /// last reported.
    pub fn links_measured(&self) -> &BTreeMap<(NodeId, NodeId), LinkTelemetry> {
        &self.devices.links
    }

    /// This node's own backend readiness, as its driver reported it.
    pub fn local_readiness(&self) -> &ReadinessByBackend {
        &self.devices.local.readiness
    }

    /// Latest telemetry per node, as known here.
    pub fn telemetry(&self) -> &BTreeMap<NodeId, TelemetrySeen> {
        &self.devices.seen
    }

    /// The report a follower attaches to an append response to `leader`: telemetry
    /// when it changed, when it goes to another term or leader, or when
    /// [`TELEMETRY_REFRESH_MS`] passed since it was last sent.
    pub(crate) fn heartbeat_report(&mut self, now: Instant, leader: NodeId) -> HeartbeatReport {
        let version = self.devices.local_version;
        let due = self.devices.reported.is_none_or(|reported| {
            reported.term != self.hard.term
                || reported.leader != leader
                || reported.version != version
                || now.saturating_since(reported.at).as_millis() >= u128::from(TELEMETRY_REFRESH_MS)
        });
        if due {
            self.devices.reported = Some(Reported {
                term: self.hard.term,
                leader,
                version,
                at: now,
            });
        }
        let local = &self.devices.local;
        let recorded = self.state.backends.get(&self.id);
        let differs = !local.readiness.is_empty() && recorded != Some(&local.readiness);
        HeartbeatReport {
            telemetry: due.then(|| local.telemetry.clone()),
            readiness_claim: differs.then(|| local.readiness.clone()),
        }
    }

    /// Leader: notes a member's heartbeat report.
    pub(crate) fn on_heartbeat_report(&mut self, now: Instant, from: NodeId, report: HeartbeatReport) {
        if !matches!(self.role, Role::Leader(_)) || !self.state.is_member(from) {
            return;
        }
        match report.telemetry {
            Some(telemetry) => self.note_telemetry(from, TelemetrySeen { telemetry, at: now }),
            None => {
                if let Some(seen) = self.devices.seen.get_mut(&from) {
                    seen.at = now;
                }
            }
        }
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
                    let report = ClusterCommand::SetBackendReadiness {
                        node,
                        backend,
                        readiness,
                    };
                    commands.push((crate::state::Origin::Member { node }, report));
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
            if let Some(EntryPayload::Proposal(proposal)) = self.log.get(index).map(|entry| &*entry.payload)
                && let ClusterCommand::SetBackendReadiness {
                    node,
                    backend,
                    readiness,
                } = &*proposal.command
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
