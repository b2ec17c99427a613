//! Log replication and commitment (Raft §5.3, §5.4.2): appends, log matching,
//! conflict truncation, quorum commit of current-term entries, in-order apply.

use super::ConsensusEvent;
use std::collections::BTreeMap;

use super::leader::{AnswerTaken, LogBounds};
use super::proposal_checks::BatchChecks;
use super::{AppendEntries, Consensus, Effect, Entry, EntryPayload, ProposalRejection, RaftMessage, ResyncReason};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ClusterCommand, ClusterEvent, Origin, Proposal, ProposalId, STATE_SCHEMA_VERSION};
use crate::time::Instant;

/// An append response's fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AppendResponse {
    pub term: u64,
    pub success: bool,
    pub match_index: u64,
    pub conflict_index: u64,
    pub last_index: u64,
    pub state_schema: u16,
    pub genesis: Option<Digest>,
    pub echo_us: u64,
}

/// A proposal's id with the index it took, or why it was rejected.
pub(crate) type ProposalTaken = (ProposalId, Result<u64, ProposalRejection>);

impl Consensus {
    /// Takes proposals as one batch. The leader appends and replicates them; any other
    /// node (or a leader handing over) rejects each with an event. Either way every
    /// proposal gets an id and, later, exactly one outcome event.
    pub(crate) fn propose_batch(&mut self, now: Instant, commands: Vec<(Origin, ClusterCommand)>) -> Vec<ProposalId> {
        let proposals = self.mint_proposals(commands);
        let ids: Vec<ProposalId> = proposals.iter().map(|proposal| proposal.id).collect();
        let (entries, taken) = self.check_proposals(proposals);
        for (id, taken) in taken {
            match taken {
                Ok(index) => self.pending_proposals.entry(index).or_default().push(id),
                Err(reason) => self.push_event(ConsensusEvent::ProposalRejected { id, reason }),
            }
        }
        self.append_checked(now, entries);
        ids
    }

    /// Proposals of `commands`, each with a new id of this node's.
    pub(crate) fn mint_proposals(&mut self, commands: Vec<(Origin, ClusterCommand)>) -> Vec<Proposal> {
        let mut proposals = Vec::with_capacity(commands.len());
        for (origin, command) in commands {
            let id = self.next_proposal_id();
            let command = command.into();
            proposals.push(Proposal { id, command, origin });
        }
        proposals
    }

    /// Leader: the entries of the proposals it accepts, each origin recording the
    /// authorization policy in force; and, for each proposal, the index it takes or why
    /// it is rejected. Nothing is appended until [`Consensus::append_checked`].
    pub(crate) fn check_proposals(&self, proposals: Vec<Proposal>) -> (Vec<Entry>, Vec<ProposalTaken>) {
        if let Err(reason) = self.accepts_proposals() {
            let taken = proposals
                .into_iter()
                .map(|proposal| (proposal.id, Err(reason)))
                .collect();
            return (Vec::new(), taken);
        }
        let mut checks = BatchChecks::default();
        let mut entries: Vec<Entry> = Vec::with_capacity(proposals.len());
        let mut taken = Vec::with_capacity(proposals.len());
        let policy = self
            .state
            .policies
            .get(crate::state::AUTHORIZATION_POLICY_NAME)
            .map(|document| document.digest);
        for mut proposal in proposals {
            let id = proposal.id;
            proposal.origin = proposal.origin.under_policy(policy);
            let entry = Entry {
                index: self.log.last_index() + 1 + entries.len() as u64,
                term: self.hard.term,
                payload: EntryPayload::Proposal(proposal).into(),
            };
            match self.check_proposal(&entry, &mut checks) {
                Ok(()) => {
                    taken.push((id, Ok(entry.index)));
                    entries.push(entry);
                }
                Err(reason) => taken.push((id, Err(reason))),
            }
        }
        (entries, taken)
    }

    /// Leader: appends and replicates entries [`Consensus::check_proposals`] gave.
    pub(crate) fn append_checked(&mut self, now: Instant, entries: Vec<Entry>) {
        if !entries.is_empty() {
            self.append_local(now, entries);
            self.broadcast_append(now);
        }
    }

    fn next_proposal_id(&mut self) -> ProposalId {
        let id = ProposalId {
            node: self.id,
            epoch: self.epoch,
            seq: self.next_proposal_seq,
        };
        self.next_proposal_seq += 1;
        id
    }

