//! A fleet of members for planner tests, built fact by fact.

use std::collections::BTreeMap;

use super::facts::{FactDigests, LinkTelemetry, PlanningFacts, ordered};
use super::serving::ServingPolicy;
use crate::backend::{Backend, BackendReadiness, DeviceProfile, ExecutionProfile, Telemetry};
use crate::digest::{Digest, DigestKind};
use crate::identity::{ClusterId, NodeId, NodeRole};
use crate::state::{ClusterState, LinkClass, Member, MemberStatus, Residency};

pub(crate) const GIB: u64 = 1024 * 1024 * 1024;

pub(crate) fn node(byte: u8) -> NodeId {
    NodeId([byte; 16])
}

/// The model every fleet serves.
pub(crate) fn model() -> Digest {
    Digest::of_bytes(DigestKind::Policy, b"model weights")
}

/// CUDA ready with `devices` of 80 GiB named `name`, running every lane.
pub(crate) fn gpus(name: &str, devices: u32) -> BackendReadiness {
    BackendReadiness::Ready {
        devices: (0..devices)
            .map(|ordinal| DeviceProfile {
                ordinal,
                name: name.to_owned(),
                uuid: format!("GPU-{ordinal}"),
                total_memory_bytes: 80 * GIB,
                compute_capability: (9, 0),
            })
            .collect(),
        profile: ExecutionProfile::every_lane(),
    }
}

#[derive(Default)]
pub(crate) struct Fleet {
    pub state: ClusterState,
    pub telemetry: BTreeMap<NodeId, Telemetry>,
    pub links_measured: BTreeMap<(NodeId, NodeId), LinkTelemetry>,
    pub serving: ServingPolicy,
    pub unreachable: std::collections::BTreeSet<NodeId>,
}

impl Fleet {
    /// A ready executor holding the model, with the CPU running whole requests and
    /// CUDA devices named `device` with `free_gib` free each (none: CPU only).
    pub fn member(&mut self, byte: u8, device: &str, free_gib: &[u64]) -> &mut Self {
        let member = Member {
            role: NodeRole::Both,
            status: MemberStatus::Ready,
            voter: false,
            stream_addr: None,
        };
        self.state.members.insert(node(byte), member);
        self.residency(byte, Residency::Resident);
        let cpu = BackendReadiness::Ready {
            devices: Vec::new(),
            profile: ExecutionProfile::dispatch(),
        };
        let mut backends = BTreeMap::from([(Backend::Cpu, cpu)]);
        if !free_gib.is_empty() {
            backends.insert(Backend::Cuda, gpus(device, free_gib.len() as u32));
        }
        self.state.backends.insert(node(byte), backends);
        let telemetry = Telemetry {
            free_memory_bytes: free_gib.iter().map(|gib| gib * GIB).collect(),
            queue_depth: 0,
            links: Default::default(),
        };
        self.telemetry.insert(node(byte), telemetry);
        self
    }

    pub fn set(&mut self, byte: u8, change: impl FnOnce(&mut Member)) -> &mut Self {
        change(self.state.members.get_mut(&node(byte)).expect("a member of the fleet"));
        self
    }

    pub fn residency(&mut self, byte: u8, residency: Residency) -> &mut Self {
        self.state
            .residency
            .entry(node(byte))
            .or_default()
            .insert(model(), residency);
        self
    }

    pub fn backend(&mut self, byte: u8, backend: Backend, readiness: BackendReadiness) -> &mut Self {
        self.state
            .backends
            .entry(node(byte))
            .or_default()
            .insert(backend, readiness);
        self
    }

    pub fn queue(&mut self, byte: u8, queue_depth: u32) -> &mut Self {
        self.telemetry.entry(node(byte)).or_default().queue_depth = queue_depth;
        self
    }

    pub fn link(&mut self, a: u8, b: u8, class: LinkClass) -> &mut Self {
        let (low, high) = ordered(node(a), node(b));
        self.state.links.entry(low).or_default().insert(high, class);
        self
    }

    /// Declares every pair among `bytes` linked by `class`.
    pub fn mesh(&mut self, bytes: &[u8], class: LinkClass) -> &mut Self {
        for (position, a) in bytes.iter().enumerate() {
            for b in &bytes[position + 1..] {
                self.link(*a, *b, class);
            }
        }
        self
    }

    pub fn measured(&mut self, a: u8, b: u8, rtt_us: u32, bandwidth_mbps: u32) -> &mut Self {
        let seen = LinkTelemetry {
            rtt_us,
            bandwidth_mbps: Some(bandwidth_mbps),
        };
        self.links_measured.insert(ordered(node(a), node(b)), seen);
        self
    }

    pub fn facts(&self) -> PlanningFacts<'_> {
        PlanningFacts {
            cluster_id: ClusterId([7; 16]),
            state: &self.state,
            telemetry: &self.telemetry,
            links_measured: &self.links_measured,
            serving: &self.serving,
            unreachable: super::facts::Unreachable::Listed(&self.unreachable),
            digests: FactDigests::of(&self.state, &self.serving),
            index: None,
        }
    }
}
