//! Proposals forwarded to the leader (as etcd's raft forwards `MsgProp`): a node that
//! does not lead mints the proposal's id itself and sends it to the leader it follows,
//! which appends it under that id and answers with the index it took, or why not. The
//! forwarding node settles it as it settles its own: committed or superseded at that
//! index once it applies there, whatever node answered the client.
//!
//! Invariants: a leader takes forwarded proposals only from a voter (a node that could
//! lead and propose them itself), and only under ids that voter minted; every proposal
//! forwarded gets exactly one outcome event on the forwarding node; a proposal whose
//! leader changed before it answered ends `forward-unanswered`: it may yet commit, so
//! the outcome is unknown, never reported refused.

use super::ConsensusEvent;
use super::{Consensus, ProposalRejection};
use super::{ConsensusMessageKind, ConsensusRefusal};
use crate::identity::NodeId;
use crate::limits::FORWARD_ANSWER_WITHIN_MS;
use crate::state::{ClusterCommand, Origin, Proposal, ProposalId};
use crate::time::Instant;

use super::message::RaftMessage;

/// Most proposals one node has forwarded and not yet seen answered.
pub const FORWARDED_PENDING_MAX: usize = 1_024;

/// A leader silent longer than a node forwards to: it may be gone, and what is sent
/// into its silence could only end unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("the leader {leader} has been silent {silent_ms} ms (forwarding stops past {limit_ms} ms)")]
pub struct LeaderSilence {
    /// The leader followed.
    pub leader: NodeId,
    /// Milliseconds since it was last heard (`u64::MAX`: never).
    pub silent_ms: u64,
    /// [`Consensus::leader_in_touch_ms`].
    pub limit_ms: u64,
}

/// A forwarded proposal awaiting its leader's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForwardedTo {
    /// The leader it went to.
    pub leader: NodeId,
    /// The term that leader led.
    pub term: u64,
    /// When it was sent.
    pub sent_at: Instant,
}

impl Consensus {
    /// Proposes `commands` here when this node leads; otherwise forwards them to the
    /// leader it follows. Rejected at once (an event each) only when no leader is known
    /// or this node is handing leadership over.
    pub(crate) fn propose_or_forward(
        &mut self,
        now: Instant,
        commands: Vec<(Origin, ClusterCommand)>,
    ) -> Vec<ProposalId> {
        let leader = match self.accepts_proposals() {
            Err(ProposalRejection::NotLeader {
                leader_hint: Some(leader),
            }) if leader != self.id => leader,
            _ => return self.propose_batch(now, commands),
        };
        let proposals = self.mint_proposals(commands);
        let ids: Vec<ProposalId> = proposals.iter().map(|proposal| proposal.id).collect();
        let own_reports = proposals.iter().all(|proposal| self.is_own_report(self.id, proposal));
        if let Err(reason) = self.may_forward(now, leader, proposals.len(), own_reports) {
            for &id in &ids {
                self.push_event(ConsensusEvent::ProposalRejected { id, reason });
            }
            return ids;
        }
        let term = self.hard.term;
        for &id in &ids {
            let sent = ForwardedTo {
                leader,
                term,
                sent_at: now,
            };
            self.forwarded.insert(id, sent);
        }
        self.send(leader, RaftMessage::Forward { proposals });
        ids
    }

    /// Whether `count` more proposals may go to `leader` now: not while it has been
    /// silent past [`Consensus::leader_in_touch_ms`] (a proposal sent into silence
    /// could only end unknown), nor past [`FORWARDED_PENDING_MAX`] unanswered.
    fn may_forward(
        &self,
        now: Instant,
        leader: NodeId,
        count: usize,
        own_reports: bool,
    ) -> Result<(), ProposalRejection> {
        if !self.effective_voters().contains(&self.id) && !own_reports {
            // A leader takes forwarded proposals only from voters, and a member's
            // reports of its own facts from the member.
            return Err(ProposalRejection::NotLeader {
                leader_hint: Some(leader),
            });
        }
        if let Some(silence) = self.leader_silence(now, leader) {
            return Err(ProposalRejection::LeaderSilent(silence));
        }
        let pending = self.forwarded.len();
        if pending.saturating_add(count) > FORWARDED_PENDING_MAX {
            return Err(ProposalRejection::TooManyForwarded {
                pending,
                max: FORWARDED_PENDING_MAX,
            });
        }
        Ok(())
    }

    /// `leader`'s silence, when it has lasted past [`Consensus::leader_in_touch_ms`].
    pub fn leader_silence(&self, now: Instant, leader: NodeId) -> Option<LeaderSilence> {
        let silent_ms = self.leader_contact_at.map_or(u64::MAX, |heard| {
            u64::try_from(now.saturating_since(heard).as_millis()).unwrap_or(u64::MAX)
        });
        let limit_ms = self.leader_in_touch_ms();
        (silent_ms > limit_ms).then_some(LeaderSilence {
            leader,
            silent_ms,
            limit_ms,
        })
    }

