//! The follower's side of replication (Raft §5.3): take a leader's append, keep the
//! log matching it, truncate only an uncommitted conflicting suffix, and answer.

use super::ConsensusEvent;
use super::HeartbeatTelemetry;
use super::{Consensus, Effect, Entry, Fence, RaftMessage, Role};
use super::{ConsensusMessageKind, ConsensusRefusal};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::STATE_SCHEMA_VERSION;
use crate::time::Instant;

/// An append's fields.
#[derive(Clone, Debug)]
pub(crate) struct Append {
    pub term: u64,
    pub prev_index: u64,
    pub prev_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
    pub genesis: Digest,
    pub sent_us: u64,
}

impl Consensus {
    /// Follower: a leader's append.
    pub(crate) fn on_append(
        &mut self,
        now: Instant,
        from: NodeId,
        append: Append,
        telemetry: &mut dyn HeartbeatTelemetry,
    ) {
        let echo_us = append.sent_us;
        if let Err(refusal) = self.same_genesis(from, Some(append.genesis)) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        if append.term < self.hard.term {
            self.refuse_stale_term(from, ConsensusMessageKind::Append, append.term);
            return self.reply_append(now, from, echo_us, Err(0), telemetry);
        }
        if let Err(refusal) = self.check_leader_seat(from, append.term, ConsensusMessageKind::Append) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        self.observe_leader(now, from, append.term);
        if self.state.genesis.is_none() {
            // Nothing can be applied before the cluster's state: the answer (no
            // genesis) asks the leader for its snapshot.
            return self.reply_append(now, from, echo_us, Err(0), telemetry);
        }
        let Append {
            mut prev_index,
            mut prev_term,
            mut entries,
            leader_commit,
            ..
        } = append;
        if prev_index < self.log.snapshot_index() {
            // Entries up to our snapshot are committed here already: skip them.
            let skip = entries
                .iter()
                .take_while(|entry| entry.index <= self.log.snapshot_index())
                .count();
            entries.drain(..skip);
            prev_index = self.log.snapshot_index();
            prev_term = self.log.snapshot_term();
        }
        let effects_before = self.effects.len();
        let outcome = match self.log.term_at(prev_index) {
            None => Err(self.log.last_index() + 1),
            Some(term) if term != prev_term => {
                Err(self.log.first_index_of_term_at(prev_index).max(self.commit_index + 1))
            }
            Some(_) => {
                let match_index = prev_index + entries.len() as u64;
                if self.store_entries(entries) {
                    if leader_commit > self.commit_index {
                        self.commit_index = leader_commit.min(match_index).max(self.commit_index);
                        self.apply_committed(now);
                    }
                    self.maybe_end_recovery(from, match_index, leader_commit);
                    Ok(match_index)
                } else {
                    Err(self.commit_index + 1)
                }
            }
        };
        self.reply_append(now, from, echo_us, outcome, telemetry);
        if self.mutations().ack_before_persist {
            self.move_persists_last(effects_before);
        }
    }

    /// Planted bug: the persists produced since `start` go after the sends.
    fn move_persists_last(&mut self, start: usize) {
        let (persists, others): (Vec<Effect>, Vec<Effect>) = self
            .effects
            .drain(start..)
            .partition(|effect| matches!(effect, Effect::PersistEntries { .. }));
        self.effects.extend(others);
        self.effects.extend(persists);
    }

    /// Appends the entries not yet in the log, truncating a conflicting suffix first.
    /// Refuses (returns false) rather than truncate a committed entry.
    fn store_entries(&mut self, entries: Vec<Entry>) -> bool {
        let truncate_all = self.mutations().truncate_committed;
        let first_new = entries
            .iter()
            .position(|entry| truncate_all || self.log.term_at(entry.index) != Some(entry.term));
        let Some(first_new) = first_new else { return true };
        let first_index = entries[first_new].index;
        if first_index <= self.log.last_index() {
            if first_index <= self.commit_index && !truncate_all {
                self.push_event(ConsensusEvent::CommittedEntryConflict { index: first_index });
                return false;
            }
            self.log.truncate_from(first_index);
        }
        let new_entries: Vec<Entry> = entries.into_iter().skip(first_new).collect();
        if self.log.append(new_entries.iter().cloned()).is_err() {
            // Unreachable: appends are checked contiguous on arrival.
            self.log.truncate_from(first_index);
            return false;
        }
        self.effects.push(Effect::PersistEntries {
            first_index,
            entries: new_entries,
        });
        true
    }

    /// Counts a leader's message of an older term (Raft §5.1: it is answered with the
    /// newer term, so the stale leader steps down).
    pub(crate) fn refuse_stale_term(&mut self, from: NodeId, message: ConsensusMessageKind, term: u64) {
        let refusal = ConsensusRefusal::StaleTerm {
            sender: from,
            message,
            term,
            current: self.hard.term,
        };
        self.effects.push(Effect::Refuse(refusal));
    }

    /// Answers an append: matched up to an index, or rejected with the index to
    /// retry from.
    fn reply_append(
        &mut self,
        now: Instant,
        to: NodeId,
        echo_us: u64,
        outcome: Result<u64, u64>,
        telemetry: &mut dyn HeartbeatTelemetry,
    ) {
        let recorded = self.state.backends.get(&self.id);
        let report = telemetry.report_for(now, self.hard.term, to, recorded);
        let (success, match_index, conflict_index) = match outcome {
            Ok(match_index) => (true, match_index, 0),
            Err(conflict_index) => (false, 0, conflict_index),
        };
        let message = RaftMessage::AppendResponse {
            term: self.hard.term,
            success,
            match_index,
            conflict_index,
            last_index: self.log.last_index(),
            state_schema: STATE_SCHEMA_VERSION,
            report,
            genesis: self.state.genesis,
            echo_us,
        };
        self.effects.push(Effect::Send { to, message });
    }

    /// A valid message from the leader of `term`: follow it.
    pub(crate) fn observe_leader(&mut self, now: Instant, leader: NodeId, term: u64) {
        let known = self.leader == Some(leader) && self.hard.term == term;
        if term > self.hard.term || !matches!(self.role, Role::Follower) {
            self.become_follower(now, term, Some(leader));
        }
        self.leader = Some(leader);
        if !known {
            self.push_event(ConsensusEvent::LeaderElected { term, leader });
        }
        self.note_leader(term, leader);
        self.fence_seen = self.fence_seen.max(Fence(term));
        self.leader_contact_at = Some(now);
        self.reset_election_deadline(now);
        self.drop_stale_reads(Some(leader));
    }
}
