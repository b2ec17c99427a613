//! Elections: pre-vote, vote, leader stickiness, stepping up and down (Raft §5.2,
//! §5.4.1; pre-vote and check-quorum from Ongaro's dissertation §9.6).

use super::ConsensusEvent;
use std::collections::{BTreeMap, BTreeSet};

use rand_core::RngCore;

use super::endorsement::{Endorsement, LeadershipCertificate};
use super::{Consensus, Effect, Fence, Leadership, Progress, RaftMessage, Role, RoleKind, StepDownReason};
use super::{ConsensusMessageKind, ConsensusRefusal};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::time::{Instant, ms};

/// A vote response's fields.
#[derive(Clone, Debug)]
pub(crate) struct Vote {
    pub term: u64,
    pub granted: bool,
    pub pre_vote: bool,
    pub leader: Option<NodeId>,
    pub endorsement: Option<Box<Endorsement>>,
}

/// A vote request's fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VoteRequest {
    pub term: u64,
    pub last_log_index: u64,
    pub last_log_term: u64,
    pub pre_vote: bool,
    pub transfer: bool,
    pub genesis: Digest,
}

impl Consensus {
    /// The election timer fired: a voter that is not leading asks for a pre-vote.
    pub(crate) fn on_election_timeout(&mut self, now: Instant) {
        if !self.is_voter(self.id) {
            self.election_deadline = None;
            return;
        }
        if self.recovering {
            return self.reset_election_deadline(now);
        }
        if !self.role.is_leader() {
            self.start_pre_vote(now);
        }
    }

    fn start_pre_vote(&mut self, now: Instant) {
        self.leader = None;
        self.drop_stale_reads(None);
        self.set_role(Role::PreCandidate {
            granted: BTreeSet::from([self.id]),
        });
        self.reset_election_deadline(now);
        if self.has_quorum(&BTreeSet::from([self.id])) {
            return self.start_election(now, false);
        }
        self.request_votes(self.hard.term + 1, true, false);
    }

    pub(crate) fn start_election(&mut self, now: Instant, transfer: bool) {
        self.hard.term += 1;
        self.hard.voted_for = Some(self.id);
        self.effects.push(Effect::PersistHardState(self.hard));
        self.leader = None;
        let own = self.endorse(self.hard.term, self.id).map(|own| (self.id, *own));
        self.set_role(Role::Candidate {
            granted: BTreeSet::from([self.id]),
            endorsements: own.into_iter().collect(),
        });
        self.reset_candidate_deadline(now);
        if self.has_quorum(&BTreeSet::from([self.id])) {
            return self.become_leader(now);
        }
        self.request_votes(self.hard.term, false, transfer);
    }

    fn request_votes(&mut self, term: u64, pre_vote: bool, transfer: bool) {
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let Some(genesis) = self.state.genesis else { return };
        for voter in self.effective_voters().into_iter().filter(|voter| *voter != self.id) {
            let message = RaftMessage::VoteRequest {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
                transfer,
                genesis,
            };
            self.effects.push(Effect::Send { to: voter, message });
        }
    }

    pub(crate) fn on_vote_request(&mut self, now: Instant, from: NodeId, request: VoteRequest) {
        if let Err(refusal) = self.same_genesis(from, Some(request.genesis)) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        if !self.effective_members().contains_key(&from) {
            let refusal = ConsensusRefusal::NotAMember {
                sender: from,
                message: ConsensusMessageKind::VoteRequest,
            };
            return self.effects.push(Effect::Refuse(refusal));
        }
        if self.refuse_vote_while_recovering(from, request.term) {
            return self.reply_vote(from, self.hard.term, false, request.pre_vote);
        }
        // Leader stickiness: while a leader is known to be alive, elections are ignored,
        // so a node returning from a partition cannot depose a healthy leader.
        let in_contact = !request.transfer && self.ignores_elections(now);
        if request.pre_vote {
            let granted = request.term > self.hard.term && !in_contact && self.log_is_behind(&request);
            let term = if granted { request.term } else { self.hard.term };
            if granted {
                // Someone up to date is about to stand: standing too would split the vote.
                self.reset_election_deadline(now);
            }
            return self.reply_vote(from, term, granted, true);
        }
        if request.term < self.hard.term || (request.term > self.hard.term && in_contact) {
            return self.reply_vote(from, self.hard.term, false, false);
        }
        if request.term > self.hard.term {
            self.become_follower(now, request.term, None);
        }
        if let Some(voted_for) = self.hard.voted_for.filter(|voted_for| *voted_for != from) {
            let refusal = ConsensusRefusal::VoteAlreadyCast {
                term: self.hard.term,
                candidate: from,
                voted_for,
            };
            self.effects.push(Effect::Refuse(refusal));
            return self.reply_vote(from, self.hard.term, false, false);
        }
        if !self.log_is_behind(&request) {
            return self.reply_vote(from, self.hard.term, false, false);
        }
        self.hard.voted_for = Some(from);
        self.effects.push(Effect::PersistHardState(self.hard));
        self.reset_election_deadline(now);
        self.reply_vote(from, self.hard.term, true, false);
    }

