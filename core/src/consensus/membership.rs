//! Membership as the log defines it. A change takes effect as soon as it is in the
//! log, committed or not (Ongaro's dissertation §4.1), and the leader allows one voter
//! change at a time.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Consensus, EntryPayload, StepDownReason};
use crate::identity::{NodeId, NodeRole};
use crate::state::{ClusterCommand, MemberStatus, Seat, change_seats, check_command};
use crate::time::Instant;

impl Consensus {
    /// Members after every entry in the log, applied or not.
    pub(crate) fn effective_members(&self) -> BTreeMap<NodeId, Seat> {
        let mut seats: BTreeMap<NodeId, Seat> = self
            .state
            .members
            .iter()
            .map(|(id, member)| {
                (
                    *id,
                    Seat {
                        role: member.role,
                        voter: member.voter,
                    },
                )
            })
            .collect();
        for index in self.log.seat_changes_after(self.state.applied_index) {
            let Some(EntryPayload::Proposal(proposal)) = self.log.get(index).map(|entry| &*entry.payload) else {
                continue;
            };
            apply_seat_change(&mut seats, &proposal.command);
        }
        seats
    }

    /// Whether an entry not yet applied changes seats (effective and applied members
    /// differ only then).
    fn seat_change_pending(&self) -> bool {
        self.log.seat_changes_after(self.state.applied_index).next().is_some()
    }

    /// The effective voters' match indexes, this node's being its last index and 0
    /// that of a voter the leader tracks no progress of.
    pub(crate) fn voter_match_indexes(&self, progress: &BTreeMap<NodeId, super::Progress>) -> Vec<u64> {
        let match_of = |voter: &NodeId| {
            if *voter == self.id {
                self.log.last_index()
            } else {
                progress.get(voter).map_or(0, |progress| progress.match_index)
            }
        };
        if self.seat_change_pending() {
            self.effective_voters().iter().map(match_of).collect()
        } else {
            self.state
                .members
                .iter()
                .filter(|(_, member)| member.voter)
                .map(|(id, _)| match_of(id))
                .collect()
        }
    }

    /// Voters after every entry in the log.
    pub(crate) fn effective_voters(&self) -> BTreeSet<NodeId> {
        self.effective_members()
            .into_iter()
            .filter(|(_, seat)| seat.voter)
            .map(|(id, _)| id)
            .collect()
    }

    /// Whether `node` votes, by the log.
    pub(crate) fn is_voter(&self, node: NodeId) -> bool {
        if self.seat_change_pending() {
            self.effective_members().get(&node).is_some_and(|seat| seat.voter)
        } else {
            self.state.members.get(&node).is_some_and(|member| member.voter)
        }
    }

    /// Whether `granted` holds a quorum of the voters.
    pub(crate) fn has_quorum(&self, granted: &BTreeSet<NodeId>) -> bool {
        let voters = self.effective_voters();
        !voters.is_empty() && granted.intersection(&voters).count() > voters.len() / 2
    }

    /// Nodes removed by the log (applied or not) and not admitted again.
    pub(crate) fn effective_removed(&self) -> BTreeSet<NodeId> {
        let mut removed = self.state.removed.clone();
        for index in self.state.applied_index + 1..=self.log.last_index() {
            let Some(EntryPayload::Proposal(proposal)) = self.log.get(index).map(|entry| &*entry.payload) else {
                continue;
            };
            match *proposal.command {
                ClusterCommand::RemoveMember { node } => {
                    removed.insert(node);
                }
                ClusterCommand::AdmitMember { node, .. } => {
                    removed.remove(&node);
                }
                _ => {}
            }
        }
        removed
    }

    /// Leader: keeps a progress entry for every member but itself.
    pub(crate) fn refresh_progress(&mut self) {
        let members = self.effective_members();
        let fresh = self.fresh_progress();
        if let Some(leadership) = self.role.leadership_mut() {
            leadership.track_members(self.id, &members, &fresh);
        }
    }

    /// After applying: a leader that is no longer a voter steps down; snapshots are
    /// taken by policy.
    pub(crate) fn after_apply(&mut self, now: Instant) {
        if self.role.is_leader()
            && !self.state.voters().contains(&self.id)
            && self.commit_index >= self.log.last_index()
        {
            self.step_down(now, StepDownReason::RemovedFromVoters);
        }
        self.maybe_snapshot();
    }

