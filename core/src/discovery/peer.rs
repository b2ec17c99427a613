//! One authenticated peer and its health.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::DiscoveryConfig;
use super::Heard;
use super::link::LinkMeter;
use crate::identity::{NodeEpoch, NodeId, NodeRole};
use crate::time::Instant;

/// How well a peer answers probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerHealth {
    /// Answering.
    Reachable,
    /// Missed at least `degraded_after_missed_probes` probes in a row.
    Degraded,
    /// Missed at least `unreachable_after_missed_probes` probes in a row.
    Unreachable,
}

impl PeerHealth {
    /// Health after `missed` probes in a row went unanswered.
    pub fn from_missed(missed: u32, config: &DiscoveryConfig) -> Self {
        if missed >= config.unreachable_after_missed_probes {
            PeerHealth::Unreachable
        } else if missed >= config.degraded_after_missed_probes {
            PeerHealth::Degraded
        } else {
            PeerHealth::Reachable
        }
    }
}

/// A peer in the peer table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Where it last spoke from.
    pub addr: SocketAddr,
    /// Its role.
    pub role: NodeRole,
    /// Its newest epoch.
    pub epoch: NodeEpoch,
    /// Its health.
    pub health: PeerHealth,
    /// When an authenticated frame from it last arrived.
    pub last_heard_at: Instant,
    /// Probes sent since it was last heard.
    pub unanswered_probes: u32,
    /// When it is next probed.
    pub next_probe_at: Instant,
    /// Port of its peer-stream listener, if it announced one.
    pub stream_port: Option<u16>,
    /// What this node measured of the link to it.
    pub link: LinkMeter,
    /// Who made this node meet it.
    pub introduced_by: Introducer,
}

impl Peer {
    /// Where its peer stream listens, if it announced one.
    pub fn stream_addr(&self) -> Option<SocketAddr> {
        self.stream_port.map(|port| SocketAddr::new(self.addr.ip(), port))
    }
}

impl Peer {
    pub(super) fn new(
        heard: &Heard,
        role: NodeRole,
        introduced_by: Introducer,
        now: Instant,
        next_probe_at: Instant,
    ) -> Self {
        Self {
            addr: heard.addr,
            role,
            epoch: heard.epoch,
            health: PeerHealth::Reachable,
            last_heard_at: now,
            unanswered_probes: 0,
            next_probe_at,
            stream_port: heard.stream_port,
            link: LinkMeter::new(next_probe_at),
            introduced_by,
        }
    }

    pub(super) fn heard(&mut self, heard: &Heard, now: Instant) {
        self.addr = heard.addr;
        self.role = heard.role.unwrap_or(self.role);
        self.stream_port = heard.stream_port.or(self.stream_port);
        self.epoch = heard.epoch;
        self.health = PeerHealth::Reachable;
        self.last_heard_at = now;
        self.unanswered_probes = 0;
    }
}

/// Who made this node meet a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Introducer {
    /// It spoke to this node first.
    Itself,
    /// It answered at one of this node's configured seed addresses.
    Seed,
    /// It answered at an address that this peer named in an authenticated hello.
    Peer(NodeId),
}
