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

/// Why a stamped decision was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionRefusal {
    /// The decision's fence is older than one already seen.
    #[error("stale fence: seen {seen:?}, got {got:?}")]
    StaleFence {
        /// Newest fence seen.
        seen: Fence,
        /// Fence of the decision.
        got: Fence,
    },
    /// The authority names another leader than the sender, or the digest is wrong.
    #[error("authority does not match: claimed leader {claimed:?}, sender {sender:?}")]
    AuthorityMismatch {
        /// Leader in the authority.
        claimed: NodeId,
        /// Envelope sender.
        sender: NodeId,
    },
}
