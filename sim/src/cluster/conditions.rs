//! The conditions a scenario waits for, evaluated against the nodes' reported views.

use std::collections::BTreeSet;

use psionic_core::PeerHealth;

use super::SimCluster;
use crate::observer::SharedState;
use crate::report::Condition;

impl SimCluster {
    /// Whether `condition` holds now.
    pub async fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::ReadinessCommitted => return self.readiness_committed().await,
            Condition::Voters { count } => return self.voters_applied(*count).await,
            Condition::KeyRetired { node, rotations } => return self.key_retired(node, *rotations).await,
            Condition::StagingEnded => return self.staging_ended(false).await,
            Condition::Staged => return self.staging_ended(true).await,
            Condition::Copying { node } => return self.copying(node),
            _ => {}
        }
        self.holds_in_views(condition)
    }

    /// Whether `condition`, one the harness answers from the events it observed, holds.
    fn holds_in_views(&self, condition: &Condition) -> bool {
        let state = self.shared.state();
        let views = &state.views;
        let live = self.live_honest_in(&state);
        let health = |viewer: &str, subject: &str| views.peer(viewer, self.node_id(subject)).map(|view| view.health);
        match condition {
            Condition::FullMembership => live.iter().all(|viewer| {
                live.iter()
                    .filter(|subject| *subject != viewer)
                    .all(|subject| health(viewer, subject) == Some(PeerHealth::Reachable))
            }),
            Condition::Isolated { subject } => live.iter().filter(|viewer| *viewer != subject).all(|other| {
                health(other, subject) == Some(PeerHealth::Unreachable)
                    && health(subject, other) == Some(PeerHealth::Unreachable)
            }),
            Condition::Rejoined { subject, life } => {
                let Some(epoch) = self.shared.trace.epoch_of_life(subject, *life) else {
                    return false;
                };
                live.iter().filter(|viewer| *viewer != subject).all(|viewer| {
                    views
                        .peer(viewer, self.node_id(subject))
                        .is_some_and(|view| view.health == PeerHealth::Reachable && view.epoch >= epoch)
                })
            }
            Condition::Refused { viewer, sender, kind } => state.refusals.contains(&(viewer.clone(), *sender, *kind)),
            Condition::OneLeader => {
                let leaders: BTreeSet<_> = live
                    .iter()
                    .map(|name| state.leaders.get(name).copied().flatten())
                    .collect();
                leaders.len() == 1 && leaders.iter().all(Option::is_some) && self.current_leader_in(&state).is_some()
            }
            Condition::Converged { index } => {
                let applied: BTreeSet<_> = live.iter().map(|name| state.applied.get(name).copied()).collect();
                applied.len() == 1
                    && applied
                        .iter()
                        .all(|entry| entry.is_some_and(|(applied, _)| applied >= *index))
            }
            Condition::CommittedAfterTerm { term } => state.first_apply_of_term.range(term + 1..).next().is_some(),
            Condition::QuorumLeader => self.quorum_leader_in(&state).is_some(),
            Condition::SnapshotInstalled { node } => state.snapshots_installed.contains(node),
            Condition::ReadinessCommitted
            | Condition::Voters { .. }
            | Condition::KeyRetired { .. }
            | Condition::StagingEnded
            | Condition::Staged
            | Condition::Copying { .. } => {
                unreachable!("answered from the nodes' state reports")
            }
            Condition::RequestsSettled => state.requests.ended.values().all(Option::is_some),
        }
    }

    /// The live node that leads by its own account, if exactly one is followed by all.
    pub fn current_leader(&self) -> Option<String> {
        self.current_leader_in(&self.shared.state())
    }

    /// A live node that leads by its own account and is followed by a majority of the
    /// honest nodes (itself included).
    pub fn quorum_leader(&self) -> Option<String> {
        self.quorum_leader_in(&self.shared.state())
    }

    fn quorum_leader_in(&self, state: &SharedState) -> Option<String> {
        let honest = self
            .nodes
            .iter()
            .filter(|(name, node)| {
                node.spec.honest && !self.retired.contains(*name) && !state.removed.contains(&node.node_id)
            })
            .count();
        self.live_honest_in(state).into_iter().find(|name| {
            let id = self.node_id(name);
            let followers = state.leaders.values().filter(|leader| **leader == Some(id)).count();
            followers > honest / 2 && state.leaders.get(name).copied().flatten() == Some(id)
        })
    }

    pub(super) fn current_leader_in(&self, state: &SharedState) -> Option<String> {
        self.live_honest_in(state)
            .into_iter()
            .find(|name| state.leaders.get(name).copied().flatten() == Some(self.node_id(name)))
    }
}
