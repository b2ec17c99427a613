//! The simulator's observer: records every event into the trace, keeps each node's
//! view, captures frames for replay, and checks safety continuously.

use psionic_core::ConsensusEvent;
use psionic_core::ServingEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use psionic_core::consensus::{Entry, SnapshotMeta};
use psionic_core::{Digest, Event, Instant, NodeEpoch, NodeId, ProposalId, RefusalKind, Transmit};
use psionic_net::{NodeClient, Observer};

use crate::invariants::Invariants;
use crate::report::Violation;
use crate::trace::{Trace, TraceKind, TraceRecord};
use crate::views::Views;

/// Frames captured per (node, epoch), for replay faults.
const CAPTURED_FRAMES_MAX: usize = 16;

/// State shared by the harness and every node's observer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub trace: Trace,
    origin: tokio::time::Instant,
    state: Mutex<SharedState>,
}

#[derive(Debug, Default)]
pub(crate) struct SharedState {
    pub views: Views,
    pub violations: Vec<Violation>,
    /// Latest (id, epoch) each node started with.
    pub lives: BTreeMap<String, (NodeId, NodeEpoch)>,
    /// (viewer, sender, rule) of every refusal that named a sender.
    pub refusals: BTreeSet<(String, NodeId, RefusalKind)>,
    pub captured: BTreeMap<(String, NodeEpoch), Vec<Transmit>>,
    pub invariants: Invariants,
    /// Clients of each node's current life.
    pub clients: BTreeMap<String, NodeClient>,
    /// The leader each node follows, by name of the node asked.
    pub leaders: BTreeMap<String, Option<NodeId>>,
    /// Last index each node applied, with the state digest there.
    pub applied: BTreeMap<String, (u64, Option<Digest>)>,
    /// When an entry of each term was first applied anywhere.
    pub first_apply_of_term: BTreeMap<u64, u64>,
    /// Proposals the workload saw acknowledged, with their index.
    pub acknowledged: Vec<(ProposalId, u64)>,
    /// The term each node last led.
    pub led_term: BTreeMap<String, u64>,
    /// Nodes that installed a snapshot from a leader.
    pub snapshots_installed: BTreeSet<String>,
    /// The inference-request workload's ledger.
    pub requests: crate::cluster::RequestLedger,
    /// Frames every node handed to its transports.
    pub frames_sent: crate::report::FramesSent,
    /// Nodes that refused to start from their data directory, and have not started
    /// since.
    pub broken: BTreeSet<String>,
    /// What to do to each node's disk before its next start, in order.
    pub disk_actions: BTreeMap<String, Vec<crate::cluster::DiskAction>>,
    /// Nodes whose disk was damaged so that they must refuse to start.
    pub must_refuse: BTreeSet<String>,
    /// Nodes the committed state removed (and has not admitted again).
    pub removed: BTreeSet<NodeId>,
    /// The clients' writes and linearizable reads.
    pub history: Vec<crate::cluster::ClientOperation>,
    /// The trust posture each node starts with from now on, where an operator changed
    /// it (its admission tokens rotated).
    pub postures: BTreeMap<String, psionic_core::TrustPosture>,
}

impl SharedState {
    /// Follows removals and re-admissions as the committed state applies them.
    fn follow_membership(&mut self, fact: &psionic_core::ClusterEvent) {
        let psionic_core::ClusterEvent::Applied { command, .. } = fact else {
            return;
        };
        match **command {
            psionic_core::ClusterCommand::RemoveMember { node } => {
                self.removed.insert(node);
            }
            psionic_core::ClusterCommand::AdmitMember { node, .. } => {
                self.removed.remove(&node);
            }
            _ => {}
        }
    }

