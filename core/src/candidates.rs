//! The candidate ledger: the authenticated peers that were not members when this node
//! met them, who introduced each and when, and what became of it.
//!
//! Invariants:
//! - an id enters only once it has authenticated directly (a frame under its own key,
//!   to this node), and only while this node holds the cluster's state (before that
//!   it cannot tell members from candidates);
//! - the ledger holds at most [`CANDIDATES_MAX`] entries: a new one takes the place of
//!   the longest-settled entry (accepted, refused or expired); when every entry is
//!   still `introduced`, a listed newcomer takes the place of the oldest unlisted one
//!   (a flood of made-up ids cannot keep a listed node out) and an unlisted newcomer is
//!   not recorded (counted in `unrecorded`), so it cannot be admitted;
//! - the leader admits only `introduced` candidates (and only those `admit_only`
//!   lists; others wait for an operator's `admit-member`).

use std::collections::{BTreeMap, BTreeSet};

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use crate::discovery::Introducer;
use crate::discovery::Peer;
use crate::identity::{NodeId, NodeRole};
use crate::time::Instant;

/// Entries the ledger holds at most.
pub const CANDIDATES_MAX: usize = 256;

/// What became of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateState {
    /// Authenticated, reachable or not yet expired, not a member: it waits.
    Introduced,
    /// Now a member (admitted by the leader from `admit_only`, or by an operator).
    Accepted,
    /// Removed from the cluster by the log: never admitted again without an operator.
    Refused,
    /// Went silent for the peer expiry before it was admitted.
    Expired,
}

/// One ledger entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Where it last spoke from.
    pub addr: SocketAddr,
    /// The role it claims.
    pub role: NodeRole,
    /// What became of it.
    pub state: CandidateState,
    /// Who introduced it.
    pub introduced_by: Introducer,
    /// When this node first recorded it.
    pub introduced_at: Instant,
    /// When its state last changed.
    pub changed_at: Instant,
}

/// What the ledger is reconciled against.
#[derive(Debug)]
pub struct Membership<'a> {
    /// Members after every entry in the log.
    pub members: &'a BTreeSet<NodeId>,
    /// Nodes removed by the log and not admitted again.
    pub removed: &'a BTreeSet<NodeId>,
    /// Nodes the leader admits without an operator (`admit_only`).
    pub listed: &'a BTreeSet<NodeId>,
}

/// The ledger.
#[derive(Clone, Debug, Default)]
pub struct CandidateLedger {
    entries: BTreeMap<NodeId, Candidate>,
    /// Authenticated non-members not recorded at the last reconciliation (the ledger
    /// was full of waiting candidates).
    unrecorded: usize,
}

impl CandidateLedger {
    /// Entries in id order.
    pub fn entries(&self) -> impl Iterator<Item = (NodeId, &Candidate)> {
        self.entries.iter().map(|(id, candidate)| (*id, candidate))
    }

    /// Authenticated non-members left out at the last reconciliation.
    pub fn unrecorded(&self) -> usize {
        self.unrecorded
    }

    /// Whether `id` waits as a candidate.
    pub fn is_introduced(&self, id: NodeId) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|candidate| candidate.state == CandidateState::Introduced)
    }

    /// Brings the ledger up to date at `now` with the peer table and the log's
    /// membership: records new non-member peers, and moves entries to accepted,
    /// refused or expired.
    pub fn reconcile<'p>(
        &mut self,
        now: Instant,
        peers: impl Iterator<Item = (NodeId, &'p Peer)>,
        membership: &Membership<'_>,
    ) {
        let mut live = BTreeSet::new();
        self.unrecorded = 0;
        for (id, peer) in peers.filter(|(id, _)| !membership.members.contains(id)) {
            live.insert(id);
            self.meet(now, id, peer, membership.listed);
        }
        for (id, candidate) in &mut self.entries {
            let state = if membership.members.contains(id) {
                CandidateState::Accepted
            } else if membership.removed.contains(id) {
                CandidateState::Refused
            } else if live.contains(id) {
                CandidateState::Introduced
            } else if candidate.state == CandidateState::Introduced {
                CandidateState::Expired
            } else {
                candidate.state
            };
            if state != candidate.state {
                candidate.state = state;
                candidate.changed_at = now;
            }
        }
    }

    /// Records `peer`, a non-member heard now, or refreshes its entry.
    fn meet(&mut self, now: Instant, id: NodeId, peer: &Peer, listed: &BTreeSet<NodeId>) {
        if let Some(candidate) = self.entries.get_mut(&id) {
            candidate.addr = peer.addr;
            candidate.role = peer.role;
            return;
        }
        let room = self.entries.len() < CANDIDATES_MAX
            || self.evict_longest_settled()
            || (listed.contains(&id) && self.evict_oldest_unlisted(listed));
        if !room {
            self.unrecorded += 1;
            return;
        }
        let candidate = Candidate {
            addr: peer.addr,
            role: peer.role,
            state: CandidateState::Introduced,
            introduced_by: peer.introduced_by,
            introduced_at: now,
            changed_at: now,
        };
        self.entries.insert(id, candidate);
    }

    /// Drops the oldest waiting entry that `listed` does not name; false when none.
    fn evict_oldest_unlisted(&mut self, listed: &BTreeSet<NodeId>) -> bool {
        let oldest = self
            .entries
            .iter()
            .filter(|(id, _)| !listed.contains(id))
            .min_by_key(|(id, candidate)| (candidate.introduced_at, **id))
            .map(|(id, _)| *id);
        oldest.is_some_and(|id| self.entries.remove(&id).is_some())
    }

    /// Drops the entry settled longest ago; false when every entry still waits.
    fn evict_longest_settled(&mut self) -> bool {
        let oldest = self
            .entries
            .iter()
            .filter(|(_, candidate)| candidate.state != CandidateState::Introduced)
            .min_by_key(|(id, candidate)| (candidate.changed_at, **id))
            .map(|(id, _)| *id);
        oldest.is_some_and(|id| self.entries.remove(&id).is_some())
    }
}

#[cfg(test)]
mod tests;
