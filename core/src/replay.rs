//! Replay protection: per sender, the newest epoch seen and, within it, a sliding
//! window of counters per transport.
//!
//! Invariants: a frame is accepted at most once per (sender, epoch, transport,
//! counter); a frame from an epoch older than the newest seen from that sender is
//! refused; a counter more than [`REPLAY_WINDOW`] behind the highest accepted one on
//! its transport is refused. Streams and datagrams count apart, so a stream queued
//! behind a slow link is never refused for trailing the datagrams.
//! The guard is updated only after a frame authenticated, so forged frames cannot
//! move a window.

use std::collections::BTreeMap;

use crate::identity::{NodeEpoch, NodeId};
use crate::transport::TransportClass;

/// How far behind the highest counter a frame may arrive and still be accepted.
pub const REPLAY_WINDOW: u64 = 64;

/// Why a frame failed the replay check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// The sender has already spoken from a newer epoch.
    StaleEpoch {
        /// Newest epoch seen.
        seen: NodeEpoch,
        /// Epoch of the frame.
        got: NodeEpoch,
    },
    /// The counter was already accepted, or is behind the window.
    Replayed {
        /// Counter of the frame.
        counter: u64,
        /// Highest counter accepted in this epoch.
        highest: u64,
    },
}

/// What an accepted frame told us about the sender's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochChange {
    /// First frame ever from this sender.
    FirstSeen,
    /// Same epoch as before.
    Same,
    /// The sender restarted: its epoch advanced from `from`.
    Advanced {
        /// Previous epoch.
        from: NodeEpoch,
    },
}

#[derive(Clone, Copy, Debug)]
struct Window {
    highest: u64,
    /// Bit `i` set: counter `highest - i` was accepted.
    seen: u64,
}

/// One sender's newest epoch and, within it, a window per transport (each transport
/// has its own counters).
#[derive(Clone, Copy, Debug)]
struct SenderWindows {
    epoch: NodeEpoch,
    datagram: Option<Window>,
    stream: Option<Window>,
}

impl SenderWindows {
    fn first(epoch: NodeEpoch, transport: TransportClass, counter: u64) -> Self {
        let mut windows = SenderWindows {
            epoch,
            datagram: None,
            stream: None,
        };
        *windows.window_mut(transport) = Some(Window::first(counter));
        windows
    }

    fn window_mut(&mut self, transport: TransportClass) -> &mut Option<Window> {
        match transport {
            TransportClass::Datagram => &mut self.datagram,
            TransportClass::Stream => &mut self.stream,
        }
    }
}

/// Replay state of every authenticated sender.
#[derive(Clone, Debug, Default)]
pub struct ReplayGuard {
    senders: BTreeMap<NodeId, SenderWindows>,
}

impl ReplayGuard {
    /// Checks (and on success records) a frame's epoch and its counter on `transport`.
    pub fn admit(
        &mut self,
        sender: NodeId,
        epoch: NodeEpoch,
        transport: TransportClass,
        counter: u64,
    ) -> Result<EpochChange, ReplayRefusal> {
        let Some(windows) = self.senders.get_mut(&sender) else {
            self.senders
                .insert(sender, SenderWindows::first(epoch, transport, counter));
            return Ok(EpochChange::FirstSeen);
        };
        if epoch < windows.epoch {
            return Err(ReplayRefusal::StaleEpoch {
                seen: windows.epoch,
                got: epoch,
            });
        }
        if epoch > windows.epoch {
            let from = windows.epoch;
            *windows = SenderWindows::first(epoch, transport, counter);
            return Ok(EpochChange::Advanced { from });
        }
        match windows.window_mut(transport) {
            Some(window) => window.accept(counter)?,
            empty @ None => *empty = Some(Window::first(counter)),
        }
        Ok(EpochChange::Same)
    }

    /// Newest epoch seen from `sender`.
    pub fn epoch_of(&self, sender: NodeId) -> Option<NodeEpoch> {
        self.senders.get(&sender).map(|windows| windows.epoch)
    }

    /// Senders tracked, in id order.
    pub fn senders(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.senders.keys().copied()
    }

    /// Stops tracking `sender` (a non-member gone silent): its next frame is seen
    /// as a first one.
    pub fn forget(&mut self, sender: NodeId) {
        self.senders.remove(&sender);
    }

    /// Number of senders tracked.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether no sender is tracked.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }
}

impl Window {
    fn first(counter: u64) -> Self {
        Window {
            highest: counter,
            seen: 1,
        }
    }

