//! Driving [`Consensus`] on its own, without a [`Node`](crate::Node): messages go in
//! and out as values, as in raft-rs's `RawNode`.
//!
//! The caller owns what the node otherwise does: it authenticates every message and
//! names its sender truthfully, carries out every [`Effect`] in the order drained
//! (each persist before the sends after it), and calls
//! [`handle_timeout`](Consensus::handle_timeout) once [`poll_timeout`](Consensus::poll_timeout)
//! is reached. Leader maintenance that needs discovery (admitting learners, promoting
//! voters) is the node's and does not run here.

use super::{Consensus, Effect, RaftMessage};
use crate::identity::NodeId;
use crate::state::{ClusterCommand, ProposalId};
use crate::time::Instant;

impl Consensus {
    /// Handles `message` from `from`, whom the caller has authenticated (no device
    /// telemetry rides on its answers).
    pub fn step(&mut self, now: Instant, from: NodeId, message: RaftMessage) {
        self.on_message(now, from, message, &mut super::NoTelemetry);
    }

    /// Takes `commands` as one batch of proposals (see [`Node::propose_batch`](crate::Node::propose_batch)),
    /// each with the origin given.
    pub fn propose(&mut self, now: Instant, commands: Vec<(crate::state::Origin, ClusterCommand)>) -> Vec<ProposalId> {
        self.propose_batch(now, commands)
    }

    /// Starts a linearizable read (see [`Node::read`](crate::Node::read)).
    pub fn read_index(&mut self, now: Instant) -> super::reads::ReadId {
        self.read(now)
    }

    /// The earliest instant one of consensus's timers is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines().into_iter().filter_map(|(_, deadline)| deadline).min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (timer, deadline) in self.deadlines() {
            if deadline.is_some_and(|at| at <= now) {
                self.on_timer(now, timer);
            }
        }
    }

    /// Effects produced since the last drain, in the order they must be carried out.
    pub fn drain_effects(&mut self) -> std::vec::Drain<'_, Effect> {
        self.effects.drain(..)
    }
}
