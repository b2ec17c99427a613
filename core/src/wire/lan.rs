//! The trusted-LAN posture's keys, for each admission token a node holds: at most two
//! (the token in force and the next one), so a token can be rotated without downtime.
//!
//! Invariants:
//! - before a cut-over is committed, frames under either held token are accepted; a
//!   frame to a peer is sealed under the token that peer's last authentic frame used
//!   (else the token the last authentic frame from anyone used: a node that missed the
//!   cut-over learns it from the first frame it verifies), otherwise under the first
//!   (the configured `token`);
//! - once the log commits a cut-over to a token this node holds, only that token seals
//!   and only that token is accepted: frames under any other are refused (`bad-mac`);
//! - a node that does not hold the committed token keeps sealing under its own (and
//!   is refused by every node that holds it): it is reported `stale`.

use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use std::collections::BTreeMap;

use super::pairwise::{PAIR_KEYS_MAX, PairKeys};
use crate::digest::{Digest, DigestKind};
use crate::identity::{AdmissionToken, ClusterId, NodeId, NodeIdentity};

/// Most admission tokens a node holds at once: the one in force and the next.
pub const ADMISSION_TOKENS_MAX: usize = 2;

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
}

/// What a node's admission tokens are, as its status shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStatus {
    /// Digest of the token frames are sealed under.
    pub sealing: Digest,
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
        }
    }

    /// Takes the log's committed cut-over (none: no cut-over yet).
    pub fn set_committed(&mut self, committed: Option<Digest>) {
        self.committed = committed;
    }

    /// The token introductions are sealed under: the one in force, or the one the
    /// cluster was last heard under.
    pub fn sealing(&mut self) -> &mut TokenKeys {
        let index = self.in_force().or(self.last_heard).unwrap_or(0);
        &mut self.tokens[index]
    }

    /// The token a frame to `peer` is sealed under: the one in force, or the one
    /// `peer` (else the cluster) was last heard under.
    pub fn sealing_to(&mut self, peer: NodeId) -> &mut TokenKeys {
        let heard = self.peer_tokens.get(&peer).copied().or(self.last_heard);
        let index = self.in_force().or(heard).unwrap_or(0);
        &mut self.tokens[index]
    }

    /// Notes that `peer`'s frame authenticated under the token at `index`.
    pub fn heard(&mut self, peer: NodeId, index: usize) {
        if self.peer_tokens.len() >= PAIR_KEYS_MAX && !self.peer_tokens.contains_key(&peer) {
            self.peer_tokens.pop_first();
        }
        self.peer_tokens.insert(peer, index);
        self.last_heard = Some(index);
    }

    /// Indexes of the tokens whose frames are accepted.
    pub fn accepting(&self) -> core::ops::Range<usize> {
        match self.in_force() {
            Some(index) => index..index + 1,
            None => 0..self.tokens.len(),
        }
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
        let sealing = self.tokens[self.in_force().unwrap_or(0)].digest;
        AdmissionStatus {
            sealing,
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

    /// Pairwise keys cached, over every token.
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.tokens.iter().map(|token| token.pairs.cached()).sum()
    }
}
