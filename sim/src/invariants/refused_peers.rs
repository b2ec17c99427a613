//! A refused peer never becomes a member or a leader: no node lists a node that holds
//! no valid credentials (or impersonated another) among its peers, applies its
//! admission, follows it as leader or takes its decision.
//! Reference: the admission rules of FEATURES.md F1 (the seed's crate admitted by
//! stale token checks; our refusals must be final).

use std::collections::BTreeSet;

use psionic_core::{ClusterCommand, ClusterEvent, Event, NodeId};

use crate::report::Violation;

/// Checks `event` of `node` against the ids that must stay outside.
pub(super) fn check(node: &str, banned: &BTreeSet<NodeId>, at_ms: u64, event: &Event, found: &mut Vec<Violation>) {
    if let Event::PeerDiscovered { peer, .. } = event
        && banned.contains(peer)
    {
        found.push(Violation::RefusedPeerListed {
            viewer: node.to_owned(),
            peer: *peer,
            at_ms,
        });
    }
    let followed = match event {
        Event::LeaderElected { term, leader } => Some((*leader, *term)),
        Event::DecisionAccepted { authority, .. } => Some((authority.leader, authority.term)),
        _ => None,
    };
    if let Some((peer, term)) = followed.filter(|(peer, _)| banned.contains(peer)) {
        found.push(Violation::RefusedPeerFollowed {
            node: node.to_owned(),
            peer,
            term,
            at_ms,
        });
    }
    let Event::Applied {
        index,
        fact: ClusterEvent::Applied { command, .. },
        ..
    } = event
    else {
        return;
    };
    let ClusterCommand::AdmitMember { node: admitted, .. } = &**command else {
        return;
    };
    if banned.contains(admitted) {
        found.push(Violation::RefusedPeerAdmitted {
            node: node.to_owned(),
            peer: *admitted,
            index: *index,
            at_ms,
        });
    }
}
