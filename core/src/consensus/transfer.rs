//! Leadership transfer (Raft dissertation §3.10). The leader stops taking proposals,
//! brings the target's log up to its own, and only then tells it to stand at once
//! (`TimeoutNow`). A transfer not done within an election timeout is given up, so a
//! lost `TimeoutNow` or a target that crashed never wedges proposals.

use super::ConsensusEvent;
use serde::{Deserialize, Serialize};

use super::{Consensus, Effect, RaftMessage};
use crate::identity::NodeId;
use crate::time::{Instant, ms};

/// A transfer in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// The voter taking over.
    pub to: NodeId,
    /// When it is given up.
    pub deadline: Instant,
    /// Whether `TimeoutNow` was sent (once the target held the leader's last entry).
    pub told: bool,
}

/// Why a transfer did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum TransferRefusal {
    /// This node does not lead.
    #[error("not the leader (leader hint {leader_hint:?})")]
    NotLeader {
        /// The leader it follows, if known.
        leader_hint: Option<NodeId>,
    },
    /// The target is not another voter.
    #[error("{node:?} is not another voter")]
    NotAVoter {
        /// The target asked for.
        node: NodeId,
    },
    /// There is no other voter to hand over to.
    #[error("no other voter to hand leadership to")]
    NoOtherVoter,
    /// A transfer is already under way.
    #[error("a transfer to {to:?} is under way")]
    InProgress {
        /// Its target.
        to: NodeId,
    },
}

impl Consensus {
    /// Leader: hands leadership to `target`, or to the most up-to-date other voter.
    pub(crate) fn transfer_leadership(
        &mut self,
        now: Instant,
        target: Option<NodeId>,
    ) -> Result<NodeId, TransferRefusal> {
        let voters = self.effective_voters();
        let leader_hint = self.leader;
        let Some(leadership) = self.role.leadership_mut() else {
            return Err(TransferRefusal::NotLeader { leader_hint });
        };
        let to = leadership.transfer_target(self.id, &voters, target)?;
        let deadline = now + ms(self.config.election_timeout_ms_min);
        leadership.transfer = Some(Transfer {
            to,
            deadline,
            told: false,
        });
        self.advance_transfer(now, to);
        Ok(to)
    }

    /// Leader: tells the target to stand once it holds the last entry; until then
    /// sends it what it lacks.
    pub(crate) fn advance_transfer(&mut self, now: Instant, peer: NodeId) {
        let last_index = self.log.last_index();
        let term = self.hard.term;
        let Some(leadership) = self.role.leadership_mut() else {
            return;
        };
        let Some(transfer) = leadership
            .transfer
            .as_mut()
            .filter(|transfer| transfer.to == peer && !transfer.told)
        else {
            return;
        };
        let caught_up = leadership
            .progress
            .get(&peer)
            .is_some_and(|progress| progress.match_index >= last_index);
        if !caught_up {
            return self.send_append(now, peer);
        }
        transfer.told = true;
        self.effects.push(Effect::Send {
            to: peer,
            message: RaftMessage::TimeoutNow { term },
        });
    }

    /// Leader: gives up a transfer past its deadline.
    pub(crate) fn expire_transfer(&mut self, now: Instant) {
        let term = self.hard.term;
        let Some(leadership) = self.role.leadership_mut() else {
            return;
        };
        if let Some(transfer) = leadership.transfer.filter(|transfer| transfer.deadline <= now) {
            leadership.transfer = None;
            self.push_event(ConsensusEvent::TransferGivenUp { term, to: transfer.to });
        }
    }
}