    fn track_consensus(&mut self, node: &str, node_id: NodeId, at_ms: u64, event: &Event) {
        match event {
            Event::Consensus(ConsensusEvent::LeaderElected { leader, term }) => {
                self.leaders.insert(node.to_owned(), Some(*leader));
                if *leader == node_id {
                    self.led_term.insert(node.to_owned(), *term);
                }
            }
            Event::Consensus(ConsensusEvent::RoleChanged { role, .. }) if *role != psionic_core::RoleKind::Leader => {
                self.leaders.insert(node.to_owned(), None);
            }
            Event::Consensus(ConsensusEvent::Applied {
                index,
                term,
                state_digest,
                fact,
            }) => {
                self.applied.insert(node.to_owned(), (*index, *state_digest));
                self.first_apply_of_term.entry(*term).or_insert(at_ms);
                self.follow_membership(fact);
            }
            Event::Consensus(ConsensusEvent::SnapshotInstalled {
                index, state_digest, ..
            }) => {
                self.applied.insert(node.to_owned(), (*index, Some(*state_digest)));
                self.snapshots_installed.insert(node.to_owned());
            }
            Event::Serving(ServingEvent::ExecutionEnded {
                request,
                completed: true,
                ..
            }) => {
                let nodes = self.requests.completed_on.entry(*request).or_default();
                if !nodes.iter().any(|known| known == node) {
                    nodes.push(node.to_owned());
                }
            }
            Event::Serving(ServingEvent::RequestRerouted { reason, .. }) => {
                let reason = serde_json::to_value(reason).map_or_else(|_| "?".into(), |value| value.to_string());
                *self
                    .requests
                    .reroutes
                    .entry(reason.trim_matches('"').to_owned())
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}

impl Shared {
    pub fn new(trace: Trace) -> Self {
        Self {
            trace,
            origin: tokio::time::Instant::now(),
            state: Mutex::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    pub fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub fn state(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().expect("simulation state lock")
    }

    pub fn record(&self, node: &str, kind: TraceKind) {
        self.trace.push(TraceRecord {
            at_ms: self.now_ms(),
            node: node.to_owned(),
            kind,
        });
    }
}

/// The observer of one named node.
#[derive(Debug)]
pub(crate) struct SimObserver {
    pub name: String,
    pub shared: Arc<Shared>,
}

impl Observer for SimObserver {
    fn on_start(&self, node: NodeId, epoch: NodeEpoch) {
        self.shared
            .record(&self.name, TraceKind::Start { node_id: node, epoch });
        let mut state = self.shared.state();
        state.views.reset(&self.name);
        state.leaders.insert(self.name.clone(), None);
        if let Some((before_id, before_epoch)) = state.lives.insert(self.name.clone(), (node, epoch)) {
            if before_id != node {
                let violation = Violation::IdentityChanged {
                    node: self.name.clone(),
                    before: before_id,
                    after: node,
                };
                state.violations.push(violation);
            }
            if epoch <= before_epoch {
                let violation = Violation::EpochNotAdvanced {
                    node: self.name.clone(),
                    before: before_epoch,
                    after: epoch,
                };
                state.violations.push(violation);
            }
        }
    }

    fn on_event(&self, node: NodeId, _now: Instant, event: &Event) {
        self.shared
            .record(&self.name, TraceKind::Event { event: event.clone() });
        let at_ms = self.shared.now_ms();
        let mut state = self.shared.state();
        state.views.apply(&self.name, event);
        let violations = state.invariants.check(&self.name, node, at_ms, event);
        state.violations.extend(violations);
        state.track_consensus(&self.name, node, at_ms, event);
        if let Event::Refused { refusal, .. } = event
            && let Some(sender) = refusal.sender()
        {
            state.refusals.insert((self.name.clone(), sender, refusal.kind()));
        }
    }

    fn on_log_persisted(&self, _node: NodeId, first_index: u64, entries: &[Entry]) {
        let at_ms = self.shared.now_ms();
        let mut state = self.shared.state();
        let violations = state.invariants.log_persisted(&self.name, at_ms, first_index, entries);
        state.violations.extend(violations);
    }

    fn on_snapshot_persisted(&self, _node: NodeId, meta: &SnapshotMeta) {
        self.shared.state().invariants.snapshot_persisted(&self.name, meta);
    }

    fn on_transmit(&self, node: NodeId, transmit: &Transmit) {
        let mut state = self.shared.state();
        state.frames_sent.count(transmit);
        let Some((_, epoch)) = state.lives.get(&self.name).copied().filter(|(id, _)| *id == node) else {
            return;
        };
        let frames = state.captured.entry((self.name.clone(), epoch)).or_default();
        if frames.len() < CAPTURED_FRAMES_MAX {
            frames.push(transmit.clone());
        }
    }
}