    /// Leader: the membership changes it would propose now. Candidates that
    /// `admit_only` lists are admitted as learners, at most
    /// [`super::ADMISSIONS_PER_HEARTBEAT_MAX`] at a time; members that caught up are
    /// marked ready and, if coordinator-capable, promoted one at a time (a member was
    /// listed or admitted by an operator: nothing else ever becomes a voter).
    pub(crate) fn membership_proposals(&self, discovered: &[(NodeId, NodeRole)]) -> Vec<ClusterCommand> {
        let Some(leadership) = self.role.leadership() else {
            return Vec::new();
        };
        let members = self.effective_members();
        let removed = self.effective_removed();
        let allowed = |id: &NodeId| {
            (self.config.admit_only.contains(id) || self.mutations().admit_unlisted) && self.attested(*id).is_ok()
        };
        let mut commands: Vec<ClusterCommand> = discovered
            .iter()
            .filter(|(id, _)| !members.contains_key(id) && !removed.contains(id) && allowed(id))
            .take(super::ADMISSIONS_PER_HEARTBEAT_MAX)
            .map(|(node, role)| ClusterCommand::AdmitMember {
                node: *node,
                role: *role,
                stream_addr: None,
            })
            .collect();
        let caught_up = |id: &NodeId| {
            leadership
                .progress
                .get(id)
                .is_some_and(|p| p.match_index >= self.commit_index)
        };
        let pending_status = self.pending_status_changes();
        for (id, member) in &self.state.members {
            if member.status == MemberStatus::Joining && caught_up(id) && !pending_status.contains(id) {
                commands.push(ClusterCommand::SetMemberStatus {
                    node: *id,
                    status: MemberStatus::Ready,
                });
            }
        }
        if self.may_change_voters() {
            let promotable = self.state.members.iter().find(|(id, member)| {
                !member.voter
                    && member.role.is_coordinator_capable()
                    && caught_up(id)
                    && member.status == MemberStatus::Ready
                    && self.attested(**id).is_ok()
            });
            if let Some((id, _)) = promotable {
                commands.push(ClusterCommand::PromoteVoter { node: *id });
            }
        }
        commands
    }

    fn pending_status_changes(&self) -> BTreeSet<NodeId> {
        (self.state.applied_index + 1..=self.log.last_index())
            .filter_map(|index| match self.log.get(index).map(|entry| &*entry.payload) {
                Some(EntryPayload::Proposal(proposal)) => match *proposal.command {
                    ClusterCommand::SetMemberStatus { node, .. } => Some(node),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Records what `peer` said of itself in an authenticated hello.
    pub(crate) fn record_claims(&mut self, peer: NodeId, claims: super::PeerClaims) {
        if self.claims.len() < super::PEER_CLAIMS_MAX || self.claims.contains_key(&peer) {
            self.claims.insert(peer, claims);
        }
    }

    /// Whether `node` may be admitted (or promoted): once heard, it said the same
    /// trust bundle as this node's; under an allowlist, it measured a listed binary.
    pub(crate) fn attested(&self, node: NodeId) -> Result<(), crate::attestation::AttestationRefusal> {
        if self.mutations().admit_unattested {
            return Ok(());
        }
        let claims = self.claims.get(&node);
        if let (Some(ours), Some(claims)) = (self.trust, claims)
            && claims.trust != Some(ours)
            && !self.mutations().admit_untrusted
        {
            return Err(crate::attestation::AttestationRefusal::TrustMismatch {
                ours,
                theirs: claims.trust,
            });
        }
        crate::attestation::check(&self.config.allowed_binaries, claims.and_then(|claims| claims.binary))
    }

    /// Voters heard holding admission token `token` (this node counted if it holds
    /// it), and voters, as the whole log implies them.
    pub(crate) fn token_holders(&self, token: crate::digest::Digest) -> (u32, u32) {
        let voters: Vec<NodeId> = self
            .effective_members()
            .into_iter()
            .filter(|(_, seat)| seat.voter)
            .map(|(id, _)| id)
            .collect();
        let holds = |id: &NodeId| {
            if *id == self.id {
                self.admission_tokens.contains(&token)
            } else {
                self.claims.get(id).is_some_and(|claims| claims.tokens.contains(&token))
            }
        };
        let holders = voters.iter().filter(|id| holds(id)).count();
        (holders as u32, voters.len() as u32)
    }

    /// How the authenticated non-member `node` would join this node's cluster.
    pub(crate) fn admission_of(&self, node: NodeId) -> CandidateAdmission {
        if self.effective_removed().contains(&node) {
            CandidateAdmission::Removed
        } else if let Err(refusal) = self.attested(node) {
            CandidateAdmission::NotAttested { refusal }
        } else if self.config.admit_only.contains(&node) {
            CandidateAdmission::Automatic
        } else {
            CandidateAdmission::Operator
        }
    }

    /// Leader: proposes the membership changes due now.
    pub(crate) fn maintain_membership(&mut self, now: Instant, discovered: &[(NodeId, NodeRole)]) {
        let commands = self.membership_proposals(discovered);
        if !commands.is_empty() {
            let upkeep = commands
                .into_iter()
                .map(|command| (crate::state::Origin::Leader, command));
            let _ = self.propose_batch(now, upkeep.collect());
        }
    }
}

fn apply_seat_change(seats: &mut BTreeMap<NodeId, Seat>, command: &ClusterCommand) {
    if check_command(command, &*seats).is_ok() {
        change_seats(seats, command);
    }
}

/// How a candidate (an authenticated peer that is not a member) would join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateAdmission {
    /// The leader admits it by itself (`admit_only` lists it: a manifest's node, a
    /// pinned key's node).
    Automatic,
    /// Only an operator's `admit-member` admits it.
    Operator,
    /// It was removed, and is not admitted again by itself.
    Removed,
    /// Its measured binary is not on the allowlist: no one admits it.
    NotAttested {
        /// Why.
        refusal: crate::attestation::AttestationRefusal,
    },
}
