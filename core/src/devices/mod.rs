//! Device truth beside consensus: this node's backend readiness and soft telemetry,
//! what it last sent its leader, and (on the leader) every member's latest report and
//! the links they measured. Consensus carries the reports on its append answers
//! ([`HeartbeatTelemetry`]) but holds none of it.
//!
//! Invariants: telemetry is never logged; the leader keeps the latest report of each
//! member with the instant it arrived; a follower repeats unchanged telemetry at most
//! every [`TELEMETRY_REFRESH_MS`].

mod readiness;

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::{DeviceReport, HeartbeatReport, LinkTelemetry, ReadinessByBackend, Telemetry};
use crate::consensus::HeartbeatTelemetry;
use crate::identity::NodeId;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Devices {
    /// This node.
    id: NodeId,
    /// This node's own report, as the driver gave it.
    local: DeviceReport,
    /// Latest telemetry per node (self included).
    seen: BTreeMap<NodeId, TelemetrySeen>,
    /// Leader: readiness members claim while their applied state records another.
    claims: BTreeMap<NodeId, ReadinessByBackend>,
    /// Measured links keyed by (smaller id, larger id): the worse of what either end
    /// last reported.
    links: BTreeMap<(NodeId, NodeId), LinkTelemetry>,
    /// Advances whenever this node's own telemetry changes.
    local_version: u64,
    /// This node's telemetry as last sent to a leader.
    reported: Option<Reported>,
    /// Nodes whose telemetry changed since [`Devices::take_telemetry_changes`].
    changed: BTreeSet<NodeId>,
}

/// Telemetry a follower sent with an append response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reported {
    /// Term and leader it went to.
    pub term: u64,
    pub leader: NodeId,
    /// [`Devices::local_version`] it carried.
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

impl Devices {
    /// The devices of node `id`, with nothing reported yet.
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            local: DeviceReport::default(),
            seen: BTreeMap::new(),
            claims: BTreeMap::new(),
            links: BTreeMap::new(),
            local_version: 0,
            reported: None,
            changed: BTreeSet::new(),
        }
    }

    /// Takes this node's device report from the driver: readiness and free memory
    /// (queue depth and measured links are kept as they were set).
    pub(crate) fn report(&mut self, now: Instant, mut report: DeviceReport) {
        report.telemetry.links = std::mem::take(&mut self.local.telemetry.links);
        report.telemetry.queue_depth = self.local.telemetry.queue_depth;
        let seen = TelemetrySeen {
            telemetry: report.telemetry.clone(),
            at: now,
        };
        self.note_telemetry(self.id, seen);
        self.local_version += 1;
        self.local = DeviceReport {
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
        self.local.telemetry.queue_depth = queue_depth;
        self.local_telemetry_changed(now);
    }

    /// Updates the links this node measured in its own telemetry.
    pub(crate) fn set_links(&mut self, now: Instant, links: BTreeMap<NodeId, LinkTelemetry>) {
        if self.local.telemetry.links != links {
            self.local.telemetry.links = links;
            self.local_telemetry_changed(now);
        }
    }

    /// Keeps `seen` as `node`'s latest telemetry, and the measured links it touches.
    fn note_telemetry(&mut self, node: NodeId, seen: TelemetrySeen) {
        let previous = self.seen.insert(node, seen);
        let mut peers: BTreeSet<NodeId> = previous
            .map(|previous| previous.telemetry.links.into_keys().collect())
            .unwrap_or_default();
        peers.extend(self.seen[&node].telemetry.links.keys().copied());
        for peer in peers {
            let pair = ordered_pair(node, peer);
            let measured = |from: NodeId, to: NodeId| self.seen.get(&from)?.telemetry.links.get(&to).copied();
            match worse_of(measured(node, peer), measured(peer, node)) {
                Some(link) => self.links.insert(pair, link),
                None => self.links.remove(&pair),
            };
        }
        self.changed.insert(node);
    }

    fn local_telemetry_changed(&mut self, now: Instant) {
        self.local_version += 1;
        let seen = TelemetrySeen {
            telemetry: self.local.telemetry.clone(),
            at: now,
        };
        self.note_telemetry(self.id, seen);
    }

    /// The nodes whose telemetry changed since the last call.
    pub(crate) fn take_telemetry_changes(&mut self) -> BTreeSet<NodeId> {
        std::mem::take(&mut self.changed)
    }

    /// Measured links keyed by (smaller id, larger id): the worse of what either end
    /// last reported.
    pub fn links_measured(&self) -> &BTreeMap<(NodeId, NodeId), LinkTelemetry> {
        &self.links
    }

    /// This node's own backend readiness, as its driver reported it.
    pub fn local_readiness(&self) -> &ReadinessByBackend {
        &self.local.readiness
    }

    /// Latest telemetry per node, as known here.
    pub fn telemetry(&self) -> &BTreeMap<NodeId, TelemetrySeen> {
        &self.seen
    }
}

impl HeartbeatTelemetry for Devices {
    /// The report a follower attaches to an append response to `leader`: telemetry
    /// when it changed, when it goes to another term or leader, or when
    /// [`TELEMETRY_REFRESH_MS`] passed since it was last sent.
    fn report_for(
        &mut self,
        now: Instant,
        term: u64,
        leader: NodeId,
        recorded: Option<&ReadinessByBackend>,
    ) -> HeartbeatReport {
        let version = self.local_version;
        let due = self.reported.is_none_or(|reported| {
            reported.term != term
                || reported.leader != leader
                || reported.version != version
                || now.saturating_since(reported.at).as_millis() >= u128::from(TELEMETRY_REFRESH_MS)
        });
        if due {
            self.reported = Some(Reported {
                term,
                leader,
                version,
                at: now,
            });
        }
        let local = &self.local;
        let differs = !local.readiness.is_empty() && recorded != Some(&local.readiness);
        HeartbeatReport {
            telemetry: due.then(|| local.telemetry.clone()),
            readiness_claim: differs.then(|| local.readiness.clone()),
        }
    }

    /// Leader: notes a member's heartbeat report.
    fn on_report(&mut self, now: Instant, from: NodeId, report: HeartbeatReport) {
        match report.telemetry {
            Some(telemetry) => self.note_telemetry(from, TelemetrySeen { telemetry, at: now }),
            None => {
                if let Some(seen) = self.seen.get_mut(&from) {
                    seen.at = now;
                }
            }
        }
        match report.readiness_claim {
            Some(claim) => self.claims.insert(from, claim),
            None => self.claims.remove(&from),
        };
    }
}

#[cfg(test)]
mod tests;
