//! The closed set of timers a core arms. [`crate::Node::poll_timeout`] is their minimum.

use std::collections::BTreeMap;

use crate::time::Instant;

/// Every timer of the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Fires when the earliest peer or dial target is due a discovery probe.
    DiscoveryProbe,
    /// Fires when the longest-silent peer reaches `peer_expiry_ms` and is dropped.
    PeerExpiry,
    /// Fires when a voter that is not leading has heard no leader for its randomized
    /// election timeout: it starts a pre-vote.
    Election,
    /// Fires every heartbeat interval on the leader: it appends to every follower.
    Heartbeat,
    /// Fires every election-timeout floor on the leader: it steps down unless a quorum
    /// answered since the last check.
    CheckQuorum,
    /// Fires every heartbeat interval on the leader, however often proposals send
    /// appends in between: it gives up an overdue transfer and proposes the
    /// membership and readiness changes due.
    Maintenance,
    /// Fires every [`crate::node::UPKEEP_INTERVAL_MS`] on every node, peers or none:
    /// it reconciles candidates, advances staging and makes its own reports due
    /// again (a lone voter's report refused before it led included).
    Upkeep,
}

/// Deadlines of the armed timers.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    deadlines: BTreeMap<Timer, Instant>,
}

impl TimerTable {
    /// Arms `timer` at `deadline`, or disarms it if `None`.
    pub fn set(&mut self, timer: Timer, deadline: Option<Instant>) {
        match deadline {
            Some(at) => self.deadlines.insert(timer, at),
            None => self.deadlines.remove(&timer),
        };
    }

    /// The earliest deadline.
    pub fn earliest(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Whether `timer` is armed and due at `now`.
    pub fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.deadlines.get(&timer).is_some_and(|at| *at <= now)
    }
}