    /// Whether the candidate's log is at least as up to date as ours (§5.4.1).
    fn log_is_behind(&self, request: &VoteRequest) -> bool {
        if cfg!(madsim) && self.mutations.vote_ignores_log {
            return true;
        }
        let ours = (self.log.last_term(), self.log.last_index());
        (request.last_log_term, request.last_log_index) >= ours
    }

    fn reply_vote(&mut self, to: NodeId, term: u64, granted: bool, pre_vote: bool) {
        let leader = self.leader.filter(|_| !granted && term == self.hard.term);
        let endorsement = if granted && !pre_vote {
            self.endorse(term, to)
        } else {
            None
        };
        self.effects.push(Effect::Send {
            to,
            message: RaftMessage::VoteResponse {
                term,
                granted,
                pre_vote,
                leader,
                endorsement,
            },
        });
    }

    /// This node's signed vote of `term` for `candidate`, if it holds a signing key.
    fn endorse(&self, term: u64, candidate: NodeId) -> Option<Box<Endorsement>> {
        let signer = self.signer.as_ref()?;
        Some(Box::new(Endorsement::sign(signer, self.cluster_id, term, candidate)))
    }

    pub(crate) fn on_vote_response(&mut self, now: Instant, from: NodeId, vote: Vote) {
        let Vote {
            term,
            granted,
            pre_vote,
            leader,
            endorsement,
        } = vote;
        if let Err(refusal) = self.check_voter(from, ConsensusMessageKind::VoteResponse) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        if let Some(leader) = leader.filter(|_| !granted && term >= self.hard.term) {
            self.vouched_leader = Some((term, leader));
        }
        if !granted && term > self.hard.term {
            return self.become_follower(now, term, None);
        }
        if !granted || !self.is_voter(from) {
            return;
        }
        let expected_term = if pre_vote { self.hard.term + 1 } else { self.hard.term };
        if term != expected_term {
            return;
        }
        let endorsed = match self.endorsement_from(from, term, endorsement, pre_vote) {
            Ok(endorsed) => endorsed,
            Err(refusal) => return self.effects.push(Effect::Refuse(refusal)),
        };
        let granted_now = match (&mut self.role, pre_vote) {
            (Role::PreCandidate { granted }, true) => {
                granted.insert(from);
                granted.clone()
            }
            (Role::Candidate { granted, endorsements }, false) => {
                granted.insert(from);
                endorsements.extend(endorsed.map(|endorsement| (from, endorsement)));
                granted.clone()
            }
            _ => return,
        };
        if self.has_quorum(&granted_now) {
            if pre_vote {
                self.start_election(now, false)
            } else {
                self.become_leader(now)
            }
        }
    }

    /// The signed vote of `from` in a granted vote of `term` for this node: required of
    /// a real vote by a node that signs evidence (it proves its leadership with them).
    fn endorsement_from(
        &self,
        from: NodeId,
        term: u64,
        endorsement: Option<Box<Endorsement>>,
        pre_vote: bool,
    ) -> Result<Option<Endorsement>, ConsensusRefusal> {
        if pre_vote || self.signer.is_none() {
            return Ok(None);
        }
        let endorsed = endorsement.as_ref().is_some_and(|endorsement| {
            endorsement.voter == from
                && self.key_speaks_for(from, &endorsement.key)
                && endorsement.endorses(self.cluster_id, term, self.id)
        });
        if !endorsed {
            return Err(ConsensusRefusal::BadEndorsement { sender: from, term });
        }
        Ok(endorsement.map(|endorsement| *endorsement))
    }

    /// The leader asked this node to campaign now (leadership transfer).
    pub(crate) fn on_timeout_now(&mut self, now: Instant, from: NodeId, term: u64) {
        if term == self.hard.term && self.leader == Some(from) && self.is_voter(self.id) && !self.recovering {
            self.start_election(now, true);
        }
    }

    /// Steps down to follower of `term` (adopting it if newer), following `leader`.
    pub(crate) fn become_follower(&mut self, now: Instant, term: u64, leader: Option<NodeId>) {
        if term > self.hard.term {
            if self.role.is_leader() {
                self.push_event(ConsensusEvent::SteppedDown {
                    term: self.hard.term,
                    reason: StepDownReason::HigherTerm { term },
                });
            }
            self.hard = super::HardState { term, voted_for: None };
            self.effects.push(Effect::PersistHardState(self.hard));
        }
        self.leader = leader;
        self.heartbeat_deadline = None;
        self.maintenance_deadline = None;
        self.check_quorum_deadline = None;
        self.set_role(Role::Follower);
        self.reset_election_deadline(now);
        self.drop_stale_reads(leader);
    }

    pub(crate) fn step_down(&mut self, now: Instant, reason: StepDownReason) {
        self.push_event(ConsensusEvent::SteppedDown {
            term: self.hard.term,
            reason,
        });
        self.become_follower(now, self.hard.term, None);
    }

