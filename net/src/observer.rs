//! Hooks through which an application (the binary, the simulator) sees what a node does.

use psionic_core::consensus::{Entry, SnapshotMeta};
use std::collections::BTreeMap;
use std::sync::Mutex;

use psionic_core::{Event, Instant, NodeEpoch, NodeId, RefusalKind, Transmit};

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

    /// A snapshot up to `meta.last_index` is durable; the log before it is gone (also
    /// called at start for the snapshot a node recovered).
    fn on_snapshot_persisted(&self, node: NodeId, meta: &SnapshotMeta) {
        let _ = (node, meta);
    }
}

/// Refusal lines logged per kind per second; past it, one line a second says how
/// many were not (the refusal counters in `/metrics` stay exact).
pub const REFUSAL_LOGS_PER_KIND_PER_S: u32 = 10;

/// Logs every event with `tracing`: refusals at warn (at most
/// [`REFUSAL_LOGS_PER_KIND_PER_S`] a second per kind), the rest at info.
#[derive(Debug, Default)]
pub struct LogObserver {
    refusal_logs: Mutex<BTreeMap<RefusalKind, LogWindow>>,
}

/// One kind's refusal lines in the current second.
#[derive(Debug, Clone, Copy)]
struct LogWindow {
    started_ms: u64,
    logged: u32,
    suppressed: u64,
}

impl LogObserver {
    /// Whether a refusal of `kind` at `now` is logged; closes the window before it,
    /// saying how many it did not log.
    fn admit_refusal_log(&self, kind: RefusalKind, now: Instant) -> bool {
        let mut windows = self
            .refusal_logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now_ms = now.as_millis();
        let window = windows.entry(kind).or_insert(LogWindow {
            started_ms: now_ms,
            logged: 0,
            suppressed: 0,
        });
        if now_ms.saturating_sub(window.started_ms) >= 1_000 {
            if window.suppressed > 0 {
                tracing::warn!(
                    kind = kind.name(),
                    count = window.suppressed,
                    "refusals not logged in the last second"
                );
            }
            *window = LogWindow {
                started_ms: now_ms,
                logged: 0,
                suppressed: 0,
            };
        }
        if window.logged < REFUSAL_LOGS_PER_KIND_PER_S {
            window.logged += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }
}

impl Observer for LogObserver {
    fn on_start(&self, node: NodeId, epoch: NodeEpoch) {
        tracing::info!(node = %node, epoch = epoch.0, "node speaking");
    }

    /// Runs inside the driver's `node` span (id, epoch) and its `term` span.
    fn on_event(&self, _node: NodeId, now: Instant, event: &Event) {
        match event {
            Event::Refused { from, refusal } => {
                if self.admit_refusal_log(refusal.kind(), now) {
                    tracing::warn!(%from, kind = refusal.kind().name(), "refused: {refusal}");
                }
            }
            // A streaming request's tokens are its own business, not the log's.
            Event::Serving(psionic_core::ServingEvent::TokensProduced { .. }) => {}
            event => tracing::info!(?event, "event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_lines_are_capped_per_kind_per_second() {
        let observer = LogObserver::default();
        let logged = |at_ms: u64, kind| observer.admit_refusal_log(kind, Instant::from_millis(at_ms));
        let first_second = (0..1_000).filter(|n| logged(*n, RefusalKind::MalformedFrame)).count();
        assert_eq!(first_second, REFUSAL_LOGS_PER_KIND_PER_S as usize);
        assert!(logged(500, RefusalKind::Replay), "each kind has its own budget");
        assert!(logged(1_000, RefusalKind::MalformedFrame), "a new second, a new budget");
    }
}
