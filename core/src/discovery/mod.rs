//! Discovery: which authenticated peers exist, where they are, and how healthy.
//!
//! Invariants:
//! - a node enters the peer table only by authenticating directly; gossip only adds
//!   addresses to dial;
//! - health is derived from missed probes: reachable, then degraded after
//!   `degraded_after_missed_probes`, then unreachable after
//!   `unreachable_after_missed_probes`; hearing any authenticated frame resets it;
//! - unreachable peers and silent dial targets are probed with exponential backoff,
//!   jittered and capped at `dial_backoff_ms_max`;
//! - a peer silent for `peer_expiry_ms` leaves the table.

mod config;
mod dial;
mod event;
mod link;
mod peer;

use std::collections::BTreeMap;

use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

pub use config::DiscoveryConfig;
pub use dial::{Dial, DialOrigin};
pub use event::DiscoveryEvent;
pub use link::{BurstDue, LinkMeter};
pub use peer::{Introducer, Peer, PeerHealth};

use crate::backend::LinkTelemetry;

use crate::identity::{NodeEpoch, NodeId, NodeRole};
use crate::replay::EpochChange;
use crate::time::{Instant, ms};
use crate::wire::PeerRecord;

/// What a node knows of the other nodes.
#[derive(Clone, Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    peers: BTreeMap<NodeId, Peer>,
    dials: BTreeMap<SocketAddr, Dial>,
}

/// An authenticated frame's facts about its sender.
#[derive(Clone, Copy, Debug)]
pub struct Heard {
    /// Sender.
    pub peer: NodeId,
    /// Source address.
    pub addr: SocketAddr,
    /// Sender's role, if the frame said (hellos do; consensus messages do not).
    pub role: Option<NodeRole>,
    /// Sender's stream port, if the frame said.
    pub stream_port: Option<u16>,
    /// Sender's epoch.
    pub epoch: NodeEpoch,
    /// What the replay guard saw of the epoch.
    pub epoch_change: EpochChange,
}