    /// The longest silence of its leader after which a node forwards nothing to it:
    /// two heartbeat intervals (a leader heard less recently may be gone).
    pub fn leader_in_touch_ms(&self) -> u64 {
        self.config.heartbeat_interval_ms.saturating_mul(2)
    }

    /// Leader: proposals a voter forwarded. Each is answered with the index it took,
    /// or why it was rejected.
    pub(crate) fn on_forward(&mut self, now: Instant, from: NodeId, proposals: Vec<Proposal>) {
        let own_reports = self.state.members.contains_key(&from)
            && !proposals.is_empty()
            && proposals.iter().all(|proposal| self.is_own_report(from, proposal));
        if let Err(refusal) = self.check_voter(from, ConsensusMessageKind::Forward)
            && !own_reports
        {
            return self.effects.push(super::Effect::Refuse(refusal));
        }
        let other = proposals.iter().find_map(|proposal| {
            let speaks_for = match &proposal.origin {
                Origin::Operator { .. } => from,
                Origin::Member { node } => *node,
                Origin::Leader => self.id,
            };
            [proposal.id.node, speaks_for].into_iter().find(|node| *node != from)
        });
        if let Some(proposer) = other {
            let refusal = ConsensusRefusal::ForwardedForAnother { sender: from, proposer };
            return self.effects.push(super::Effect::Refuse(refusal));
        }
        let (entries, taken) = self.check_proposals(proposals);
        for (id, taken) in taken {
            let answer = match taken {
                Ok(index) => RaftMessage::ForwardTaken { id, index },
                Err(reason) => RaftMessage::ForwardRejected { id, reason },
            };
            self.send(from, answer);
        }
        self.append_checked(now, entries);
    }

    /// Whether `proposal` is `node`'s report of one of its own facts (what a member
    /// that does not vote may forward).
    fn is_own_report(&self, node: NodeId, proposal: &Proposal) -> bool {
        let about_itself = match &*proposal.command {
            ClusterCommand::SetArtifactResidency { node: about, .. }
            | ClusterCommand::SetBackendReadiness { node: about, .. } => *about == node,
            _ => false,
        };
        about_itself && proposal.origin == Origin::Member { node } && proposal.id.node == node
    }

    /// The leader took forwarded proposal `id` at `index`: it settles there.
    pub(crate) fn on_forward_taken(&mut self, from: NodeId, id: ProposalId, index: u64) {
        if self.forwarded.get(&id).is_none_or(|sent| sent.leader != from) {
            return;
        }
        self.forwarded.remove(&id);
        if cfg!(madsim) && self.mutations.ack_forward_when_taken {
            return self.push_event(ConsensusEvent::ProposalCommitted {
                id,
                index,
                refusal: None,
            });
        }
        if index > self.state.applied_index {
            self.pending_proposals.entry(index).or_default().push(id);
            return;
        }
        // Applied already, and not settled by its id there: another entry took it.
        let reason = match self.log.get(index) {
            Some(entry) => ProposalRejection::Superseded {
                index,
                term: entry.term,
            },
            None => ProposalRejection::SnapshotCovered { index },
        };
        self.push_event(ConsensusEvent::ProposalRejected { id, reason });
    }

    /// The leader rejected forwarded proposal `id`.
    pub(crate) fn on_forward_rejected(&mut self, from: NodeId, id: ProposalId, reason: ProposalRejection) {
        if self.forwarded.get(&id).is_some_and(|sent| sent.leader == from) {
            self.forwarded.remove(&id);
            self.push_event(ConsensusEvent::ProposalRejected { id, reason });
        }
    }

    /// A forwarded proposal applied before its leader's answer arrived: settled by its
    /// id. Returns whether `proposal` was one.
    pub(crate) fn settle_forwarded(&mut self, proposal: &Proposal) -> bool {
        self.forwarded.remove(&proposal.id).is_some()
    }

    /// Forwarded proposals whose leader is no longer the one followed (or whose term
    /// passed) before it answered, or that it has not answered within
    /// [`FORWARD_ANSWER_WITHIN_MS`], end `forward-unanswered`.
    pub(crate) fn expire_forwarded(&mut self, now: Instant) {
        if self.forwarded.is_empty() {
            return;
        }
        let (leader, term) = (self.leader, self.hard.term);
        let expired: Vec<(ProposalId, NodeId)> = self
            .forwarded
            .iter()
            .filter(|(_, sent)| {
                let late = now.saturating_since(sent.sent_at).as_millis() >= u128::from(FORWARD_ANSWER_WITHIN_MS);
                Some(sent.leader) != leader || sent.term != term || late
            })
            .map(|(id, sent)| (*id, sent.leader))
            .collect();
        for (id, leader) in expired {
            self.forwarded.remove(&id);
            let reason = ProposalRejection::ForwardUnanswered { leader };
            self.push_event(ConsensusEvent::ProposalRejected { id, reason });
        }
    }

    fn send(&mut self, to: NodeId, message: RaftMessage) {
        self.effects.push(super::Effect::Send { to, message });
    }
}
