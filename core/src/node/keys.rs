//! This node's key and its rotation: staging the next key (a record signed by both
//! to propose), moving to it when the log applies the rotation, and the keys in force
//! of every rotated peer.
//!
//! Invariants: frames are sealed, votes and evidence signed, under the key the applied
//! state has in force for this node as soon as this node holds it; one key at most is
//! staged, and frames sealed to it verify too until the rotation applies; frames to a
//! rotated peer are sealed for its key in force (it holds that one, applied or
//! staged); a leader whose own rotation applies hands leadership over (followers that
//! have not applied it hear it only through the entry in their logs, and a lagging
//! one not at all).

use super::Node;
use crate::identity::{NodeId, NodeIdentity, PublicKey};
use crate::io::Event;
use crate::state::{KeyRotation, RotationProblem};
use crate::status::KeyStatus;
use crate::time::Instant;
use crate::wire::{AuthFailure, DecodedFrame, Message};

impl Node {
    /// Stages the key of `secret_key` as this node's next and returns the rotation
    /// record to propose (signed by the key in force and the new one). The driver
    /// keeps the secret durably before it proposes. A key the applied log already
    /// has in force for this node is taken at once. Staging the key already staged
    /// gives its record again; another is refused while one is staged.
    pub fn stage_key(&mut self, now: Instant, secret_key: [u8; 32]) -> Result<KeyRotation, RotationProblem> {
        let current = self.authenticator.identity().clone();
        let next = current.rotated_to(secret_key);
        if next.public_key() == current.public_key() {
            return Err(RotationProblem::SameKey);
        }
        if let Some(staged) = self.authenticator.staged()
            && staged.public_key() != next.public_key()
        {
            return Err(RotationProblem::AnotherKeyStaged {
                staged: PublicKey(staged.public_key().to_bytes()),
            });
        }
        let genesis = self.consensus.state().genesis.ok_or(RotationProblem::NoGenesis)?;
        let record = KeyRotation::sign(genesis, &current, &next);
        self.authenticator.stage(Some(next));
        self.keys_synced_at = None;
        self.sync_node_keys(now);
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

    /// Verifies `frame`'s tag. A key the applied state does not accept for the sender
    /// is tried again as the new key of its rotation pending in the log, as the key
    /// learnt from its hellos, or (an addressed hello) as the key the rotations it
    /// shows lead to: then the key the chain started from, for the caller to learn the
    /// key once the frame is admitted. The tag is checked before the chain.
    pub(super) fn verify_tag(&mut self, frame: &DecodedFrame<'_>) -> Result<Option<PublicKey>, AuthFailure> {
        let signed = frame.signed();
        let (sender, key) = (signed.sender, PublicKey(*signed.sender_key));
        match self.authenticator.verify(&signed) {
            Err(AuthFailure::KeyMismatch) => {
                let learnt = self.consensus.learned_key(sender) == Some(key);
                if learnt || self.consensus.pending_rotation_to(sender, &key.0) {
                    return self.authenticator.verify_with(&signed, Some(&key)).map(|()| None);
                }
                let (Message::Hello(hello) | Message::HelloAck(hello)) = &frame.body.message else {
                    return Err(AuthFailure::KeyMismatch);
                };
                if !signed.addressed || hello.key_history.is_empty() {
                    return Err(AuthFailure::KeyMismatch);
                }
                self.authenticator.verify_with(&signed, Some(&key))?;
                let start = self
                    .consensus
                    .history_leads_to(sender, &key.0, &hello.key_history, hello.genesis)
                    .ok_or(AuthFailure::KeyMismatch)?;
                Ok(Some(start))
            }
            verified => verified.map(|()| None),
        }
    }

    /// The key frames to `peer` are sealed for: its key in force if the log rotated
    /// it, else the key its last authentic frame carried.
    pub(super) fn sealing_key_of(&self, peer: NodeId) -> Option<[u8; 32]> {
        match self.authenticator.rotated().get(&peer) {
            Some(keys) => Some(keys.key.0),
            None => self.keys.get(&peer).copied(),
        }
    }

    /// Takes the applied state's rotated keys: peers' and this node's own (moving to
    /// the staged key it names). A counter compare when nothing changed: called
    /// between frames.
    pub(super) fn sync_node_keys(&mut self, now: Instant) {
        let generation = self.consensus.key_generation;
        if self.keys_synced_at == Some(generation) {
            return;
        }
        self.keys_synced_at = Some(generation);
        let rotated = &self.consensus.state().node_keys;
        let own = rotated.get(&self.node_id).map(|keys| keys.key.0);
        if self.authenticator.rotated() != rotated {
            self.authenticator.set_rotated(rotated);
        }
        let staged = self
            .authenticator
            .staged()
            .map(|identity| identity.public_key().to_bytes());
        if own.is_some() && own == staged {
            self.move_to_staged_key(now);
        }
    }

    /// Leader: retires the keys rotated nodes moved from once heard under the new
    /// ones, and hands over when a member cannot hear its own rotated key.
    pub(super) fn maintain_keys(&mut self, now: Instant) {
        let own = (self.node_id, self.public_key);
        let heard = |node: NodeId| {
            if node == own.0 {
                Some(own.1)
            } else {
                self.keys.get(&node).copied()
            }
        };
        let heard: std::collections::BTreeMap<NodeId, [u8; 32]> = self
            .consensus
            .state()
            .node_keys
            .keys()
            .filter_map(|node| heard(*node).map(|key| (*node, key)))
            .collect();
        self.consensus
            .maintain_key_retirements(now, |node| heard.get(&node).copied());
        if let Some((_, target)) = self.consensus.handover_for_deaf_member(now) {
            let _ = self.consensus.transfer_leadership(now, Some(target));
        }
    }

    fn move_to_staged_key(&mut self, now: Instant) {
        if !self.authenticator.promote() {
            return;
        }
        let identity = self.authenticator.identity().clone();
        self.public_key = identity.public_key().to_bytes();
        self.serving.set_signer(identity.clone());
        self.consensus.signer = Some(identity);
        self.outputs.push_back(crate::io::Output::Event(Event::KeyRotated {
            key: PublicKey(self.public_key),
        }));
        if self.consensus.role_kind() == crate::consensus::RoleKind::Leader {
            let _ = self.consensus.transfer_leadership(now, None);
        }
    }
}
