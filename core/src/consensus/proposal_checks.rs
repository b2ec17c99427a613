//! What a leader checks before it appends a proposal: the entry fits a frame, the
//! command would take effect among the members the whole log implies, and a change of
//! the voter set follows the single-server rules (Ongaro's dissertation §4.1, with the
//! 2015 correction): at most one uncommitted at a time, and none before the leader has
//! committed an entry of its own term.

use std::collections::BTreeMap;

use super::{Consensus, Entry, EntryPayload, ProposalRejection};
use crate::identity::NodeId;
use crate::limits::ENTRY_BYTES_MAX;
use crate::state::{ClusterCommand, Seat, change_seats, check_command};

/// What one batch's proposals are checked against, built when first needed and
/// carried from one proposal of the batch to the next.
#[derive(Debug, Default)]
pub(crate) struct BatchChecks {
    /// Members after the log and the batch's proposals taken so far.
    seats: Option<BTreeMap<NodeId, Seat>>,
    /// Index of the newest uncommitted voter change (log or batch), once looked up.
    voter_change: Option<Option<u64>>,
}

impl Consensus {
    /// Checks the proposal of `command` as the entry `entry` (at its index); on success
    /// the batch's view takes it into account.
    pub(crate) fn check_proposal(&self, entry: &Entry, checks: &mut BatchChecks) -> Result<(), ProposalRejection> {
        let EntryPayload::Proposal(proposal) = &*entry.payload else {
            return Ok(());
        };
        let command = &*proposal.command;
        proposal
            .origin
            .check_proposal(command, &self.state)
            .map_err(|refusal| ProposalRejection::Invalid { refusal })?;
        let bytes = super::log::entry_size_bytes(entry);
        if bytes > ENTRY_BYTES_MAX {
            return Err(ProposalRejection::TooLarge {
                bytes,
                limit: ENTRY_BYTES_MAX,
            });
        }
        if command.changes_voters() {
            self.check_voter_change(checks)?;
        }
        if let ClusterCommand::CutOverAdmissionToken { token } = command
            && !self.admission_tokens.contains(token)
        {
            return Err(ProposalRejection::TokenNotHeld { token: *token });
        }
        if let ClusterCommand::CutOverAdmissionToken { token } = command {
            let (holders, voters) = self.token_holders(*token);
            if holders * 2 <= voters && !self.mutations().cut_over_without_quorum {
                return Err(ProposalRejection::TokenNotHeldByQuorum {
                    token: *token,
                    holders,
                    voters,
                });
            }
        }
        match command {
            ClusterCommand::RotateNodeKey { rotation } => rotation.check(&self.state),
            ClusterCommand::RetireNodeKey { node, key } => crate::state::check_retirement(&self.state, *node, *key),
            _ => Ok(()),
        }
        .map_err(|refusal| ProposalRejection::Invalid { refusal })?;
        if command.names_members() {
            let seats = checks.seats.get_or_insert_with(|| self.effective_members());
            check_command(command, &*seats).map_err(|refusal| ProposalRejection::Invalid { refusal })?;
            change_seats(seats, command);
        } else {
            check_command(command, &BTreeMap::new()).map_err(|refusal| ProposalRejection::Invalid { refusal })?;
        }
        if let ClusterCommand::AdmitMember { node, .. } | ClusterCommand::PromoteVoter { node } = command {
            self.attested(*node)
                .map_err(|refusal| ProposalRejection::NotAttested { node: *node, refusal })?;
        }
        if command.changes_voters() {
            checks.voter_change = Some(Some(entry.index));
        }
        Ok(())
    }

    fn check_voter_change(&self, checks: &mut BatchChecks) -> Result<(), ProposalRejection> {
        let mutations = self.mutations();
        if self.log.term_at(self.commit_index) != Some(self.hard.term) && !mutations.config_before_own_term_commit {
            return Err(ProposalRejection::LeaderTermUncommitted {
                term: self.hard.term,
                commit_index: self.commit_index,
            });
        }
        let pending = *checks
            .voter_change
            .get_or_insert_with(|| self.uncommitted_voter_change());
        match pending {
            Some(index) if !mutations.concurrent_config_change => Err(ProposalRejection::ConfigChangePending { index }),
            _ => Ok(()),
        }
    }

    /// Index of the newest entry after the commit index that changes voters.
    pub(crate) fn uncommitted_voter_change(&self) -> Option<u64> {
        self.log.seat_changes_after(self.commit_index).rev().find(|index| {
            matches!(self.log.get(*index).map(|entry| &*entry.payload),
                Some(EntryPayload::Proposal(proposal)) if proposal.command.changes_voters())
        })
    }

    /// Whether the leader may change the voter set now (see the module rules).
    pub(crate) fn may_change_voters(&self) -> bool {
        self.check_voter_change(&mut BatchChecks::default()).is_ok()
    }
}

impl ClusterCommand {
    /// Whether the command's checks read the membership.
    pub fn names_members(&self) -> bool {
        !matches!(
            self,
            ClusterCommand::SetPolicy { .. } | ClusterCommand::SetServingPolicy { .. }
        )
    }
}
