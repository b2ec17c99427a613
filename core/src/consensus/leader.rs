//! What only a leader holds, and the handlers that touch nothing else.
//!
//! [`Role::leadership`](super::Role::leadership) hands out the [`Leadership`] alone, so
//! a handler that borrows it can read or change the log, the state or the effects only
//! through what it is given. Each follower's [`Progress`] answers an append or a
//! snapshot chunk by itself; the caller carries out what it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::endorsement::LeadershipCertificate;
use super::message::ValueFault;
use super::replication::AppendResponse;
use super::transfer::{Transfer, TransferRefusal};
use super::{CatchupDisposition, ResyncReason};
use crate::identity::NodeId;
use crate::time::Instant;

/// A leader's view of one follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    pub next_index: u64,
    pub match_index: u64,
    /// Bytes of the snapshot acknowledged, while one is being sent.
    pub snapshot_sent: Option<u64>,
    /// The disposition last reported, so each change is reported once.
    pub disposition: Option<CatchupDisposition>,
}

/// What a follower's successful or refused append answer asks of the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerTaken {
    /// It stores the entries up to its match index; `lagging`: it lacks later ones.
    Matched { lagging: bool },
    /// Its log did not match: resend from its next index; `reported`: a disposition
    /// that differs in kind from the last one reported.
    Mismatched { reported: Option<CatchupDisposition> },
}

/// The leader's log bounds an answer is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogBounds {
    pub snapshot_index: u64,
    pub last_index: u64,
}

impl Progress {
    /// A follower nothing is known of yet: send it from past the leader's last entry.
    pub(crate) fn fresh(last_index: u64) -> Self {
        Self {
            next_index: last_index + 1,
            match_index: 0,
            snapshot_sent: None,
            disposition: None,
        }
    }

    /// Takes a follower's answer to an append. A success past the leader's log is a
    /// fault; a refusal lowers the match index to what the follower now holds (it may
    /// have lost entries from its disk; commit never moves back).
    pub(crate) fn take_answer(&mut self, answer: &AppendResponse, log: LogBounds) -> Result<AnswerTaken, ValueFault> {
        if answer.success {
            if answer.match_index > log.last_index {
                let last_index = log.last_index;
                return Err(ValueFault::MatchBeyondLog {
                    match_index: answer.match_index,
                    last_index,
                });
            }
            self.match_index = self.match_index.max(answer.match_index);
            self.next_index = self.next_index.max(self.match_index + 1);
            if self.match_index == log.last_index {
                self.disposition = None;
            }
            let lagging = self.next_index <= log.last_index;
            return Ok(AnswerTaken::Matched { lagging });
        }
        self.match_index = self.match_index.min(answer.last_index);
        let retry_from = answer
            .conflict_index
            .min(self.next_index)
            .max(self.match_index + 1)
            .max(1);
        self.next_index = retry_from;
        let disposition = if retry_from > log.snapshot_index {
            CatchupDisposition::ReplayTail {
                from: retry_from,
                to: log.last_index,
            }
        } else if answer.last_index >= log.snapshot_index && log.snapshot_index > 0 {
            let reason = ResyncReason::DivergedBelowSnapshot {
                conflict_index: answer.conflict_index,
                snapshot_index: log.snapshot_index,
            };
            CatchupDisposition::FullResync { reason }
        } else {
            CatchupDisposition::InstallSnapshot {
                snapshot_index: log.snapshot_index,
            }
        };
        let changed = self
            .disposition
            .is_none_or(|before| core::mem::discriminant(&before) != core::mem::discriminant(&disposition));
        self.disposition = Some(disposition);
        Ok(AnswerTaken::Mismatched {
            reported: changed.then_some(disposition),
        })
    }

    /// Takes a follower's answer to a snapshot chunk of the snapshot at `answered_index`
    /// (`current`: the leader's snapshot now). Returns whether it installed it.
    pub(crate) fn take_snapshot_answer(
        &mut self,
        answered_index: u64,
        received_bytes: u64,
        installed: bool,
        current: Option<u64>,
    ) -> bool {
        if installed {
            self.match_index = self.match_index.max(answered_index);
            self.next_index = self.match_index + 1;
            self.snapshot_sent = None;
        } else if current == Some(answered_index) {
            self.snapshot_sent = Some(received_bytes);
        } else {
            self.snapshot_sent = None;
        }
        installed
    }

    /// Starts a full resync from the snapshot at `snapshot_index`; returns the
    /// disposition if it changed.
    pub(crate) fn start_resync(&mut self, snapshot_index: u64, reason: ResyncReason) -> Option<CatchupDisposition> {
        self.next_index = snapshot_index.max(1).min(self.next_index);
        self.snapshot_sent = Some(0);
        let disposition = CatchupDisposition::FullResync { reason };
        (self.disposition != Some(disposition)).then(|| {
            self.disposition = Some(disposition);
            disposition
        })
    }
}

