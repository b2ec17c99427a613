//! Hooks through which an application (the binary, the simulator) sees what a node does.

use psionic_core::consensus::{Entry, SnapshotMeta};
use psionic_core::{Event, Instant, NodeEpoch, NodeId, Transmit};

/// Receives a node's events and transmits as the driver carries them out.
///
/// Called on the driver's task: implementations must be quick and must not block.
pub trait Observer: Send + Sync + 'static {
    /// The node started speaking in `epoch`.
    fn on_start(&self, node: NodeId, epoch: NodeEpoch) {
        let _ = (node, epoch);
    }

    /// The core emitted `event` at `now` (the node's own, possibly skewed, clock).
    fn on_event(&self, node: NodeId, now: Instant, event: &Event) {
        let _ = (node, now, event);
    }

    /// The driver is about to send `transmit`.
    fn on_transmit(&self, node: NodeId, transmit: &Transmit) {
        let _ = (node, transmit);
    }

    /// `entries` are durable in the log from `first_index` on (any later ones were cut).
    fn on_log_persisted(&self, node: NodeId, first_index: u64, entries: &[Entry]) {
        let _ = (node, first_index, entries);
    }

    /// A snapshot up to `meta.last_index` is durable; the log before it is gone.
    fn on_snapshot_persisted(&self, node: NodeId, meta: &SnapshotMeta) {
        let _ = (node, meta);
    }
}

/// Logs every event with `tracing`: refusals at warn, the rest at info.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogObserver;

impl Observer for LogObserver {
    fn on_start(&self, node: NodeId, epoch: NodeEpoch) {
        tracing::info!(node = %node, epoch = epoch.0, "node speaking");
    }

    /// Runs inside the driver's `node` span (id, epoch) and its `term` span.
    fn on_event(&self, _node: NodeId, _now: Instant, event: &Event) {
        match event {
            Event::Refused { from, refusal } => {
                tracing::warn!(%from, kind = refusal.kind().name(), "refused: {refusal}");
            }
            event => tracing::info!(?event, "event"),
        }
    }
}
