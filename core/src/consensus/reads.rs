//! Linearizable reads by ReadIndex (Ongaro's dissertation §6.4).
//!
//! The leader takes as read index its commit index once it has committed an entry of
//! its own term (before that it may not know what is committed), confirms with a
//! quorum that it still leads (acknowledgements of appends it sent at or after the
//! read arrived), and answers once its applied index reaches the read index. One
//! confirmation round is in flight at a time: reads that arrive meanwhile wait for the
//! next, which confirms them all (a later heartbeat's answers confirm an earlier
//! round, so a lost answer delays reads by a heartbeat at most). A
//! follower asks its leader for the read index and answers once its own applied index
//! reaches it. A read is refused when there is no leader to ask, or when its leader
//! changes or stops leading before it is answered; a refused read may be asked again.
//! No clock is trusted: there is no lease-based shortcut.

use super::ConsensusEvent;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Consensus, Effect, RaftMessage, Role};
use crate::identity::NodeId;
use crate::time::Instant;

/// Identifies a read on the node that asked for it.
pub type ReadId = u64;

/// Why a linearizable read was not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ReadRefusal {
    /// No leader is known to ask.
    #[error("no leader is known")]
    NoLeader,
    /// The leader asked does not lead (any more).
    #[error("{leader:?} no longer leads")]
    LeaderLost {
        /// The leader that was asked.
        leader: NodeId,
    },
}

/// Who is waiting for a read the leader serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asker {
    /// This node.
    Local(ReadId),
    /// A follower, under its own id for the read.
    Remote { node: NodeId, request: ReadId },
}

/// A read the leader serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LeaderRead {
    asker: Asker,
    /// The send stamp of the first round of appends sent after it arrived (none yet
    /// while an earlier round is in flight): answers to that round or a later one
    /// confirm the leadership for it.
    round: Option<Instant>,
    /// The read index, once the leader has committed an entry of its term.
    index: Option<u64>,
}

/// A read this follower asked its leader for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FollowerRead {
    leader: NodeId,
    /// The leader's answer.
    index: Option<u64>,
}

/// Every read in flight on one node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reads {
    next_id: ReadId,
    leading: Vec<LeaderRead>,
    /// The send stamp of the confirmation round in flight, until a quorum answers it
    /// or a later round.
    round_in_flight: Option<Instant>,
    following: BTreeMap<ReadId, FollowerRead>,
}

impl Consensus {
    /// Starts a linearizable read of the applied state; its outcome comes as
    /// [`ConsensusEvent::ReadReady`] or [`ConsensusEvent::ReadRefused`].
    pub(crate) fn read(&mut self, now: Instant) -> ReadId {
        let id = self.reads.next_id;
        self.reads.next_id += 1;
        if self.mutations().read_local_as_linearizable {
            let index = self.state.applied_index;
            self.push_event(ConsensusEvent::ReadReady { id, index });
            return id;
        }
        match (&self.role, self.leader) {
            (Role::Leader(_), _) => self.lead_read(now, Asker::Local(id)),
            (_, Some(leader)) => {
                let read = FollowerRead { leader, index: None };
                self.reads.following.insert(id, read);
                let message = RaftMessage::ReadIndex { request: id };
                self.effects.push(Effect::Send { to: leader, message });
            }
            (_, None) => {
                let reason = ReadRefusal::NoLeader;
                self.push_event(ConsensusEvent::ReadRefused { id, reason });
            }
        }
        id
    }

    /// A follower's request for a read index.
    pub(crate) fn on_read_index(&mut self, now: Instant, from: NodeId, request: ReadId) {
        if self.role.is_leader() {
            return self.lead_read(now, Asker::Remote { node: from, request });
        }
        let message = RaftMessage::ReadIndexAnswer { request, index: None };
        self.effects.push(Effect::Send { to: from, message });
    }

    /// The leader's answer to this follower's request.
    pub(crate) fn on_read_index_answer(&mut self, now: Instant, from: NodeId, request: ReadId, index: Option<u64>) {
        let Some(read) = self
            .reads
            .following
            .get_mut(&request)
            .filter(|read| read.leader == from)
        else {
            return;
        };
        match index {
            Some(index) => read.index = Some(index),
            None => {
                self.reads.following.remove(&request);
                let reason = ReadRefusal::LeaderLost { leader: from };
                self.push_event(ConsensusEvent::ReadRefused { id: request, reason });
            }
        }
        self.serve_reads(now);
    }