    /// Whether this node may append proposals now.
    pub(crate) fn accepts_proposals(&self) -> Result<(), ProposalRejection> {
        match self.role.leadership() {
            Some(leadership) if leadership.transfer.is_some() => Err(ProposalRejection::TransferInProgress),
            Some(_) => Ok(()),
            None => Err(ProposalRejection::NotLeader {
                leader_hint: self.leader,
            }),
        }
    }

    /// Reports the outcome of this life's proposal at `index`, once `entry` is applied
    /// there.
    fn settle_proposal(&mut self, index: u64, entry: &Entry, fact: &ClusterEvent) {
        let refusal = match fact {
            ClusterEvent::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        };
        if let EntryPayload::Proposal(proposal) = &*entry.payload
            && self.settle_forwarded(proposal)
        {
            let id = proposal.id;
            self.push_event(ConsensusEvent::ProposalCommitted { id, index, refusal });
        }
        for id in self.pending_proposals.remove(&index).unwrap_or_default() {
            match &*entry.payload {
                EntryPayload::Proposal(proposal) if proposal.id == id => {
                    self.push_event(ConsensusEvent::ProposalCommitted { id, index, refusal });
                }
                _ => self.push_event(ConsensusEvent::ProposalRejected {
                    id,
                    reason: ProposalRejection::Superseded {
                        index,
                        term: entry.term,
                    },
                }),
            }
        }
    }

    /// Proposals at or below `index` that arrived inside an installed snapshot.
    pub(crate) fn settle_proposals_covered_by(&mut self, snapshot_index: u64) {
        let covered: Vec<u64> = self
            .pending_proposals
            .range(..=snapshot_index)
            .map(|(&index, _)| index)
            .collect();
        for index in covered {
            for id in self.pending_proposals.remove(&index).unwrap_or_default() {
                let reason = ProposalRejection::SnapshotCovered { index };
                self.push_event(ConsensusEvent::ProposalRejected { id, reason });
            }
        }
    }

    pub(crate) fn append_noop(&mut self, now: Instant) {
        let entry = Entry {
            index: self.log.last_index() + 1,
            term: self.hard.term,
            payload: EntryPayload::Noop { leader: self.id }.into(),
        };
        self.append_local(now, vec![entry]);
    }

    fn append_local(&mut self, now: Instant, entries: Vec<Entry>) {
        let first_index = entries.first().map_or(self.log.last_index() + 1, |entry| entry.index);
        self.log
            .append(entries.iter().cloned())
            .expect("a leader numbers its entries from its last index");
        self.effects.push(Effect::PersistEntries { first_index, entries });
        self.refresh_progress();
        self.advance_commit(now);
    }

    /// Leader: sends every follower what it lacks (or a heartbeat).
    pub(crate) fn broadcast_append(&mut self, now: Instant) {
        let Some(stamp_us) = self.next_send_stamp(now) else {
            return;
        };
        let Some(leadership) = self.role.leadership() else {
            return;
        };
        let followers: Vec<NodeId> = leadership.progress.keys().copied().collect();
        // Followers at the same next index are sent one shared slice, encoded once.
        let mut slices = BTreeMap::new();
        for follower in followers {
            self.send_append_sharing(follower, &mut slices, stamp_us);
        }
        self.heartbeat_deadline = Some(now + crate::time::ms(self.config.heartbeat_interval_ms));
    }

    /// Leader: sends `to` the entries from its next index (optimistically advancing
    /// it), or a snapshot chunk if those entries were compacted.
    pub(crate) fn send_append(&mut self, now: Instant, to: NodeId) {
        let Some(stamp_us) = self.next_send_stamp(now) else {
            return;
        };
        self.send_append_sharing(to, &mut BTreeMap::new(), stamp_us);
    }