    fn become_leader(&mut self, now: Instant) {
        let endorsements = match &mut self.role {
            Role::Candidate { endorsements, .. } => core::mem::take(endorsements),
            _ => BTreeMap::new(),
        };
        let certificate = LeadershipCertificate {
            term: self.hard.term,
            leader: self.id,
            endorsements: endorsements.into_values().collect(),
        };
        let progress = self
            .effective_members()
            .into_keys()
            .filter(|member| *member != self.id)
            .map(|member| (member, self.fresh_progress()))
            .collect();
        self.set_role(Role::Leader(Box::new(Leadership::new(progress, now, certificate))));
        self.leader = Some(self.id);
        self.election_deadline = None;
        self.fence_seen = self.fence_seen.max(Fence(self.hard.term));
        self.note_leader(self.hard.term, self.id);
        self.push_event(ConsensusEvent::LeaderElected {
            term: self.hard.term,
            leader: self.id,
        });
        self.append_noop(now);
        self.check_quorum_deadline = Some(now + ms(self.config.election_timeout_ms_min));
        self.maintenance_deadline = Some(now + ms(self.config.heartbeat_interval_ms));
        self.broadcast_append(now);
    }

    pub(crate) fn fresh_progress(&self) -> Progress {
        Progress::fresh(self.log.last_index())
    }

    /// Leader: every election-timeout floor, check that a quorum answered since the last
    /// check; otherwise step down. A quorum renews the lease.
    pub(crate) fn on_check_quorum(&mut self, now: Instant) {
        let voters = self.effective_voters();
        let quorum = voters.len() / 2 + 1;
        let Some(leadership) = self.role.leadership_mut() else {
            return;
        };
        let heard = leadership.take_heard(self.id, &voters);
        self.check_quorum_deadline = Some(now + ms(self.config.election_timeout_ms_min));
        if heard < quorum {
            self.step_down(now, StepDownReason::LostQuorum { heard, quorum });
        }
    }

    /// Whether elections are ignored now (leader stickiness): a leader is known to be
    /// alive, or this life began less than the election-timeout floor ago.
    fn ignores_elections(&self, now: Instant) -> bool {
        let lease = ms(self.config.election_timeout_ms_min);
        self.in_leader_contact(now) || now.saturating_since(self.started_at) < lease
    }

    /// Whether a leader is known to be alive: this node leads with a valid lease, or
    /// heard from its leader within the election-timeout floor.
    pub(crate) fn in_leader_contact(&self, now: Instant) -> bool {
        let lease = ms(self.config.election_timeout_ms_min);
        match &self.role {
            Role::Leader(_) => self.holds_lease(now),
            _ => {
                self.leader.is_some()
                    && self
                        .leader_contact_at
                        .is_some_and(|at| now.saturating_since(at) < lease)
            }
        }
    }

    pub(crate) fn reset_election_deadline(&mut self, now: Instant) {
        if !self.is_voter(self.id) {
            self.election_deadline = None;
            return;
        }
        let span = self
            .config
            .election_timeout_ms_max
            .saturating_sub(self.config.election_timeout_ms_min)
            .max(1);
        let timeout = self.config.election_timeout_ms_min + self.rng.next_u64() % span;
        self.election_deadline = Some(now + ms(timeout));
    }

    /// A candidate that has not won by this deadline stands again. Its rivals in a
    /// split vote are other candidates (voters reset their own timers when they vote),
    /// so the retry is drawn from `[min / 4, min)`: a split costs a fraction of a
    /// full election timeout, still randomised to separate the rivals.
    fn reset_candidate_deadline(&mut self, now: Instant) {
        let floor = (self.config.election_timeout_ms_min / 4).max(1);
        let span = self.config.election_timeout_ms_min.saturating_sub(floor).max(1);
        let timeout = floor + self.rng.next_u64() % span;
        self.election_deadline = Some(now + ms(timeout));
    }

    pub(crate) fn set_role(&mut self, role: Role) {
        let before = self.role_kind();
        self.role = role;
        let after = self.role_kind();
        if before != after {
            self.push_event(ConsensusEvent::RoleChanged {
                term: self.hard.term,
                role: after,
            });
        }
    }

    /// The kind of role held.
    pub fn role_kind(&self) -> RoleKind {
        match self.role {
            Role::Follower => RoleKind::Follower,
            Role::PreCandidate { .. } => RoleKind::PreCandidate,
            Role::Candidate { .. } => RoleKind::Candidate,
            Role::Leader(_) => RoleKind::Leader,
        }
    }

    /// Records `leader` as leader of `term`; a different leader for a term already seen
    /// is a split brain (never with a correct protocol).
    pub(crate) fn note_leader(&mut self, term: u64, leader: NodeId) {
        match self.leaders_seen.get(&term) {
            Some(first) if *first != leader => {
                let first = *first;
                self.push_event(ConsensusEvent::SplitBrain {
                    term,
                    first,
                    second: leader,
                });
            }
            Some(_) => {}
            None => {
                self.leaders_seen.insert(term, leader);
                while self.leaders_seen.len() > 64 {
                    self.leaders_seen.pop_first();
                }
            }
        }
    }
}
