//! The simulator's observer: records every event into the trace, keeps each node's
//! view, captures frames for replay, and checks safety continuously.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use psionic_core::{Event, Instant, NodeEpoch, NodeId, RefusalKind, Transmit};
use psionic_net::Observer;

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
    /// Nodes refused admission: never to be listed by anyone.
    pub banned: BTreeSet<NodeId>,
    pub violations: Vec<Violation>,
    /// Latest (id, epoch) each node started with.
    pub lives: BTreeMap<String, (NodeId, NodeEpoch)>,
    /// (viewer, sender, rule) of every refusal that named a sender.
    pub refusals: BTreeSet<(String, NodeId, RefusalKind)>,
    pub captured: BTreeMap<(String, NodeEpoch), Vec<Transmit>>,
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

    fn on_event(&self, _node: NodeId, _now: Instant, event: &Event) {
        self.shared
            .record(&self.name, TraceKind::Event { event: event.clone() });
        let at_ms = self.shared.now_ms();
        let mut state = self.shared.state();
        state.views.apply(&self.name, event);
        match event {
            Event::PeerDiscovered { peer, .. } if state.banned.contains(peer) => {
                let violation = Violation::RefusedPeerListed {
                    viewer: self.name.clone(),
                    peer: *peer,
                    at_ms,
                };
                state.violations.push(violation);
            }
            Event::Refused { refusal, .. } => {
                if let Some(sender) = refusal.sender() {
                    state.refusals.insert((self.name.clone(), sender, refusal.kind()));
                }
            }
            _ => {}
        }
    }

    fn on_transmit(&self, node: NodeId, transmit: &Transmit) {
        let mut state = self.shared.state();
        let Some((_, epoch)) = state.lives.get(&self.name).copied().filter(|(id, _)| *id == node) else {
            return;
        };
        let frames = state.captured.entry((self.name.clone(), epoch)).or_default();
        if frames.len() < CAPTURED_FRAMES_MAX {
            frames.push(transmit.clone());
        }
    }
}