    /// [`Self::send_append`], reusing the slice in `slices` for the same next index
    /// (valid while the log does not change).
    fn send_append_sharing(&mut self, to: NodeId, slices: &mut BTreeMap<u64, AppendEntries>, stamp_us: u64) {
        let Some(genesis) = self.state.genesis else { return };
        let Some(progress) = self
            .role
            .leadership_mut()
            .and_then(|leadership| leadership.progress.get_mut(&to))
        else {
            return;
        };
        if progress.next_index <= self.log.snapshot_index() {
            return self.send_snapshot_chunk(to);
        }
        let prev_index = progress.next_index - 1;
        let prev_term = self.log.term_at(prev_index).unwrap_or(0);
        let entries = slices
            .entry(progress.next_index)
            .or_insert_with(|| {
                AppendEntries::new(self.log.slice(
                    progress.next_index,
                    self.config.append_entries_max,
                    self.config.append_bytes_max,
                ))
            })
            .clone();
        if let Some(last) = entries.last() {
            progress.next_index = last.index + 1;
        }
        let message = RaftMessage::Append {
            term: self.hard.term,
            prev_index,
            prev_term,
            entries,
            leader_commit: self.commit_index,
            genesis,
            sent_us: stamp_us,
        };
        self.effects.push(Effect::Send { to, message });
    }

    /// Leader: a follower's answer to an append.
    pub(crate) fn on_append_response(&mut self, now: Instant, from: NodeId, response: AppendResponse) {
        if let Err(refusal) = self.same_genesis(from, response.genesis) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        if response.term > self.hard.term {
            return self.become_follower(now, response.term, None);
        }
        if response.term < self.hard.term || !self.role.is_leader() {
            return;
        }
        self.note_heard(from, response.echo_us);
        self.serve_reads(now);
        if response.genesis.is_none() {
            return self.full_resync(from, ResyncReason::NoGenesis);
        }
        if response.state_schema != STATE_SCHEMA_VERSION {
            let reason = ResyncReason::StateSchema {
                ours: STATE_SCHEMA_VERSION,
                theirs: response.state_schema,
            };
            return self.full_resync(from, reason);
        }
        let log = LogBounds {
            snapshot_index: self.log.snapshot_index(),
            last_index: self.log.last_index(),
        };
        let Some(progress) = self
            .role
            .leadership_mut()
            .and_then(|leadership| leadership.progress.get_mut(&from))
        else {
            return;
        };
        match progress.take_answer(&response, log) {
            Err(fault) => self.refuse_values(from, fault),
            Ok(AnswerTaken::Matched { lagging }) => {
                self.advance_commit(now);
                if lagging {
                    self.send_append(now, from);
                }
                self.advance_transfer(now, from);
            }
            Ok(AnswerTaken::Mismatched { reported }) => {
                if let Some(disposition) = reported {
                    self.push_event(ConsensusEvent::Catchup {
                        peer: from,
                        disposition,
                    });
                }
                self.send_append(now, from);
            }
        }
    }

    /// Leader: commits the highest current-term index stored on a quorum of voters.
    pub(crate) fn advance_commit(&mut self, now: Instant) {
        let Some(leadership) = self.role.leadership() else {
            return;
        };
        let new_commit = if self.mutations_commit_without_quorum() {
            self.log.last_index()
        } else {
            let mut matches = self.voter_match_indexes(&leadership.progress);
            if matches.is_empty() {
                return;
            }
            // The highest index a quorum stores: the quorum-th largest match index.
            matches.sort_unstable_by(|a, b| b.cmp(a));
            let stored_by_quorum = matches[matches.len() / 2];
            // Figure 8: count replicas only for entries of the current term.
            if self.log.term_at(stored_by_quorum) != Some(self.hard.term) {
                return;
            }
            stored_by_quorum
        };
        if new_commit > self.commit_index {
            self.commit_index = new_commit;
            self.apply_committed(now);
        }
    }

    /// Applies committed entries in order; reports each, and acknowledges this node's
    /// own proposals.
    pub(crate) fn apply_committed(&mut self, now: Instant) {
        while self.state.applied_index < self.commit_index {
            let index = self.state.applied_index + 1;
            let Some(entry) = self.log.get(index).cloned() else {
                break;
            };
            let Ok(fact) = self.state.apply(index, entry.term, &entry.payload) else {
                break;
            };
            if super::log::rotates_key(&entry) {
                self.key_generation = self.key_generation.wrapping_add(1);
            }
            self.applied_bytes_since_snapshot += super::log::entry_size_bytes(&entry) as u64;
            let state_digest = self.config.digest_on_apply.then(|| {
                let digest = self.state.digest_in(&mut self.digest_scratch);
                self.digest_cache = Some((index, digest));
                digest
            });
            self.settle_proposal(index, &entry, &fact);
            self.push_event(ConsensusEvent::Applied {
                index,
                term: entry.term,
                fact,
                state_digest,
            });
        }
        self.after_apply(now);
        self.serve_reads(now);
    }
}
