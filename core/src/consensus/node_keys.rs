//! Which key speaks for a node, and the leader's upkeep of rotations.
//!
//! A key speaks for a node when the applied state accepts it (the key in force, the
//! one retiring, or for a node never rotated the key its id is the digest of), or when
//! it is the new key of a rotation of that node already in this node's log but not yet
//! applied, whose record checks against the applied state (it starts from the key in
//! force and both signatures verify). The second lets a node hear a peer that applied
//! its own rotation first (a leader applies before its followers learn the commit).
//!
//! A node whose log is behind (or empty: a node joining) may not know a peer's key at
//! all: it learns it from the rotations the peer's hello shows, when they lead from a
//! key the applied state accepts for the peer to the key the hello carries, each
//! signed by both its keys. A key so learnt speaks for the peer while the applied
//! state still accepts the key its chain started from.
//!
//! The leader retires a node's old key once it has heard the node under its new one.
//! A member whose log stops before rotations of a leader its hello no longer shows
//! cannot hear that leader: once settled, such a leader hands over to a voter that
//! member can hear.

use super::{Consensus, EntryPayload};
use crate::digest::Digest;
use crate::identity::{NodeId, PublicKey};
use crate::state::{ClusterCommand, KeyRotation, Origin};
use crate::time::Instant;

/// A peer's key learnt from the rotations its hello showed, and the key that chain
/// started from (one the applied state accepted for the peer then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LearnedKey {
    key: PublicKey,
    start: PublicKey,
}

impl Consensus {
    /// Whether `key` speaks for `node`: the applied state accepts it, or it is the new
    /// key of a pending rotation ([`Self::pending_rotation_to`]) or the key learnt from
    /// its hellos ([`Self::learned_key`]).
    pub(crate) fn key_speaks_for(&self, node: NodeId, key: &[u8; 32]) -> bool {
        self.state.key_speaks_for(node, key)
            || self.pending_rotation_to(node, key)
            || self.learned_key(node).is_some_and(|learned| learned.0 == *key)
    }

    /// The key learnt for `node` from its hello, while the applied state still accepts
    /// the key its chain started from.
    pub(crate) fn learned_key(&self, node: NodeId) -> Option<PublicKey> {
        let learned = self.learned_keys.get(&node)?;
        self.state.key_speaks_for(node, &learned.start.0).then_some(learned.key)
    }

    /// Whether the log after the applied index holds a rotation of `node` to `key`
    /// whose record checks against the applied state (the records are checked only
    /// once one names `key`).
    pub(crate) fn pending_rotation_to(&self, node: NodeId, key: &[u8; 32]) -> bool {
        self.unapplied_key_commands().any(|command| match command {
            ClusterCommand::RotateNodeKey { rotation } if rotation.node == node && rotation.new_key.0 == *key => {
                rotation.check(&self.state).is_ok()
            }
            _ => false,
        })
    }

    /// Whether `history` (shown in `node`'s hello, of the cluster of `genesis` as the
    /// hello says when this node has none yet) leads from a key the applied state
    /// accepts for `node` to `key`: the key it starts from.
    pub(crate) fn history_leads_to(
        &self,
        node: NodeId,
        key: &[u8; 32],
        history: &[KeyRotation],
        genesis: Option<Digest>,
    ) -> Option<PublicKey> {
        let genesis = self.state.genesis.or(genesis)?;
        let accepted = |start: &PublicKey| self.state.key_speaks_for(node, &start.0);
        crate::state::chain_to(node, PublicKey(*key), history, accepted, genesis)
    }

    /// Takes `key` as `node`'s, learnt from a chain that started at `start` (at most
    /// [`super::PEER_CLAIMS_MAX`] nodes: the lowest id goes first).
    pub(crate) fn learn_key(&mut self, node: NodeId, key: [u8; 32], start: PublicKey) {
        if self.learned_keys.len() >= super::PEER_CLAIMS_MAX && !self.learned_keys.contains_key(&node) {
            self.learned_keys.pop_first();
        }
        let learned = LearnedKey {
            key: PublicKey(key),
            start,
        };
        self.learned_keys.insert(node, learned);
    }

    /// The key commands (rotations, retirements) in the log after the applied index.
    fn unapplied_key_commands(&self) -> impl Iterator<Item = &ClusterCommand> {
        self.log
            .key_rotations_after(self.state.applied_index)
            .filter_map(|index| match self.log.get(index).map(|entry| &*entry.payload) {
                Some(EntryPayload::Proposal(proposal)) => Some(&*proposal.command),
                _ => None,
            })
    }

    /// Leader: retires the old key of each rotated node it has heard under its new one
    /// (`heard` gives the key a node's last authentic frame carried, and for this node
    /// the key it speaks with), unless a retirement is already in the log.
    pub(crate) fn maintain_key_retirements(&mut self, now: Instant, heard: impl Fn(NodeId) -> Option<[u8; 32]>) {
        if !self.role.is_leader() {
            return;
        }
        let pending: Vec<NodeId> = self
            .unapplied_key_commands()
            .filter_map(|command| match command {
                ClusterCommand::RetireNodeKey { node, .. } => Some(*node),
                _ => None,
            })
            .collect();
        let retirements: Vec<_> = self
            .state
            .node_keys
            .iter()
            .filter(|(node, keys)| {
                let heard_new = heard(**node) == Some(keys.key.0);
                heard_new && !pending.contains(node)
            })
            .filter_map(|(node, keys)| keys.retiring.map(|key| (*node, key)))
            .map(|(node, key)| (Origin::Leader, ClusterCommand::RetireNodeKey { node, key }))
            .collect();
        if !retirements.is_empty() {
            let _ = self.propose_batch(now, retirements);
        }
    }

    /// Leader whose own key rotated more times than its hellos show, after leading for
    /// an election timeout: a member whose log (as far as the leader learnt from its
    /// answers) stops before that
    /// rotation, so it cannot hear this leader, and the most caught-up other voter it
    /// can hear (never rotated, or rotated at or before that member's last entry) to
    /// hand over to.
    pub(crate) fn handover_for_deaf_member(&self, now: Instant) -> Option<(NodeId, NodeId)> {
        let leadership = self.role.leadership()?;
        let settled = core::time::Duration::from_millis(self.config.election_timeout_ms_min);
        if now.saturating_since(leadership.since) < settled {
            return None;
        }
        let rotated_at = |node: NodeId| {
            self.state
                .set_by
                .get(&crate::state::node_key_fact(node))
                .map_or(0, |set_by| set_by.index)
        };
        let own_rotation = rotated_at(self.id);
        let keys = self.state.node_keys.get(&self.id)?;
        if own_rotation == 0 || keys.rotations <= keys.history.len() as u64 {
            // Every rotation of this node is in the history its hellos show.
            return None;
        }
        let voters = self.state.voters();
        let caught_up = |voter: &NodeId| {
            leadership
                .progress
                .get(voter)
                .map_or(0, |progress| progress.match_index)
        };
        leadership
            .progress
            .iter()
            .filter(|(_, progress)| progress.match_index < own_rotation)
            .find_map(|(deaf, progress)| {
                let heard_by_deaf = |voter: &&NodeId| {
                    **voter != self.id && *voter != deaf && rotated_at(**voter) <= progress.match_index
                };
                let target = voters
                    .iter()
                    .filter(heard_by_deaf)
                    .max_by_key(|voter| caught_up(voter))?;
                Some((*deaf, *target))
            })
    }
}
