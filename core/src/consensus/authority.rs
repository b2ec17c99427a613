//! Commit authority and fencing: every decision a coordinator issues carries the term,
//! commit index and fence it was issued under; a receiver refuses a decision whose
//! fence is older than one it has already seen.
//!
//! Invariant: the fence of a leadership is its term, so fences strictly increase
//! across failovers and two leaders never share one.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestKind};
use crate::dispatch::Assignment;
use crate::identity::{ClusterId, NodeId};

/// A fence token: higher means a later leadership.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fence(pub u64);

/// The authority a decision was issued under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Cluster.
    pub cluster_id: ClusterId,
    /// Leader's term.
    pub term: u64,
    /// Leader's commit index when issuing.
    pub commit_index: u64,
    /// Fence of the leadership.
    pub fence: Fence,
    /// The leader.
    pub leader: NodeId,
}

impl Authority {
    /// Digest over every field (authority domain).
    pub fn digest(&self) -> Digest {
        let bytes = postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Authority, &bytes)
    }
}

/// What a coordinator decided. Later capabilities (dispatch) add variants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// An opaque directive, identified by `id`.
    Directive {
        /// Directive id.
        id: u64,
        /// Its body.
        body: Vec<u8>,
    },
    /// Run a request as planned.
    Assign(Box<Assignment>),
    /// Stop running a request (its client cancelled it).
    Cancel {
        /// The request.
        request: crate::identity::RequestId,
    },
}

/// A decision with its authority and the authority's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampedDecision {
    /// Authority it was issued under.
    pub authority: Authority,
    /// Digest of `authority`.
    pub authority_digest: Digest,
    /// The decision.
    pub decision: Decision,
}

/// What the authority stamped on a decision gets wrong, with the values compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorityProblem {
    /// It names another leader than the decision's sender.
    #[error("it names leader {claimed:?}, not its sender")]
    OtherLeader {
        /// The leader it names.
        claimed: NodeId,
    },
    /// Its digest is not the digest of its fields.
    #[error("its digest reads {claimed}, its fields give {computed}")]
    Digest {
        /// The digest stamped.
        claimed: Digest,
        /// The digest of the authority's fields.
        computed: Digest,
    },
    /// It is of another cluster.
    #[error("it is of cluster {theirs:?}, not {ours:?}")]
    OtherCluster {
        /// This node's cluster.
        ours: ClusterId,
        /// The authority's.
        theirs: ClusterId,
    },
    /// Its fence is not its term.
    #[error("its fence {fence} is not its term {term}")]
    FenceNotTerm {
        /// The fence.
        fence: u64,
        /// The term.
        term: u64,
    },
}

impl StampedDecision {
    /// What its authority gets wrong for a decision from `sender` in `cluster_id`, if
    /// anything.
    pub fn authority_problem(&self, sender: NodeId, cluster_id: ClusterId) -> Option<AuthorityProblem> {
        let authority = &self.authority;
        let computed = authority.digest();
        if authority.leader != sender {
            Some(AuthorityProblem::OtherLeader {
                claimed: authority.leader,
            })
        } else if computed != self.authority_digest {
            Some(AuthorityProblem::Digest {
                claimed: self.authority_digest,
                computed,
            })
        } else if authority.cluster_id != cluster_id {
            Some(AuthorityProblem::OtherCluster {
                ours: cluster_id,
                theirs: authority.cluster_id,
            })
        } else if authority.fence != Fence(authority.term) {
            Some(AuthorityProblem::FenceNotTerm {
                fence: authority.fence.0,
                term: authority.term,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each way an authority can be wrong is named with the values compared; a sound
    /// one has no problem.
    #[test]
    fn an_authority_problem_names_what_it_compared() {
        let (leader, other) = (NodeId([1; 16]), NodeId([2; 16]));
        let cluster = ClusterId([7; 16]);
        let stamp = |authority: Authority| StampedDecision {
            authority,
            authority_digest: authority.digest(),
            decision: Decision::Directive {
                id: 1,
                body: Vec::new(),
            },
        };
        let sound = Authority {
            cluster_id: cluster,
            term: 4,
            commit_index: 9,
            fence: Fence(4),
            leader,
        };
        assert_eq!(stamp(sound).authority_problem(leader, cluster), None);
        assert_eq!(
            stamp(sound).authority_problem(other, cluster),
            Some(AuthorityProblem::OtherLeader { claimed: leader })
        );
        let mut bent = stamp(sound);
        bent.authority_digest = Digest([0; 32]);
        assert_eq!(
            bent.authority_problem(leader, cluster),
            Some(AuthorityProblem::Digest {
                claimed: Digest([0; 32]),
                computed: sound.digest()
            })
        );
        assert_eq!(
            stamp(sound).authority_problem(leader, ClusterId([8; 16])),
            Some(AuthorityProblem::OtherCluster {
                ours: ClusterId([8; 16]),
                theirs: cluster
            })
        );
        let unfenced = Authority {
            fence: Fence(3),
            ..sound
        };
        assert_eq!(
            stamp(unfenced).authority_problem(leader, cluster),
            Some(AuthorityProblem::FenceNotTerm { fence: 3, term: 4 })
        );
    }
}