    /// Leader: takes a read; the next confirmation round covers it.
    fn lead_read(&mut self, now: Instant, asker: Asker) {
        self.reads.leading.push(LeaderRead {
            asker,
            round: None,
            index: None,
        });
        self.serve_reads(now);
    }

    /// Leader: once no round is in flight, sends one for the reads that wait for it.
    fn start_confirmation_round(&mut self, now: Instant, confirmed_from: Option<Instant>) {
        if let Some(stamp) = self.reads.round_in_flight
            && confirmed_from.is_some_and(|from| from >= stamp)
        {
            self.reads.round_in_flight = None;
        }
        let unstamped = self.reads.leading.iter().any(|read| read.round.is_none());
        if self.reads.round_in_flight.is_some() || !unstamped {
            return;
        }
        self.broadcast_append(now);
        let Some(leadership) = self.role.leadership() else {
            return;
        };
        let stamp = Instant::from_micros(leadership.sent_stamp_us);
        for read in self.reads.leading.iter_mut().filter(|read| read.round.is_none()) {
            read.round = Some(stamp);
        }
        self.reads.round_in_flight = Some(stamp);
    }

    /// Answers every read whose turn has come. Called whenever an answer from a
    /// follower, a commit or an apply may have moved one.
    pub(crate) fn serve_reads(&mut self, now: Instant) {
        if !self.reads.leading.is_empty() {
            self.serve_leading_reads(now);
        }
        if !self.reads.following.is_empty() {
            self.serve_following_reads();
        }
    }

    fn serve_leading_reads(&mut self, now: Instant) {
        let own_term_committed = self.log.term_at(self.commit_index) == Some(self.hard.term);
        self.start_confirmation_round(now, self.lease_start(now));
        let confirmed_from = self.lease_start(now);
        let applied = self.state.applied_index;
        let skip_wait = self.mutations().skip_read_index_wait;
        let mut waiting = Vec::with_capacity(self.reads.leading.len());
        for mut read in std::mem::take(&mut self.reads.leading) {
            if read.index.is_none() && own_term_committed {
                read.index = Some(self.commit_index);
            }
            let confirmed = confirmed_from
                .zip(read.round)
                .is_some_and(|(from, round)| from >= round);
            match (read.index, read.asker) {
                (Some(index), Asker::Remote { node, request }) if confirmed => {
                    let message = RaftMessage::ReadIndexAnswer {
                        request,
                        index: Some(index),
                    };
                    self.effects.push(Effect::Send { to: node, message });
                }
                (Some(index), Asker::Local(id)) if confirmed && (applied >= index || skip_wait) => {
                    self.push_event(ConsensusEvent::ReadReady { id, index });
                }
                _ => waiting.push(read),
            }
        }
        self.reads.leading = waiting;
    }

    fn serve_following_reads(&mut self) {
        let applied = self.state.applied_index;
        let skip_wait = self.mutations().skip_read_index_wait;
        let ready: Vec<(ReadId, u64)> = self
            .reads
            .following
            .iter()
            .filter_map(|(id, read)| read.index.map(|index| (*id, index)))
            .filter(|(_, index)| *index <= applied || skip_wait)
            .collect();
        for (id, index) in ready {
            self.reads.following.remove(&id);
            self.push_event(ConsensusEvent::ReadReady { id, index });
        }
    }

    /// Refuses the reads that can no longer be answered: every read this node served
    /// as leader once it stops leading, and a follower's reads once its leader is not
    /// `leader`.
    pub(crate) fn drop_stale_reads(&mut self, leader: Option<NodeId>) {
        if !self.role.is_leader() {
            self.reads.round_in_flight = None;
            for read in std::mem::take(&mut self.reads.leading) {
                match read.asker {
                    Asker::Local(id) => {
                        let reason = ReadRefusal::LeaderLost { leader: self.id };
                        self.push_event(ConsensusEvent::ReadRefused { id, reason });
                    }
                    Asker::Remote { node, request } => {
                        let message = RaftMessage::ReadIndexAnswer { request, index: None };
                        self.effects.push(Effect::Send { to: node, message });
                    }
                }
            }
        }
        let lost: Vec<(ReadId, NodeId)> = self
            .reads
            .following
            .iter()
            .filter(|(_, read)| Some(read.leader) != leader)
            .map(|(id, read)| (*id, read.leader))
            .collect();
        for (id, old) in lost {
            self.reads.following.remove(&id);
            let reason = ReadRefusal::LeaderLost { leader: old };
            self.push_event(ConsensusEvent::ReadRefused { id, reason });
        }
    }
}
