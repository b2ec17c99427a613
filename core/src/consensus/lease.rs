//! The leader's lease: while it holds, no other leader can have been elected.
//!
//! A follower that takes an append from the leader ignores elections for the
//! election-timeout floor after it (leader stickiness, measured on its own clock from
//! when the append arrived). So once a quorum of voters has acknowledged appends the
//! leader sent at or after `start`, no candidate can win a vote before
//! `start + election_timeout_ms_min` by those voters' clocks. Each append carries the
//! leader's send time and its answer echoes it, so `start` is the send time of the
//! acknowledged round, not when the answer arrived; answers to appends sent before
//! this leadership began count for nothing. A voter that restarts ignores elections for
//! the floor after it starts, so a restart does not cut a lease short. The lease ends
//! once a transfer has told its target to stand. It is shortened by a tenth to allow
//! for clocks that run at different rates: it assumes no voter's clock runs more than
//! 10% faster than the leader's over one election timeout.

use super::Consensus;
use crate::identity::NodeId;
use core::time::Duration;

use crate::time::{Instant, ms};

impl Consensus {
    /// Leader: `from` answered an append it sent at `echo_us` (its own clock).
    pub(crate) fn note_heard(&mut self, from: NodeId, echo_us: u64) {
        if let Some(leadership) = self.role.leadership_mut() {
            leadership.note_heard(from, echo_us);
        }
    }

    /// Leader: the send time of the newest round a quorum of voters acknowledged.
    pub(crate) fn lease_start(&self, now: Instant) -> Option<Instant> {
        let leadership = self.role.leadership()?;
        leadership.lease_start(self.id, &self.effective_voters(), now)
    }

    /// Leader: the send stamp of a new round of appends.
    pub(crate) fn next_send_stamp(&mut self, now: Instant) -> Option<u64> {
        Some(self.role.leadership_mut()?.next_send_stamp(now))
    }

    /// How long a lease lasts from its start.
    pub(crate) fn lease_length(&self) -> Duration {
        let floor = self.config.election_timeout_ms_min;
        ms(floor - floor / 10)
    }

    /// Leader: whether its lease holds at `now`. It ends once a transfer has told its
    /// target to stand: voters give the target their votes without waiting.
    pub(crate) fn holds_lease(&self, now: Instant) -> bool {
        let transferring = self
            .role
            .leadership()
            .is_some_and(|leadership| leadership.transfer_told());
        !transferring
            && self
                .lease_start(now)
                .is_some_and(|start| now.saturating_since(start) < self.lease_length())
    }
}
