//! The trusted-LAN posture's keys, for each admission token a node holds: at most two
//! (the token in force and the next one), so a token can be rotated without downtime.
//!
//! Invariants:
//! - configuration order is age: `token`, then `next`;
//! - before a cut-over is committed, frames under either held token are accepted;
//! - once the log commits a cut-over to a token this node holds, the tokens configured
//!   before it are retired: frames under them are refused (`bad-mac`); the token in
//!   force and a later one (the next rotation's) are accepted;
//! - a frame to a peer is sealed under an accepted token: the one that peer's last
//!   authentic frame used; else the one the last authentic frame from anyone used (a
//!   node that missed a cut-over learns it from the first frame it verifies) and the
//!   one in force, where those still accepted agree; else under each accepted token
//!   in turn, destination by destination, as introductions always are. A peer that
//!   stops answering is doubted (it may have retired the token it was heard under):
//!   what it and the cluster were heard under is forgotten, so a node cut off through
//!   a cut-over is heard again;
//! - a node that does not hold the committed token keeps sealing under its own (and
//!   is refused by every node that holds it): it is reported `stale`.

use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use std::collections::BTreeMap;

use core::net::SocketAddr;

use super::pairwise::{PAIR_KEYS_MAX, PairKeys};
use crate::digest::{Digest, DigestKind};
use crate::identity::{AdmissionToken, ClusterId, NodeId, NodeIdentity};

/// One held token's keys.
#[derive(Debug)]
pub(super) struct TokenKeys {
    /// Its public digest ([`AdmissionToken::digest`]).
    pub digest: Digest,
    /// The group key of introductions.
    pub group: Hmac<Sha256>,
    /// The pairwise keys.
    pub pairs: PairKeys,
}

/// The keys of every token held, and the cut-over committed.
#[derive(Debug)]
pub(super) struct LanKeys {
    /// In configuration order: the configured token first, then the next.
    tokens: Vec<TokenKeys>,
    /// The token the log committed as the only one in force, if any.
    committed: Option<Digest>,
    /// The token each peer's last authentic addressed frame was sealed under; at most
    /// [`PAIR_KEYS_MAX`] peers (the lowest id goes first).
    peer_tokens: BTreeMap<NodeId, usize>,
    /// The token the last authentic addressed frame from any peer was sealed under.
    last_heard: Option<usize>,
    /// Frames sealed to each destination with no agreed guide: successive ones take
    /// the accepted tokens in turn, so a node that missed a cut-over while cut off is
    /// heard again. At most [`PAIR_KEYS_MAX`] destinations
    /// (the lowest goes first).
    unguided_seals: BTreeMap<Destination, usize>,
}

/// Where an unguided frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Destination {
    Address(SocketAddr),
    Node(NodeId),
}

/// What a node's admission tokens are, as its status shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStatus {
    /// Digests of the tokens whose frames are accepted.
    pub accepting: Vec<Digest>,
    /// Digest of every token held (configured, then next).
    pub held: Vec<Digest>,
    /// The token the log committed a cut-over to, if any.
    pub committed: Option<Digest>,
    /// Whether a cut-over is committed to a token this node does not hold: every node
    /// that holds it refuses this one.
    pub stale: bool,
}

impl TokenKeys {
    fn new(cluster_id: ClusterId, token: &AdmissionToken, identity: &NodeIdentity) -> Self {
        let key = Digest::of_parts(DigestKind::AdmissionMacKey, &[&cluster_id.0, token.expose_secret()]);
        Self {
            digest: token.digest(cluster_id),
            group: Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC accepts any key length"),
            pairs: PairKeys::new(cluster_id, token, identity),
        }
    }
}

impl LanKeys {
    /// Keys for `token` and, if given and another token, `next`.
    pub fn new(
        cluster_id: ClusterId,
        token: &AdmissionToken,
        next: Option<&AdmissionToken>,
        id: &NodeIdentity,
    ) -> Self {
        let mut tokens = vec![TokenKeys::new(cluster_id, token, id)];
        if let Some(next) = next.filter(|next| *next != token) {
            tokens.push(TokenKeys::new(cluster_id, next, id));
        }
        Self {
            tokens,
            committed: None,
            peer_tokens: BTreeMap::new(),
            last_heard: None,
            unguided_seals: BTreeMap::new(),
        }
    }

    /// Takes the log's committed cut-over (none: no cut-over yet).
    pub fn set_committed(&mut self, committed: Option<Digest>) {
        self.committed = committed;
    }

    /// The token an introduction to `to` is sealed under: each accepted token in turn
    /// (its node is not known, nor which tokens it accepts).
    pub fn sealing_to_addr(&mut self, to: SocketAddr) -> &mut TokenKeys {
        let accepting = self.accepting();
        let index = self.take_turn(Destination::Address(to), accepting);
        &mut self.tokens[index]
    }