impl Discovery {
    /// Discovery that starts by probing `seeds` at `now`.
    pub fn new(config: DiscoveryConfig, seeds: &[SocketAddr], now: Instant) -> Self {
        let dials = seeds
            .iter()
            .map(|addr| (*addr, Dial::new(DialOrigin::Seed, now)))
            .collect();
        Self {
            config,
            peers: BTreeMap::new(),
            dials,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// Known peers in id order.
    pub fn peers(&self) -> impl Iterator<Item = (NodeId, &Peer)> {
        self.peers.iter().map(|(id, peer)| (*id, peer))
    }

    /// The peer `id`, if known.
    pub fn peer(&self, id: NodeId) -> Option<&Peer> {
        self.peers.get(&id)
    }

    /// Addresses waiting to be dialled.
    pub fn dials(&self) -> impl Iterator<Item = (&SocketAddr, &Dial)> {
        self.dials.iter()
    }

    /// Records an authenticated frame from a peer.
    pub fn on_heard(&mut self, now: Instant, heard: Heard, events: &mut Vec<DiscoveryEvent>) {
        let introduced_by = self
            .dials
            .get(&heard.addr)
            .map_or(Introducer::Itself, |dial| dial.origin.introducer(heard.peer));
        self.on_dial_answered(heard.addr, now);
        let next_probe_at = now + ms(self.config.probe_interval_ms);
        let Some(peer) = self.peers.get_mut(&heard.peer) else {
            let Some(role) = heard.role else { return };
            let peer = Peer::new(&heard, role, introduced_by, now, next_probe_at);
            self.peers.insert(heard.peer, peer);
            events.push(DiscoveryEvent::PeerDiscovered {
                peer: heard.peer,
                addr: heard.addr,
                role,
                epoch: heard.epoch,
            });
            return;
        };
        if let EpochChange::Advanced { from } = heard.epoch_change {
            events.push(DiscoveryEvent::PeerRestarted {
                peer: heard.peer,
                from,
                to: heard.epoch,
            });
        }
        if peer.addr != heard.addr {
            events.push(DiscoveryEvent::PeerAddressChanged {
                peer: heard.peer,
                from: peer.addr,
                to: heard.addr,
            });
        }
        if peer.health != PeerHealth::Reachable {
            events.push(DiscoveryEvent::PeerHealthChanged {
                peer: heard.peer,
                from: peer.health,
                to: PeerHealth::Reachable,
            });
            peer.next_probe_at = peer.next_probe_at.min(next_probe_at);
        }
        peer.heard(&heard, now);
    }

    /// Adds the addresses of peers not yet known (never `self_id`) that the
    /// authenticated peer `from` gossiped.
    pub fn on_gossip(&mut self, now: Instant, self_id: NodeId, from: NodeId, records: &[PeerRecord]) {
        for record in records {
            let known = record.node_id == self_id || self.peers.contains_key(&record.node_id);
            if known || self.dials.contains_key(&record.addr) {
                continue;
            }
            if self.dials.len() >= self.config.dial_candidates_max {
                return;
            }
            self.dials.insert(
                record.addr,
                Dial::new(
                    DialOrigin::Gossip {
                        node_id: record.node_id,
                        from,
                    },
                    now,
                ),
            );
        }
    }

    /// Addresses due a probe at `now`, with the peer there when it is one (a dial's
    /// node is not known yet). Counts each probe as unanswered until heard, derives
    /// health from missed probes, and reschedules with backoff and jitter.
    pub fn due_probes(
        &mut self,
        now: Instant,
        rng: &mut impl RngCore,
        events: &mut Vec<DiscoveryEvent>,
    ) -> Vec<(SocketAddr, Option<NodeId>)> {
        let mut due = Vec::new();
        let config = self.config;
        for (id, peer) in self.peers.iter_mut().filter(|(_, peer)| peer.next_probe_at <= now) {
            let missed = peer.unanswered_probes;
            peer.unanswered_probes = missed.saturating_add(1);
            let health = PeerHealth::from_missed(missed, &config);
            if health != peer.health {
                events.push(DiscoveryEvent::PeerHealthChanged {
                    peer: *id,
                    from: peer.health,
                    to: health,
                });
                peer.health = health;
            }
            peer.next_probe_at = now + probe_delay(&config, missed, rng);
            due.push((peer.addr, Some(*id)));
        }
        let peer_addrs: Vec<SocketAddr> = self.peers.values().map(|peer| peer.addr).collect();
        self.dials.retain(|_, dial| !dial.is_exhausted(&config));
        for (addr, dial) in self.dials.iter_mut().filter(|(_, dial)| dial.next_probe_at <= now) {
            if peer_addrs.contains(addr) {
                dial.next_probe_at = now + ms(config.probe_interval_ms);
                continue;
            }
            let missed = dial.unanswered_probes;
            dial.unanswered_probes = missed.saturating_add(1);
            dial.next_probe_at = now + probe_delay(&config, missed, rng);
            due.push((*addr, None));
        }
        due
    }

    /// Drops peers silent for `peer_expiry_ms`.
    pub fn expire(&mut self, now: Instant, events: &mut Vec<DiscoveryEvent>) {
        let expiry = ms(self.config.peer_expiry_ms);
        let expired: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, peer)| now.saturating_since(peer.last_heard_at) >= expiry)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(peer) = self.peers.remove(&id) {
                let silent_ms = now.saturating_since(peer.last_heard_at).as_millis() as u64;
                events.push(DiscoveryEvent::PeerExpired { peer: id, silent_ms });
            }
        }
    }

    /// When the next probe is due (a bandwidth burst included).
    pub fn next_probe_at(&self) -> Option<Instant> {
        let peers = self.peers.values().map(|peer| peer.next_probe_at);
        let dials = self.dials.values().map(|dial| dial.next_probe_at);
        let bursts = self
            .peers
            .values()
            .filter(|peer| self.config.link_probe_frames > 0 && burst_target(peer))
            .map(|peer| peer.link.next_burst_at());
        peers.chain(dials).chain(bursts).min()
    }

    /// A discovery probe to `peer`, sent at `probe_sent_us`, was answered `now`.
    pub fn on_probe_answered(&mut self, now: Instant, peer: NodeId, probe_sent_us: u64) {
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.link.on_probe_answered(now, probe_sent_us);
        }
    }

    /// A bandwidth burst to `peer`, sent at `burst_sent_us`, was answered `now`.
    pub fn on_burst_answered(&mut self, now: Instant, peer: NodeId, burst_sent_us: u64) {
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.link.on_burst_answered(now, burst_sent_us);
        }
    }

    /// Bandwidth bursts due at `now`, with the peer and the stream each goes on:
    /// reachable peers with a stream only.
    pub fn due_bursts(&mut self, now: Instant) -> Vec<(NodeId, SocketAddr, BurstDue)> {
        let config = self.config;
        self.peers
            .iter_mut()
            .filter(|(_, peer)| burst_target(peer))
            .filter_map(|(id, peer)| {
                let stream = peer.stream_addr()?;
                peer.link.due_burst(now, &config).map(|burst| (*id, stream, burst))
            })
            .collect()
    }

    /// Dials `addr`, where `node_id` spoke to an earlier life of this node (it has not
    /// heard this one yet), unless it is dialled or a known peer's already.
    pub fn redial(&mut self, now: Instant, addr: SocketAddr, node_id: NodeId) {
        let known = self.peers.values().any(|peer| peer.addr == addr);
        if known || self.dials.contains_key(&addr) || self.dials.len() >= self.config.dial_candidates_max {
            return;
        }
        let origin = DialOrigin::Gossip { node_id, from: node_id };
        self.dials.insert(addr, Dial::new(origin, now));
    }

    /// The links measured to reachable peers, at most `links_max`, in id order.
    pub fn links(&self, links_max: usize) -> BTreeMap<NodeId, LinkTelemetry> {
        self.peers
            .iter()
            .filter(|(_, peer)| peer.health == PeerHealth::Reachable)
            .filter_map(|(id, peer)| peer.link.telemetry().map(|link| (*id, link)))
            .take(links_max)
            .collect()
    }

    /// When the longest-silent peer expires.
    pub fn next_expiry_at(&self) -> Option<Instant> {
        let expiry = ms(self.config.peer_expiry_ms);
        self.peers.values().map(|peer| peer.last_heard_at + expiry).min()
    }

    /// Reachable peers to gossip to `recipient`, at most `gossip_peers_max`.
    pub fn gossip_for(&self, recipient: SocketAddr) -> Vec<PeerRecord> {
        self.peers
            .iter()
            .filter(|(_, peer)| peer.health == PeerHealth::Reachable && peer.addr != recipient)
            .take(self.config.gossip_peers_max)
            .map(|(id, peer)| PeerRecord {
                node_id: *id,
                addr: peer.addr,
                role: peer.role,
            })
            .collect()
    }

    fn on_dial_answered(&mut self, addr: SocketAddr, now: Instant) {
        let Some(dial) = self.dials.get_mut(&addr) else {
            return;
        };
        match dial.origin {
            DialOrigin::Seed => {
                dial.unanswered_probes = 0;
                dial.next_probe_at = now + ms(self.config.probe_interval_ms);
            }
            DialOrigin::Gossip { .. } => {
                self.dials.remove(&addr);
            }
        }
    }
}

/// Whether `peer` is probed for bandwidth: reachable, with a stream.
fn burst_target(peer: &Peer) -> bool {
    peer.health == PeerHealth::Reachable && peer.stream_port.is_some()
}

/// Delay before the next probe of a target that has missed `missed` probes: the probe
/// interval while healthy, then doubling past the unreachable threshold up to the cap;
/// plus up to a fifth of jitter.
fn probe_delay(config: &DiscoveryConfig, missed: u32, rng: &mut impl RngCore) -> Duration {
    let excess = missed.saturating_sub(config.unreachable_after_missed_probes.saturating_sub(1));
    let doubled = config.probe_interval_ms.saturating_mul(1u64 << excess.min(16));
    let base_ms = doubled.min(config.dial_backoff_ms_max).max(config.probe_interval_ms);
    let jitter_ms = rng.next_u64() % (base_ms / 5 + 1);
    ms(base_ms + jitter_ms)
}

#[cfg(test)]
mod tests;
