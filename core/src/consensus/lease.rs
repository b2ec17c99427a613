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

use super::{Consensus, Role};
use crate::identity::NodeId;
use core::time::Duration;

use crate::time::{Instant, ms};

impl Consensus {
    /// Leader: `from` answered an append it sent at `echo_us` (its own clock).
    pub(crate) fn note_heard(&mut self, from: NodeId, echo_us: u64) {
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        leadership.heard_since_check.insert(from);
        let sent = Instant::from_micros(echo_us.min(leadership.sent_stamp_us));
        if sent < leadership.since {
            // An answer to an append of an earlier leadership (refused, or taken from
            // another leader): it says nothing about this one.
            return;
        }
        let acked = leadership.acked_sent_at.entry(from).or_insert(sent);
        *acked = (*acked).max(sent);
    }

    /// Leader: the send time of the newest round a quorum of voters acknowledged (this
    /// node counts as acknowledging its latest round, or `now` if later); none before a
    /// quorum has.
    pub(crate) fn lease_start(&self, now: Instant) -> Option<Instant> {
        let Role::Leader(leadership) = &self.role else {
            return None;
        };
        let voters = self.effective_voters();
        let mut acked: Vec<Instant> = voters
            .iter()
            .filter_map(|voter| match *voter == self.id {
                true => Some(now.max(Instant::from_micros(leadership.sent_stamp_us))),
                false => leadership.acked_sent_at.get(voter).copied(),
            })
            .collect();
        let quorum = voters.len() / 2 + 1;
        if acked.len() < quorum {
            return None;
        }
        acked.sort_unstable_by(|a, b| b.cmp(a));
        Some(acked[quorum - 1])
    }

    /// Leader: the send stamp of a new round of appends (its clock, or a microsecond
    /// past the last stamp if that was later).
    pub(crate) fn next_send_stamp(&mut self, now: Instant) -> Option<u64> {
        let now_us = now.as_micros();
        let Role::Leader(leadership) = &mut self.role else {
            return None;
        };
        leadership.sent_stamp_us = now_us.max(leadership.sent_stamp_us.saturating_add(1));
        Some(leadership.sent_stamp_us)
    }

    /// How long a lease lasts from its start.
    pub(crate) fn lease_length(&self) -> Duration {
        let floor = self.config.election_timeout_ms_min;
        ms(floor - floor / 10)
    }

    /// Leader: whether its lease holds at `now`. It ends once a transfer has told its
    /// target to stand: voters give the target their votes without waiting.
    pub(crate) fn holds_lease(&self, now: Instant) -> bool {
        let transferring = matches!(&self.role, Role::Leader(leadership)
            if leadership.transfer.is_some_and(|transfer| transfer.told));
        !transferring
            && self
                .lease_start(now)
                .is_some_and(|start| now.saturating_since(start) < self.lease_length())
    }
}
