//! Commit authority and fencing: every decision a coordinator issues carries the term,
//! commit index and fence it was issued under; a receiver refuses a decision whose
//! fence is older than one it has already seen.
//!
//! Invariant: the fence of a leadership is its term, so fences strictly increase
//! across failovers and two leaders never share one.

use serde::{Deserialize, Serialize};

use super::message::ValueFault;
use crate::digest::{Digest, DigestKind};
use crate::identity::{ClusterId, NodeId};
use crate::limits::{INDEX_MAX, TERM_MAX};

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

impl Authority {
    /// What this authority gets wrong, stamped with `digest` on a decision from
    /// `sender` in `cluster_id`, if anything.
    pub fn problem(&self, digest: Digest, sender: NodeId, cluster_id: ClusterId) -> Option<AuthorityProblem> {
        let computed = self.digest();
        if self.leader != sender {
            Some(AuthorityProblem::OtherLeader { claimed: self.leader })
        } else if computed != digest {
            Some(AuthorityProblem::Digest {
                claimed: digest,
                computed,
            })
        } else if self.cluster_id != cluster_id {
            Some(AuthorityProblem::OtherCluster {
                ours: cluster_id,
                theirs: self.cluster_id,
            })
        } else if self.fence != Fence(self.term) {
            Some(AuthorityProblem::FenceNotTerm {
                fence: self.fence.0,
                term: self.term,
            })
        } else {
            None
        }
    }

    /// Checks values no honest leader stamps: a term, fence or commit index that
    /// would overflow.
    pub fn check_values(&self) -> Result<(), ValueFault> {
        Fence(self.term).check_value()?;
        self.fence.check_value()?;
        if self.commit_index > INDEX_MAX {
            return Err(ValueFault::IndexTooLarge {
                index: self.commit_index,
                max: INDEX_MAX,
            });
        }
        Ok(())
    }
}

impl Fence {
    /// Checks that the fence is a term a message may carry.
    pub fn check_value(self) -> Result<(), ValueFault> {
        if self.0 > TERM_MAX {
            return Err(ValueFault::TermTooLarge {
                term: self.0,
                max: TERM_MAX,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An authority with the digest stamped beside it.
    struct Stamp(Authority, Digest);

    impl Stamp {
        fn problem(&self, sender: NodeId, cluster: ClusterId) -> Option<AuthorityProblem> {
            self.0.problem(self.1, sender, cluster)
        }
    }

    /// Each way an authority can be wrong is named with the values compared; a sound
    /// one has no problem.
    #[test]
    fn an_authority_problem_names_what_it_compared() {
        let (leader, other) = (NodeId([1; 16]), NodeId([2; 16]));
        let cluster = ClusterId([7; 16]);
        let stamp = |authority: Authority| Stamp(authority, authority.digest());
        let sound = Authority {
            cluster_id: cluster,
            term: 4,
            commit_index: 9,
            fence: Fence(4),
            leader,
        };
        assert_eq!(stamp(sound).problem(leader, cluster), None);
        assert_eq!(
            stamp(sound).problem(other, cluster),
            Some(AuthorityProblem::OtherLeader { claimed: leader })
        );
        let bent = Stamp(sound, Digest([0; 32]));
        assert_eq!(
            bent.problem(leader, cluster),
            Some(AuthorityProblem::Digest {
                claimed: Digest([0; 32]),
                computed: sound.digest()
            })
        );
        assert_eq!(
            stamp(sound).problem(leader, ClusterId([8; 16])),
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
            stamp(unfenced).problem(leader, cluster),
            Some(AuthorityProblem::FenceNotTerm { fence: 3, term: 4 })
        );
    }
}
