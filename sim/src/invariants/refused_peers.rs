//! A refused peer never becomes a member or a leader: no node lists a node that holds
//! no valid credentials (or impersonated another) among its peers, and no node
//! applies the admission of such a node or of an unlisted token holder, follows one
//! as leader or takes its decision.
//! Reference: the admission rules of FEATURES.md F1 (the seed's crate admitted by
//! stale token checks; our refusals must be final).

use psionic_core::ConsensusEvent;
use psionic_core::DiscoveryEvent;
use psionic_core::ServingEvent;
use std::collections::BTreeSet;

use psionic_core::{ClusterCommand, ClusterEvent, Event, NodeId};

use crate::report::Violation;

/// The ids that must stay outside.
pub(super) struct Outsiders<'a> {
    /// Never listed as peers, never members, never followed.
    pub banned: &'a BTreeSet<NodeId>,
    /// May be listed (as candidates); never members, never followed.
    pub unlisted: &'a BTreeSet<NodeId>,
}

impl Outsiders<'_> {
    fn never_member(&self, peer: &NodeId) -> bool {
        self.banned.contains(peer) || self.unlisted.contains(peer)
    }
}

/// Checks `event` of `node` against the ids that must stay outside.
pub(super) fn check(node: &str, outsiders: &Outsiders<'_>, at_ms: u64, event: &Event, found: &mut Vec<Violation>) {
    if let Event::Discovery(DiscoveryEvent::PeerDiscovered { peer, .. }) = event
        && outsiders.banned.contains(peer)
    {
        found.push(Violation::RefusedPeerListed {
            viewer: node.to_owned(),
            peer: *peer,
            at_ms,
        });
    }
    let followed = match event {
        Event::Consensus(ConsensusEvent::LeaderElected { term, leader }) => Some((*leader, *term)),
        Event::Serving(ServingEvent::DecisionAccepted { authority, .. }) => Some((authority.leader, authority.term)),
        _ => None,
    };
    if let Some((peer, term)) = followed.filter(|(peer, _)| outsiders.never_member(peer)) {
        found.push(Violation::RefusedPeerFollowed {
            node: node.to_owned(),
            peer,
            term,
            at_ms,
        });
    }
    let Event::Consensus(ConsensusEvent::Applied {
        index,
        fact: ClusterEvent::Applied { command, .. },
        ..
    }) = event
    else {
        return;
    };
    let ClusterCommand::AdmitMember { node: admitted, .. } = &**command else {
        return;
    };
    if outsiders.never_member(admitted) {
        found.push(Violation::RefusedPeerAdmitted {
            node: node.to_owned(),
            peer: *admitted,
            index: *index,
            at_ms,
        });
    }
}
