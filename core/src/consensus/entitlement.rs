//! Who may send what: a message is taken only from the node whose place in the cluster
//! allows it, so holding the token and a key of one's own is not enough to lead, to
//! decide or to report. A refusal leaves log, term and state unchanged.

use super::Consensus;
use super::{ConsensusMessageKind, ConsensusRefusal};
use crate::identity::{NodeId, NodeRole};

impl Consensus {
    /// Appends and snapshot chunks come from a leader: a member of this node's
    /// configuration (applied, or with the log's pending changes) that can vote (a
    /// voter, or a coordinator-capable learner whose promotion has not reached this
    /// node yet), the candidate it voted for in that term, or a leader a voter of its
    /// configuration vouched for in that term (one that joined after this node's log
    /// ends). A node with no state yet takes its cluster from any sender that
    /// authenticates, and the leader it takes it from is vouched for in that term (its
    /// snapshot may end before that leader joined).
    pub(crate) fn check_leader_seat(
        &mut self,
        from: NodeId,
        term: u64,
        message: ConsensusMessageKind,
    ) -> Result<(), ConsensusRefusal> {
        if self.mutations().follow_any_sender {
            return Ok(());
        }
        let voted_for_it = term == self.hard.term && self.hard.voted_for == Some(from);
        if self.state.genesis.is_none() {
            self.vouched_leader = Some((term, from));
            return Ok(());
        }
        let vouched = self.vouched_leader == Some((term, from));
        let may_vote = |role: NodeRole| role.is_coordinator_capable();
        let applied = self
            .state
            .members
            .get(&from)
            .is_some_and(|member| may_vote(member.role));
        let pending = self
            .effective_members()
            .get(&from)
            .is_some_and(|seat| may_vote(seat.role));
        if voted_for_it || vouched || applied || pending {
            return Ok(());
        }
        Err(ConsensusRefusal::NotAVoter { sender: from, message })
    }

    /// `from` is a voter of this node's configuration, applied or pending.
    pub(crate) fn check_voter(&self, from: NodeId, message: ConsensusMessageKind) -> Result<(), ConsensusRefusal> {
        if self.mutations().follow_any_sender {
            return Ok(());
        }
        let applied_voter = self.state.members.get(&from).is_some_and(|member| member.voter);
        if applied_voter || self.is_voter(from) {
            return Ok(());
        }
        Err(ConsensusRefusal::NotAVoter { sender: from, message })
    }

    /// A decision of this node's term comes from the leader it follows; while it
    /// follows none, from a voter of its configuration (who is then followed, as a
    /// newer term's is). A node with no state yet takes decisions from no one but
    /// the leader its appends made it follow.
    pub(crate) fn check_decision_sender(&self, from: NodeId, term: u64) -> Result<(), ConsensusRefusal> {
        if term != self.hard.term || self.mutations().follow_any_sender {
            return Ok(());
        }
        match self.leader {
            Some(leader) if leader == from => Ok(()),
            None if self.is_voter(from) => Ok(()),
            leader => Err(ConsensusRefusal::NotOurLeader {
                sender: from,
                leader,
                term,
            }),
        }
    }
}
