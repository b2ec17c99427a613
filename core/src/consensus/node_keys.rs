//! Which key speaks for a node: the key in force in the applied state, or the new key
//! of a rotation of that node already in this node's log but not yet applied, when it
//! starts from the key in force. The second lets a node hear a peer that applied its
//! own rotation first (a leader commits before its followers learn the commit; a
//! member that became leader with its rotation pending commits it itself), and is
//! safe: the entry carries the old key's signature over the new one.
//!
//! A member whose log stops before a leader's own rotation cannot hear that leader at
//! all (nor be heard by it, under the trusted-LAN posture): once settled, such a
//! leader hands over to a node that can serve it. A rotated node thus keeps leadership
//! only once every member has the rotation, or when no other can take over.

use super::{Consensus, EntryPayload, Role};
use crate::identity::{NodeId, PublicKey};
use crate::state::ClusterCommand;

impl Consensus {
    /// Whether `key` speaks for `node`: the key in force for it, or [`Self::pending_key`].
    pub(crate) fn key_speaks_for(&self, node: NodeId, key: &[u8; 32]) -> bool {
        node.is_keyed_by(key, self.state.rotated_key(node)) || self.pending_key(node).is_some_and(|p| p.0 == *key)
    }

    /// The new key of the newest rotation of `node` in the log after the applied
    /// index, if it starts from the key in force.
    pub(crate) fn pending_key(&self, node: NodeId) -> Option<PublicKey> {
        self.log
            .key_rotations_after(self.state.applied_index)
            .rev()
            .find_map(|index| match self.log.get(index).map(|entry| &*entry.payload) {
                Some(EntryPayload::Proposal(proposal)) => match &*proposal.command {
                    ClusterCommand::RotateNodeKey { rotation } if rotation.node == node => Some(rotation),
                    _ => None,
                },
                _ => None,
            })
            .filter(|rotation| node.is_keyed_by(&rotation.old_key.0, self.state.rotated_key(node)))
            .map(|rotation| rotation.new_key)
    }

    /// Leader whose own key rotated, after leading for an election timeout: a member
    /// whose log (as far as the leader learnt from its answers) stops before that
    /// rotation, so it cannot hear this leader.
    pub(crate) fn member_deaf_to_own_key(&self, now: crate::time::Instant) -> Option<NodeId> {
        let Role::Leader(leadership) = &self.role else {
            return None;
        };
        let settled = core::time::Duration::from_millis(self.config.election_timeout_ms_min);
        if now.saturating_since(leadership.since) < settled {
            return None;
        }
        self.state.rotated_key(self.id)?;
        let rotated_at = self.state.set_by.get(&crate::state::node_key_fact(self.id))?.index;
        leadership
            .progress
            .iter()
            .find(|(_, progress)| progress.match_index < rotated_at)
            .map(|(peer, _)| *peer)
    }
}
