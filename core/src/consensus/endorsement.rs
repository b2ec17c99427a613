//! Proof of leadership: each vote granted (not a pre-vote) carries the voter's
//! ed25519 signature over (cluster, term, candidate); a leader holds the signatures of
//! the quorum that elected it, and execution evidence carries them, so a verifier who
//! trusts the voters' keys can check offline that the signer led the term it claims.
//!
//! Invariants: a signature covers the SHA-256 (leader-endorsement domain) of the
//! postcard encoding of (cluster id, term, candidate), so it endorses nothing else;
//! a certificate counts each trusted voter once, only with a valid signature by the
//! key the verifier trusts for it (a voter whose key it was not given: the key its id
//! is the digest of).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestKind};
use crate::identity::{ClusterId, NodeId, NodeIdentity};

/// A voter's signed grant of its vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    /// The voter.
    pub voter: NodeId,
    /// The voter's public key when it signed (a rotated key no longer digests to the id).
    pub key: [u8; 32],
    /// ed25519 signature over [`endorsed_digest`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// What an endorsement signs: the vote of `term` in `cluster_id` for `candidate`.
pub fn endorsed_digest(cluster_id: ClusterId, term: u64, candidate: NodeId) -> Digest {
    let bytes =
        postcard::to_allocvec(&(cluster_id, term, candidate)).expect("postcard encoding into a Vec is infallible");
    Digest::of_bytes(DigestKind::LeaderEndorsement, &bytes)
}

impl Endorsement {
    /// `identity`'s vote of `term` in `cluster_id` for `candidate`, signed.
    pub fn sign(identity: &NodeIdentity, cluster_id: ClusterId, term: u64, candidate: NodeId) -> Self {
        let digest = endorsed_digest(cluster_id, term, candidate);
        Self {
            voter: identity.node_id(),
            key: identity.public_key().to_bytes(),
            signature: identity.signing_key().sign(&digest.0).to_bytes().to_vec(),
        }
    }

    /// Whether this endorses `candidate` for `term` in `cluster_id` under the key it
    /// carries (whether that key speaks for [`Self::voter`] is the caller's check).
    pub fn endorses(&self, cluster_id: ClusterId, term: u64, candidate: NodeId) -> bool {
        let (Ok(key), Ok(signature)) = (
            VerifyingKey::from_bytes(&self.key),
            Signature::from_slice(&self.signature),
        ) else {
            return false;
        };
        let digest = endorsed_digest(cluster_id, term, candidate);
        key.verify_strict(&digest.0, &signature).is_ok()
    }
}

/// The endorsements that elected `leader` in `term`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadershipCertificate {
    /// The term.
    pub term: u64,
    /// Who won it.
    pub leader: NodeId,
    /// The votes it won, signed, in voter id order.
    pub endorsements: Vec<Endorsement>,
}

/// Why a certificate does not prove leadership to a verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum LeadershipRefusal {
    /// The certificate is for another term or leader than the authority claimed.
    #[error(
        "the certificate is for {leader} in term {term}, not the authority's {claimed_leader} in term {claimed_term}"
    )]
    OtherElection {
        /// The certificate's term.
        term: u64,
        /// The certificate's leader.
        leader: NodeId,
        /// The authority's term.
        claimed_term: u64,
        /// The authority's leader.
        claimed_leader: NodeId,
    },
    /// Fewer than a majority of the trusted voters endorsed the leader.
    #[error("{endorsed} of {voters} trusted voters endorsed {leader} in term {term}; a majority is needed")]
    NoMajority {
        /// The term.
        term: u64,
        /// The leader.
        leader: NodeId,
        /// Trusted voters with a valid endorsement.
        endorsed: usize,
        /// Trusted voters.
        voters: usize,
    },
}

impl LeadershipCertificate {
    /// Checks that a majority of `voters` (the voters the verifier trusts) endorsed
    /// `leader` in `term` of `cluster_id`, each under the key `keys` gives it (or, if
    /// none, the key its id is the digest of).
    pub fn check(
        &self,
        cluster_id: ClusterId,
        (term, leader): (u64, NodeId),
        (voters, keys): (&BTreeSet<NodeId>, &BTreeMap<NodeId, VerifyingKey>),
    ) -> Result<(), LeadershipRefusal> {
        if self.term != term || self.leader != leader {
            return Err(LeadershipRefusal::OtherElection {
                term: self.term,
                leader: self.leader,
                claimed_term: term,
                claimed_leader: leader,
            });
        }
        // Each trusted voter's first endorsement is verified, nothing else: junk or
        // repeated endorsements cost a digest each, not a signature check.
        let mut tried = BTreeSet::new();
        let mut endorsed = BTreeSet::new();
        for endorsement in &self.endorsements {
            let voter = endorsement.voter;
            let trusted_key = match keys.get(&voter) {
                Some(key) => key.as_bytes() == &endorsement.key,
                None => NodeId::from_key_bytes(&endorsement.key) == voter,
            };
            if !voters.contains(&voter) || !trusted_key || !tried.insert(voter) {
                continue;
            }
            if endorsement.endorses(cluster_id, term, leader) {
                endorsed.insert(voter);
            }
        }
        if endorsed.len() * 2 <= voters.len() {
            return Err(LeadershipRefusal::NoMajority {
                term,
                leader,
                endorsed: endorsed.len(),
                voters: voters.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
