//! Each node's view of its peers, rebuilt from the events in a trace.

use psionic_core::DiscoveryEvent;
use std::collections::BTreeMap;

use psionic_core::{Event, NodeEpoch, NodeId, PeerHealth};

/// What a node believes of one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// Health.
    pub health: PeerHealth,
    /// Newest epoch.
    pub epoch: NodeEpoch,
}

/// Views of every node, by node name.
#[derive(Clone, Debug, Default)]
pub struct Views {
    views: BTreeMap<String, BTreeMap<NodeId, PeerView>>,
}

impl Views {
    /// A node (re)started: it knows nobody yet.
    pub fn reset(&mut self, node: &str) {
        self.views.insert(node.to_owned(), BTreeMap::new());
    }

    /// Applies one core event of `node`.
    pub fn apply(&mut self, node: &str, event: &Event) {
        let view = self.views.entry(node.to_owned()).or_default();
        match event {
            Event::Discovery(DiscoveryEvent::PeerDiscovered { peer, epoch, .. }) => {
                view.insert(
                    *peer,
                    PeerView {
                        health: PeerHealth::Reachable,
                        epoch: *epoch,
                    },
                );
            }
            Event::Discovery(DiscoveryEvent::PeerHealthChanged { peer, to, .. }) => {
                if let Some(entry) = view.get_mut(peer) {
                    entry.health = *to;
                }
            }
            Event::Discovery(DiscoveryEvent::PeerRestarted { peer, to, .. }) => {
                if let Some(entry) = view.get_mut(peer) {
                    entry.epoch = *to;
                }
            }
            Event::Discovery(DiscoveryEvent::PeerExpired { peer, .. }) => {
                view.remove(peer);
            }
            _ => {}
        }
    }

    /// What `node` believes of `peer`.
    pub fn peer(&self, node: &str, peer: NodeId) -> Option<PeerView> {
        self.views.get(node).and_then(|view| view.get(&peer)).copied()
    }

    /// Every peer `node` knows.
    pub fn peers_of(&self, node: &str) -> Vec<NodeId> {
        self.views
            .get(node)
            .map(|view| view.keys().copied().collect())
            .unwrap_or_default()
    }
}
