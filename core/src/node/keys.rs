//! This node's key and its rotation: staging the next key (a record signed by both
//! to propose), moving to it when the log applies the rotation, and the keys in force
//! of every rotated peer.
//!
//! Invariants: frames are sealed, votes and evidence signed, under the key the applied
//! state has in force for this node as soon as this node holds it; a staged key is
//! also accepted for frames sealed to this node until the rotation applies; a leader
//! whose own rotation applies hands leadership over (followers that have not applied
//! it hear it only through the entry in their logs, and a lagging one not at all).

use super::Node;
use crate::identity::{NodeIdentity, PublicKey};
use crate::io::Event;
use crate::state::{KeyRotation, RotationProblem};

/// This node's keys, as its status shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyStatus {
    /// The key frames are sealed and evidence signed with.
    pub current: PublicKey,
    /// The key a pending rotation moves to, if one is staged.
    pub staged: Option<PublicKey>,
    /// The key the applied log has in force for this node, when it is neither of
    /// those: this node no longer holds its key, and every peer refuses it.
    pub superseded_by: Option<PublicKey>,
}

impl Node {
    /// Stages the key of `secret_key` as this node's next and returns the rotation
    /// record to propose (signed by the key in force and the new one). The driver
    /// keeps the secret durably before it proposes. A key the applied log already
    /// has in force for this node is taken at once.
    pub fn stage_key(&mut self, secret_key: [u8; 32]) -> Result<KeyRotation, RotationProblem> {
        let current = self.authenticator.identity().clone();
        let next = current.rotated_to(secret_key);
        if next.public_key() == current.public_key() {
            return Err(RotationProblem::SameKey);
        }
        let genesis = self.consensus.state().genesis.ok_or(RotationProblem::NoGenesis)?;
        let record = KeyRotation::sign(genesis, &current, &next);
        self.authenticator.stage(Some(next));
        self.sync_node_keys();
        Ok(record)
    }

    /// This node's keys.
    pub fn key_status(&self) -> KeyStatus {
        let public = |identity: &NodeIdentity| PublicKey(identity.public_key().to_bytes());
        let current = public(self.authenticator.identity());
        let staged = self.authenticator.staged().map(public);
        let in_force = self.consensus.state().rotated_key(self.node_id).copied();
        KeyStatus {
            current,
            staged,
            superseded_by: in_force.filter(|key| *key != current && Some(*key) != staged),
        }
    }

    /// Takes the applied state's rotated keys: peers' (frames to them are sealed for
    /// the key in force) and this node's own (moving to the staged key it names).
    pub(super) fn sync_node_keys(&mut self) {
        let rotated = &self.consensus.state().node_keys;
        if self.authenticator.rotated() == rotated && self.authenticator.staged().is_none() {
            return;
        }
        self.authenticator.set_rotated(rotated);
        for (node, key) in rotated {
            if let Some(known) = self.keys.get_mut(node) {
                *known = key.0;
            }
        }
        let own = rotated.get(&self.node_id).copied();
        let staged = self
            .authenticator
            .staged()
            .map(|identity| identity.public_key().to_bytes());
        if own.is_some_and(|own| Some(own.0) == staged) {
            self.move_to_staged_key();
        }
    }

    /// Leader whose own key rotated, with a member that cannot hear it (its log stops
    /// before the rotation): hands leadership over to a node that can serve it.
    pub(super) fn hand_over_to_serve_the_deaf(&mut self, now: crate::time::Instant) {
        if self.consensus.member_deaf_to_own_key(now).is_some() {
            let _ = self.consensus.transfer_leadership(now, None);
        }
    }

    fn move_to_staged_key(&mut self) {
        if !self.authenticator.promote() {
            return;
        }
        let identity = self.authenticator.identity().clone();
        self.public_key = identity.public_key().to_bytes();
        self.consensus.dispatch.set_signer(identity);
        let (posture, pins) = self.authenticator.pins();
        let allowed = &self.consensus.config.allowed_binaries;
        self.consensus.trust = Some(crate::trust::TrustBundle::of_pins(posture, pins, allowed).digest());
        self.push_events(vec![Event::KeyRotated {
            key: PublicKey(self.public_key),
        }]);
        if self.consensus.role_kind() == crate::consensus::RoleKind::Leader {
            let now = self.consensus.now;
            let _ = self.consensus.transfer_leadership(now, None);
        }
    }
}