    /// The token a frame to `peer` is sealed under: the one `peer`'s last authentic
    /// frame used, if still accepted; else the one any peer's last did and the one in
    /// force, where those still accepted agree; else (none known, or they disagree)
    /// each accepted token in turn.
    pub fn sealing_to(&mut self, peer: NodeId) -> &mut TokenKeys {
        let index = self.seal_index(Destination::Node(peer));
        &mut self.tokens[index]
    }

    fn seal_index(&mut self, destination: Destination) -> usize {
        let accepting = self.accepting();
        if accepting.len() == 1 {
            return accepting.start;
        }
        let heard = match destination {
            Destination::Node(peer) => self.peer_tokens.get(&peer).copied(),
            Destination::Address(_) => None,
        };
        if let Some(index) = heard.filter(|index| accepting.contains(index)) {
            return index;
        }
        let accepted = |guide: Option<usize>| guide.filter(|index| accepting.contains(index));
        match (accepted(self.last_heard), accepted(self.in_force())) {
            (Some(heard), Some(in_force)) if heard != in_force => self.take_turn(destination, accepting),
            (Some(index), _) | (None, Some(index)) => index,
            (None, None) => self.take_turn(destination, accepting),
        }
    }

    /// The next of `accepting` for `destination`, in turn.
    fn take_turn(&mut self, destination: Destination, accepting: core::ops::Range<usize>) -> usize {
        if self.unguided_seals.len() >= PAIR_KEYS_MAX && !self.unguided_seals.contains_key(&destination) {
            self.unguided_seals.pop_first();
        }
        let turn = self.unguided_seals.entry(destination).or_insert(0);
        *turn = turn.wrapping_add(1);
        accepting.start + *turn % accepting.len()
    }

    /// Forgets the token `peer`, and the cluster, was last heard under: frames to it
    /// take the accepted tokens in turn until it is heard again.
    pub fn doubt(&mut self, peer: NodeId) {
        self.peer_tokens.remove(&peer);
        self.last_heard = None;
    }

    /// Notes that `peer`'s frame authenticated under the token at `index`.
    pub fn heard(&mut self, peer: NodeId, index: usize) {
        self.last_heard = Some(index);
        if self.tokens.len() == 1 || self.peer_tokens.get(&peer) == Some(&index) {
            // One token held: nothing to choose between (a new one rebuilds the keys).
            return;
        }
        if self.peer_tokens.len() >= PAIR_KEYS_MAX && !self.peer_tokens.contains_key(&peer) {
            self.peer_tokens.pop_first();
        }
        self.peer_tokens.insert(peer, index);
    }

    /// Indexes of the tokens whose frames are accepted: the one in force and any
    /// configured after it (the next rotation's), or every one held.
    pub fn accepting(&self) -> core::ops::Range<usize> {
        self.in_force().unwrap_or(0)..self.tokens.len()
    }

    /// The token at `index` (one of [`Self::accepting`]).
    pub fn token(&mut self, index: usize) -> &mut TokenKeys {
        &mut self.tokens[index]
    }

    /// The committed token's index, when this node holds it.
    fn in_force(&self) -> Option<usize> {
        let committed = self.committed?;
        self.tokens.iter().position(|token| token.digest == committed)
    }

    /// The status this posture reports.
    pub fn status(&self) -> AdmissionStatus {
        AdmissionStatus {
            accepting: self.accepting().map(|index| self.tokens[index].digest).collect(),
            held: self.tokens.iter().map(|token| token.digest).collect(),
            committed: self.committed,
            stale: self.committed.is_some() && self.in_force().is_none(),
        }
    }

    /// Whether this node holds the token of digest `digest`.
    pub fn holds(&self, digest: Digest) -> bool {
        self.tokens.iter().any(|token| token.digest == digest)
    }

    /// Whether a frame from `peer` under `key` authenticated under some token (its
    /// pairwise key is cached for that key).
    pub fn authenticated(&self, peer: NodeId, key: &[u8; 32]) -> bool {
        self.tokens.iter().any(|token| token.pairs.cached_for(peer, key))
    }

    /// Stages the key of `staged` (none: unstages) under every token.
    pub fn stage(&mut self, staged: Option<&NodeIdentity>) {
        self.tokens.iter_mut().for_each(|token| token.pairs.stage(staged));
    }

    /// Moves every token's pairwise keys to the staged key.
    pub fn promote(&mut self) {
        self.tokens.iter_mut().for_each(|token| token.pairs.promote());
    }

    /// Pairwise keys cached, over every token.
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.tokens.iter().map(|token| token.pairs.cached()).sum()
    }
}