/// What a node holds while it leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Leadership {
    pub progress: BTreeMap<NodeId, Progress>,
    /// Voters heard from since the last check-quorum.
    pub heard_since_check: BTreeSet<NodeId>,
    /// Per follower, the send time of the newest append it acknowledged (the lease).
    pub acked_sent_at: BTreeMap<NodeId, Instant>,
    /// The send time stamped on the latest round of appends, in microseconds: strictly
    /// increasing, so an answer to a round sent after a read arrived is told from one
    /// to an earlier round of the same instant.
    pub sent_stamp_us: u64,
    /// A transfer in progress.
    pub transfer: Option<Transfer>,
    /// When this leadership began.
    pub since: Instant,
    /// The signed votes that elected this leader.
    pub certificate: Arc<LeadershipCertificate>,
}

impl Leadership {
    /// A leadership begun at `since` over `progress`, elected by `certificate`.
    pub(crate) fn new(
        progress: BTreeMap<NodeId, Progress>,
        since: Instant,
        certificate: LeadershipCertificate,
    ) -> Self {
        Self {
            progress,
            heard_since_check: BTreeSet::new(),
            acked_sent_at: BTreeMap::new(),
            sent_stamp_us: 0,
            transfer: None,
            since,
            certificate: Arc::new(certificate),
        }
    }

    /// `from` answered an append sent at `echo_us` (this node's clock). Answers to
    /// appends of an earlier leadership (refused, or taken from another leader) say
    /// nothing about this one's lease.
    pub(crate) fn note_heard(&mut self, from: NodeId, echo_us: u64) {
        self.heard_since_check.insert(from);
        let sent = Instant::from_micros(echo_us.min(self.sent_stamp_us));
        if sent < self.since {
            return;
        }
        let acked = self.acked_sent_at.entry(from).or_insert(sent);
        *acked = (*acked).max(sent);
    }

    /// The send time of the newest round a quorum of `voters` acknowledged (`me`
    /// counts as acknowledging its latest round, or `now` if later); none before a
    /// quorum has.
    pub(crate) fn lease_start(&self, me: NodeId, voters: &BTreeSet<NodeId>, now: Instant) -> Option<Instant> {
        let mut acked: Vec<Instant> = voters
            .iter()
            .filter_map(|voter| match *voter == me {
                true => Some(now.max(Instant::from_micros(self.sent_stamp_us))),
                false => self.acked_sent_at.get(voter).copied(),
            })
            .collect();
        let quorum = voters.len() / 2 + 1;
        if acked.len() < quorum {
            return None;
        }
        acked.sort_unstable_by(|a, b| b.cmp(a));
        Some(acked[quorum - 1])
    }

    /// The send stamp of a new round of appends: `now`, or a microsecond past the last
    /// stamp if that was later.
    pub(crate) fn next_send_stamp(&mut self, now: Instant) -> u64 {
        self.sent_stamp_us = now.as_micros().max(self.sent_stamp_us.saturating_add(1));
        self.sent_stamp_us
    }

    /// Voters among `voters` heard since the last check (`me` counted), starting the
    /// next period's count.
    pub(crate) fn take_heard(&mut self, me: NodeId, voters: &BTreeSet<NodeId>) -> usize {
        let mut heard = core::mem::take(&mut self.heard_since_check);
        heard.insert(me);
        heard.intersection(voters).count()
    }

    /// Keeps a progress entry for every member but `me`, new ones `fresh`.
    pub(crate) fn track_members<V>(&mut self, me: NodeId, members: &BTreeMap<NodeId, V>, fresh: &Progress) {
        self.progress.retain(|id, _| members.contains_key(id));
        for id in members.keys().filter(|id| **id != me) {
            self.progress.entry(*id).or_insert_with(|| fresh.clone());
        }
    }

    /// Whether a transfer has told its target to stand.
    pub(crate) fn transfer_told(&self) -> bool {
        self.transfer.is_some_and(|transfer| transfer.told)
    }

    /// The voter a transfer goes to: `target`, or the other voter holding the most.
    pub(crate) fn transfer_target(
        &self,
        me: NodeId,
        voters: &BTreeSet<NodeId>,
        target: Option<NodeId>,
    ) -> Result<NodeId, TransferRefusal> {
        if let Some(transfer) = self.transfer {
            return Err(TransferRefusal::InProgress { to: transfer.to });
        }
        match target {
            Some(node) if node != me && voters.contains(&node) => Ok(node),
            Some(node) => Err(TransferRefusal::NotAVoter { node }),
            None => self
                .progress
                .iter()
                .filter(|(id, _)| voters.contains(id))
                .max_by_key(|(id, progress)| (progress.match_index, core::cmp::Reverse(**id)))
                .map(|(id, _)| *id)
                .ok_or(TransferRefusal::NoOtherVoter),
        }
    }
}
