//! Authority over decisions: the leader's authority stamps them; a receiver admits a
//! decision's authority only when its fence is no older than the newest it knows (the
//! newest fence seen, or its current term) and its sender may lead it, and takes a
//! newer term from a voter's decision.

use super::{Authority, Consensus, Fence, ProposalRejection};
use super::{ConsensusMessageKind, ConsensusRefusal};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::time::Instant;

impl Consensus {
    /// Leader: the authority of this leadership, which stamps its decisions.
    pub fn authority(&self) -> Result<Authority, ProposalRejection> {
        if !self.role.is_leader() {
            return Err(ProposalRejection::NotLeader {
                leader_hint: self.leader,
            });
        }
        Ok(self.authority_of(self.id))
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
        match self.role.leadership() {
            Some(leadership) => leadership.certificate.clone(),
            None => std::sync::Arc::new(super::endorsement::LeadershipCertificate {
                term: self.hard.term,
                leader: self.id,
                endorsements: Vec::new(),
            }),
        }
    }

    /// Admits `authority`, stamped with `digest` on a decision from `from`: refused
    /// when it is not sound, its fence is older than the newest this node knows
    /// ([`ConsensusRefusal::StaleFence`]), or its sender may not lead this node. A newer term's
    /// leader is followed, its term made durable before anything else is done.
    pub(crate) fn admit_decision(
        &mut self,
        now: Instant,
        from: NodeId,
        authority: &Authority,
        digest: Digest,
    ) -> Result<(), ConsensusRefusal> {
        if let Some(problem) = authority.problem(digest, from, self.cluster_id) {
            return Err(ConsensusRefusal::AuthorityMismatch { sender: from, problem });
        }
        let no_fence_check = cfg!(madsim) && self.mutations.no_fence_check;
        let seen = self.fence_floor();
        if authority.fence < seen && !no_fence_check {
            return Err(ConsensusRefusal::StaleFence {
                sender: from,
                seen,
                got: authority.fence,
            });
        }
        self.check_decision_sender(from, authority.term)?;
        if authority.term > self.hard.term || self.leader.is_none() {
            // A node this node's log never made a voter cannot lead it (a node of
            // another genesis among them, or any sender while this node has no
            // state): its newer term is not taken.
            self.check_voter(from, ConsensusMessageKind::Decision)?;
            self.observe_leader(now, from, authority.term);
        }
        self.fence_seen = self.fence_seen.max(authority.fence);
        Ok(())
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
