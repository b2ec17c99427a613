//! Recovery of a node restored from a backup.
//!
//! A backup is the node's state as it was: votes it cast and entries it acknowledged
//! after the backup are gone, so the restored node could vote twice in a term, or help
//! elect a leader that lacks an entry it once acknowledged. While recovering it
//! therefore neither votes nor stands. It recovers once an append from a leader of term
//! `T` left its log covering that leader's commit index and holding an entry of `T`:
//! the log then holds the leader's whole prefix, every committed entry included (leader
//! completeness; the leader's commit index alone may lag), and it records its vote in
//! `T` for that leader,
//! so it votes again only from term `T + 1` on. That suffices when no vote was cast
//! after the backup in a term above the leader's it recovers from: the runbook restores
//! a node while the cluster has a stable leader.

use super::ConsensusEvent;
use super::ConsensusRefusal;
use super::{Consensus, Effect, HardState};
use crate::identity::NodeId;

impl Consensus {
    /// While recovering, refuses `candidate`'s vote request for `term` (true: refused).
    pub(crate) fn refuse_vote_while_recovering(&mut self, candidate: NodeId, term: u64) -> bool {
        if self.recovering {
            self.effects
                .push(Effect::Refuse(ConsensusRefusal::Recovering { candidate, term }));
        }
        self.recovering
    }

    /// Follower: an append from `leader` (of the current term) left the log matching
    /// it up to `match_index`, and the leader had committed `leader_commit`.
    pub(crate) fn maybe_end_recovery(&mut self, leader: NodeId, match_index: u64, leader_commit: u64) {
        // The leader's commit index lags after its own restart or election; an entry of
        // its term in this log means this log holds the leader's whole prefix before it.
        let holds_leaders_term = self.log.term_at(match_index) == Some(self.hard.term);
        if !self.recovering || match_index < leader_commit || !holds_leaders_term {
            return;
        }
        self.recovering = false;
        let term = self.hard.term;
        if self.hard.voted_for.is_none() {
            self.hard = HardState {
                term,
                voted_for: Some(leader),
            };
            self.effects.push(Effect::PersistHardState(self.hard));
        }
        self.push_event(ConsensusEvent::Recovered {
            term,
            leader,
            commit_index: leader_commit,
        });
    }

    /// Whether this node recovers from a restored backup.
    pub fn is_recovering(&self) -> bool {
        self.recovering
    }
}
