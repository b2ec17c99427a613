//! Decisions under a leadership's authority: the leader stamps them; a receiver
//! refuses one whose fence is older than the newest it knows (the newest fence seen, or
//! its current term), and takes a newer term from a voter's decision.

use super::{Authority, Consensus, Decision, Effect, Fence, ProposalRejection, Role, StampedDecision};
use crate::dispatch::AssignmentRefusal;
use crate::identity::NodeId;
use crate::io::Event;
use crate::refusal::Refusal;

impl Consensus {
    /// Leader: stamps `decision` with this leadership's authority.
    pub(crate) fn stamp(&self, decision: Decision) -> Result<StampedDecision, ProposalRejection> {
        if !matches!(self.role, Role::Leader(_)) {
            return Err(ProposalRejection::NotLeader {
                leader_hint: self.leader,
            });
        }
        let authority = self.authority_of(self.id);
        Ok(StampedDecision {
            authority,
            authority_digest: authority.digest(),
            decision,
        })
    }

    pub(crate) fn authority_of(&self, leader: NodeId) -> Authority {
        Authority {
            cluster_id: self.cluster_id,
            term: self.hard.term,
            commit_index: self.commit_index,
            fence: Fence(self.hard.term),
            leader,
        }
    }

    /// The signed votes that elected this leader (empty when not leading: nothing it
    /// signs then proves leadership).
    pub(crate) fn leadership_certificate(&self) -> std::sync::Arc<super::endorsement::LeadershipCertificate> {
        match &self.role {
            super::Role::Leader(leadership) => leadership.certificate.clone(),
            _ => std::sync::Arc::new(super::endorsement::LeadershipCertificate {
                term: self.hard.term,
                leader: self.id,
                endorsements: Vec::new(),
            }),
        }
    }

    pub(crate) fn on_decision(&mut self, from: NodeId, stamped: StampedDecision) {
        if let Some(problem) = stamped.authority_problem(from, self.cluster_id) {
            let refusal = Refusal::AuthorityMismatch { sender: from, problem };
            return self.effects.push(Effect::Refuse(refusal));
        }
        let authority = stamped.authority;
        let no_fence_check = cfg!(madsim) && self.mutations.no_fence_check;
        let seen = self.fence_floor();
        if authority.fence < seen && !no_fence_check {
            let refusal = Refusal::StaleFence {
                sender: from,
                seen,
                got: authority.fence,
            };
            self.effects.push(Effect::Refuse(refusal));
            if let Decision::Assign(assignment) = &stamped.decision {
                let refusal = AssignmentRefusal::StaleFence {
                    seen,
                    got: authority.fence,
                };
                self.refuse_assignment(&authority, assignment.request, refusal);
            }
            return;
        }
        if let Err(refusal) = self.check_decision_sender(from, authority.term) {
            return self.effects.push(Effect::Refuse(refusal));
        }
        if authority.term > self.hard.term || self.leader.is_none() {
            // A node this node's log never made a voter cannot lead it (a node of
            // another genesis among them, or any sender while this node has no
            // state): its newer term is not taken.
            if let Err(refusal) = self.check_voter(from, crate::refusal::ConsensusMessageKind::Decision) {
                return self.effects.push(Effect::Refuse(refusal));
            }
            // The leader of a newer term speaks: follow it, and make its term (the
            // fence) durable before anything else is done.
            self.observe_leader(self.now, from, authority.term);
        }
        self.fence_seen = self.fence_seen.max(authority.fence);
        if let Decision::Assign(assignment) = &stamped.decision
            && let Err(refusal) = self.check_assignment(assignment)
        {
            return self.refuse_assignment(&authority, assignment.request, refusal);
        }
        self.push_event(Event::DecisionAccepted {
            authority,
            decision: stamped.decision,
        });
    }

    /// The newest fence seen: at least the current term's (the term is durable, so
    /// this survives a restart).
    pub fn fence_seen(&self) -> Fence {
        self.fence_floor()
    }

    pub(crate) fn fence_floor(&self) -> Fence {
        self.fence_seen.max(Fence(self.hard.term))
    }
}