    fn accept(&mut self, counter: u64) -> Result<(), ReplayRefusal> {
        let refused = ReplayRefusal::Replayed {
            counter,
            highest: self.highest,
        };
        if counter > self.highest {
            let shift = counter - self.highest;
            self.seen = if shift >= REPLAY_WINDOW { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = counter;
            return Ok(());
        }
        let behind = self.highest - counter;
        if behind >= REPLAY_WINDOW {
            return Err(refused);
        }
        let bit = 1u64 << behind;
        if self.seen & bit != 0 {
            return Err(refused);
        }
        self.seen |= bit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: NodeId = NodeId([1; 16]);
    const DATAGRAM: TransportClass = TransportClass::Datagram;
    const STREAM: TransportClass = TransportClass::Stream;

    #[test]
    fn duplicates_are_refused_and_reordering_within_the_window_is_not() {
        let mut guard = ReplayGuard::default();
        assert_eq!(
            guard.admit(PEER, NodeEpoch(1), DATAGRAM, 10),
            Ok(EpochChange::FirstSeen)
        );
        assert_eq!(guard.admit(PEER, NodeEpoch(1), DATAGRAM, 12), Ok(EpochChange::Same));
        assert_eq!(guard.admit(PEER, NodeEpoch(1), DATAGRAM, 11), Ok(EpochChange::Same));
        assert_eq!(
            guard.admit(PEER, NodeEpoch(1), DATAGRAM, 11),
            Err(ReplayRefusal::Replayed {
                counter: 11,
                highest: 12
            })
        );
        assert_eq!(
            guard.admit(PEER, NodeEpoch(1), DATAGRAM, 12),
            Err(ReplayRefusal::Replayed {
                counter: 12,
                highest: 12
            })
        );
    }

    #[test]
    fn counters_behind_the_window_are_refused() {
        let mut guard = ReplayGuard::default();
        guard.admit(PEER, NodeEpoch(1), DATAGRAM, 100).unwrap();
        assert!(
            guard
                .admit(PEER, NodeEpoch(1), DATAGRAM, 100 - REPLAY_WINDOW + 1)
                .is_ok()
        );
        assert_eq!(
            guard.admit(PEER, NodeEpoch(1), DATAGRAM, 100 - REPLAY_WINDOW),
            Err(ReplayRefusal::Replayed {
                counter: 100 - REPLAY_WINDOW,
                highest: 100
            })
        );
    }

    #[test]
    fn a_large_jump_clears_the_window() {
        let mut guard = ReplayGuard::default();
        guard.admit(PEER, NodeEpoch(1), DATAGRAM, 1).unwrap();
        guard.admit(PEER, NodeEpoch(1), DATAGRAM, 1_000).unwrap();
        assert!(guard.admit(PEER, NodeEpoch(1), DATAGRAM, 999).is_ok());
        assert!(guard.admit(PEER, NodeEpoch(1), DATAGRAM, 1_000).is_err());
    }

    #[test]
    fn older_epochs_are_refused_after_a_restart() {
        let mut guard = ReplayGuard::default();
        guard.admit(PEER, NodeEpoch(1), DATAGRAM, 50).unwrap();
        assert_eq!(
            guard.admit(PEER, NodeEpoch(2), DATAGRAM, 0),
            Ok(EpochChange::Advanced { from: NodeEpoch(1) })
        );
        assert_eq!(
            guard.admit(PEER, NodeEpoch(1), DATAGRAM, 51),
            Err(ReplayRefusal::StaleEpoch {
                seen: NodeEpoch(2),
                got: NodeEpoch(1)
            })
        );
        assert_eq!(guard.epoch_of(PEER), Some(NodeEpoch(2)));
    }

    #[test]
    fn each_transport_has_its_own_window() {
        let mut guard = ReplayGuard::default();
        guard.admit(PEER, NodeEpoch(1), DATAGRAM, 1_000).unwrap();
        assert_eq!(guard.admit(PEER, NodeEpoch(1), STREAM, 3), Ok(EpochChange::Same));
        assert!(guard.admit(PEER, NodeEpoch(1), STREAM, 4).is_ok());
        assert!(guard.admit(PEER, NodeEpoch(1), DATAGRAM, 999).is_ok());
        assert_eq!(
            guard.admit(PEER, NodeEpoch(1), STREAM, 4),
            Err(ReplayRefusal::Replayed { counter: 4, highest: 4 })
        );
    }

    #[test]
    fn a_new_epoch_on_one_transport_resets_both() {
        let mut guard = ReplayGuard::default();
        guard.admit(PEER, NodeEpoch(1), STREAM, 500).unwrap();
        guard.admit(PEER, NodeEpoch(2), DATAGRAM, 0).unwrap();
        assert_eq!(guard.admit(PEER, NodeEpoch(2), STREAM, 0), Ok(EpochChange::Same));
        assert!(matches!(
            guard.admit(PEER, NodeEpoch(1), STREAM, 501),
            Err(ReplayRefusal::StaleEpoch { .. })
        ));
    }
}
